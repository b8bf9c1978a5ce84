"""make_dot: torchviz's make_dot for tracecomp, so code that draws a torch autograd graph
draws ours with the same call.

    make_dot(loss, params=dict(model.named_parameters()))  -> graphviz.Digraph
    make_dot(compiled.graphs["backward"])                 -> graphviz.Digraph of an IR graph

For a tensor (or a tuple of them) it walks the eager autograd graph from `.grad_fn` as
torchviz walks torch's, and draws what torchviz draws, with its node ids (`id()` of each
object), labels and colours:

    output tensor        darkolivegreen1   "\\n (64, 10)" (its base, if a view: darkolivegreen3)
    backward node        grey box          type(fn).__name__: "AddmmBackward0"
    AccumulateGrad       grey box          "AccumulateGrad", fed by its leaf
    leaf (param)         lightblue         "fc1.weight\\n (256, 784)", named through `params`
    saved tensor         orange            show_saved=True: the node's tensor operands

Our nodes' names and inputs are torch's (grad_fn_names.py), so the picture of a
model is torchviz's picture of the same model in torch. show_attrs=True lists a node's
parameters (our primitive's params, e.g. `dims: (1,)`; torch lists its `_saved_*` fields).

For an IR Graph (a compiled function's `graphs[...]`) the Digraph's body is
visualize.to_dot's text for it: the picture `tracecomp dump` draws.

`graphviz` (pip install graphviz, or tracecomp[viz]) builds the Digraph; `.source` needs
nothing else, `.render()` needs Graphviz's `dot` program.
"""
from .dispatch import TapeNode
from .ir import Graph
from .tensor import Tensor

# torchviz's look
NODE_ATTR = dict(style="filled", shape="box", align="left", fontsize="10", ranksep="0.1",
                 height="0.2", fontname="monospace")
LEAF_COLOUR, OUTPUT_COLOUR, BASE_COLOUR, SAVED_COLOUR = (
    "lightblue", "darkolivegreen1", "darkolivegreen3", "orange")


def make_dot(var, params=None, show_attrs=False, show_saved=False, max_attr_chars=50):
    """A graphviz.Digraph of var's autograd graph (var: a tensor or a tuple of tensors),
    or of an IR Graph. params: {name: tensor} names the leaves that are parameters."""
    digraph = _digraph_class()
    if isinstance(var, Graph):
        return _ir_digraph(digraph, var, params)
    if params is not None:
        if not all(isinstance(p, Tensor) for p in params.values()):
            raise TypeError("make_dot: params must map names to tensors, e.g. "
                            "dict(model.named_parameters())")
        names = {id(v): k for k, v in params.items()}
    else:
        names = {}
    drawing = _Drawing(digraph(node_attr=NODE_ATTR, graph_attr=dict(size="12,12")), names,
                       show_attrs, show_saved, max_attr_chars)
    for v in var if isinstance(var, tuple) else (var,):
        drawing.add_tensor(v, OUTPUT_COLOUR)
    resize_graph(drawing.dot)
    return drawing.dot


