"""Batching rules: how each primitive runs on a whole batch (the interpreter: batching.py).

A rule is `rule(prim, values, bdims, **params) -> (result, bdim)`: `values` are the
operands with the batch in them (a physical tensor, one dim more than the function saw)
or without it (bdim None: the operand is the same for every sample), and it returns the
result of prim over the whole batch and where its batch dim is (None: the same for all).
It calls primitives through bind, so operands batched by outer vmaps are handled there.

Rules come in a few kinds, each written once and given to every primitive it fits:

  unary        elementwise on one operand: computed where the batch dim is
  broadcast    elementwise on several: batch dims to the front, ranks aligned with 1s
  reduce       dims shifted by one (reduce_sum, ..., argmax)
  dim          ops with a `dim` or `dims` param (softmax, cumsum, flip, gather, fft, ...):
               every tensor operand batched at the front (an unbatched one broadcast), the
               dim shifted
  matmul       matmul, with numpy's rules for 1-D operands and broadcast leading dims
  movement     reshape, permute, expand, slice, pad: the batch dim joins the shape
  stacked      ops on the last dims that take any leading ones (view_as_real, linalg):
               the batch in front; two-operand solves whose leading dims broadcast take
               the broadcast rule
  searchsorted the boundaries' batch meets the values' row by row
  rnn_scan     a recurrent layer's scan: the batch folded into the layer's batch
  windows      unfold/fold (conv2d, pooling): the batch folded into N
  index        index / index_put: a full slice in front, or with batched index tensors an
               arange over the batch as one more index
  losses       nll_loss / mse_loss and their backward primitives: the batch folded into
               the loss's own N, the reduction done per sample; ctc_loss and its backward:
               the batch folded into its N sequences
  random       draws made for the whole batch (batching.py decides when)

A primitive missing here runs once per sample (batching._per_sample), correct but slow; so
does one whose rule returns NotImplemented for the operands at hand.
"""
from .. import composite
from ..dispatch import bind
from ..ops import movement as mv
from ..ops.registry import PRIMITIVES
from ..ops.rules import broadcast_shapes
from ..tensor import Tensor


# --- moving the batch dim ---------------------------------------------------------------------
def front(x, bdim):
    """x with its batch dim first."""
    if bdim == 0:
        return x
    order = (bdim,) + tuple(i for i in range(x.ndim) if i != bdim)
    return mv.permute(x, order)


def batched_front(x, bdim, batch):
    """x with the batch first; an unbatched x broadcast to the batch (a view)."""
    if bdim is None:
        return mv.expand(x, (batch,) + tuple(x.shape))
    return front(x, bdim)


def with_rank(x, rank):
    """x (batch first) with 1s after the batch so that its logical rank is `rank`."""
    lead = rank - (x.ndim - 1)
    if lead <= 0:
        return x
    return mv.reshape(x, (x.shape[0],) + (1,) * lead + tuple(x.shape[1:]))


def batch_size(values, bdims):
    return next(v.shape[d] for v, d in zip(values, bdims) if d is not None)


def _logical_rank(v, d):
    return v.ndim - (d is not None)


def _shift(dim, rank):
    """A logical dim (negative allowed) as the physical one with the batch in front."""
    return dim % max(rank, 1) + 1


# --- elementwise ------------------------------------------------------------------------------
def unary(prim, values, bdims, **params):
    return bind(prim, values[0], **params), bdims[0]


def broadcast(prim, values, bdims, **params):
    tensors = [(v, d) for v, d in zip(values, bdims) if isinstance(v, Tensor)]
    rank = max(_logical_rank(v, d) for v, d in tensors)
    args = [v if d is None else with_rank(front(v, d), rank) for v, d in zip(values, bdims)]
    return bind(prim, *args, **params), 0


# --- reductions and dim ops -------------------------------------------------------------------
def reduce(prim, values, bdims, dims, **params):
    x = front(values[0], bdims[0])
    return bind(prim, x, dims=tuple(d + 1 for d in dims), **params), 0


def arg_reduce(prim, values, bdims, dim, keepdim):
    x = front(values[0], bdims[0])
    if dim is None:     # over all of a sample's elements
        flat = bind(prim, mv.reshape(x, (x.shape[0], -1)), dim=1, keepdim=False)
        if keepdim:
            flat = mv.reshape(flat, (x.shape[0],) + (1,) * (x.ndim - 1))
        return flat, 0
    return bind(prim, x, dim=_shift(dim, x.ndim - 1), keepdim=keepdim), 0


