"""What a compiled call may skip must stay invisible. A whole step's updated parameters and
optimizer state are computed over their old arrays (passes/donation.py); where that is not
possible, they are adopted (the tensor takes the runner's output array) instead of copied
back only when nothing but the tensor sees the old array: anyone holding a view, a detached
tensor, a `.numpy()` result or a weak reference sees every update, as eagerly."""
import weakref

import numpy as np
import pytest

import tracecomp as tc
import tracecomp.nn.functional as F
from tracecomp import nn


def _mlp():
    tc.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 4))


def _steps(backend="llvm"):
    """(eager step, compiled step, eager model, compiled model, eager opt, compiled opt)."""
    ref, model = _mlp(), _mlp()
    ref_opt = tc.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    opt = tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = tc.randn(8, 12), tc.randint(0, 4, (8,))

    def make(m, o):
        def step():
            o.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            o.step()
            return loss
        return step
    return (make(ref, ref_opt), tc.compile(make(model, opt), backend=backend), ref, model,
            ref_opt, opt)


def _close(got, want, what):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6,
                               err_msg=what)


HOLDERS = {     # a way to keep seeing a tensor's values -> how to read it later
    "detach": (lambda t: t.detach(), lambda h: h.numpy()),
    "data": (lambda t: t.data, lambda h: h.numpy()),
    "numpy": (lambda t: t.detach().numpy(), lambda h: h),
    "slice view": (lambda t: t.detach().numpy()[:1], lambda h: h),
    "weakref": (lambda t: weakref.ref(t.detach().numpy()), lambda h: h()),
}


@pytest.mark.parametrize("kind", list(HOLDERS))
def test_a_held_parameter_or_momentum_buffer_sees_every_compiled_update(kind):
    hold, read = HOLDERS[kind]
    eager, compiled, ref, model, ref_opt, opt = _steps()
    eager(), compiled()                 # the optimizer state exists from now on
    pairs = [(p, q) for p, q in zip(ref.parameters(), model.parameters())]
    pairs += [(ref_opt.state[p]["momentum_buffer"], opt.state[q]["momentum_buffer"])
              for p, q in zip(ref.parameters(), model.parameters())]
    held = [(hold(a), hold(b)) for a, b in pairs]
    for i in range(3):
        eager(), compiled()
        for k, ((a, b), (ha, hb)) in enumerate(zip(pairs, held)):
            _close(read(ha), read(hold(a)), f"eager holder {k}, step {i}")
            _close(read(hb), read(hold(b)), f"compiled holder {k}, step {i}")
            _close(read(hb), read(ha), f"compiled vs eager holder {k}, step {i}")


def _without_donation(monkeypatch):
    """Compiles from now on compute every update into an array of their own."""
    from tracecomp.passes import donation
    monkeypatch.setattr(donation, "run", lambda *args: ({}, []))


@pytest.mark.parametrize("in_place", [True, False])
def test_an_unshared_parameter_is_updated_in_place_or_takes_the_new_array(in_place,
                                                                          monkeypatch):
    if not in_place:
        _without_donation(monkeypatch)
    eager, compiled, ref, model, ref_opt, opt = _steps()
    for i in range(6):
        eager()
        before = [p.data_ptr() for p in model.parameters()]
        compiled()
        after = [p.data_ptr() for p in model.parameters()]
        if in_place:
            assert before == after, f"step {i}: not updated in place"
        else:
            assert all(a != b for a, b in zip(before, after)), f"step {i}: not adopted"
        for p, q in zip(ref.parameters(), model.parameters()):
            _close(q.detach().numpy(), p.detach().numpy(), f"step {i}")
            _close(opt.state[q]["momentum_buffer"].numpy(),
                   ref_opt.state[p]["momentum_buffer"].numpy(), f"buffer, step {i}")


