"""A fused elementwise group as the Python source of a numba-cuda kernel.

    text = kernel_source(group, "kernel3")    # def kernel3(in0, in1, out): ...

One thread per output element. The thread's flat index is split into the root's index (C
order); movement ops fold into that index arithmetic through the shared index maps
(codegen/index_maps.py, with index_source.py printing Python expressions); each elementwise
node is one line (or a few, for a rule of several steps), cast to its dtype so that
float32 stays float32 (a Python float constant would widen it). The group's inputs arrive
as device arrays of their own shapes (a 0-d one as a 1-element array), the result as a
flat array. numba.cuda.jit compiles the text for the GPU at hand, and numba.cuda.compile_ptx
for any GPU without one, which is how the tests check that every emitted kernel is real
CUDA and not only what the simulator runs. Reductions, products and scans have kernels of
their own shapes (reduce_source, matmul_source, dots_source, scan_source);
launches.launch_for picks a group's.
"""
import math

import numpy as np

from tracecomp.codegen import index_maps
from tracecomp.codegen.kernel_facts import (
    compute_dtype,
    gather_gradient,
    indexes_in_range,
    operand_dtypes,
)
from tracecomp.ir import Node
from tracecomp.ops.conv import out_size

from .index_source import HoistedIndexOps, digits

# numba's scalar types under the names the kernels use
SCALAR = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64", np.dtype(np.int64): "i64",
          np.dtype(np.int32): "i32", np.dtype(np.bool_): "b1"}
PREAMBLE = ("import math\nfrom numba import cuda\n"
            "from numba import float32 as f32, float64 as f64, int64 as i64, int32 as i32, "
            "boolean as b1\n")

# op -> {dtype kinds computed in ("f" float, "i" integer, "b" bool): expression}, with its
# operands as {0}, {1}, ..., and {zero}/{one}/{inf}/{nan} in the compute dtype {t}; or a
# tuple of expressions, steps each stored in a variable that the later ones read as {s0},
# {s1}, ... (not device functions: numba-cuda compiles those only for the GPU present).
# Each follows torch: NaN propagates through maximum, minimum and relu, which keep the
# first operand on ties (of two signed zeros, the first); sign(NaN) is 0; comparisons
# other than != are false on NaN.
def _every(kinds, template):
    return {kinds: template}


# floor/ceil/trunc/round of a float: exact through int64 below 2^mantissa (numba types
# math.floor as an integer, and the simulator has no libdevice); above it, and for NaN and
# inf, the value is its own answer. The result takes x's sign, so -0.3 rounds to -0.0.
_ROUNDING = "({{0}} if not (abs({{0}}) < {{big}}) else {{t}}(math.copysign({}, {{0}})))"
# maximum/minimum (and the max/min reductions): NaN from either side, the first on ties
_MAXIMUM = "({0} if ({0} >= {1} or {0} != {0}) else {1})"
_MINIMUM = "({0} if ({0} <= {1} or {0} != {0}) else {1})"
# C's fmod, NaN outside its domain, where the simulator's Python math.fmod raises
_FMOD = "({t}(math.fmod({0}, {1})) if abs({0}) < {inf} and {1} != {zero} else {nan})"
# remainder and floor_divide are numpy's npy_divmod step by step (torch's rules: the
# divisor's sign; inf // 2 is NaN, x // 0 is x / 0, a zero quotient takes a / b's sign).
# fmod {s0} is moved by the divisor where their signs differ (a NaN {s0} counts as nonzero,
# as in C's `if (mod)`)
_SIGNS_DIFFER = "({s0} != {zero} and ({1} < {zero}) != ({s0} < {zero}))"
_FLOOR_DIVIDE = (
    _FMOD,
    "({0} - {s0}) / {1}",                                   # an integer, but for rounding
    "({s1} - {one} if " + _SIGNS_DIFFER + " else {s1})",
    # its floor, through int64 below 2^mantissa (as _ROUNDING); above it its own
    "({s2} if not abs({s2}) < {big} else {t}(i64({s2})) - ({one} if {t}(i64({s2})) > {s2} "
    "else {zero}))",
    "({s3} + {one} if {s2} - {s3} > {t}(0.5) else {s3})",   # snapped to the nearest
    "({0} / {1} if {1} == {zero} else "
    "({s4} if {s2} != {zero} else math.copysign({zero}, {0} / {1})))")
