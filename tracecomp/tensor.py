"""Tensor: a value (a numpy array eagerly, a graph value while tracing) plus autograd state.

The class holds only what every tensor carries; the ops are attached as methods from one
table in `tensor_methods.py`, so this file stays about what a tensor *is*:
  _data           numpy array (eager) or a tracer value (compiled code being traced)
  _requires_grad  whether gradients flow back to it
  grad            accumulated gradient (leaves, and non-leaves that retain_grad())
  _node           the autograd tape node that produced it (None for leaves)
  _vc             version counter, a one-element list shared with its views; in-place ops
                  bump it so the tape can refuse stale saved values. Its type marks an
                  inference tensor (grad_mode.InferenceCounter), so others carry nothing more
"""
import copy
import sys
import weakref

import numpy as np

from . import context, dtypes, grad_mode
from .device_array import DeviceArray
from .devices import CPU, device, to_host  # noqa: F401  (tracecomp.tensor.device, as before)
from .dtypes import np_kind
from .errors import TraceError
from .meta_device import NO_ITEM
from .size import Size
from .user_code import user_line, user_stacklevel

_new = object.__new__
_grad = grad_mode.state
_inference_seen = grad_mode.seen
_InferenceCounter = grad_mode.InferenceCounter


def made_in_grad(parent):
    """The last field of a view's link (its `_view`): True when made in grad mode; under
    no_grad, False when the parent has history, None when it has none (a view made so of a
    tensor that took history since is torch's error: dispatch.regained)."""
    return _grad.enabled or (None if parent._node is None else False)


def no_grad_view(t):
    """t, a view just made under no_grad of a tensor that requires grad: when the tensor
    that owns the memory (the end of the view chain, torch's base) requires grad, so does
    t, as torch's, with no history: gradients reaching it go nowhere (the engine gives it no
    leaf gradient), an in-place update of it in grad mode is torch's error (inplace_view),
    and so is using it once it or its base changed in place (dispatch.stale_no_grad_view)."""
    base = t._view[0]
    while base._view is not None:
        base = base._view[0]
    if base._requires_grad and type(t._vc) is list:     # (an inference tensor's view is not)
        t._requires_grad = True
        t._no_grad_version = t._vc[0]
        if _grad.inference:
            t._view_mode = "inference"      # torch's errors say so


def _same_memory_while_tracing(t, twin):
    """twin (t.detach(), t.data) holds all of t's memory: tell the trace, whose values do not
    share memory, so an in-place update of one is the other's too (tracer.same_memory)."""
    active = context.current()
    if active is not None:
        active.same_memory(t, twin)


def _assigned_while_tracing(t):
    """t is about to hold a traced value through its .data (`p.data = p.data - lr * g`):
    a real tensor's array must be put back when the trace ends, whether it succeeds or
    fails, and a leaf given a value with history so is read as an updated leaf, whose
    backward stops there (Tracer.lift)."""
    active = context.current()
    if active is not None:
        if type(t._data) is np.ndarray:
            active.rebound.append((t, t._data))
        assigned = getattr(active, "data_assigned", None)
        if assigned is not None:
            assigned.add(id(t))


