"""torch.autograd.graph.saved_tensors_hooks and its kin, against torch 2.13: which tensors
an op packs (count and identity), the values backward reads through unpack_hook, torch's
errors, the tutorial "Hooks for saved tensors" (pack to an index, a tuple, to disk), a
custom Function's saved tensors, and compiled calls (a graph break)."""
import gc
import os
import tempfile
import uuid
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close, to_tc

LIBS = (torch, tc)


def _packed_by(lib, fn, inputs):
    """What pack_hook saw while fn(*inputs) ran: each an input's index, "out" (the result
    tensor itself), or "other" (a tensor made inside fn, e.g. a transposed view)."""
    seen = []
    with lib.autograd.graph.saved_tensors_hooks(lambda t: seen.append(t) or t, lambda p: p):
        y = fn(lib, *inputs)
    return [next((k for k, a in enumerate(inputs) if s is a), "out" if s is y else "other")
            for s in seen]


# (name, fn, input shapes; every input requires grad unless its shape is in a tuple)
CASES = [
    ("pow", lambda L, x: x.pow(2), [(3, 4)]),
    ("mul", lambda L, x, y: x * y, [(3, 4), (3, 4)]),
    ("mul_by_constant", lambda L, x, c: x * c, [(3, 4), ((3, 4),)]),
    ("matmul", lambda L, a, b: a @ b, [(3, 4), (4, 2)]),
    ("relu", lambda L, x: L.nn.functional.relu(x), [(3, 4)]),
    ("exp", lambda L, x: x.exp(), [(3, 4)]),
    ("sigmoid", lambda L, x: x.sigmoid(), [(3, 4)]),
    ("tanh", lambda L, x: x.tanh(), [(3, 4)]),
    ("sin", lambda L, x: x.sin(), [(3, 4)]),
    ("div", lambda L, x, y: x / y, [(3, 4), (3, 4)]),
    ("softmax", lambda L, x: x.softmax(-1), [(3, 4)]),
    ("add", lambda L, x, y: x + y, [(3, 4), (3, 4)]),
    ("sum", lambda L, x: x.sum(), [(3, 4)]),
    ("linear", lambda L, x, w: L.nn.functional.linear(x, w), [(3, 4), (5, 4)]),
]


