"""Tracing a module for torch.export: one IR graph whose inputs are the module's parameters,
its buffers and the user's tensors (in torch's order, named as torch names them:
p_fc_weight, b_running_mean, x), and whose outputs are the user's results, then the new
values of the buffers the forward updates in place (BatchNorm's running statistics, torch's
BUFFER_MUTATION outputs).

With dynamic dims the module is traced at several sizes of them (the example's, then at
each corner of the unit cube above it, then each Dim two larger: `sample_steps`) and the
graphs are made one graph whose sizes are symbols
(compiler/dynamic.py's generalize): code that fixes a dynamic size, `x.view(5, 4)`, does not
make one graph, and export says so as torch does (`Constraints violated`)."""
import itertools

import numpy as np

from .. import context
from ..compiler.dynamic import MAX_SYMBOLS, generalize
from ..compiler.pipeline import run_passes, simplify_pipeline
from ..errors import TraceError
from ..ir import Graph
from ..symbolic import RuntimeNumber
from ..tensor import Tensor
from ..tracing.tracer import Tracer, wrap
from . import tree
from .dims import UserError

PARAMETER, BUFFER, USER_INPUT = "PARAMETER", "BUFFER", "USER_INPUT"


def torch_name(kind, target):
    """The graph's name of a module tensor, as torch's: p_fc_weight, b_bn_running_mean."""
    return {PARAMETER: "p_", BUFFER: "b_"}[kind] + target.replace(".", "_")


def members(module):
    """[(kind, state_dict name, tensor, persistent)] for the module's parameters, then its
    buffers."""
    out = [(PARAMETER, name, p, None) for name, p in module.named_parameters()]
    seen = set()    # a buffer shared by two modules is one input, at its first name
    for path, sub in module.named_modules():
        for name, b in sub._buffers.items():
            if b is not None and id(b) not in seen:
                seen.add(id(b))
                target = f"{path}.{name}" if path else name
                out.append((BUFFER, target, b, name not in sub._non_persistent_buffers_set))
    return out


def trace_graph(module, in_spec, user_names, user_tensors, state):
    """(graph, out_spec, mutated buffer targets): module(*args, **kwargs) traced, the
    arguments rebuilt from in_spec around stand-ins of user_tensors; simplified."""
    tracer = Tracer(Graph("exported"), {id(m): path for path, m in module.named_modules()})
    tracer.differentiated = False       # an exported graph has no backward of its own
    originals = [t._data for _, _, t, _ in state]
    nodes = []
    try:
        with tracer:
            for kind, target, t, _ in state:
                nodes.append(tracer.input(torch_name(kind, target), t))
                t._data = nodes[-1]
            user_nodes = [tracer.input(name, t) for name, t in zip(user_names, user_tensors)]
            stand_ins = [wrap(n, t.requires_grad) for n, t in zip(user_nodes, user_tensors)]
            args, kwargs = tree.unflatten(in_spec, stand_ins)
            try:
                result = module(*args, **kwargs)
            except TraceError as exc:
                raise data_dependent(exc) from exc
            for name, s, node in zip(user_names, stand_ins, user_nodes):
                if s._data is not node:
                    raise NotImplementedError(
                        f"torch.export: the forward updates its input {name} in place; "
                        f"tracecomp's exported programs do not write into their inputs "
                        f"(return the new value instead)")
            outs, out_spec = tree.flatten(result, "the outputs")
            outputs = [tracer.lift(t) for t in outs]
            mutated = []
            for (kind, target, t, _), node in zip(state, nodes):
                if t._data is node:
                    continue
                if kind == PARAMETER:
                    raise UserError(f"torch.export: the forward updates parameter {target} in "
                                    f"place; an exported program may update buffers only")
                mutated.append(target)
                outputs.append(tracer.lift(Tensor._make(t._data)))
    finally:
        for (_, _, t, _), data in zip(state, originals):
            t._data = data
        for t, data in tracer.rebound:
            t._data = data
    graph = tracer.graph
    graph.outputs = outputs
    return run_passes(graph, simplify_pipeline(), "exported", []), out_spec, mutated


def data_dependent(exc):
    """The tracer's TraceError (it names the line and why: a branch on tensor values,
    `.item()`...), as export's error: the whole forward must be one graph."""
    return TraceError(f"torch.export could not trace the module into one graph (export has "
                      f"no graph breaks; torch raises GuardOnDataDependentSymNode or "
                      f"Unsupported here): {exc}")