RULES = {
    "neg": _every("fi", "-{0}"),
    "abs": _every("fi", "abs({0})"),
    "sign": _every("fi", "({one} if {0} > {zero} else (-{one} if {0} < {zero} else {zero}))"),
    "relu": _every("fi", "({zero} if {0} < {zero} else {0})"),
    **{op: {"f": _ROUNDING.format(expr), "ib": "{0}"} for op, expr in (
        ("floor", "{t}(i64({0})) - ({one} if {t}(i64({0})) > {0} else {zero})"),
        ("ceil", "{t}(i64({0})) + ({one} if {t}(i64({0})) < {0} else {zero})"),
        ("trunc", "{t}(i64({0}))"), ("round", "{t}(round({0}))"))},
    **{op: _every("f", f"math.{op}({{0}})")
       for op in ("exp", "log", "expm1", "log1p", "sqrt", "sin", "cos", "tan", "asin",
                  "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "erf",
                  "erfc", "lgamma")},
    "rsqrt": _every("f", "{one} / math.sqrt({0})"),
    "sigmoid": _every("f", "{one} / ({one} + math.exp(-{0}))"),
    "add": _every("fi", "{0} + {1}"),
    "sub": _every("fi", "{0} - {1}"),
    "mul": _every("fi", "{0} * {1}"),
    "div": _every("f", "{0} / {1}"),
    "pow": _every("f", "{0} ** {1}"),
    "maximum": {"f": _MAXIMUM, "i": "max({0}, {1})"},
    "minimum": {"f": _MINIMUM, "i": "min({0}, {1})"},
    **{op: _every("f", f"math.{op}({{0}}, {{1}})") for op in ("atan2", "hypot", "copysign")},
    "fmod": _every("f", _FMOD),
    # integers: Python's // and % are floor division's, and the divisor is never 0 (a
    # check_range guard raises first); numba's // gives 0 for INT_MIN // -1, numpy INT_MIN
    "remainder": {"f": (_FMOD, "({s0} + {1} if " + _SIGNS_DIFFER + " else {s0})"),
                  "i": "{0} % {1}"},
    "floor_divide": {"f": _FLOOR_DIVIDE, "i": "(-{0} if {1} == -1 else {0} // {1})"},
    "where": _every("fib", "({1} if {0} else {2})"),
    **{op: _every("fib", "{0}") for op in ("copy", "detach", "cast")},   # the conversion
    #                                                  to the node's dtype does a cast's work
    **{op: _every("fib", "{0} " + sym + " {1}") for op, sym in
       (("eq", "=="), ("ne", "!="), ("lt", "<"), ("le", "<="), ("gt", ">"), ("ge", ">="))},
    "isnan": {"f": "math.isnan({0})", "ib": "False"},
    "isinf": {"f": "math.isinf({0})", "ib": "False"},
    "logical_and": _every("b", "({0} and {1})"),
    "logical_or": _every("b", "({0} or {1})"),
    "logical_xor": _every("b", "({0} != {1})"),
    "logical_not": _every("b", "(not {0})"),
    "bitwise_and": _every("i", "({0} & {1})"),
    "bitwise_or": _every("i", "({0} | {1})"),
    "bitwise_xor": _every("i", "({0} ^ {1})"),
    "bitwise_not": _every("i", "(~{0})"),
    # torch's counts: out of [0, bits) a left shift gives 0, a right shift the sign's fill
    "bitwise_left_shift": _every("i", "({0} << {1} if {1} >= 0 and {1} < {bits} else {zero})"),
    "bitwise_right_shift": _every("i", "({0} >> ({1} if {1} >= 0 and {1} < {bits} "
                                       "else {bits} - 1))"),
}
MOVEMENT = {"permute", "expand", "slice", "reshape", "pad", "flip", "concat"}
# argmax/argmin: the comparison that makes an element the new best (numpy's and torch's
# rule: the first extreme wins, and NaN counts as the extreme, its first occurrence too)
ARG = {"argmax": "({0} > {1} or ({0} != {0} and {1} == {1}))",
       "argmin": "({0} < {1} or ({0} != {0} and {1} == {1}))"}
