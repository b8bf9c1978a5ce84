"""NaN, infinities and signed zeros: every elementwise case of the op table (and the ops the
issue named: clamp with min > max or NaN bounds, lerp with inf, floor division of inf, sign
of NaN, ...) on a grid of special values, eagerly and compiled, against torch.

Unary cases get the grid itself; binary cases every pair of it (81 elements), ternary ones
every triple. Each (dtype, mode) runs all the cases of an arity as ONE compiled function,
so the whole file compiles four graphs. Values must match torch exactly where they are NaN,
infinite or zero (the sign of a zero included), and within a few ulp elsewhere.

Where torch's own answer for a zero's sign depends on the length of the tensor (its
vectorized and scalar loops break the tie of maximum(-0.0, 0.0) differently), either sign
is accepted for that element: the reference is torch on the whole vector and torch one
element at a time.
"""
import itertools
import math

import numpy as np
import pytest
import torch

import tracecomp as tc

from op_table import BY_NAME

GRID = (math.nan, math.inf, -math.inf, 0.0, -0.0, 1.0, -1.0, 2.5, -2.5)
RTOL = {"float32": 1e-5, "float64": 1e-12}

# the op table's elementwise cases, by arity (cases of other dtypes or shapes are elsewhere)
TABLE_UNARY = (
    "exp", "log", "sqrt", "rsqrt", "abs", "neg", "neg_op", "sign", "sin", "cos", "tanh",
    "sigmoid", "relu", "erf", "log1p", "expm1", "floor", "square", "reciprocal", "clamp",
    "clamp_min", "clip_max", "clamp_boundary", "scalar_ops", "rsub_rdiv", "pow_scalar",
    "pow_half", "pow_zero", "pow_neg", "rpow", "cmp_scalar", "logical_not", "tan", "sinh",
    "cosh", "asin", "acos", "atan", "asinh", "acosh", "atanh", "arc_aliases",
    "copysign_scalar", "fmod_scalar", "erfc", "erfinv", "lgamma", "log2", "log10", "exp2",
    "sgn_frac", "xlogy_zero", "xlogy_scalar", "logit", "logit_eps", "deg_rad", "heaviside",
    "nan_to_num", "nan_to_num_default", "clamp_min_max", "float_power_scalar", "isclose_nan",
    "sinc", "sinc_zero", "positive_signbit", "inplace_math", "F_hardsigmoid_hardswish",
    "F_hardswish", "F_celu_selu", "F_shrink", "F_threshold", "F_relu6_hardtanh",
    "F_mish_logsigmoid_softsign",
)
TABLE_BINARY = (
    "clamp_tensor", "add", "sub", "mul", "div", "add_alpha", "sub_alpha", "pow_tensor",
    "maximum", "minimum", "maximum_ties", "minimum_ties", "max_binary", "remainder",
    "floor_divide", "eq", "ne", "lt", "le", "gt", "ge", "logical", "iadd", "isub", "imul",
    "idiv", "inplace_methods", "atan2", "arctan2", "hypot", "copysign", "fmod", "logaddexp",
    "logaddexp2", "xlogy", "float_power", "fmax", "fmin", "fmax_nan", "isclose",
    "inplace_binary_math",
)
TABLE_TERNARY = ("lerp_addcmul",)


def _F(lib):
    return lib.nn.functional


