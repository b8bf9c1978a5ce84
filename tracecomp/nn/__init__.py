"""tracecomp.nn: Module, Parameter, the layers, the losses, functional (F) and init, with
torch.nn's names."""
from .parameter import Buffer, Parameter  # noqa: F401  (first: module.py needs them)
from . import functional, grad, init, utils  # noqa: F401
from .module import Module  # noqa: F401
from .modules import *  # noqa: F403  (the layers, listed in modules/__init__.py)
from .modules.distance import CosineSimilarity, PairwiseDistance  # noqa: F401
from .modules.loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss,  # noqa: F401
                           HuberLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss, SmoothL1Loss)
from .modules.loss import (CosineEmbeddingLoss, GaussianNLLLoss,  # noqa: F401 (issue 9)
                           HingeEmbeddingLoss, MarginRankingLoss, MultiLabelSoftMarginLoss,
                           MultiMarginLoss, PoissonNLLLoss, SoftMarginLoss, TripletMarginLoss,
                           TripletMarginWithDistanceLoss)
from .modules.loss import MultiLabelMarginLoss  # noqa: F401
from .modules.loss import CTCLoss, NLLLoss2d  # noqa: F401
from .modules.linear_cross_entropy_options import LinearCrossEntropyOptions  # noqa: F401
from .modules.loss import LinearCrossEntropyLoss  # noqa: F401
# --- issue 9: programs A (pytorch/examples) ---
from . import parallel  # noqa: E402, F401
from .parallel import DataParallel  # noqa: E402, F401

# a torch name we lack raises NotImplementedError naming it (support.py)
from ..support import missing_in as _missing_in  # noqa: E402

__getattr__ = _missing_in("torch.nn")