def _inputs(lib, shapes, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for s in shapes:
        plain = isinstance(s[0], tuple)
        t = lib.tensor(rng.standard_normal(s[0] if plain else s).astype(np.float32) + 2.0)
        out.append(t if plain else t.requires_grad_())
    return out


@pytest.mark.parametrize("name,fn,shapes", CASES, ids=[c[0] for c in CASES])
def test_which_tensors_are_packed(name, fn, shapes):
    want = _packed_by(torch, fn, _inputs(torch, shapes))
    got = _packed_by(tc, fn, _inputs(tc, shapes))
    assert got == want, f"tracecomp={got} | torch={want}"      # the same tensors, in order


def test_matmul_packing_where_torch_dispatches_to_other_kernels():
    # one matmul primitive packs (b, a) at every rank; torch's matmul packs mv's (a, v)
    # for a matrix times a vector, and for 3-d operands the views it folds them into
    fn = CASES[3][1]
    for shapes, torch_packs in (([(3, 4), (4,)], [0, 1]),
                                ([(2, 3, 4), (2, 4, 5)], ["other", "other"])):
        assert _packed_by(torch, fn, _inputs(torch, shapes)) == torch_packs
        assert _packed_by(tc, fn, _inputs(tc, shapes)) == [1, 0]


def _grads(lib, pack, unpack, fn, n=1):
    xs = _inputs(lib, [(5,)] * n, seed=1)
    with lib.autograd.graph.saved_tensors_hooks(pack, unpack):
        y = fn(*xs)
    y.sum().backward()
    return [x.grad for x in xs]


@pytest.mark.parametrize("fn", [lambda x: x.pow(2), lambda x: x.exp(), lambda x: x * x,
                                lambda x, w: (x * w).tanh()],
                         ids=["pow", "exp_saves_output", "square", "mul_tanh"])
@pytest.mark.parametrize("hooks", [(lambda t: t * 4, lambda p: p / 4),
                                   (lambda t: t * 2, lambda p: p)],
                         ids=["round_trip", "values_changed"])
def test_backward_reads_what_unpack_returns(fn, hooks):
    n = fn.__code__.co_argcount
    want = _grads(torch, *hooks, fn, n)
    got = _grads(tc, *hooks, fn, n)
    for g, w in zip(got, want):
        assert_close(g, w, what="grad")


@pytest.mark.parametrize("lib", LIBS, ids=["torch", "tracecomp"])
def test_tutorial_unconventional_packings(lib):
    storage = []

    def pack(x):
        storage.append(x)
        return len(storage) - 1

    x = lib.randn(5, requires_grad=True)
    with lib.autograd.graph.saved_tensors_hooks(pack, lambda i: storage[i]):
        y = x * x
    y.sum().backward()
    assert lib.equal(x.grad, 2 * x)

    def pack_tuple(x):
        delta = lib.randn(*x.size())
        return x - delta, lambda v: v + delta

    x = lib.randn(5, requires_grad=True)
    with lib.autograd.graph.saved_tensors_hooks(pack_tuple, lambda p: p[1](p[0])):
        y = x * x
    y.sum().backward()
    assert lib.allclose(x.grad, 2 * x)


def test_tutorial_save_to_disk_files_go_with_the_graph():
    with tempfile.TemporaryDirectory() as tmp:
        class SelfDeletingTempFile:
            def __init__(self):
                self.name = os.path.join(tmp, str(uuid.uuid4()))

            def __del__(self):
                os.remove(self.name)

        def pack_hook(tensor):
            temp_file = SelfDeletingTempFile()
            tc.save(tensor, temp_file.name)
            return temp_file

        x = tc.tensor([1.0, 2.0, 3.0], requires_grad=True)
        with tc.autograd.graph.saved_tensors_hooks(pack_hook, lambda f: tc.load(f.name)):
            y = x.pow(2).exp()
        assert len(os.listdir(tmp)) == 2        # pow saves x, exp its result
        y.sum().backward()
        gc.collect()
        assert os.listdir(tmp) == []            # backward freed what pack_hook returned
        want = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        want.pow(2).exp().sum().backward()
        assert_close(x.grad, want.grad, rtol=1e-5, what="grad")
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            y.sum().backward()


def test_errors_match_torch():
    for lib in LIBS:
        graph = lib.autograd.graph
        x = lib.randn(3, requires_grad=True)
        with graph.saved_tensors_hooks(lambda t: 1, lambda p: p):
            y = x.pow(2)
        with pytest.raises(TypeError, match="Output of saved tensor unpack_hook expected to be "
                                            "a Tensor but got result of type int"):
            y.sum().backward()
        with graph.saved_tensors_hooks(lambda t: t.add_(1), lambda p: p):
            with pytest.raises(RuntimeError, match="A saved tensor pack hook is modifying its "
                                                   "input in place"):
                (x * 1).pow(2)
        with graph.disable_saved_tensors_hooks("no hooks here"):
            with pytest.raises(RuntimeError, match="no hooks here"):
                with graph.save_on_cpu():
                    pass
        with graph.saved_tensors_hooks(lambda t: t, lambda p: p):
            with pytest.raises(RuntimeError, match="no hooks here"):
                with graph.disable_saved_tensors_hooks("no hooks here"):
                    pass
        with graph.saved_tensors_hooks(lambda t: t, lambda p: p):     # allowed again after
            pass


@pytest.mark.parametrize("lib", LIBS, ids=["torch", "tracecomp"])
def test_only_the_innermost_hooks_pack_and_pack_runs_without_grad(lib):
    outer, inner, modes = [], [], []
    x = lib.randn(3, requires_grad=True)
    with lib.autograd.graph.saved_tensors_hooks(lambda t: outer.append(t) or t, lambda p: p):
        with lib.autograd.graph.saved_tensors_hooks(
                lambda t: modes.append(lib.is_grad_enabled()) or inner.append(t) or t,
                lambda p: p):
            x.pow(2)
        x.pow(2)
    assert (len(outer), len(inner), modes) == (1, 1, [False])


def test_packed_tensors_are_not_version_checked():
    # torch cannot see a version through the hooks: a copy packed before the in-place
    # change is what backward reads
    grads = []
    for lib in LIBS:
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        z = x * 1
        with lib.autograd.graph.saved_tensors_hooks(lambda t: t.clone(), lambda p: p):
            y = z.pow(2)
        z.mul_(10)
        y.sum().backward()
        grads.append(x.grad)
    assert_close(grads[1], grads[0], what="grad")


def test_double_backward_through_a_changed_leaf_value():
    results = []
    for lib in LIBS:
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        with lib.autograd.graph.saved_tensors_hooks(lambda t: t * 3, lambda p: p / 3):
            y = x.pow(3)
        (g,) = lib.autograd.grad(y.sum(), x, create_graph=True)
        (gg,) = lib.autograd.grad(g.sum(), x)
        results.append((g, gg))
    assert_close(results[1][0], results[0][0], what="grad")
    assert_close(results[1][1], results[0][1], what="second grad")


def _cube_with_hooks(lib):
    """A custom Function saving an input and its output, under value-changing hooks:
    (what pack saw, how many unpacks, the gradients)."""
    class Cube(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, w):
            y = x * x * x * w
            ctx.save_for_backward(x, y)
            return y

        @staticmethod
        def backward(ctx, g):
            x, y = ctx.saved_tensors
            return g * 3 * y / x, g * y / x ** 3

    seen, unpacked = [], []
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = lib.tensor([2.0, 0.5, 1.0], requires_grad=True)
    with lib.autograd.graph.saved_tensors_hooks(lambda t: seen.append(t) or t * 2,
                                                lambda p: unpacked.append(p) or p / 2):
        y = Cube.apply(x, w)
    y.sum().backward()
    return [seen[0] is x, seen[1] is y, len(seen), len(unpacked)], (x.grad, w.grad)


def test_custom_function_saved_tensors_are_packed():
    facts, (gx, gw) = _cube_with_hooks(tc)
    want_facts, (wx, ww) = _cube_with_hooks(torch)
    assert facts == want_facts == [True, True, 2, 2]
    assert_close(gx, wx, what="x grad")
    assert_close(gw, ww, what="w grad")


def test_save_on_cpu_tutorial_model():
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.Linear(16, 4))
    model = tc.nn.Sequential(tc.nn.Linear(10, 16), tc.nn.Linear(16, 4))
    model.load_state_dict({k: to_tc(v) for k, v in ref.state_dict().items()})
    x = torch.randn(3, 10)
    for lib, net, inp in ((torch, ref, x), (tc, model, to_tc(x))):
        with lib.autograd.graph.save_on_cpu(pin_memory=False):
            loss = net(inp).tanh().sum()
        loss.backward()
    for (name, p), q in zip(ref.named_parameters(), model.parameters()):
        assert_close(q.grad, p.grad, what=f"{name} grad")


