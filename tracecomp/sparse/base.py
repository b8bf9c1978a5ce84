"""SparseTensor: what COO and CSR tensors share (coo.py, csr.py build on it).

A sparse tensor is a Tensor subclass, so `isinstance(adj, torch.Tensor)` holds and shape,
dtype, dim() and the other facts read from `_data` work as for any tensor; `_data` itself
is a SparseData (sparse_data.py), which dense ops refuse. The contents are ordinary
tensors: the values `_vals` (nnz, *dense dims) and the index tensors of the layout. Every
sparse op is written with dense ops on them, so gradients reach the values (and whatever
made them) through the tape, and a compiled function traces them like any other code.

Autograd state follows the values: the sparse tensor requires grad when they do. A sparse
leaf that requires grad (`requires_grad=True`, `requires_grad_()`) holds values of its own
that are a leaf, and its `.grad` is their gradient as a sparse tensor of its pattern.
"""
import numpy as np

from .. import context, grad_mode
from ..errors import TraceError
from ..sparse_data import SparseData, unsupported
from ..tensor import Tensor
from ..torch_function import _disabled_torch_function_impl
from ..user_code import user_line


def concrete(t, op):
    """The numpy array of t, an index tensor whose values an op must know (to coalesce, to
    group, to count). Inside compiled code an index tensor that is an input has no values
    yet: a TraceError (a graph break), which says how to keep it a constant."""
    data = t._data
    if type(data) is np.ndarray:
        return data
    raise TraceError(
        f"{op}: a sparse tensor's indices inside compiled code are a traced input{user_line()}"
        f", but this op needs their values (it groups entries by index). Fix: hold the "
        f"sparse tensor as a constant of the compiled function (a global, a closure or a "
        f"module attribute), or do this op outside it (adj = adj.coalesce() once).")


def _note_read(t):
    """Compiled code being traced reads sparse tensor t: if t comes from outside it, the
    compiled call must check that t is still what it was."""
    active = context.current()
    if active is not None and not active.made_here(t):
        active.read_from_outside(t)


def made_by(t, name):
    """t, named in its repr as made by the op whose gradient node torch names `name`
    (grad_fn=<MulBackward0>), when its values have history."""
    if t._vals._node is not None:
        t._grad_fn_name = name
    return t