# reduction -> (its identity as an expression of the accumulator dtype {t}, how two partial
# results {0} and {1} combine: NaN propagates through max and min)
REDUCE = {"reduce_sum": ("{t}(0)", "{0} + {1}"), "reduce_prod": ("{t}(1)", "{0} * {1}"),
          "reduce_max": ("{low}", _MAXIMUM), "reduce_min": ("{high}", _MINIMUM)}

# numpy's npy_logaddexp, branch for branch: equal operands (infinities of one sign too) add
# log(2), a NaN difference is the answer
_LOGADDEXP = ("({0} + {t}(0.6931471805599453) if {0} == {1} else "
              "({0} + {t}(math.log1p({t}(math.exp({1} - {0})))) if {0} - {1} > {t}(0) else "
              "({1} + {t}(math.log1p({t}(math.exp({0} - {1})))) if {0} - {1} <= {t}(0) else "
              "{0} - {1})))")
# scan -> (the input dtype kinds it computes, how the running value {0} takes in the next
# element {1}), in the result dtype {t}, one element after the other as numpy's accumulate
SCAN = {"cumsum": ("fib", "{0} + {1}"), "cumprod": ("fib", "{0} * {1}"),
        "logcumsumexp": ("f", _LOGADDEXP)}
# running argmax/argmin -> (kinds, when element {1} takes over from the running extremum
# {0}): ties take the later index, and the first NaN stays (ops/scan.py's rule)
CUM_ARG = {"cumargmax": ("fi", "({0} == {0} and ({1} != {1} or {1} >= {0}))"),
           "cumargmin": ("fi", "({0} == {0} and ({1} != {1} or {1} <= {0}))")}


def _kind(dtype):
    return "f" if dtype.kind == "f" else "b" if dtype.kind == "b" else "i"


def _template(node):
    """The rule's expression for node's compute dtype, or None."""
    kind = _kind(compute_dtype(node))
    return next((t for kinds, t in RULES.get(node.op, {}).items() if kind in kinds), None)


def supported(node):
    """Whether an elementwise kernel of this module computes node."""
    if node.op in ("input", "constant"):
        return node.dtype in SCALAR
    if node.dtype not in SCALAR or any(getattr(i, "dtype", None) not in SCALAR
                                       for i in node.inputs if isinstance(i, Node)):
        return False
    if node.op in MOVEMENT:
        return node.op != "concat" or all(x.shape[node.params["dim"]] for x in node.inputs)
    if node.op in REDUCE:
        return node.dtype.kind != "b" and node.inputs[0].dtype == node.dtype
    if node.op in ARG:
        return node.inputs[0].dtype.kind in "fi" and node.inputs[0].size > 0
    if node.op in SCAN or node.op in CUM_ARG:
        kinds = (SCAN.get(node.op) or CUM_ARG[node.op])[0]
        return _kind(node.inputs[0].dtype) in kinds and node.size > 0
    if node.op == "matmul":     # 2-D, or batched where an operand has the batch or none
        return node.ndim >= 2 and node.dtype.kind == "f" and all(
            x.dtype == node.dtype and (x.ndim == 2 or x.shape[:-2] == node.shape[:-2])
            for x in node.inputs)
    if node.op in ("unfold", "fold"):
        return node.dtype.kind == "f"
    if node.op == "gather":
        return indexes_in_range(node.inputs[1], node.params["dim"], node.inputs[0]) \
            and node.dtype.kind in "fi"
    if node.op == "scatter_add":
        return gather_gradient(node) and node.dtype.kind in "fi"
    if _template(node) is None:
        return False
    if node.op == "cast":     # float -> integer is undefined past the range in CUDA C
        return not (node.inputs[0].dtype.kind == "f" and node.dtype.kind in "iu")
    return True


