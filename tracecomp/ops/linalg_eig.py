"""The general (non-symmetric) eigendecomposition, torch.linalg.eig / eigvals: A V = V diag(L)
for square A, real or complex, L and V always complex (complex64 for float32 input).

The numbers come from LAPACK's geev in the input's precision (sgeev for float32, as torch's
CPU kernel calls it), so the order of the eigenvalues and the normalization of the
eigenvectors are LAPACK's, as torch's: each eigenvector has norm 1 and its largest entry
real. (Eigenvectors are unique only up to a phase e^{i phi}; torch documents no order.)

Two primitives, one per output (as eigh's in linalg_decomp.py): each runs geev. Their VJPs
are torch's linalg_eig_backward split in two parts that add up to it (a VJP is linear in
the cotangents):

    values:   gA = V^-H diag(gL) V^H
    vectors:  gA = V^-H ((V^H gV - V^H V Re(diag(V^H gV))) / E, with a zero diagonal) V^H,
              E[i, j] = conj(L[j]) - conj(L[i])

with real(gA) for a real A. A loss that depends on the eigenvectors' phases has no
gradient: as torch, the vectors' VJP checks Im(diag(V^H gV)) ~ 0 and raises otherwise.
Complex tensors are not compiled: under tracecomp.compile both primitives are a TraceError
naming them (tracing/tracer.py), a graph break by default.
"""
import numpy as np

from ..dispatch import bind
from ..dtypes import complex_type
from ..errors import DTypeError
from ..torch_args import scalar_name
from . import elementwise as ew
from . import lapack
from . import movement as mv
from .linalg_decomp import _mm, mT, solve, square_rule
from .registry import defprim

NOT_FINITE = "torch.linalg.eig: input tensor should not contain infs or NaNs."
FAILED = ("linalg.eig: The algorithm failed to converge because the input matrix is "
          "ill-conditioned or has too many repeated eigenvalues (error code: {info}).")
PHASE = ("linalg_eig_backward: The eigenvectors in the complex case are specified up to "
         "multiplication by e^{i phi}. The specified loss function depends on this "
         "quantity, so it is ill-defined.")


def _geev(a):
    """(eigenvalues, eigenvectors) of each matrix of a, complex, by LAPACK geev; NaN for a
    matrix with infs or NaNs (geev's answer there is garbage; eig refuses them first)."""
    out = complex_type(a.dtype)
    n = a.shape[-1]
    values = np.zeros(a.shape[:-1], out)
    vectors = np.zeros(a.shape, out)
    if a.size == 0:
        return values, vectors
    geev = lapack.funcs("geev", a)
    for idx in np.ndindex(a.shape[:-2]):
        if not np.isfinite(a[idx]).all():
            values[idx], vectors[idx] = np.nan, np.nan
            continue
        if a.dtype.kind == "c":
            w, _, v, info = geev(a[idx], compute_vl=0)
        else:   # real geev: a conjugate pair as two real columns, v[:, j] +- i v[:, j+1]
            wr, wi, _, vr, info = geev(a[idx], compute_vl=0)
            w, v = wr + 1j * wi, vr.astype(out)
            for j in range(n - 1):
                if wi[j] > 0:
                    v[:, j] = vr[:, j] + 1j * vr[:, j + 1]
                    v[:, j + 1] = np.conj(v[:, j])
        if info > 0:
            raise lapack.LinAlgError(FAILED.format(info=info))
        values[idx], vectors[idx] = w, v
    return values, vectors


def _rule(shape_of):
    def rule(a):
        square_rule("linalg.eig")(a)
        return shape_of(a)
    return rule


def _complex_of(a):
    return complex_type(np.dtype(a.dtype))


def _mH(x):
    return ew.conj(mT(x))


def _back(gA, a, v):
    """V^-H gA V^H, real for a real A (torch's handle_r_to_c)."""
    vh = _mH(v)
    out = solve(vh, _mm(gA, vh))
    return out if a.is_complex() else ew.real(out)


def _values_vjp(g, out, a):
    return (_back(mv.diag_embed(g), a, eig_vectors(a)),)


def _vectors_vjp(g, out, a):
    v, w = out, eig_values(a)
    vhgv = _mm(_mH(v), g)
    diag = _diagonal(vhgv)
    if isinstance(diag._data, np.ndarray) and not np.allclose(
            np.imag(diag._data), 0, rtol=1e-2, atol=1e-2):
        raise RuntimeError(PHASE)
    n = w.shape[-1]
    projected = vhgv - _mm(_mH(v), v * mv.reshape(ew.real(diag), tuple(diag.shape[:-1]) +
                                                  (1, n)))
    wc = ew.conj(w)
    gap = mv.reshape(wc, tuple(wc.shape[:-1]) + (1, n)) - \
        mv.reshape(wc, tuple(wc.shape) + (1,))
    eye = mv.diag_embed(ew.real(w) * 0 + 1)
    gap = gap + eye                         # 1 on the diagonal, which is zeroed below
    return (_back(projected / gap * (1 - eye), a, v),)


def _diagonal(x):
    from ..composite_shape import diagonal
    return diagonal(x, 0, -2, -1)


eig_values_p = defprim("linalg_eig_values", lambda a: _geev(a)[0],
                       _rule(lambda a: tuple(a[:-1])), _complex_of, _values_vjp, saves=(0,))
eig_vectors_p = defprim("linalg_eig_vectors", lambda a: _geev(a)[1], _rule(tuple),
                        _complex_of, _vectors_vjp, saves=(0, "out"))


def check(a, op, finite=True):
    """torch's errors for eig's input: its shape, its dtype, then (with finite, eagerly)
    infs or NaNs in it."""
    square_rule(op)(tuple(a.shape))
    dtype = np.dtype(a._data.dtype)
    if not (a.is_floating_point() or a.is_complex()):
        raise DTypeError(f"{op}: Expected a floating point or complex tensor as input. Got "
                         f"{scalar_name(dtype)}")
    if dtype.kind not in "fc" or dtype.itemsize < 4:    # float16, bfloat16: no LAPACK
        raise NotImplementedError(f"\"linalg_eig_out_cpu\" not implemented for "
                                  f"'{scalar_name(dtype)}'")
    if finite and isinstance(a._data, np.ndarray) and not np.isfinite(a._data).all():
        raise lapack.LinAlgError(NOT_FINITE)
    return a


def eig_values(a):
    return bind(eig_values_p, a)


def eig_vectors(a):
    return bind(eig_vectors_p, a)
