"""The reference backend: runs a Graph node by node with the primitives' eager numpy impls.

It is the semantics every other backend is tested against, so it stays small and plain:
each node's impl is called with its operands' arrays, the result is cast to the node's
dtype (the dtype rule is the authority, as in eager `bind`; a result of another shape is an
IRError, the impl and the shape rule disagreeing), and every value is dropped
right after its last use, so peak memory follows the graph's liveness. An error inside a
node says which node (with its IR line and the user's source line). Like native code, it
raises no numpy floating-point warnings (0 / 0 is NaN without a word).
"""
import numpy as np

from ..errors import IRError
from ..ir import CONSTANT, Node, execution_error, format_node, format_source, node_names


def compile_graph(graph, updates=None):
    """A runner(arrays) -> arrays for graph. Planning (the last use of every value) happens
    once here, not per call. `updates` (registry.py) is not used: every output is an array
    of its own."""
    position = {n: k for k, n in enumerate(graph.inputs)}
    steps, last_use = [], {}
    for k, node in enumerate(graph.nodes):
        for i in node.node_inputs():
            last_use[i] = k
    outputs = set(graph.outputs)
    for k, node in enumerate(graph.nodes):
        # dict.fromkeys: an operand used twice (mul(%x, %x)) is freed once
        free = [i for i in dict.fromkeys(node.node_inputs()) if last_use[i] == k
                and i not in outputs]
        steps.append((node, free))
    names = node_names(graph)

    def run(arrays):
        env = {n: arrays[position[n]] for n in graph.inputs}
        # numpy's floating-point warnings off, as native code and torch raise none: a rule
        # that computes both sides of a where (complex division's Smith branches, ...)
        # divides by zero in the side it drops, for inputs where nothing is exceptional
        with np.errstate(all="ignore"):
            for node, free in steps:
                env[node] = execute(node, env, names)
                for i in free:
                    del env[i]
        return [env[o] for o in graph.outputs]

    return run


def execute(node, env, names):
    """node's value from its operands' values in env (numpy arrays), cast to its dtype."""
    if node.op == CONSTANT:
        return node.params["value"]
    operands = [env[i] if isinstance(i, Node) else i for i in node.inputs]
    try:
        out = node.prim.impl(*operands, **node.params)
    except Exception as exc:
        raise execution_error(exc, node, names, format_source(node.source)) from exc
    if type(out) is not np.ndarray or out.dtype != node.dtype:
        out = node.prim.as_dtype(out, operands, node.params, node.dtype)
    if out.shape != node.shape:     # the shape rule is the authority, as for the dtype
        raise IRError(f"{node.op}'s impl returned shape {list(out.shape)} where its shape "
                      f"rule says {list(node.shape)}\nWhile executing "
                      f"{format_node(node, names)}   # {format_source(node.source)}")
    return out
