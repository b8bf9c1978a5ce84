"""Seeing inside: graph pictures (tracecomp.visualize) and `tracecomp dump` (tracecomp.cli).

Neither pydot nor pygraphviz is a dependency, so DOT text is checked with the small
tokenizer below: it accepts exactly the statement forms to_dot writes and fails on
anything else (an unbalanced brace, an unterminated string, an undeclared edge end).
"""
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tracecomp
from tracecomp import cli, picture, visualize
from tracecomp.ir import Graph
from tracecomp.tracing.tracer import trace

ROOT = Path(__file__).resolve().parents[2]
MLP_FILE = str(ROOT / "examples" / "mlp.py")


# --- a minimal DOT reader ----------------------------------------------------------------
def _tokens(text):
    tokens, i = [], 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c == '"':
            j, chars = i + 1, []
            while text[j] != '"':           # IndexError: the string never ends
                if text[j] == "\\":
                    chars.append({"n": "\n", "\\": "\\", '"': '"'}[text[j + 1]])
                    j += 2
                else:
                    assert text[j] != "\n", "a raw newline inside a quoted string"
                    chars.append(text[j])
                    j += 1
            tokens.append(("id", "".join(chars)))
            i = j + 1
        elif text.startswith("->", i):
            tokens.append(("op", "->"))
            i += 2
        elif c in "{}[];,=":
            tokens.append(("op", c))
            i += 1
        elif c.isalnum() or c == "_":
            j = i
            while j < len(text) and (text[j].isalnum() or text[j] in "_."):
                j += 1
            tokens.append(("id", text[i:j]))
            i = j
        else:
            raise AssertionError(f"unexpected character {c!r} at offset {i}")
    return tokens


def parse_dot(text):
    """{"name", "attrs" (graph-level), "nodes": id -> attrs, "edges": [(a, b)]}."""
    toks = _tokens(text)
    pos = 0

    def take(kind=None, value=None):
        nonlocal pos
        tok = toks[pos]
        assert kind is None or tok[0] == kind, f"expected {kind} at token {pos}, got {tok}"
        assert value is None or tok[1] == value, f"expected {value!r}, got {tok}"
        pos += 1
        return tok[1]

    def attr_list():
        attrs = {}
        take("op", "[")
        while toks[pos] != ("op", "]"):
            key = take("id")
            take("op", "=")
            attrs[key] = take("id")
            if toks[pos] == ("op", ","):
                take()
        take("op", "]")
        return attrs

    take("id", "digraph")
    graph = {"name": take("id"), "attrs": {}, "nodes": {}, "edges": []}
    take("op", "{")
    while toks[pos] != ("op", "}"):
        first = take("id")
        if toks[pos] == ("op", "="):
            take()
            graph["attrs"][first] = take("id")
        elif toks[pos] == ("op", "->"):
            take()
            graph["edges"].append((first, take("id")))
        elif first in ("graph", "node", "edge"):
            attr_list()
        else:
            assert first not in graph["nodes"], f"node {first} declared twice"
            graph["nodes"][first] = attr_list()
        take("op", ";")
    take("op", "}")
    assert pos == len(toks), "text after the closing brace"
    for a, b in graph["edges"]:
        assert a in graph["nodes"] and b in graph["nodes"], f"edge {a} -> {b} to nowhere"
    return graph


def check_dot_matches(text, graph):
    """The picture has one box per value and one arrow per operand use."""
    dot = parse_dot(text)
    assert len(dot["nodes"]) == len(graph.inputs) + len(graph.nodes)
    assert len(dot["edges"]) == sum(len(n.node_inputs()) for n in graph.nodes)
    marked = [k for k, a in dot["nodes"].items() if a.get("peripheries") == "2"]
    assert len(marked) == len(set(graph.outputs))
    return dot


# --- to_dot ------------------------------------------------------------------------------
def _f(x, y):
    return (x * 2 + y).sum()


def test_to_dot_of_a_traced_function():
    graph = trace(_f, tracecomp.randn(3, 4), tracecomp.randn(3, 4), names=["x", "y"])
    text = visualize.to_dot(graph, title="f")
    dot = check_dot_matches(text, graph)
    assert text == visualize.to_dot(trace(_f, tracecomp.randn(3, 4), tracecomp.randn(3, 4),
                                          names=["x", "y"]), title="f")  # deterministic
    assert all(line.endswith((";", "{", "}")) for line in text.splitlines())
    labels = [a["label"] for a in dot["nodes"].values()]
    assert "%x\nf32[3,4]" in labels
    assert labels[2].startswith("%0 mul(2)\nf32[3,4]\ntest_dump.py:")    # scalar operand shown
    assert dot["nodes"]["n2"]["peripheries"] == "2"                       # the output
    assert dot["nodes"]["i0"]["fillcolor"] == "gold"
    assert "reduce_sum(%1, dims=(0, 1)" in dot["nodes"]["n2"]["tooltip"]
    assert dot["attrs"]["label"].startswith("f\n2 inputs, 3 ops, 0 constants, 1 output")