# cases the issue names that the op table does not hold: fn(lib, *grid args)
EXTRA_UNARY = {
    "clamp_min_gt_max": lambda lib, x: lib.clamp(x, min=3, max=1),
    "clamp_nan_min": lambda lib, x: lib.clamp(x, min=math.nan),
    "clamp_nan_max": lambda lib, x: x.clamp(max=math.nan),
    "clamp_inf": lambda lib, x: lib.clamp(x, -math.inf, math.inf),
    "clamp_min_max_methods": lambda lib, x: (x.clamp_min(0.0), lib.clamp_max(x, -0.0)),
    "floordiv_scalar": lambda lib, x: (x // 2, 2 // x, x // -0.0, x // 0.0),
    "mod_scalar": lambda lib, x: (x % 2, 2 % x, x % -2.5, x % 0.0, lib.remainder(x, -0.0)),
    "div_modes_scalar": lambda lib, x: (lib.div(x, 2, rounding_mode="floor"),
                                        lib.div(x, -2, rounding_mode="trunc"),
                                        x.div(0.0, rounding_mode="floor")),
    "sgn_signbit": lambda lib, x: (x.sgn(), lib.signbit(x), lib.sign(x)),
    "lerp_scalar_weight": lambda lib, x: (lib.lerp(x, lib.full_like(x, 1.0), 0.5),
                                          lib.lerp(lib.full_like(x, 1.0), x, 0.5),
                                          lib.lerp(x, lib.full_like(x, math.inf), 0.5),
                                          lib.lerp(x, lib.full_like(x, 1.0), 0.3)),
    "hardtanh": lambda lib, x: (_F(lib).hardtanh(x), _F(lib).hardtanh(x, 0.0, 2.0)),
    "relu6_relu": lambda lib, x: (_F(lib).relu6(x), _F(lib).relu(x), lib.relu(-x)),
    "activations": lambda lib, x: (_F(lib).silu(x), _F(lib).elu(x), _F(lib).leaky_relu(x, 0.2),
                                   _F(lib).softplus(x), _F(lib).logsigmoid(x),
                                   _F(lib).hardshrink(x, 0.5), _F(lib).tanhshrink(x),
                                   _F(lib).gelu(x, approximate="tanh")),
    "softshrink": lambda lib, x: _F(lib).softshrink(x, 0.5),
}
EXTRA_BINARY = {
    "floordiv": lambda lib, a, b: (a // b, lib.floor_divide(a, b),
                                   lib.div(a, b, rounding_mode="floor")),
    "div_trunc": lambda lib, a, b: lib.div(a, b, rounding_mode="trunc"),
    "remainder_fmod": lambda lib, a, b: (lib.remainder(a, b), lib.fmod(a, b)),
    "clamp_tensor_bounds": lambda lib, a, b: (lib.clamp(a, min=b), lib.clamp(a, max=b),
                                              lib.clamp(a, min=b, max=b - 1),
                                              lib.clamp_min(a, b), a.clamp_max(b)),
    "extrema": lambda lib, a, b: (lib.maximum(a, b), lib.minimum(a, b), lib.fmax(a, b),
                                  lib.fmin(a, b), lib.max(a, b), lib.min(a, b)),
    "lerp_tensor_weight": lambda lib, a, b: (lib.lerp(a, b, 0.5), lib.lerp(a, b, 0.3),
                                             lib.lerp(lib.full_like(a, 1.0), a, b)),
    "copysign_xlogy": lambda lib, a, b: (lib.copysign(a, b), lib.xlogy(a, b)),
    "addcdiv": lambda lib, a, b: lib.addcdiv(a, a, b, value=0.5),
    "heaviside_tensor": lambda lib, a, b: lib.heaviside(a, b),
    "isclose_equal_nan": lambda lib, a, b: lib.isclose(a, b, equal_nan=True),
    "where_gt": lambda lib, a, b: lib.where(a > b, a, b),
}

# open differences from torch, name -> what differs (none today): each listed one must still
# differ (when one is fixed the test says so, and its entry goes)
KNOWN = {}


def _cases(arity):
    table = {1: TABLE_UNARY, 2: TABLE_BINARY, 3: TABLE_TERNARY}[arity]
    extra = {1: EXTRA_UNARY, 2: EXTRA_BINARY, 3: {}}[arity]
    return {**{name: BY_NAME[name].fn for name in table}, **extra}


def _grid(arity, dtype):
    cols = zip(*itertools.product(GRID, repeat=arity))
    return [np.array(c, dtype=dtype) for c in cols]


def _flat(result):
    if isinstance(result, (tuple, list)):
        return [y for x in result for y in _flat(x)]
    return [result]


def _numpy(t):
    return np.array(t.detach().numpy() if hasattr(t, "detach") else t)


def _torch_reference(fn, arrays):
    """torch on the whole vectors, and the signs of zeros torch gives one element at a time
    (its scalar loop): where the two differ either sign is right."""
    whole = [_numpy(t) for t in _flat(fn(torch, *[torch.tensor(a) for a in arrays]))]
    single = [np.empty_like(w) for w in whole]
    for i in range(arrays[0].size):
        outs = _flat(fn(torch, *[torch.tensor(a[i:i + 1]) for a in arrays]))
        for s, o in zip(single, outs):
            s[i] = _numpy(o)[0]
    return whole, single


def _mismatches(got, want, alt, dtype, arrays):
    """Lines that say where got differs from want (alt: torch's other loop)."""
    if got.shape != want.shape or got.dtype != want.dtype:
        return [f"shape/dtype tracecomp={got.shape} {got.dtype} | torch={want.shape} "
                f"{want.dtype}"]
    if got.dtype.kind != "f":
        bad = got != want
    else:
        g, w, a = got.astype(np.float64), want.astype(np.float64), alt.astype(np.float64)
        special = ~np.isfinite(w) | (w == 0)
        close = np.abs(g - w) <= RTOL[dtype] * np.abs(w)
        bad = np.where(special, ~((g == w) | (np.isnan(g) & np.isnan(w))), ~close)
        zero_sign = (g == 0) & (w == 0) & (np.signbit(g) != np.signbit(w))
        bad |= zero_sign & ~((a == 0) & (np.signbit(g) == np.signbit(a)))
    return [f"at {tuple(float(x[i]) for x in arrays)}: tracecomp={got[i]!r} | "
            f"torch={want[i]!r}" for i in np.flatnonzero(bad)[:4]]


def _refused(cases, arrays):
    """The cases torch refuses for these inputs (heaviside of float64 by a float32 value):
    tracecomp must refuse them too, with the same class."""
    refused = {}
    for name, fn in cases.items():
        try:
            fn(torch, *[torch.tensor(a) for a in arrays])
        except Exception as exc:            # noqa: BLE001 - any refusal, compared below
            refused[name] = type(exc)
    for name, kind in refused.items():
        with pytest.raises(kind):
            cases[name](tc, *[tc.tensor(a) for a in arrays])
    return refused


def _check(arity, dtype, compiled):
    cases = _cases(arity)
    arrays = _grid(arity, dtype)
    for name in _refused(cases, arrays):
        del cases[name]

    def run_all(*xs):
        return tuple(tuple(_flat(fn(tc, *xs))) for fn in cases.values())

    run = tc.compile(run_all) if compiled else run_all
    with np.errstate(all="ignore"):
        results = run(*[tc.tensor(a) for a in arrays])
    failures, fixed = [], []
    for (name, fn), outs in zip(cases.items(), results):
        whole, single = _torch_reference(fn, arrays)
        lines = []
        for k, (o, w, s) in enumerate(zip(outs, whole, single)):
            lines += [f"output {k} {line}" for line in
                      _mismatches(_numpy(o), w, s, dtype, arrays)]
        if name in KNOWN:
            if not lines:
                fixed.append(name)
            continue
        failures += [f"{name}: {line}" for line in lines]
    assert not failures, (f"{'compiled' if compiled else 'eager'} {dtype} differs from torch:\n"
                          + "\n".join(failures))
    assert not fixed, f"fixed now, drop them from KNOWN: {fixed}"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("arity", [1, 2, 3])
@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_special_values_match_torch(mode, arity, dtype):
    _check(arity, dtype, mode == "compiled")
