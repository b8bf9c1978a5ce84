"""torch.library: Python custom operators (`@torch.library.custom_op("mylib::crop",
mutates_args=())`), their fake, autograd and per-device registrations, and `opcheck`.

    @tracecomp.library.custom_op("mylib::numpy_sin", mutates_args=())
    def numpy_sin(x: Tensor) -> Tensor:
        return tracecomp.from_numpy(np.sin(x.numpy()))

    numpy_sin.register_autograd(backward, setup_context=setup_context)
    tracecomp.library.opcheck(numpy_sin, (x,))

The operator runs its Python function on its inputs without their autograd history (as
torch's kernel runs below the autograd layer, so `x.numpy()` works on a tensor that
requires grad); a registered autograd formula makes it differentiable (custom_ops.py).
Compiled code traces into the function: tensor ops there become graph nodes, and code that
reads values (.numpy(), .item()) is a graph break, where torch.compile would call the
operator as an opaque node shaped by its fake implementation.

torch.ops.<namespace>.<name> is not provided: tracecomp.ops is the primitive registry.
"""
from .. import support
from .custom_ops import (CustomOpDef, custom_op, get_op, register_autograd, register_fake,
                         register_kernel)
from .opcheck import OpCheckError, opcheck

__all__ = ["CustomOpDef", "OpCheckError", "custom_op", "get_op", "opcheck",
           "register_autograd", "register_fake", "register_kernel"]

__getattr__ = support.missing_in("torch.library")
