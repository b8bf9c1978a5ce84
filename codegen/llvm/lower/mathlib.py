"""Vectorizable math functions for generated kernels, built with llvmlite.ir.

    fn = mathlib.get(module, "tanh", ir.FloatType())   # created once per module
    y = builder.call(fn, [x])

Why: LLVM's `llvm.exp`/`llvm.tanh` intrinsics look vectorized in the IR but the x86 backend
splits them into one scalar libm call per lane (1 GB/s for a gelu loop, against 30+ GB/s
inline). So the transcendentals here are branch-free scalar IR (selects, no control flow),
`internal` + `alwaysinline`: they inline into the caller's loop and the loop vectorizer turns
them into SIMD code. Tests check the optimized assembly of a loop over each one for calls.

Algorithms (Cephes / fdlibm / Eigen), same structure for float32 and float64:
- exp: x = n ln2 + r with n = round(x/ln2) (shifter trick, no rounding intrinsic), Cephes
  polynomial (f32) or Taylor polynomial (f64) for e^r - 1, then scaling by 2^n as two exact
  powers of two, so results that overflow give inf and subnormal results are rounded once.
- expm1: the same reduction; 2^n (e^r - 1) + (2^n - 1), exact near 0.
- log: exponent and mantissa by bitcast (subnormals scaled first), m in [sqrt(1/2), sqrt(2));
  Cephes polynomial (f32) or fdlibm's s = f/(2+f) series (f64).
- log1p: Kahan's log(u) * x / (u - 1) with u = 1 + x.
- tanh: expm1(2|x|) / (expm1(2|x|) + 2) with the sign put back, |x| clamped where it is 1.
- sigmoid: e = exp(-|x|), 1/(1+e) or e/(1+e) by the sign: no overflow for any x.
- erf: Eigen's rational (f32, clamped to [-4, 4]); Cephes x T(x^2)/U(x^2) below 1 and
  1 - exp(-x^2) P(x)/Q(x) above (f64).
- rsqrt: 1/sqrt(x), correctly rounded steps (no approximate reciprocal).
- sinh, cosh: expm1 / exp of |x| below 9 (f32) or 19 (f64), e^|x| / 2 as 2^(n-1) e^r above
  (exact scaling: finite up to the true overflow threshold, 89.4 in float32).
- asinh, acosh, atanh: fdlibm's range splits (log1p near 0 or 1, log in the middle,
  log|x| + ln 2 where x^2 + 1 rounds to x^2), every range evaluated and one selected.
- erfinv (float32 only): Giles' polynomial estimate and one Newton step on erf(y) = x, both
  in float64, rounded once to float32.

Accuracy, in ulp of the exact value (subnormal spacing below the normal range). float32: the
maximum over all 2^32 inputs against numpy/scipy in float64, measured once exhaustively;
float64: against mpmath on 45,000 points per function, with some margin. Held by
tests/llvm/test_llvm_math.py on samples that include subnormals, both overflow thresholds, 0,
+-inf and NaN:

    function  float32 bound (exhaustive max)   float64 bound (sampled max)
    exp       1.1  (1.01)                      1.5  (0.96)
    expm1     1.5  (1.44)                      2.0  (1.69)
    log       1.0  (0.83)                      1.0  (0.75)
    log1p     2.5  (2.47)                      2.5  (2.09)
    tanh      2.5  (2.42)                      3.0  (2.49)
    sigmoid   2.5  (2.40)                      2.5  (1.84)
    erf       7.5  (7.48, near |x| = 4;        3.0  (2.49)
                    4 ulp on [-1, 1])
    rsqrt     1.5                              1.5 (numpy's 1/sqrt bit for bit)
    sinh      2.0  (1.96)                      1.5  (1.43)
    cosh      1.5  (1.35)                      1.5  (1.19)
    asinh     3.0  (2.63)                      2.5  (2.12)
    acosh     3.5  (3.00)                      3.0  (2.64)
    atanh     3.0  (2.75)                      2.5  (2.04)
    erfinv    0.5  (0.50)                      -    (float32 only)
(The last six: float32 maxima over 4M random bit patterns, not all 2^32, and float64 over
4,000 points; tests/llvm/test_math_ops.py holds them.)
Special values are exact: NaN -> NaN; exp(+-inf) = inf, 0; expm1(-inf) = -1; log(0) = -inf,
log(x<0) = NaN, log(inf) = inf; log1p(-1) = -inf; tanh, erf(+-inf) = +-1; sigmoid(+-inf) =
1, 0; sinh, asinh(+-inf) = +-inf, cosh(+-inf) = inf; acosh(x < 1) = NaN; atanh, erfinv(+-1) =
+-inf and NaN beyond; -0.0 keeps its sign where the function is odd.

Floating-point flags: only `contract` (FMA), never `nnan`/`ninf`/`afn`/`arcp`/`reassoc`.

Intrinsics that the x86 backend expands inline (no libm call, vectorized; checked by the
tests): sqrt, fabs/abs, floor, ceil, trunc, round (half to even: `llvm.roundeven`, like
torch.round), rint, copysign, minimum/maximum (NaN-propagating, like torch.minimum/maximum),
fmin/fmax (`llvm.minnum`/`maxnum`, NaN-ignoring). `get` returns their declarations.
"""
import math