def dim_op(prim, values, bdims, **params):
    """Every tensor operand batched in front, `dim` (an int) or `dims` (ints) shifted."""
    batch = batch_size(values, bdims)
    rank = max(_logical_rank(v, d) for v, d in zip(values, bdims) if isinstance(v, Tensor))
    if rank == 0:       # a 0-d sample: give it a dim of 1 and take it off after
        args = [mv.reshape(batched_front(v, d, batch), (batch, 1)) if isinstance(v, Tensor)
                else v for v, d in zip(values, bdims)]
        out, _ = dim_op(prim, args, [0] * len(args), **params)
        return mv.reshape(out, (batch,)), 0
    args = [batched_front(v, d, batch) if isinstance(v, Tensor) else v
            for v, d in zip(values, bdims)]
    if "dim" in params:
        params["dim"] = _shift(params["dim"], rank)
    if "dims" in params:
        params["dims"] = tuple(_shift(d, rank) for d in params["dims"])
    return bind(prim, *args, **params), 0


# --- matmul -----------------------------------------------------------------------------------
def matmul(prim, values, bdims):
    """numpy's matmul per sample: a 1-D operand becomes a matrix (and its dim comes off the
    result after), the batched operands' leading dims padded with 1s so the batch lines up
    in front of the broadcast dims."""
    (a, b), (da, db) = values, bdims
    ra, rb = _logical_rank(a, da), _logical_rank(b, db)
    a = a if da is None else front(a, da)
    b = b if db is None else front(b, db)
    if ra == 1:
        a = mv.reshape(a, tuple(a.shape[:-1]) + (1, a.shape[-1]))
    if rb == 1:
        b = mv.reshape(b, tuple(b.shape) + (1,))
    rank = max(ra, rb, 2)
    if da is not None:
        a = with_rank(a, rank)
    if db is not None:
        b = with_rank(b, rank)
    out = bind(prim, a, b)
    if ra == 1 or rb == 1:
        shape = tuple(out.shape)
        drop = {len(shape) - 2} if ra == 1 else set()
        drop |= {len(shape) - 1} if rb == 1 else set()
        out = mv.reshape(out, tuple(n for i, n in enumerate(shape) if i not in drop))
    return out, 0


# --- movement ---------------------------------------------------------------------------------
def reshape(prim, values, bdims, shape):
    x = front(values[0], bdims[0])
    return bind(prim, x, shape=(x.shape[0],) + tuple(shape)), 0


def permute(prim, values, bdims, dims):
    x = front(values[0], bdims[0])
    return bind(prim, x, dims=(0,) + tuple(d + 1 for d in dims)), 0


def expand(prim, values, bdims, shape):
    x = with_rank(front(values[0], bdims[0]), len(shape))
    return bind(prim, x, shape=(x.shape[0],) + tuple(shape)), 0


def slice_(prim, values, bdims, starts, stops, steps):
    x = front(values[0], bdims[0])
    return bind(prim, x, starts=(0,) + starts, stops=(x.shape[0],) + stops,
                steps=(1,) + steps), 0


def pad(prim, values, bdims, config, value):
    x = front(values[0], bdims[0])
    return bind(prim, x, config=((0, 0, 0),) + tuple(config), value=value), 0


def last_dims(prim, values, bdims, **params):
    """Ops on the last dim(s) that keep any leading dims (view_as_real, view_as_complex):
    the batch in front is one more leading dim."""
    return bind(prim, front(values[0], bdims[0]), **params), 0


def folded(prim, values, bdims, **params):
    """unfold/fold on a 4-D (or 3-D) sample batched in N: (B, N, ...) -> (B*N, ...)."""
    x = front(values[0], bdims[0])
    batch, n = x.shape[0], x.shape[1]
    out = bind(prim, mv.reshape(x, (batch * n,) + tuple(x.shape[2:])), **params)
    return mv.reshape(out, (batch, n) + tuple(out.shape[1:])), 0


def searchsorted(prim, values, bdims, **params):
    """Boundaries of one sample 1-D and the same for all: they apply to the batch as it is.
    Else both batched in front, so that each sample's rows meet their own boundaries (a
    sample's 1-D boundaries: its values flattened to one row)."""
    (seq, vals), (ds, dv) = values, bdims
    if ds is None and seq.ndim == 1:
        return bind(prim, seq, vals, **params), dv
    batch = batch_size(values, bdims)
    seq, vals = batched_front(seq, ds, batch), batched_front(vals, dv, batch)
    if seq.ndim > 2:
        return bind(prim, seq, vals, **params), 0
    out = bind(prim, seq, mv.reshape(vals, (batch, -1)), **params)
    return mv.reshape(out, tuple(vals.shape)), 0


