"""Lazy modules: parameters whose shape comes from the first input (torch.nn's
UninitializedParameter / UninitializedBuffer and LazyModuleMixin), and LazyLinear,
LazyConv1d/2d/3d, LazyConvTranspose1d/2d/3d, LazyBatchNorm1d/2d/3d, LazyInstanceNorm1d/2d/3d.

An uninitialized parameter is a real Parameter object holding no array yet, so an
optimizer built before the first call holds the very object that the first call fills
(materialize() swaps in the array and turns the object into a plain Parameter, as torch
does); the module then becomes its non-lazy class (LazyLinear -> Linear). Loading a
state_dict into a lazy module materializes from the checkpoint's shapes. Any other use
before the first call raises torch's errors.

Compiled: shapes are part of a compiled signature, so a lazy module must run once
eagerly first (torch's "dry run"); compiling one that still has uninitialized parameters
stops with torch's message that says to call forward first.
"""
import numpy as np

from ... import dtypes
from ...creation import empty, tensor
from ...debug_log import emit
from ...devices import default_device, default_set, placed
from ...grad_mode import no_grad
from ...tensor import Tensor
from ...torch_function import _disabled_torch_function_impl
from ..parameter import Parameter
from .batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .instancenorm import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from .linear import Linear

_USE_ERROR = ("Attempted to use an uninitialized parameter in {}. This error happens when you "
              "are using a `LazyModule` or explicitly manipulating "
              "`torch.nn.parameter.UninitializedParameter` objects. When using LazyModules "
              "Call `forward` with a dummy batch to initialize the parameters before calling "
              "torch functions")
_SHAPE_ERROR = ("Can't access the shape of an uninitialized parameter or buffer. This error "
                "usually happens in `load_state_dict` when trying to load an uninitialized "
                "parameter into an initialized one. Call `forward` to initialize the "
                "parameters before accessing their attributes.")


class _NoData:
    """Stands in for the array of an uninitialized tensor: it knows its dtype and the device
    it will be made on (None: the CPU), and every op that reaches for its values or shape
    fails with torch's message."""

    def __init__(self, dtype, device=None):
        self.dtype = np.dtype(dtype)
        self.device = device

    def _use(self, *args, **kwargs):
        raise ValueError(_USE_ERROR.format("an operation"))

    shape = ndim = size = property(_use)
    __array__ = __len__ = __getitem__ = _use

    def copy(self, *args, **kwargs):
        return _NoData(self.dtype, self.device)


class UninitializedTensorMixin:
    """What UninitializedParameter and UninitializedBuffer share."""

    __torch_function__ = _disabled_torch_function_impl     # as Parameter's

    def materialize(self, shape, device=None, dtype=None):
        """Give the tensor an (uninitialised) array of `shape` and make it a plain
        Parameter / Tensor; the object keeps its identity."""
        dtype = self._data.dtype if dtype is None else dtypes.to_np(dtype)
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        where = self._data.device if device is None else placed(device)
        self._data = np.empty(shape, dtype=dtype) if where is None or where.type == "cpu" \
            else empty(shape, dtype=dtype, device=where)._data     # 'meta': no memory
        self.__class__ = self.cls_to_become

    @property
    def shape(self):
        raise RuntimeError(_SHAPE_ERROR)

    def size(self, dim=None):
        raise RuntimeError(_SHAPE_ERROR)

    def _uninitialized_like(self, dtype, requires_grad):
        new = object.__new__(type(self))
        Tensor.__init__(new, 0)
        new._data = _NoData(dtype, self._data.device)
        new._requires_grad = requires_grad
        return new

    @property
    def data(self):
        """An empty plain tensor, as torch gives: writes to it (d2l's
        `net.weight.data.normal_(0, 0.01)` before the first call) change nothing, since
        the first call draws the real values."""
        return Tensor._make(np.empty((0,), self._data.dtype), False, None)

    @data.setter
    def data(self, new):
        Tensor.data.fset(self, new)

    def detach(self):
        return self._uninitialized_like(self._data.dtype, False)

    def to(self, *args, dtype=None, **kwargs):
        """Only a dtype change means anything before materialization (as in torch)."""
        for a in args:
            if isinstance(a, (dtypes.DType, np.dtype)) or a in (float, int, bool):
                dtype = a
        if dtype is None:
            return self
        return self._uninitialized_like(dtypes.to_np(dtype), self._requires_grad)

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def half(self):
        return self.to(dtypes.float16)

    def bfloat16(self):
        return self.to(dtypes.bfloat16)

    def cpu(self):
        return self

    def __deepcopy__(self, memo):
        if id(self) not in memo:
            memo[id(self)] = self._uninitialized_like(self._data.dtype, self._requires_grad)
        return memo[id(self)]

    def __repr__(self):
        return f"<{type(self).__name__}>"