class _Kernel:
    def __init__(self, group):
        self.group, self.members = group, set(group.nodes)
        self.args = {x: f"in{k}" for k, x in enumerate(group.inputs)}
        self.lines, self.memo = [], {}
        self.ix = HoistedIndexOps(self)
        self.typed = {}         # variable -> its dtype, for the casts' results
        self.depth = 0          # loops the next line sits in (argmax's)

    def emit(self, text, name=None):
        name = name or f"v{len(self.lines)}"
        self.lines.append("    " * self.depth + f"{name} = {text}")
        return name

    def value(self, node, index):
        """The name (or literal) of node's value at `index` (a list of expressions)."""
        if not isinstance(node, Node):
            return _literal(node)
        key = (node, tuple(index))
        if key not in self.memo:
            self.memo[key] = self._compute(node, index)
        return self.memo[key]

    def _compute(self, node, index):
        if node not in self.members:        # a 0-d input arrives as a 1-element array
            return self.emit(f"{self.args[node]}[{', '.join(index) or '0'}]")
        ix, x = self.ix, node.inputs[0] if node.inputs else None
        p = node.params
        if node.op == "permute":
            return self.value(x, index_maps.permute(ix, index, p["dims"]))
        if node.op == "expand":
            return self.value(x, index_maps.broadcast(ix, index, node.shape, x.shape))
        if node.op == "slice":
            return self.value(x, index_maps.slice_(ix, index, p["starts"], p["steps"]))
        if node.op == "reshape":
            return self.value(x, index_maps.reshape(ix, index, node.shape, x.shape))
        if node.op == "flip":
            return self.value(x, index_maps.flip(ix, index, node.shape, p["dims"]))
        if node.op == "pad":
            src, inside = index_maps.pad(ix, index, x.shape, p["config"])
            fill = f"{SCALAR[node.dtype]}({_literal(p['value'])})"
            if not x.size:              # all padding: nothing of x to read
                return fill
            v = self.value(x, src)
            return self.emit(f"({v} if {inside} else {fill})")
        if node.op in ARG:
            return self._arg(node, index)
        if node.op == "unfold":
            src, inside = index_maps.unfold(ix, index, x.shape, p["kernel"], p["dilation"],
                                            p["padding"], p["stride"])
            v = self.value(x, src)
            return self.emit(f"({v} if {inside} else {SCALAR[node.dtype]}(0))")
        if node.op == "fold":
            return self._fold(node, index)
        if node.op == "gather":         # x read along dim where idx points
            src = list(index)
            src[p["dim"]] = self._as(self.value(node.inputs[1], index), np.dtype(np.int64))
            return self.value(x, src)
        if node.op == "scatter_add":    # base + src where this element is the row's index
            base, idx, values = node.inputs[:3]
            window = list(index)
            window[p["dim"]] = "0"
            hit = f"({self._as(self.value(idx, window), np.dtype(np.int64))} == {index[p['dim']]})"
            t = SCALAR[node.dtype]
            total = self._as(self.value(base, index), node.dtype)
            picked = self._as(self.value(values, window), node.dtype)
            return self.emit(f"{t}({total} + ({picked} if {hit} else {t}(0)))")
        if node.op == "concat":
            out = None
            for k, at, starts in index_maps.concat(ix, index, p["dim"],
                                                   [i.shape[p["dim"]] for i in node.inputs]):
                v = self._as(self.value(node.inputs[k], at), node.dtype)
                out = v if out is None else self.emit(f"({v} if {starts} else {out})")
            return out
        return self._elementwise(node, index)

    def _arg(self, node, index):
        """argmax/argmin over one dim (or all of x, flattened): a loop in the thread. Values
        computed inside the loop stay inside (the memo is restored after it)."""
        x, dim, keep = node.inputs[0], node.params["dim"], node.params["keepdim"]
        if dim is None:
            count, at = x.size, lambda j: digits(j, x.shape)
        else:
            dim %= x.ndim
            count = x.shape[dim]
            outer = [i for d, i in enumerate(index) if d != dim] if keep else list(index)
            at = lambda j: outer[:dim] + [j] + outer[dim:]      # noqa: E731
        first = self.value(x, at("0"))
        t = f"b{len(self.lines)}"
        best, where = self.emit(first, f"{t}_best"), self.emit("0", f"{t}_at")
        self.lines.append("    " * self.depth + f"for {t}_j in range(1, {count}):")
        saved, self.depth = dict(self.memo), self.depth + 1
        v = self.value(x, at(f"{t}_j"))
        self.lines.append("    " * self.depth + f"if {ARG[node.op].format(v, best)}:")
        self.depth += 1
        self.emit(v, best)
        self.emit(f"{t}_j", where)
        self.memo, self.depth = saved, self.depth - 2
        return self.emit(f"i64({where})")

    def _fold(self, node, index):
        """col2im at one output pixel: the sum, over the kernel positions (i, j), of the
        column element whose window put (i, j) on this pixel, where one did (a gather-sum:
        no thread writes another's pixel)."""
        cols, p = node.inputs[0], node.params
        (kh, kw), (dh, dw), (ph, pw), (sh, sw) = p["kernel"], p["dilation"], p["padding"], \
            p["stride"]
        h, w = p["output_size"]
        oh, ow = out_size(h, kh, dh, ph, sh), out_size(w, kw, dw, pw, sw)
        n, c, yy, xx = index
        t, typ = f"f{len(self.lines)}", SCALAR[node.dtype]
        total = self.emit(f"{typ}(0)", f"{t}_sum")
        pad = "    " * self.depth
        self.lines += [f"{pad}for {t}_i in range({kh}):",
                       f"{pad}    for {t}_j in range({kw}):",
                       f"{pad}        {t}_y = {yy} + {ph} - {t}_i * {dh}",
                       f"{pad}        {t}_x = {xx} + {pw} - {t}_j * {dw}",
                       f"{pad}        if ({t}_y >= 0 and {t}_x >= 0 and {t}_y % {sh} == 0 and "
                       f"{t}_x % {sw} == 0 and {t}_y // {sh} < {oh} and {t}_x // {sw} < {ow}):"]
        saved, self.depth = dict(self.memo), self.depth + 3
        v = self.value(cols, [n, f"({c} * {kh * kw} + {t}_i * {kw} + {t}_j)",
                              f"(({t}_y // {sh}) * {ow} + {t}_x // {sw})"])
        self.emit(f"{typ}({total} + {v})", total)
        self.memo, self.depth = saved, self.depth - 3
        return total

    def _as(self, value, dtype):
        """`value` in `dtype`: a cast, unless it is a cast's result of that dtype already
        (each cast is a call numba types, ~1 ms of a kernel's compile)."""
        known = self.typed.get(value)
        if known is not None and known == dtype:    # not `get() == dtype`: numpy's float64
            return value                            # equals None
        name = self.emit(f"{SCALAR[dtype]}({value})")
        self.typed[name] = dtype
        return name

    def _elementwise(self, node, index):
        compute = compute_dtype(node)
        operands = []
        for x, want in zip(node.inputs, operand_dtypes(node)):
            at = index_maps.broadcast(self.ix, index, node.shape, x.shape) \
                if isinstance(x, Node) else index
            operands.append(self._as(self.value(x, at), want))
        t = SCALAR[compute]
        big = 2.0 ** np.finfo(compute).nmant if compute.kind == "f" else 0.0
        names = {"zero": f"{t}(0)", "one": f"{t}(1)", "t": t, "big": f"{t}({big})",
                 "inf": f"{t}(math.inf)", "nan": f"{t}(math.nan)",
                 "bits": f"{t}({compute.itemsize * 8})"}
        template = _template(node)
        *steps, last = template if isinstance(template, tuple) else (template,)
        for k, step in enumerate(steps):    # a rule of several steps: {s0}, {s1}, ...
            names[f"s{k}"] = self._as(step.format(*operands, **names), compute)
        return self._as(last.format(*operands, **names), node.dtype)

    def source(self, name):
        root = self.group.root
        index = digits("i", root.shape, self.ix)   # the stores have the root's shape
        results = [self.value(v, index) for v in self.group.values()]
        outs = ["out"] + [f"out{k}" for k in range(1, len(results))]
        params = [self.args[x] for x in self.group.inputs] + outs
        body = "\n".join("        " + line for line in self.lines)
        return (f"def {name}({', '.join(params)}):\n"
                f"    i = cuda.grid(1)\n"
                f"    if i < {root.size}:\n"
                f"{body}\n"
                + "".join(f"        {o}[i] = {r}\n" for o, r in zip(outs, results)))


