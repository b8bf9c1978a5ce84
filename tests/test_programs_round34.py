"""What published torch programs needed that tracecomp lacked, found by running them with
their imports changed (round 34: yunjey's pytorch-tutorial, pytorch/examples' newer
programs, nanoGPT's train.py, minGPT, ...), each reproduced here against torch.
"""
import fractions
import re

import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.errors import SerializationError

import spawn_children


# --- torch.load(weights_only=False) of numpy data ------------------------------------------
# time_sequence_prediction saves its sine waves, a numpy array, with torch.save and reads
# them back with torch.load; since torch 2.6 that needs weights_only=False.
@pytest.mark.parametrize("value", [np.sin(np.arange(12.0)).reshape(3, 4),
                                   np.arange(5, dtype=np.int32), np.float32(2.5),
                                   {"x": np.ones(2, np.float16), "n": 3}])
def test_a_torch_checkpoint_of_numpy_data_loads_with_weights_only_false(tmp_path, value):
    path = tmp_path / "data.pt"
    torch.save(value, path)
    want = torch.load(path, weights_only=False)
    got = tc.load(path, weights_only=False)
    assert type(got) is type(want)
    for g, w in (zip(got.values(), want.values()) if isinstance(want, dict) else
                 [(got, want)]):
        assert type(g) is type(w) and np.asarray(g).dtype == np.asarray(w).dtype
        np.testing.assert_array_equal(g, w)


def test_numpy_data_stays_refused_as_by_torch_under_weights_only(tmp_path):
    path = tmp_path / "data.pt"
    torch.save(np.arange(3.0), path)
    with pytest.raises(Exception, match="Unsupported global.*_reconstruct"):
        torch.load(path)
    with pytest.raises(SerializationError, match="Unsupported global.*_reconstruct"):
        tc.load(path)


def test_weights_only_false_still_makes_no_other_class(tmp_path):
    """torch would unpickle any class here; tracecomp never calls a class a file names
    beyond numpy's array rebuilders, and says which one it refused."""
    path = tmp_path / "obj.pt"
    torch.save({"ratio": fractions.Fraction(1, 3)}, path)
    with pytest.raises(SerializationError, match="Unsupported global: GLOBAL "
                                                 "fractions.Fraction"):
        tc.load(path, weights_only=False)


# --- pickling a module with submodules -----------------------------------------------------
# mnist_hogwild passes its model to mp.Process under the spawn start method, which pickles
# it; a module with children carried weak references (which children its constructor built).

def _twins():
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    ours = tc.nn.Sequential(tc.nn.Linear(3, 4), tc.nn.ReLU(), tc.nn.Linear(4, 2))
    ours.load_state_dict({k: tc.from_numpy(v.numpy().copy()) for k, v in ref.state_dict().items()})
    return ref, ours


def test_a_module_with_children_pickles_and_keeps_its_values_and_changes(tmp_path):
    import pickle

    from tracecomp.nn import as_built
    ref, ours = _twins()
    ref[2], ours[2] = torch.nn.Linear(4, 5), tc.nn.Linear(4, 5)     # changed after building
    ours[2].load_state_dict({k: tc.from_numpy(v.detach().numpy().copy())
                             for k, v in ref[2].state_dict().items()})
    ref2, ours2 = pickle.loads(pickle.dumps(ref)), pickle.loads(pickle.dumps(ours))
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_allclose(ours2(tc.from_numpy(x)).detach().numpy(),
                               ref2(torch.from_numpy(x)).detach().numpy(), rtol=1e-6)
    assert [name for name, _ in as_built.changed(ours2)] == ["2"]
    tc.save(ours2, tmp_path / "m.pt")           # whole-model save still sees the change
    assert tc.load(tmp_path / "m.pt")[2].out_features == 5


