"""Products built from matmul and elementwise ops, with torch's names: outer/ger, inner, mv,
addmm, addmv, addbmm, baddbmm, kron, cross, cdist, dist, vector_norm. All differentiate
through their primitives and compile natively.
"""
import math
import warnings

from . import composite as C
from . import dtypes
from .amp.cpu_policy import FP32, LOWER, autocast_op
from .dtypes import np_kind
from .errors import DTypeError, ShapeError
from .grad_fn_names import named
from .opmath import in_float32
from .ops import elementwise as ew
from .ops import movement as mov
from .ops import reduce as rd
from .ops.linalg import matmul
from .ops.rules import broadcast_shapes, norm_dims
from .tensor import _wrap_dim
from .torch_args import aliased, with_out
from .user_code import user_stacklevel


def _need(x, ndim, op, name):
    if x.ndim != ndim:
        raise ShapeError(f"{op}: Expected {ndim}-D argument {name}, but got {x.ndim}-D "
                         f"(shape {list(x.shape)})")


def outer(a, b):
    _need(a, 1, "outer", "self")
    _need(b, 1, "outer", "vec2")
    return mov.reshape(a, (a.shape[0], 1)) * mov.reshape(b, (1, b.shape[0]))


def inner(a, b):
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.shape[-1] != b.shape[-1]:
        raise ShapeError(f"inner() the last dimension must match on both input tensors but "
                         f"got shapes {list(a.shape)} and {list(b.shape)}")
    from .einsum import tensordot
    return tensordot(a, b, ([-1], [-1]))


def mv_(a, v):
    _need(a, 2, "mv", "self")
    _need(v, 1, "mv", "vec")
    return matmul(a, v)


def _scaled_sum(x, product, a, b, beta, alpha, name):
    """beta * x + alpha * product(a, b); beta = 0 ignores x (its NaNs too), as torch. Its
    node is torch's one node over (x, a, b): AddmmBackward0 for addmm. bfloat16 operands
    compute in float32 and round once, as torch's CPU kernel does, float16 too (Muon's
    Newton-Schulz steps are two bfloat16 addmm each: rounding the product and the sum apart
    put them half an ulp off torch's)."""
    inputs = (x, a, b)
    # all three: a mixed call keeps its dtype error, which the product raises
    low = x._data.dtype
    low = low if low in dtypes.REDUCED and all(t._data.dtype == low for t in inputs) else None
    if low:
        x, a, b = (ew.cast(t, dtypes.float32) for t in inputs)
    prod = product(a, b)
    prod = prod if alpha == 1 else prod * alpha
    if beta == 0:
        out = mov.expand(prod, broadcast_shapes("addmm", tuple(x.shape), tuple(prod.shape)))
    else:
        out = (x if beta == 1 else x * beta) + prod
    return named(ew.cast(out, low) if low else out, name, inputs)


@autocast_op(LOWER)
def addmm(x, m1, m2, *, beta=1, alpha=1):
    _need(m1, 2, "addmm", "mat1")
    _need(m2, 2, "addmm", "mat2")
    return _scaled_sum(x, matmul, m1, m2, beta, alpha, "AddmmBackward0")


def addmv(x, mat, vec, *, beta=1, alpha=1):
    return _scaled_sum(x, mv_, mat, vec, beta, alpha, "AddmvBackward0")


@autocast_op(LOWER)
def baddbmm(x, b1, b2, *, beta=1, alpha=1):
    return _scaled_sum(x, C.bmm, b1, b2, beta, alpha, "BaddbmmBackward0")


@autocast_op(LOWER)
def addbmm(x, b1, b2, *, beta=1, alpha=1):
    return _scaled_sum(x, lambda p, q: rd.reduce_sum(C.bmm(p, q), (0,)), b1, b2, beta, alpha,
                       "AddbmmBackward0")


def addr(x, v1, v2, *, beta=1, alpha=1):
    return _scaled_sum(x, outer, v1, v2, beta, alpha, "AddrBackward0")


def kron(a, b):
    nd = max(a.ndim, b.ndim)
    sa = (1,) * (nd - a.ndim) + tuple(a.shape)
    sb = (1,) * (nd - b.ndim) + tuple(b.shape)
    a2 = mov.reshape(a, tuple(v for s in sa for v in (s, 1)))
    b2 = mov.reshape(b, tuple(v for s in sb for v in (1, s)))
    return mov.reshape(a2 * b2, tuple(x * y for x, y in zip(sa, sb)))


def cross(a, b, dim=None):
    shape = broadcast_shapes("cross", tuple(a.shape), tuple(b.shape))
    a, b = mov.expand(a, shape), mov.expand(b, shape)
    if dim is None:                    # torch.cross's legacy default: the first dim of size 3
        warnings.warn("Using torch.cross without specifying the dim arg is deprecated.\n"
                      "Please either pass the dim explicitly or simply use "
                      "torch.linalg.cross.\nThe default value of dim will change to agree "
                      "with that of linalg.cross in a future release.", UserWarning,
                      stacklevel=user_stacklevel())
        dims = [i for i, s in enumerate(shape) if s == 3]
        if not dims:
            raise RuntimeError(f"no dimension of size 3 in input (shapes {list(shape)})")
        d = dims[0]
    else:
        d = _wrap_dim(dim, len(shape), "cross")
    if shape[d] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim if dim is not None else d} "
                           f"must have length 3. Got {a.shape[d]} and {b.shape[d]}")
    a1, a2, a3 = (C.narrow(a, d, i, 1) for i in range(3))
    b1, b2, b3 = (C.narrow(b, d, i, 1) for i in range(3))
    return C.cat([a2 * b3 - a3 * b2, a3 * b1 - a1 * b3, a1 * b2 - a2 * b1], d)


