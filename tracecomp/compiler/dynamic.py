"""Dynamic shapes: one compiled graph for every size of a dimension that changes.

A compiled function called with a new shape is traced and simplified as always; then,
before the backend compiles the result, `Templates.lowered` looks among the graphs it
lowered before for one that differs from the new graph only in sizes (the same ops on the
same operands: `structure`):

  - a template (a dynamic graph, whose sizes are polynomials in a symbol s) that the new
    graph instantiates: the template's compiled code runs it at the new size, and nothing
    is compiled;
  - a graph lowered for an earlier size: `generalize` makes the two one dynamic graph (each
    integer that differs between them, in a shape, a param or an operand, is affine in the
    size s of the input dim that changed least; a float operand that differs, a mean's
    1 / n or batch norm's n / (n - 1), is a RuntimeNumber read from each size's trace;
    a constant that differs is described: one value, a count, a causal mask), the
    backend compiles it once (codegen/llvm/sized.py: kernels take s and the numbers as
    arguments), and it runs the new size and every later one it matches: torch.compile's
    automatic dynamic shapes;
  - neither: the graph compiles for its own sizes, and is kept for the next size.

Correctness never rests on the guess from two sizes: each new size is traced, and its
graph must equal the template at that size, op for op, every shape, param and number
(`match`), except its RuntimeNumbers, which are taken from it. Code that branches on a
size, or a size that grows as s^2, fails to match and compiles for its own sizes; what a
match costs is the trace and the simplification passes, milliseconds against a compile.
Sizes 0 and 1 are never dynamic (a size-1 dim broadcasts): a template serves the sizes
where each of its dynamic dims is at least 2.

What does not generalize (a float param that depends on the size; a constant of another
kind; two dims that change independently) says why in the debug log (TRACECOMP_DEBUG=1)
and compiles per size, as before.
"""
import math
import warnings

import numpy as np

from ..debug_log import emit
from ..errors import LoweringError
from ..ir import CONSTANT, Graph, Node
from ..symbolic import Domain, RuntimeNumber, Sym, generated, value_at
from ..tensor import Tensor

MAX_KEPT = 4        # graphs (and templates) kept per structure, the latest ones
MAX_STRUCTURES = 16     # structures kept, the latest ones


class NotGeneral(Exception):
    """Two graphs that are not one graph at two sizes; the message says where."""


class Template:
    """A dynamic graph and its compiled program. where = (input position, dim): the input
    dim whose size is s."""

    def __init__(self, graph, where, domain, program):
        self.graph, self.where, self.domain, self.program = graph, where, domain, program


class Templates:
    """What one compiled function has lowered, by structure: templates and plain graphs."""

    def __init__(self):
        self.templates, self.graphs = {}, {}
        self.compiled = False       # whether the latest build compiled anything
        self.recording = False      # while tracing a marked call at another size

    def record_marked(self, tensors, build_at):
        """mark_dynamic: before the first compile of a call with marked dims, trace it with
        each marked dim one larger (`build_at(tensors)` traces and lowers them) and keep
        its graphs, compiling nothing, so that the call's own build generalizes at once.
        A trace at the other size that fails warns (the call then compiles its sizes)."""
        if self.templates or not any(_marks(t) for _, t in tensors):
            return
        other = [(label, _resized(t)) for label, t in tensors]
        self.recording = True
        try:
            build_at(other)
        except Exception as exc:      # the code fixes a marked size: it compiles as it is
            warnings.warn(f"tracecomp.compile: mark_dynamic: tracing the call with the marked "
                          f"dims one larger failed, so it compiles for its sizes: {exc}",
                          stacklevel=5)
        finally:
            self.recording = False

    def compiler(self, compile_graph):
        """compile_graph(graph, updates) through the templates, for a backend that can
        compile a dynamic graph (`compile_graph.sized`); else compile_graph itself."""
        sized = getattr(compile_graph, "sized", None)
        if sized is None:
            self.compiled = True
            return compile_graph
        return lambda graph, updates=None: self.lowered(compile_graph, sized, graph, updates)

    def lowered(self, compile_graph, compile_sized, graph, updates):
        key = structure(graph)
        if self.recording:          # the graph at another size, kept, not compiled
            _keep(self.graphs, key, graph)
            return None
        for t in self.templates.get(key, ()):
            found = match(t, graph)
            if found is not None:
                emit(1, f"[tracecomp] dynamic shapes: the graph at s = {found[0]} runs the "
                        f"dynamic graph compiled before")
                return t.program.at(*found)
        self.compiled = True
        earlier = self.graphs.get(key, [])
        for old in reversed(earlier):
            try:
                sym, where, domain = generalize(old, graph)
            except NotGeneral as why:
                emit(1, f"[tracecomp] dynamic shapes: not for this graph: {why}")
                continue
            i, d = where
            emit(1, f"[tracecomp] dynamic shapes: {graph.inputs[i].name} dim {d} is now "
                    f"dynamic (s >= {domain.low}): one graph serves every size")
            try:
                program = compile_sized(sym, graph)
            except LoweringError as exc:     # a tracecomp bug: said, and these sizes compile
                warnings.warn(f"tracecomp.compile: compiling the dynamic graph failed, so "
                              f"this call compiles for its own sizes: {exc}", stacklevel=6)
                break
            t = Template(sym, where, domain, program)
            earlier.remove(old)
            _keep(self.templates, key, t)
            return t.program.at(*match(t, graph))      # the new size's numbers
        runner = compile_graph(graph, updates=updates)
        _keep(self.graphs, key, graph)
        return runner