class Tensor:
    # The four slots every op sets; the rarely-set fields below are class-level defaults
    # that an instance overrides in its __dict__ only when it needs to (cheaper creation).
    __slots__ = ("_data", "_requires_grad", "_node", "_vc", "__weakref__", "__dict__")
    grad = None
    _retains_grad = False
    _hooks = None
    _post_accumulate_hooks = None
    _view_of_grad = False
    _view = None            # a view: (parent, prim, params, made in grad mode); inplace_view.py
    _no_grad_version = None     # a view made under no_grad of a tensor that requires grad:
    _view_mode = "no_grad"      # the version then, and the mode: no_grad or inference

    # torch.Tensor(...)'s legacy constructor (__init__) and backward() are attached by
    # tensor_methods.py with every other method: this class knows neither the legacy
    # types nor the autograd engine

    def __new__(cls, *args, **kwargs):
        self = object.__new__(cls)
        if args and cls is not Tensor:
            # a subclass's `super().__new__(cls, data)` (its own __init__ may take other
            # arguments): the legacy constructor's tensor, data aliased, as torch's __new__
            Tensor.__init__(self, *args, **kwargs)
        return self

    @staticmethod
    def _make_subclass(cls, data, require_grad=False, **kwargs):
        """torch's Tensor._make_subclass: an instance of cls sharing data's memory and
        version counter, without its history, requiring grad as asked."""
        if require_grad and np_kind(data._data.dtype) not in "fc":
            raise RuntimeError("Only Tensors of floating point and complex dtype can "
                               "require gradients")
        out = object.__new__(cls)
        _init(out, data._data, bool(require_grad), None, data._vc)
        _same_memory_while_tracing(data, out)
        return out

    @staticmethod
    def _make(data, requires_grad=False, node=None, vc=None):
        """The internal constructor: wrap an array without copying."""
        t = _new(Tensor)
        t._data = data
        t._requires_grad = requires_grad
        t._node = node
        t._vc = vc if vc is not None else [0] if not (
            _inference_seen[0] and _grad.inference) else _InferenceCounter((0,))
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
        data = self._data
        return data.device if type(data) is DeviceArray else CPU

    @property
    def _version(self) -> int:
        """The count of in-place updates of this tensor's data, shared with its views
        (torch's version counter, which autograd checks saved values against)."""
        if type(self._vc) is _InferenceCounter:
            raise RuntimeError("Inference tensors do not track version counter.")
        return self._vc[0]

    def is_inference(self) -> bool:
        """Whether this tensor was made under inference_mode (or is a view of one)."""
        return isinstance(self._vc, _InferenceCounter)

    # tensors live on the CPU, or on CUDA through a device backend (devices.py)
    @property
    def is_cpu(self) -> bool:
        return type(self._data) is not DeviceArray

    @property
    def is_cuda(self) -> bool:
        return type(self._data) is DeviceArray and self._data.device.type == "cuda"

    @property
    def is_meta(self) -> bool:
        return type(self._data) is DeviceArray and self._data.device.type == "meta"

    is_mps = is_xpu = is_xla = is_ipu = is_mtia = is_hpu = is_maia = False
    is_vulkan = is_mkldnn = is_sparse = is_quantized = is_nested = False
    is_sparse_csr = False   # sparse tensors are subclasses (tracecomp/sparse/)

    def get_device(self) -> int:
        """The index of the CUDA device holding the tensor; -1 for the CPU, as torch."""
        data = self._data
        return data.device.index if type(data) is DeviceArray else -1

    def is_pinned(self, device=None) -> bool:
        return False

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

    @property
    def itemsize(self) -> int:
        return self._data.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.numel() * self._data.dtype.itemsize

    def ndimension(self) -> int:
        return self._data.ndim

    def is_signed(self) -> bool:
        return np_kind(self._data.dtype) in "fic"

    def is_complex(self) -> bool:
        return self._data.dtype.kind == "c"

    def is_floating_point(self) -> bool:
        return np_kind(self._data.dtype) == "f"

    def is_contiguous(self, memory_format=None) -> bool:
        if memory_format is None:
            return bool(self._data.flags.c_contiguous)
        from .memory_format import is_laid_out
        return is_laid_out(self._data, memory_format)

    def stride(self, dim=None):
        strides = tuple(s // self._data.dtype.itemsize for s in self._data.strides)
        return strides if dim is None else strides[_wrap_dim(dim, self._data.ndim, "stride")]

    def data_ptr(self) -> int:
        return 0 if self.is_meta else self._data.ctypes.data     # no memory: torch's 0

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
        if requires_grad and isinstance(self._vc, _InferenceCounter) and not _grad.inference:
            raise RuntimeError("Setting requires_grad=True on inference tensor outside "
                               "InferenceMode is not allowed.")
        if requires_grad and np_kind(self._data.dtype) not in "fc":
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients "
                               f"(or complex); this one is {self.dtype}. Convert it first with "
                               f".float().")
        data = self._data
        if requires_grad and not self._requires_grad and type(data) is not np.ndarray and \
                type(data) is not DeviceArray and data.requires_grad and \
                context.current() is not None:
            context.current().made_leaf(self)   # a traced value (tracing/tracer.py)
        self._requires_grad = bool(requires_grad)
        return self

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    def detach(self) -> "Tensor":
        """A tensor sharing this one's data (and version counter) with no history."""
        vc = self._vc   # an inference tensor's, outside inference mode: a counter of its own
        out = Tensor._make(self._data, False, None, vc if type(vc) is list else
                           grad_mode.detached_counter(vc) or vc)
        if context._active is not None:     # tracing: an update of either is both's
            _same_memory_while_tracing(self, out)
        return out

    def detach_(self) -> "Tensor":
        self._node = None
        self._requires_grad = False
        return self

    @property
    def data(self) -> "Tensor":
        """The values without history, sharing memory (not the version counter: in-place
        changes through it are hidden from autograd, as torch's)."""
        vc = self._vc   # an inference tensor's is one (grad_mode.detached_counter)
        out = Tensor._make(self._data, False, None, None if type(vc) is list else
                           grad_mode.detached_counter(vc) or _InferenceCounter((0,)))
        if context._active is not None:     # tracing: an update of either is both's
            _same_memory_while_tracing(self, out)
        return out

    @data.setter
    def data(self, new):
        data = new._data if isinstance(new, Tensor) else np.asarray(new)
        if type(data) is not np.ndarray:
            _assigned_while_tracing(self)   # `p.data = traced`: put back when it ends
        self._data = data

    def retain_grad(self):
        if self._node is None:
            return
        if _traced(self):
            raise _gradient_watch_error("retain_grad()")
        self._retains_grad = True
        self._node.retain = weakref.ref(self)

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def register_hook(self, hook):
        """`hook(grad) -> Tensor or None` runs when this tensor's gradient is computed."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if _traced(self):
            raise _gradient_watch_error("register_hook(...)")
        if self._node is not None:   # a non-leaf's gradient passes through its node
            if self._node.hooks is None:
                self._node.hooks = []
            hooks = self._node.hooks
        else:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
            _leaf_hooks_changed()
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """`hook(tensor) -> None` runs after a backward has added into this leaf's .grad
        (torch's way to fuse an optimizer step into the backward)."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._node is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf "
                               "tensors")
        if self._post_accumulate_hooks is None:
            self._post_accumulate_hooks = []
        hooks = self._post_accumulate_hooks
        hooks.append(hook)
        _leaf_hooks_changed()
        return _HookHandle(hooks, hook)

    # --- leaving the tensor world -------------------------------------------------------
    def numpy(self, force=False) -> np.ndarray:
        if self._requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        if type(self._data) is not np.ndarray:
            self._data.__array__()      # a traced value: a TraceError naming the user's line;
        return self._data               # a device's: torch's TypeError (use .cpu())

    def item(self):
        data = self._data
        if type(data) is not np.ndarray and type(data) is not DeviceArray:
            return data.item_of(self)   # a traced value (tracing/value.py)
        if data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted "
                               f"to Scalar; .item() needs exactly one element")
        return self._one_value()

    def tolist(self):
        return self._host().tolist()

    def _host(self):
        """The values as a numpy array: a device tensor's copied back (item(), printing)."""
        data = self._data
        if type(data) is np.ndarray:
            return data
        if type(data) is DeviceArray:
            return to_host(data)
        return data.__array__()         # a traced value: a TraceError naming the user's line

    def __array__(self, dtype=None, copy=None):
        if type(self._data) is DeviceArray:
            self._data.__array__()      # torch's TypeError: copy it to the host first
        return self._data if dtype is None else self._data.astype(dtype)

    # numpy meets a tensor as torch's does: a binary op with a numpy scalar or array gives
    # way to the tensor's own (np.float32(0.5) * loss keeps its history), and a ufunc or
    # function numpy computes on the values (np.exp(t), np.clip(t, 0, 1)) hands back a
    # tensor, a bool result as uint8 (torch's __array_wrap__ does both)
    __array_priority__ = 1000

    def __array_wrap__(self, array, context=None, return_scalar=False):
        if array.dtype == np.bool_:
            array = array.astype(np.uint8)
        return Tensor._make(array)

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        """The rows, all made now (torch unbinds), as views sharing the version counter."""
        data = self._data
        if data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        if type(data) is np.ndarray and not (self._requires_grad and _grad.enabled):
            # no tape to record: numpy's views directly (what self[i] gives, only cheaper)
            vc, mode = self._vc, made_in_grad(self)
            rows = [Tensor._make(data[i, ...], False, None, vc) for i in range(data.shape[0])]
            for i, row in enumerate(rows):
                row._view = (self, None, i, mode)   # replayed as self[i] (inplace_view)
            if self._requires_grad:     # grad mode is off: torch's views made under no_grad
                for row in rows:
                    no_grad_view(row)
            return iter(rows)
        return iter([self[i] for i in range(data.shape[0])])

    def _scalar(self, what):
        if self._data.size != 1:
            raise RuntimeError(f"{what} of a Tensor with {self._data.size} elements is "
                               f"ambiguous; it needs exactly one element")
        return self._one_value()

    def _one_value(self):
        """The value of a one-element tensor as a Python number (item(), float(), bool())."""
        if self.is_meta:
            raise RuntimeError(NO_ITEM)
        return self._host().reshape(()).item()

    def __bool__(self):
        data = self._data
        if type(data) is not np.ndarray and type(data) is not DeviceArray:
            # a traced value: an assert's truth test becomes a guard (tracing/asserts.py)
            return data.truth_of(self, sys._getframe(1))
        return bool(self._scalar("Boolean value"))

    def __float__(self):
        if self._requires_grad and _grad.enabled:
            _warn_scalar_with_grad()
        return float(self._scalar("float()"))

    def __int__(self):
        return int(self._scalar("int()"))

    def __complex__(self):
        if self._requires_grad and _grad.enabled:
            _warn_scalar_with_grad()
        return complex(self._scalar("complex()"))

    def __index__(self):
        data = self._data
        if np_kind(data.dtype) not in "iub":
            raise TypeError("only integer tensors of a single element can be converted "
                            "to an index")
        if data.ndim == 0 and type(data) is np.ndarray:     # the usual case: x[i:i + 8]
            return int(data)
        return int(self._scalar("index"))

    def __repr__(self):
        return format_tensor(self)

    def __format__(self, spec):
        # as torch: a plain 0-d tensor formats as its number ('{}'.format(correct / total)
        # prints 9.765625), a Parameter or a larger tensor as its repr
        if self._data.ndim == 0 and type(self) is Tensor:
            if spec or type(self._data) is np.ndarray:      # a traced one: item() says why
                return format(self.item(), spec)
        elif spec:
            raise TypeError(f"unsupported format string passed to {type(self).__name__}"
                            f".__format__")
        return repr(self)

    def __reduce_ex__(self, protocol):
        """Pickled as torch pickles a tensor (DataLoader workers, multiprocessing queues,
        pickle.dumps): its values, requires_grad and device, no history; a Parameter
        stays one. (tracecomp.save's files hold no pickle: serialization.py.)"""
        _unshared(self, "pickled")
        data = self._data
        # a meta tensor has no values: its shape and dtype stand in for them
        held = (tuple(data.shape), data.dtype) if self.is_meta else np.array(to_host(data))
        return (_unpickle, (held, self._requires_grad, str(self.device)))

    def __copy__(self):
        """copy.copy(t), as torch's: a tensor over the same memory with the same
        requires_grad and no history (matplotlib copies what it plots)."""
        _unshared(self, "copied")
        return Tensor._make(self._data, self._requires_grad)

    def __getattr__(self, name):
        # only reached for names a tensor does not have: a torch method we lack raises
        # NotImplementedError naming it (and hasattr() still answers False)
        from .support import missing_tensor_attribute
        missing_tensor_attribute(self, name)

    def __deepcopy__(self, memo):
        """A leaf's copy: new storage, requires_grad, .grad and the attributes code set on
        it (`t._optim`), as torch's; tensors with history refuse (history is not copied)."""
        if self._node is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) "
                               "support the deepcopy protocol at the moment. If you were "
                               "attempting to deepcopy a module, this may be because of a "
                               "torch.nn.utils.weight_norm usage, see "
                               "https://github.com/pytorch/pytorch/pull/103001")
        if id(self) in memo:
            return memo[id(self)]
        new = memo[id(self)] = Tensor._make(self._data.copy(), self._requires_grad)
        if self.grad is not None:
            new.grad = self.grad.__deepcopy__(memo)
        for name in self.__dict__.keys() - dir(Tensor):     # not ours (grad, _view, hooks)
            setattr(new, name, copy.deepcopy(self.__dict__[name], memo))
        return new


