"""Dynamic shapes: one compiled graph for every size of the dimensions that change.

A compiled function called with a new shape is traced and simplified as always; then,
before the backend compiles the result, `Templates.lowered` looks among the graphs it
lowered before for ones that differ from the new graph only in sizes (the same ops on the
same operands: `structure`):

  - a template (a dynamic graph, whose sizes are polynomials in symbols: s, or s0, s1, ...)
    that the new graph instantiates: the template's compiled code runs it at the new
    sizes, and nothing is compiled;
  - graphs lowered at earlier sizes (a template's samples, or graphs compiled for their
    own sizes): `generalize` makes them and the new graph one dynamic graph, the backend
    compiles it once (codegen/llvm/sized.py: kernels take the sizes and the numbers as
    arguments), and it runs the new sizes and every later ones it matches: torch.compile's
    automatic dynamic shapes. The input dims that changed are the symbols, at most
    MAX_SYMBOLS of them (a text model's batch and length; a seq2seq model's batch, source
    and target lengths), except where one follows the others (size_fit.Fit.follows: equal
    sizes, the length of ids and of targets, are one symbol, as torch's duck sizing; B * T
    rows of a reshape follow B and T). Where no input dim changed, an int argument the code
    used as a size did (`x[:k]`, a KV cache's `start_pos`): its symbols are read from the
    graph's own dims and params (size_sources.py). Each integer that differs, in a shape, a param or
    an operand, is the sparsest polynomial in the symbols that gives it at every sample
    (size_fit.py: B*T where a reshape flattens [B, T, H]); a float operand that differs,
    a mean's 1 / n or batch norm's n / (n - 1), is a RuntimeNumber read from each size's
    trace; a constant that differs is described: one value, a count, a causal mask. A
    template whose graph a new size does not match is generalized again with it: one more
    symbol when one more dim starts to change;
  - neither: the graph compiles for its own sizes, and is kept for the next size.

Correctness never rests on the guess from a few sizes: each new size is traced, and its
graph must equal the template at its sizes, op for op, every shape, param and number
(`match`), except its RuntimeNumbers, which are taken from it. Code that branches on a
size, or a size that grows as s^2, fails to match and compiles for its own sizes; what a
match costs is the trace and the simplification passes, milliseconds against a compile.
Sizes 0 and 1 are never dynamic (a size-1 dim broadcasts): a template serves the sizes
where each symbol is at least its low, and each of its dynamic dims at least 2.

What does not generalize (a float param that depends on a size; a constant of another
kind; more than MAX_SYMBOLS dims that change independently) says why in the debug log
(TRACECOMP_DEBUG=1) and compiles per size, as before.

Where the symbols are known before any size changes (mark_dynamic, an exported program's
Dims, compile(dynamic=True)), `Templates.record_marked` traces the first call of each
signature (a training step's second one too, once .grad exists) once more per symbol, that
symbol's dims one larger, so that its first compile is already the dynamic graph;
compile(dynamic=True) traces two larger as well and keeps static the dims whose three
graphs are not one (a pooled or strided side); mark_dynamic's min and max bound its
symbols (`Template.highs`, the domain's lows).
"""
import math
import warnings

import numpy as np

from ..debug_log import emit
from ..errors import ConstraintViolationError, LoweringError
from ..ir import CONSTANT, Graph, Node
from ..symbolic import Domain, RuntimeNumber, Sym, generated
from ..tensor import Tensor
from ..user_code import user_stacklevel
from . import size_sources
from .signature import label_text
from .size_fit import Fit, NoFit
from .template_match import match, same

MAX_KEPT = 4        # graphs (and templates) kept per structure, the latest ones
MAX_STRUCTURES = 16     # structures kept, the latest ones
# input dims that may change independently: a batch and a length; a seq2seq model's batch,
# source and target lengths; an image batch's height and width. A fit searches 2^MAX_SYMBOLS
# monomials (size_fit.py), which bounds it.
MAX_SYMBOLS = 4
# the graphs one generalization fits, the latest ones: enough that each symbol changes
# between them (mark_dynamic's traces: the call's sizes, then each symbol one larger)
MAX_SAMPLES = MAX_SYMBOLS + 1


