"""CPU autocast's cast policy: which ops run in the autocast dtype, which in float32.

Transcribed from torch 2.13's aten/src/ATen/autocast_mode.cpp (the AutocastCPU kernels):
  - "lower": the op's floating arguments (float32, float16, bfloat16; never float64) are
    cast to the autocast dtype (bfloat16 by default): matmuls and convolutions;
  - "fp32": cast to float32: losses, prod, cdist, trace, inverses, 3-d pooling, ...;
  - "promote": cast to the widest floating dtype among the arguments: cat, stack.
Ops in no list run on whatever dtypes reach them (layer_norm, softmax, relu... on a
bfloat16 activation stay bfloat16, as in torch).

`@autocast_op(policy)` sits on the op's definition (beside `@public`). Casting happens only
on the outermost autocast op of a call: a "fp32" loss built from a matmul keeps its float32
inside, as torch's autocast kernels redispatch below the autocast key. Casts are ordinary
differentiable casts, so gradients reach float32 parameters as float32.
"""
import functools

from . import autocast_mode

LOWER, FP32, PROMOTE = "lower", "fp32", "promote"


def autocast_op(policy):
    """Decorate an op with its CPU autocast policy (LOWER, FP32 or PROMOTE)."""
    assert policy in (LOWER, FP32, PROMOTE), policy

    def decorate(fn):
        @functools.wraps(fn)
        def op(*args, **kwargs):
            if not autocast_mode.CPU_EVER[0]:
                return fn(*args, **kwargs)      # the usual case: one list read
            state = autocast_mode._STATE
            if state.inside or not state.enabled.get("cpu", False):
                return fn(*args, **kwargs)
            to = _target(policy, args, kwargs, state.dtype.get("cpu")
                         or autocast_mode.get_autocast_dtype("cpu"))
            args = [_cast(a, to) for a in args]
            kwargs = {k: _cast(v, to) for k, v in kwargs.items()}
            state.inside = True
            try:
                return fn(*args, **kwargs)
            finally:
                state.inside = False
        return op
    return decorate


def _eligible(x):
    """torch's is_eligible: a floating tensor other than float64 (all tensors are CPU ones
    here; a CUDA tensor is autocast by CUDA's autocast, not this)."""
    from ..tensor import Tensor
    return isinstance(x, Tensor) and x.is_floating_point() and x.device.type == "cpu" and \
        x.dtype.name != "float64"


def _target(policy, args, kwargs, lower):
    from .. import dtypes
    if policy == LOWER:
        return lower
    if policy == FP32:
        return dtypes.float32
    found = [a for a in _flat(list(args) + list(kwargs.values())) if _eligible(a)]
    widest = None
    for a in found:
        widest = a.dtype if widest is None else dtypes.promote_types(widest, a.dtype)
    return widest


def _flat(values):
    for v in values:
        if isinstance(v, (list, tuple)):
            yield from v
        else:
            yield v


def _cast(value, to):
    if to is None:
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_cast(v, to) for v in value)
    if _eligible(value) and value.dtype is not to:
        return value.to(to)
    return value
