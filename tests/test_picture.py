"""Graph pictures without Graphviz (tracecomp.picture): visualize.write_picture falls back to
a layered networkx layout drawn by matplotlib when `dot` is not on PATH, and `tracecomp
dump` then leaves a picture of every graph it writes."""
import re
import struct
import time
import xml.etree.ElementTree as ET

import pytest

import tracecomp
from tracecomp import cli, picture, visualize
from tracecomp.ir import Graph
from tracecomp.tracing.tracer import trace

pytest.importorskip("matplotlib")
from matplotlib.colors import to_hex  # noqa: E402 - only once matplotlib is known to exist

SVG = "{http://www.w3.org/2000/svg}"
MODEL = '''
import tracecomp.nn as nn
import tracecomp.nn.functional as F


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return F.relu(self.fc(x))
'''


@pytest.fixture
def no_graphviz(tmp_path, monkeypatch):
    """A PATH on which there is no `dot` (nor anything else)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert visualize.dot_program() is None


def _f(x, y):
    return (x @ y.T).relu().sum(dim=1) * 0.5


def _small_graph():
    return trace(_f, tracecomp.randn(3, 4), tracecomp.randn(3, 4))


def png_size(path):
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def svg_texts_and_fills(path):
    """(every <text> element's text, every fill colour) of a matplotlib SVG."""
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    texts = [e.text for e in root.iter(f"{SVG}text")]
    fills = set(re.findall(r"fill: (#[0-9a-f]{6})", path.read_text()))
    return texts, fills


def test_write_picture_without_graphviz_draws_png_and_svg(tmp_path, no_graphviz):
    graph = _small_graph()
    dot = visualize.to_dot(graph)
    written = visualize.write_picture(dot, str(tmp_path / "g"), formats=("svg", "png"))
    assert written == [str(tmp_path / s) for s in ("g.dot", "g.svg", "g.png")]
    assert (tmp_path / "g.dot").read_text() == dot
    width, height = png_size(tmp_path / "g.png")
    assert 100 <= width <= picture.MAX_PIXELS and 100 <= height <= picture.MAX_PIXELS
    # every label line of every node is text in the SVG, in the colours the DOT gives
    texts, fills = svg_texts_and_fills(tmp_path / "g.svg")
    nodes, _ = picture.read_dot(dot)
    for _, attrs in nodes.nodes(data=True):
        for line in attrs["label"].split("\n"):
            assert line in texts, (line, texts)
    user, _ = visualize.INPUT_KINDS["user"]
    assert {to_hex(user), to_hex(picture.X11_COLOURS[visualize.OUTPUT_COLOUR]),
            to_hex("white")} <= fills


def test_write_picture_draws_only_svg_unless_asked(tmp_path, no_graphviz):
    # the dump registers <stage>.svg before it calls write_picture: nothing else appears
    written = visualize.write_picture(visualize.to_dot(_small_graph()), str(tmp_path / "g"))
    assert written == [str(tmp_path / "g.dot"), str(tmp_path / "g.svg")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty-bin", "g.dot", "g.svg"]


def test_without_graphviz_or_matplotlib_only_the_dot_is_written(tmp_path, no_graphviz,
                                                                  monkeypatch):
    monkeypatch.setattr(picture, "available", lambda: False)
    assert visualize.drawer() is None
    written = visualize.write_picture("digraph g {\n}\n", str(tmp_path / "g"), ("svg", "png"))
    assert written == [str(tmp_path / "g.dot")]


def test_read_dot_inverts_to_dot():
    graph = Graph('odd "name" \\ here')
    x = graph.add_input("x", (2,), "float32")
    y = graph.add("neg", [x], {}, (2,), "float32", source=('d/"q"\\x.py', 7, "blocks.0"))
    graph.outputs = [graph.add("mul", [y, 2.0], {}, (2,), "float32")]
    nodes, caption = picture.read_dot(visualize.to_dot(graph))
    assert list(nodes.nodes) == ["i0", "n0", "n1"]
    assert sorted(nodes.edges) == [("i0", "n0"), ("n0", "n1")]
    assert nodes.nodes["n0"]["label"] == '%0 neg\nf32[2]\n"q"\\x.py:7 blocks.0'
    assert nodes.nodes["n1"]["label"] == "%1 mul(2.0)\nf32[2]"
    assert nodes.nodes["n1"]["xlabel"] == "output 0"
    assert nodes.nodes["i0"]["fillcolor"] == visualize.INPUT_KINDS["user"][0]
    assert nodes.nodes["n0"]["fillcolor"] == "white"       # from the `node [...]` defaults
    assert caption.split("\n")[0] == 'odd "name" \\ here'


def test_layers_point_every_edge_down_and_hang_inputs_above_their_first_user():
    dot = visualize.to_dot(_small_graph())
    nodes, _ = picture.read_dot(dot)
    depth = picture.layers(nodes)
    assert all(depth[b] > depth[a] for a, b in nodes.edges)
    # the graph: arg1 -> permute -> matmul <- arg0; matmul -> relu -> sum -> mul
    assert depth == {"i1": 0, "n0": 1, "i0": 1, "n1": 2, "n2": 3, "n3": 4, "n4": 5}
    xy = picture.positions(nodes)
    assert {n: y for n, (_, y) in xy.items()} == {n: -d for n, d in depth.items()}
    for y in set(depth.values()):       # one unit apart in a layer, centred on 0
        xs = sorted(x for x, yy in xy.values() if yy == -y)
        assert xs == [k - (len(xs) - 1) / 2 for k in range(len(xs))]


def _chain(x):
    for k in range(400):
        x = (x * 1.01 + 0.1).tanh() if k % 3 else x.exp().log1p()
        if k % 7 == 0:
            x = x + x.sum(dim=0)
    return x


def test_a_graph_of_over_1000_nodes_draws_in_seconds(tmp_path, no_graphviz):
    graph = trace(_chain, tracecomp.randn(3, 4))
    assert len(graph.nodes) > 1000
    start = time.perf_counter()
    visualize.write_picture(visualize.to_dot(graph), str(tmp_path / "big"), ("svg", "png"))
    seconds = time.perf_counter() - start
    assert seconds < 20, f"{seconds:.1f} s"     # ~1.5 s alone on the dev VM's 2 cores
    width, height = png_size(tmp_path / "big.png")
    assert max(width, height) == picture.MAX_PIXELS and min(width, height) >= 100
    texts, _ = svg_texts_and_fills(tmp_path / "big.svg")
    assert "%1000 " in " ".join(texts)      # the SVG keeps every label


def test_dump_leaves_a_picture_of_every_graph(tmp_path, no_graphviz, capsys):
    model = tmp_path / "tiny.py"
    model.write_text(MODEL)
    out = tmp_path / "dump"
    assert cli.main(["dump", f"{model}:Tiny", "--input", "2x4", "--out", str(out), "-q"]) == 0
    capsys.readouterr()
    # the graph stages: IR text files (the backend's texts, memory.txt and fusion.*.txt,
    # are not graphs)
    graphs = sorted(p.stem for p in out.glob("*.txt")
                    if p.read_text().split("\n", 1)[0].endswith(") {"))
    assert {"00_traced", "01_simplified"} <= set(graphs) and len(graphs) >= 5
    assert sorted(p.stem for p in out.glob("*.svg")) == graphs
    for stem in graphs:
        texts, _ = svg_texts_and_fills(out / f"{stem}.svg")
        assert f"Tiny: {stem[3:]}" in texts, (stem, texts)     # the caption's title
    manifest = (out / ".tracecomp-dump-manifest").read_text().split()
    assert all(f"{stem}.svg" in manifest for stem in graphs)
