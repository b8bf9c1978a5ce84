"""The backward graph's runner, compiled when something first needs it.

A call whose outputs need gradients is split into a forward and a backward graph
(lowering.py), and the backward is compiled as the forward is: LLVM's share of a compile,
as much again. But many such calls never meet a `loss.backward()`: a model evaluated
without `torch.no_grad()` (its parameters require grad), a metric computed on a compiled
model's output, a test comparing outputs only. torch.compile's AOTAutograd compiles its
backward graph on the first backward for the same reason. Here a LazyBackward stands in the
artifact's `run_backward` until the autograd bridge runs it, or anything else asks for the
runner (a dump's LLVM IR, the memory log): then the backward is compiled, once, and the
forward is told where to lodge its residuals (runtime/lodging.py; forward calls before
that save them in buffers of their own, as any call the lodging cannot serve does).

It compiles as the driver's compiles do: in its turn (two threads' compiles take turns,
tracing/gate.py), with the cyclic collector held off (gc_pause.py) and a progress line on
a terminal (progress.py), named after the compile that made it. So, as for any compiled
call (tracing/gate.py), code being traced must not wait for another thread's first backward
of a compiled call: that backward waits for the trace's compile to end.
"""
import threading

from ..tracing.gate import GATE
from . import gc_pause, progress


class LazyBackward:
    """A backward runner compiled on first use: calls and attribute reads go to the runner
    `compile()` returns, made once (under a lock: two threads' first backwards compile it
    once)."""

    __slots__ = ("_compile", "_lock", "_runner", "_what")

    def __init__(self, compile):
        self._compile = compile
        self._lock = threading.Lock()
        self._runner = None
        self._what = f"{progress.current() or 'a compiled call'}, its backward"

    @property
    def compiled(self):
        """Whether the backward has been compiled yet."""
        return self._runner is not None

    def runner(self):
        if self._runner is None:
            with self._lock:
                if self._runner is None:
                    with GATE.compile_turn(), gc_pause.paused(), \
                            progress.compiling(self._what):
                        self._runner = self._compile()
                    self._compile = None    # the graphs it closed over stay in art.graphs
        return self._runner

    def __call__(self, *args, **kwargs):
        return self.runner()(*args, **kwargs)

    def __getattr__(self, name):    # only names LazyBackward lacks reach here
        if name.startswith("__") or name in LazyBackward.__slots__:
            # copy's and pickle's probes, or a slot not set yet (an object copy made):
            # not the runner's, and never a compile
            raise AttributeError(name)
        return getattr(self.runner(), name)