from llvmlite import ir

FLAGS = ("contract",)  # FMA contraction only; see the module docstring

# name -> (LLVM intrinsic, number of operands)
_INTRINSICS = {
    "sqrt": ("llvm.sqrt", 1), "fabs": ("llvm.fabs", 1), "abs": ("llvm.fabs", 1),
    "floor": ("llvm.floor", 1), "ceil": ("llvm.ceil", 1), "trunc": ("llvm.trunc", 1),
    "round": ("llvm.roundeven", 1), "rint": ("llvm.rint", 1),
    "copysign": ("llvm.copysign", 2), "minimum": ("llvm.minimum", 2),
    "maximum": ("llvm.maximum", 2), "fmin": ("llvm.minnum", 2), "fmax": ("llvm.maxnum", 2),
}


def get(module, name, ty):
    """The function `name` for float type `ty` in `module`, added on first request."""
    if name in _INTRINSICS:
        intrinsic, arity = _INTRINSICS[name]
        return module.declare_intrinsic(intrinsic, [ty], ir.FunctionType(ty, [ty] * arity))
    if name not in _BUILDERS:
        known = sorted([*_BUILDERS, *_INTRINSICS])
        raise KeyError(f"mathlib has no function {name!r}; known: {', '.join(known)}")
    if not isinstance(ty, (ir.FloatType, ir.DoubleType)):
        raise TypeError(f"mathlib.{name} needs float or double, got {ty}")
    fname = f"tracecomp.math.{name}.{'f64' if isinstance(ty, ir.DoubleType) else 'f32'}"
    if fname in module.globals:
        return module.globals[fname]
    fn = ir.Function(module, ir.FunctionType(ty, [ty]), name=fname)
    fn.linkage = "internal"
    fn.attributes.add("alwaysinline")
    fn.attributes.add("nounwind")
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    builder.ret(_BUILDERS[name](_Emit(builder, ty), fn.args[0]))
    return fn


