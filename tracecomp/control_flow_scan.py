"""torch._higher_order_ops.scan, .map and .associative_scan: loops over a tensor's leading
(or given) dim as functions, run here as the Python loops they stand for (control_flow.py
has cond and while_loop, and the tree helpers and purity checks these share).

scan(combine_fn, init, xs, dim=0, reverse=False) carries `init` through
`carry, y = combine_fn(carry, x_i)` over the slices of xs along dim and returns the last
carry with every step's y stacked along dim; map(f, xs, *args) stacks f(x_i, *args). Both
take trees (tuples, lists, dicts) of tensors, as torch's do, and check what torch checks.
"""
from . import composite as S
from .control_flow import _leaves, _refill, _run_pure
from .tensor import Tensor


def _stacked(steps, template):
    """The leaves of each step's output stacked along a new dim 0, in template's
    structure."""
    columns = zip(*(_leaves(step) for step in steps))
    return _refill(template, iter(S.stack(list(column)) for column in columns))


def scan(combine_fn, init, xs, *, dim=0, reverse=False):
    """An inclusive scan with combine_fn: (last carry, stacked outputs), as torch's."""
    leaves_init, leaves_xs = _leaves(init), _leaves(xs)
    if not leaves_xs:
        return init, []
    if not callable(combine_fn):
        raise RuntimeError(f"Combine_fn must be a callable, but got {combine_fn}")
    if not isinstance(dim, int):
        raise RuntimeError("Dim must be an int, but got " + str(type(dim)))
    if not isinstance(reverse, bool):
        raise RuntimeError("Reverse must be a bool, but got " + str(type(reverse)))
    if not leaves_init:
        raise RuntimeError("scan() operator requires init leaves.")
    for x in leaves_init:
        if not isinstance(x, Tensor):
            raise RuntimeError(f"All init leaves must be a Tensor but got {x}")
    for x in leaves_xs:
        if not isinstance(x, Tensor):
            raise RuntimeError(f"All xs leaves must be a Tensor but got {x}")
    ndim = leaves_xs[0].ndim
    if not -ndim <= dim < max(ndim, 1):
        raise IndexError(f"Dimension out of range (expected to be in range of [{-ndim}, "
                         f"{ndim - 1}], but got {dim})")
    dim %= max(ndim, 1)
    if any(x.ndim <= dim or x.shape[dim] == 0 for x in leaves_xs):
        raise RuntimeError("All xs leaves must at least have 'dim' number of dimensions and "
                           "scan dimension > 0")
    steps = range(leaves_xs[0].shape[dim])
    carry, ys = init, []
    for i in (reversed(steps) if reverse else steps):
        x_i = _refill(xs, iter(x.select(dim, i) for x in leaves_xs))
        out = _run_pure("torch.scan", combine_fn, (carry, x_i))
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise RuntimeError(f"torch.scan: combine_fn should return (next carry, output), "
                               f"but got {type(out).__name__}")
        carry = _next_carry(init, out[0])
        ys.append(out[1])
    if reverse:
        ys.reverse()
    # torch stacks the outputs along 0, then moves that dim to `dim` where it can
    stacked = _stacked(ys, ys[0])
    if dim:
        stacked = _refill(stacked, iter(S.movedim(y, 0, dim) if dim < y.ndim else y
                                        for y in _leaves(stacked)))
    return carry, stacked


def _next_carry(init, carry):
    """combine_fn's carry, which must match init leaf for leaf in shape and dtype."""
    want, got = _leaves(init), _leaves(carry)
    if len(got) != len(want) or any(
            not isinstance(g, Tensor) or g.shape != w.shape or g.dtype != w.dtype
            for g, w in zip(got, want)):
        raise RuntimeError(
            "torch.scan: The combine_fn's init carry should match the next_carry in pytree "
            "structure and in tensor metadata: init has "
            f"{[(tuple(w.shape), str(w.dtype)) for w in want]}, combine_fn returned "
            f"{[(tuple(g.shape), str(g.dtype)) if isinstance(g, Tensor) else g for g in got]}")
    return _refill(init, iter(got))


