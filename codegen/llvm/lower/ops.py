"""Elementwise primitives as LLVM IR: one table, LOWERINGS, op -> rule per dtype kind.

A rule is registered for the kinds it computes in ("f" float, "i" integer, "b" bool):
`lowers("f", exp=..., log=...)` for one-liners, `@lowering("hypot")` on a rule written as
a function. Each rule takes an `Emitter` (the IR builder plus this module's helpers), the
operands as IR values already converted to the rule's compute type, and the node; it
returns the result value. Types: float32 -> float, float64 -> double, int64/int32 ->
i64/i32, bool -> i1 in registers (i8 in memory). `rule_for(node)` finds a node's rule; the
backend runs nodes without one with their numpy impls.

Floating semantics are torch's (numpy's where they agree): NaN propagates through
maximum/minimum/relu, maximum/minimum keep the first operand on ties (of two signed zeros,
the first), sign(NaN) is 0, floor_divide follows torch's div_floor (inf // 2 is NaN) and
comparisons are ordered (`!=` unordered); no `nnan`/`ninf` fast-math flags anywhere.
Transcendentals come from mathlib (inlined, vectorizable); sin/cos/tan/asin/acos/atan/atan2/
pow/fmod use LLVM intrinsics or instructions, and erfc/lgamma/hypot (float64) call C's libm
by name: scalar calls, correct, not fast. i0/i1 are Chebyshev series in float64. erfinv
has a rule for float32 only; polygamma (digamma) has none: both run as numpy steps where
the rule is missing.
"""
import functools

import numpy as np
from llvmlite import ir

from tracecomp.codegen.kernel_facts import compute_dtype, operand_dtypes  # noqa: F401
from tracecomp.dtypes import BF16, astype, np_kind

# (operand_dtypes: kernels.py takes it from here, with the rules)
from . import mathlib

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
I64, I32, BOOL = np.dtype(np.int64), np.dtype(np.int32), np.dtype(np.bool_)
SUPPORTED_DTYPES = (F32, F64, I64, I32, BOOL)
I16 = ir.IntType(16)


def ir_type(dtype, in_memory=False):
    dtype = np.dtype(dtype)
    if dtype == F32 or dtype == BF16 and not in_memory:
        return ir.FloatType()
    if dtype == F64:
        return ir.DoubleType()
    if dtype == BOOL:
        return ir.IntType(8 if in_memory else 1)
    return ir.IntType(dtype.itemsize * 8)


def is_float(dtype):
    return np_kind(np.dtype(dtype)) == "f"


