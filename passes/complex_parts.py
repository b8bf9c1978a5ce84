"""Complex parts: rewrite every complex value of a graph as a real tensor with a trailing
dim of 2 (its real and imaginary parts, view_as_real's layout), so that a backend only ever
sees real primitives.

Each node that reads or makes a complex value is replaced by what its primitive's
`complex_rule` (tracecomp/ops/complex_parts.py) builds from the parts, replayed with the
tracer on as decompose.py replays its rules, so shapes and dtypes come from the real
primitives' own rules; nodes keep the source line of the node they replace. A complex input,
constant or output becomes its (..., 2) real form: the compiled call passes a complex array
as its real view and reads a (..., 2) result back as complex (compiler/complex_sides.py),
without copies. Run after autodiff, so the backward is torch's (the primitives' own VJPs on
complex values), and before a backend.

    before:  %z: c64[4] = view_as_complex(%x)            # x: f32[4,2]
             %1: c64[4] = mul(%z, %w)                     # w: c64[4]
             %2: f32[4,2] = view_as_real(%1)
    after:   (inputs %x: f32[4,2], %w: f32[4,2])
             %xr, %xi, %wr, %wi: f32[4] = the parts: reshape(slice(%x, [..., k]))
             %5: f32[4] = sub(mul(%xr, %wr), mul(%xi, %wi))
             %8: f32[4] = add(mul(%xr, %wi), mul(%xi, %wr))
             %9: f32[4,2] = where([True, False], reshape(%5, (4, 1)), reshape(%8, (4, 1)))

A graph without complex values comes back as it is.
"""
import numpy as np

from tracecomp import dtypes, grad_mode
from tracecomp.errors import LoweringError
from tracecomp.ir import CONSTANT, Graph, Node, clone_node
from tracecomp.ops.complex_algebra import Pair
from tracecomp.tracing.tracer import Tracer, wrap


class _Out:
    """What a rule knows of the node it replaces: op, shape, dtype and the real dtype of
    its parts."""

    def __init__(self, node):
        self.op, self.shape, self.dtype = node.op, node.shape, node.dtype
        self.real = dtypes.real_type(node.dtype)


def has_complex(graph):
    return any(n.dtype.kind == "c" for n in graph.inputs + graph.nodes)


def run(graph: Graph) -> Graph:
    """graph with every complex value held as a (..., 2) real tensor."""
    if not has_complex(graph):
        return graph
    new, mapping = Graph(graph.name), {}
    tracer = Tracer(new)
    for n in graph.inputs:
        if n.dtype.kind == "c":
            node = new.add_input(n.name, n.shape + (2,), dtypes.real_type(n.dtype),
                                 n.requires_grad)
            node.params = dict(n.params, complex=str(n.dtype))
            mapping[n] = Pair(wrap(node, n.requires_grad))
        else:
            mapping[n] = new.add_input(n.name, n.shape, n.dtype, n.requires_grad)
            mapping[n].params = dict(n.params)
    with tracer, grad_mode.no_grad():
        for n in graph.nodes:
            if not _touches_complex(n):
                mapping[n] = clone_node(n, mapping, new.node_type)
                new.nodes.append(mapping[n])
                continue
            tracer.source_override = n.source
            try:
                out = _rewrite(n, mapping, new)
                mapping[n] = out if isinstance(out, Pair) else tracer.lift(out)
            finally:
                tracer.source_override = None
        new.outputs = [_node(mapping[o], tracer) if isinstance(o, Node) else o
                       for o in graph.outputs]
    return new


def _touches_complex(n):
    return n.dtype.kind == "c" or any(
        isinstance(i, Node) and i.dtype.kind == "c" or type(i) is complex for i in n.inputs)


def _rewrite(n, mapping, new):
    """n's value from its parts: a Pair for a complex value, else a tensor. (Flags of
    requires_grad are not kept: this runs after autodiff, where they mean nothing more.)"""
    if n.op == CONSTANT:
        value = n.params["value"]
        parts = np.stack([value.real, value.imag], axis=-1)
        return Pair(wrap(new.add_constant(parts, n.source)))
    rule = n.prim.complex_rule
    if rule is None:        # the tracer refuses such ops: a rule missing for a VJP's op
        raise LoweringError(f"complex_parts: {n.op} has no rule for complex values "
                            f"(tracecomp/ops/complex_parts.py); its node: {n!r}")
    args = [_operand(mapping[i]) if isinstance(i, Node) else i for i in n.inputs]
    return rule(_Out(n), *args, **n.params)


def _operand(v):
    return v if isinstance(v, Pair) else wrap(v)


def _node(v, tracer):
    return tracer.lift(v.p) if isinstance(v, Pair) else v