class _Drawing:
    """One make_dot call: the Digraph and the objects already drawn."""

    def __init__(self, dot, names, show_attrs, show_saved, max_attr_chars):
        self.dot, self.names, self.seen = dot, names, set()
        self.show_attrs, self.show_saved = show_attrs, show_saved
        self.max_attr_chars = max_attr_chars

    def var_label(self, t, name=None):
        name = name or self.names.get(id(t), "")
        return f"{name}\n ({', '.join(str(int(n)) for n in t.size())})"

    def add_tensor(self, t, colour):
        """An output (or, for a view, its base) and the graph behind it."""
        if t in self.seen:
            return
        self.seen.add(t)
        self.dot.node(str(id(t)), self.var_label(t), fillcolor=colour)
        if t.grad_fn is not None:
            self.add_graph(t.grad_fn)
            self.dot.edge(str(id(t.grad_fn)), str(id(t)))
        base = _view_base(t)
        if base is not None:
            self.add_tensor(base, BASE_COLOUR)
            self.dot.edge(str(id(base)), str(id(t)), style="dotted")

    def add_graph(self, root):
        """Every node reachable from root, depth first in torchviz's order (a node, then
        each input's whole subgraph in turn), with an explicit stack: a deep graph does
        not reach Python's recursion limit."""
        if root in self.seen:
            return
        stack = [(root, self.add_node(root))]
        while stack:
            fn, inputs = stack[-1]
            for u, _ in inputs:
                if u is None:
                    continue
                self.dot.edge(str(id(u)), str(id(fn)))
                if u not in self.seen:
                    stack.append((u, self.add_node(u)))
                    break
            else:
                stack.pop()

    def add_node(self, fn):
        """Draw fn (and its leaf, its saved tensors); returns an iterator over its inputs."""
        self.seen.add(fn)
        if self.show_saved:
            for name, t in _saved(fn):
                key = f"{id(fn)}.{name}"
                self.dot.edge(str(id(fn)), key, dir="none")
                self.dot.node(key, self.var_label(t, name), fillcolor=SAVED_COLOUR)
        leaf = getattr(fn, "variable", None)
        if leaf is not None:
            self.seen.add(leaf)
            self.dot.node(str(id(leaf)), self.var_label(leaf), fillcolor=LEAF_COLOUR)
            self.dot.edge(str(id(leaf)), str(id(fn)))
        self.dot.node(str(id(fn)), fn_label(fn, self.show_attrs, self.max_attr_chars))
        return iter(fn.next_functions)


def fn_label(fn, show_attrs, max_attr_chars):
    """torchviz's label: the class name, and with show_attrs a table of attributes."""
    return attr_table(type(fn).__name__, _attrs(fn) if show_attrs else {}, max_attr_chars)


def attr_table(name, attrs, max_attr_chars):
    """name over a rule and one `key: value` row per attribute, values cut to
    max_attr_chars, laid out as torchviz lays them out."""
    if not attrs:
        return name
    max_attr_chars = max(max_attr_chars, 3)
    col1 = max(len(k) for k in attrs)
    col2 = min(max(len(v) for v in attrs.values()), max_attr_chars)
    rule = "-" * max(col1 + col2 + 2, len(name))

    def cut(s):
        return s[:col2 - 3] + "..." if len(s) > col2 else s
    rows = "\n".join(f"{k:<{col1}}: {cut(v):>{col2}}" for k, v in attrs.items())
    return name + "\n" + rule + "\n" + rows


def _attrs(fn):
    """A tape node's non-tensor params, as text (torchviz shows torch's `_saved_*`)."""
    if not isinstance(fn, TapeNode):
        return {}
    return {k: str(v) for k, v in fn.params.items() if not isinstance(v, Tensor)}


def _saved(fn):
    """(name, tensor) for what a tape node keeps for its backward: its tensor operands
    (none once backward has freed them)."""
    if not isinstance(fn, TapeNode) or fn.args is None:
        return []
    return [(f"arg{k}", a) for k, a in enumerate(fn.args) if isinstance(a, Tensor)]


def _view_base(t):
    """The tensor t is a view of (the first of a chain of views), as torch's `_base`."""
    view = getattr(t, "_view", None)
    if view is None:
        return None
    base = view[0]
    while getattr(base, "_view", None) is not None:
        base = base._view[0]
    return base


def resize_graph(dot, size_per_element=0.15, min_size=12):
    """torchviz's: the drawing's size grows with its number of statements."""
    size = max(min_size, len(dot.body) * size_per_element)
    dot.graph_attr.update(size=f"{size},{size}")


def _ir_digraph(digraph, graph, params):
    """The Digraph whose statements are visualize.to_dot's for graph."""
    from .visualize import to_dot
    text = to_dot(graph, parameters=tuple(params or ()))
    lines = text.splitlines()
    dot = digraph(name=graph.name)
    dot.body = [line + "\n" for line in lines[1:-1]]     # between "digraph {" and "}"
    return dot


def _digraph_class():
    try:
        from graphviz import Digraph
    except ImportError as exc:
        raise ImportError("make_dot builds a graphviz.Digraph: pip install graphviz (or "
                          "pip install 'tracecomp[viz]')") from exc
    return Digraph