class _Emit:
    """Scalar float arithmetic for one type at a builder's position (`contract` only)."""

    def __init__(self, builder, ty):
        self.b = builder
        self.ty = ty
        self.f64 = isinstance(ty, ir.DoubleType)
        self.ity = ir.IntType(64 if self.f64 else 32)
        self.mant_bits = 52 if self.f64 else 23
        self.bias = 1023 if self.f64 else 127

    def c(self, value):
        return ir.Constant(self.ty, value)

    def ci(self, value):
        return ir.Constant(self.ity, value)

    def add(self, a, b):
        return self.b.fadd(a, b, flags=FLAGS)

    def sub(self, a, b):
        return self.b.fsub(a, b, flags=FLAGS)

    def mul(self, a, b):
        return self.b.fmul(a, b, flags=FLAGS)

    def div(self, a, b):
        return self.b.fdiv(a, b)

    def horner(self, x, coeffs):
        """coeffs[0] x^k + ... + coeffs[k]; each step becomes one FMA."""
        acc = self.c(coeffs[0])
        for coeff in coeffs[1:]:
            acc = self.add(self.mul(acc, x), self.c(coeff))
        return acc

    def horner1(self, x, coeffs):
        """Cephes p1evl: like horner with an implicit leading coefficient 1."""
        return self.horner(x, [1.0, *coeffs])

    def lt(self, a, b):
        return self.b.fcmp_ordered("<", a, b)

    def gt(self, a, b):
        return self.b.fcmp_ordered(">", a, b)

    def eq(self, a, b):
        return self.b.fcmp_ordered("==", a, b)

    def select(self, cond, a, b):
        return self.b.select(cond, a, b)

    def call(self, name, *args):
        return self.b.call(get(self.b.module, name, self.ty), args)

    def clamp(self, x, lo, hi):
        """x clamped to [lo, hi] (either may be None); NaN stays NaN."""
        if hi is not None:
            x = self.select(self.gt(x, self.c(hi)), self.c(hi), x)
        if lo is not None:
            x = self.select(self.lt(x, self.c(lo)), self.c(lo), x)
        return x

    def pow2(self, n):
        """2^n as a float, for integer n within the normal exponent range."""
        biased = self.b.add(n, self.ci(self.bias))
        return self.b.bitcast(self.b.shl(biased, self.ci(self.mant_bits)), self.ty)

    def ldexp(self, y, n):
        """y * 2^n in two exact steps, so overflow gives inf and underflow rounds once."""
        half = self.b.ashr(n, self.ci(1))
        return self.mul(self.mul(y, self.pow2(half)), self.pow2(self.b.sub(n, half)))


# --- exp family -------------------------------------------------------------------------

_LOG2E = 1.4426950408889634
# ln2 split so that n * hi is exact for the n we meet (Cephes).
_LN2_F32 = (0.693359375, -2.12194440e-4)
_LN2_F64 = (6.93145751953125e-1, 1.42860682030941723212e-6)
_EXPF_P = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
           1.6666665459e-1, 5.0000001201e-1]
# f64: Taylor to r^13 (the next term is below 0.1 ulp for |r| <= ln2/2): no division, unlike
# Cephes' Pade form, and more accurate for expm1 near 0.
_EXP_TAYLOR = [1.0 / math.factorial(k) for k in range(13, 1, -1)]
# Clamps: exp(lo) rounds to 0 and exp(hi) to inf, and n stays where ldexp is exact.
_EXP_RANGE = {False: (-110.0, 89.0), True: (-760.0, 710.0)}


def _exp_reduce(e, x):
    """Integer n and e^r - 1 (accurate near 0) with x = n ln2 + r, for |x| < 2^20.

    n comes from the float's bits (bitcast, never fptosi), so a NaN x gives some integer n
    and a NaN e^r - 1: NaN flows to the result with no select at the end."""
    shifter = e.c(1.5 * 2.0 ** e.mant_bits)  # adding it rounds x/ln2 to an integer
    t = e.add(e.mul(x, e.c(_LOG2E)), shifter)
    n = e.b.sub(e.b.bitcast(t, e.ity), e.b.bitcast(shifter, e.ity))
    nf = e.sub(t, shifter)
    hi, lo = _LN2_F64 if e.f64 else _LN2_F32
    r = e.sub(e.sub(x, e.mul(nf, e.c(hi))), e.mul(nf, e.c(lo)))
    # e^r - 1 = r + r^2 P(r)
    em1 = e.add(e.mul(e.horner(r, _EXP_TAYLOR if e.f64 else _EXPF_P), e.mul(r, r)), r)
    return n, em1


