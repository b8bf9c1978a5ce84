"""torch.fx.experimental: optimization (batch-norm folding on a traced model)."""
from . import optimization  # noqa: F401