def rnn_scan(prim, values, bdims, mode, reverse, batch_sizes):
    """A recurrent layer's scan with weights the same for every sample: the vmap's batch
    folded into the layer's own batch (time-major gi (T, B, G) -> (T, V*B, G), states
    (B, H) -> (V*B, H)), the record's batch dim split again. Per-sample weights, or packed
    sequences, run per sample (NotImplemented)."""
    weights = (1, 2) if mode == "GRU" else (1,)
    if batch_sizes is not None or any(bdims[i] is not None for i in weights):
        return NotImplemented
    batch = batch_size(values, bdims)
    gi = mv.permute(batched_front(values[0], bdims[0], batch), (1, 0, 2, 3))
    steps, rows = gi.shape[0], gi.shape[2]
    args = [mv.reshape(gi, (steps, batch * rows, gi.shape[3]))]
    for i, (v, d) in enumerate(zip(values[1:], bdims[1:]), 1):
        if i in weights:
            args.append(v)
        else:       # a state (B, H)
            state = batched_front(v, d, batch)
            args.append(mv.reshape(state, (batch * rows, state.shape[2])))
    record = bind(prim, *args, mode=mode, reverse=reverse, batch_sizes=None)
    shape = tuple(record.shape)
    return mv.reshape(record, shape[:2] + (batch, rows) + shape[3:]), 2


# --- indexing ---------------------------------------------------------------------------------
def _advanced_first(key):
    """Whether numpy puts the advanced-index dims first: index tensors not side by side."""
    at = [i for i, k in enumerate(key) if isinstance(k, int)]
    return bool(at) and at[-1] - at[0] + 1 != len(at)


def _index_ndim(idxs):
    return max((i.ndim for i in idxs), default=0)


def _batch_key(key, values, bdims, batch):
    """The key and index tensors for an x with its batch in front, when index tensors are
    batched: an arange over the batch joins them as the first index tensor (shaped to
    broadcast against them), so every sample reads through its own indices. Advanced
    indices then start at dim 0, so numpy puts their dims, the batch first, in front."""
    from ..creation import arange
    rank = max(_logical_rank(v, d) for v, d in zip(values, bdims))
    idxs = [v if d is None else with_rank(front(v, d), rank) for v, d in zip(values, bdims)]
    rows = mv.reshape(arange(batch), (batch,) + (1,) * rank)
    # a sample's index dims sit after its first `before` dims when its index tensors are
    # side by side (numpy's rule), where the batched result has them in front
    before = 0 if _advanced_first(key) else next(i for i, k in enumerate(key)
                                                 if isinstance(k, int))
    key = (0,) + tuple(k + 1 if isinstance(k, int) else k for k in key)
    return key, [rows] + idxs, (rank, before)


def _index_dims_to(order, x, block):
    """Move the index dims (batched result: after the batch) past `before` sliced dims
    (order "sample"), or back (order "batched"): between numpy's layouts of the batch's
    and of one sample's result."""
    rank, before = block
    if not before:
        return x
    if order == "sample":       # (B, idx, lead, rest) -> (B, lead, idx, rest)
        moved = list(range(rank + 1, rank + 1 + before)) + list(range(1, rank + 1))
    else:                       # (B, lead, idx, rest) -> (B, idx, lead, rest)
        moved = list(range(before + 1, before + 1 + rank)) + list(range(1, before + 1))
    return mv.permute(x, tuple([0] + moved + list(range(rank + before + 1, x.ndim))))


def index(prim, values, bdims, key):
    batch = batch_size(values, bdims)
    if all(d is None for d in bdims[1:]):   # only x batched: a full slice in front
        x = front(values[0], bdims[0])
        key = (None,) + tuple(key)
        bdim = _index_ndim(values[1:]) if _advanced_first(key) else 0
        return bind(prim, x, *values[1:], key=key), bdim
    key, idxs, block = _batch_key(key, values[1:], bdims[1:], batch)
    out = bind(prim, batched_front(values[0], bdims[0], batch), *idxs, key=key)
    return _index_dims_to("sample", out, block), 0


def index_put(prim, values, bdims, key, accumulate):
    batch = batch_size(values, bdims)
    base = batched_front(values[0], bdims[0], batch)      # (the primitive copies it)
    block = None
    if all(d is None for d in bdims[2:]):
        key, idxs = (None,) + tuple(key), list(values[2:])
        first = _index_ndim(idxs) if _advanced_first(key) else 0
    else:
        key, idxs, block = _batch_key(key, values[2:], bdims[2:], batch)
        first = 0
    put, vd = values[1], bdims[1]
    if vd is not None:      # values broadcast against the indexed shape, batch where it is
        probe = PRIMITIVES["index"].shape(tuple(base.shape), *[tuple(i.shape) for i in idxs],
                                          key=key)
        put = with_rank(front(put, vd), len(probe) - 1)
        if first:
            put = mv.permute(put, tuple(range(1, first + 1)) + (0,) +
                             tuple(range(first + 1, put.ndim)))
        if block is not None:
            put = _index_dims_to("batched", put, block)
    return bind(prim, base, put, *idxs, key=key, accumulate=accumulate), 0


