"""A view op that changes nothing (x.view_as(x), x.permute(0, 1), x[:], x.split(n)[0], ...)
returns a new view of x, as torch's: its own grad_fn, hooks and gradient, in-place updates
through it reach x, and an in-place update of such a view of a leaf is torch's error.
Each case runs the same call under torch and tracecomp (identity_views.py)."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tests.helpers import assert_close, to_tc

# (label, shape of x, the call: f(lib, x) -> the view)
CASES = [
    ("view_as", (2, 3), lambda m, x: x.view_as(x)),
    ("view", (2, 3), lambda m, x: x.view(2, 3)),
    ("view(-1) 1-D", (3,), lambda m, x: x.view(-1)),
    ("reshape", (2, 3), lambda m, x: x.reshape(2, 3)),
    ("reshape(-1) 1-D", (3,), lambda m, x: x.reshape(-1)),
    ("torch.reshape", (2, 3), lambda m, x: m.reshape(x, (2, 3))),
    ("reshape_as", (2, 3), lambda m, x: x.reshape_as(x)),
    ("ravel 1-D", (3,), lambda m, x: x.ravel()),
    ("unflatten", (2, 3), lambda m, x: x.unflatten(1, (3,))),
    ("torch.unflatten", (2, 3), lambda m, x: m.unflatten(x, 1, (3,))),
    ("expand", (2, 3), lambda m, x: x.expand(2, -1)),
    ("expand_as", (2, 3), lambda m, x: x.expand_as(x)),
    ("broadcast_to", (2, 3), lambda m, x: x.broadcast_to((2, 3))),
    ("broadcast_to int", (3,), lambda m, x: x.broadcast_to(3)),
    ("torch.broadcast_to", (2, 3), lambda m, x: m.broadcast_to(x, (2, 3))),
    ("narrow", (2, 3), lambda m, x: x.narrow(1, 0, 3)),
    ("torch.narrow", (2, 3), lambda m, x: m.narrow(x, 0, 0, 2)),
    ("permute", (2, 3), lambda m, x: x.permute(0, 1)),
    ("torch.permute", (2, 3), lambda m, x: m.permute(x, (-2, -1))),
    ("squeeze()", (2, 3), lambda m, x: x.squeeze()),
    ("squeeze(dim)", (2, 3), lambda m, x: x.squeeze(1)),
    ("squeeze(dims)", (2, 3), lambda m, x: x.squeeze((0, 1))),
    ("torch.squeeze", (2, 3), lambda m, x: m.squeeze(x, 0)),
    ("transpose", (2, 3), lambda m, x: x.transpose(1, 1)),
    ("torch.transpose", (2, 3), lambda m, x: m.transpose(x, 0, -2)),
    ("swapaxes", (2, 3), lambda m, x: x.swapaxes(0, 0)),
    ("torch.swapdims", (2, 3), lambda m, x: m.swapdims(x, 1, 1)),
    ("movedim", (2, 3), lambda m, x: x.movedim(0, 0)),
    ("torch.moveaxis", (2, 3), lambda m, x: m.moveaxis(x, (0, 1), (0, 1))),
    ("t 1-D", (3,), lambda m, x: x.t()),
    ("torch.t 1-D", (3,), lambda m, x: m.t(x)),
    (".T 1-D", (3,), lambda m, x: x.T),
    ("x[...]", (2, 3), lambda m, x: x[...]),
    ("x[:]", (2, 3), lambda m, x: x[:]),
    ("x[0:len]", (2, 3), lambda m, x: x[0:2]),
    ("x[:, :]", (2, 3), lambda m, x: x[:, :]),
    ("einsum", (2, 3), lambda m, x: m.einsum("ij->ij", x)),
    ("einsum list", (2, 3), lambda m, x: m.einsum("ij", [x])),
    ("0-d squeeze", (), lambda m, x: x.squeeze()),
    ("0-d expand", (), lambda m, x: x.expand(())),
    ("0-d .T", (), lambda m, x: x.T),
]
# the ops that return a tuple of views, one of them all of x
PIECES = [
    ("split", (2, 3), lambda m, x: x.split(2)[0]),
    ("split sizes", (2, 3), lambda m, x: x.split([3], 1)[0]),
    ("torch.split", (2, 3), lambda m, x: m.split(x, 5)[0]),
    ("chunk", (2, 3), lambda m, x: x.chunk(1)[0]),
    ("torch.chunk", (2, 3), lambda m, x: m.chunk(x, 1, 1)[0]),
    ("tensor_split", (2, 3), lambda m, x: x.tensor_split(1)[0]),
    ("torch.hsplit", (2, 3), lambda m, x: m.hsplit(x, 1)[0]),
    ("split_with_sizes", (2, 3), lambda m, x: x.split_with_sizes([2])[0]),
]
VIEWS = CASES
CASES = VIEWS + PIECES
IDS = [c[0] for c in CASES]


def _base(t):
    """torch's `_base`: the tensor a view views (the first of a chain of views)."""
    if isinstance(t, torch.Tensor):
        return t._base
    while t._view is not None:
        t = t._view[0]
    return t


