"""tracecomp: PyTorch-style tensors, autograd and nn on numpy, and a JIT compiler for them.

Write torch code, import tracecomp instead (`import tracecomp as torch`): the same
names and semantics, eagerly on numpy. `tracecomp.compile` traces the same code into a
graph and compiles it.
"""
from . import fp_warnings  # noqa: F401  (numpy's inf/nan warnings: silent, as torch is)
from . import dtypes
from .dtypes import (DType, bool_ as bool, float16, float32, float64, int8, int16,  # noqa: A004
                     int32, int64, uint8)
from .tensor import Size, Tensor, device
from . import torch_function as _torch_function  # noqa: F401  (before any Tensor subclass)
from . import _C, _utils, overrides  # noqa: F401  (torch._C.DisableTorchFunctionSubclass, ...)
from . import tensor_methods  # noqa: F401  (attaches ops to Tensor)
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .creation import (Generator, arange, as_tensor, empty, empty_like, eye,
                       from_numpy, full, full_like, initial_seed, linspace, manual_seed,
                       ones, ones_like, rand, rand_like, randint, randn, randn_like,
                       randperm, seed, tensor, zeros, zeros_like)
from .ops.elementwise import (abs, ceil, cos, eq, erf, exp, expm1, floor, floor_divide, ge,
                              gt, isfinite, isinf, isnan, le, log, log1p, logical_and,
                              logical_not, logical_or, logical_xor, lt, maximum, minimum, mul,
                              ne, neg, pow, relu, remainder, round, rsqrt, sigmoid, sign, sin,
                              sqrt, tanh, trunc, where)
from .ops.elementwise import bitwise_and, bitwise_not, bitwise_or, bitwise_xor, clone
from .ops.reduce import argmax, argmin
from .ops.linalg import matmul
from .ops.indexing import gather, scatter_add
from .composite import (all, allclose, amax, amin, any, bmm,
                        broadcast_tensors, broadcast_to, cat, chunk, clamp, clip, concat,
                        concatenate, dot, equal, flatten, lerp,
                        log_softmax, logsumexp, masked_fill, max, mean, min, mm, movedim,
                        narrow, norm, numel, permute, reciprocal, repeat, reshape,
                        softmax, split, square, squeeze, stack, std, sum, swapaxes, swapdims,
                        t, transpose, tril, triu, unbind, unflatten, unsqueeze, var, var_mean)
from .tensor_methods import add, div, sub
from .ops.elementwise import div as true_divide
from .errors import (ShapeError, TraceError, TracecompError, _assert)
from . import autograd
from . import _logging  # noqa: F401  (torch._logging.set_logs)
# --- issue 9: elementwise math, creation, random and dtype utilities ---
from .ops.elementwise import abs as absolute
from .ops.special import digamma, polygamma
from .ops import complex_parts as _complex_parts  # noqa: F401  (complex ops' compiled rules)
from .composite_math import (addcdiv, addcmul, clamp_max, clamp_min, deg2rad, exp2,
                             float_power, fmax, fmin,
                             frac, heaviside, isclose, log2, log10, logaddexp, logaddexp2,
                             logit, meshgrid, nan_to_num, positive, rad2deg, sgn, signbit,
                             sinc, xlogy)
from .creation import logspace
from .fake_quantize import fake_quantize_per_channel_affine, fake_quantize_per_tensor_affine
from .triangle_indices import tril_indices, triu_indices
from . import random, return_types, special
from .random import (bernoulli, binomial, fork_rng, get_rng_state, multinomial, normal,
                     poisson, randint_like, set_rng_state)
from .creation import default_generator
from .dtypes import (DType as dtype, bfloat16, cdouble, cfloat, chalf, complex32,
                     complex64, complex128, get_default_dtype, set_default_dtype, uint16,
                     uint32, uint64, promote_types, can_cast)
from .dtype_info import (finfo, iinfo, is_complex, is_floating_point, is_tensor,
                         result_type)
from .threads import get_num_threads, set_num_threads
from .layouts import LAYOUTS as _LAYOUTS, layout
from .memory_format import (channels_last, channels_last_3d, contiguous_format,
                            memory_format, preserve_format)
from math import e, inf, nan, pi  # noqa: E402 - torch.pi, torch.inf (masks: -torch.inf)
# --- issue 9: reductions, scans, sorting, shape and index ops ---
# (these rebind some names above: the same ops, with axis=/keepdims= and out= accepted)
from .composite_reduce import all, amax, amin, any, argmax, argmin  # noqa: F811,A004
from .composite_reduce import logsumexp, max, mean, min, norm, std, sum  # noqa: F811,A004
from .composite_reduce import var, var_mean  # noqa: F811
from .composite_reduce import (aminmax, count_nonzero, cummax, cummin, cumprod, cumsum, diff,
                               logcumsumexp, median, mode, nanmean, nanmedian, nansum, prod,
                               std_mean)