def test_input_kinds_have_their_colours():
    graph = Graph("backward")
    names = ["x", "fc1.weight", "weight", "xs.0", "saved.x", "saved.3", "grad.0", "captured.0"]
    for n in names:
        graph.add_input(n, (2,), np.float32)
    graph.outputs = [graph.inputs[0]]
    dot = parse_dot(visualize.to_dot(graph, parameters={"weight"}, user_inputs=["x", "xs"]))
    colours = [dot["nodes"][f"i{k}"]["fillcolor"] for k in range(len(names))]
    output = visualize.OUTPUT_COLOUR
    assert colours == [output, "lightblue", "lightblue", "gold", "orange", "orange", "pink",
                       "lightblue"]
    assert dot["nodes"]["i0"]["xlabel"] == "output 0"
    # without the hints a dotted name is a parameter and a plain one a user input
    assert visualize.input_kind("xs.0") == "parameter"
    assert visualize.input_kind("weight") == "user"
    assert visualize.input_kind("grad_output") == "user"


def test_constants_are_small_and_grey():
    def g(x):
        return x * tracecomp.tensor([1.0, 2.0, 3.0]) + tracecomp.ones(3, 50).sum(1)

    graph = trace(g, tracecomp.randn(3))
    dot = check_dot_matches(visualize.to_dot(graph), graph)
    consts = [a for a in dot["nodes"].values() if a.get("fillcolor") == "lightgrey"]
    assert len(consts) == sum(n.op == "constant" for n in graph.nodes) >= 1
    assert all(a["fontsize"] == "8" for a in consts)
    assert any("const [1., 2., 3.]" in a["label"] for a in consts)


def test_quotes_and_backslashes_are_escaped():
    graph = Graph('my "odd" graph\\')
    x = graph.add_input("x", (2,), np.float32)
    graph.outputs = [graph.add("neg", [x], {}, (2,), np.float32,
                               source=('dir/"q"\\x.py', 7, "blocks.0"))]
    dot = check_dot_matches(visualize.to_dot(graph), graph)
    assert dot["name"] == 'my "odd" graph\\'
    assert dot["nodes"]["n0"]["label"] == '%0 neg\nf32[2]\n"q"\\x.py:7 blocks.0'


def test_write_picture_without_graphviz_or_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(picture, "available", lambda: False)
    written = visualize.write_picture("digraph g {\n}\n", str(tmp_path / "g"))
    assert written == [str(tmp_path / "g.dot")]
    assert (tmp_path / "g.dot").read_text() == "digraph g {\n}\n"