def sizes_vary(dynamic, tensors, size_change):
    """Whether a trace should record loops that would unroll per size as loop primitives
    (context.sizes_vary): compile(dynamic=True), a dim marked dynamic, or a call whose
    tensors changed only in size since an earlier compile (`size_change`)."""
    return dynamic is True or size_change or any(_marks(t) for _, t in tensors)


def _marks(t):
    """The dims of t marked dynamic (tracecomp._dynamo.mark_dynamic) that may be: sizes 0
    and 1 stay themselves."""
    return [d for d in getattr(t, "_dynamo_dynamic_indices", ()) if t.shape[d] >= 2]


def _resized(t):
    """A tensor like t with each marked dim one larger (zeros: a trace reads no values)."""
    dims = _marks(t)
    if not dims:
        return t
    shape = [n + (d in dims) for d, n in enumerate(t.shape)]
    return Tensor._make(np.zeros(shape, t._data.dtype)).requires_grad_(t.requires_grad)


def _keep(store, key, item):
    kept = store.pop(key, [])       # popped and put back: the latest structure is last
    kept.append(item)
    del kept[:-MAX_KEPT]
    store[key] = kept
    while len(store) > MAX_STRUCTURES:
        del store[next(iter(store))]


def structure(graph):
    """What two graphs must share to be one graph at two sizes: inputs' names, dtypes and
    ranks; each node's op, dtype, rank and operand count; the number of outputs."""
    return (tuple((n.name, n.dtype.str, len(n.shape)) for n in graph.inputs),
            tuple((n.op, n.dtype.str, len(n.shape), len(n.inputs)) for n in graph.nodes),
            len(graph.outputs))


# --- two graphs -> one dynamic graph ---------------------------------------------------------
def generalize(a, b):
    """(dynamic graph, where, domain) of which graphs a and b are two sizes, or NotGeneral.
    a and b have the same structure()."""
    # s: the input dim that changed least (a batch of N, not the N * 64 rows of its
    # im2col columns, which are then 64 s); the first such
    changed = [(abs(q - p), i, d) for i, (x, y) in enumerate(zip(a.inputs, b.inputs))
               for d, (p, q) in enumerate(zip(x.shape, y.shape)) if p != q]
    if not changed:
        raise NotGeneral("no input size changed (the graphs differ in another way)")
    where = min(changed)[1:]
    i, d = where
    u = _Unifier(a.inputs[i].shape[d], b.inputs[i].shape[d])
    if min(u.sa, u.sb) < 2:
        raise NotGeneral(f"{a.inputs[i].name} dim {d} went {u.sa} -> {u.sb}: sizes 0 and 1 "
                         f"are compiled for themselves")
    g, new = Graph(f"{a.name} (dynamic)"), {}
    for x, y in zip(a.inputs, b.inputs):
        if (x.name, x.requires_grad) != (y.name, y.requires_grad):
            raise NotGeneral(f"input {x.name} differs in more than its sizes")
        n = new[x] = g.add_input(x.name, u.shape(x, y), x.dtype, x.requires_grad)
        n.params = u.value(x.params, y.params, f"input {x.name}")
    position = {n: k for k, n in enumerate(b.inputs + b.nodes)}
    mine = {n: k for k, n in enumerate(a.inputs + a.nodes)}
    for x, y in zip(a.nodes, b.nodes):
        what = f"{x.op} (node {mine[x] - len(a.inputs)})"
        if x.requires_grad != y.requires_grad:
            raise NotGeneral(f"{what} needs a gradient at one size only")
        inputs = []
        for p, q in zip(x.inputs, y.inputs):
            if isinstance(p, Node) != isinstance(q, Node) or \
                    isinstance(p, Node) and mine[p] != position[q]:
                raise NotGeneral(f"{what} reads other operands at the two sizes")
            inputs.append(new[p] if isinstance(p, Node) else u.operand(p, q, what))
        params = _described(x, y) if x.op == CONSTANT and x.shape != y.shape else \
            u.value(x.params, y.params, what)
        n = new[x] = Node(x.op, inputs, params, u.shape(x, y), x.dtype, x.requires_grad,
                          x.source)
        g.nodes.append(n)
    if [mine[o] for o in a.outputs] != [position[o] for o in b.outputs]:
        raise NotGeneral("the outputs are other values at the two sizes")
    g.outputs = [new[o] for o in a.outputs]
    u.domain.low = u.lowest_size()
    if u.sb < u.domain.low:
        raise NotGeneral(f"at {a.inputs[i].name} dim {d} = {u.sb} some dim is 0 or 1")
    return g, where, u.domain


