"""matmul: numpy/torch semantics (1-D operands, batched and broadcast batch dims)."""
import math

import numpy as np

from ..amp.cpu_policy import LOWER, autocast_op
from ..dispatch import bind, needs
from ..dtypes import np_kind
from ..errors import DTypeError, ShapeError
from .elementwise import conj
from .movement import permute, reshape
from .registry import defprim
from .rules import broadcast_shapes


def _dims(shape):
    return "x".join(str(d) for d in shape)


def _matmul_rule(a, b):
    if len(a) == 0 or len(b) == 0:
        raise ShapeError(f"matmul: both arguments need at least 1 dimension, got "
                         f"{len(a)}D and {len(b)}D tensors")
    k_a = a[-1]
    k_b = b[0] if len(b) == 1 else b[-2]
    if k_a != k_b:
        if len(b) == 2 and len(a) > 2:      # torch folds the batch dims into the rows
            a = (int(np.prod(a[:-1])), a[-1])
        if len(a) <= 2 and len(b) <= 2:
            raise ShapeError(f"mat1 and mat2 shapes cannot be multiplied ({_dims(a)} and "
                             f"{_dims(b)}): the columns of the first ({k_a}) must equal the "
                             f"rows of the second ({k_b})")
        raise ShapeError(f"matmul: Expected size for first two dimensions of batch2 tensor to "
                         f"be {k_a} (the last dim of the first operand); got operands of "
                         f"shapes {_dims(a)} and {_dims(b)}")
    batch = broadcast_shapes("matmul", a[:-2], b[:-2])
    return batch + (a[-2:-1] if len(a) > 1 else ()) + (b[-1:] if len(b) > 1 else ())


def _mT(x):
    """x with its last two dims swapped (a view)."""
    n = x.ndim
    return permute(x, tuple(range(n - 2)) + (n - 1, n - 2))


def _matmul_vjp(g, out, a, b):
    """Treat 1-D operands as a row (a) / column (b), then ga = g b^H and gb = a^H g (the
    conjugate transposes: plain transposes for real operands)."""
    a2 = reshape(a, (1,) + tuple(a.shape)) if a.ndim == 1 else a
    b2 = reshape(b, tuple(b.shape) + (1,)) if b.ndim == 1 else b
    g2 = g
    if a.ndim == 1:
        g2 = reshape(g2, tuple(g2.shape[:-1]) + (1,) + tuple(g2.shape[-1:]) if b.ndim > 1
                     else tuple(g2.shape) + (1,))
    if b.ndim == 1:
        g2 = reshape(g2, tuple(g2.shape) + (1,))
    ga = gb = None
    if needs(a):
        ga = matmul(g2, conj(_mT(b2)))
        ga = reshape(ga, tuple(ga.shape[:-2]) + tuple(ga.shape[-1:])) if a.ndim == 1 else ga
    if needs(b):
        if b2.ndim == 2 and a2.ndim > 2:
            # a batch of rows times one matrix (nn.Linear on (batch, seq, features)): the
            # batch's rows are one matrix, so gb is one product, not a product per batch
            # item summed after
            rows = math.prod(a2.shape[:-1])     # not -1: a dim may be 0
            a2 = reshape(a2, (rows, a2.shape[-1]))
            g2 = reshape(g2, (rows, g2.shape[-1]))
        # Give gb the layout of b: for `x @ w.T`, b is a transposed view of a contiguous
        # weight, and (g^T a)^T is then contiguous in w's layout, so nothing is copied later.
        gb = _mT(matmul(_mT(g2), conj(a2))) if _is_transposed(b) else \
            matmul(conj(_mT(a2)), g2)
        gb = reshape(gb, tuple(gb.shape[:-1])) if b.ndim == 1 else gb
    return ga, gb


def _is_transposed(t):
    data = t._data
    return isinstance(data, np.ndarray) and data.ndim == 2 and data.flags.f_contiguous \
        and not data.flags.c_contiguous


def _matmul_dtype(a, b, **_):
    """torch multiplies matrices of one dtype only: Long @ Float is an error, not a promotion
    (the compiled kernels read both operands as the result's dtype)."""
    if a.dtype != b.dtype:
        raise DTypeError(f"matmul: expected both operands to have the same dtype, but got "
                         f"{np.dtype(a.dtype).name} and {np.dtype(b.dtype).name} (shapes "
                         f"{_dims(a.shape)} and {_dims(b.shape)}); convert one with .to()")
    return a.dtype


def _matmul_impl(a, b):
    """np.matmul; a batch of rows times one matrix as one product of the rows stacked
    (numpy multiplies per batch item: 1.4x slower on one core, more on several); an inner
    dim of 1 as a broadcast product."""
    if a.ndim >= 2 and b.ndim >= 2 and a.shape[-1] == 1:
        # an outer product (a per-sample weight gradient, vmap(grad)): each element is one
        # product, which numpy's matmul of a batch computes without BLAS, ~15x slower
        return np.multiply(a, b)
    if b.ndim == 2 and a.ndim > 2:
        rows = math.prod(a.shape[:-1])      # not -1: a dim may be 0
        return _product(a.reshape(rows, a.shape[-1]), b).reshape(a.shape[:-1] + b.shape[-1:])
    if a.ndim == 2 and b.ndim == 2:
        return _product(a, b)
    return np.matmul(a, b)


def _product(a, b):
    """a @ b of two matrices. A few rows times a transposed matrix (x @ w.T: nn.Linear's
    forward on a small batch) is computed as (w @ x.T).T, made row-major: OpenBLAS takes
    1.5-3x longer over the first than the second at 8 or more times as many columns as
    rows (one thread, znver4: 16x128 @ 128x512 52 -> 30 us, 4x128 @ 128x512 37 -> 16 us,
    16x1024 @ 1024x4096 4.5 -> 2.9 ms; with fewer columns it gains nothing or loses). Each
    element is the same dot product: bitwise equal there (a BLAS elsewhere may block the
    two forms' sums apart, by rounding). Measured on one host's OpenBLAS only: re-check the
    rule where timings are reported."""
    if a.shape[0] * 8 <= b.shape[1] and np_kind(b.dtype) == "f" and a.flags.c_contiguous and \
            b.flags.f_contiguous and not b.flags.c_contiguous:
        return np.matmul(b.T, a.T).T.copy()     # row-major, strides as a fresh array's
    return np.matmul(a, b)


matmul_p = defprim("matmul", _matmul_impl, _matmul_rule, _matmul_dtype, _matmul_vjp,
                   ("matmul",), saves=((1, 0), (0, 1)))


@autocast_op(LOWER)
def matmul(input, other):
    return bind(matmul_p, input, other)