class Emitter:
    """The builder with the helpers rules share."""

    def __init__(self, builder, module):
        self.b = builder
        self.module = module
        self.math_calls = 0     # mathlib functions called so far (kernels.py: interleaving)

    def intrinsic(self, name, ty, *args):
        # the signature is spelled out: llvmlite only knows a few intrinsics' types
        fnty = ir.FunctionType(ty, [a.type for a in args])
        fn = self.module.declare_intrinsic(name, [ty], fnty)
        return self.b.call(fn, list(args))

    def math(self, name, x):
        self.math_calls += 1
        return self.b.call(mathlib.get(self.module, name, x.type), [x])

    def libm(self, name, *args):
        """A call to the C math library's `name` (`namef` for float): scalar and correctly
        rounded or nearly, for functions mathlib has no vector version of."""
        ty = args[0].type
        cname = name + ("f" if isinstance(ty, ir.FloatType) else "")
        fn = self.module.globals.get(cname)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(ty, [ty] * len(args)), name=cname)
        return self.b.call(fn, list(args))

    def const(self, value, dtype):
        ty = ir_type(dtype)
        if np.dtype(dtype) == BF16:         # rounded as eager's astype rounds it
            return ir.Constant(ty, float(astype(np.float32(value), BF16)))
        if is_float(dtype):
            return ir.Constant(ty, float(value))
        return ir.Constant(ty, int(bool(value)) if np.dtype(dtype) == BOOL else int(value))

    def convert(self, value, src, dst):
        """numpy's astype between supported dtypes."""
        src, dst = np.dtype(src), np.dtype(dst)
        b, ty = self.b, ir_type(dst)
        if src == dst:
            return value
        if src == BF16:         # in registers a bfloat16 is the float32 it widens to
            return self.convert(value, F32, dst)
        if dst == BF16:         # to float32 first, as eager's astype goes
            return self.round_bf16(self.convert(value, src, F32))
        if dst == BOOL:
            zero = ir.Constant(value.type, 0.0 if is_float(src) else 0)
            return b.fcmp_unordered("!=", value, zero) if is_float(src) \
                else b.icmp_unsigned("!=", value, zero)
        if is_float(dst):
            if is_float(src):
                return b.fpext(value, ty) if dst.itemsize > src.itemsize \
                    else b.fptrunc(value, ty)
            return b.uitofp(value, ty) if src == BOOL else b.sitofp(value, ty)
        if is_float(src):
            return self._float_to_int(value, dst)
        if src == BOOL or dst.itemsize > src.itemsize:
            return b.zext(value, ty) if src == BOOL else b.sext(value, ty)
        return b.trunc(value, ty)

    def round_bf16(self, x):
        """float32 x rounded to bfloat16 (to nearest, ties to even), as a float32: the
        top 16 bits of the result are the bfloat16, the low 16 are zero. A NaN becomes
        ml_dtypes' quiet NaN with x's sign (0x7fc0 / 0xffc0), as eager's astype gives.
        Integer ops on the float's bits, about 8 vector instructions: measured on the 2-core
        Zen 4 (2M elements, fused, two threads), x*a+b ran 0.6 ms in bf16 against 0.7-0.8
        in float32 (half the bytes), gelu_tanh(x*a+b), three roundings among ~25 float ops,
        2.1 ms against 1.2-1.4. AVX512-BF16's vcvtneps2bf16 would be one instruction, but
        it keeps a NaN's payload bits, which ml_dtypes does not."""
        b, i32 = self.b, ir.IntType(32)
        bits = b.bitcast(x, i32)
        odd = b.and_(b.lshr(bits, ir.Constant(i32, 16)), ir.Constant(i32, 1))
        up = b.add(bits, b.add(ir.Constant(i32, 0x7FFF), odd))
        rounded = b.and_(up, ir.Constant(i32, 0xFFFF0000))
        nan = b.or_(b.and_(bits, ir.Constant(i32, 0x80000000)), ir.Constant(i32, 0x7FC00000))
        out = b.select(b.fcmp_unordered("!=", x, x), nan, rounded)
        return b.bitcast(out, ir.FloatType())

    def load_bf16(self, bits):
        """A bfloat16 read from memory (i16) as the float32 it widens to: exact."""
        i32 = ir.IntType(32)
        return self.b.bitcast(self.b.shl(self.b.zext(bits, i32), ir.Constant(i32, 16)),
                              ir.FloatType())

    def store_bf16(self, x):
        """A float32 holding a bfloat16 (round_bf16's result) as its i16 bits."""
        i32 = ir.IntType(32)
        return self.b.trunc(self.b.lshr(self.b.bitcast(x, i32), ir.Constant(i32, 16)), I16)

    def _float_to_int(self, value, dst):
        """x86's (and so numpy's and torch's) float -> int: truncate to int32 (int64 for an
        int64 result), NaN and out-of-range giving INT_MIN, then keep the low bits for a
        narrower type. LLVM's fptosi alone is poison there: a NaN became any number."""
        b = self.b
        bits = 64 if dst.itemsize == 8 else 32
        wide = ir.IntType(bits)
        limit = ir.Constant(value.type, float(2 ** (bits - 1)))
        inside = b.and_(b.fcmp_ordered(">=", value, b.fneg(limit)),
                        b.fcmp_ordered("<", value, limit))
        # select never takes poison from the arm it does not choose
        out = b.select(inside, b.fptosi(value, wide), ir.Constant(wide, -(2 ** (bits - 1))))
        return out if bits == dst.itemsize * 8 else b.trunc(out, ir_type(dst))


