"""tracecomp.distributed.optim: torch.distributed.optim's ZeroRedundancyOptimizer
(zero_redundancy.py). Its RPC and functional optimizers are not provided: a program that
names one learns it is missing here (support.py)."""
from .zero_redundancy import ZeroRedundancyOptimizer

__all__ = ["ZeroRedundancyOptimizer"]

_MISSING = frozenset(["DistributedOptimizer", "PostLocalSGDOptimizer", "as_functional_optim",
                      "named_params_with_optimizer"])


def __getattr__(name):
    if name in _MISSING:
        from ...support import unsupported
        raise unsupported(f"torch.distributed.optim.{name}")
    raise AttributeError(f"module 'tracecomp.distributed.optim' has no attribute {name!r}")
