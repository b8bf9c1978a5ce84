"""torch's top-level linear algebra (torch.det, torch.inverse, torch.svd, ...), which
predates torch.linalg: thin adapters onto tracecomp.linalg with the old names and return
conventions (torch.svd gives V, not Vh; torch.qr's `some`)."""

from . import linalg
from .ops import elementwise as ew
from .ops.linalg_decomp import mT
from .return_types import structseq

SVD = structseq("svd", ["U", "S", "V"])
QR = structseq("qr", ["Q", "R"])


def det(input):  # noqa: A002 - torch's argument name
    return linalg.det(input)


def slogdet(input):  # noqa: A002
    return linalg.slogdet(input)


def logdet(input):  # noqa: A002
    """log(det): NaN for a negative determinant, -inf for a zero one (torch's rule)."""
    sign, logabs = linalg.slogdet(input)
    return ew.where(sign < 0, float("nan"), ew.where(sign == 0, float("-inf"), logabs))


def inverse(input):  # noqa: A002
    return linalg.inv(input)


def pinverse(input, rcond=1e-15):  # noqa: A002
    return linalg.pinv(input, rtol=rcond)


def svd(input, some=True, compute_uv=True):  # noqa: A002
    u, s, vh = linalg.svd(input, full_matrices=not some)
    if not compute_uv:                 # torch returns zero-filled U and V then
        return SVD(u * 0, s, mT(vh) * 0)
    return SVD(u, s, mT(vh))


def qr(input, some=True):  # noqa: A002
    return QR(*linalg.qr(input, "reduced" if some else "complete"))