from .composite_sort import (argsort, bincount, bucketize, histc, histogram, isin, kthvalue,
                             msort, searchsorted, sort, topk, unique, unique_consecutive)
from .composite_shape import (atleast_1d, atleast_2d, atleast_3d, block_diag, cartesian_prod,
                              column_stack, combinations, diag, diag_embed, diagflat, diagonal,
                              dstack, flip, fliplr, flipud, hstack, moveaxis, narrow_copy,
                              ravel, repeat_interleave, roll, rot90, row_stack, select, tile,
                              trace, vstack)
from .composite_index import nonzero, where  # noqa: F811
from .composite_index import scatter_add_ as scatter_add  # noqa: F811
from .composite_index import (argwhere, index_add, index_copy, index_fill, index_put,
                              index_select, masked_scatter, masked_select, scatter, take,
                              take_along_dim)
from .composite_index import scatter_reduce_op as scatter_reduce
from .composite_index import index_reduce, put_flat as put
from .composite_linalg import (addbmm, addmm, addmv, addr, baddbmm, cdist, cross, dist, ger,
                               inner, kron, mv, outer)
from .einsum import einsum, tensordot
from .foreach_ops import *  # noqa: F403  (torch._foreach_add_, _foreach_lerp_, ...)
from . import fft, linalg
from . import spectral  # noqa: F401  (stft, istft: declared public there)
from .linalg_legacy import det, inverse, logdet, pinverse, qr, slogdet, svd
from .linalg_legacy import (cholesky, cholesky_inverse, cholesky_solve, eig, geqrf, lstsq, lu,
                            lu_solve, matrix_exp, matrix_rank, orgqr, ormqr, solve, symeig,
                            triangular_solve)
from .linalg_lu import lu_unpack
from . import sparse
from .sparse import (hspmm, smm, sparse_coo_tensor, sparse_csc_tensor, sparse_csr_tensor,
                     spmm)
from .out_ops import add, bmm, cat, concat, concatenate, div, matmul, mm, mul  # noqa: F811
from .out_ops import stack, sub, true_divide  # noqa: F811
# --- issue 9: devices and legacy tensor types ---
from .devices import get_default_device, set_default_device
from .legacy_types import CPU_TYPES as _LEGACY, is_nonzero, set_default_tensor_type
FloatTensor, DoubleTensor, HalfTensor = (_LEGACY[n] for n in
                                         ("FloatTensor", "DoubleTensor", "HalfTensor"))
ByteTensor, CharTensor, ShortTensor = (_LEGACY[n] for n in
                                       ("ByteTensor", "CharTensor", "ShortTensor"))
IntTensor, LongTensor, BoolTensor = (_LEGACY[n] for n in ("IntTensor", "LongTensor",
                                                          "BoolTensor"))
BFloat16Tensor = _LEGACY["BFloat16Tensor"]
from . import accelerator, amp, backends, cpu, cuda, version  # noqa: E402
from .cuda import amp as _cuda_amp  # noqa: E402, F401  (tracecomp.cuda.amp; cuda/ cannot import it: amp asks cuda)
from .amp import autocast  # noqa: E402
from .amp.autocast_mode import (clear_autocast_cache, get_autocast_cpu_dtype,  # noqa: E402
                                get_autocast_dtype, get_autocast_gpu_dtype,
                                is_autocast_cache_enabled, is_autocast_cpu_enabled,
                                is_autocast_enabled, set_autocast_cache_enabled,
                                set_autocast_dtype, set_autocast_enabled)
from .backends import (are_deterministic_algorithms_enabled,  # noqa: E402
                       get_float32_matmul_precision,
                       is_deterministic_algorithms_warn_only_enabled,
                       set_float32_matmul_precision, use_deterministic_algorithms)
from .cuda import OutOfMemoryError  # noqa: E402

float = float32  # noqa: A001 - torch.float
double = float64
half = float16
long = int64
int = int32  # noqa: A001
short = int16
negative = neg
multiply = mul
divide = div
subtract = sub

# torch's version, not ours: programs check `torch.__version__` to choose which torch API to
# call, and this is the API tracecomp follows. tracecomp's own is tracecomp.version.tracecomp
# (and the installed package's metadata).
__version__ = "2.13.0"

