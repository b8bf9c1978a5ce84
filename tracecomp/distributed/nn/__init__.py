"""tracecomp.distributed.nn: collectives that autograd differentiates through
(torch.distributed.nn.functional), for layers whose forward mixes ranks' values."""
from . import functional  # noqa: F401
from .functional import all_reduce  # noqa: F401