def _empty_data(dtype, device):
    """An uninitialized tensor's data: made on `device` when given, else on the default
    device if one is set (`with torch.device('meta'):`), as torch's."""
    where = placed(device) if device is not None else \
        default_device() if default_set() else None
    return _NoData(dtypes.to_np(dtype) if dtype is not None else np.float32, where)


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """A Parameter whose shape is not known yet; becomes a Parameter on materialize()."""

    cls_to_become = Parameter

    def __new__(cls, requires_grad=True, device=None, dtype=None):
        p = Parameter.__new__(cls, None, requires_grad)
        p._data = _empty_data(dtype, device)
        return p

    def __init__(self, requires_grad=True, device=None, dtype=None):
        pass


class UninitializedBuffer(UninitializedTensorMixin, Tensor):
    """A buffer whose shape is not known yet; becomes a Tensor on materialize()."""

    cls_to_become = Tensor

    def __new__(cls, requires_grad=False, device=None, dtype=None):
        return object.__new__(cls)

    def __init__(self, requires_grad=False, device=None, dtype=None):
        Tensor.__init__(self, 0)
        self._data = _empty_data(dtype, device)
        self._requires_grad = requires_grad


def is_lazy(t):
    return isinstance(t, UninitializedTensorMixin)


def has_uninitialized(module):
    """Whether a module or any submodule still waits for its first call."""
    return any(isinstance(m, LazyModuleMixin) and m.has_uninitialized_params()
               for m in module.modules())


class LazyModuleMixin:
    """A module whose parameters are inferred from its first input: a forward pre-hook
    calls initialize_parameters(*args) once, then the module becomes cls_to_become."""

    cls_to_become = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._initialize_hook = self.register_forward_pre_hook(self._infer_parameters,
                                                               with_kwargs=True)

    def has_uninitialized_params(self):
        tensors = list(self._parameters.values()) + list(self._buffers.values())
        return any(is_lazy(t) for t in tensors)

    def initialize_parameters(self, *args, **kwargs):
        raise NotImplementedError(f"initialize_parameters is not implemented for "
                                  f"{self.__class__.__name__}")

    @staticmethod
    def _infer_parameters(module, args, kwargs=None):
        module.initialize_parameters(*args, **(kwargs or {}))
        if module.has_uninitialized_params():
            raise RuntimeError(f"module {module._get_name()} has not been fully initialized")
        module._initialize_hook.remove()
        del module._initialize_hook
        if module.cls_to_become is not None:
            module.__class__ = module.cls_to_become

    def __deepcopy__(self, memo):
        # uninitialized buffers stay placeholders in the copy (Module's deepcopy would
        # rebuild them as plain tensors)
        for b in self._buffers.values():
            if is_lazy(b):
                b.__deepcopy__(memo)
        return super().__deepcopy__(memo)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys, error_msgs):
        # torch's _lazy_load_hook: an uninitialized entry takes the checkpoint's shape
        for table in (self._parameters, self._buffers):
            for name, t in table.items():
                key = prefix + name
                if is_lazy(t) and key in state_dict and not is_lazy(state_dict[key]):
                    with no_grad():
                        t.materialize(tuple(state_dict[key].shape))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict,
                                      missing_keys, unexpected_keys, error_msgs)


class LazyLinear(LazyModuleMixin, Linear):
    """Linear whose in_features is the last dim of the first input."""

    cls_to_become = Linear

    def __init__(self, out_features, bias=True, device=None, dtype=None):
        super().__init__(0, 0, False)
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_features = out_features
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input):
        if self.has_uninitialized_params():
            with no_grad():
                self.in_features = input.shape[-1]
                self.weight.materialize((self.out_features, self.in_features))
                if self.bias is not None:
                    self.bias.materialize((self.out_features,))
                self.reset_parameters()