def _grad_fn(t):
    return type(t.grad_fn).__name__


@pytest.mark.parametrize("label, shape, f", CASES, ids=IDS)
def test_identity_view_is_a_new_view_named_as_torch(label, shape, f):
    xt = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    xc = to_tc(xt)
    got = []
    for m, x in ((torch, xt * 1), (tc, xc * 1)):   # x non-leaf: a view's base
        v = f(m, x)
        assert v is not x, f"{m.__name__}: {label} returned its input"
        assert _base(v) is x, label
        assert tuple(v.shape) == shape
        got.append(_grad_fn(v))
    assert got[1] == got[0], f"{label}: tracecomp={got[1]} | torch={got[0]}"


@pytest.mark.parametrize("label, shape, f", CASES, ids=IDS)
def test_grad_and_hook_of_the_view_are_its_own(label, shape, f):
    """autograd.grad w.r.t. the view is its path's, not all of x's uses; a hook on the view
    sees only that path; both as torch's."""
    w = np.random.default_rng(0).standard_normal(shape)
    xt = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    xc = to_tc(xt)
    results = []
    for m, leaf in ((torch, xt), (tc, xc)):
        x = leaf * 2
        v = f(m, x)
        seen = []
        v.register_hook(lambda g, seen=seen: seen.append(g))
        loss = (x * m.tensor(w)).sum() + (v * v).sum()
        grad_v, = m.autograd.grad(loss, v, retain_graph=True)
        loss.backward()
        results.append((grad_v, seen[0], leaf.grad))
    for got, want, what in zip(results[1], results[0], ("grad(loss, v)", "hook", "x.grad")):
        assert_close(got, want, what=f"{label} {what}")


@pytest.mark.parametrize("label, shape, f", CASES, ids=IDS)
def test_inplace_through_the_view_writes_x(label, shape, f):
    versions = []
    for m in (torch, tc):
        x = m.zeros(shape)
        v = f(m, x)
        before = x._version
        v.add_(1)
        assert x.tolist() == m.ones(shape).tolist(), label
        versions.append((x._version - before, v._version == x._version))
    assert versions[1] == versions[0], label


@pytest.mark.parametrize("label, shape, f", VIEWS[::3], ids=[c[0] for c in VIEWS[::3]])
def test_inplace_on_a_view_of_a_leaf_is_torchs_error(label, shape, f):
    # (not PIECES: torch's error for one of several views is its own, which tracecomp
    # does not raise for any split yet)
    messages = []
    for m in (torch, tc):
        x = m.zeros(shape, requires_grad=True)
        with pytest.raises(RuntimeError) as err:
            f(m, x).mul_(2)
        messages.append(str(err.value))
    assert messages[1] == messages[0]