# --- the table: op -> {dtype kind computed in: rule} ---------------------------------------
LOWERINGS = {}      # op -> {"f": rule, "i": rule, "b": rule} (float, integer, bool)
FLOAT32_ONLY = {"erfinv"}      # its mathlib version works in float64 for float32 results


def lowers(kinds, **rules):
    """Register each rule under its op for the dtype kinds in `kinds` ("f", "i", "b")."""
    for op, rule in rules.items():
        table = LOWERINGS.setdefault(op, {})
        for kind in kinds:
            assert kind not in table, f"{op} lowered twice ({kind})"
            table[kind] = rule


def lowering(op, kinds="f"):
    """`lowers` as a decorator, for a rule written as a function."""
    def register(rule):
        lowers(kinds, **{op: rule})
        return rule
    return register


# --- rules ---------------------------------------------------------------------------------
def _select_sign(e, x, dtype):
    """torch's sign: 1, -1 or 0, and 0 (+0.0) for NaN and -0.0 as well."""
    zero, one = e.const(0, dtype), e.const(1, dtype)
    if is_float(dtype):
        pos = e.b.select(e.b.fcmp_ordered(">", x, zero), one, zero)
        return e.b.select(e.b.fcmp_ordered("<", x, zero), e.const(-1, dtype), pos)
    pos = e.b.select(e.b.icmp_signed(">", x, zero), one, zero)
    return e.b.select(e.b.icmp_signed("<", x, zero), e.const(-1, dtype), pos)


@lowering("relu", "fi")
def _relu(e, args, node, dtype):
    x, zero = args[0], e.const(0, dtype)
    below = e.b.fcmp_ordered("<", x, zero) if is_float(dtype) else e.b.icmp_signed("<", x, zero)
    return e.b.select(below, zero, x)            # NaN and -0.0 pass, as np.maximum(x, 0)


@lowering("abs", "i")
def _int_abs(e, args, node, dtype):
    x = args[0]
    return e.b.select(e.b.icmp_signed("<", x, e.const(0, dtype)), e.b.neg(x), x)


def _int_extremum(pred):
    def rule(e, args, node, dtype):
        a, b = args
        return e.b.select(e.b.icmp_signed(pred, a, b), a, b)
    return rule


@lowering("pow")
def _pow(e, args, node, dtype):
    x, y = args
    exponent = node.inputs[1]
    if isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
        if exponent == 2:
            return e.b.fmul(x, x)
        if exponent == 1:
            return x
        if exponent == 0.5:
            return e.intrinsic("llvm.sqrt", x.type, x)
    return e.intrinsic("llvm.pow", x.type, x, y)


@lowering("remainder")
def _remainder(e, args, node, dtype):
    """Python's sign convention (the divisor's sign), as numpy's remainder."""
    a, b = args
    r = e.b.frem(a, b)
    zero = e.const(0, dtype)
    fix = e.b.and_(e.b.fcmp_ordered("!=", r, zero),
                   e.b.xor(e.b.fcmp_ordered("<", r, zero), e.b.fcmp_ordered("<", b, zero)))
    return e.b.select(fix, e.b.fadd(r, b), r)


@lowering("floor_divide")
def _floor_divide(e, args, node, dtype):
    """torch's div_floor (numpy's floor_divide, special values included): a / b where b is
    0; else q = (a - fmod(a, b)) / b, one less where fmod's sign differs from b's, rounded to
    the nearest integer, and a zero q takes the sign of a / b. inf // 2 is NaN (fmod is)."""
    a, b = args
    bld, zero, one = e.b, e.const(0, dtype), e.const(1, dtype)
    quotient = bld.fdiv(a, b)
    mod = bld.frem(a, b)
    div = bld.fdiv(bld.fsub(a, mod), b)
    # C's `mod != 0`: true for a NaN mod too (the quotient is NaN then anyway)
    fix = bld.and_(bld.fcmp_unordered("!=", mod, zero),
                   bld.xor(bld.fcmp_ordered("<", b, zero), bld.fcmp_ordered("<", mod, zero)))
    div = bld.select(fix, bld.fsub(div, one), div)
    floor = e.intrinsic("llvm.floor", div.type, div)
    above_half = bld.fcmp_ordered(">", bld.fsub(div, floor), e.const(0.5, dtype))
    floor = bld.select(above_half, bld.fadd(floor, one), floor)
    signed_zero = e.intrinsic("llvm.copysign", div.type, zero, quotient)
    q = bld.select(bld.fcmp_unordered("!=", div, zero), floor, signed_zero)
    return bld.select(bld.fcmp_ordered("==", b, zero), quotient, q)