def _unshared(t, how):
    """A value inside compiled code is no tensor of values yet: it cannot leave it."""
    if type(t._data) is not np.ndarray and type(t._data) is not DeviceArray:
        raise TypeError(f"a tensor inside compiled code cannot be {how} (shape "
                        f"{list(t.shape)}): return it from the compiled function first")


def _unpickle(array, requires_grad, where):
    """A pickled tensor again (Tensor.__reduce_ex__; a Parameter has its own): `array` is
    its values, or (shape, dtype) for a meta tensor."""
    if where == "cpu":
        t = Tensor._make(array)
    elif where == "meta":
        from .meta_device import empty
        t = Tensor._make(empty(*array, device(where)))
    else:
        from .devices import to_device
        t = Tensor._make(to_device(array, device(where)))
    return t.requires_grad_(True) if requires_grad else t


def _init(t, data, requires_grad, node, vc=None):
    t._data = data
    t._requires_grad = requires_grad
    t._node = node
    t._vc = vc if vc is not None else [0]


def _traced(t):
    """Is t a tensor being traced (its data a graph value, not an array)?"""
    return type(t._data) is not np.ndarray and type(t._data) is not DeviceArray


def _gradient_watch_error(what):
    """A hook or retain_grad on a traced tensor would never see a gradient: the compiled
    backward computes them all in one graph (torch.compile splits its graph there)."""
    return TraceError(
        f"tensor.{what} on a tensor inside compiled code{user_line()}: the compiled backward "
        f"runs as one graph, so the gradient of a tensor made inside it never passes through "
        f"a hook (a Grad-CAM forward hook's `output.register_hook(...)`). Fix: register it "
        f"outside the compiled function (on its input, a parameter or its output).")