def test_reshape_of_a_strided_tensor_to_its_shape_is_torchs_reshape_alias():
    names = []
    for m in (torch, tc):
        x = (m.randn(2, 3, requires_grad=True) * 1).t()
        views = [x.reshape(3, 2), x.reshape_as(x), m.reshape(x, (-1, 2)), x.view_as(x)]
        assert not any(v is x for v in views)
        names.append([_grad_fn(v) for v in views])
    assert names[1] == names[0]


def test_view_as_dtype_of_its_own_dtype_is_a_new_tensor_without_history():
    for m in (torch, tc):
        x = m.randn(3, requires_grad=True) * 1
        v = x.view(m.float32)
        assert v is not x and not v.requires_grad and v.grad_fn is None
        v.add_(1)       # same memory
        assert x.tolist() == v.tolist()


def test_ops_that_return_their_input_in_torch_still_do():
    """torch returns the input itself for these: so do we."""
    calls = [lambda m, x: x.contiguous(), lambda m, x: x.to(m.float32), lambda m, x: x.float(),
             lambda m, x: x.type_as(x), lambda m, x: m.atleast_2d(x),
             lambda m, x: m.nn.Identity()(x),
             lambda m, x: m.nn.functional.dropout(x, training=False)]
    for m in (torch, tc):
        x = m.randn(2, 3, requires_grad=True) * 1
        row = x[0]
        same = [call(m, x) is x for call in calls] + [row.flatten() is row]
        assert all(same), (m.__name__, same)
    # x.mT of a 0-d x too (not called on torch here: its deprecation warning is once a
    # process, which test_shape_ops checks)
    scalar = tc.tensor(2.0, requires_grad=True) * 1
    with pytest.warns(UserWarning, match="deprecated on 0-D"):
        assert scalar.mT is scalar


def test_meta_and_sparse_tensors():
    x = tc.empty(2, 3, device="meta", requires_grad=True) * 1
    v = x.view_as(x)
    assert v is not x and v.device == x.device and _grad_fn(v) == "ViewBackward0"
    assert tuple(x.permute(0, 1).shape) == (2, 3)
    s = tc.tensor([[0.0, 1.0, 0.0], [2.0, 0.0, 0.0]]).to_sparse()
    for out in (s.permute(0, 1), s.movedim(0, 0), s.transpose(1, 1)):
        assert out.is_sparse
        assert out.to_dense().tolist() == s.to_dense().tolist()


def test_no_grad_identity_view_is_a_new_view_without_history():
    for m in (torch, tc):
        x = m.zeros(2, 3)
        with m.no_grad():
            v = x.view_as(x)
        assert v is not x and v.grad_fn is None
        v.add_(1)
        assert x.tolist() == m.ones(2, 3).tolist()


@pytest.mark.parametrize("backend", ["llvm", "interp"])
def test_compiled_code_is_unchanged(backend):
    """While tracing, an identity view stays its input (identity_views.py): the optimized
    graphs equal those of the function without the identity views, an in-place update
    through one compiles (no graph break), and values and gradients equal torch's."""
    def with_identities(x):
        y = x * 1
        y.view_as(y).mul_(2)
        v = y.permute(0, 1)[:].squeeze().expand(2, 3)
        return (v * v).sum(1)

    def without(x):
        y = x * 1
        y.mul_(2)
        return (y * y).sum(1)

    xt = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    want = with_identities(xt)
    want.sum().backward()
    counts = []
    for fn in (with_identities, without):
        xc = to_tc(xt)
        compiled = tc.compile(fn, backend=backend, fullgraph=True)
        got = compiled(xc)
        got.sum().backward()
        assert_close(got, want)
        assert_close(xc.grad, xt.grad, what="grad")
        counts.append({stage: str(compiled.graphs[stage]).count("\n")
                       for stage in ("traced", "forward.optimized", "backward.optimized")})
    assert counts[0] == counts[1], counts