# --- losses: the batch folded into the loss's N -----------------------------------------------
def _rows(x, batch, sample_rank, rank_without_n):
    """x (batch in front) as (B*N, ...) and N: a sample of rank_without_n dims (no N dim,
    an unbatched loss input) gets N = 1."""
    if sample_rank == rank_without_n:
        x = mv.reshape(x, (batch, 1) + tuple(x.shape[1:]))
    return mv.reshape(x, (batch * x.shape[1],) + tuple(x.shape[2:])), x.shape[1]


def nll_loss(prim, values, bdims, reduction, ignore_index):
    batch = batch_size(values, bdims)
    x, target = (batched_front(v, d, batch) for v, d in zip(values, bdims))
    unbatched_input = x.ndim == 2           # a (C,) sample: one target, N = 1
    rows, n = _rows(x, batch, x.ndim - 1, 1)
    flat_target, _ = _rows(target, batch, target.ndim - 1, 0)
    loss = mv.reshape(bind(prim, rows, flat_target, reduction="none",
                           ignore_index=ignore_index), (batch, n))
    if reduction == "none":
        return (mv.reshape(loss, (batch,)) if unbatched_input else loss), 0
    total = composite.sum(loss, 1)
    if reduction == "sum":
        return total, 0
    return total / _kept(flat_target, batch, n, ignore_index, loss.dtype), 0


def _kept(flat_target, batch, n, ignore_index, dtype):
    """Per sample, how many targets count in a mean (all but ignore_index's)."""
    if ignore_index is None:
        return float(n)
    kept = mv.reshape(flat_target != ignore_index, (batch, n))
    return composite.sum(kept.to(dtype), 1)


def nll_loss_backward(prim, values, bdims, shape, reduction, ignore_index):
    batch = batch_size(values, bdims)
    g, target = (batched_front(v, d, batch) for v, d in zip(values, bdims))
    flat_target, n = _rows(target, batch, target.ndim - 1, 0)
    if reduction != "none":     # one number per sample: spread over its N targets
        if reduction == "mean":
            kept = _kept(flat_target, batch, n, ignore_index, g.dtype)
            g = g / (kept.clamp(min=1) if isinstance(kept, Tensor) else max(kept, 1.0))
        g = mv.expand(mv.reshape(g, (batch, 1)), (batch, n))
    rows = mv.reshape(g, (batch * n,))
    classes = tuple(shape[-1:]) if len(shape) == 1 else tuple(shape[1:])
    out = bind(prim, rows, flat_target, shape=(batch * n,) + classes, reduction="none",
               ignore_index=ignore_index)
    return mv.reshape(out, (batch,) + tuple(shape)), 0


def mse_loss(prim, values, bdims, reduction):
    batch = batch_size(values, bdims)
    x, target = (batched_front(v, d, batch) for v, d in zip(values, bdims))
    loss = bind(prim, x, target, reduction="none")
    if reduction == "none":
        return loss, 0
    total = composite.sum(mv.reshape(loss, (batch, -1)), 1)
    count = loss.numel() // batch
    if reduction == "sum":
        return total, 0
    return (total / count if count else total * float("nan")), 0


