"""A view written in place inside compiled code, under no_grad, through `.data`, or in grad
mode, against torch: its base (and the base's other views and twins) sees the write, and the
gradients are torch's (under no_grad the write is not recorded: the base keeps its gradient
path; in grad mode it is torch's CopySlices). Traced values share no memory, so the base was
read as stale: a graph break where torch.compile keeps one graph (`v = a[1:]; v.mul_(2)`,
PixelSNAIL's `weight_v.data[..., k:].zero_()`, `x[:, 0].fill_(0)`). Every case runs under
fullgraph=True, so a graph break fails it (tracing/view_writes.py)."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.errors import TraceError

from helpers import assert_close

_RNG = np.random.default_rng(54)


def slice_of_a_non_leaf(lib, x):
    a = x * 2
    early = a * 3               # a use before the write: its gradient is not the write's
    with lib.no_grad():
        v = a[1:]
        v.mul_(2)
    return early.sum() + (a * a).sum(), a


def select_of_a_non_leaf(lib, x, w):
    a = x + 1
    with lib.no_grad():
        a[:, 0].fill_(0)
    return (a * w).sum(), a


def transposed_view(lib, x):
    a = x.sin()
    row = a[1]                  # a view made before the write, read after it: shows it
    with lib.no_grad():
        a.t()[1:].mul_(-3)      # columns 1.. of a
    return (a * a).sum() + (row * x[0]).sum(), row


def strided_view_of_a_view(lib, x):
    a = x * x
    with lib.no_grad():
        a[:, 1:][::2].add_(10)
        a[1].unsqueeze(0)[0, 2:].clamp_(max=0.5)     # a reshape adding a dim of size 1
    return a.exp().sum(), a


def view_of_data_of_a_non_leaf(lib, x):
    a = x * 2
    a.data[1:, :2].zero_()      # grad mode, through .data: not recorded either
    return (a * x).sum(), a


def view_written_in_grad_mode(lib, x, y):
    a = x * 2
    a[1:, 1].mul_(y)            # recorded: torch's CopySlices
    a.t()[0].add_(y.sum())
    return (a * a).sum(), a


def view_of_an_argument(lib, x, b):
    with lib.no_grad():
        b[1:].mul_(2)
        b.t()[0].fill_(-1)      # b's column 0: the caller's tensor takes both writes
    return (x * b).sum(), b * 1


def view_of_an_argument_in_grad_mode(lib, x, b):
    b[:, 0].fill_(0)            # nothing recorded: b and the values need no gradient
    b.t()[1].mul_(2)
    return (x * b).sum(), b * 1


CASES = {
    "slice of a non-leaf": (slice_of_a_non_leaf, [(3, 4)], [True]),
    "select of a non-leaf": (select_of_a_non_leaf, [(3, 4), (3, 4)], [True, True]),
    "transposed view": (transposed_view, [(3, 4)], [True]),
    "strided view of a view": (strided_view_of_a_view, [(4, 5)], [True]),
    "view of .data of a non-leaf": (view_of_data_of_a_non_leaf, [(3, 4)], [True]),
    "view written in grad mode": (view_written_in_grad_mode, [(3, 4), (2,)], [True, True]),
    "view of an argument": (view_of_an_argument, [(3, 4), (3, 4)], [True, False]),
    "view of an argument in grad mode": (view_of_an_argument_in_grad_mode, [(3, 4), (3, 4)],
                                         [True, False]),
}


def _run(lib, fn, arrays, grads, compiled):
    run = tc.compile(fn, fullgraph=True) if compiled else fn
    for _ in range(1 + compiled):   # compiled: the second call runs the cached code
        inputs = [lib.tensor(a.copy(), requires_grad=g) for a, g in zip(arrays, grads)]
        loss, seen = run(lib, *inputs)
    loss.backward()
    return loss, seen, inputs


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name", list(CASES))
def test_a_view_written_in_place_is_torchs(name, compiled):
    fn, shapes, grads = CASES[name]
    arrays = [_RNG.standard_normal(s) for s in shapes]
    want = _run(torch, fn, arrays, grads, False)
    got = _run(tc, fn, arrays, grads, compiled)
    assert_close(got[0], want[0], rtol=1e-10, what="loss")
    assert_close(got[1], want[1], rtol=1e-10, what="the base after the write")
    for k, (mine, theirs) in enumerate(zip(got[2], want[2])):
        assert_close(mine, theirs, rtol=1e-10, what=f"input {k} after the call")
        if theirs.requires_grad:
            assert_close(mine.grad, theirs.grad, rtol=1e-10, what=f"input {k}'s gradient")


# --- a parameter's view written through .data, in a whole compiled training step ---------
def _masked_step(lib, model, opt, x):
    with lib.no_grad():
        model[0].weight[:, 1:3].mul_(0.5)           # a view of the parameter itself
    model[2].weight.data[..., 2:].zero_()           # a causal mask on a parameter
    loss = model(x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def _twin_models():
    ref = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(),
                              torch.nn.Linear(5, 3)).double()
    ours = tc.nn.Sequential(tc.nn.Linear(4, 5), tc.nn.Tanh(), tc.nn.Linear(5, 3)).double()
    ours.load_state_dict({k: tc.tensor(v.detach().numpy().copy())
                          for k, v in ref.state_dict().items()})
    return ours, ref


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_a_parameters_view_written_before_the_forward_trains_as_torchs(compiled):
    ours, ref = _twin_models()
    opts = tc.optim.Adam(ours.parameters(), lr=0.05), torch.optim.Adam(ref.parameters(),
                                                                        lr=0.05)
    step = tc.compile(_masked_step, fullgraph=True) if compiled else _masked_step
    for _ in range(3):
        x = _RNG.standard_normal((6, 4))
        want = _masked_step(torch, ref, opts[1], torch.tensor(x))
        assert_close(step(tc, ours, opts[0], tc.tensor(x)), want, rtol=1e-10, what="loss")
    for (name, mine), theirs in zip(ours.named_parameters(), ref.parameters()):
        assert_close(mine, theirs, rtol=1e-9, atol=1e-12, what=name)


def _weight_normed_step(lib, conv, opt, x):
    conv.weight_v.data[..., 2:].zero_()     # PixelSNAIL's CausalConv2d, each forward
    loss = conv(x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


@pytest.mark.filterwarnings("ignore::FutureWarning")    # torch's old weight_norm
def test_pixelsnails_causal_mask_on_a_weight_normed_conv_trains_as_torchs():
    ref = torch.nn.utils.weight_norm(torch.nn.Conv2d(2, 3, (2, 3)).double())
    ours = tc.nn.utils.weight_norm(tc.nn.Conv2d(2, 3, (2, 3)).double())
    ours.load_state_dict({k: tc.tensor(v.detach().numpy().copy())
                          for k, v in ref.state_dict().items()})
    opt, ref_opt = tc.optim.SGD(ours.parameters(), lr=0.1), torch.optim.SGD(
        ref.parameters(), lr=0.1)
    step = tc.compile(_weight_normed_step, fullgraph=True)
    for _ in range(3):
        x = _RNG.standard_normal((2, 2, 5, 6))
        want = _weight_normed_step(torch, ref, ref_opt, torch.tensor(x))
        assert_close(step(tc, ours, opt, tc.tensor(x)), want, rtol=1e-10, what="loss")
    for name in ("weight_v", "weight_g", "bias"):
        assert_close(getattr(ours, name), getattr(ref, name), rtol=1e-9, atol=1e-12,
                     what=name)


def _used_then_clamped(lib, model, x):
    y = model(x)                # its weight.t() is a view made in grad mode
    with lib.no_grad():
        model.weight.clamp_(-0.1, 0.1)
    return y.sum()


def test_views_of_a_parameter_updated_under_no_grad_after_its_use_stay_without_history():
    """Replayed on the clamped weight, F.linear's weight.t() would be a use of the updated
    parameter where gradients are recorded: compile(model) refuses those (compiler/state.
    settle_updated_leaves), so a leaf's views replay without history, as before."""
    ref = torch.nn.Linear(4, 3).double()
    ours = tc.nn.Linear(4, 3).double()
    ours.load_state_dict({k: tc.tensor(v.detach().numpy().copy())
                          for k, v in ref.state_dict().items()})
    x = _RNG.standard_normal((2, 4))
    want = _used_then_clamped(torch, ref, torch.tensor(x))
    want.backward()
    got = tc.compile(lambda x: _used_then_clamped(tc, ours, x), fullgraph=True)(tc.tensor(x))
    got.backward()
    assert_close(got, want, rtol=1e-12)
    assert_close(ours.weight, ref.weight, rtol=0)
    assert_close(ours.weight.grad, ref.weight.grad, rtol=1e-12)