@lowering("hypot")
def _hypot(e, args, node, dtype):
    """float32: sqrt(a^2 + b^2) in float64 (no overflow, one rounding); float64: C's hypot.
    An infinite operand gives inf even when the other is NaN (C99, numpy)."""
    a, b = args
    if dtype == F64:
        return e.libm("hypot", a, b)
    d = ir.DoubleType()
    ad, bd = e.b.fpext(a, d), e.b.fpext(b, d)
    r = e.intrinsic("llvm.sqrt", d, e.b.fadd(e.b.fmul(ad, ad), e.b.fmul(bd, bd)))
    inf = ir.Constant(a.type, float("inf"))
    either_inf = e.b.or_(_isinf(e, [a], node, dtype), _isinf(e, [b], node, dtype))
    return e.b.select(either_inf, inf, e.b.fptrunc(r, a.type))


def _float_extremum(pred):
    """torch's maximum (">=") / minimum ("<="): a where a pred b or a is NaN, else b (NaN
    from either side; the first operand on ties, so the first of two signed zeros, where
    llvm.maximum would give +0.0)."""
    def rule(e, args, node, dtype):
        a, b = args
        keep = e.b.or_(e.b.fcmp_ordered(pred, a, b), e.b.fcmp_unordered("uno", a, a))
        return e.b.select(keep, a, b)
    return rule


lowers("f", maximum=_float_extremum(">="), minimum=_float_extremum("<="))


@lowering("isinf")
def _isinf(e, args, node, dtype):
    x = args[0]
    return e.b.fcmp_ordered("==", e.intrinsic("llvm.fabs", x.type, x),
                            ir.Constant(x.type, float("inf")))


@functools.cache
def _bessel_series(order):
    """Chebyshev coefficients (t in [-1, 1]) of e^-x I(x), divided by x for I1, on x = 4(t + 1)
    in [0, 8], and of sqrt(x) e^-x I(x) on x = 16 / (t + 1) >= 8: both smooth, so 33 and 27
    terms reach double precision (max relative error 8e-15 against scipy, which is where
    they are interpolated from)."""
    from scipy import special
    scaled = special.i0e if order == 0 else special.i1e
    divisor = 1.0 if order == 0 else 4.0
    near = np.polynomial.chebyshev.chebinterpolate(
        lambda t: scaled(4 * (t + 1)) / (divisor * (t + 1)) ** order, 32)
    far = np.polynomial.chebyshev.chebinterpolate(
        lambda t: np.sqrt(16 / (t + 1)) * scaled(16 / (t + 1)), 26)
    return near, far


def _clenshaw(e, t, coefficients):
    """sum c_k T_k(t) by Clenshaw's recurrence, in t's type."""
    b, ty = e.b, t.type
    two_t = b.fadd(t, t)
    b1 = b2 = ir.Constant(ty, 0.0)
    for c in coefficients[:0:-1]:
        b1, b2 = b.fadd(b.fsub(b.fmul(two_t, b1), b2), ir.Constant(ty, float(c))), b1
    return b.fsub(b.fadd(b.fmul(t, b1), ir.Constant(ty, float(coefficients[0]))), b2)