@pytest.mark.skipif(os.name != "posix", reason="the stand-in `dot` is a shell script")
def test_write_picture_calls_graphviz(tmp_path, monkeypatch):
    # a stand-in `dot` that records its arguments and writes the -o file
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "dot"
    fake.write_text('#!/bin/sh\necho "$@" > "${0%/*}/args"\n'
                    'while [ "$1" != "-o" ]; do shift; done\necho "<svg/>" > "$2"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(bin_dir))
    written = visualize.write_picture("digraph g {\n}\n", str(tmp_path / "g"))
    assert written == [str(tmp_path / "g.dot"), str(tmp_path / "g.svg")]
    assert (bin_dir / "args").read_text().split() == \
        ["-Tsvg", str(tmp_path / "g.dot"), "-o", str(tmp_path / "g.svg")]


@pytest.mark.skipif(visualize.dot_program() is None, reason="Graphviz is not installed")
def test_graphviz_draws_what_to_dot_writes(tmp_path):
    graph = trace(_f, tracecomp.randn(3, 4), tracecomp.randn(3, 4))
    written = visualize.write_picture(visualize.to_dot(graph), str(tmp_path / "f"))
    assert "<svg" in Path(written[1]).read_text()


# --- tracecomp dump ------------------------------------------------------------------------
def _index_rows(out):
    """(number, stage, files) for each stage row of index.md, in the order written."""
    rows = []
    for line in (out / "index.md").read_text().splitlines():
        m = re.match(r"\| (\d\d) \| ([^|]+) \|.*\| (.*) \|$", line)
        if m:
            rows.append((m[1], m[2].strip(), re.findall(r"\]\(([^)]+)\)", m[3])))
    return rows


def _compiled_mlp():
    """The MLP compiled and run forward and backward, as the dump does."""
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from mlp import MLP
    finally:
        sys.path.pop(0)
    compiled = tracecomp.compile(MLP())
    compiled(tracecomp.randn(64, 784)).sum().backward()
    return compiled


def test_dump_mlp_writes_every_stage(tmp_path, capsys):
    out = tmp_path / "dump"
    code = cli.main(["dump", MLP_FILE + ":MLP", "--input", "64x784", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert printed.startswith("traced(%x: f32[64,784], %fc1.weight: f32[256,784]")
    assert f"in {out}" in printed

    graphs = _compiled_mlp().graphs
    rows = _index_rows(out)
    assert [stage for _, stage, _ in rows][:len(graphs)] == list(graphs)   # pipeline order
    backend_texts = [stage for _, stage, _ in rows][len(graphs):]           # llvm's, after
    assert backend_texts[:3] == ["memory", "fusion.forward", "fusion.backward"]
    assert "asm.forward" in backend_texts
    memory = (out / f"{len(graphs):02d}_memory.txt").read_text()
    assert memory.startswith("partition: min-cut") and "\n  saved       input x " in memory
    rows = rows[:len(graphs)]
    assert [k for k, _, _ in rows] == [f"{k:02d}" for k in range(len(rows))]
    stages = [stage for _, stage, _ in rows]
    assert stages[0] == "traced" and stages.index("forward") < stages.index("backward")
    for k, stage, files in rows:
        assert files[:2] == [f"{k}_{stage}.txt", f"{k}_{stage}.dot"]
        assert all((out / f).is_file() for f in files)
        graph = graphs[stage]
        assert (out / files[0]).read_text() == str(graph) + "\n"
        dot = check_dot_matches((out / files[1]).read_text(), graph)
        assert dot["attrs"]["label"].startswith(f"MLP: {stage}\n")
    # the backward's inputs are what the forward saved and the incoming gradient
    backward = parse_dot((out / f"{stages.index('backward'):02d}_backward.dot").read_text())
    kinds = {a["fillcolor"] for k, a in backward["nodes"].items() if k.startswith("i")}
    assert kinds == {"orange", "pink"}

    index = (out / "index.md").read_text()
    assert "- inputs: `x: f32[64,784]`" in index and "training mode" in index
    says = {"graphviz": "drawn by Graphviz", "matplotlib": "laid out by tracecomp",
            None: "No .svg pictures"}[visualize.drawer()]
    assert says in index
    if visualize.drawer():
        assert all((out / f"{k}_{stage}.svg").is_file() for k, stage, _ in rows)
    log = (out / "pass_log.txt").read_text().splitlines()
    assert log[0].split()[:2] == ["pass", "graph"] and log[-1].startswith("total")


def test_dump_without_a_compiler_shows_the_traced_graph(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "_compile_function", lambda: None)
    out = tmp_path / "dump"
    assert cli.main(["dump", MLP_FILE + ":MLP", "--input", "8x784", "--out", str(out),
                     "--eval", "-q"]) == 0
    assert "traced(" not in capsys.readouterr().out
    assert [stage for _, stage, _ in _index_rows(out)] == ["traced"]
    text = (out / "00_traced.txt").read_text()
    assert text.startswith("traced(%x: f32[8,784], %fc1.weight: f32[256,784]")
    assert "matmul(%x, %0)" in text and "# mlp.py:" in text and " fc1\n" in text
    index = (out / "index.md").read_text()
    assert "the tracer only" in index and "eval mode" in index
    assert "(no passes ran)" in (out / "pass_log.txt").read_text()


def test_dump_writes_backend_texts_and_clears_old_files(tmp_path, monkeypatch):
    real = cli._compile_function()

    class WithLLVM:
        """The compiled object, as a backend with LLVM IR and assembly would show it."""
        llvm_ir = "define void @forward() {\n  ret void\n}"
        asm = {"forward": "forward:\n  ret", "backward": "backward:\n  ret"}

        def __init__(self, compiled):
            self._compiled = compiled

        def __getattr__(self, name):
            return getattr(self._compiled, name)

        def __call__(self, *args, **kwargs):
            return self._compiled(*args, **kwargs)

    def with_llvm(target, backend, fullgraph):
        return WithLLVM(real(target, backend="interp", fullgraph=fullgraph))   # stand-in texts

    monkeypatch.setattr(cli, "_compile_function", lambda: with_llvm)
    out = tmp_path / "dump"
    argv = ["dump", MLP_FILE + ":MLP", "--input", "4x784", "--out", str(out), "-q"]
    assert cli.main(argv) == 0
    rows = _index_rows(out)
    n = len(rows)
    assert [stage for _, stage, _ in rows[-3:]] == ["llvm_ir", "asm.forward", "asm.backward"]
    assert rows[-3][2] == [f"{n - 3:02d}_llvm_ir.ll"]
    assert (out / f"{n - 1:02d}_asm.backward.s").read_text() == "backward:\n  ret\n"
    # a second dump without the backend texts: the first one's are gone, the user's stay
    (out / "notes.txt").write_text("the user's own file")
    (out / "99_mine.txt").write_text("the user's own file, named like a stage")
    monkeypatch.setattr(cli, "_compile_function",
                        lambda: lambda target, backend, fullgraph: real(target, backend="interp"))
    assert cli.main(argv) == 0
    assert len(_index_rows(out)) == n - 3
    assert not (out / f"{n - 1:02d}_asm.backward.s").exists()
    assert (out / "notes.txt").exists() and (out / "99_mine.txt").exists()


def test_dump_of_a_function_with_integer_inputs(tmp_path):
    src = tmp_path / "model.py"
    src.write_text("import tracecomp.nn.functional as F\n\n\n"
                   "def loss(logits, labels):\n    return F.cross_entropy(logits, labels)\n")
    out = tmp_path / "dump"
    assert cli.main(["dump", f"{src}:loss", "--input", "16x10", "--input", "16:int64:10",
                     "--grad", "--out", str(out), "-q"]) == 0
    stages = [stage for _, stage, _ in _index_rows(out)]
    assert "backward" in stages
    assert "%labels: i64[16]" in (out / "00_traced.txt").read_text()


@pytest.mark.parametrize(("argv", "message"), [
    (["dump", MLP_FILE + ":Nope", "--input", "3"], "has no `Nope`; it defines: MLP, main"),
    (["dump", "no/such/file.py:MLP", "--input", "3"], "no such file: no/such/file.py"),
    (["dump", MLP_FILE, "--input", "3"], "TARGET must be path/to/file.py:Name"),
    (["dump", MLP_FILE + ":MLP"], "MLP needs example inputs"),
    (["dump", MLP_FILE + ":MLP", "--input", "64xa"], "the shape must be sizes joined by 'x'"),
    (["dump", MLP_FILE + ":MLP", "--input", "64:f32"], "unknown dtype 'f32'"),
    (["dump", MLP_FILE + ":MLP", "--input", "64:float32:3"], "HIGH only applies to integer"),
    (["dump", MLP_FILE + ":MLP", "--input", "64", "--backend", "nope"], "unknown backend"),
    (["dump", MLP_FILE + ":MLP", "--input", "64", "--train", "--eval"], "not allowed with"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_usage_errors_are_one_line_and_exit_2(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("tracecomp: error: ") and message in err
    assert err.count("\n") == 1


def test_a_model_still_importing_torch_is_named_so(tmp_path, capsys):
    src = tmp_path / "net.py"
    src.write_text("import torch.nn as nn\n\n\nclass Net(nn.Module):\n"
                   "    def forward(self, x):\n        return x\n")
    assert cli.main(["dump", f"{src}:Net", "--input", "3"]) == 2
    err = capsys.readouterr().err
    assert "Net is built on torch's Module" in err and "import tracecomp as torch" in err


def test_parse_input():
    assert cli.parse_input("64x784", "float32") == ((64, 784), np.dtype(np.float32), 10)
    assert cli.parse_input("2,3:float64", "float32") == ((2, 3), np.dtype(np.float64), 10)
    assert cli.parse_input("64:long:7", "float32") == ((64,), np.dtype(np.int64), 7)
    assert cli.parse_input(":double", "float32") == ((), np.dtype(np.float64), 10)


def test_console_script(tmp_path):
    """The installed `tracecomp` command (or `python -m tracecomp.cli` where the script is
    not installed): default output folder, terminal output, and a clean error."""
    script = Path(sys.executable).parent / "tracecomp"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "tracecomp.cli"]
    # the two commands side by side: pytest only waits on them (a 2-core machine's second
    # core otherwise idles)
    dump, missing = [subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True) for args in (
        [*command, "dump", MLP_FILE + ":MLP", "--input", "2x784"],
        [sys.executable, "-m", "tracecomp.cli", "dump", "missing.py:MLP"])]
    out, err = dump.communicate(timeout=300)
    assert dump.returncode == 0, err
    assert "traced(%x: f32[2,784]" in out
    assert (tmp_path / "tracecomp_dump" / "MLP" / "index.md").is_file()
    _, err = missing.communicate(timeout=300)
    assert missing.returncode == 2
    assert err == "tracecomp: error: no such file: missing.py\n"


@pytest.mark.parametrize("broken", [
    'digraph g {\n  a [label="x"];\n',                  # no closing brace
    'digraph g {\n  a [label="x];\n}\n',                # unterminated string
    'digraph g {\n  a [label="x"];\n  a -> b;\n}\n',    # edge to an undeclared node
    'digraph g {\n  a [label="x" "y"];\n}\n',           # attribute without '='
    'digraph g {\n  a [label="x"]\n}\n',                # missing ';'
])
def test_the_dot_reader_rejects_broken_text(broken):
    with pytest.raises((AssertionError, IndexError)):
        parse_dot(broken)