# --- what stays refused ------------------------------------------------------------------
def test_a_reshape_that_merges_dims_stays_a_graph_break_with_eagers_numbers():
    """`a.view(-1)` shares a's memory only for strides the trace does not know (`a.t()
    .reshape(-1)` copies), so its write is not carried to a: reading a is the TraceError
    under fullgraph, and without it the graph break gives eager's numbers."""
    def fn(x):
        a = x * 2
        with tc.no_grad():
            a.view(-1)[:3].zero_()
        return a + 1

    x = tc.randn(3, 4)
    with pytest.raises(TraceError, match="missed an in-place update made through a view") \
            as got:
        tc.compile(fn, fullgraph=True)(x)
    assert "not through a reshape that merges or splits dims" in str(got.value)
    assert_close(tc.compile(fn)(x), fn(x), rtol=0)


def test_an_expanded_view_written_in_place_is_torchs_error():
    def fn(lib, x):
        a = x * 2
        with lib.no_grad():
            a[:1].expand(3, 4).add_(1)
        return a

    with pytest.raises(RuntimeError, match="more than one element of the written-to") as ref:
        fn(torch, torch.ones(3, 4))
    for run in (fn, tc.compile(fn, fullgraph=True)):
        with pytest.raises(RuntimeError) as got:
            run(tc, tc.ones(3, 4))
        assert str(got.value) == str(ref.value)