def _described(x, y):
    """A constant of a dynamic shape, as what makes it at any size (symbolic.GENERATED):
    {"fill": (v,)} where both sizes hold v everywhere (the zeros a scatter adds into),
    {"arange": (start, step)} where both count (positions), {"triangle": ...} where both
    are one value on one side of a diagonal and another off it (a causal mask); else
    NotGeneral."""
    a, b = x.params["value"], y.params["value"]
    for params in (_fill(a), _counting(a), *_triangles(a)):
        if params is not None and all(same(generated(params, v.shape, v.dtype), v)
                                      for v in (a, b)):
            return params
    raise NotGeneral(f"a constant of shape {list(x.shape)} holds other values at another "
                     f"size ({list(y.shape)}), and neither one value nor a count")


def _fill(array):
    flat = array.reshape(-1)
    return {"fill": (flat[0].item(),)} if flat.size else None


def _triangles(array):
    """The triangle descriptions array may fit (symbolic.GENERATED): lower or upper, about
    diagonals -1, 0 and 1, with the values read where each says they are."""
    if array.ndim < 2 or any(n != 1 for n in array.shape[:-2]) or min(array.shape[-2:]) < 3:
        return []
    array = array.reshape(array.shape[-2:])
    out = []
    for lower in (True, False):
        for diagonal in (-1, 0, 1):
            step = 1 if lower else -1       # the first diagonal off the triangle
            inside, outside = _on_diagonal(array, diagonal), _on_diagonal(array, diagonal + step)
            out.append({"triangle": (lower, diagonal, inside, outside)})
    return out


def _on_diagonal(array, k):
    """The element of array where j - i = k, on the first row or column."""
    i = max(0, -k)
    return array[i, i + k].item()


def _counting(array):
    """A count along one dim, the others 1 (`arange(0, t).unsqueeze(0)`: GPT's positions)."""
    if array.size < 2 or sum(n != 1 for n in array.shape) != 1 or \
            array.dtype.kind not in "iuf":
        return None
    flat = array.reshape(-1)
    return {"arange": (flat[0].item(), (flat[1] - flat[0]).item())}


