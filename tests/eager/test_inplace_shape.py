"""In-place shape changes (x.unsqueeze_(0), x.squeeze_(), x.t_(), x.transpose_(0, 1),
x.swapdims_, x.resize_) against torch 2.13: the same tensor object with the new shape over
the same memory, the view op's history and torch's node name, views of a base kept views.
The char-RNN generation tutorial calls target.unsqueeze_(-1); squeeze_ used to keep the
old shape silently."""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

CALLS = ["unsqueeze_(0)", "unsqueeze_(-1)", "squeeze_()", "squeeze_(1)", "squeeze_((1,))",
         "transpose_(0, 2)", "swapdims_(0, 1)", "swapaxes_(-1, 0)"]


def _run(lib, call, through_view):
    w = lib.tensor(np.arange(6.0, dtype=np.float32), requires_grad=True)
    x = (w * 1).reshape(2, 1, 3) if through_view else (w * 1).reshape(2, 1, 3).clone()
    y = eval(f"x.{call}")
    weights = lib.tensor(np.arange(y.numel(), dtype=np.float32).reshape(tuple(y.shape)))
    (y * weights).sum().backward()
    return x, y, w.grad


@pytest.mark.parametrize("through_view", [False, True], ids=["base", "view"])
@pytest.mark.parametrize("call", CALLS)
def test_in_place_shape_change_as_torch(call, through_view):
    x, y, grad = _run(tc, call, through_view)
    tx, ty, tgrad = _run(torch, call, through_view)
    assert y is x
    assert tuple(x.shape) == tuple(tx.shape)
    assert x.is_contiguous() == tx.is_contiguous()
    assert type(x.grad_fn).__name__ == type(tx.grad_fn).__name__
    assert_close(x, tx.detach())
    assert_close(grad, tgrad)


def test_t_in_place_shares_memory_and_later_writes():
    m, tm = tc.zeros(2, 3), torch.zeros(2, 3)
    v, tv = m.view(6), tm.view(6)
    m.t_()
    tm.t_()
    m[0, 1] = 5
    tm[0, 1] = 5
    assert tuple(m.shape) == (3, 2)
    assert_close(m, tm)
    assert_close(v, tv)


def test_write_through_a_reshaped_view_reaches_its_base_history():
    """x, a view of h, unsqueezed in place, then written in place: h's gradient is torch's"""
    def run(lib):
        w = lib.tensor(np.arange(1.0, 7.0, dtype=np.float32), requires_grad=True)
        h = w * 2
        x = h[:3]
        x.unsqueeze_(0)
        x.mul_(3).add_(1)
        (h * lib.arange(6.0)).sum().backward()
        return h, w.grad
    h, grad = run(tc)
    th, tgrad = run(torch)
    assert_close(h, th.detach())
    assert_close(grad, tgrad)


def test_leaf_and_view_of_leaf_are_refused_as_torch():
    w = tc.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        w.unsqueeze_(0)
    with pytest.raises(RuntimeError, match="view of a leaf Variable"):
        w[:2].unsqueeze_(0)
    with tc.no_grad():
        w.unsqueeze_(0)
    assert tuple(w.shape) == (1, 3) and w.requires_grad


def test_resize_as_torch():
    a, ta = tc.arange(6.0), torch.arange(6.0)
    for shape in [(2, 2), (3, 1), (6,)]:
        a.resize_(*shape)
        ta.resize_(*shape)
        assert tuple(a.shape) == tuple(ta.shape)
        assert_close(a.flatten()[:3], ta.flatten()[:3])
    b = tc.arange(4.0)
    b.resize_((2, 3))
    assert tuple(b.shape) == (2, 3)
    assert_close(b.flatten()[:4], torch.arange(4.0))
    with pytest.raises(RuntimeError, match="cannot resize variables that require grad"):
        (tc.ones(3, requires_grad=True) * 1).resize_(3)


def test_compiled_code_changes_the_shape_of_what_it_made_only():
    def made(x):
        y = x * 2
        y.unsqueeze_(0)
        y.t_()
        return y + 1
    f = tc.compile(made, fullgraph=True)
    assert_close(f(tc.ones(3)), made(torch.ones(3)))
    g = tc.compile(lambda x: x.unsqueeze_(0), fullgraph=True)
    with pytest.raises(tc.TraceError, match="unsqueeze_: compiled code changes the shape"):
        g(tc.ones(3))


def test_compiled_step_squeezes_its_output_in_place():
    def train(lib, compiled):
        m = lib.nn.Linear(3, 1)
        with lib.no_grad():
            m.weight.copy_(lib.tensor([[0.1, -0.2, 0.3]]))
            m.bias.fill_(0.05)
        opt = lib.optim.SGD(m.parameters(), 0.1)

        def step(x, y):
            out = m(x)
            out.squeeze_(1)
            loss = ((out - y) ** 2).mean()
            loss.backward()
            opt.step()
            opt.zero_grad()
            return loss
        step = tc.compile(step) if compiled else step
        x = lib.arange(12.0).reshape(4, 3) / 10
        return [step(x, lib.arange(4.0)).item() for _ in range(3)], m.weight
    want, tw = train(torch, False)
    for compiled in (False, True):
        got, w = train(tc, compiled)
        np.testing.assert_allclose(got, want, rtol=1e-5)
        assert_close(w, tw.detach())


@pytest.mark.parametrize("op", ["unsqueeze_(0)", "t_()"])
def test_an_op_that_read_x_before_is_refused_not_misrouted(op):
    """y read x before x.t_(): our tape hands y's gradient to x's node at backward time,
    which now has another shape. The version moved (as torch's), so backward refuses
    instead of giving p a transposed gradient (torch, which keeps y's edge to x's old node,
    runs it)"""
    p = tc.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    x = p.clone()
    y = x * tc.arange(6.0).reshape(2, 3)
    eval(f"x.{op}")
    assert x._version == 1
    with pytest.raises(tc.errors.AutogradError, match="modified by an inplace operation"):
        y.sum().backward()


def test_repeat_is_a_new_tensor_as_torchs():
    """x.repeat(2, 1, 1, 1) adding a dim was a read-only broadcast view: div_ on it failed
    (fast_neural_style's normalize_batch(style.repeat(...)))"""
    s = tc.rand(3, 4, 4)
    r = s.repeat(2, 1, 1, 1)
    assert r.stride() == torch.zeros(3, 4, 4).repeat(2, 1, 1, 1).stride()
    r.div_(255.0)
    assert_close(r, torch.tensor(s.numpy()).repeat(2, 1, 1, 1) / 255.0)
    v = tc.arange(3.0)
    w = v.repeat(2, 1)
    w[0].fill_(5)
    assert v.tolist() == [0.0, 1.0, 2.0]