def _exp(e, x):
    n, em1 = _exp_reduce(e, e.clamp(x, *_EXP_RANGE[e.f64]))
    return e.ldexp(e.add(em1, e.c(1.0)), n)


def _expm1_clamped(e, x):
    """e^x - 1 for x in [lo, 44] (n <= 64): 2^n (e^r - 1) + (2^n - 1), one FMA."""
    n, em1 = _exp_reduce(e, x)
    t = e.pow2(n)
    return e.add(e.mul(t, em1), e.sub(t, e.c(1.0)))


def _expm1(e, x):
    # Below lo, e^x - 1 rounds to -1; above 44, the -1 is lost in rounding and exp is used.
    lo = -40.0 if e.f64 else -30.0
    big = e.gt(x, e.c(44.0))
    y = e.select(big, _exp(e, x), _expm1_clamped(e, e.clamp(x, lo, 44.0)))
    return e.select(e.eq(x, e.c(0.0)), x, y)  # -0.0 stays -0.0


def _tanh(e, x):
    # tanh(|x|) = u / (u + 2), u = expm1(2|x|); exact to rounding at 0, and 1.0 beyond the
    # clamp (tanh(9.1) and tanh(20) round to 1 in float32 and float64).
    ax = e.clamp(e.call("fabs", x), None, 20.0 if e.f64 else 9.1)
    u = _expm1_clamped(e, e.add(ax, ax))
    return e.call("copysign", e.div(u, e.add(u, e.c(2.0))), x)


def _sigmoid(e, x):
    # t = exp(-|x|) is in [0, 1]: 1/(1+t) for x >= 0, t/(1+t) below; never inf/inf, and
    # one division either way.
    t = _exp(e, e.b.fneg(e.call("fabs", x)))
    num = e.select(e.b.fcmp_ordered(">=", x, e.c(0.0)), e.c(1.0), t)
    return e.div(num, e.add(e.c(1.0), t))


# --- log family -------------------------------------------------------------------------

_LOGF_P = [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1,
           1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1,
           3.3333331174e-1]
_LG = [6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
       2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
       1.479819860511658591e-01]  # fdlibm Lg1..Lg7
_LN2_HI_F64, _LN2_LO_F64 = 6.93147180369123816490e-01, 1.90821492927058770002e-10


def _frexp(e, x):
    """For finite x > 0: integer k and f = m - 1 with x = m 2^k, m in [sqrt(1/2), sqrt(2))."""
    tiny = 2.0 ** -1022 if e.f64 else 2.0 ** -126
    subnormal = e.lt(x, e.c(tiny))
    scale_bits = 54 if e.f64 else 24  # scale subnormals up into the normal range first
    x = e.select(subnormal, e.mul(x, e.c(2.0 ** scale_bits)), x)
    bits = e.b.bitcast(x, e.ity)
    exp_field = e.b.and_(e.b.lshr(bits, e.ci(e.mant_bits)), e.ci(0x7FF if e.f64 else 0xFF))
    k = e.b.sub(exp_field, e.ci(e.bias))
    k = e.b.sub(k, e.b.select(subnormal, e.ci(scale_bits), e.ci(0)))
    mant_mask = (1 << e.mant_bits) - 1
    one_bits = e.bias << e.mant_bits
    m = e.b.bitcast(e.b.or_(e.b.and_(bits, e.ci(mant_mask)), e.ci(one_bits)), e.ty)  # [1, 2)
    big = e.gt(m, e.c(2.0 ** 0.5))
    m = e.select(big, e.mul(m, e.c(0.5)), m)
    k = e.b.add(k, e.b.zext(big, e.ity))
    return k, e.sub(m, e.c(1.0))