class NotGeneral(Exception):
    """Graphs that are not one graph at several sizes; the message says where."""


class Template:
    """A dynamic graph, its compiled program, and the graphs it was made of (`samples`,
    which a later generalization starts from). where: per symbol, where its size is read
    (size_sources.py: an input's dim, or a node's dim or param int); highs: per symbol the
    largest size served (mark_dynamic's max, else math.inf)."""

    def __init__(self, graph, where, domain, program, samples, highs):
        self.graph, self.where, self.domain, self.program = graph, where, domain, program
        self.samples, self.highs = samples, highs


class Templates:
    """What one compiled function has lowered, by structure: templates and plain graphs."""

    def __init__(self):
        self.templates, self.graphs = {}, {}
        self.compiled = False       # whether the latest build compiled anything
        self.recording = False      # while tracing a marked call at other sizes
        self.ranges = {}    # input name -> {dim: (min, max)}: this call's marked ranges
        self.traced = []    # the graphs of the trace being recorded

    def record_marked(self, tensors, build_at, every=False, fresh=True):
        """mark_dynamic: before the first compile of a call with marked dims, trace it at
        other sizes (`build_at(tensors)` traces and lowers them) and keep its graphs,
        compiling nothing, so that the call's own build generalizes at once. The marked
        dims of one size are one symbol (the length of ids and of targets), those of
        another size another (a batch and a length), as torch's duck sizing, unless the
        mark names their symbol (`_symbol`: an exported program's Dims): one trace per
        symbol, its dims one larger. A trace at other sizes that fails warns, and those
        dims compile for their sizes. every (compile(dynamic=True), torch's "as dynamic as
        possible" from the first compile): every dim of the arguments' tensors is marked;
        one whose trace fails (a size the code fixes: a weight's width) stays static, as
        torch's specialization, and the debug log says so; so does one whose graphs at its
        size and one and two larger are not one graph (`_one_graph`: a pooled image's
        side, (H - 2) // 2 + 1, is no polynomial in H; two sizes alone would fit a line).
        fresh: the call's signature is not an earlier one's at other sizes (its first
        call, or a training step's second signature, with the parameters' .grad): it
        records even where templates exist, so each signature's first compile is dynamic;
        a call at new sizes of a known signature records nothing (its template serves it,
        or it generalizes with the graphs kept)."""
        self._check_ranges(tensors)
        marked = {id(t): _sizable(t) if every else _marks(t) for _, t in tensors}
        groups = list(dict.fromkeys(_symbol(t, d) for _, t in tensors for d in marked[id(t)]))
        if not groups or not fresh:
            return
        self.recording, made = True, 0
        try:
            try:
                base = self._traced(build_at, tensors) if every else None
            except Exception:       # noqa: BLE001 - the call's own build says why
                return
            for group in groups:
                if made == MAX_SYMBOLS:
                    emit(1, f"[tracecomp] dynamic shapes: marked dims of {len(groups)} sizes; "
                            f"those past the first {MAX_SYMBOLS} symbols compile per size")
                    break
                what = f"the dims of size {group[1]}" if group[0] == "size" else \
                    f"the dims of symbol {group[1]}"
                try:
                    larger = [self._traced(build_at, [
                        (label, _resized(t, group, marked[id(t)], by)) for label, t in tensors])
                        for by in ((1, 2) if every else (1,))]
                except Exception as exc:      # noqa: BLE001 - the code fixes that size
                    if every:
                        emit(1, f"[tracecomp] dynamic shapes: {what} stay static: tracing "
                                f"them one larger failed: {exc}")
                    else:
                        warnings.warn(f"tracecomp.compile: mark_dynamic: tracing the call with "
                                      f"{what} one larger failed, so they compile for their "
                                      f"sizes: {exc}", stacklevel=user_stacklevel())
                    continue
                why = _one_graph(base, *larger) if every else None
                if why is not None:
                    emit(1, f"[tracecomp] dynamic shapes: {what} stay static: {why}")
                    continue
                for graph in larger[0]:
                    _keep(self.graphs, structure(graph), graph)
                made += 1
        finally:
            self.recording = False

    def _traced(self, build_at, tensors):
        """The graphs `build_at(tensors)` lowers (while recording: kept aside, compiled
        never)."""
        self.traced = []
        build_at(tensors)
        return self.traced

    def _check_ranges(self, tensors):
        """Keeps the ranges of this call's marked dims (mark_dynamic's min and max), which
        bound the symbols of the graph it generalizes (a later call's graph, unmarked, is
        bounded by its samples only); ConstraintViolationError where a marked size is
        outside its range, as torch."""
        self.ranges = {}
        for label, t in tensors:
            for d in _marks(t):
                low, high = getattr(t, "_tracecomp_dim_ranges", {}).get(d, (None, None))
                if (low, high) == (None, None):
                    continue
                low, high = 0 if low is None else low, math.inf if high is None else high
                if not low <= t.shape[d] <= high:
                    raise ConstraintViolationError(
                        f"mark_dynamic: {label_text(label)} dim {d} is {t.shape[d]}, not in "
                        f"range [{low}, {high}]")
                self.ranges.setdefault(label_text(label), {})[d] = (low, high)

    def _bounds(self, graph, where, domain):
        """The template's highs, and its domain's lows raised to mark_dynamic's mins."""
        ranges = [(0, math.inf) if isinstance(w[0], str) else
                  self.ranges.get(graph.inputs[w[0]].name, {}).get(w[1], (0, math.inf))
                  for w in where]
        domain.lows = tuple(max(low, r[0]) for low, r in zip(domain.lows, ranges))
        return tuple(r[1] for r in ranges)

    def compiler(self, compile_graph):
        """compile_graph(graph, updates) through the templates, for a backend that can
        compile a dynamic graph (`compile_graph.sized`); else compile_graph itself."""
        sized = getattr(compile_graph, "sized", None)
        if sized is None:
            if self.recording:      # a backend without dynamic graphs: nothing to fit
                return lambda graph, updates=None: None
            self.compiled = True
            return compile_graph
        return lambda graph, updates=None: self.lowered(compile_graph, sized, graph, updates)

    def lowered(self, compile_graph, compile_sized, graph, updates):
        key = structure(graph)
        if self.recording:          # the graph at other sizes, for record_marked
            self.traced.append(graph)
            return None
        for t in self.templates.get(key, ()):
            found = match(t, graph)
            if found is not None:
                emit(1, f"[tracecomp] dynamic shapes: the graph at "
                        f"{t.domain.describe(found[0])} runs the dynamic graph compiled before")
                return t.program.at(*found)
        self.compiled = True
        for samples, replaced in self._candidates(key, graph):
            try:
                sym, where, domain = generalize(samples)
            except NotGeneral as why:
                emit(1, f"[tracecomp] dynamic shapes: not for this graph: {why}")
                continue
            highs = self._bounds(graph, where, domain)
            dims = ", ".join(f"{size_sources.describe(graph, w)} ({name} >= {low}"
                             + ("" if high == math.inf else f", <= {high}") + ")"
                             for w, name, low, high in zip(where, domain.names(),
                                                           domain.lows, highs))
            emit(1, f"[tracecomp] dynamic shapes: {dims} {'is' if len(where) == 1 else 'are'} "
                    f"now dynamic: one graph serves every size")
            try:
                program = compile_sized(sym, graph)
            except LoweringError as exc:     # a tracecomp bug: said, and these sizes compile
                warnings.warn(f"tracecomp.compile: compiling the dynamic graph failed, so "
                              f"this call compiles for its own sizes: {exc}",
                              stacklevel=user_stacklevel())
                break
            t = Template(sym, where, domain, program, samples, highs)
            self._retire(key, samples, replaced)
            _keep(self.templates, key, t)
            return t.program.at(*match(t, graph))      # the new sizes' numbers
        runner = compile_graph(graph, updates=updates)
        _keep(self.graphs, key, graph)
        return runner

    def _candidates(self, key, graph):
        """(samples, the template they replace) to generalize, the best first: a
        template's samples and the new graph (a second symbol where a second dim begins to
        change, or a relation between sizes that the template guessed wrong), latest
        template first; every graph kept and the new one; each kept graph and the new
        one, latest first."""
        out = [(t.samples[1 - MAX_SAMPLES:] + [graph], t)
               for t in reversed(self.templates.get(key, ()))]
        earlier = self.graphs.get(key, [])
        if len(earlier) > 1:
            out.append((earlier[1 - MAX_SAMPLES:] + [graph], None))
        return out + [([old, graph], None) for old in reversed(earlier)]

    def _retire(self, key, samples, replaced):
        """A new template made of samples: the graphs and the template it replaces go."""
        if replaced is not None:
            self.templates[key].remove(replaced)
        kept = self.graphs.get(key, [])
        kept[:] = [g for g in kept if all(g is not s for s in samples)]


