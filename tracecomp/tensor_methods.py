"""Attach ops to Tensor as methods and operators: one table, no logic of its own.

Every entry points at the function that `tracecomp.X` also is, so a method and the
function of the same name can never disagree.
"""
import warnings

import numpy as np

from . import composite as C
from . import composite_index as CI
from . import composite_math as CM
from . import context, dtypes, identity_views, indexing_sugar, inplace, inplace_shape, output_groups
from . import memory_format as mf
from .autograd import backward as _run_backward
from .device_methods import to
from .dispatch import bind, needs, regained
from .dtypes import np_kind
from .legacy_types import tensor_init
from .ops import bitshift as shifts
from .ops import elementwise as ew
from .ops import movement as mv
from .ops import reduce as rd
from .ops.indexing import gather, scatter_add
from .ops.linalg import matmul
from .tensor import Tensor
from .torch_args import is_one, number_first
from .user_code import user_stacklevel


def add(input, other, *rest, alpha=1):
    if rest:        # torch's deprecated add(input, alpha, other)
        (other,), alpha = number_first("add", "alpha", other, rest, alpha, 1)
    return _with_alpha(ew.add, input, other, alpha)


def sub(input, other, *rest, alpha=1):
    if rest:
        (other,), alpha = number_first("sub", "alpha", other, rest, alpha, 1)
    return _with_alpha(ew.sub, input, other, alpha)


def _is_low(x):
    return isinstance(x, Tensor) and x._data.dtype in dtypes.REDUCED


def _alpha_times(other, alpha, into):
    """other * alpha for a sum of dtype `into`. torch's add/sub kernels for a bfloat16 or
    float16 result take alpha in that dtype and compute input + alpha * other in float32,
    rounding once: so the product (exact in float32) stays float32 here."""
    if into not in dtypes.REDUCED:
        return other * alpha
    alpha = float(np.float32(alpha).astype(into)) if isinstance(alpha, float) else alpha
    return (ew.cast(other, dtypes.float32) if _is_low(other) else other) * alpha


def _with_alpha(op, input, other, alpha):
    if is_one(alpha):
        return op(input, other)
    if _is_low(input) or _is_low(other):
        want = dtypes.result_type(*(a._data if isinstance(a, Tensor) else a
                                    for a in (input, other)))
        wide = ew.cast(input, dtypes.float32) if _is_low(input) else input
        return ew.cast(op(wide, _alpha_times(other, alpha, want)), want)
    return op(input, other * alpha)


def div(input, other, *, rounding_mode=None):
    if rounding_mode is None:
        return ew.div(input, other)
    if rounding_mode == "floor":
        return _div_floor(input, other)
    if rounding_mode == "trunc":
        return _div_trunc(input, other)
    raise RuntimeError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but "
                     f"found '{rounding_mode}'")


def _div_floor(a, b):
    """floor_divide's values (torch's div_floor: 1 // 0.1 is 9, inf // 2 is NaN, which
    floor(a / b) gets wrong) with torch's zero derivative: floor_divide has none, so where a
    gradient is wanted the values go through a `where` whose other branch is floor(a / b)
    (floor's derivative is zero) and which always picks them."""
    q = ew.floor_divide(a, b)
    if np_kind(q._data.dtype) != "f" or not (needs(a) or needs(b)):
        return q
    return ew.where(ew.logical_or(q == q, q != q), q, ew.floor(ew.div(a, b)))


def _div_trunc(a, b):
    """a / b rounded toward zero. Integers stay integers, exactly: a - fmod(a, b) is a
    multiple of b (and no larger than a), so floor division of it is exact; a float
    quotient would lose digits above 2^24 (float32) and turn a division by 0 into a
    garbage integer instead of torch's error."""
    arrays = [x._data if isinstance(x, Tensor) else x for x in (a, b)]
    kind = np_kind(dtypes.result_type(*arrays))
    if kind == "b":
        from .errors import DTypeNotImplemented
        raise DTypeNotImplemented("\"div_trunc_cpu\" not implemented for 'Bool'")
    if kind not in "iu":
        return ew.trunc(ew.div(a, b))
    b = ew.divisor("div", a, b)        # checked once, for both steps
    return bind(ew.floor_divide_p, a - bind(ew.fmod_p, a, b), b)