class _HookHandle:
    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)
            _leaf_hooks_changed()


def _leaf_hooks_changed():
    """A leaf's hooks changed: compiled calls that walk the modules holding it look again
    (compiler/state_walk.py keeps each parameter's hooks in the signature, as a module's)."""
    from .nn import structure
    structure.changed()


def _wrap_dim(dim, ndim, op):
    """A dim in [-ndim, ndim) as a non-negative int, with torch's error otherwise."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: Dimension out of range (expected to be in range of "
                         f"[{-n}, {n - 1}], but got {dim})")
    return dim % n


def format_tensor(t: Tensor) -> str:
    """torch-style repr: tensor([1.0000, 2.5000], requires_grad=True) (tensor_str.py)."""
    a = t._data
    if getattr(type(a), "batched", False):      # inside vmap: torch's BatchedTensor repr
        return repr(a)
    from . import tensor_str
    if not isinstance(a, (np.ndarray, DeviceArray)):     # a traced value: a graph node
        return tensor_str.traced_text(a)
    return tensor_str.format_tensor(t, t._node.name() if t._node is not None else None)


_SCALAR_WARNED = [False]


def _warn_scalar_with_grad():
    """torch's warning, once per process, on float() or complex() of a tensor that requires
    grad (not int(), bool() or item()) while grad mode is on (not under no_grad: LBFGS's
    step reads its closure's loss so): the number is off the tape."""
    if not _SCALAR_WARNED[0]:
        _SCALAR_WARNED[0] = True
        import warnings
        warnings.warn("Converting a tensor with requires_grad=True to a scalar may lead to "
                      "unexpected behavior.\nConsider using tensor.detach() first.",
                      UserWarning, stacklevel=user_stacklevel())