class SparseTensor(Tensor):
    """A tensor of a sparse layout: the values and the index tensors of its layout."""

    # not a subclass to __torch_function__ (torch's sparse tensors are plain Tensors)
    __torch_function__ = _disabled_torch_function_impl

    _leaf_values = False        # values made by this tensor (a leaf): .grad reads theirs

    # The values, read through a property so that compiled code which reads a sparse tensor
    # from outside (a global, a module's buffer) notes the tensor itself: the compiled call
    # is then checked for its rebinding and its in-place updates (outside_tensors.py), as
    # for a dense constant, not only for those of the value tensor it read.
    @property
    def _vals(self):
        if context._active is not None:
            _note_read(self)
        return self.__dict__["_value_tensor"]

    @_vals.setter
    def _vals(self, values):
        self.__dict__["_value_tensor"] = values

    def _start(self, shape, values, layout):
        self._data = SparseData(shape, values._data.dtype, layout)
        self._vals = values
        self._requires_grad = values._requires_grad
        self._node = None
        self._vc = [0]
        if context._active is not None:     # made inside traced code: not read from outside
            active = context.current()
            if active is not None:
                active.made(self)
        return self

    # --- what it is ------------------------------------------------------------------------
    @property
    def layout(self):
        return self._data.layout

    def _nnz(self) -> int:
        return int(self._vals.shape[0])

    def dense_dim(self) -> int:
        return self._vals.ndim - 1

    def to_dense(self, dtype=None, *, masked_grad=None):
        out = self.to_sparse_coo().to_dense()
        return out if dtype is None else out.to(dtype)

    def __repr__(self):
        from .printing import sparse_repr
        return sparse_repr(self)

    def __reduce_ex__(self, protocol):
        raise NotImplementedError(f"pickling a tensor of layout {self.layout} is not "
                                  f"supported by tracecomp: save its index and value tensors")

    # --- autograd state --------------------------------------------------------------------
    def requires_grad_(self, requires_grad=True):
        if bool(requires_grad) == self._requires_grad:
            return self
        if not requires_grad:
            if not self._leaf_values:
                raise RuntimeError("you can only change requires_grad flags of leaf "
                                   "variables.")
            self._vals = self._vals.detach()
        else:   # values of its own, a leaf that collects the gradient
            self._vals = self._vals.detach().requires_grad_(True)
            self._leaf_values = True
        self._requires_grad = bool(requires_grad)
        return self

    @property
    def is_leaf(self) -> bool:
        return self._leaf_values or not self._vals._requires_grad

    @property
    def grad(self):
        """A sparse leaf's gradient: sparse, of the leaf's (coalesced) pattern, as torch's."""
        if not self._leaf_values or self._vals.grad is None:
            return None
        return self._with_values(self._vals.grad)._pattern_grad()

    @grad.setter
    def grad(self, value):
        if value is not None:
            raise NotImplementedError("setting .grad of a sparse tensor to a tensor is not "
                                      "supported by tracecomp (only to None)")
        if self._leaf_values:
            self._vals.grad = None

    def _pattern_grad(self):
        return self

    # --- in place ---------------------------------------------------------------------------
    def _take(self, result, op):
        """An in-place op's result (inplace.commit): self takes its parts, as torch's
        sparse in-place ops replace the indices and values; a dense result is refused."""
        if not isinstance(result, SparseTensor) or result.layout is not self.layout:
            raise unsupported(op, self.layout)      # the op gave a dense result
        if tuple(result.shape) != tuple(self.shape):
            raise RuntimeError(f"{op}: the result's size {list(result.shape)} is not the "
                               f"tensor's {list(self.shape)}")
        if grad_mode.state.enabled and self._leaf_values and self._requires_grad:
            raise RuntimeError(f"{op}: a leaf Variable that requires grad is being used in "
                               f"an in-place operation.")
        parts, static = result._parts()
        self.__dict__.update(type(result)._from_parts(parts, static).__dict__)
        self._data, self._vc[0] = result._data, self._vc[0] + 1
        self._requires_grad = self._requires_grad or result._requires_grad
        return self

    def zero_(self):
        """No entries left (torch's sparse zero_: nnz becomes 0)."""
        return self._take(self._emptied(), "zero_")

    def copy_(self, src, non_blocking=False):
        """self becomes a copy of sparse src (its indices and values, cloned)."""
        if not isinstance(src, SparseTensor):
            raise RuntimeError("copy_() between dense and sparse Tensors is not implemented! "
                               "Found self type = sparse and src type = dense")
        parts, static = src._parts()
        clone = type(src)._from_parts([p.clone() for p in parts], static)
        if clone.dtype != self.dtype:
            clone = clone._with_values(clone._vals.to(self.dtype))
        return self._take(clone, "copy_")

    def detach(self):
        return self._with_values(self._vals.detach())

    def detach_(self):
        self._vals, self._leaf_values, self._requires_grad = self._vals.detach(), False, False
        return self

    @property
    def data(self):
        """The same sparse tensor without history (sharing its index and value tensors)."""
        return self.detach()

    @data.setter
    def data(self, new):
        self._take(new.detach(), "data =")

    def __copy__(self):
        return self._with_values(self._vals.detach()).requires_grad_(self._requires_grad)

    def __deepcopy__(self, memo):
        """New index and value tensors; the same requires_grad (torch's deepcopy of a leaf)."""
        if id(self) in memo:
            return memo[id(self)]
        parts, facts = self._parts()
        new = type(self)._from_parts([p.detach().clone() for p in parts], facts)
        memo[id(self)] = new.requires_grad_(self._requires_grad)
        return memo[id(self)]

    def clone(self, *, memory_format=None):
        return made_by(self._with_values(self._vals.clone()), "CloneBackward0")
