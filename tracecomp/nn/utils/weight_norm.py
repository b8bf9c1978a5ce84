"""torch.nn.utils.weight_norm / remove_weight_norm: the legacy weight normalization,
deprecated in torch (a FutureWarning) for parametrizations.weight_norm, still used by
TCN, WaveNet and HiFi-GAN code.

The module's `weight` parameter becomes two, `weight_g` (the norms over every dim but
`dim`) and `weight_v` (the direction), and `weight` a plain tensor attribute that a forward
pre-hook, the WeightNorm object itself, recomputes as g * v / ||v|| before every forward.
Eagerly autograd reaches g and v through it; in compiled code the hook runs inside the
trace (a child module's) or around the compiled forward (the compiled module's own), and
the rebound attribute is replayed after each call (compiler/attributes.py).
"""
import warnings

from ...user_code import user_stacklevel
from ...weight_norm_ops import _weight_norm, norm_except_dim
from ..modules.lazy import UninitializedParameter
from ..parameter import Parameter

__all__ = ["WeightNorm", "weight_norm", "remove_weight_norm"]


class WeightNorm:
    def __init__(self, name, dim):
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module):
        g = getattr(module, self.name + "_g")
        v = getattr(module, self.name + "_v")
        return _weight_norm(v, g, self.dim)

    @staticmethod
    def apply(module, name, dim):
        warnings.warn("`torch.nn.utils.weight_norm` is deprecated in favor of "
                      "`torch.nn.utils.parametrizations.weight_norm`.", FutureWarning,
                      stacklevel=user_stacklevel())
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two weight_norm hooks on the same "
                                   f"parameter {name}")
        fn = WeightNorm(name, dim)
        weight = getattr(module, name)
        if isinstance(weight, UninitializedParameter):
            raise ValueError("The module passed to `WeightNorm` can't have uninitialized "
                             "parameters. Make sure to run the dummy forward before applying "
                             "weight normalization")
        del module._parameters[name]
        module.register_parameter(name + "_g",
                                  Parameter(norm_except_dim(weight, 2, fn.dim).data))
        module.register_parameter(name + "_v", Parameter(weight.data))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module):
        """`weight` a Parameter again, holding the current g * v / ||v||."""
        weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        setattr(module, self.name, Parameter(weight.data))

    def __call__(self, module, inputs):
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module, name="weight", dim=0):
    """module.<name> = g * v / ||v||, recomputed before every forward (dim=None: the norm of
    the whole tensor)."""
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module, name="weight"):
    for k, hook in module._forward_pre_hooks.items():
        if isinstance(hook, WeightNorm) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            return module
    raise ValueError(f"weight_norm of '{name}' not found in {module}")