def _div_(x, other, *, rounding_mode=None):
    """x.div_(y, rounding_mode=...): the division out of place (which checks an integer
    divisor for 0), committed into x."""
    if rounding_mode is None:
        return inplace.apply(x, ew.div_p, other)
    return inplace.commit(x, div(inplace.alias(x), other, rounding_mode=rounding_mode), "div_")


def _floor_divide_(x, other, op="floor_divide_"):
    return inplace.apply(x, ew.floor_divide_p, ew.divisor(op, x, other), op=op)


def _reflect(fn):
    """b OP a for Python scalars on the left (2 - x, 1 / x, 2 ** x)."""
    return lambda a, b: fn(b, a)


def _rdiv(x, other):
    """`other / x` for a non-tensor `other` (Tensor.__rtruediv__): torch computes it as
    x.reciprocal() * other, the reciprocal rounded first (so 3 / x can differ from a
    division in the last bit; its grad_fn a MulBackward0 of a ReciprocalBackward0)."""
    return ew.mul(C.reciprocal(x), other)


def _cmp(fn):
    def op(a, b):
        if b is None:
            return fn is ew.ne
        return fn(a, b)
    return op


def _caster(dtype):
    return lambda x: to(x, dtype)


def _where_method(x, cond, other):
    return ew.where(cond, x, other)


def contiguous(x, memory_format=mf.contiguous_format):
    """x itself where it lies in memory_format's order already, else a copy laid out so.
    A traced x's layout is not known: the copy may be x itself eagerly, so the trace holds
    them as sharing memory, and a write through either makes the other unreadable (a graph
    break whose eager run gives torch's answer), never a silent miss of the write."""
    if isinstance(x._data, np.ndarray) and mf.is_laid_out(x._data, memory_format):
        return x
    if memory_format is mf.preserve_format:
        if isinstance(x._data, np.ndarray):
            raise RuntimeError("preserve memory format is unsupported by the contiguous "
                               "operator")
        memory_format = mf.contiguous_format    # traced values are row-major (memory_format.py)
    out = ew.clone(x, memory_format=memory_format)
    tracer = context.current()
    if tracer is not None and not isinstance(x._data, np.ndarray):
        tracer.alias(x, out)
    return out


def _inplace_binary(prim, name):
    def method(x, other, *rest, alpha=1):
        if rest:    # torch's deprecated x.add_(alpha, other): `p.data.add_(-lr, grad)`
            (other,), alpha = number_first(name, "alpha", other, rest, alpha, 1)
        if not is_one(alpha):
            other = _alpha_times(other, alpha, x._data.dtype)
        return inplace.apply(x, prim, other)
    method.__name__ = name
    return method


def _bitwise_(x, other, name, op=None):
    """x &= other, x.bitwise_or_(other), ...: the bitwise op, written into x."""
    return inplace.commit(x, getattr(ew, name)(inplace.alias(x), other), op or name + "_")


def _shift_(prim, op):
    """x <<= n, x.bitwise_right_shift_(n), ...: the shift, written into x."""
    def method(x, other):
        inplace.check_promotion(x, other, op)
        return inplace.apply(x, prim, other, op=op)
    method.__name__ = op
    return method


def _squeeze_node(dim=None):
    """torch's node for x.squeeze_(): of all dims, of one, of a tuple of them."""
    return "SqueezeBackward3" if dim is None else \
        "SqueezeBackward5" if isinstance(dim, (tuple, list)) else "SqueezeBackward4"


def _shared(name):
    """Tensor.share_memory_ / is_shared: tracecomp.multiprocessing's, loaded on first use."""
    def method(x):
        from . import multiprocessing
        return getattr(multiprocessing, name)(x)
    method.__name__ = name
    return method


def _mul_(x, other):
    return inplace.apply(x, ew.mul_p, other)


def _scaled(v, value):
    # `value` may be a tensor (an optimizer's bias correction inside compiled code)
    return v if is_one(value) else v * value


def addcmul_(x, t1, t2, *rest, value=1):
    if rest:        # torch's deprecated addcmul_(value, t1, t2)
        (t1, t2), value = number_first("addcmul_", "value", t1, (t2, *rest), value, 2)
    if x._data.dtype in dtypes.REDUCED:     # torch's kernel: in float32, rounded once
        return inplace.commit(x, CM.addcmul(inplace.alias(x), t1, t2, value=value), "addcmul_")
    return inplace.apply(x, ew.add_p, _scaled(t1 * t2, value))


