"""Parameter: a Tensor that a Module registers as one of its learnable weights.

It is an ordinary Tensor (same ops, same autograd) whose only differences are that it
requires grad by default, prints as "Parameter containing:", and that assigning one to a
Module attribute registers it. Making one from a tensor shares that tensor's memory.
"""
import numpy as np

from .. import dtypes
from ..tensor import Tensor, _init, _same_memory_while_tracing
from ..tensor import _unpickle as _unpickle_tensor
from ..torch_function import _disabled_torch_function_impl


class Parameter(Tensor):
    # torch's: ops on a Parameter give plain tensors, and it arms no __torch_function__
    __torch_function__ = _disabled_torch_function_impl

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = Tensor._make(np.empty((0,), dtype=dtypes.F32))
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter() expects a tracecomp Tensor as data, got "
                            f"{type(data).__name__}")
        p = object.__new__(cls)
        # Share the buffer and version counter: updates through either name are one update.
        _init(p, data._data, False, None, data._vc)
        # made inside compiled code (`nn.Linear(4, 4)(x)` in a forward): a temporary as its
        # data is, so the init's in-place random fill is traced, fresh on every call
        _same_memory_while_tracing(data, p)
        if requires_grad:
            p.requires_grad_(True)
        return p

    def __init__(self, data=None, requires_grad=True):
        pass  # everything happens in __new__ (Tensor.__init__ is the legacy constructor)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        """Pickled as a Parameter (Tensor.__reduce_ex__'s values, this class)."""
        _, (array, requires_grad, where) = super().__reduce_ex__(protocol)
        return (_unpickle, (array, requires_grad, where))

    def __copy__(self):
        """copy.copy: a Parameter over the same memory (torch's)."""
        return Parameter(super().__copy__(), self._requires_grad)

    def __deepcopy__(self, memo):
        if id(self) not in memo:
            memo[id(self)] = Parameter(Tensor._make(self._data.copy()), self._requires_grad)
        return memo[id(self)]


def _unpickle(array, requires_grad, where):
    """A pickled Parameter again."""
    return Parameter(_unpickle_tensor(array, False, where), requires_grad)


class _BufferMeta(type):
    """isinstance(t, Buffer): a tensor that Buffer() marked."""

    def __instancecheck__(cls, instance):
        return isinstance(instance, Tensor) and getattr(instance, "_is_buffer", False)


class Buffer(metaclass=_BufferMeta):
    """nn.Buffer(tensor, persistent=True): a tensor that assigning to a Module attribute
    registers as a buffer (`self.mask = nn.Buffer(torch.ones(n))`), as register_buffer does;
    `persistent=False` keeps it out of the state_dict. Buffer(t) is t detached (sharing its
    memory), with t's requires_grad flag, and marked."""

    def __new__(cls, data=None, *, persistent=True):
        if data is None:
            data = Tensor._make(np.empty((0,), dtype=dtypes.F32))
        if not isinstance(data, Tensor):
            raise TypeError(f"Buffer() expects a tracecomp Tensor as data, got "
                            f"{type(data).__name__}")
        t = data.detach().requires_grad_(data.requires_grad)
        t.persistent = persistent
        t._is_buffer = True
        return t
