"""A whole training step compiled as one function: forward, loss, `loss.backward()` and
`optimizer.step()` traced into one graph. Losses, weights, `.grad` and optimizer state
must follow the eager step's, for every optimizer; the first call creates the optimizer
state (one recompile), later calls reuse the second artifact. What cannot be compiled
faithfully is a TraceError, never a stale value."""
import numpy as np
import pytest

import tracecomp as tc
import tracecomp.nn.functional as F
from tracecomp import nn

from helpers import assert_close, compiled_step


def _mlp():
    tc.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 4))


OPTIMIZERS = [
    ("sgd_momentum", tc.optim.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("sgd_plain", tc.optim.SGD, {"lr": 0.1, "weight_decay": 1e-3}),
    ("adam", tc.optim.Adam, {"lr": 1e-2}),
    ("adamw_amsgrad", tc.optim.AdamW, {"lr": 1e-2, "amsgrad": True}),
    ("adagrad", tc.optim.Adagrad, {"lr": 0.1, "lr_decay": 0.01}),
    ("rmsprop", tc.optim.RMSprop, {"lr": 1e-2, "momentum": 0.5, "centered": True}),
]
# issue 9's, run for more steps: they cover RAdam's switch to the rectified update (step 6)
# and ASGD's start of averaging (t0)
MORE_STEPS = [
    ("adamax", tc.optim.Adamax, {"lr": 1e-2, "weight_decay": 0.01}),
    ("nadam", tc.optim.NAdam, {"lr": 1e-2, "weight_decay": 0.01}),
    ("nadamw", tc.optim.NAdam, {"lr": 1e-2, "weight_decay": 0.1,
                                "decoupled_weight_decay": True}),
    ("radam", tc.optim.RAdam, {"lr": 1e-2}),
    ("adadelta", tc.optim.Adadelta, {"lr": 1.0, "weight_decay": 0.01}),
    ("asgd", tc.optim.ASGD, {"lr": 0.05, "t0": 3, "lambd": 1e-3}),
    ("rprop", tc.optim.Rprop, {"lr": 0.01}),
    ("adafactor", tc.optim.Adafactor, {"lr": 0.01, "weight_decay": 0.01}),
]
STEPS = {**dict.fromkeys((name for name, *_ in OPTIMIZERS), 5),
         **dict.fromkeys((name for name, *_ in MORE_STEPS), 8)}
OPTIMIZERS += MORE_STEPS


@pytest.mark.parametrize("name,opt_cls,kw", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_compiled_training_step_matches_eager(name, opt_cls, kw, backend):
    ref, model = _mlp(), _mlp()
    ref_opt, opt = opt_cls(ref.parameters(), **kw), opt_cls(model.parameters(), **kw)
    x, y = tc.randn(8, 12), tc.randint(0, 4, (8,))
    step = compiled_step(model, opt, backend)
    for i in range(STEPS[name]):
        ref_opt.zero_grad()
        want = F.cross_entropy(ref(x), y)
        want.backward()
        ref_opt.step()
        got = step(x, y)
        assert got.item() == pytest.approx(want.item(), rel=1e-5, abs=1e-6), f"step {i}"
    assert step.compiles == 2       # the first step creates the optimizer state
    for (key, a), b in zip(ref.state_dict().items(), model.state_dict().values()):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-6, err_msg=key)
    for p, q in zip(ref.parameters(), model.parameters()):
        np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=1e-4, atol=1e-6)
        assert set(opt.state[q]) == set(ref_opt.state[p])
        for key, value in ref_opt.state[p].items():
            got = opt.state[q][key]
            assert got.dtype == value.dtype, key
            # atol on the state's scale (|values| up to ~10): centered RMSprop divides by
            # sqrt(v - mean(g)^2), where v and mean(g)^2 nearly cancel, so the last bits of
            # a gradient (a BLAS on AVX-512 sums in another order) grow to ~3e-6 in its buffer
            np.testing.assert_allclose(got.numpy(), value.numpy(), rtol=1e-4, atol=1e-5,
                                       err_msg=key)


def test_traced_backward_accumulates_into_existing_grads():
    model = nn.Linear(3, 2)
    x = tc.randn(4, 3, requires_grad=True)

    @tc.compile
    def accumulate(x):
        (model(x) ** 2).sum().backward()

    accumulate(x)
    accumulate(x)                    # no zero_grad: .grad accumulates, as eagerly
    w_grad, x_grad = model.weight.grad.numpy().copy(), x.grad.numpy().copy()
    model.weight.grad = x.grad = None
    for _ in range(2):
        (model(x) ** 2).sum().backward()
    np.testing.assert_allclose(w_grad, model.weight.grad.numpy(), rtol=1e-5)
    np.testing.assert_allclose(x_grad, x.grad.numpy(), rtol=1e-5)