def addcdiv_(x, t1, t2, *rest, value=1):
    if rest:
        (t1, t2), value = number_first("addcdiv_", "value", t1, (t2, *rest), value, 2)
    CM.check_addcdiv(t1, t2)
    if x._data.dtype in dtypes.REDUCED:
        return inplace.commit(x, CM.addcdiv(inplace.alias(x), t1, t2, value=value), "addcdiv_")
    return inplace.apply(x, ew.add_p, _scaled(t1 / t2, value))


def _lerp_(x, end, weight):
    # x + weight (end - x) in one pass where it is torch's form (|weight| < 0.5: optimizers'
    # moving averages; not bfloat16 or float16, which torch's kernel computes in float32,
    # as lerp does); any other weight takes lerp's other form
    small = not isinstance(weight, Tensor) and abs(weight) < 0.5
    if small and x._data.dtype not in dtypes.REDUCED and inplace.tape_free(x, (end,)):
        return inplace.apply(x, ew.add_p, (end - x) * weight)
    return inplace.commit(x, C.lerp(inplace.alias(x), end, weight), "lerp_")


def _clamp_(x, min=None, max=None):  # noqa: A002
    return inplace.commit(x, C.clamp(inplace.alias(x), min, max), "clamp_")


def _masked_fill_(x, mask, value):
    return inplace.commit(x, C.masked_fill(inplace.alias(x), mask, value), "masked_fill_")


def _view_as(x, other):
    return mv.reshape(x, tuple(other.shape))


def _type_as(x, other):
    return to(x, other.dtype)


def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    _run_backward(self, gradient, retain_graph, create_graph, inputs=inputs)