def test_a_view_of_a_parameter_written_in_grad_mode_is_torchs_error():
    """A module's parameter, reached from the compiled code: a leaf (an argument is the
    caller's, below)."""
    w = tc.nn.Parameter(tc.ones(3))

    def fn(lib, w):
        w[1:].mul_(2)
        return w.sum()

    with pytest.raises(RuntimeError) as ref:
        fn(torch, torch.nn.Parameter(torch.ones(3)))
    for run in (lambda: fn(tc, w), tc.compile(lambda: fn(tc, w), fullgraph=True)):
        with pytest.raises(RuntimeError) as got:
            run()
        assert str(got.value) == str(ref.value)


def test_a_view_of_an_argument_written_in_grad_mode_stays_a_graph_break():
    """Whether the caller's tensor is a leaf (torch's error) or takes the write's history
    (CopySlices) is the caller's: compiled, it is a graph break, and eager gives torch's."""
    def fn(lib, w, y):
        w[1:].mul_(y)
        return w.sum()

    with pytest.raises(TraceError, match="missed an in-place update made through a view"):
        tc.compile(fn, fullgraph=True)(tc, tc.ones(3), tc.ones(2, requires_grad=True))
    with pytest.raises(RuntimeError) as ref:
        fn(torch, torch.ones(3, requires_grad=True), torch.ones(2))
    with pytest.raises(RuntimeError) as got:
        tc.compile(fn)(tc, tc.ones(3, requires_grad=True), tc.ones(2))
    assert str(got.value) == str(ref.value)
    want = torch.ones(3) * 1, torch.ones(2, requires_grad=True)
    fn(torch, *want).backward()
    got = tc.ones(3) * 1, tc.ones(2, requires_grad=True)
    tc.compile(fn)(tc, *got).backward()
    for mine, theirs in zip(got, want):
        assert_close(mine, theirs, rtol=0)
    assert_close(got[1].grad, want[1].grad, rtol=0)


# --- an argument that requires grad, written through a view under no_grad, then used ----
def _zeroed_then_used(lib, w, x):
    with lib.no_grad():
        w[1:].zero_()
        w.mul_(0.5)             # (the argument itself: it lost its gradient the same way)
    return (w * x).sum()


def _zeroed_then_used_step(lib, w, x):
    loss = _zeroed_then_used(lib, w, x)
    loss.backward()
    return loss


