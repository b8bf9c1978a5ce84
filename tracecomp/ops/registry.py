"""The primitive registry: every primitive is declared here-style, once.

A primitive bundles, in one place:
  - `impl`:  the eager implementation on numpy arrays (and Python scalars),
  - `shape`: the shape rule, from argument shapes (a scalar argument has shape ()) and
             params to the output shape; it is also where clear errors on bad input come from,
  - `dtype`: the dtype rule, from the arguments themselves (numpy arrays, graph values or
             Python scalars: anything with .dtype/.ndim, or a number) to a numpy dtype,
  - `vjp`:   the vector-Jacobian product, `vjp(g, out, *args, **params) -> grads per arg`,
             written with public Tensor ops so the eager tape, the graph autodiff pass and
             higher-order gradients share it. Broadcasting is undone by the callers,
             not by each rule. None marks the primitive non-differentiable.
  - `saves`: what the VJP reads the values of (torch's saved tensors): operand positions
             and "out", e.g. ("out",) for exp, () for add, ((1, 0), (0, 1)) for mul (each
             operand read when the other takes a gradient), slice(1, None) for the index
             tensors after index's operand 0, "operands" for all of them (a custom
             Function's, whose node says which). In the order torch saves them: the
             order saved_tensors_hooks' pack_hook sees them (saved_hooks.py). The eager tape
             refuses a backward through a node whose saved values were changed in place
             since (torch's version check), and lets one through whose other operands were
             (`y = x + 1; x.mul_(2)`: add read no value of x). Default: everything, which
             can only refuse too much; tests/eager/test_primitives.py checks each
             declaration by poisoning what a VJP says it does not read.
  - `tags`:  properties that passes ask about, instead of lists of names:
             "elementwise" (+ "unary"/"binary"/"ternary", "commutative", "associative"),
             "movement" (each output element is an operand element, or padding: views, pad,
             flip, concat, unfold), "view" (shares memory), "reduce", "index" (reads or
             makes indices: gather, scatter_add, argmax, ...), "window" (unfold, fold),
             "matmul", "scan", "sort", "random", "constant", "guard". Fusion's kernels
             follow from them (passes/fusion.py). "own_rounding": its impl computes a
             bfloat16 or float16 operand in that dtype (torch's kernel rounds each step),
             which bind and passes/widen_bf16.py otherwise widen to float32.
  - `complex_rule`: its complex form as real primitives on (..., 2) parts, for compiled
             code (ops/complex_parts.py; without one, a complex operand breaks the graph).

Backends register their lowerings elsewhere, keyed by the primitive's name; an op's public
names (tracecomp.X, Tensor.X) are declared beside its function (ops/public.py).
"""
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..dtypes import F16, astype, np_kind

OPERANDS = "operands"   # in `saves`: every operand
ALL = (OPERANDS, "out")     # `saves`'s default


@dataclass(eq=False)
class Primitive:
    name: str
    impl: Callable
    shape: Callable
    dtype: Callable
    vjp: Callable | None = None
    tags: frozenset = field(default_factory=frozenset)
    # the numpy ufunc behind `impl`, when there is one: in-place ops write through `out=`
    ufunc: Callable | None = None
    saves: tuple = ALL
    # where torch's CPU kernel on bfloat16 rounds a partial result to bfloat16 (log_softmax's
    # row sums): that kernel written with tensor ops on the bfloat16 operands, run by eager
    # bind (dispatch) and traced into compiled graphs (passes/widen_bf16.py) alike;
    # None: impl, in float32, rounded once
    bf16: Callable | None = None
    # how compiled code computes it on complex values, as real ops on their parts
    # (ops/complex_parts.py fills it in); None: complex operands are a graph break
    complex_rule: Callable | None = None

    def __post_init__(self):
        # views share memory (and so a version counter) with their first argument
        self.is_view = "view" in self.tags
        # what the eager tape's version check covers: reads(k or "out", node)
        self.reads = _positions(self.saves)

    @property
    def differentiable(self) -> bool:
        return self.vjp is not None

    def as_dtype(self, out, operands, params, dtype):
        """out, what impl gave for operands, in dtype (the dtype rule is the authority).
        numpy works an integer array with a float (uint8 * 1.3, int64 / 3) out in
        float64, where torch works it out in the result's float32: rounding the float64
        answer can land one float32 step away, and a truncating cast back to integers one
        step more (a brightness change of a uint8 image). Such a ufunc is run again in
        dtype, its operands cast first, as torch does (not for bfloat16 and float16, which
        torch works out in float32, bind's widen_reduced)."""
        wide = getattr(out, "dtype", None)
        if self.ufunc is not None and dtype.kind == "f" and dtype != F16 and \
                wide is not None and np_kind(wide) == "f" and wide.itemsize > dtype.itemsize:
            out = self.ufunc(*operands, dtype=dtype, **params)   # (a numpy scalar for 0-d)
        return np.asarray(out, dtype=dtype) if dtype.kind != "V" else astype(out, dtype)

    def __repr__(self):
        return f"<primitive {self.name}>"


def _positions(saves):
    """`saves` as reads(what, node) -> bool, for `what` an operand position or "out" of
    a tape node of the primitive.
    An entry is a position, "out", a slice of positions (open-ended: the index tensors of
    index, however many), or (what, j): read only when operand j takes a gradient (mul reads
    b for a's gradient: `x * w` with w a constant reads no value of x, as torch saves)."""
    if OPERANDS in saves:
        return lambda what, node: what != "out" or "out" in saves
    always = frozenset(k for k in saves if isinstance(k, (int, str)))
    ranges = [range(k.start or 0, k.stop or 1 << 30) for k in saves if isinstance(k, slice)]
    when = [k for k in saves if isinstance(k, tuple)]

    def reads(what, node):
        return (what in always or (what != "out" and any(what in r for r in ranges))
                or any(w == what and getattr(node.args[j], "_requires_grad", False)
                       for w, j in when))
    return reads


PRIMITIVES: dict[str, Primitive] = {}


def defprim(name, impl, shape, dtype, vjp=None, tags=(), ufunc=None, saves=ALL,
            bf16=None) -> Primitive:
    """Declare a primitive. Names are unique: a second definition is a bug."""
    assert name not in PRIMITIVES, f"primitive {name!r} defined twice"
    prim = Primitive(name, impl, shape, dtype, vjp, frozenset(tags), ufunc, tuple(saves),
                     bf16)
    PRIMITIVES[name] = prim
    return prim
