"""Graph pictures without Graphviz: the DOT text visualize.to_dot writes, laid out in layers
with networkx and drawn with matplotlib, as PNG or SVG.

    draw(dot_text, "out/g.png")       # also .svg; the format follows the extension
    available()                       # False without matplotlib (then nothing is drawn)

visualize.write_picture calls it when Graphviz's `dot` is not on PATH, so a fresh machine
still gets a picture of each graph. It reads the DOT text rather than the Graph, so the
labels and colours are exactly the ones Graphviz would show; the reader accepts the
statement forms to_dot writes, one per line (a node with its attributes, an edge, the
caption), and skips any other line.

Layout, top-down like Graphviz's `rankdir=TB`: the longest path from the graph's inputs
gives the number of layers and each output's layer; every other node sits one layer above
its first user (a parameter the backward reads last, or a side branch of a long chain,
would otherwise draw its edges across the whole picture). Within a layer, nodes are
ordered by the mean position of their neighbours, sweeping down, up and down again, which
undoes most crossings of a chain of layers. Every edge points down, so edges are drawn as
plain lines, without arrowheads.

Size: a column fits the longest label and a row the tallest. A picture wider or taller
than MAX_INCHES is scaled down, fonts included, so a graph of thousands of nodes still
draws in a few seconds: its SVG keeps the text as text (zoom in to read it); its PNG stays
within MAX_PIXELS a side, and where its labels would be under MIN_TEXT_PIXELS high it shows
the coloured boxes without them (drawing thousands of unreadable glyphs took most of the
time: 2.5 s of a 1,200-node PNG's 3).
"""
import importlib.util
import re

import networkx as nx

from .errors import TracecompError
from .visualize import CONSTANT_COLOUR, INPUT_KINDS, OUTPUT_COLOUR

FONT_POINTS = 7             # label font at full size
MIN_FONT_POINTS = 1.0       # below this nobody reads the PNG anyway; the SVG still zooms
MAX_LABEL_CHARS = 48        # longer label lines (deep module paths) are cut with '...'
MAX_INCHES = 40.0           # the longer side of a scaled-down picture
MAX_PIXELS = 4000           # the longer side of a PNG, in pixels
MIN_TEXT_PIXELS = 4         # a PNG whose labels would be smaller shows coloured boxes only
MIN_INCHES = 3.0            # the narrower side of a picture (a long chain's width)
LEGEND_ENTRY_INCHES = 1.4   # one colour of the key at full size: "parameter/buffer"
DPI = 100
# Graphviz's X11 colour names that matplotlib (which knows the CSS ones) does not
X11_COLOURS = {"darkolivegreen1": "#caff70"}

_NODE = re.compile(r"^\s*(\w+)\s*\[(.*)\];\s*$")
_EDGE = re.compile(r"^\s*(\w+)\s*->\s*(\w+)\s*;\s*$")
_CAPTION = re.compile(r'^\s*label\s*=\s*("(?:[^"\\]|\\.)*")\s*;\s*$')
_ATTR = re.compile(r'(\w+)\s*=\s*("(?:[^"\\]|\\.)*")')
_ESCAPE = re.compile(r"\\(.)")
_DEFAULTS = ("graph", "node", "edge")


def available():
    """Whether matplotlib is installed (found without importing it: that takes ~0.3 s)."""
    try:
        return importlib.util.find_spec("matplotlib") is not None
    except ValueError:          # sys.modules holds None for it: blocked on purpose
        return False


# --- reading to_dot's text -----------------------------------------------------------------
def _unquote(text):
    """The value of a DOT double-quoted string (visualize.quote's inverse)."""
    return _ESCAPE.sub(lambda m: "\n" if m[1] == "n" else m[1], text[1:-1])


def read_dot(dot_text):
    """(nx.DiGraph whose nodes carry their DOT attributes, caption) of to_dot's text; the
    default `node [...]` attributes are merged into each node's own."""
    graph, defaults, caption = nx.DiGraph(), {}, ""
    for line in dot_text.splitlines():
        if m := _EDGE.match(line):
            graph.add_edge(m[1], m[2])
        elif m := _NODE.match(line):
            attrs = {k: _unquote(v) for k, v in _ATTR.findall(m[2])}
            if m[1] in _DEFAULTS:
                defaults[m[1]] = attrs
            else:
                graph.add_node(m[1], **(defaults.get("node", {}) | attrs))
        elif m := _CAPTION.match(line):
            caption = _unquote(m[1])
    for name in graph.nodes:        # an edge's end that no statement declared
        if "label" not in graph.nodes[name]:
            graph.nodes[name].update(defaults.get("node", {}), label=name)
    return graph, caption


