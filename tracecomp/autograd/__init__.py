"""tracecomp.autograd: torch.autograd's surface.

    engine.py        the eager tape's backward() and grad() (and the traced-tensor marker)
    function.py      Function (custom forward/backward), FunctionCtx, once_differentiable
    custom_vjp.py    the marker primitive that makes a Function's backward its outputs' VJP,
                     eagerly and in compiled graphs
    functional.py    jacobian, hessian, vjp, jvp, hvp, vhp
    forward_ad.py    dual tensors: dual_level, make_dual, unpack_dual (forward-mode AD by
                     the double-VJP trick)
    gradcheck.py     gradcheck, gradgradcheck (central finite differences)
    anomaly_mode.py  detect_anomaly, set_detect_anomaly (NaN checks of backward results)
    variable.py      Variable, the deprecated alias of Tensor
    graph.py         saved_tensors_hooks, save_on_cpu, Node, GradientEdge, ...
    grad_mode.py     no_grad, enable_grad, set_grad_enabled, inference_mode
    engine_flags.py  is/set_multithreading_enabled, is_view_replay_enabled, is_tensor_like,
                     kineto_available

torch.func (functorch's transforms) is not provided.
"""
from . import forward_ad, functional, grad_mode, graph  # noqa: F401
from .anomaly_mode import (  # noqa: F401
    detect_anomaly,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    set_detect_anomaly,
)
from .engine import backward, grad  # noqa: F401
from .engine_flags import (  # noqa: F401
    is_multithreading_enabled,
    is_tensor_like,
    is_view_replay_enabled,
    kineto_available,
    set_multithreading_enabled,
)
from .function import Function, FunctionCtx, once_differentiable  # noqa: F401
from .grad_mode import (  # noqa: F401
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from .gradcheck import gradcheck, gradgradcheck  # noqa: F401
from .variable import Variable  # noqa: F401
from ..overrides import handle_torch_function, has_torch_function  # noqa: F401,E402

from ..support import missing_in as _missing_in  # noqa: E402

# a torch.autograd name we lack raises NotImplementedError naming it (support.py)
__getattr__ = _missing_in("torch.autograd")