METHODS = {
    "__init__": tensor_init, "backward": backward,
    # elementwise
    "neg": ew.neg, "negative": ew.neg, "exp": ew.exp, "log": ew.log, "sqrt": ew.sqrt,
    "rsqrt": ew.rsqrt, "abs": ew.abs, "sign": ew.sign, "sin": ew.sin, "cos": ew.cos,
    "tanh": ew.tanh, "sigmoid": ew.sigmoid, "relu": ew.relu, "erf": ew.erf,
    "log1p": ew.log1p, "expm1": ew.expm1, "floor": ew.floor, "ceil": ew.ceil,
    "round": ew.round, "trunc": ew.trunc, "clone": ew.clone,
    "logical_not": ew.logical_not, "isnan": ew.isnan, "isinf": ew.isinf,
    "bitwise_and": ew.bitwise_and, "bitwise_or": ew.bitwise_or, "bitwise_xor": ew.bitwise_xor,
    "bitwise_not": ew.bitwise_not,
    "isfinite": ew.isfinite, "add": add, "sub": sub, "subtract": sub, "mul": ew.mul,
    "multiply": ew.mul, "div": div, "divide": div, "true_divide": ew.div, "pow": ew.pow,
    "maximum": ew.maximum, "minimum": ew.minimum, "remainder": ew.remainder,
    "fmod": ew.fmod, "floor_divide": ew.floor_divide, "eq": ew.eq, "ne": ew.ne,
    "lt": ew.lt, "le": ew.le, "gt": ew.gt, "ge": ew.ge, "logical_and": ew.logical_and,
    "logical_or": ew.logical_or, "logical_xor": ew.logical_xor, "where": _where_method,
    "square": C.square, "reciprocal": C.reciprocal, "lerp": C.lerp, "addcmul": CM.addcmul,
    "addcdiv": CM.addcdiv, "clamp": C.clamp, "clip": C.clamp, "masked_fill": C.masked_fill,
    "softplus": C.softplus,
    # reductions
    "sum": C.sum, "mean": C.mean, "var": C.var, "std": C.std, "amax": C.amax,
    "amin": C.amin, "max": C.max, "min": C.min, "argmax": rd.argmax, "argmin": rd.argmin,
    "logsumexp": C.logsumexp, "softmax": C.softmax, "log_softmax": C.log_softmax,
    "norm": C.norm, "all": C.all, "any": C.any, "nonzero": CI.nonzero, "equal": C.equal,
    "allclose": C.allclose,
    # linear algebra
    "matmul": matmul, "mm": C.mm, "bmm": C.bmm, "dot": C.dot,
    # shape
    "reshape": C.reshape, "view": C.view, "view_as": _view_as, "reshape_as": _view_as,
    "flatten": C.flatten, "unflatten": C.unflatten, "squeeze": C.squeeze,
    "unsqueeze": C.unsqueeze, "permute": C.permute, "transpose": C.transpose,
    "swapaxes": C.transpose, "swapdims": C.transpose, "t": C.t, "movedim": C.movedim,
    "expand": C.expand, "expand_as": C.expand_as, "broadcast_to": C.broadcast_to,
    "split": C.split, "chunk": C.chunk, "unbind": C.unbind, "repeat": C.repeat,
    "narrow": C.narrow, "tril": C.tril, "triu": C.triu, "gather": gather,
    "scatter_add": scatter_add, "contiguous": contiguous,
    # dtype and device
    "to": to, "float": _caster(dtypes.float32), "double": _caster(dtypes.float64),
    "half": _caster(dtypes.float16),
    "bfloat16": _caster(dtypes.bfloat16), "long": _caster(dtypes.int64),
    "int": _caster(dtypes.int32), "bool": _caster(dtypes.bool_),
    "cfloat": _caster(dtypes.complex64), "cdouble": _caster(dtypes.complex128),
    "type_as": _type_as,
    # in place
    "add_": _inplace_binary(ew.add_p, "add_"), "sub_": _inplace_binary(ew.sub_p, "sub_"),
    "mul_": _mul_,
    "div_": _div_, "divide_": _div_, "floor_divide_": _floor_divide_,
    "multiply_": _mul_, "subtract_": _inplace_binary(ew.sub_p, "subtract_"),
    "true_divide_": inplace.method(ew.div_p), "negative_": inplace.method(ew.neg_p),
    "pow_": _inplace_binary(ew.pow_p, "pow_"),
    "neg_": inplace.method(ew.neg_p), "exp_": inplace.method(ew.exp_p),
    "log_": inplace.method(ew.log_p), "sqrt_": inplace.method(ew.sqrt_p),
    "abs_": inplace.method(ew.abs_p), "tanh_": inplace.method(ew.tanh_p),
    "sigmoid_": inplace.method(ew.sigmoid_p), "relu_": inplace.method(ew.relu_p),
    "floor_": inplace.method(ew.floor_p), "round_": inplace.composite_method(ew.round, "round_"),
    "maximum_": _inplace_binary(ew.maximum_p, "maximum_"),
    "minimum_": _inplace_binary(ew.minimum_p, "minimum_"),
    "addcmul_": addcmul_, "addcdiv_": addcdiv_, "lerp_": _lerp_, "clamp_": _clamp_,
    "clip_": _clamp_, "masked_fill_": _masked_fill_, "zero_": inplace.zero_,
    "fill_": inplace.fill_, "copy_": inplace.copy_,
    "share_memory_": _shared("share_memory_"), "is_shared": _shared("is_shared"),
    "squeeze_": inplace_shape.method(C.squeeze, "squeeze", _squeeze_node),
    "unsqueeze_": inplace_shape.method(C.unsqueeze, "unsqueeze", "UnsqueezeBackward1"),
    "t_": inplace_shape.method(C.t, "t", "TransposeBackward1"),
    "transpose_": inplace_shape.method(C.transpose, "transpose", "TransposeBackward1"),
    "swapdims_": inplace_shape.method(C.transpose, "swapdims", "TransposeBackward1"),
    "swapaxes_": inplace_shape.method(C.transpose, "swapaxes", "TransposeBackward1"),
    "resize_": inplace_shape.resize_,
    "bitwise_and_": lambda x, o: _bitwise_(x, o, "bitwise_and"),
    "bitwise_or_": lambda x, o: _bitwise_(x, o, "bitwise_or"),
    "bitwise_xor_": lambda x, o: _bitwise_(x, o, "bitwise_xor"),
    "bitwise_left_shift_": _shift_(shifts.bitwise_left_shift_p, "bitwise_left_shift_"),
    "bitwise_right_shift_": _shift_(shifts.bitwise_right_shift_p, "bitwise_right_shift_"),
    "bitwise_not_": lambda x: inplace.commit(x, ew.bitwise_not(inplace.alias(x)),
                                             "bitwise_not_"),
}