class _LazyConvMixin(LazyModuleMixin):
    """in_channels from the first input's channel dim (dim 1, or 0 when unbatched)."""

    def _lazy_init(self, out_channels, bias, device, dtype):
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_channels = out_channels
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.in_channels != 0:
            super().reset_parameters()

    def initialize_parameters(self, input, *args, **kwargs):
        if not self.has_uninitialized_params():
            return
        self.in_channels = self._get_in_channels(input)
        if self.in_channels % self.groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        with no_grad():
            if self.transposed:
                shape = (self.in_channels, self.out_channels // self.groups)
            else:
                shape = (self.out_channels, self.in_channels // self.groups)
            self.weight.materialize(shape + tuple(self.kernel_size))
            if self.bias is not None:
                self.bias.materialize((self.out_channels,))
            self.reset_parameters()

    def _get_in_channels(self, input):
        unbatched, batched = self._dims + 1, self._dims + 2
        if input.dim() not in (unbatched, batched):
            raise RuntimeError(f"Expected {unbatched}D (unbatched) or {batched}D (batched) "
                               f"input to {self.__class__.__name__}, but got input of size: "
                               f"{input.shape}")
        return input.shape[1] if input.dim() == batched else input.shape[0]


class _LazyConv(_LazyConvMixin):
    """LazyConv1d/2d/3d: torch's signature (in_channels from the first input)."""

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(0, 0, kernel_size, stride, padding, dilation, groups, False,
                         padding_mode)
        self._lazy_init(out_channels, bias, device, dtype)


class _LazyConvTranspose(_LazyConvMixin):
    """LazyConvTranspose1d/2d/3d: torch's signature (in_channels from the first input)."""

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                 groups=1, bias=True, dilation=1, padding_mode="zeros", device=None,
                 dtype=None):
        super().__init__(0, 0, kernel_size, stride, padding, output_padding, groups, False,
                         dilation, padding_mode)
        self._lazy_init(out_channels, bias, device, dtype)


class LazyConv1d(_LazyConv, Conv1d):
    cls_to_become = Conv1d


class LazyConv2d(_LazyConv, Conv2d):
    cls_to_become = Conv2d


class LazyConv3d(_LazyConv, Conv3d):
    cls_to_become = Conv3d


class LazyConvTranspose1d(_LazyConvTranspose, ConvTranspose1d):
    cls_to_become = ConvTranspose1d


class LazyConvTranspose2d(_LazyConvTranspose, ConvTranspose2d):
    cls_to_become = ConvTranspose2d


class LazyConvTranspose3d(_LazyConvTranspose, ConvTranspose3d):
    cls_to_become = ConvTranspose3d


class _LazyNormBase(LazyModuleMixin):
    """num_features from the first input's dim 1."""

    def __init__(self, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None):
        super().__init__(0, eps, momentum, False, False, dtype=dtype)
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = UninitializedParameter(device=device, dtype=dtype)
            self.bias = UninitializedParameter(device=device, dtype=dtype)
        if track_running_stats:
            self.running_mean = UninitializedBuffer(device=device, dtype=dtype)
            self.running_var = UninitializedBuffer(device=device, dtype=dtype)
            self.num_batches_tracked = tensor(0, dtype=dtypes.int64)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.num_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input):
        if not self.has_uninitialized_params():
            return
        self.num_features = input.shape[1]
        with no_grad():
            for t in (self.weight, self.bias, self.running_mean, self.running_var):
                if t is not None:
                    t.materialize((self.num_features,))
            self.reset_parameters()


class LazyBatchNorm1d(_LazyNormBase, BatchNorm1d):
    cls_to_become = BatchNorm1d


class LazyBatchNorm2d(_LazyNormBase, BatchNorm2d):
    cls_to_become = BatchNorm2d


class LazyBatchNorm3d(_LazyNormBase, BatchNorm3d):
    cls_to_become = BatchNorm3d


# torch's lazy instance norms take BatchNorm's defaults (affine and running stats on)
class LazyInstanceNorm1d(_LazyNormBase, InstanceNorm1d):
    cls_to_become = InstanceNorm1d


class LazyInstanceNorm2d(_LazyNormBase, InstanceNorm2d):
    cls_to_become = InstanceNorm2d


class LazyInstanceNorm3d(_LazyNormBase, InstanceNorm3d):
    cls_to_become = InstanceNorm3d


def initialize_lazy(module):
    """Whether `module` has lazy parameters still waiting for their first input: a compiled
    call then runs eagerly, as torch.compile runs it, so that they take their shapes;
    every later call is compiled."""
    if not has_uninitialized(module):
        return False
    emit(1, f"[tracecomp] {type(module).__name__}: running the first call eagerly to "
             f"initialize its lazy parameters")
    return True
