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
  - `tags`:  properties that passes ask about, instead of lists of names:
             "elementwise" (+ "unary"/"binary"/"ternary", "commutative", "associative"),
             "movement" (each output element is an operand element, or padding: views, pad,
             flip, concat, unfold), "view" (shares memory), "reduce", "index" (reads or
             makes indices: gather, scatter_add, argmax, ...), "window" (unfold, fold),
             "matmul", "scan", "sort", "random", "constant", "guard". Fusion's kernels
             follow from them (passes/fusion.py).

Backends register their lowerings elsewhere, keyed by the primitive's name; an op's public
names (tracecomp.X, Tensor.X) are declared beside its function (ops/public.py).
"""
from collections.abc import Callable
from dataclasses import dataclass, field


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

    def __post_init__(self):
        # views share memory (and so a version counter) with their first argument
        self.is_view = "view" in self.tags

    @property
    def differentiable(self) -> bool:
        return self.vjp is not None

    def __repr__(self):
        return f"<primitive {self.name}>"


PRIMITIVES: dict[str, Primitive] = {}


def defprim(name, impl, shape, dtype, vjp=None, tags=(), ufunc=None) -> Primitive:
    """Declare a primitive. Names are unique: a second definition is a bug."""
    assert name not in PRIMITIVES, f"primitive {name!r} defined twice"
    prim = Primitive(name, impl, shape, dtype, vjp, frozenset(tags), ufunc)
    PRIMITIVES[name] = prim
    return prim
