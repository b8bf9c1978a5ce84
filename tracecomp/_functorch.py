"""torch._functorch, for its config namespace only (foreign_configs.py): programs set its
options before compiling; `import torch._functorch.config` finds it too."""
import sys

from .foreign_configs import NoEffectConfig

config = NoEffectConfig("torch._functorch.config")
sys.modules[__name__ + ".config"] = config