# --- shared tensors reach a spawned process as the same memory ------------------------------
# mnist_hogwild: model.share_memory(), set_start_method('spawn'), mp.Process(target=train,
# args=(rank, args, model, ...)): the children's optimizer steps must reach the parent's
# model, as torch's do (its tensors travel as file descriptors of their shared memory; one
# not yet shared moves into shared memory when handed to the spawned process).
# (the child's function is spawn_children.shared_model_steps)
@pytest.mark.parametrize("lib", [torch, tc], ids=["torch", "tracecomp"])
def test_a_spawned_process_updates_the_parents_shared_model(lib):
    import multiprocessing

    import tracecomp.multiprocessing  # noqa: F401
    from tracecomp.utils.data import worker

    # DataLoader workers' machinery set up after it (as by an earlier epoch with workers):
    # it once registered a reducer of its own, and shared tensors then travelled as copies
    worker.register_reducers()
    model = lib.nn.Linear(3, 2)
    model.share_memory()
    shared = lib.arange(4.0).share_memory_()
    unshared = lib.zeros(2)
    before = model.weight.detach().clone()
    p = multiprocessing.get_context("spawn").Process(target=spawn_children.shared_model_steps,
                                                     args=(model, shared, unshared))
    p.start()
    p.join(60)
    assert p.exitcode == 0
    assert model.weight.is_shared() and shared.is_shared() and unshared.is_shared()
    np.testing.assert_array_equal(model.weight.detach().numpy(), before.numpy() + 1.0)
    np.testing.assert_array_equal(shared.numpy(), [0.0, 2.0, 4.0, 6.0])
    np.testing.assert_array_equal(unshared.numpy(), [1.0, 1.0])  # moved to shared memory


# --- the spatial transformer starts from the identity map ----------------------------------
# (pytorch/tutorials spatial_transformer_tutorial: fc_loc's last layer is zero with bias
# [1, 0, 0, 0, 1, 0].) Every sampling point then sits on a pixel centre, where bilinear
# sampling has a kink: the gradient to the grid, hence to theta, comes from the side that
# the coordinate's rounding falls on, so the grid must be rounded as torch's is.
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_grid_sample_through_an_identity_affine_grid_has_torchs_gradients(align_corners,
                                                                          compiled):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 1, 28, 28)).astype(np.float32)
    w = rng.standard_normal((2, 1, 28, 28)).astype(np.float32)
    eye = np.tile(np.eye(2, 3, dtype=np.float32), (2, 1, 1))

    def run(lib, theta, img, weight):
        F = lib.nn.functional
        grid = F.affine_grid(theta, [2, 1, 28, 28], align_corners=align_corners)
        return (F.grid_sample(img, grid, align_corners=align_corners) * weight).sum()

    th_t = torch.tensor(eye, requires_grad=True)
    run(torch, th_t, torch.from_numpy(x), torch.from_numpy(w)).backward()
    th = tc.tensor(eye, requires_grad=True)
    def ours(theta, img, weight):
        return run(tc, theta, img, weight)
    (tc.compile(ours) if compiled else ours)(th, tc.from_numpy(x), tc.from_numpy(w)).backward()
    np.testing.assert_allclose(th.grad.numpy(), th_t.grad.numpy(), rtol=1e-4, atol=1e-3)


# --- torch.dist's node ---------------------------------------------------------------------
# (pytorch/tutorials parametrizations: print(torch.dist(layer.weight, X)) shows grad_fn.)
def test_dist_records_torchs_node_over_both_operands():
    got, want = [], []
    for lib, out in ((tc, got), (torch, want)):
        a = lib.tensor([1.0, 2.0, 4.0], requires_grad=True)
        b = lib.tensor([0.5, 0.0, 1.0], requires_grad=True)
        d = lib.dist(a, b, 3)
        d.backward()
        out += [repr(d).split("grad_fn=")[1],
                [n is None for n, _ in d.grad_fn.next_functions], a.grad.numpy(), b.grad.numpy()]
        out += [[n is None for n, _ in lib.dist(a, lib.zeros(3)).grad_fn.next_functions]]
    assert got[:2] + got[4:] == want[:2] + want[4:]
    np.testing.assert_allclose(got[2], want[2], rtol=1e-6)
    np.testing.assert_allclose(got[3], want[3], rtol=1e-6)


# --- a module's registries print as torch's ------------------------------------------------
# (pytorch/tutorials pruning_tutorial: print(module._forward_pre_hooks).)
def test_module_registries_print_as_torchs():
    import torch.nn.utils.prune  # noqa: F401 - torch loads it on import only

    import tracecomp.nn.utils.prune  # noqa: F401
    for lib in (tc, torch):
        m = lib.nn.Linear(2, 2)
        lib.nn.utils.prune.l1_unstructured(m, name="bias", amount=1)
        text = repr(m._forward_pre_hooks)
        assert re.match(r"OrderedDict\(\[\(\d+, <\S+L1Unstructured object", text), text
        assert repr(m._parameters).startswith("{'weight': Parameter containing")
        assert repr(m._modules) == "{}"