from . import nn, optim  # noqa: E402
from . import utils  # noqa: E402
from . import distributed  # noqa: E402  (MPI itself starts at init_process_group)
from . import _dynamo  # noqa: E402  (torch._dynamo.mark_dynamic)
from .control_flow import cond, while_loop  # noqa: E402  (torch.cond, torch.while_loop)
from . import _higher_order_ops  # noqa: E402, F401  (their torch module paths)
from . import func  # noqa: E402  (torch.func)
from .func import vmap  # noqa: E402  (torch.vmap is torch.func.vmap)
# --- issue 9: programs C (d2l, tutorials) ---
from .tensor_str import get_printoptions, printoptions, set_printoptions  # noqa: E402
from . import torch_nn_aliases  # noqa: E402  (torch.conv2d, torch.dropout(x, p, train), ...)
from . import view_copies  # noqa: E402, F401  (torch.permute_copy, ...: declared public there)
from . import native_ops  # noqa: E402, F401  (torch.native_layer_norm, ...: declared there)
from . import numeric_gradient  # noqa: E402, F401  (torch.gradient: declared there)
from . import linalg_lowrank  # noqa: E402, F401  (torch.svd_lowrank, pca_lowrank: declared there)
from . import histograms_nd  # noqa: E402, F401  (torch.histogramdd: declared there)
from . import segments  # noqa: E402, F401  (torch.segment_reduce: declared there)
from .storages import TypedStorage, UntypedStorage  # noqa: E402, F401  (Tensor.storage())
from . import weight_norm_ops  # noqa: E402, F401  (torch.norm_except_dim, torch._weight_norm)

# A torch name we lack raises NotImplementedError naming it, as does importing a torch
# subpackage we lack (`import tracecomp.fft`); both point to SUPPORT.md (support.py).
from . import support as _support  # noqa: E402

# the ops that declare themselves public beside their definition (ops/public.py)
from .ops import public as _public  # noqa: E402

_public.export("torch", globals())

# the elementwise functions, declared public above or imported, as torch.* takes them: with
# out= (torch.exp(x, out=y), torch.maximum(a, b, out=a)); the Tensor methods take no out=
from .out_ops import ELEMENTWISE_OUT as _ELEMENTWISE_OUT  # noqa: E402

_other = [name for name, fn in _ELEMENTWISE_OUT.items() if globals()[name] is not fn.__wrapped__]
assert not _other, f"out_ops wraps other functions than torch.{_other} are"
globals().update(_ELEMENTWISE_OUT)

# a view op that changes nothing still returns a new view, as torch's (identity_views.py)
from . import identity_views as _identity_views  # noqa: E402

_identity_views.wrap(globals())
einsum = _identity_views.einsum_op(einsum)

# torch.zeros(3, out=t) ...: the torch-level names take out= (internal calls stay direct)
from .torch_args import creating_into as _creating_into  # noqa: E402

(arange, empty, eye, full, linspace, logspace, ones, rand, randint, randn, randperm,
 zeros) = map(_creating_into, (arange, empty, eye, full, linspace, logspace, ones, rand,
                               randint, randn, randperm, zeros))

# Imported on first use, not by `import tracecomp` (~45 ms of it): the compiler and the
# checkpoint files. `tracecomp.compile` is then the driver's own function, as if imported.
_LAZY = {"compile": "tracecomp.compiler.api", "load": "tracecomp.serialization",
         "save": "tracecomp.serialization"}
_missing = _support.missing_in("torch")


def __getattr__(name):
    # submodules, imported on first use
    if name in ("compiler", "profiler", "functional", "distributions", "testing",
                "multiprocessing", "jit", "export", "hub", "fx", "library", "_inductor",
                "_functorch"):
        import importlib
        return importlib.import_module(f"tracecomp.{name}")
    module = _LAZY.get(name)
    if module is None:
        inplace = _inplace_function(name)
        return inplace if inplace is not None else _missing(name)
    import importlib
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def _inplace_function(name):
    """torch.sin_(x), torch.relu_(x), ...: torch's in-place functions are its tensors'
    in-place methods; made on first use for each that Tensor has."""
    from .torch_names import NAMES
    if not name.endswith("_") or name.startswith("_") or name not in NAMES["torch"] \
            or not hasattr(Tensor, name):
        return None

    def inplace(input, *args, **kwargs):
        return getattr(input, name)(*args, **kwargs)
    inplace.__name__ = inplace.__qualname__ = name
    globals()[name] = inplace
    return inplace


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


def _module_compile(self, *args, **kwargs):
    """nn.Module.compile, torch's in-place compile (compiler/api.py's compile_in_place),
    loading the compiler on first use as tracecomp.compile does."""
    import importlib
    importlib.import_module("tracecomp.compiler.api").compile_in_place(self, *args, **kwargs)


nn.Module.compile = _module_compile
globals().update({n: v for n, v in _LAYOUTS.items() if not n.startswith("_")})

# torch's keyword names for our ops' arguments (`torch.index_select(input=x, dim=0, index=i)`,
# `x.pow(exponent=2)`): torch_keywords.py
from . import torch_keywords as _torch_keywords  # noqa: E402

_torch_keywords.install(globals(), Tensor)
_support.install_finder()
from .creation import range  # noqa: E402,A004 - torch.range (deprecated in torch too)
