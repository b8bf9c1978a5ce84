"""compile(model) is an nn.Module, as torch's OptimizedModule: it goes where a module goes,
names its state by `_orig_mod.`, mirrors the model's training flag, runs its own hooks
around the compiled call, and copies; each checked against torch.compile's."""
import copy

import numpy as np
import torch

import tracecomp as tc
from tracecomp import nn

from helpers import assert_close


def _pair(lib):
    lib.manual_seed(0)
    return lib.nn.Sequential(lib.nn.Linear(4, 3), lib.nn.BatchNorm1d(3), lib.nn.ReLU())


def _same_weights(ours, theirs):
    ours.load_state_dict({k: tc.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})


def test_the_compiled_model_is_a_module_named_as_torchs():
    ours, theirs = tc.compile(_pair(tc)), torch.compile(_pair(torch))
    assert isinstance(ours, nn.Module) and isinstance(ours, tc._dynamo.eval_frame.OptimizedModule)
    assert type(ours).__name__ == type(theirs).__name__
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert getattr(ours, "0").weight is ours._orig_mod[0].weight    # the model's attributes


def test_a_compiled_model_inside_a_sequential_trains_as_torchs():
    ours_model, theirs_model = _pair(tc), _pair(torch)
    _same_weights(ours_model, theirs_model)
    ours = nn.Sequential(tc.compile(ours_model), nn.Linear(3, 2))
    theirs = torch.nn.Sequential(torch.compile(theirs_model), torch.nn.Linear(3, 2))
    ours[1].load_state_dict({k: tc.tensor(v.detach().numpy())
                             for k, v in theirs[1].state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    opt_o = tc.optim.SGD(ours.parameters(), lr=0.1)
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.1)
    x = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    for _ in range(3):
        for model, opt, t in ((ours, opt_o, tc.tensor(x)), (theirs, opt_t, torch.tensor(x))):
            opt.zero_grad()
            model(t).square().mean().backward()
            opt.step()
    for (k, a), (_, b) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        assert_close(a, b, what=k, rtol=1e-5, atol=1e-6)


def test_train_and_eval_reach_the_model_and_back():
    model = _pair(tc)
    compiled = tc.compile(model)
    compiled.eval()
    assert not compiled.training and not model.training and not model[1].training
    model.train()
    assert compiled.training                        # the flag is the model's
    x = tc.randn(5, 4)
    compiled.eval()
    with tc.no_grad():
        assert_close(compiled(x), model(x))


def test_hooks_on_the_compiled_model_run_around_its_call():
    for lib in (tc, torch):
        compiled = lib.compile(_pair(lib))
        seen = []
        compiled.register_forward_pre_hook(
            lambda m, args, seen=seen, compiled=compiled: seen.append(("pre", m is compiled)))
        compiled.register_forward_hook(lambda m, args, out: out * 0 + 7)
        out = compiled(lib.ones(2, 4))
        assert seen == [("pre", True)]
        assert out.tolist() == [[7.0] * 3] * 2


def test_attributes_set_on_the_compiled_model_are_the_models():
    for lib in (tc, torch):
        model = _pair(lib)
        compiled = lib.compile(model)
        compiled.note = "x"
        assert model.note == "x" and "note" not in compiled.__dict__


def test_a_deep_copy_is_compiled_over_its_own_weights():
    compiled = tc.compile(_pair(tc))
    x = tc.randn(5, 4)
    compiled(x)
    twin = copy.deepcopy(compiled)
    assert isinstance(twin, type(compiled))
    weight, copied = compiled._orig_mod[0].weight, twin._orig_mod[0].weight
    assert copied is not weight
    assert_close(copied, weight)
    with tc.no_grad():
        copied.zero_()
    assert_close(twin(x), twin._orig_mod(x))
    assert float(weight.abs().sum()) > 0
