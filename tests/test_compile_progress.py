"""A slow compile's progress line (tracecomp/compiler/progress.py): on a terminal, after
AFTER_S seconds, one line redrawn with `\\r` naming the stage, erased at the end; nothing at
all when stderr is not a terminal or the compile is quick."""
import io
import sys
import time

import pytest

import tracecomp
from tracecomp.compiler import progress
from tracecomp.passes import cse


class FakeTerminal(io.StringIO):
    def __init__(self, tty=True):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


@pytest.fixture
def fast_clock(monkeypatch):
    """A threshold and refresh short enough for a test (they are 1 s and 0.25 s)."""
    monkeypatch.setattr(progress, "AFTER_S", 0.05)
    monkeypatch.setattr(progress, "REFRESH_S", 0.01)


def drawn_lines(text):
    """The texts the line showed, in order (each redraw starts with \\r; blanks dropped)."""
    return [part.rstrip() for part in text.split("\r") if part.strip()]


def test_a_slow_compile_shows_its_stages_on_one_line(monkeypatch, fast_clock):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with progress.compiling("step (llvm)"):
        time.sleep(0.15)
        progress.stage("cse on the forward graph")
        time.sleep(0.1)
    out = terminal.getvalue()
    lines = drawn_lines(out)
    assert lines, repr(out)
    assert "\n" not in out                      # one line, redrawn in place
    assert lines[0].startswith("tracecomp: compiling step (llvm): tracing (")
    assert lines[-1].startswith("tracecomp: compiling step (llvm): cse on the forward graph (")
    stages = [line.split(": ")[2].rsplit(" (", 1)[0] for line in lines]
    assert stages == sorted(stages, key=["tracing", "cse on the forward graph"].index)
    # erased at the end: the last write blanks the longest line and returns to its start
    assert out.endswith("\r" + " " * len(lines[-1]) + "\r"), repr(out[-80:])


def test_nothing_is_printed_when_stderr_is_not_a_terminal(monkeypatch, fast_clock):
    pipe = FakeTerminal(tty=False)
    monkeypatch.setattr(sys, "stderr", pipe)

    def no_thread(*args, **kwargs):
        raise AssertionError("a thread was started for a stream that is not a terminal")
    monkeypatch.setattr(progress.threading, "Thread", no_thread)
    with progress.compiling("step (llvm)"):
        progress.stage("cse on the forward graph")
        time.sleep(0.1)
    assert pipe.getvalue() == ""


def test_a_quick_compile_prints_nothing_on_a_terminal(monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert progress.AFTER_S == 1.0
    start = time.perf_counter()
    with progress.compiling("f (llvm)"):
        progress.stage("dce on the traced graph")
    assert time.perf_counter() - start < 0.5        # the thread is told, not waited out
    assert terminal.getvalue() == ""


def test_a_nested_compile_shares_the_line(monkeypatch, fast_clock):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with progress.compiling("outer (llvm)"):
        with progress.compiling("inner (llvm)"):
            progress.stage("inner stage")
            time.sleep(0.1)
    lines = drawn_lines(terminal.getvalue())
    assert lines and all(line.startswith("tracecomp: compiling outer (llvm): ")
                         for line in lines)


def _slow_f(x):
    time.sleep(0.1)         # compiled, it runs once: while it is traced
    return (x * 2.0).relu().sum()


def test_tracecomp_compile_names_the_pipeline_stages(monkeypatch, fast_clock):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    real_cse = cse.run

    def slow_cse(graph):
        time.sleep(0.1)
        return real_cse(graph)
    monkeypatch.setattr(cse, "run", slow_cse)

    x = tracecomp.randn(4, 3)
    assert float(tracecomp.compile(_slow_f)(x)) == pytest.approx(float(_slow_f(x)))
    lines = drawn_lines(terminal.getvalue())
    assert any(line.startswith("tracecomp: compiling _slow_f (llvm): tracing (")
               for line in lines), lines
    assert any(line.startswith("tracecomp: compiling _slow_f (llvm): cse on the traced "
                               "graph (") for line in lines), lines
    assert terminal.getvalue().endswith("\r")