def test_a_holder_taken_between_steps_stops_adoption_for_its_tensor_only(monkeypatch):
    _without_donation(monkeypatch)
    eager, compiled, ref, model, _, _ = _steps()
    for _ in range(2):
        eager(), compiled()
    first = next(iter(model.parameters()))
    held = first.detach()
    ptr = first.data_ptr()
    others = [p.data_ptr() for p in list(model.parameters())[1:]]
    eager(), compiled()
    assert first.data_ptr() == ptr and held.data_ptr() == ptr     # written in place
    assert all(a != p.data_ptr() for a, p in zip(others, list(model.parameters())[1:]))
    _close(held.numpy(), next(iter(ref.parameters())).detach().numpy(), "held weight")
    del held
    eager(), compiled()
    assert first.data_ptr() != ptr      # nobody else holds it again: adopted
    for p, q in zip(ref.parameters(), model.parameters()):
        _close(q.detach().numpy(), p.detach().numpy(), "after release")


@pytest.mark.parametrize("hold", [False, True])
def test_batchnorm_running_statistics_follow_eager_with_and_without_a_holder(hold):
    def net():
        tc.manual_seed(0)
        return nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5))
    ref, model = net(), net()
    compiled = tc.compile(model)
    x = tc.randn(8, 6)
    held = model[1].running_mean.detach() if hold else None
    # a weighted sum: the gradient of a plain sum through BatchNorm is 0 up to rounding
    w = tc.linspace(-1.0, 1.0, 40).reshape(8, 5)
    for i in range(3):
        (ref(x) * w).sum().backward()
        (compiled(x) * w).sum().backward()
        _close(model[1].running_mean.numpy(), ref[1].running_mean.numpy(), f"call {i}")
        _close(model[1].running_var.numpy(), ref[1].running_var.numpy(), f"call {i}")
        if hold:
            _close(held.numpy(), ref[1].running_mean.numpy(), f"holder, call {i}")
    # the Linear's bias gradient is 0 but for rounding (BatchNorm subtracts the batch mean)
    for p, q in zip(ref.parameters(), model.parameters()):
        np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=1e-5, atol=1e-5)


# --- the latest call's signature, rechecked without the full signature -------------------
# Each case: a compiled call is repeated (so the recheck is what answers), then one thing the
# signature covers changes; the call must compile again, or reuse a still-valid artifact,
# and give eager's result either way.
def _counting(monkeypatch, compiled):
    """How many calls took the full signature."""
    count = [0]
    full = compiled._lookup

    def lookup(*args):
        count[0] += 1
        return full(*args)
    monkeypatch.setattr(compiled, "_lookup", lookup)
    return count


def test_a_repeated_call_skips_the_full_signature(monkeypatch):
    model = _mlp()
    compiled = tc.compile(model)
    x = tc.randn(3, 12)
    compiled(x)
    full = _counting(monkeypatch, compiled._compiled)
    for _ in range(3):
        _close(compiled(x).detach().numpy(), model(x).detach().numpy(), "repeat")
    assert full[0] == 0 and compiled._compiled.compiles == 1


TENSOR_CHANGES = {      # name -> (first argument, changed argument)
    "shape": (lambda: tc.randn(3, 12), lambda: tc.randn(5, 12)),
    "dtype": (lambda: tc.randn(3, 12), lambda: tc.randn(3, 12).double()),
    "requires_grad": (lambda: tc.randn(3, 12), lambda: tc.randn(3, 12, requires_grad=True)),
}


@pytest.mark.parametrize("change", list(TENSOR_CHANGES))
def test_a_changed_tensor_argument_recompiles(change):
    first, changed = TENSOR_CHANGES[change]

    @tc.compile
    def f(x, w):
        return (x.float() * w).sum(1)
    w = tc.randn(12)
    x = first()
    f(x, w), f(x, w)
    y = changed()
    _close(f(y, w).detach().numpy(), (y.float() * w).sum(1).detach().numpy(), change)
    assert f.compiles == 2


def test_a_changed_static_argument_recompiles_and_an_equal_one_does_not():
    @tc.compile
    def f(x, k, scale):
        return x * k * scale
    x = tc.randn(4)
    big = 10 ** 6
    f(x, 2, big), f(x, 2, big)
    _close(f(x, 3, big).numpy(), x.numpy() * 3 * big, "k = 3")
    assert f.compiles == 2
    _close(f(x, 3, int(str(big))).numpy(), x.numpy() * 3 * big, "equal, not the same")
    assert f.compiles == 2