def sizes_vary(dynamic, tensors, size_change):
    """Whether a trace should record loops that would unroll per size as loop primitives
    (context.sizes_vary): compile(dynamic=True), a dim marked dynamic, or a call whose
    tensors changed only in size since an earlier compile (`size_change`)."""
    return dynamic is True or size_change or any(_marks(t) for _, t in tensors)


def _marks(t):
    """The dims of t marked dynamic (tracecomp._dynamo.mark_dynamic) that may be: sizes 0
    and 1 stay themselves."""
    return [d for d in getattr(t, "_dynamo_dynamic_indices", ()) if t.shape[d] >= 2]


def _symbol(t, d):
    """Which symbol marked dim d of t is: the one its mark names (`_tracecomp_dim_symbols`,
    {dim: name}, that an exported program's module sets from its Dims), else the one of
    every marked dim of its size (torch's duck sizing)."""
    named = getattr(t, "_tracecomp_dim_symbols", {})
    return ("named", named[d]) if d in named else ("size", t.shape[d])


def _sizable(t):
    """Every dim of t that may be dynamic (compile(dynamic=True)): sizes 0 and 1 stay."""
    return [d for d, n in enumerate(t.shape) if n >= 2]


def _resized(t, symbol, marked, by=1):
    """A tensor like t with each of its `marked` dims of `symbol` `by` larger (zeros: a
    trace reads no values)."""
    dims = [d for d in marked if _symbol(t, d) == symbol]
    if not dims:
        return t
    shape = [n + by * (d in dims) for d, n in enumerate(t.shape)]
    return Tensor._make(np.zeros(shape, t._data.dtype)).requires_grad_(t.requires_grad)