def _literal(value):
    """A Python or numpy scalar operand as kernel source: repr, but inf and nan (whose reprs
    are not names in the kernel's module) through math."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return "math.nan" if value != value else ("math.inf" if value > 0 else "-math.inf")
    return repr(value)


def kernel_source(group, name):
    """The source of `def name(in0, .., out, out1, ..)` computing an elementwise group's
    root into the flat `out`, and each of its stores (members read after the kernel, of
    the root's shape) into the next: a momentum buffer and the parameter it updates in
    one kernel. PREAMBLE holds the imports it needs."""
    return _Kernel(group).source(name)


def _operand_reader(group, batch):
    """read(x, row, col): the expression of a matmul operand's element (the group's
    argument for x, or for a transpose in the group its input with the last two indices
    swapped, no copy, as the BLAS's trans flags do for the llvm backend); `batch` are the
    index expressions of the batch dims, for operands that have them (one without is
    shared by every item)."""
    members = set(group.nodes)
    args = {x: f"in{k}" for k, x in enumerate(group.inputs)}

    def read(x, row, col):
        lead = batch if x.ndim > 2 else []
        if x in members:
            return f"{args[x.inputs[0]]}[{', '.join(lead + [col, row])}]"
        return f"{args[x]}[{', '.join(lead + [row, col])}]"
    return read, ", ".join([args[x] for x in group.inputs] + ["out"])


def matmul_source(group, name, tile=16):
    """The source of `def name(a, b, out)` for a matmul group: C = A @ B in tiles of tile x
    tile (launch a grid of (ceil(N / tile), ceil(M / tile), batch) blocks of (tile, tile)
    threads), each block staging a tile of A and one of B in shared memory per step along
    K. A batched product takes its item from blockIdx.z. Accumulates in the product's
    dtype."""
    root = group.root
    (m, n), kdim = root.shape[-2:], root.inputs[0].shape[-1]
    t = SCALAR[root.dtype]
    read, params = _operand_reader(group, digits("cuda.blockIdx.z", root.shape[:-2]))
    a, b = root.inputs
    return (f"def {name}({params}):\n"
            f"    sa = cuda.shared.array(({tile}, {tile}), {t})\n"
            f"    sb = cuda.shared.array(({tile}, {tile}), {t})\n"
            f"    tx = cuda.threadIdx.x\n"
            f"    ty = cuda.threadIdx.y\n"
            f"    row = cuda.blockIdx.y * {tile} + ty\n"
            f"    col = cuda.blockIdx.x * {tile} + tx\n"
            f"    acc = {t}(0)\n"
            f"    for step in range({-(-kdim // tile)}):\n"
            f"        k = step * {tile} + tx\n"
            f"        sa[ty, tx] = {read(a, 'row', 'k')} if row < {m} and k < {kdim} else {t}(0)\n"
            f"        k = step * {tile} + ty\n"
            f"        sb[ty, tx] = {read(b, 'k', 'col')} if k < {kdim} and col < {n} else {t}(0)\n"
            f"        cuda.syncthreads()\n"
            f"        for j in range({tile}):\n"
            f"            acc = {t}(acc + sa[ty, j] * sb[j, tx])\n"
            f"        cuda.syncthreads()\n"
            f"    if row < {m} and col < {n}:\n"
            f"        out[cuda.blockIdx.z * {m * n} + row * {n} + col] = acc\n")


def dots_source(group, name, threads):
    """The source of `def name(a, b, out)` for a matmul group with few results and a long
    K (a convolution's weight gradient: a 6x25 result over K = 50176): one block of
    `threads` threads per result element (launch out.size blocks), each thread summing a
    strided share of the K products, the block then adding its threads' sums in halves.
    The tiled kernel would give such a product one or two blocks walking all of K. Sums
    in a fixed order, float32 products in float64 rounded once (as a float32 sum)."""
    root = group.root
    (m, n), kdim = root.shape[-2:], root.inputs[0].shape[-1]
    t = SCALAR[np.dtype(np.float64) if root.dtype == np.float32 else root.dtype]
    read, params = _operand_reader(group, digits(f"(o // {m * n})", root.shape[:-2]))
    a, b = root.inputs
    return (f"def {name}({params}):\n"
            f"    o = cuda.blockIdx.x\n"
            f"    t = cuda.threadIdx.x\n"
            f"    row = (o // {n}) % {m}\n"
            f"    col = o % {n}\n"
            f"    acc = {t}(0)\n"
            f"    k = t\n"
            f"    while k < {kdim}:\n"
            f"        acc = {t}(acc + {read(a, 'row', 'k')} * {read(b, 'k', 'col')})\n"
            f"        k += {threads}\n"
            + _block_combine(t, threads, "part[t] + part[t + s]", SCALAR[root.dtype]))


def reduce_source(group, name, threads=128):
    """The source of `def name(in0, .., out)` for a reduce group: one block of `threads`
    threads per output element (launch out.size blocks). Each thread folds a strided share
    of the reduced elements, computing the fused prologue at each; the block then combines
    its threads' partial results in shared memory, halving each step. A float32 sum
    accumulates in float64 and rounds once, as the llvm backend's does."""
    assert threads & (threads - 1) == 0, "threads must be a power of two"
    root = group.root
    x, dims, keep = root.inputs[0], set(root.params["dims"]), root.params["keepdim"]
    acc = np.dtype(np.float64) if root.op == "reduce_sum" and root.dtype == np.float32 \
        else root.dtype
    t = SCALAR[acc]
    if acc.kind == "f":
        low, high = f"{t}(-math.inf)", f"{t}(math.inf)"
    else:
        info = np.iinfo(acc)
        low, high = f"{t}({info.min})", f"{t}({info.max})"
    init, combine = REDUCE[root.op]
    init = init.format(t=t, low=low, high=high)
    kept = [n for d, n in enumerate(x.shape) if d not in dims]
    reduced = [n for d, n in enumerate(x.shape) if d in dims]
    out_index, red_index = iter(digits("o", kept)), iter(digits("r", reduced))
    index = [next(red_index) if d in dims else next(out_index) for d in range(x.ndim)]
    k = _Kernel(group)
    value = k._as(k.value(x, index), acc)
    body = "\n".join("        " + line for line in k.lines)
    count = int(np.prod(reduced, dtype=np.int64))
    step = combine.format("acc", value)
    merge = combine.format("part[t]", "part[t + s]")
    del keep        # the flat output is the same with or without the kept 1s
    return (f"def {name}({', '.join([k.args[i] for i in group.inputs] + ['out'])}):\n"
            f"    o = cuda.blockIdx.x\n"
            f"    t = cuda.threadIdx.x\n"
            f"    acc = {init}\n"
            f"    r = t\n"
            f"    while r < {count}:\n"
            f"{body}\n"
            f"        acc = {t}({step})\n"
            f"        r += {threads}\n"
            + _block_combine(t, threads, merge, SCALAR[root.dtype]))


def _block_combine(t, threads, merge, out_type):
    """The end of a kernel with a block per result: each thread's `acc` (of type t) into
    shared memory, combined in halves by `merge` of part[t] and part[t + s], and thread 0
    storing the result as out_type into out[o]."""
    return (f"    part = cuda.shared.array({threads}, {t})\n"
            f"    part[t] = acc\n"
            f"    cuda.syncthreads()\n"
            f"    s = {threads // 2}\n"
            f"    while s > 0:\n"
            f"        if t < s:\n"
            f"            part[t] = {t}({merge})\n"
            f"        cuda.syncthreads()\n"
            f"        s //= 2\n"
            f"    if t == 0:\n"
            f"        out[o] = {out_type}(part[0])\n")


def scan_lines(root):
    """(shape, dim, n, inner, lines): the scanned shape (a 0-d value as 1 element), its dim
    and length there, the stride of that dim, and how many lines run along it."""
    shape, dim = root.shape or (1,), root.params["dim"]
    n, inner = shape[dim], int(np.prod(shape[dim + 1:], dtype=np.int64))
    return shape, dim, n, inner, root.size // n


def scan_source(group, name):
    """The source of `def name(in0, out)` for a scan: one thread per line along the dim
    (launch a thread per line), which walks it from its first element (its last for
    `reverse`) carrying the running value `acc`; a running argmax/argmin carries the
    running extremum as `acc` and writes its index `at`. The loop runs over the scanned
    index itself, and each store's place is computed before the step's branches: with
    `k = j` in the loop, numba-cuda 0.30.4 on an H200 stored logcumsumexp's last step one
    line too far (the simulator did not)."""
    root = group.root
    shape, dim, n, inner, lines = scan_lines(root)
    index = digits(f"(i // {inner})", shape[:dim]) + ["{}"] \
        + digits(f"(i % {inner})", shape[dim + 1:])
    read = f"in0[{', '.join(index)}]"
    first, rest = (f"{n - 1}", f"range({n - 2}, -1, -1)") if root.params.get("reverse") \
        else ("0", f"range(1, {n})")
    if root.op in SCAN:
        t = SCALAR[root.dtype]
        start, step = "", [f"acc = {t}({SCAN[root.op][1].format('acc', 'v', t=t)})"]
        written = "acc"
    else:
        t = SCALAR[root.inputs[0].dtype]
        start, step = "        at = 0\n", [f"if {CUM_ARG[root.op][1].format('acc', 'v')}:",
                                             "    acc = v", "    at = k"]
        written = "at"
    body = "".join(f"            {line}\n" for line in step)
    return (f"def {name}(in0, out):\n"
            f"    i = cuda.grid(1)\n"
            f"    if i < {lines}:\n"
            f"        base = (i // {inner}) * {n * inner} + i % {inner}\n"
            f"        acc = {t}({read.format(first)})\n"
            f"{start}"
            f"        out[base + {first} * {inner}] = {written}\n"
            f"        for k in {rest}:\n"
            f"            at_out = base + k * {inner}\n"
            f"            v = {t}({read.format('k')})\n"
            f"{body}"
            f"            out[at_out] = {written}\n")
