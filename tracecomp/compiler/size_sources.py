"""Where the symbols of a dynamic graph are read (compiler/dynamic.py), as locators.

Most symbols are input dims: the batch or the length that changed between calls. Where no
input's size changed and the graphs still differ in sizes, an int argument made them: the
code used it as a size or an offset (`x[:k]`, a KV cache written at `start_pos`), so it is
compiled in, and each new value is traced anew. Its symbol is then read from the traced
graph itself: a node's dim, or an int in a node's params, the first of them that changed.
This is torch.compile's automatic dynamic for int inputs, with the same check as for
dims: every new value's graph must match the template (template_match.py).

    (i, d)                  input i's dim d
    ("node", k, d)          node k's dim d
    ("param", k, path)      the int at `path` in node k's params (a key, then positions)
"""
import numpy as np


def read(graph, where):
    """The size at locator `where` in graph; None where graph has no such place."""
    try:
        if where[0] == "node":
            return graph.nodes[where[1]].shape[where[2]]
        if where[0] == "param":
            value = graph.nodes[where[1]].params
            for step in where[2]:
                value = value[step]
            return value if _is_int(value) else None
        return graph.inputs[where[0]].shape[where[1]]
    except (IndexError, KeyError, TypeError):
        return None


def describe(graph, where):
    """A locator in words: "ids dim 1", "slice (node 0) dim 0", "index_put (node 0) key"."""
    if where[0] == "node":
        return f"{graph.nodes[where[1]].op} (node {where[1]}) dim {where[2]}"
    if where[0] == "param":
        return f"{graph.nodes[where[1]].op} (node {where[1]}) {where[2][0]}"
    return f"{graph.inputs[where[0]].name} dim {where[1]}"


def input_dims(graphs):
    """[(locator, sizes)] of the input dims whose sizes differ between graphs."""
    out = []
    for i, xs in enumerate(zip(*(h.inputs for h in graphs))):
        for d, sizes in enumerate(zip(*(x.shape for x in xs))):
            if len(set(sizes)) > 1:
                out.append(((i, d), sizes))
    return out


def node_ints(graphs):
    """[(locator, values)] of the node dims, then the ints in node params, that differ
    between graphs (of one structure), in the graph's order."""
    out = []
    for k, xs in enumerate(zip(*(h.nodes for h in graphs))):
        for d, sizes in enumerate(zip(*(x.shape for x in xs))):
            if len(set(sizes)) > 1:
                out.append((("node", k, d), sizes))
        for path, values in _param_ints([x.params for x in xs], ()):
            out.append((("param", k, path), values))
    return out


def _param_ints(values, path):
    """(path, values) of the ints that differ in params read together (the same key or
    position in each graph's); containers that differ in shape yield nothing here (the
    generalization says why they do not fit)."""
    first = values[0]
    if _is_int(first):
        if all(_is_int(v) for v in values) and len(set(values)) > 1:
            yield path, tuple(int(v) for v in values)
    elif isinstance(first, dict):
        if all(isinstance(v, dict) and list(v) == list(first) for v in values):
            for key in first:
                yield from _param_ints([v[key] for v in values], path + (key,))
    elif isinstance(first, (tuple, list)):
        if all(isinstance(v, (tuple, list)) and len(v) == len(first) for v in values):
            for j in range(len(first)):
                yield from _param_ints([v[j] for v in values], path + (j,))


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