def _bessel(order):
    """i0 (order 0, even) or i1 (order 1, odd) as e^|x| times a Chebyshev series, in float64
    for float32 too (one rounding at the end). NaN at +-inf, as torch's and scipy's (Cephes'
    e^x * series / sqrt(x) there is inf / inf)."""
    def rule(e, args, node, dtype):
        b, d = e.b, ir.DoubleType()
        x = args[0] if dtype == F64 else b.fpext(args[0], d)
        ax = e.intrinsic("llvm.fabs", d, x)
        near, far = _bessel_series(order)
        big = b.fcmp_ordered(">", ax, ir.Constant(d, 8.0))
        ax_far = b.select(big, ax, ir.Constant(d, 8.0))    # keeps the unused arm finite
        s_near = _clenshaw(e, b.fsub(b.fmul(ax, ir.Constant(d, 0.25)), ir.Constant(d, 1.0)),
                           near)
        s_near = b.fmul(s_near, ax) if order == 1 else s_near
        t_far = b.fsub(b.fdiv(ir.Constant(d, 16.0), ax_far), ir.Constant(d, 1.0))
        s_far = b.fdiv(_clenshaw(e, t_far, far), e.intrinsic("llvm.sqrt", d, ax_far))
        r = b.fmul(e.math("exp", ax), b.select(big, s_far, s_near))
        if order == 1:      # odd; i1(-0.0) is +0.0 in torch, so not copysign
            r = b.select(b.fcmp_ordered("<", x, ir.Constant(d, 0.0)), b.fneg(r), r)
        return r if dtype == F64 else b.fptrunc(r, args[0].type)
    return rule


def _logical(op):
    def rule(e, args, node, dtype):
        return getattr(e.b, op)(*args)
    return rule


def _mathlib(name):
    return lambda e, a, n, d: e.math(name, a[0])


def _intrinsic(name):
    return lambda e, a, n, d: e.intrinsic(name, a[0].type, a[0])


def _same(e, a, n, d):
    return a[0]


def _false(e, a, n, d):
    return ir.Constant(ir.IntType(1), 0)


def _compare(pred):
    def rule(e, a, n, d):
        if is_float(d):
            cmp = e.b.fcmp_unordered if pred == "!=" else e.b.fcmp_ordered
            return cmp(pred, *a)
        signed = e.b.icmp_unsigned if d == BOOL else e.b.icmp_signed
        return signed(pred, *a)
    return rule


lowers("f",
    neg=lambda e, a, n, d: e.b.fneg(a[0]),
    exp=lambda e, a, n, d: e.math("exp", a[0]),
    log=lambda e, a, n, d: e.math("log", a[0]),
    expm1=lambda e, a, n, d: e.math("expm1", a[0]),
    log1p=lambda e, a, n, d: e.math("log1p", a[0]),
    tanh=lambda e, a, n, d: e.math("tanh", a[0]),
    sigmoid=lambda e, a, n, d: e.math("sigmoid", a[0]),
    erf=lambda e, a, n, d: e.math("erf", a[0]),
    sqrt=lambda e, a, n, d: e.intrinsic("llvm.sqrt", a[0].type, a[0]),
    rsqrt=lambda e, a, n, d: e.b.fdiv(e.const(1, d), e.intrinsic("llvm.sqrt", a[0].type,
                                                                   a[0])),
    abs=lambda e, a, n, d: e.intrinsic("llvm.fabs", a[0].type, a[0]),
    sin=lambda e, a, n, d: e.intrinsic("llvm.sin", a[0].type, a[0]),
    cos=lambda e, a, n, d: e.intrinsic("llvm.cos", a[0].type, a[0]),
    floor=lambda e, a, n, d: e.intrinsic("llvm.floor", a[0].type, a[0]),
    ceil=lambda e, a, n, d: e.intrinsic("llvm.ceil", a[0].type, a[0]),
    trunc=lambda e, a, n, d: e.intrinsic("llvm.trunc", a[0].type, a[0]),
    round=lambda e, a, n, d: e.intrinsic("llvm.roundeven", a[0].type, a[0]),
    sign=lambda e, a, n, d: _select_sign(e, a[0], d),
    # issue 9: vectorized from mathlib where it has them, else C's libm (scalar calls)
    **{name: _mathlib(name) for name in ("sinh", "cosh", "asinh", "acosh", "atanh", "erfinv")},
    **{name: _intrinsic("llvm." + name) for name in ("tan", "asin", "acos", "atan")},
    erfc=lambda e, a, n, d: e.libm("erfc", a[0]),
    lgamma=lambda e, a, n, d: e.libm("lgamma", a[0]),
    i0=_bessel(0),
    i1=_bessel(1),
)