def test_an_argument_gradient_appearing_takes_the_full_signature():
    @tc.compile
    def f(x):
        (x * x).sum().backward()
    x = tc.randn(4, requires_grad=True)
    f(x)                            # x.grad appears: the next call accumulates into it
    f(x)
    _close(x.grad.numpy(), 4 * x.detach().numpy(), "accumulated")


def test_training_flag_and_grad_mode_recompile():
    model = nn.Sequential(nn.Linear(12, 8), nn.BatchNorm1d(8))
    compiled = tc.compile(model)
    x = tc.randn(6, 12)
    compiled(x), compiled(x)
    model.eval()
    _close(compiled(x).detach().numpy(), model(x).detach().numpy(), "eval")
    assert compiled._compiled.compiles == 2
    with tc.no_grad():
        got = compiled(x)
    assert compiled._compiled.compiles == 3 and not got.requires_grad


def test_a_replaced_parameter_is_read_and_a_reshaped_one_recompiles():
    model = nn.Linear(4, 3)
    compiled = tc.compile(model)
    x = tc.randn(2, 4)
    compiled(x), compiled(x)
    model.weight = nn.Parameter(tc.randn(3, 4))         # same spec: same artifact, new values
    _close(compiled(x).detach().numpy(), model(x).detach().numpy(), "replaced")
    assert compiled._compiled.compiles == 1
    model.weight = nn.Parameter(tc.randn(5, 4))        # same labels, other shapes
    model.bias = nn.Parameter(tc.randn(5))
    _close(compiled(x).detach().numpy(), model(x).detach().numpy(), "5 outputs")
    assert compiled._compiled.compiles == 2
    model.register_buffer("extra", tc.zeros(1))         # one more input
    compiled(x)
    assert compiled._compiled.compiles == 3


def test_a_rebound_global_module_and_a_new_learning_rate_are_seen():
    global _model, _opt
    _model = nn.Linear(4, 1)
    _opt = tc.optim.SGD(_model.parameters(), lr=0.1)

    @tc.compile
    def step(x):
        _opt.zero_grad()
        _model(x).sum().backward()
        _opt.step()
    x = tc.randn(2, 4)
    step(x), step(x)
    before = _model.weight.detach().numpy().copy()
    _opt.param_groups[0]["lr"] = 0.5
    step(x)
    _close(_model.weight.detach().numpy(), before - 0.5 * x.numpy().sum(0), "lr 0.5")
    _model = nn.Linear(4, 1)
    _opt = tc.optim.SGD(_model.parameters(), lr=0.1)
    before = _model.weight.detach().numpy().copy()
    step(x)
    _close(_model.weight.detach().numpy(), before - 0.1 * x.numpy().sum(0), "new model")


def test_keyword_and_nested_arguments_always_take_the_full_signature(monkeypatch):
    @tc.compile
    def f(xs, k=1):
        return xs[0] * xs[1] * k
    x = tc.randn(3)
    full = _counting(monkeypatch, f)
    args = [x, 2]
    f(args), f(args)
    args[1] = 5                     # the same list, a different static inside
    _close(f(args).numpy(), x.numpy() * 5, "mutated list")
    _close(f([x, 5], k=2).numpy(), x.numpy() * 10, "keyword")
    assert full[0] == 4

    @tc.compile
    def g(x, k=1):
        return x * k
    g(x), g(x)
    _close(g(x, k=2).numpy(), x.numpy() * 2, "a keyword after positional calls")


def test_a_swapped_submodule_with_other_parameter_names_recompiles():
    class Affine(nn.Module):        # Linear's shapes, other names, no transpose
        def __init__(self):
            super().__init__()
            self.w, self.b = nn.Parameter(tc.randn(4, 4)), nn.Parameter(tc.randn(4))

        def forward(self, x):
            return x @ self.w + self.b
    model = nn.Sequential(nn.Linear(4, 4))
    compiled = tc.compile(model)
    x = tc.randn(2, 4)
    compiled(x), compiled(x)
    model[0] = Affine()
    _close(compiled(x).detach().numpy(), model(x).detach().numpy(), "swapped")
    assert compiled._compiled.compiles == 2
