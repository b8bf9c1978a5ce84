"""tracecomp.optim: torch.optim's optimizers and learning-rate schedulers.

Every update is written with in-place Tensor ops under no_grad, with torch's single-tensor
formulas, so parameters follow torch's to float32 rounding.
"""
from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "SGD", "lr_scheduler"]

# a torch name we lack raises NotImplementedError naming it (support.py)
from ..support import missing_in as _missing_in  # noqa: E402

__getattr__ = _missing_in("torch.optim")
