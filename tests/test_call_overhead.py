"""What a compiled call may skip must stay invisible. A whole step's updated parameters and
optimizer state are adopted (the tensor takes the runner's output array) instead of
copied back only when nothing but the tensor sees the old array: anyone holding a view,
a detached tensor, a `.numpy()` result or a weak reference sees every update, as eagerly."""
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


def test_an_unshared_parameter_takes_the_new_array_and_stays_right():
    eager, compiled, ref, model, ref_opt, opt = _steps()
    for i in range(6):
        eager()
        before = [p.data_ptr() for p in model.parameters()]
        compiled()
        after = [p.data_ptr() for p in model.parameters()]
        assert all(a != b for a, b in zip(before, after)), f"step {i}: not adopted"
        for p, q in zip(ref.parameters(), model.parameters()):
            _close(q.detach().numpy(), p.detach().numpy(), f"step {i}")
            _close(opt.state[q]["momentum_buffer"].numpy(),
                   ref_opt.state[p]["momentum_buffer"].numpy(), f"buffer, step {i}")


def test_a_holder_taken_between_steps_stops_adoption_for_its_tensor_only():
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
    for i in range(3):
        ref(x).sum().backward()
        compiled(x).sum().backward()
        _close(model[1].running_mean.numpy(), ref[1].running_mean.numpy(), f"call {i}")
        _close(model[1].running_var.numpy(), ref[1].running_var.numpy(), f"call {i}")
        if hold:
            _close(held.numpy(), ref[1].running_mean.numpy(), f"holder, call {i}")
    for p, q in zip(ref.parameters(), model.parameters()):
        _close(q.grad.numpy(), p.grad.numpy(), "grad")