# `x + y` and `x - y` take no alpha: straight to the op (add's alpha handling cost ~0.3 us
# an operator, and autograd sums gradients with +)
def _reversed(x):
    """reversed(x): torch's flip of the first dim, so a bidirectional RNN's loop over
    reversed(inputs) walks tensors (Python's sequence fallback gave a plain iterator)."""
    return x if x.ndim == 0 else x.flip(0)


OPERATORS = {
    "__add__": ew.add, "__radd__": _reflect(ew.add), "__sub__": ew.sub,
    "__rsub__": _reflect(ew.sub), "__mul__": ew.mul, "__rmul__": _reflect(ew.mul),
    "__truediv__": ew.div, "__rtruediv__": _rdiv,
    "__floordiv__": lambda a, b: div(a, b, rounding_mode="floor"),
    "__rfloordiv__": _reflect(ew.floor_divide), "__mod__": ew.remainder,
    "__rmod__": _reflect(ew.remainder), "__pow__": ew.pow, "__rpow__": _reflect(ew.pow),
    "__matmul__": matmul, "__rmatmul__": _reflect(matmul), "__neg__": ew.neg,
    "__pos__": lambda x: x, "__abs__": ew.abs, "__invert__": ew.bitwise_not,
    "__and__": ew.bitwise_and, "__or__": ew.bitwise_or, "__xor__": ew.bitwise_xor,
    "__rand__": ew.bitwise_and, "__ror__": ew.bitwise_or, "__rxor__": ew.bitwise_xor,
    "__iand__": lambda x, o: _bitwise_(x, o, "bitwise_and", "&="),
    "__ior__": lambda x, o: _bitwise_(x, o, "bitwise_or", "|="),
    "__ixor__": lambda x, o: _bitwise_(x, o, "bitwise_xor", "^="),
    "__lshift__": shifts.bitwise_left_shift, "__rshift__": shifts.bitwise_right_shift,
    "__rlshift__": _reflect(shifts.bitwise_left_shift),
    "__rrshift__": _reflect(shifts.bitwise_right_shift),
    "__ilshift__": _shift_(shifts.bitwise_left_shift_p, "<<="),
    "__irshift__": _shift_(shifts.bitwise_right_shift_p, ">>="),
    "__eq__": _cmp(ew.eq), "__ne__": _cmp(ew.ne), "__lt__": ew.lt, "__le__": ew.le,
    "__gt__": ew.gt, "__ge__": ew.ge,
    "__iadd__": lambda x, o: inplace.apply(x, ew.add_p, o, op="+="),
    "__isub__": lambda x, o: inplace.apply(x, ew.sub_p, o, op="-="),
    "__imul__": lambda x, o: inplace.apply(x, ew.mul_p, o, op="*="),
    "__itruediv__": lambda x, o: inplace.apply(x, ew.div_p, o, op="/="),
    "__ifloordiv__": lambda x, o: _floor_divide_(x, o, "//="),
    "__imod__": lambda x, o: inplace.apply(x, ew.remainder_p, ew.divisor("%=", x, o), op="%="),
    "__getitem__": indexing_sugar.getitem, "__setitem__": indexing_sugar.setitem,
    "__reversed__": _reversed,
}

def _mT(x, name="mT", stacklevel=2):
    """The last two dims swapped; torch keeps a 0-d tensor as it is (with a deprecation
    warning) and refuses a 1-D one. mH is its conjugate (PROPERTIES)."""
    if x.ndim == 0:
        warnings.warn(f"Tensor.{name} is deprecated on 0-D tensors. " +
                      ("This function is the identity in these cases." if name == "mT" else
                       "Consider using x.conj()."), UserWarning, stacklevel=stacklevel)
        return x
    if x.ndim == 1:
        raise RuntimeError(f"tensor.{name} is only supported on matrices or batches of "
                           f"matrices. Got 1-D tensor" +
                           (f" (shape {list(x.shape)})." if name == "mT" else "."))
    return C.transpose(x, -2, -1)


def _H(x):
    """The conjugate transpose of a matrix, torch's words otherwise."""
    if x.ndim == 0:
        warnings.warn("Tensor.H is deprecated on 0-D tensors. Consider using x.conj().",
                      UserWarning, stacklevel=user_stacklevel())
        return x
    if x.ndim != 2:
        raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got "
                           f"{x.ndim}-D tensor." + (" For batches of matrices, consider "
                                                    "using tensor.mH" if x.ndim > 2 else ""))
    return C.transpose(x, 0, 1)