def _keep(store, key, item):
    kept = store.pop(key, [])       # popped and put back: the latest structure is last
    kept.append(item)
    del kept[:-MAX_KEPT]
    store[key] = kept
    while len(store) > MAX_STRUCTURES:
        del store[next(iter(store))]


def _one_graph(base, one, two):
    """None where the graphs of a call (`base`), of its dims one larger and two larger are
    one dynamic graph (generalize), structure by structure; else why not."""
    for graphs in zip(base, one, two):
        try:
            generalize(list(graphs))
        except NotGeneral as why:
            return str(why)
    return None if len(base) == len(one) == len(two) else \
        "the call lowers another number of graphs at other sizes"


def structure(graph):
    """What graphs must share to be one graph at several sizes: inputs' names, dtypes and
    ranks; each node's op, dtype, rank and operand count; the number of outputs."""
    return (tuple((n.name, n.dtype.str, len(n.shape)) for n in graph.inputs),
            tuple((n.op, n.dtype.str, len(n.shape), len(n.inputs)) for n in graph.nodes),
            len(graph.outputs))


# --- graphs at several sizes -> one dynamic graph ----------------------------------------------
def generalize(graphs):
    """(dynamic graph, where, domain) of which `graphs` (two or more, of one structure())
    are sizes, or NotGeneral."""
    a = graphs[0]
    if any(structure(h) != structure(a) for h in graphs[1:]):
        raise NotGeneral("the code records other ops at other sizes (it picks them by a size)")
    where, points = _symbols(graphs)
    u = _Unifier(Fit(points, Domain((2,) * len(where))))
    g, new = Graph(f"{a.name} (dynamic)"), {}
    for xs in zip(*(h.inputs for h in graphs)):
        x = xs[0]
        if any((y.name, y.requires_grad) != (x.name, x.requires_grad) for y in xs):
            raise NotGeneral(f"input {x.name} differs in more than its sizes")
        n = new[x] = g.add_input(x.name, u.shape(xs), x.dtype, x.requires_grad)
        n.params = u.value([y.params for y in xs], f"input {x.name}")
    positions = [{n: k for k, n in enumerate(h.inputs + h.nodes)} for h in graphs]
    for xs in zip(*(h.nodes for h in graphs)):
        x = xs[0]
        what = f"{x.op} (node {positions[0][x] - len(a.inputs)})"
        if any(y.requires_grad != x.requires_grad for y in xs):
            raise NotGeneral(f"{what} needs a gradient at some sizes only")
        inputs = []
        for ps in zip(*(y.inputs for y in xs)):
            nodes = {isinstance(p, Node) for p in ps}
            if nodes == {True, False} or True in nodes and \
                    len({at[p] for at, p in zip(positions, ps)}) > 1:
                raise NotGeneral(f"{what} reads other operands at other sizes")
            inputs.append(new[ps[0]] if True in nodes else u.operand(ps, what))
        params = _described(xs) if x.op == CONSTANT and len({y.shape for y in xs}) > 1 else \
            u.value([y.params for y in xs], what)
        n = new[x] = Node(x.op, inputs, params, u.shape(xs), x.dtype, x.requires_grad,
                          x.source)
        g.nodes.append(n)
    if len({tuple(at[o] for o in h.outputs) for at, h in zip(positions, graphs)}) > 1:
        raise NotGeneral("the outputs are other values at other sizes")
    g.outputs = [new[o] for o in a.outputs]
    u.set_lows(points)
    return g, where, u.fit.domain