def test_learning_rate_change_recompiles_instead_of_going_stale():
    model = nn.Linear(3, 1)
    opt = tc.optim.SGD(model.parameters(), lr=0.1)
    x = tc.randn(4, 3)

    @tc.compile
    def step(x):
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()

    step(x)
    before = model.weight.detach().clone()
    opt.param_groups[0]["lr"] = 0.0
    step(x)
    assert step.compiles == 2
    np.testing.assert_array_equal(model.weight.detach().numpy(), before.numpy())


def test_tracing_a_step_leaves_no_trace_on_the_real_objects():
    model = nn.Linear(3, 2)
    opt = tc.optim.Adam(model.parameters())
    x = tc.randn(4, 3)

    def step(x):
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()

    compiled = tc.compile(step)
    compiled(x)
    assert all(isinstance(t._data, np.ndarray) for t in model.parameters())
    assert all(isinstance(p.grad._data, np.ndarray) for p in model.parameters())
    for entries in opt.state.values():
        assert all(isinstance(v._data, np.ndarray) for v in entries.values())


class _Holder:                        # not a module
    def __init__(self, net):
        self.net = net


def test_buffer_updated_through_an_unknown_path_is_an_error_not_a_lost_update():
    holder = _Holder(_Holder(nn.BatchNorm1d(3)))    # two attributes down: not an input

    @tc.compile(fullgraph=True)
    def run(h, x):
        return h.net.net(x)

    with pytest.raises(tc.TraceError, match="updated a tensor of shape \\[3\\] in place"):
        run(holder, tc.randn(4, 3))
    assert isinstance(holder.net.net.running_mean._data, np.ndarray)     # left as it was
    assert holder.net.net.running_mean.tolist() == [0.0, 0.0, 0.0]


def test_buffer_updated_through_an_attribute_of_an_argument():
    holder, ref = _Holder(nn.BatchNorm1d(3)), nn.BatchNorm1d(3)    # one attribute down
    run = tc.compile(lambda h, x: h.net(x))
    x = tc.randn(4, 3)
    for _ in range(3):
        assert_close(run(holder, x), ref(x), rtol=1e-5, atol=1e-6)
    assert_close(holder.net.running_mean, ref.running_mean, rtol=1e-6, atol=1e-7)
    assert_close(holder.net.running_var, ref.running_var, rtol=1e-6, atol=1e-7)


VIEW_UPDATES = [
    ("base read after its view changed", lambda x: (x.view(-1).add_(1), x * 2)[1]),
    ("view of a view", lambda x: (x.view(2, 6).view(12).add_(1), x.sum())[1]),
]


@pytest.mark.parametrize("name,fn", VIEW_UPDATES, ids=[v[0] for v in VIEW_UPDATES])
def test_in_place_update_through_a_view_is_a_trace_error_not_a_stale_value(name, fn):
    with pytest.raises(tc.TraceError, match="missed an in-place update made through a view"):
        tc.compile(fn, fullgraph=True)(tc.randn(3, 4) * 1)


VIEWS_OF_CHANGED_BASES = [
    ("row", lambda x: (v := x[0], x.mul_(2), v + 0)[2]),
    ("reshape of a column", lambda x: (v := x[:, 1].reshape(3, 1), x.add_(1), v * 3)[2]),
    ("row of a temporary, another row written",
     lambda x: (t := x * 1, v := t[1], t.__setitem__(0, v * 5), v + t.sum())[3]),
    ("view of a zeros buffer, then filled",
     lambda x: (b := tc.zeros(3, 4), v := b.view(12), b.__setitem__(1, x[0]), v * 2)[3]),
]


@pytest.mark.parametrize("name,fn", VIEWS_OF_CHANGED_BASES,
                         ids=[v[0] for v in VIEWS_OF_CHANGED_BASES])
def test_view_read_after_its_base_changed_sees_the_change(name, fn):
    """A view shares its base's memory: after `x.mul_(2)`, x[0] taken before shows the
    doubled row. Traced values share nothing, so the view's op is replayed on the base's
    new value (it was a TraceError; a view of a zeros buffer gave its zeros, silently)."""
    x = tc.randn(3, 4)
    want = fn(x * 1)
    np.testing.assert_allclose(tc.compile(fn)(x * 1).numpy(), want.numpy(), rtol=1e-5, atol=1e-5)


