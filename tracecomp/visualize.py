"""Graph pictures: a Graph as Graphviz DOT text, in the style of torchviz's make_dot.

    to_dot(graph)                 -> DOT text, deterministic (same graph, same bytes)
    write_picture(dot, "out/g")   -> writes out/g.dot and out/g.svg (formats=("svg", "png"):
                                     out/g.png too), drawn by Graphviz's `dot` program when
                                     it is on PATH, else by picture.py (networkx and
                                     matplotlib), else only the .dot
    drawer()                      -> "graphviz", "matplotlib" or None: who would draw

What the picture shows (the colour key is also in the graph's caption):

    parameter / buffer    lightblue   input named like a module attribute: `fc1.weight`
    user input            gold        an argument of the traced function: `x`
    saved value           orange      a backward input the forward saved (`saved.x`)
    cotangent             pink        a backward input: an incoming gradient (`grad.0`)
    constant              small grey  a literal array baked into the graph
    op                    white box   "%3 matmul" / "f32[64,256]" / "mlp.py:12 fc1"
    output                green, doubled border

Every node's tooltip (shown on hover in the SVG) is its full IR line. The text has one
statement per line, so tools and tests can check it without a DOT parser.
"""
import os
import shutil
import subprocess

import numpy as np

from .errors import TracecompError
from .ir import CONSTANT, Node, format_node, format_source, node_names

# (fill colour, what the kind means): used for the nodes and the caption's key
INPUT_KINDS = {
    "parameter": ("lightblue", "parameter/buffer"),
    "user": ("gold", "user input"),
    "saved": ("orange", "saved value"),
    "cotangent": ("pink", "cotangent"),
}
CONSTANT_COLOUR = "lightgrey"
OUTPUT_COLOUR = "darkolivegreen1"
# the look shared by every node and edge (one statement each)
DEFAULTS = {
    "graph": {"rankdir": "TB", "labelloc": "t", "fontname": "Helvetica", "fontsize": "12"},
    "node": {"shape": "box", "style": "filled,rounded", "fillcolor": "white",
             "fontname": "Courier", "fontsize": "10", "height": "0.2"},
    "edge": {"arrowsize": "0.6"},
}
DOT_TIMEOUT_S = 120     # a few hundred nodes lay out in well under a second


def input_kind(name, parameters=(), user_inputs=()):
    """'parameter', 'user', 'saved' or 'cotangent' for a graph input's name. Names come
    from the compiler: the backward's inputs are `saved.<...>` and `grad.<k>`, module
    attributes are dotted paths (`fc1.weight`), user arguments are plain (`x`) or, for
    an element of a tuple argument, dotted from the argument (`xs.0`). `parameters` and
    `user_inputs` (argument names) settle the names the rule cannot tell apart."""
    if name.startswith("saved."):
        return "saved"
    if name.startswith("grad."):
        return "cotangent"
    if name in parameters:
        return "parameter"
    if "." in name and name.split(".", 1)[0] not in user_inputs:
        return "parameter"
    return "user"


def quote(text):
    """A DOT double-quoted string: backslashes and quotes escaped, newlines as `\\n`."""
    text = str(text).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + text.replace("\r", "").replace("\n", "\\n") + '"'


def _attrs(attrs):
    return ", ".join(f"{k}={quote(v)}" for k, v in attrs.items())


def _constant_label(node, names):
    value = node.params["value"]
    if value.size <= 4:
        # a short literal reads better than its shape: `0.5`, `[1, 2]`
        body = np.array2string(value, separator=", ", threshold=4).replace("\n", "")
        return f"{names[node]} const {body}"
    return f"{names[node]} const {node.spec()}"


def _op_label(node, names):
    # operands that are Python scalars have no edge, so they go into the label: mul(·, 2)
    scalars = [repr(i) for i in node.inputs if not isinstance(i, Node)]
    call = node.op if not scalars else f"{node.op}({', '.join(scalars)})"
    lines = [f"{names[node]} {call}", node.spec()]
    where = format_source(node.source)
    if where:
        lines.append(where)
    return "\n".join(lines)