def _log_core(e, x):
    """log(x) for finite x > 0."""
    k, f = _frexp(e, x)
    kf = e.b.sitofp(k, e.ty)
    if e.f64:  # fdlibm: log(1+f) = f - f^2/2 + s (f^2/2 + R(s^2)), s = f / (2 + f)
        s = e.div(f, e.add(e.c(2.0), f))
        z = e.mul(s, s)
        w = e.mul(z, z)
        t1 = e.mul(w, e.horner(w, _LG[5::-2]))
        t2 = e.mul(z, e.horner(w, _LG[6::-2]))
        hfsq = e.mul(e.mul(e.c(0.5), f), f)
        inner = e.add(e.mul(s, e.add(hfsq, e.add(t2, t1))), e.mul(kf, e.c(_LN2_LO_F64)))
        return e.sub(e.mul(kf, e.c(_LN2_HI_F64)), e.sub(e.sub(hfsq, inner), f))
    # Cephes logf: log(1+f) = f - f^2/2 + f^3 P(f)
    z = e.mul(f, f)
    y = e.mul(e.mul(f, z), e.horner(f, _LOGF_P))
    y = e.add(y, e.mul(kf, e.c(_LN2_F32[1])))
    y = e.sub(y, e.mul(e.c(0.5), z))
    return e.add(e.add(f, y), e.mul(kf, e.c(_LN2_F32[0])))


def _log(e, x):
    inf = float("inf")
    y = _log_core(e, x)
    y = e.select(e.eq(x, e.c(inf)), e.c(inf), y)
    y = e.select(e.eq(x, e.c(0.0)), e.c(-inf), y)
    return e.select(e.b.fcmp_unordered("<", x, e.c(0.0)), e.c(float("nan")), y)  # NaN too


def _log1p(e, x):
    # Kahan: u = 1 + x is rounded, but log(u) * x / (u - 1) cancels that rounding error.
    u = e.add(e.c(1.0), x)
    lu = _log(e, u)
    y = e.mul(lu, e.div(x, e.sub(u, e.c(1.0))))
    keep_x = e.b.or_(e.eq(u, e.c(1.0)), e.eq(lu, u))  # x tiny (incl. -0.0), or x = +inf
    return e.select(keep_x, x, y)


# --- erf ----------------------------------------------------------------------------------

_ERFF_ALPHA = [-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06,
               -5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03,
               -1.60960333262415e-02]
_ERFF_BETA = [-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03,
              -7.37332916720468e-03, -1.42647390514189e-02]
_ERF_T = [9.60497373987051638749e0, 9.00260197203842689217e1, 2.23200534594684319226e3,
          7.00332514112805075473e3, 5.55923013010394962768e4]
_ERF_U = [3.35617141647503099647e1, 5.21357949780152679795e2, 4.59432382970980127987e3,
          2.26290000613890934246e4, 4.92673942608635921086e4]
_ERFC_P = [2.46196981473530512524e-10, 5.64189564831068821977e-1, 7.46321056442269912687e0,
           4.86371970985681366614e1, 1.96520832956077098242e2, 5.26445194995477358631e2,
           9.34528527171957607540e2, 1.02755188689515710272e3, 5.57535335369399327526e2]
_ERFC_Q = [1.32281951154744992508e1, 8.67072140885989742329e1, 3.54937778887819891062e2,
           9.75708501743205489753e2, 1.82390916687909736289e3, 2.24633760818710981792e3,
           1.65666309194161350182e3, 5.57535340817727675546e2]


