"""torch.autograd.Variable: the deprecated wrapper, kept so old programs run.

Since torch 0.4 a Variable *is* a Tensor: `Variable(t, requires_grad=True)` returns a new
leaf tensor sharing t's data, and `isinstance(t, Variable)` is true for every tensor.
"""
import warnings

import numpy as np

from ..tensor import Tensor
from ..user_code import user_stacklevel


class _VariableMeta(type):
    def __instancecheck__(cls, other):
        return isinstance(other, Tensor)


class Variable(metaclass=_VariableMeta):
    """Variable(data=None, requires_grad=False, volatile=False) -> Tensor."""

    def __new__(cls, data=None, requires_grad=False, volatile=False):
        if volatile:
            warnings.warn("volatile was removed and now has no effect. Use `with "
                          "torch.no_grad():` instead.", UserWarning, stacklevel=user_stacklevel())
        if data is None:
            return Tensor._make(np.zeros((0,), np.float32))
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        out = data.detach()
        if requires_grad:
            out.requires_grad_()
        return out