def _symbols(graphs):
    """(where, points): the locators of the symbols (size_sources.py), and each graph's
    sizes of them. The input dims that changed are taken fewest changes first (a batch of N
    before the N * 64 rows of its im2col columns); each is a new symbol unless its sizes
    follow the symbols before it (size_fit.Fit.follows: equal sizes, the length of ids and
    of targets, are one symbol); once there are MAX_SYMBOLS, unless any polynomial in them
    gives its sizes. Where no input dim changed, an int argument used as a size did: the
    node dims and param ints that changed, in the graph's order, each a new symbol unless a
    polynomial in the symbols before it gives its values."""
    names = [x.name for x in graphs[0].inputs]
    where, columns = [], []

    def add(loc, sizes, what):
        if len(where) == MAX_SYMBOLS:
            raise NotGeneral(f"{what} changes apart from " + " and ".join(
                size_sources.describe(graphs[0], w) for w in where) + f" (at most "
                f"{MAX_SYMBOLS} dims that change independently)")
        if min(sizes) < 2:
            raise NotGeneral(f"{what} went {' -> '.join(map(str, sizes))}: sizes 0 and 1 "
                             f"are compiled for themselves")
        where.append(loc)
        columns.append(sizes)

    for _, loc, sizes in sorted((max(s) - min(s), loc, s)
                                for loc, s in size_sources.input_dims(graphs)):
        if columns:
            fit = Fit(list(zip(*columns)), Domain((2,) * len(columns)))
            if fit.follows(sizes) or len(where) == MAX_SYMBOLS and _fits(fit, sizes):
                continue
        add(loc, sizes, f"{names[loc[0]]} dim {loc[1]}")
    if where:
        return where, list(zip(*columns))
    fit = None
    for loc, values in size_sources.node_ints(graphs):
        if fit is not None and _fits(fit, values):
            continue
        add(loc, values, size_sources.describe(graphs[0], loc))
        fit = Fit(list(zip(*columns)), Domain((2,) * len(columns)))
    if not where:
        raise NotGeneral("no size changed (the graphs differ in another way)")
    return where, list(zip(*columns))


def _fits(fit, values):
    try:
        fit(values, "")
    except NoFit:
        return False
    return True