def to_dot(graph, title=None, parameters=(), user_inputs=()):
    """DOT text for graph. `title` heads the caption (default: the graph's name).
    `parameters` (a module's parameter and buffer names: a bare nn.Linear's are `weight`
    and `bias`, without a dot) and `user_inputs` (the argument names) refine input_kind."""
    names = node_names(graph)
    ids = {n: f"i{k}" for k, n in enumerate(graph.inputs)}
    ids.update({n: f"n{k}" for k, n in enumerate(graph.nodes)})
    outputs = {n: k for k, n in reversed(list(enumerate(graph.outputs)))}
    used = {kind: False for kind in INPUT_KINDS}

    lines = [f"digraph {quote(graph.name)} {{"]
    lines += [f"  {kind} [{_attrs(attrs)}];" for kind, attrs in DEFAULTS.items()]

    for n in graph.inputs:
        kind = input_kind(n.name, parameters, user_inputs)
        used[kind] = True
        colour, meaning = INPUT_KINDS[kind]
        attrs = {"label": f"{names[n]}\n{n.spec()}", "fillcolor": colour,
                 "tooltip": f"{meaning}: {names[n]}: {n.spec()}"}
        lines.append(f"  {ids[n]} [{_attrs(attrs | _output_style(n, outputs))}];")
    for n in graph.nodes:
        where = format_source(n.source)
        tooltip = format_node(n, names) + (f"   # {where}" if where else "")
        if n.op == CONSTANT:
            attrs = {"label": _constant_label(n, names), "fillcolor": CONSTANT_COLOUR,
                     "fontsize": "8", "tooltip": tooltip}
        else:
            attrs = {"label": _op_label(n, names), "tooltip": tooltip}
        lines.append(f"  {ids[n]} [{_attrs(attrs | _output_style(n, outputs))}];")

    for n in graph.nodes:
        for i in n.node_inputs():
            lines.append(f"  {ids[i]} -> {ids[n]};")

    lines.append(f"  label={quote(_caption(graph, title, used))};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _output_style(node, outputs):
    if node not in outputs:
        return {}
    return {"fillcolor": OUTPUT_COLOUR, "peripheries": "2", "xlabel": f"output {outputs[node]}"}


def _caption(graph, title, used):
    constants = len(graph.nodes) - graph.op_count()
    counts = ", ".join([_count(len(graph.inputs), "input"), _count(graph.op_count(), "op"),
                        _count(constants, "constant"), _count(len(graph.outputs), "output")])
    key = ", ".join(f"{colour}: {meaning}" for kind, (colour, meaning) in INPUT_KINDS.items()
                    if used[kind])
    key = f"{key}, {OUTPUT_COLOUR}: output" if key else f"{OUTPUT_COLOUR}: output"
    return "\n".join([title or graph.name, counts, key])


def _count(k, noun):
    return f"{k} {noun}" if k == 1 else f"{k} {noun}s"


def dot_program():
    """The path of Graphviz's `dot`, or None when Graphviz is not installed."""
    return shutil.which("dot")


def drawer():
    """Who draws write_picture's pictures here: "graphviz" (its `dot` is on PATH),
    "matplotlib" (picture.py's layout, where Graphviz is missing) or None (only DOT text)."""
    from . import picture
    if dot_program() is not None:
        return "graphviz"
    return "matplotlib" if picture.available() else None


def write_picture(dot_text, path_without_ext, formats=("svg",)):
    """Write `<path>.dot`, and `<path>.<format>` for each of `formats` ("svg", "png") when
    drawer() finds someone to draw them; return the paths written (so a caller tells
    whether a picture came out by the list's length)."""
    dot_path = f"{path_without_ext}.dot"
    with open(dot_path, "w", encoding="utf-8") as f:
        f.write(dot_text)
    who = drawer()
    if who is None:
        return [dot_path]
    written = [dot_path]
    for fmt in formats:
        path = f"{path_without_ext}.{fmt}"
        if who == "graphviz":
            _graphviz(dot_path, fmt, path)
        else:
            from . import picture
            picture.draw(dot_text, path)
        written.append(path)
    return written


def _graphviz(dot_path, fmt, out_path):
    program = dot_program()
    try:
        done = subprocess.run([program, f"-T{fmt}", dot_path, "-o", out_path],
                              capture_output=True, text=True, timeout=DOT_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise TracecompError(f"Graphviz took over {DOT_TIMEOUT_S} s to lay out {dot_path}; "
                             f"the .dot file is written, the .{fmt} is not") from None
    if done.returncode != 0 or not os.path.exists(out_path):
        raise TracecompError(f"Graphviz could not draw {dot_path} (exit {done.returncode}): "
                             f"{done.stderr.strip()}")
