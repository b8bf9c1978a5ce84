"""Tensor: a value (a numpy array eagerly, a graph value while tracing) plus autograd state.

The class holds only what every tensor carries; the ops are attached as methods from one
table in `tensor_methods.py`, so this file stays about what a tensor *is*:
  _data           numpy array (eager) or a tracer value (compiled code being traced)
  _requires_grad  whether gradients flow back to it
  grad            accumulated gradient (leaves, and non-leaves that retain_grad())
  _node           the autograd tape node that produced it (None for leaves)
  _vc             version counter, a one-element list shared with its views; in-place ops
                  bump it so the tape can refuse stale saved values
"""
import weakref

import numpy as np

from . import dtypes
from .errors import fmt_shape


class Size(tuple):
    """torch.Size: a tuple of ints that prints as torch.Size([2, 3])."""

    def __repr__(self):
        return f"tracecomp.Size({list(self)})"

    def numel(self) -> int:
        n = 1
        for d in self:
            n *= d
        return n


class device:
    """Only the CPU exists for eager tensors; the type is here so torch code that passes
    `device=` or compares devices keeps working."""

    __slots__ = ("type", "index")

    def __init__(self, type="cpu", index=None):
        if isinstance(type, device):
            type, index = type.type, type.index
        if ":" in str(type):
            type, index = str(type).split(":")
            index = int(index)
        if type != "cpu":
            raise RuntimeError(f"tracecomp tensors live on the CPU; got device {type!r}. "
                               f"Compile with backend='cuda' to run on a GPU.")
        self.type, self.index = type, index

    def __repr__(self):
        return f"device(type='{self.type}')"

    def __eq__(self, other):
        return isinstance(other, (device, str)) and str(device(other)) == str(self)

    def __hash__(self):
        return hash(self.type)

    def __str__(self):
        return self.type


CPU = device("cpu")
_new = object.__new__