def _described(xs):
    """A constant of a dynamic shape, as what makes it at any size (symbolic.GENERATED):
    {"fill": (v,)} where every size holds v everywhere (the zeros a scatter adds into),
    {"arange": (start, step)} where each counts (positions), {"triangle": ...} where each
    is one value on one side of a diagonal and another off it (a causal mask); else
    NotGeneral."""
    values = [x.params["value"] for x in xs]
    a = values[0]
    for params in (_fill(a), _counting(a), *_triangles(a)):
        if params is not None and all(same(generated(params, v.shape, v.dtype), v)
                                      for v in values):
            return params
    raise NotGeneral(f"a constant of shape {list(a.shape)} holds other values at other sizes "
                     f"({', '.join(str(list(v.shape)) for v in values[1:])}), and neither one "
                     f"value nor a count")


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
    """Values seen at each sample -> one value: an int, or a Sym (size_fit.Fit) where ints
    differ; a RuntimeNumber where a number operand's floats differ."""

    def __init__(self, fit):
        self.fit = fit
        self.dims = []      # every Sym made for a dim
        self.numbers = 0    # RuntimeNumbers made

    def int(self, values, what):
        try:
            return self.fit(tuple(values), what)
        except NoFit as why:
            raise NotGeneral(str(why)) from None

    def shape(self, xs):
        out = tuple(self.int(sizes, f"the shape of {xs[0].op}")
                    for sizes in zip(*(x.shape for x in xs)))
        self.dims += [d for d in out if isinstance(d, Sym)]
        return out

    def operand(self, values, what):
        """A number operand: as value(), except that floats no polynomial relates (a mean's
        1 / n) become a RuntimeNumber, read from each size's trace."""
        if all(isinstance(v, float) for v in values) and \
                not all(same(v, values[0]) for v in values):
            self.numbers += 1
            return RuntimeNumber(self.numbers - 1)
        return self.value(values, what)

    def value(self, values, what):
        """A param or number operand at every sample, as one value (Syms where it
        differs)."""
        va = values[0]
        other = next((v for v in values if type(v) is not type(va)), None)
        if other is not None:
            raise NotGeneral(f"{what}: {va!r} at one size, {other!r} at another")
        if isinstance(va, (int, np.integer)) and not isinstance(va, (bool, np.bool_)):
            return self.int([int(v) for v in values], what) if len(set(values)) > 1 else va
        if isinstance(va, (tuple, list)):
            if len({len(v) for v in values}) > 1:
                raise NotGeneral(f"{what}: {va!r} at one size, {values[-1]!r} at another")
            return type(va)(self.value(list(vs), what) for vs in zip(*values))
        if isinstance(va, dict):
            if any(list(v) != list(va) for v in values):
                raise NotGeneral(f"{what}: other params at other sizes")
            return {k: self.value([v[k] for v in values], f"{what} {k}") for k in va}
        other = next((v for v in values if not same(v, va)), None)
        if other is not None:
            if isinstance(va, (float, np.floating)):
                raise NotGeneral(f"{what}: the number {_short(va)} at {self._at(0)} is "
                                 f"{_short(other)} at {self._at(values.index(other))} (a "
                                 f"float param that depends on a size cannot be dynamic yet)")
            raise NotGeneral(f"{what}: the value differs at other sizes")
        return va

    def _at(self, k):
        return self.fit.domain.describe(self.fit.points[k])

    def set_lows(self, points):
        """Sets the domain's lows: the least sizes, each at least 2, from which every
        dynamic dim is at least 2 and grows with each size (Sym.lowest); where a dim is not,
        the low of the symbol in it whose raise helps it most is raised by one. NotGeneral
        where a sample's sizes fall below them."""
        domain = self.fit.domain
        least = [min(sizes) for sizes in zip(*points)]
        while True:
            bad = next((d for d in self.dims if (d.lowest() or 0) < 2), None)
            if bad is None:
                return
            raised = [(_helps(bad, _raise(domain.lows, k)), k) for k in bad.symbols()]
            k = max(raised, key=lambda hk: hk[0])[1]
            domain.lows = _raise(domain.lows, k)
            if domain.lows[k] > least[k]:
                raise NotGeneral(f"at {self._at(0)} a dim is below 2 or shrinks as a size "
                                 f"grows ({bad})")


def _raise(lows, k):
    return tuple(low + (j == k) for j, low in enumerate(lows))


def _helps(dim, lows):
    """How good `lows` are for dim: whether it grows from them, then its least value."""
    least = dim.lowest(lows)
    return least is not None, least or 0


def _short(v):
    text = repr(v)
    return text if len(text) < 40 else text[:37] + "..."