def test_an_argument_written_under_no_grad_then_used_gets_its_gradient_in_a_step():
    """Traced, the argument's stand-in took the new value as a value with no gradient
    path, so `w * x` gave w no gradient, silently (the view's write was a graph break
    before, the argument's own lost the gradient)."""
    w, x = _RNG.standard_normal((3, 4)), _RNG.standard_normal((3, 4))
    want = torch.tensor(w, requires_grad=True)
    loss = _zeroed_then_used_step(torch, want, torch.tensor(x))
    got = tc.tensor(w, requires_grad=True)
    run = tc.compile(_zeroed_then_used_step, fullgraph=True)
    assert_close(run(tc, got, tc.tensor(x)), loss, rtol=1e-12)
    assert_close(got, want, rtol=0)
    assert_close(got.grad, want.grad, rtol=1e-12)


def test_an_argument_written_under_no_grad_then_used_is_a_graph_break_alone():
    """compile(fn)'s own backward differentiates graph inputs only, so the gradient of the
    use would be lost (compiler/state.settle_updated_leaves): a graph break with the
    reason, and eager's numbers without fullgraph."""
    w, x = _RNG.standard_normal((3, 4)), _RNG.standard_normal((3, 4))
    with pytest.raises(TraceError, match="updates w in place under no_grad"):
        tc.compile(_zeroed_then_used, fullgraph=True)(
            tc, tc.tensor(w, requires_grad=True), tc.tensor(x))
    want = torch.tensor(w, requires_grad=True)
    _zeroed_then_used(torch, want, torch.tensor(x)).backward()
    got = tc.tensor(w, requires_grad=True)
    tc.compile(_zeroed_then_used)(tc, got, tc.tensor(x)).backward()
    assert_close(got, want, rtol=0)
    assert_close(got.grad, want.grad, rtol=1e-12)


@pytest.mark.parametrize("used", ["written", "changed through its base"])
def test_a_no_grad_view_used_in_grad_mode_after_a_write_is_torchs_error(used):
    """A view made under no_grad of a tensor that requires grad, changed in place since
    (by its own write or its base's), is refused when an op records it, as eagerly."""
    def fn(lib, x):
        a = x * 2
        with lib.no_grad():
            v, w = a[1:], a.t()[0]
            v.mul_(3)
        return (v if used == "written" else w) * 1

    with pytest.raises(RuntimeError) as ref:
        fn(torch, torch.ones(3, 4, requires_grad=True))
    for run in (fn, tc.compile(fn, fullgraph=True)):
        with pytest.raises(RuntimeError) as got:
            run(tc, tc.ones(3, 4, requires_grad=True))
        assert str(got.value) == str(ref.value)


@pytest.mark.parametrize("piece", ["unbind", "chunk", "a view of a chunk"])
def test_an_output_of_unbind_or_chunk_written_in_grad_mode_is_torchs_error(piece):
    """The trace's pieces have no tape node to say that they are one call's views: it
    keeps that itself (output_groups), so the recorded write is refused as eagerly. A
    view of a piece is a graph break: torch's error names the view's node."""
    def fn(lib, x, y):
        a = x * 2
        part = {"unbind": lambda: a.unbind(0)[1], "chunk": lambda: a.chunk(2, 1)[1],
                "a view of a chunk": lambda: a.chunk(2, 1)[1][0]}[piece]()
        part.mul_(y)
        return a.sum()

    n = 4 if piece == "unbind" else 2
    with pytest.raises(RuntimeError, match="returns multiple views") as ref:
        fn(torch, torch.ones(3, 4, requires_grad=True), torch.ones(n))
    runs = [fn, tc.compile(fn, fullgraph=piece != "a view of a chunk")]
    if piece == "a view of a chunk":
        with pytest.raises(TraceError, match="missed an in-place update made through a view"):
            tc.compile(fn, fullgraph=True)(tc, tc.ones(3, 4, requires_grad=True), tc.ones(n))
    for run in runs:
        with pytest.raises(RuntimeError) as got:
            run(tc, tc.ones(3, 4, requires_grad=True), tc.ones(n))
        assert str(got.value) == str(ref.value)
