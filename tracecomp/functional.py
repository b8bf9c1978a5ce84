"""torch.functional: the module where torch defines einsum, split, norm, meshgrid, unique
and a few more, which programs sometimes import it from (`import torch.functional as F`).
Each name is tracecomp's own function of that name (an API we lack raises as at the top
level, naming it)."""
NAMES = ("atleast_1d", "atleast_2d", "atleast_3d", "broadcast_shapes", "broadcast_tensors",
           "cartesian_prod", "block_diag", "cdist", "chain_matmul", "einsum", "istft", "lu",
           "norm", "meshgrid", "pca_lowrank", "split", "stft", "svd_lowrank", "tensordot",
           "unique", "unique_consecutive", "unravel_index")
__all__ = list(NAMES)


def __getattr__(name):
    if name not in NAMES:
        raise AttributeError(f"module 'tracecomp.functional' has no attribute {name!r}")
    import tracecomp
    return getattr(tracecomp, name)


def __dir__():
    return list(NAMES)