class _Unifier:
    """Integers at size sa and sb -> one int or an affine Sym (k s + c) that gives both."""

    def __init__(self, sa, sb):
        self.sa, self.sb, self.domain = sa, sb, Domain()
        self.dims = []      # every Sym made for a dim
        self.numbers = 0    # RuntimeNumbers made

    def int(self, va, vb, what):
        if va == vb:
            return va
        k, r = divmod(vb - va, self.sb - self.sa)
        if r:
            raise NotGeneral(f"{what}: {va} at s = {self.sa} and {vb} at s = {self.sb} is "
                             f"not a whole multiple of s plus a constant")
        return Sym.make((va - k * self.sa, k), self.domain)

    def shape(self, x, y):
        out = tuple(self.int(p, q, f"the shape of {x.op}") for p, q in zip(x.shape, y.shape))
        self.dims += [d for d in out if isinstance(d, Sym)]
        return out

    def operand(self, va, vb, what):
        """A number operand: as value(), except that two floats no polynomial relates (a
        mean's 1 / n) become a RuntimeNumber, read from each size's trace."""
        if isinstance(va, float) and isinstance(vb, float) and not same(va, vb):
            self.numbers += 1
            return RuntimeNumber(self.numbers - 1)
        return self.value(va, vb, what)

    def value(self, va, vb, what):
        """A param or number operand at both sizes, as one value (Syms where it differs)."""
        if type(va) is not type(vb):
            raise NotGeneral(f"{what}: {va!r} at one size, {vb!r} at the other")
        if isinstance(va, (int, np.integer)) and not isinstance(va, (bool, np.bool_)):
            return self.int(int(va), int(vb), what) if va != vb else va
        if isinstance(va, (tuple, list)):
            if len(va) != len(vb):
                raise NotGeneral(f"{what}: {va!r} at one size, {vb!r} at the other")
            return type(va)(self.value(p, q, what) for p, q in zip(va, vb))
        if isinstance(va, dict):
            if list(va) != list(vb):
                raise NotGeneral(f"{what}: other params at the two sizes")
            return {k: self.value(va[k], vb[k], f"{what} {k}") for k in va}
        if not same(va, vb):
            kind = "number" if isinstance(va, (float, np.floating)) else "value"
            raise NotGeneral(f"{what}: the {kind} {_short(va)} at s = {self.sa} is "
                             f"{_short(vb)} at s = {self.sb} (a float param that depends on a "
                             f"size cannot be dynamic yet)" if kind == "number" else
                             f"{what}: the {kind} differs at the two sizes")
        return va

    def lowest_size(self):
        """The least s at which every dynamic dim is at least 2 (and s itself is)."""
        low = 2
        for d in self.dims:
            c, k = d.coeffs
            if k < 0:
                raise NotGeneral(f"a dim shrinks as the size grows ({d})")
            low = max(low, math.ceil((2 - c) / k))
        return low


def same(x, y):
    """Whether two params or numbers are equal (arrays by value, NaN equal to NaN)."""
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        return isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and \
            x.shape == y.shape and x.dtype == y.dtype and np.array_equal(x, y, equal_nan=
                                                                          x.dtype.kind in "fc")
    if isinstance(x, (tuple, list)):
        return type(x) is type(y) and len(x) == len(y) and all(map(same, x, y))
    if isinstance(x, dict):
        return isinstance(y, dict) and list(x) == list(y) and all(same(x[k], y[k]) for k in x)
    if isinstance(x, float) and isinstance(y, float) and x != x and y != y:
        return True
    try:
        return bool(x == y)
    except Exception:       # an object whose == is not a truth value: not known equal
        return False


def _short(v):
    text = repr(v)
    return text if len(text) < 40 else text[:37] + "..."


# --- a graph at a new size -> the size, if a template serves it ------------------------------
def match(t, graph):
    """(s, numbers): the size s at which template t's graph is `graph` (which has its
    structure), and the values of its RuntimeNumbers there; None where they differ in
    anything else."""
    i, d = t.where
    s = graph.inputs[i].shape[d]
    if s < t.domain.low:
        return None
    numbers = {}
    position = {n: k for k, n in enumerate(graph.inputs + graph.nodes)}
    mine = {n: k for k, n in enumerate(t.graph.inputs + t.graph.nodes)}
    for x, y in zip(t.graph.inputs, graph.inputs):
        if value_at(x.shape, s) != y.shape or not same(value_at(x.params, s), y.params):
            return None
    for x, y in zip(t.graph.nodes, graph.nodes):
        if value_at(x.shape, s) != y.shape or x.requires_grad != y.requires_grad:
            return None
        for p, q in zip(x.inputs, y.inputs):
            if isinstance(p, Node):
                if not isinstance(q, Node) or mine[p] != position[q]:
                    return None
            elif isinstance(p, RuntimeNumber):
                if not isinstance(q, float):
                    return None
                numbers[p.index] = q
            elif isinstance(q, Node) or not same(value_at(p, s), q):
                return None
        if x.op == CONSTANT and "value" not in x.params:
            if not same(generated(x.params, y.shape, y.dtype), y.params["value"]):
                return None
        elif not same(value_at(x.params, s), y.params):
            return None
    if [mine[o] for o in t.graph.outputs] != [position[o] for o in graph.outputs]:
        return None
    return s, tuple(numbers[k] for k in sorted(numbers))