PROPERTIES = {
    "T": lambda x: mv.permute(x, tuple(range(x.ndim - 1, -1, -1))),
    "mT": _mT,
    "mH": lambda x: ew.conj(_mT(x, "mH", 3)),
    "H": lambda x: ew.conj(_H(x)),
    # a view's is replayed on its base's history once that changed; the outputs of one
    # call torch records as one node (x.unbind()) share it (output_groups.py)
    "grad_fn": output_groups.grad_fn, "output_nr": output_groups.tensor_output_nr,
    # a view made before its base took history in place requires grad now, as torch's
    "requires_grad": lambda x: x._requires_grad or (x._view is not None and x._node is None
                                                    and regained(x, check=False)),
}

# --- issue 9: elementwise math methods ---
from .math_methods import MATH_METHODS  # noqa: E402  (math_methods.py: the table)

METHODS.update(MATH_METHODS)
# --- issue 9: reduction, scan, sorting, shape and index methods ---
from .shape_methods import SHAPE_METHODS  # noqa: E402  (shape_methods.py: the table)

METHODS.update(SHAPE_METHODS)
# --- issue 9: device and type methods ---
# to, cuda, cpu, type, pin_memory and new_* (device= like every creation function)
from . import device_methods  # noqa: E402

METHODS.update(device_methods.METHODS)
# --- in-place comparisons, tril_, fill_diagonal_, gcd_, x.real, ... ---
from . import tensor_methods_more  # noqa: E402  (quantile, gcd, ...: declared public there)

METHODS.update(tensor_methods_more.METHODS)
PROPERTIES.update(tensor_methods_more.PROPERTIES)
# --- the methods ops declare beside their definitions (ops/public.py): greater,
# tensor_split, cov, ... (torch_aliases), asarray, the layouts, apply_/map_, the scatters ---
from . import (  # noqa: E402, F401
    array_sharing,
    dim_order,
    interchange,
    layouts,
    python_elementwise,
    runtime_flags,
    scatter_into,
    storages,
    strided_views,
    torch_aliases,
)
from .ops import public  # noqa: E402

PROPERTIES["layout"] = layouts.tensor_layout


def _spectral(name):
    """x.stft / x.istft: torch.stft's, from spectral.py (imported after this table)."""
    def method(x, *args, **kwargs):
        from . import spectral
        return getattr(spectral, name)(x, *args, **kwargs)
    method.__name__ = name
    return method


METHODS.update({name: _spectral(name) for name in ("stft", "istft")})


def _sparse(name):
    """x.to_sparse(), x.indices(), ... of a strided tensor: sparse/conversions.py's (the
    sparse package is imported after this table; sparse tensors have their own)."""
    def method(x, *args, **kwargs):
        from .sparse.conversions import DENSE_METHODS
        return DENSE_METHODS[name](x, *args, **kwargs)
    method.__name__ = name
    return method


METHODS.update({name: _sparse(name) for name in (
    "to_sparse", "to_sparse_coo", "to_sparse_csr", "to_sparse_csc", "to_dense", "sparse_mask",
    "sparse_dim", "dense_dim", "values", "indices", "coalesce", "is_coalesced",
    "crow_indices", "col_indices", "ccol_indices", "row_indices", "_indices", "_values",
    "_nnz")})
public.export("Tensor", METHODS, inplace.method)
# a view op that changes nothing still returns a new view, as torch's (identity_views.py)
for _table in (METHODS, OPERATORS, PROPERTIES):
    identity_views.wrap(_table)


def install():
    for name, fn in {**METHODS, **OPERATORS}.items():
        setattr(Tensor, name, fn)
    for name, fn in PROPERTIES.items():
        if isinstance(fn, property):        # a getter with its setter (x.real = v)
            setattr(Tensor, name, fn)
            continue
        setter = getattr(getattr(Tensor, name, None), "fset", None)    # Tensor's own, kept
        setattr(Tensor, name, property(fn, setter))
    # __eq__ is elementwise, so hash by identity, as object does (in C: a tensor is a key
    # of every optimizer's state dict, looked up per parameter every step)
    Tensor.__hash__ = object.__hash__


install()