# --- the layout ----------------------------------------------------------------------------
def layers(graph):
    """{node: layer}: the longest path from a source decides the depth of the graph and of
    its sinks; every other node then sits one layer above its first user."""
    try:
        order = list(nx.topological_sort(graph))
    except nx.NetworkXUnfeasible:
        raise TracecompError("cannot lay out the graph in layers: it has a cycle "
                             "(to_dot's graphs never do)") from None
    depth = {}
    for n in order:
        depth[n] = max((depth[p] + 1 for p in graph.predecessors(n)), default=0)
    for n in reversed(order):       # then each node as late as its users allow
        if graph.out_degree(n) > 0:
            depth[n] = min(depth[s] for s in graph.successors(n)) - 1
    return depth


def positions(graph):
    """{node: (x, y)}: layers top-down (y = -layer), each layer's nodes one unit apart and
    centred, ordered by barycentre sweeps (see the module docstring)."""
    depth = layers(graph)
    rows = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for n in graph.nodes:           # DOT order (the IR's) first: the sweeps start from it
        rows[depth[n]].append(n)
    x = {}
    for row in rows:
        _place(row, x)
    for neighbours, sweep in ((graph.predecessors, rows[1:]),
                              (graph.successors, rows[-2::-1]),
                              (graph.predecessors, rows[1:])):
        for row in sweep:
            row.sort(key=lambda n, nb=neighbours: _barycentre(nb(n), x, x[n]))
            _place(row, x)
    return {n: (x[n], -depth[n]) for n in graph.nodes}


def _barycentre(neighbours, x, own):
    xs = [x[m] for m in neighbours]
    return sum(xs) / len(xs) if xs else own


def _place(row, x):
    for k, n in enumerate(row):
        x[n] = k - (len(row) - 1) / 2


# --- drawing -------------------------------------------------------------------------------
def _colour(name):
    from matplotlib.colors import is_color_like
    name = X11_COLOURS.get(name, name)
    return name if is_color_like(name) else "white"


def _fill(attrs):
    return _colour(attrs.get("fillcolor", "white"))


def _label(text):
    lines = text.split("\n")
    return "\n".join(line if len(line) <= MAX_LABEL_CHARS else line[:MAX_LABEL_CHARS - 3]
                     + "..." for line in lines)


def _border(attrs):
    """Line width of a node's box: doubled (Graphviz's `peripheries`) for an output."""
    return 1.6 if "peripheries" in attrs else 0.5


def _legend_entries(graph):
    """(colour, meaning) of the node kinds the picture shows, in the caption's order."""
    kinds = list(INPUT_KINDS.values()) + [(CONSTANT_COLOUR, "constant"),
                                          (OUTPUT_COLOUR, "output")]
    used = {attrs.get("fillcolor") for _, attrs in graph.nodes(data=True)}
    return [(colour, meaning) for colour, meaning in kinds if colour in used]


def draw(dot_text, path):
    """Draw to_dot's text into `path` (.png or .svg); returns path. Needs matplotlib."""
    from matplotlib import rc_context
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    graph, caption = read_dot(dot_text)
    xy = positions(graph)
    # an output's index (Graphviz puts it beside the node, as its xlabel) ends its label
    labels = {n: _label("\n".join(filter(None, (a.get("label", n), a.get("xlabel")))))
              for n, a in graph.nodes(data=True)}
    entries = _legend_entries(graph)
    # the caption's colour key (its line ending "<output colour>: output") is the legend here
    title = "\n".join(line for line in caption.split("\n")
                      if line and not line.endswith(f"{OUTPUT_COLOUR}: output"))
    size = _Size(xy, labels, title.count("\n") + 1 if title else 0, len(entries))
    fig = Figure(figsize=(size.width, size.height))
    ax = fig.add_axes((0, 0, 1, 1 - size.head / size.height))
    ax.set_axis_off()
    ax.set_xlim(-size.widest / 2, size.widest / 2)
    ax.set_ylim(-size.layers + 0.5, 0.5)
    ax.add_collection(LineCollection([(xy[a], xy[b]) for a, b in graph.edges],
                                     colors="0.45", linewidths=0.6 * size.scale, zorder=1))
    dpi = min(DPI, MAX_PIXELS / max(size.width, size.height))
    if path.endswith(".svg") or size.font * dpi / 72 >= MIN_TEXT_PIXELS:
        _labelled_boxes(ax, graph, xy, labels, size)
    else:   # glyphs this small are unreadable and cost most of the time: boxes only
        _plain_boxes(ax, graph, xy, size)
    _head(fig, title, entries, size)
    # text stays text in the SVG: smaller, faster to write, searchable, zoomable
    with rc_context({"svg.fonttype": "none"}):
        fig.savefig(path, dpi=dpi)
    return path