def linalg_cross(a, b, *, dim=-1):
    return cross(a, b, dim)


# --- norms and distances -------------------------------------------------------------------
def _safe_root(total, p):
    """total ** (1/p) with torch's gradient where total is 0: grad * 0 for p = 2 (a NaN
    incoming gradient stays NaN), else 0 whatever the incoming gradient (torch masks after
    multiplying by it)."""
    zero = total == 0
    if p == 2:          # total + 1 where it is 0, times 0 there: the chain multiplies by 0
        moved = ew.cast(zero, total.dtype)
        return ew.sqrt(total + moved) * (1.0 - moved)
    return ew.where(zero, 0.0, ew.pow(ew.where(zero, 1.0, total), 1.0 / p))


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):  # noqa: A002
    """torch.linalg.vector_norm (also x.norm(), torch.norm): one node over x, as torch's."""
    return named(_vector_norm(x, ord, dim, keepdim, dtype=dtype), "LinalgVectorNormBackward0",
                 (x,))


@in_float32     # torch's norm kernel squares and sums bfloat16/float16 in float32
def _vector_norm(x, ord, dim, keepdim, dtype=None):  # noqa: A002
    if dtype is not None:
        x = ew.cast(x, dtype)
    if np_kind(x._data.dtype) not in "fc":
        raise DTypeError(f"linalg.vector_norm: Expected a floating point or complex tensor as "
                         f"input. Got {x.dtype.name}")
    if isinstance(dim, int):
        dim = (dim,)
    dims = norm_dims("linalg.vector_norm", dim if dim else None, x.ndim)
    a = ew.abs(x)
    if ord == math.inf:
        return rd.reduce_max(a, dims, keepdim)
    if ord == -math.inf:
        return rd.reduce_min(a, dims, keepdim)
    if ord == 0:
        return rd.reduce_sum(ew.cast(a != 0, a.dtype), dims, keepdim)
    if ord == 1:
        return rd.reduce_sum(a, dims, keepdim)
    if ord == 2:
        return _safe_root(rd.reduce_sum(a * a if x.is_complex() else x * x, dims, keepdim), 2)
    return _safe_root(rd.reduce_sum(ew.pow(a, ord), dims, keepdim), ord)


def dist(a, b, p=2):
    # torch records one node over both operands (parametrization tutorials print it)
    return named(vector_norm(a - b, p), "DistBackward0", (a, b))


@autocast_op(FP32)
def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    if x1.ndim < 2 or x2.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {x1.ndim}D, X2 "
                           f"got: {x2.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: "
                           f"{x1.shape[-1]} X2: {x2.shape[-1]}")
    if p < 0:
        raise RuntimeError(f"cdist only supports non-negative p values, got {p}")
    modes = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
             "donot_use_mm_for_euclid_dist")
    if compute_mode not in modes:
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    big = x1.shape[-2] > 25 or x2.shape[-2] > 25
    if p == 2 and (compute_mode == modes[1] or (big and compute_mode == modes[0])):
        return _euclidean_mm(x1, x2)
    diff = C.unsqueeze(x1, -2) - C.unsqueeze(x2, -3)
    return vector_norm(diff, p, -1)


def _euclidean_mm(x1, x2):
    """torch's matmul form of Euclidean distances (what it uses past 25 rows): one GEMM of
    [-2 x1, |x1|^2, 1] by [x2, 1, |x2|^2]^T, clamped at 0 (rounding), then the root."""
    n1 = rd.reduce_sum(x1 * x1, (x1.ndim - 1,), True)
    n2 = rd.reduce_sum(x2 * x2, (x2.ndim - 1,), True)
    a = C.cat([x1 * -2, n1, n1 * 0 + 1], -1)
    b = C.cat([x2, n2 * 0 + 1, n2], -1)
    sq = matmul(a, C.transpose(b, -1, -2))
    return _safe_root(ew.where(sq > 0, sq, 0.0), 2)


outer = with_out(outer, "outer")
ger = outer
inner = with_out(inner, "inner")
mv = with_out(mv_, "mv")
addmm = with_out(addmm, "addmm")
addmv = with_out(addmv, "addmv")
addbmm = with_out(addbmm, "addbmm")
baddbmm = with_out(baddbmm, "baddbmm")
addr = with_out(addr, "addr")
kron = with_out(kron, "kron")
cross = with_out(cross, "cross")
vector_norm = with_out(vector_norm, "linalg.vector_norm", cast="unsafe")
dist = aliased(dist, "dist")
