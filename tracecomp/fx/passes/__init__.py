"""Passes over FX graphs (torch.fx.passes): shape_prop."""
from . import shape_prop  # noqa: F401
