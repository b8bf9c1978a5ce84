"""torch._inductor, for its config namespace only (foreign_configs.py): programs set its
options before compiling; `import torch._inductor.config` finds it too."""
import sys

from .foreign_configs import NoEffectConfig

config = NoEffectConfig("torch._inductor.config",
                        nested=("triton", "cpp", "cuda", "aot_inductor", "trace", "rocm"))
sys.modules[__name__ + ".config"] = config