def _erf(e, x):
    if not e.f64:  # Eigen: x alpha(x^2) / beta(x^2) on [-4, 4]; erf(4) rounds to 1.
        xc = e.select(e.gt(x, e.c(4.0)), e.c(4.0), x)
        xc = e.select(e.lt(xc, e.c(-4.0)), e.c(-4.0), xc)
        x2 = e.mul(xc, xc)
        ratio = e.div(e.horner(x2, _ERFF_ALPHA), e.horner(x2, _ERFF_BETA))
        return e.mul(xc, ratio)  # ratio first: a subnormal x is scaled once, not twice
    ax = e.call("fabs", x)
    x2 = e.mul(x, x)
    small = e.mul(x, e.div(e.horner(x2, _ERF_T), e.horner1(x2, _ERF_U)))
    # |x| >= 1: 1 - erfc(|x|); erf(6) rounds to 1, and P/Q hold up to 8.
    axc = e.select(e.gt(ax, e.c(6.0)), e.c(6.0), ax)
    gauss = _exp(e, e.b.fneg(e.mul(axc, axc)))
    erfc = e.mul(gauss, e.div(e.horner(axc, _ERFC_P), e.horner1(axc, _ERFC_Q)))
    large = e.call("copysign", e.sub(e.c(1.0), erfc), x)
    return e.select(e.lt(ax, e.c(1.0)), small, large)


def _rsqrt(e, x):
    return e.div(e.c(1.0), e.call("sqrt", x))


# --- hyperbolic functions and their inverses ---------------------------------------------

# Above this |x|, e^-|x| is below half an ulp of e^|x|: sinh and cosh are e^|x| / 2 there.
_HYP_BIG = {False: 9.0, True: 19.0}
# Past the overflow threshold of e^|x| / 2 (89.42 in float32, 710.48 in float64), with n of
# the reduction in the range where ldexp is exact.
_HYP_CLAMP = {False: 90.0, True: 711.0}
# Beyond this |x|, sqrt(x^2 + 1) rounds to |x|: asinh(x) = log(2|x|), acosh too.
_HYP_HUGE = {False: 2.0 ** 12, True: 2.0 ** 28}
_LN2 = math.log(2.0)


def _half_exp(e, ax):
    """e^ax / 2 as 2^(n-1) e^r: scaled exactly, so it overflows only where e^ax / 2 does
    (sinh(89.4) is finite in float32 although e^89.4 is not)."""
    n, em1 = _exp_reduce(e, e.clamp(ax, None, _HYP_CLAMP[e.f64]))
    return e.ldexp(e.add(em1, e.c(1.0)), e.b.sub(n, e.ci(1)))


def _sinh(e, x):
    # |x| small: u = expm1(|x|), sinh = (u + u / (u + 1)) / 2, no cancellation near 0
    ax = e.call("fabs", x)
    big = _HYP_BIG[e.f64]
    u = _expm1_clamped(e, e.clamp(ax, None, big))
    small = e.mul(e.c(0.5), e.add(u, e.div(u, e.add(u, e.c(1.0)))))
    y = e.select(e.gt(ax, e.c(big)), _half_exp(e, ax), small)
    return e.call("copysign", y, x)


def _cosh(e, x):
    ax = e.call("fabs", x)
    big = _HYP_BIG[e.f64]
    t = _exp(e, e.clamp(ax, None, big))
    small = e.mul(e.c(0.5), e.add(t, e.div(e.c(1.0), t)))
    return e.select(e.gt(ax, e.c(big)), _half_exp(e, ax), small)


def _asinh(e, x):
    # fdlibm's three ranges; each is evaluated and the right one selected (no branches)
    one, ax = e.c(1.0), e.call("fabs", x)
    x2 = e.mul(ax, ax)
    root = e.call("sqrt", e.add(x2, one))
    small = e.call("log1p", e.add(ax, e.div(x2, e.add(one, root))))        # |x| <= 2
    mid = e.call("log", e.add(e.add(ax, ax), e.div(one, e.add(ax, root))))
    huge = e.add(e.call("log", ax), e.c(_LN2))
    y = e.select(e.gt(ax, e.c(2.0)), mid, small)
    y = e.select(e.gt(ax, e.c(_HYP_HUGE[e.f64])), huge, y)
    return e.call("copysign", y, x)


