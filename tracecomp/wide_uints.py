"""uint16, uint32, uint64: the ops torch 2.13 refuses on them.

torch holds these dtypes with a limited op set: creation, copies and casts, movement,
indexing, where, == and !=, & | ^, *, true division, sum/prod/cumsum/cumprod (to int64),
sort, and the float-valued math (exp, sin, sqrt... computed in float). Its integer kernels
for the rest are not built for them and raise NotImplementedError naming the kernel, and it
promotes them with no other integer dtype (dtypes._refuse_wide_uints). bind asks `check`
before it runs a primitive with such an operand (or result), so tracecomp refuses what
torch refuses, in torch's words, instead of computing what numpy would.
"""
from .dtypes import TORCH_NAMES, WIDE_UINTS, result_type
from .errors import DTypeNotImplemented

# primitive -> the torch kernel its NotImplementedError names (checked against torch 2.13).
# gather is left out although torch refuses x.gather: sort, which torch allows, is built on it
REFUSED = {
    "add": "add_stub", "sub": "add_stub", "neg": "neg_cpu", "abs": "abs_cpu",
    "sign": "sign_cpu", "pow": "pow", "floor_divide": "div_floor_cpu",
    "remainder": "remainder_cpu", "fmod": "fmod_cpu", "maximum": "maximum_cpu",
    "minimum": "minimum_cpu", "relu": "clamp_min_scalar_cpu",
    "lt": "lt_cpu", "le": "le_cpu", "gt": "gt_cpu", "ge": "ge_cpu",
    "bitwise_not": "bitwise_not_cpu", "logical_not": "logical_not_cpu",
    "logical_and": "logical_and_cpu", "logical_or": "logical_or_cpu",
    "logical_xor": "logical_xor_cpu",
    "reduce_max": "max_values_cpu", "reduce_min": "min_values_cpu",
    "argmax": "argmax_cpu", "argmin": "argmin_cpu", "cumargmax": "cummax_cpu",
    "cumargmin": "cummin_cpu", "logcumsumexp": "logcumsumexp_out_cpu",
    "matmul": "addmm_impl_cpu_", "arange": "arange_cpu", "flip": "flip_cpu",
    "scatter_add": "scatter_gather_tensor_cpu", "scatter_reduce": "scatter_gather_tensor_cpu",
    "searchsorted": "searchsorted_out_cpu",
}


def _wide(a):
    return getattr(a, "dtype", None) in WIDE_UINTS


def check(prim, arrays, params):
    """torch's error when prim is refused on uint16/32/64: the promotion error for a binary
    op with another integer operand, NotImplementedError when the op would compute in
    uint16/32/64 (a + 1.5 computes in float32, which torch allows)."""
    if not any(map(_wide, arrays)):
        if params.get("dtype") in WIDE_UINTS and prim.name in REFUSED:
            raise _refused(prim, params["dtype"])
        return
    if "binary" in prim.tags:
        common = result_type(*arrays)       # raises torch's promotion error
        if prim.name in REFUSED and common in WIDE_UINTS:
            raise _refused(prim, common)
    elif prim.name in REFUSED and _wide(arrays[0]):
        raise _refused(prim, arrays[0].dtype)


def _refused(prim, dtype):
    return DTypeNotImplemented(f'"{REFUSED[prim.name]}" not implemented for '
                               f"'{TORCH_NAMES[dtype]}'")
