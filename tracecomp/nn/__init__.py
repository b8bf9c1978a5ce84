"""tracecomp.nn: Module, Parameter, the layers, the losses, functional (F) and init, with
torch.nn's names."""
from .parameter import Parameter
from .module import Module
from . import functional, init, utils
from .modules import *  # noqa: F401,F403  (the layers, listed in modules/__init__.py)

try:
    from .modules.loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss,
                               KLDivLoss, L1Loss, MSELoss, NLLLoss, SmoothL1Loss)
except ImportError:  # loss.py is being written concurrently; this guard goes once it lands
    pass