def test_input_updated_only_through_a_view_is_a_trace_error():
    model = nn.Linear(3, 3)

    @tc.compile(fullgraph=True)
    def bump(x):
        with tc.no_grad():
            model.weight.view(-1).add_(1)      # eagerly this changes model.weight
        return x

    with pytest.raises(tc.TraceError, match="missed an in-place update"):
        bump(tc.randn(2))


def test_in_place_update_of_a_view_that_nobody_reads_again_is_fine():
    f = tc.compile(lambda x: (x * 2).reshape(-1).relu_())   # its base is never read again
    x = tc.randn(3, 4)
    np.testing.assert_array_equal(f(x).numpy(), (x * 2).reshape(-1).relu().numpy())


def test_augmented_assignment_on_an_index_writes_back():
    def f(x):
        y = x * 1
        y[1:, 0] += 5        # y[...] view updated, then assigned back: y stays current
        y[..., -1] *= 2
        return y * 1

    x = tc.randn(3, 4)
    np.testing.assert_allclose(tc.compile(f)(x).numpy(), f(x).numpy(), rtol=1e-6)


def test_a_view_updated_then_assigned_to_another_place_writes_both():
    def f(x):
        y = x * 1
        t = y[1]
        t.add_(1)             # y[1] changes, as eagerly (tracing/view_writes.py) ...
        y[0] = t              # ... and y[0] takes it too
        return y * 1

    x = tc.randn(3, 4)
    np.testing.assert_array_equal(tc.compile(f, fullgraph=True)(x).numpy(), f(x).numpy())


def test_a_tensor_lr_an_optimizer_cannot_feed_is_a_trace_error():
    """Adamax does not feed its lr as an input (SGD and Adam do: test_fed_settings.py), so
    a tensor lr would be baked in at its trace-time value (schedulers fill_ it)."""
    model = nn.Linear(3, 1)
    opt = tc.optim.Adamax(model.parameters(), lr=tc.tensor(0.1))
    before = model.weight.detach().numpy().copy()

    @tc.compile(fullgraph=True)
    def step(x):
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()

    with pytest.raises(tc.TraceError, match="lr is a tensor"):
        step(tc.randn(4, 3))
    np.testing.assert_array_equal(model.weight.detach().numpy(), before)


_helper_model = nn.Linear(3, 1)
_helper_opt = tc.optim.SGD(_helper_model.parameters(), lr=0.1, momentum=0.9)


def _helper_body(x):
    loss = (_helper_model(x) ** 2).sum()
    loss.backward()
    _helper_opt.step()
    _helper_opt.zero_grad()
    return loss


def test_model_and_optimizer_a_helper_names_are_the_steps_own():
    """nanoGPT-style: the compiled step calls a helper of the user's, and the helper names
    the global model and optimizer: they are the step's inputs, as if the step named them
    (it was a TraceError: an optimizer 'it was not given')."""
    import torch
    ref = torch.nn.Linear(3, 1)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(_helper_model.weight.detach().numpy()))
        ref.bias.copy_(torch.tensor(_helper_model.bias.detach().numpy()))
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    step = tc.compile(lambda x: _helper_body(x))
    x = np.arange(12.0, dtype=np.float32).reshape(4, 3) / 10
    for _ in range(3):
        got = step(tc.tensor(x)).item()
        want = (ref(torch.tensor(x)) ** 2).sum()
        want.backward()
        ref_opt.step()
        ref_opt.zero_grad()
        assert np.isclose(got, want.item(), rtol=1e-5)
    assert_close(_helper_model.weight, ref.weight.detach(), rtol=1e-5, atol=1e-6)


def test_a_failed_trace_leaves_no_traced_gradient_behind():
    """The trace ran backward into a tensor from outside, then failed on a value-dependent
    branch: fallback='eager' runs the call eagerly, which must find the .grad as it was,
    not a traced value (it stopped on 'converting a traced tensor')."""
    w = tc.tensor([1.0, 2.0, 3.0], requires_grad=True)

    def step(x):
        loss = (x * w).sum()
        loss.backward()
        return loss * 2 if loss.item() > 0 else loss

    with pytest.warns(UserWarning, match="fallback='eager'"):
        out = tc.compile(step, fallback="eager")(tc.ones(3))
    assert out.item() == 12.0
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 1.0, 1.0])