lowers("i",
    neg=lambda e, a, n, d: e.b.neg(a[0]),
    sign=lambda e, a, n, d: _select_sign(e, a[0], d),
)

lowers("f",
    add=lambda e, a, n, d: e.b.fadd(*a),
    sub=lambda e, a, n, d: e.b.fsub(*a),
    mul=lambda e, a, n, d: e.b.fmul(*a),
    div=lambda e, a, n, d: e.b.fdiv(*a),
    fmod=lambda e, a, n, d: e.b.frem(*a),           # LLVM's frem is C's fmod
    copysign=lambda e, a, n, d: e.intrinsic("llvm.copysign", a[0].type, *a),
    atan2=lambda e, a, n, d: e.intrinsic("llvm.atan2", a[0].type, *a),
)

def _shift_count(e, count, dtype, shifted_out):
    """torch's count rule: a count in [0, bits) as it is, any other (negative too: the
    unsigned compare) `shifted_out`, where LLVM's shifts would give poison."""
    bits = e.const(np.dtype(dtype).itemsize * 8, dtype)
    inside = e.b.icmp_unsigned("<", count, bits)
    return inside, e.b.select(inside, count, e.const(shifted_out, dtype))


def _left_shift(e, args, node, dtype):
    """a << b; 0 for a count out of range"""
    inside, count = _shift_count(e, args[1], dtype, 0)
    return e.b.select(inside, e.b.shl(args[0], count), e.const(0, dtype))


def _right_shift(e, args, node, dtype):
    """a >> b, arithmetic (the lowered integers are signed); by bits - 1 (the sign's fill)
    for a count out of range"""
    return e.b.ashr(args[0], _shift_count(e, args[1], dtype,
                                          np.dtype(dtype).itemsize * 8 - 1)[1])


lowers("i",
    add=lambda e, a, n, d: e.b.add(*a),
    sub=lambda e, a, n, d: e.b.sub(*a),
    mul=lambda e, a, n, d: e.b.mul(*a),
    maximum=_int_extremum(">"),
    minimum=_int_extremum("<"),
    bitwise_and=lambda e, a, n, d: e.b.and_(*a),
    bitwise_or=lambda e, a, n, d: e.b.or_(*a),
    bitwise_xor=lambda e, a, n, d: e.b.xor(*a),
    bitwise_not=lambda e, a, n, d: e.b.not_(a[0]),
    bitwise_left_shift=_left_shift,
    bitwise_right_shift=_right_shift,
)

# comparisons compute in their operands' promoted dtype, logical ops in bool (compute_dtype)
COMPARISONS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
LOGICAL = {"logical_and": "and_", "logical_or": "or_", "logical_xor": "xor"}
lowers("fib", **{op: _compare(pred) for op, pred in COMPARISONS.items()})
lowers("b", **{op: _logical(method) for op, method in LOGICAL.items()},
       logical_not=lambda e, a, n, d: e.b.not_(a[0]))
lowers("f", isnan=lambda e, a, n, d: e.b.fcmp_unordered("uno", a[0], a[0]))
lowers("ib", isnan=_false, isinf=_false)
# the conversion to the compute dtype does a cast's work; rounding an integer changes nothing
lowers("fib", copy=_same, detach=_same, cast=_same,
       where=lambda e, a, n, d: e.b.select(*a))
lowers("ib", floor=_same, ceil=_same, trunc=_same, round=_same)


def rule_for(node):
    """(rule, compute dtype) for an elementwise node, or None when there is none."""
    dtype = compute_dtype(node)
    # bfloat16 only in casts: other ops compute it in float32 (passes/widen_bf16.py)
    known = SUPPORTED_DTYPES + ((BF16,) if node.op == "cast" else ())
    if dtype not in known or node.dtype not in known:
        return None
    if any(getattr(i, "dtype", F64) not in known for i in node.inputs):
        return None
    kind = "f" if is_float(dtype) else "b" if dtype == BOOL else "i"
    rule = LOWERINGS.get(node.op, {}).get(kind)
    if rule is None or node.op in FLOAT32_ONLY and dtype != F32:
        return None
    return rule, dtype