def capture(module, in_spec, user_names, user_tensors, marks, state):
    """(graph, out_spec, mutated, symbols): symbols is [(Dim, [(user tensor, dim)])], one
    per distinct Dim of marks ({id(tensor): {dim: Dim}}); the graph holds a symbol where
    a marked dim was."""
    symbols = {}
    for k, t in enumerate(user_tensors):
        for d, dim in marks.get(id(t), {}).items():
            symbols.setdefault(id(dim), (dim, []))[1].append((k, d))
    symbols = list(symbols.values())
    if not symbols:
        return (*trace_graph(module, in_spec, user_names, user_tensors, state), [])
    with context.varying_sizes(True):     # one graph for every size: no layout by size
        return _dynamic(module, in_spec, user_names, user_tensors, state, symbols)


def _dynamic(module, in_spec, user_names, user_tensors, state, symbols):
    """capture's graph for `symbols` (at least one), traced at several sizes of them."""
    if len(symbols) > MAX_SYMBOLS:
        raise NotImplementedError(f"torch.export: {len(symbols)} distinct Dims; tracecomp's "
                                  f"dynamic graphs have at most {MAX_SYMBOLS} symbols (give "
                                  f"dims of one size the same Dim)")
    graph, out_spec, mutated = trace_graph(module, in_spec, user_names, user_tensors, state)
    for dim, places in symbols:
        for k, d in places:
            size = user_tensors[k].shape[d]
            if size < 2:
                raise UserError(f"torch.export: {user_names[k]} dim {d} is marked dynamic "
                                f"({dim.__name__}) but its example size is {size}; sizes 0 "
                                f"and 1 are specialized. Export with an example of size >= 2")
            if not dim.min <= size <= dim.max:
                raise UserError(f"torch.export: {user_names[k]} dim {d} has example size "
                                f"{size}, outside {dim!r}")
    graphs = [graph]
    try:
        for step in sample_steps(len(symbols)):
            bigger = list(user_tensors)
            for (_, places), extra in zip(symbols, step):
                for k, d in places:
                    shape = list(bigger[k].shape)
                    shape[d] = user_tensors[k].shape[d] + extra
                    bigger[k] = Tensor._make(np.zeros(shape, user_tensors[k]._data.dtype))
            graphs.append(trace_graph(module, in_spec, user_names, bigger, state)[0])
        sym, where, domain = generalize(graphs)
    except Exception as why:    # noqa: BLE001 - any failure at other sizes: it specialized
        if all(getattr(dim, "auto", False) for dim, _ in symbols):
            return graph, out_spec, mutated, []     # Dim.AUTO: static where code fixes it
        names = ", ".join(dim.__name__ for dim, _ in symbols)
        raise UserError(f"Constraints violated ({names})! The code does not make one graph "
                        f"for every size of the dims marked dynamic: it specialized a "
                        f"dynamic size to a constant ({type(why).__name__}: {why}). Mark "
                        f"only dims the code leaves free, or use Dim.AUTO") from None
    _check_numbers(sym)
    sym.name = graph.name
    n_state = len(state)
    found = []
    for dim, places in symbols:
        mine = {(n_state + k, d) for k, d in places}
        position = next((j for j, w in enumerate(where) if w in mine), None)
        if position is None:
            raise UserError(f"Constraints violated ({dim.__name__})! Its dims follow another "
                            f"dynamic dim's size: give them the same Dim")
        found.append((position, dim, places))
    if len(found) != len(where):
        raise UserError("Constraints violated: a dim not marked dynamic changes size with the "
                        "marked ones")
    symbols = [(dim, places) for _, dim, places in sorted(found, key=lambda f: f[0])]
    lows = [max(dim.min, low) for (dim, _), low in zip(symbols, domain.lows)]
    return sym, out_spec, mutated, [(dim, places, low) for (dim, places), low in
                                    zip(symbols, lows)]


def sample_steps(n):
    """How far each of n symbols is from the example's size in each further trace: every
    corner of the unit cube but the example's (from which a multilinear size, B*H*W rows,
    is exactly one polynomial, size_fit.py), then each symbol two larger alone, which a
    size that grows as a square (s^2) misses, so it fails to generalize instead of being
    fitted wrongly. 2^n + n - 1 traces: 2 for one Dim, 5 for two, 10 for three."""
    corners = sorted(itertools.product((0, 1), repeat=n), key=lambda c: (sum(c), c[::-1]))
    return corners[1:] + [tuple(2 * (j == k) for j in range(n)) for k in range(n)]


def _check_numbers(graph):
    """A float that depends on a dynamic size (a mean's 1/n over a dynamic dim) is read from
    each size's trace when tracecomp.compile runs a dynamic graph; an exported program has
    no trace to read it from."""
    for node in graph.nodes:
        if any(isinstance(i, RuntimeNumber) for i in node.inputs):
            raise NotImplementedError(
                f"torch.export: {node.op} at {node.source and node.source[0]}:"
                f"{node.source and node.source[1]} uses a float that depends on a dynamic "
                f"size; tracecomp cannot export it with dynamic_shapes yet (export with static "
                f"shapes)")

