"""tracecomp.jit against torch.jit 2.13: script, trace, freeze, save/load and the
markers, on the same weights and inputs (tracecomp/jit.py)."""
import io

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close, with_torch_weights


def _net_class(lib):
    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = lib.nn.Linear(3, 4)
            self.out = lib.nn.Linear(4, 2)
            self.register_buffer("shift", lib.ones(2))

        def forward(self, x):
            return self.out(lib.relu(self.fc(x))) + self.shift
    Net.__qualname__ = "Net"
    return Net


Net = _net_class(tc)        # at module level: a saved model names its class


def _pair():
    torch.manual_seed(0)
    ref = _net_class(torch)()
    return with_torch_weights(Net(), ref), ref


X = np.linspace(-2, 2, 15, dtype=np.float32).reshape(5, 3)


@pytest.mark.parametrize("make", ["script", "trace"])
def test_a_scripted_or_traced_model_computes_and_trains_as_torchs(make):
    model, ref = _pair()
    if make == "script":
        ours, theirs = tc.jit.script(model), torch.jit.script(ref)
    else:
        ours = tc.jit.trace(model, tc.tensor(X))
        theirs = torch.jit.trace(ref, torch.tensor(X))
    assert type(ours).__name__ == type(theirs).__name__
    assert isinstance(ours, tc.jit.ScriptModule) and isinstance(ours, tc.nn.Module)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert ours.original_name == theirs.original_name == "Net"
    opt, ref_opt = tc.optim.SGD(ours.parameters(), lr=0.1), \
        torch.optim.SGD(theirs.parameters(), lr=0.1)
    for _ in range(3):              # the scripted module's parameters are the model's
        out, want = ours(tc.tensor(X)), theirs(torch.tensor(X))
        assert_close(out, want.detach())
        opt.zero_grad(), ref_opt.zero_grad()
        out.pow(2).sum().backward(), want.pow(2).sum().backward()
        opt.step(), ref_opt.step()
    for p, q in zip(model.parameters(), ref.parameters()):
        assert_close(p, q, what="parameter after 3 steps")


def test_trace_needs_an_example():
    model, ref = _pair()
    with pytest.raises(RuntimeError) as want:
        torch.jit.trace(ref)
    with pytest.raises(RuntimeError, match=str(want.value)):
        tc.jit.trace(model)


def test_a_scripted_function_and_its_graph():
    def swish(x):
        return x * x.sigmoid()
    ours, theirs = tc.jit.script(swish), torch.jit.script(swish)
    assert type(ours).__name__ == type(theirs).__name__ == "ScriptFunction"
    with pytest.raises(RuntimeError, match="call it once"):
        print(ours.graph)
    assert_close(ours(tc.tensor(X)), theirs(torch.tensor(X)))
    assert "sigmoid" in str(ours.graph)


def test_save_and_load_keep_weights_and_mode(tmp_path):
    model, ref = _pair()
    ours, theirs = tc.jit.script(model).eval(), torch.jit.script(ref).eval()
    ours.save(str(tmp_path / "m.pt"))
    buf = io.BytesIO()
    tc.jit.save(ours, buf)
    buf.seek(0)
    for loaded in (tc.jit.load(str(tmp_path / "m.pt")), tc.jit.load(buf)):
        assert type(loaded).__name__ == "RecursiveScriptModule" and not loaded.training
        assert_close(loaded(tc.tensor(X)), theirs(torch.tensor(X)).detach())
    with pytest.raises(AttributeError, match="no attribute 'save'"):
        tc.jit.save(model, buf)


def test_freeze_checks_what_torch_checks():
    model, ref = _pair()
    for ours, theirs in ((model, ref), (tc.jit.script(model).train(),
                                        torch.jit.script(ref).train())):
        with pytest.raises(RuntimeError) as want:
            torch.jit.freeze(theirs)
        with pytest.raises(RuntimeError, match=str(want.value).split(".")[0]):
            tc.jit.freeze(ours)
    frozen = tc.jit.optimize_for_inference(tc.jit.script(model).eval())
    assert_close(frozen(tc.tensor(X)), torch.jit.freeze(torch.jit.script(ref).eval())(
        torch.tensor(X)))


def test_the_deprecated_calls_warn_as_torchs_do():
    model, ref = _pair()
    calls = {"script": lambda jit, m: jit.script(m),
             "trace": lambda jit, m: jit.trace(m, (tc if jit is tc.jit else torch).tensor(X)),
             "freeze": lambda jit, m: jit.freeze(jit.script(m).eval()),
             "fork": lambda jit, m: jit.fork(len, [1])}
    for name, call in calls.items():
        with pytest.warns(DeprecationWarning) as want:
            call(torch.jit, ref)
        with pytest.warns(DeprecationWarning) as got:
            call(tc.jit, model)
        said = {str(w.message) for w in want}
        assert f"`torch.jit.{name}` is deprecated" in " ".join(said)
        assert {str(w.message) for w in got} <= said


def test_markers_and_helpers_behave_as_torchs_outside_torchscript():
    def f(x):
        return x + 1
    for name in ("ignore", "unused", "export"):
        assert getattr(tc.jit, name)(f) is f is getattr(torch.jit, name)(f)
        assert getattr(tc.jit, name)()(f) is f
    assert tc.jit.is_scripting() is torch.jit.is_scripting() is False
    assert tc.jit.is_tracing() is torch.jit.is_tracing() is False
    assert tc.jit.annotate(int, 4) == torch.jit.annotate(int, 4) == 4
    assert tuple(tc.jit.Attribute(3, int)) == tuple(torch.jit.Attribute(3, int))
    assert tc.jit.wait(tc.jit.fork(f, 1)) == torch.jit.wait(torch.jit.fork(f, 1)) == 2
    with pytest.raises(TypeError, match="got int"):
        tc.jit.script(3)