def test_nodes_and_gradient_edges():
    for lib in LIBS:
        graph = lib.autograd.graph
        x = lib.randn(3, requires_grad=True)
        y = x.exp()
        assert isinstance(y.grad_fn, graph.Node)
        assert issubclass(type(y.grad_fn), graph.Node)
        assert not isinstance(object(), graph.Node)
        edge = graph.get_gradient_edge(y)
        assert edge.node is y.grad_fn and edge.output_nr == 0 and edge.ownership_token is None
        leaf_edge = graph.get_gradient_edge(x)
        assert leaf_edge.node.name() == "torch::autograd::AccumulateGrad"
        assert leaf_edge.node is y.grad_fn.next_functions[0][0]
        assert isinstance(leaf_edge.node, graph.Node)
        with pytest.raises(RuntimeError, match="does not require gradients"):
            graph.get_gradient_edge(lib.ones(2))


def test_increment_version_refuses_a_stale_backward():
    for lib in LIBS:
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        z = x * 1
        y = z.sin()         # sin saves its input
        version = z._version
        lib.autograd.graph.increment_version([z])
        assert z._version == version + 1
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def test_compiled_call_under_hooks_runs_eagerly():
    seen = []
    x = tc.tensor([0.5, 1.0, 1.5], requires_grad=True)
    f = tc.compile(lambda x: (x * x).exp().sum())
    f(x)    # compiled once outside the hooks
    with tc.autograd.graph.saved_tensors_hooks(lambda t: seen.append(t) or t, lambda p: p):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            y = f(x)
    assert any("saved_tensors_hooks" in str(w.message) for w in caught)
    assert len(seen) == 3       # mul packs x twice, exp its result: eagerly, as torch's
    y.backward()
    want = torch.tensor([0.5, 1.0, 1.5], requires_grad=True)
    (want * want).exp().sum().backward()
    assert_close(x.grad, want.grad, what="grad")
    with tc.autograd.graph.saved_tensors_hooks(lambda t: t, lambda p: p):
        with pytest.raises(tc.TraceError, match="saved_tensors_hooks"):
            tc.compile(lambda x: x.exp().sum(), fullgraph=True)(x)