def map(f, xs, *args):  # noqa: A001 - torch._higher_order_ops.map's name
    """torch.stack([f(x, *args) for x in xs]) over xs's leading dim, as torch's map."""
    flat_xs = _leaves(xs)
    if not all(isinstance(t, Tensor) for t in flat_xs):
        raise RuntimeError(f"Mapped xs can only consist of tensors. Got xs {flat_xs}.")
    shapes = [x.shape for x in flat_xs]
    if shapes[0][0] == 0:
        raise RuntimeError("Leading dimensions of mapped xs cannot be 0.")
    if any(s[0] != shapes[0][0] for s in shapes):
        raise RuntimeError(f"Leading dimensions of mapped xs must be consistent. Got shapes "
                           f"{shapes}.")
    outs = [_run_pure("torch.map", f, (_refill(xs, iter(x[i] for x in flat_xs)), *args))
            for i in range(shapes[0][0])]
    return _stacked(outs, outs[0])


def associative_scan(combine_fn, xs, dim, reverse=False, combine_mode="pointwise"):
    """The inclusive scan of an associative combine_fn along dim, computed as torch's
    generic mode computes it (pairs combined level by level, the same association, so the
    same roundings); 'pointwise' is torch's CUDA/XPU kernel and refused here as there."""
    leaves = _leaves(xs)
    if not callable(combine_fn):
        raise ValueError(f"Combine_fn must be a callable, but got {combine_fn}")
    if not isinstance(dim, int):
        raise ValueError("Dim must be an int, but got " + str(type(dim)))
    if not isinstance(reverse, bool):
        raise RuntimeError("Reverse must be a bool, but got " + str(type(reverse)))
    if combine_mode not in ("pointwise", "generic"):
        raise ValueError(f"Combine_mode must either 'pointwise' or 'generic', but got "
                         f"{combine_mode}")
    if combine_mode == "pointwise":
        raise ValueError("For combine_mode='pointwise', all input tensors need to be on "
                         "CUDA or XPU")
    if not leaves:
        raise ValueError("Expected at least 1 xs leaf")
    if any(not isinstance(x, Tensor) for x in leaves):
        raise ValueError("xs leaves must be a Tensor")
    dim %= max(leaves[0].ndim, 1)
    if any(x.ndim <= dim or x.shape[dim] == 0 for x in leaves):
        raise ValueError("All xs leaves must at least have 'dim' number of dimensions and "
                         "scan dimension > 0")
    from .func import vmap  # func imports most of tracecomp: read at call time
    batched = vmap(combine_fn, in_dims=0, out_dims=0)

    def combine(lhs, rhs):
        return _leaves(batched(_refill(xs, iter(lhs)), _refill(xs, iter(rhs))))
    elems = [S.movedim(x, dim, 0) for x in leaves]
    if reverse:
        elems = [x.flip(0) for x in elems]
    out = _pairwise_scan(combine, elems)
    if reverse:
        out = [x.flip(0) for x in out]
    return _refill(xs, iter(S.movedim(x, 0, dim) for x in out))


def _pairwise_scan(combine, elems):
    """torch's generic_associative_scan along dim 0: combine neighbours, scan those
    recursively, fill in the elements between, interleave."""
    n = elems[0].shape[0]
    if n < 2:
        return elems
    odd = _pairwise_scan(combine, combine([e[0:-1:2] for e in elems],
                                          [e[1::2] for e in elems]))
    lhs = [e[0:-1] for e in odd] if n % 2 == 0 else odd
    # (with nothing left to combine torch's call gets empty slices; its result is empty)
    even = combine(lhs, [e[2::2] for e in elems]) if lhs[0].shape[0] else []
    even = [S.cat([e[0:1], r]) for e, r in zip(elems, even)] or [e[0:1] for e in elems]
    return [_interleave(a, b) for a, b in zip(even, odd)]


def _interleave(a, b):
    """a0, b0, a1, b1, ... along dim 0 (a may be one longer than b)."""
    both = S.flatten(S.stack([a[:b.shape[0]], b], 1), 0, 1)
    return S.cat([both, a[b.shape[0]:]]) if a.shape[0] > b.shape[0] else both