class Tensor:
    # The four slots every op sets; the rarely-set fields below are class-level defaults
    # that an instance overrides in its __dict__ only when it needs to (cheaper creation).
    __slots__ = ("_data", "_requires_grad", "_node", "_vc", "__weakref__", "__dict__")
    grad = None
    _retains_grad = False
    _hooks = None
    _view_of_grad = False

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, dtype=None):
        """Legacy constructor, as torch.Tensor: `Tensor(2, 3)` is an uninitialised float32
        tensor of that size, `Tensor([1, 2])` copies the data as float32."""
        if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
            data = np.array(args[0].numpy() if isinstance(args[0], Tensor) else args[0],
                            dtype=dtypes.to_np(dtype) or dtypes.F32)
        else:
            data = np.zeros(tuple(int(a) for a in args), dtype=dtypes.to_np(dtype) or dtypes.F32)
        _init(self, data, False, None)

    @staticmethod
    def _make(data, requires_grad=False, node=None, vc=None):
        """The internal constructor: wrap an array without copying."""
        t = _new(Tensor)
        t._data = data
        t._requires_grad = requires_grad
        t._node = node
        t._vc = vc if vc is not None else [0]
        return t

    # --- what a tensor is -------------------------------------------------------------
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_wrap_dim(dim, self._data.ndim, "size")]

    @property
    def dtype(self) -> dtypes.DType:
        return dtypes.from_np(self._data.dtype)

    @property
    def device(self) -> device:
        return CPU

    is_cuda = False

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        n = 1
        for d in self._data.shape:
            n *= d
        return n

    nelement = numel

    def element_size(self) -> int:
        return self._data.dtype.itemsize

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    def is_contiguous(self) -> bool:
        return bool(self._data.flags.c_contiguous)

    def stride(self, dim=None):
        strides = tuple(s // self._data.dtype.itemsize for s in self._data.strides)
        return strides if dim is None else strides[_wrap_dim(dim, self._data.ndim, "stride")]

    def data_ptr(self) -> int:
        return self._data.ctypes.data

    # --- autograd state -----------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad=True):
        if self._node is not None and not requires_grad:
            raise RuntimeError("you can only change requires_grad flags of leaf variables. "
                               "If you want to use a computed variable in a subgraph that "
                               "doesn't require differentiation use var_no_grad = var.detach().")
        if requires_grad and self._data.dtype.kind != "f":
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients; "
                               f"this one is {self.dtype}. Convert it first with .float().")
        self._requires_grad = bool(requires_grad)
        return self

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def grad_fn(self):
        return self._node

    def detach(self) -> "Tensor":
        """A tensor sharing this one's data (and version counter) with no history."""
        out = Tensor._make(self._data, False, None, self._vc)
        if type(self._data) is not np.ndarray:      # traced: remember that they alias
            from . import tracer
            if tracer.CURRENT is not None:
                tracer.CURRENT.alias(self, out)
        return out

    def detach_(self) -> "Tensor":
        self._node = None
        self._requires_grad = False
        return self

    @property
    def data(self) -> "Tensor":
        return Tensor._make(self._data, False, None)

    @data.setter
    def data(self, new):
        self._data = new._data if isinstance(new, Tensor) else np.asarray(new)

    def retain_grad(self):
        if self._node is None:
            return
        self._retains_grad = True
        self._node.retain = weakref.ref(self)

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def register_hook(self, hook):
        """`hook(grad) -> Tensor or None` runs when this tensor's gradient is computed."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._node is not None:   # a non-leaf's gradient passes through its node
            if self._node.hooks is None:
                self._node.hooks = []
            hooks = self._node.hooks
        else:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        from .autograd import backward
        backward(self, gradient, retain_graph, create_graph, inputs)

    # --- leaving the tensor world -------------------------------------------------------
    def numpy(self, force=False) -> np.ndarray:
        if self._requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        if type(self._data) is not np.ndarray:
            self._data.__array__()      # a traced value: a TraceError naming the user's line
        return self._data

    def item(self):
        if type(self._data) is not np.ndarray:
            return self._data.item()    # a traced value: a TraceError naming the user's line
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted "
                               f"to Scalar; .item() needs exactly one element")
        return self._data.reshape(()).item()

    def tolist(self):
        return self._data.tolist()

    def __array__(self, dtype=None, copy=None):
        return self._data if dtype is None else self._data.astype(dtype)

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def _scalar(self, what):
        if self._data.size != 1:
            raise RuntimeError(f"{what} of a Tensor with {self._data.size} elements is "
                               f"ambiguous; it needs exactly one element")
        return self._data.reshape(()).item()

    def __bool__(self):
        return bool(self._scalar("Boolean value"))

    def __float__(self):
        return float(self._scalar("float()"))

    def __int__(self):
        return int(self._scalar("int()"))

    def __index__(self):
        if self._data.dtype.kind not in "iub":
            raise TypeError("only integer tensors of a single element can be converted "
                            "to an index")
        return int(self._scalar("index"))

    def __hash__(self):
        return id(self)

    def __repr__(self):
        return format_tensor(self)

    def __format__(self, spec):
        if self._data.ndim == 0 and spec:
            return format(self._data.item(), spec)
        return repr(self)

    def __reduce__(self):
        raise TypeError("tracecomp tensors are not pickled; use tracecomp.save / tracecomp.load")

    def __getattr__(self, name):
        # only reached for names a tensor does not have: a torch method we lack raises
        # NotImplementedError naming it (and hasattr() still answers False)
        from .support import missing_tensor_attribute
        missing_tensor_attribute(self, name)

    def __deepcopy__(self, memo):
        """A leaf's copy: new storage, the same requires_grad and a copied .grad (torch's
        rule: tensors with history refuse, since the history cannot be copied)."""
        if self._node is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) "
                               "support the deepcopy protocol at the moment. If you were "
                               "attempting to deepcopy a module, this may be because of a "
                               "torch.nn.utils.weight_norm usage, see "
                               "https://github.com/pytorch/pytorch/pull/103001")
        if id(self) in memo:
            return memo[id(self)]
        new = Tensor._make(self._data.copy(), self._requires_grad)
        memo[id(self)] = new
        if self.grad is not None:
            new.grad = self.grad.__deepcopy__(memo)
        return new


def _init(t, data, requires_grad, node, vc=None):
    t._data = data
    t._requires_grad = requires_grad
    t._node = node
    t._vc = vc if vc is not None else [0]


class _HookHandle:
    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _wrap_dim(dim, ndim, op):
    """A dim in [-ndim, ndim) as a non-negative int, with torch's error otherwise."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: Dimension out of range (expected to be in range of "
                         f"[{-n}, {n - 1}], but got {dim})")
    return dim % n


def format_tensor(t: Tensor) -> str:
    """torch-style repr: tensor([1.0000, 2.5000], requires_grad=True)."""
    a = t._data
    if not isinstance(a, np.ndarray):
        return f"Tensor(traced {fmt_shape(a.shape)} {a.dtype})"
    if a.dtype.kind == "f":
        finite = a[np.isfinite(a)]
        integral = finite.size == 0 or bool(np.all(finite == np.round(finite)))
        big = finite.size and (np.abs(finite).max() >= 1e8 or
                               0 < np.abs(finite[finite != 0]).min(initial=1) < 1e-4)
        if big:
            fmt = {"float_kind": lambda v: f"{v:.4e}"}
        elif integral:
            fmt = {"float_kind": lambda v: f"{v:.0f}." if np.isfinite(v) else str(v)}
        else:
            fmt = {"float_kind": lambda v: f"{v:.4f}" if np.isfinite(v) else str(v)}
        body = np.array2string(a, separator=", ", formatter=fmt, prefix="tensor(",
                               threshold=1000, edgeitems=3)
    else:
        body = np.array2string(a, separator=", ", prefix="tensor(", threshold=1000,
                               edgeitems=3)
        if a.dtype.kind == "b":
            body = body.replace("True", "True").replace("False", "False")
    extras = []
    if a.dtype not in (dtypes.F32, dtypes.I64, dtypes.BOOL):
        extras.append(f"dtype={t.dtype!r}")
    if a.size == 0 and a.ndim != 1:
        extras.append(f"size={tuple(a.shape)}")
    if t._node is not None:
        extras.append(f"grad_fn=<{t._node.name()}>")
    elif t._requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + body + "".join(", " + e for e in extras) + ")"