def test_hooks_entered_inside_compiled_code_are_a_graph_break():
    seen = []

    def f(x):
        with tc.autograd.graph.saved_tensors_hooks(lambda t: seen.append(t) or t, lambda p: p):
            return x.pow(2).sum()

    x = tc.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(tc.TraceError, match="saved_tensors_hooks"):
        tc.compile(f, fullgraph=True)(x)
    seen.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = tc.compile(f)(x)
    assert len(seen) == 1
    y.backward()
    assert_close(x.grad, torch.tensor([2.0, 4.0]), what="grad")


def _multi_hook_story(lib):
    """register_multi_grad_hook's docstring example, and more: which gradients each
    backward hands the hook, "any" mode's first gradient, removal, torch's errors."""
    a = lib.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    b = lib.tensor([[0.5, 1.0], [2.0, 1.5]], requires_grad=True)
    c, d = a * b, a * b
    story = []
    handle = lib.autograd.graph.register_multi_grad_hook(
        (a, b, c, d), lambda grads: story.append([g is not None for g in grads]))
    c.sum().backward(retain_graph=True)
    c.sum().backward(inputs=(a,), retain_graph=True)
    (c.sum() + d.sum()).backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="A leaf node was passed to "
                                           "_will_engine_execute_node"):
        lib.autograd.grad(c.sum(), (a,), retain_graph=True)
    handle.remove()
    c.sum().backward(retain_graph=True)
    lib.autograd.graph.register_multi_grad_hook(
        (a, b, c, d), lambda g: story.append(g.tolist()), mode="any")
    (c.sum() * 3 + d.sum()).backward()
    with pytest.raises(ValueError, match="Expects mode to be one of"):
        lib.autograd.graph.register_multi_grad_hook((a,), print, mode="some")
    return story


def test_register_multi_grad_hook():
    assert _multi_hook_story(tc) == _multi_hook_story(torch)


@pytest.mark.parametrize("lib", LIBS, ids=["torch", "tracecomp"])
def test_grad_runs_the_hooks_of_its_leaf_inputs(lib):
    x = lib.ones(2, requires_grad=True)
    x.register_hook(lambda g: g * 10)
    (g,) = lib.autograd.grad((x * 2).sum(), x)
    assert g.tolist() == [20.0, 20.0]