def _acosh(e, x):
    one = e.c(1.0)
    t = e.sub(x, one)                                   # exact for x in [1, 2]
    small = e.call("log1p", e.add(t, e.call("sqrt", e.mul(t, e.add(t, e.c(2.0))))))
    mid = e.call("log", e.sub(e.add(x, x),
                              e.div(one, e.add(x, e.call("sqrt", e.sub(e.mul(x, x), one))))))
    huge = e.add(e.call("log", x), e.c(_LN2))
    y = e.select(e.gt(x, e.c(2.0)), mid, small)
    y = e.select(e.gt(x, e.c(_HYP_HUGE[e.f64])), huge, y)
    return e.select(e.b.fcmp_unordered("<", x, one), e.c(float("nan")), y)  # x < 1, NaN


def _atanh(e, x):
    # atanh|x| = log1p(2|x| / (1 - |x|)) / 2, with 2|x| + 2|x|^2 / (1 - |x|) below 1/2
    ax = e.call("fabs", x)
    t = e.add(ax, ax)
    den = e.sub(e.c(1.0), ax)
    small = e.call("log1p", e.add(t, e.div(e.mul(t, ax), den)))
    large = e.call("log1p", e.div(t, den))
    y = e.mul(e.c(0.5), e.select(e.lt(ax, e.c(0.5)), small, large))
    return e.call("copysign", y, x)


# --- erfinv (float32) -----------------------------------------------------------------------

# Giles, "Approximating the erfinv function" (GPU Computing Gems, 2011), single precision:
# erfinv(x) ~ x P(w), w = -log(1 - x^2), one polynomial for w < 5 and one in sqrt(w) above.
_ERFINV_CENTRAL = [2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
                   2.1858087e-04, -1.25372503e-03, -4.17768164e-03, 2.46640727e-01,
                   1.50140941e+00]
_ERFINV_TAIL = [-2.00214257e-04, 1.00950558e-04, 1.34934322e-03, -3.67342844e-03,
                5.73950773e-03, -7.6224613e-03, 9.43887047e-03, 1.00167406e+00,
                2.83297682e+00]


def _erfinv(e, x):
    """float32 only: Giles' estimate in float64, one Newton step on erf(y) = x in float64
    (its error ~1e-7 becomes ~1e-14), then rounded once to float32."""
    if e.f64:
        raise TypeError("mathlib.erfinv is float32 only (its Newton step runs in float64)")
    d = _Emit(e.b, ir.DoubleType())
    xd = e.b.fpext(x, d.ty)
    one = d.c(1.0)
    w = e.b.fneg(d.call("log", d.mul(d.sub(one, xd), d.add(one, xd))))
    central = d.horner(d.sub(w, d.c(2.5)), _ERFINV_CENTRAL)
    tail = d.horner(d.sub(d.call("sqrt", w), d.c(3.0)), _ERFINV_TAIL)
    y = d.mul(d.select(d.lt(w, d.c(5.0)), central, tail), xd)
    slope = d.mul(d.c(2.0 / math.sqrt(math.pi)), _exp(d, e.b.fneg(d.mul(y, y))))
    y = d.sub(y, d.div(d.sub(_erf(d, y), xd), slope))
    ax = d.call("fabs", xd)
    y = d.select(d.eq(ax, one), d.call("copysign", d.c(float("inf")), xd), y)
    y = d.select(e.b.fcmp_unordered(">", ax, one), d.c(float("nan")), y)   # |x| > 1, NaN
    return e.b.fptrunc(y, e.ty)


_BUILDERS = {"exp": _exp, "expm1": _expm1, "log": _log, "log1p": _log1p, "tanh": _tanh,
             "sigmoid": _sigmoid, "erf": _erf, "rsqrt": _rsqrt, "sinh": _sinh, "cosh": _cosh,
             "asinh": _asinh, "acosh": _acosh, "atanh": _atanh, "erfinv": _erfinv}
NAMES = sorted([*_BUILDERS, *_INTRINSICS])