class _Size:
    """The picture's measures in inches, and the scale that keeps it within MAX_INCHES."""

    def __init__(self, xy, labels, title_lines, n_entries):
        layer_sizes = {}
        for _, y in xy.values():
            layer_sizes[y] = layer_sizes.get(y, 0) + 1
        self.widest = max(layer_sizes.values(), default=1)
        self.layers = 1 - min(layer_sizes, default=0)
        chars = max((len(line) for text in labels.values() for line in text.split("\n")),
                    default=8)
        lines = max((text.count("\n") + 1 for text in labels.values()), default=1)
        # at full size a column fits `chars` monospace characters (~0.6 em wide), a row
        # `lines` lines plus the gap the edges run through; the head holds the title and
        # the legend, LEGEND_ENTRY_INCHES an entry (their ratio to the width never scales)
        column = chars * 0.6 * FONT_POINTS / 72 + 0.25
        row = lines * 1.25 * FONT_POINTS / 72 + 0.3
        width = max(self.widest * column, MIN_INCHES)
        self.legend_columns = max(1, min(n_entries, int(width / LEGEND_ENTRY_INCHES)))
        legend_rows = -(-n_entries // self.legend_columns)
        head = ((title_lines + legend_rows) * 1.4 * (FONT_POINTS + 2) + 8) / 72
        height = self.layers * row + head
        self.scale = min(1.0, MAX_INCHES / max(width, height))
        self.font = max(FONT_POINTS * self.scale, MIN_FONT_POINTS)
        self.head = head * self.scale
        self.width = max(width * self.scale, MIN_INCHES)
        self.height = max(height * self.scale, MIN_INCHES)


def _labelled_boxes(ax, graph, xy, labels, size):
    for n, attrs in graph.nodes(data=True):
        small = attrs.get("fontsize") == "8"        # constants: to_dot's smaller font
        ax.text(*xy[n], labels[n], ha="center", va="center", family="monospace",
                fontsize=size.font * (0.8 if small else 1), zorder=2,
                bbox={"boxstyle": "round,pad=0.3", "facecolor": _fill(attrs),
                      "edgecolor": "black", "linewidth": _border(attrs) * size.scale})


def _plain_boxes(ax, graph, xy, size):
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle
    nodes = list(graph.nodes(data=True))
    ax.add_collection(PatchCollection(
        [Rectangle((xy[n][0] - 0.42, xy[n][1] - 0.3), 0.84, 0.6) for n, _ in nodes],
        facecolors=[_fill(a) for _, a in nodes], edgecolors="black",
        linewidths=[_border(a) * size.scale for _, a in nodes], zorder=2))


def _head(fig, title, entries, size):
    """The title, and under it the colour key as a legend (LEGEND_ENTRY_INCHES an entry)."""
    font = size.font + 2 * size.scale
    line = 1.4 * font / 72 / size.height        # one head line, as a fraction of the height
    top = 1 - 4 / 72 * size.scale / size.height
    if title:
        fig.text(0.5, top, title, ha="center", va="top", fontsize=font, family="sans-serif")
    if entries:
        from matplotlib.patches import Patch
        fig.legend(handles=[Patch(facecolor=_colour(c), edgecolor="black", label=m)
                            for c, m in entries], loc="upper center",
                   ncols=size.legend_columns,
                   bbox_to_anchor=(0.5, top - line * (title.count("\n") + 1 if title else 0)),
                   fontsize=size.font, frameon=False, borderpad=0, handlelength=1.2,
                   columnspacing=1.0)