def mse_loss_backward(prim, values, bdims, reduction):
    batch = batch_size(values, bdims)
    g, x, target = (batched_front(v, d, batch) for v, d in zip(values, bdims))
    if reduction != "none":     # one number per sample: spread over its elements
        count = max(1, x.numel() // batch)
        g = mv.expand(with_rank(g / count if reduction == "mean" else g, x.ndim - 1),
                      tuple(x.shape))
    return bind(prim, g, x, target, reduction="none"), 0


def _sequences(values, bdims, batch):
    """ctc's operands with the vmap's batch folded into its N sequences, each sample's in
    turn: log_probs (T, V*N, C), targets (V*N, S) or all concatenated, lengths (V*N,)."""
    lp = mv.permute(batched_front(values[0], bdims[0], batch), (1, 0, 2, 3))
    folded = [mv.reshape(lp, (lp.shape[0], batch * lp.shape[2], lp.shape[3]))]
    for v, d in zip(values[1:], bdims[1:]):
        if not isinstance(v, Tensor):       # lengths as a Python sequence: each sample's
            folded.append(tuple(v) * batch)
            continue
        v = batched_front(v, d, batch)
        folded.append(mv.reshape(v, (-1,) + tuple(v.shape[2:])))
    return folded


def ctc_loss(prim, values, bdims, **params):
    batch = batch_size(values, bdims)
    loss = bind(prim, *_sequences(values, bdims, batch), **params)
    return mv.reshape(loss, (batch, -1)), 0


def ctc_loss_backward(prim, values, bdims, **params):
    batch = batch_size(values, bdims)
    g = mv.reshape(batched_front(values[0], bdims[0], batch), (-1,))
    grad = bind(prim, g, *_sequences(values[1:], bdims[1:], batch), **params)
    return mv.reshape(grad, (grad.shape[0], batch, -1, grad.shape[2])), 1


# --- random draws for a whole batch -------------------------------------------------------
def draw_batched(prim, args, params, batch):
    """prim's draw with a batch dim in front: each sample its own numbers."""
    if "shape" in params:       # uniform, normal, draw: numbers of a shape
        return bind(prim, *args, **dict(params, shape=(batch,) + tuple(params["shape"])))
    if prim.name in RANDOM_FROM_OPERANDS:
        tensors = [a for a in args if isinstance(a, Tensor)]
        shape = tuple(broadcast_shapes(prim.name, *[tuple(a.shape) for a in tensors]))
        grown = [mv.expand(a, (batch,) + shape) if isinstance(a, Tensor) else a
                 for a in args]
        return bind(prim, *grown, **params)
    raise NotImplementedError(f"vmap: {prim.name} inside vmap with randomness='different' has "
                              f"no batching rule; call it outside vmap")


# --- the table --------------------------------------------------------------------------------
# the draws whose numbers come from operands (an element's probability, rate, count): one
# draw per element of the operands batched in front
RANDOM_FROM_OPERANDS = ("bernoulli", "poisson", "binomial", "multinomial")

BY_NAME = {
    "matmul": matmul, "reshape": reshape, "permute": permute, "expand": expand,
    "slice": slice_, "pad": pad, "unfold": folded, "fold": folded,
    "view_as_real": last_dims, "view_as_complex": last_dims, "multinomial": last_dims,
    "argmax": arg_reduce, "argmin": arg_reduce, "index": index, "index_put": index_put,
    "nll_loss": nll_loss, "nll_loss_backward": nll_loss_backward,
    "mse_loss": mse_loss, "mse_loss_backward": mse_loss_backward,
    "check_range": unary, "bernoulli": broadcast, "poisson": broadcast, "binomial": broadcast,
    "searchsorted": searchsorted, "rnn_scan": rnn_scan, "ctc_loss": ctc_loss,
    "ctc_loss_backward": ctc_loss_backward,
    # solves on the last two dims, whose leading dims broadcast: as elementwise ops do
    "linalg_solve": broadcast, "linalg_solve_triangular": broadcast, "cholesky_solve": broadcast,
}
# linear algebra on the last two dims, whose numpy/LAPACK impls take stacks of matrices:
# the batch in front is one more leading dim (each matrix's result bitwise as alone)
STACKED = frozenset((
    "linalg_det", "linalg_adjugate", "linalg_inv", "linalg_slogdet_sign", "linalg_logabsdet",
    "linalg_cholesky", "linalg_eigh_values", "linalg_eigh_vectors", "linalg_svd_s",
    "linalg_svd_u", "linalg_svd_vh", "linalg_qr_q", "linalg_qr_r", "linalg_matrix_exp",
    "linalg_pinv", "linalg_lu_factor", "linalg_lu_pivots"))
DIM_OPS = frozenset(("softmax", "log_softmax", "log_softmax_backward", "cumsum", "cumprod",
                     "logcumsumexp", "cumargmax", "cumargmin", "argsort", "flip", "concat",
                     "gather", "scatter_add", "scatter_reduce", "fft_c2c", "fft_r2c",
                     "fft_c2r"))
_found = {}


def rule_for(prim):
    """prim's batching rule, or None (it runs per sample): by name, else by its tags."""
    rule = _found.get(prim.name, _found)
    if rule is _found:
        rule = BY_NAME.get(prim.name) or (dim_op if prim.name in DIM_OPS else None) or (
            last_dims if prim.name in STACKED else None)
        if rule is None and "elementwise" in prim.tags:
            rule = unary if "unary" in prim.tags else broadcast
        elif rule is None and "reduce" in prim.tags:
            rule = reduce
        _found[prim.name] = rule
    return rule