@pytest.mark.parametrize("lib,packs", [(torch, 1), (tc, 0)], ids=["torch", "tracecomp"])
def test_checkpoint_keeps_its_activations_from_the_hooks(lib, packs):
    # the checkpointed function's own saves go to checkpoint's hooks, never the user's;
    # torch's non-reentrant checkpoint also saves its inputs once (a Function of its own,
    # under the user's hooks), ours holds them without saving: 1 pack against 0
    from importlib import import_module
    checkpoint = import_module(lib.__name__ + ".utils.checkpoint").checkpoint
    seen, unpacked = [], []
    x = lib.tensor([0.5, 1.0, 1.5], requires_grad=True)
    with lib.autograd.graph.saved_tensors_hooks(lambda t: seen.append(t) or t,
                                                lambda p: unpacked.append(p) or p):
        y = checkpoint(lambda a: (a * a).exp(), x, use_reentrant=False).sum()
        y.backward()
    assert (len(seen), len(unpacked)) == (packs, packs)
    assert_close(x.grad, 2 * x * (x * x).exp(), what="grad")


def _grads_through_edges(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    loss = (h * h).sum()
    edge = lib.autograd.graph.get_gradient_edge
    by_edge = lib.autograd.grad(loss, edge(h), retain_graph=True)
    mixed = lib.autograd.grad(loss, [edge(x), h], retain_graph=True)
    return by_edge + mixed + lib.autograd.grad(loss, x)


def test_grad_takes_gradient_edges_for_inputs():
    for got, want in zip(_grads_through_edges(tc), _grads_through_edges(torch), strict=True):
        assert_close(got, want, what="grad")


def _saved_field_facts(lib):
    """grad_fn._saved_* as the tutorial reads them, with and without hooks."""
    a = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
    b = lib.tensor([0.5, 1.0, 2.0], requires_grad=True)
    m = lib.ones(2, 3, requires_grad=True)
    facts = []
    y = a * b
    facts += [y.grad_fn._saved_self is a, y.grad_fn._saved_other is b]
    y = a * lib.ones(3)         # self is saved only for other's gradient
    facts += [y.grad_fn._saved_self is None]
    y = a.exp()
    facts += [y.grad_fn._saved_result.equal(y), y.grad_fn._saved_result is y]
    y = a.pow(2)
    facts += [y.grad_fn._saved_self is a, y.grad_fn._saved_exponent]
    y = m @ a
    facts += [y.grad_fn._saved_self is m, y.grad_fn._saved_vec is a]
    y = lib.nn.functional.relu(a)
    facts += [y.grad_fn._saved_result.tolist(), hasattr(a.sin().grad_fn, "_saved_result")]
    reads = []
    with lib.autograd.graph.saved_tensors_hooks(lambda t: t * 2,
                                                lambda p: reads.append(1) or p / 2):
        y = a.pow(2)
    first, second = y.grad_fn._saved_self, y.grad_fn._saved_self
    facts += [len(reads), first is a, first.tolist(), second.requires_grad]
    y.sum().backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        _ = y.grad_fn._saved_self
    return facts


def test_saved_fields_match_torch():
    assert _saved_field_facts(tc) == _saved_field_facts(torch)


@pytest.mark.parametrize("lib", LIBS, ids=["torch", "tracecomp"])
def test_tutorial_unpack_that_deletes_its_file_fails_a_second_read(lib):
    with tempfile.TemporaryDirectory() as tmp:
        def pack_hook(tensor):
            name = os.path.join(tmp, str(uuid.uuid4()))
            lib.save(tensor, name)
            return name

        def unpack_hook(name):
            tensor = lib.load(name)
            os.remove(name)
            return tensor

        x = lib.ones(5, requires_grad=True)
        with lib.autograd.graph.saved_tensors_hooks(pack_hook, unpack_hook):
            y = x.pow(2)
        assert y.grad_fn._saved_self.tolist() == [1.0] * 5
        with pytest.raises(FileNotFoundError):
            _ = y.grad_fn._saved_self
