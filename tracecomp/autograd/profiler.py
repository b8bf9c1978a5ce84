"""torch.autograd.profiler: where eager time goes, op by op.

    with tracecomp.autograd.profiler.profile() as prof:
        for _ in range(1000):
            z = (z / x) * y
    print(prof.key_averages().table(sort_by="self_cpu_time_total"))

While a profile is active, every primitive an eager op binds is timed (dispatch's hook:
the op runs as it would, between two clock reads), and so are the spans around it: the
user's `record_function("name")` blocks, each backward node the autograd engine runs
("autograd::engine::evaluate_function: MulBackward0", as torch names them) and each call
of compiled code ("CompiledFunction: step", its native kernels one event: they bind no
primitive). Events nest by time on each thread: an event's self time is its time less
its children's.

Ops are named by our primitives (`mul`, `matmul`, `reduce_sum`), not torch's `aten::`
names: one tracecomp op is one primitive. CUDA timing (use_cuda, use_device) is not
measured: CPU times only.
"""
import json
import threading
import time
from collections import defaultdict

from .. import dispatch

_active = []        # the profiles recording now, innermost last
_lock = threading.Lock()


class FunctionEvent:
    """One timed span: name, thread, start and end (ns), the shapes of its inputs when
    record_shapes was on, and the time its children took."""

    __slots__ = ("children_ns", "end", "input_shapes", "name", "start", "thread")

    def __init__(self, name, thread, start, end=0, input_shapes=()):
        self.name, self.thread, self.start, self.end = name, thread, start, end
        self.input_shapes, self.children_ns = input_shapes, 0

    @property
    def key(self):
        return self.name

    @property
    def cpu_time_total(self):          # in microseconds, as torch's
        return (self.end - self.start) / 1e3

    @property
    def self_cpu_time_total(self):
        return (self.end - self.start - self.children_ns) / 1e3

    def __repr__(self):
        return (f"<FunctionEvent name={self.name} cpu_time_total={self.cpu_time_total:.3f}us "
                f"self_cpu_time_total={self.self_cpu_time_total:.3f}us>")


class FunctionEventAvg:
    """Events of one name (and input shapes, when grouped by them) added up."""

    def __init__(self, key, input_shapes=None):
        self.key, self.input_shapes = key, input_shapes
        self.count, self.cpu_time_total, self.self_cpu_time_total = 0, 0.0, 0.0

    def add(self, event):
        self.count += 1
        self.cpu_time_total += event.cpu_time_total
        self.self_cpu_time_total += event.self_cpu_time_total
        return self

    @property
    def cpu_time(self):
        return self.cpu_time_total / max(self.count, 1)

    def __repr__(self):
        return (f"<FunctionEventAvg key={self.key} self_cpu_time={self.self_cpu_time_total:.3f}"
                f"us cpu_time={self.cpu_time:.3f}us count={self.count}>")


_SORT_KEYS = {"self_cpu_time_total": "self_cpu_time_total", "cpu_time_total": "cpu_time_total",
              "cpu_time": "cpu_time", "count": "count", "self_cpu_time": "self_cpu_time_total",
              "cpu_time_avg": "cpu_time"}


class EventList(list):
    """Events, or averages of them, with torch's table()."""

    def table(self, sort_by=None, row_limit=100, header=None, top_level_events_only=False,
              **_):
        rows = list(self)
        if sort_by is not None:
            if sort_by not in _SORT_KEYS:
                raise ValueError(f"table(): sort_by={sort_by!r}: tracecomp measures CPU time "
                                 f"only; sort by one of {sorted(_SORT_KEYS)}")
            rows.sort(key=lambda e: getattr(e, _SORT_KEYS[sort_by]), reverse=True)
        total = sum(e.self_cpu_time_total for e in self) or 1.0
        shapes = any(getattr(e, "input_shapes", None) for e in rows)
        names = ["Name", "Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg",
                 "# of Calls"] + (["Input Shapes"] if shapes else [])
        width = max([len(str(e.key)) for e in rows[:row_limit]] + [25]) + 2
        widths = [width] + [14] * 6 + ([40] if shapes else [])
        line = "  ".join("-" * w for w in widths)
        out = ([header] if header else []) + [
            line, "  ".join(n.rjust(w) for n, w in zip(names, widths)), line]
        for e in rows[:row_limit]:
            count = getattr(e, "count", 1)
            cells = [str(e.key), f"{100 * e.self_cpu_time_total / total:.2f}%",
                     _time(e.self_cpu_time_total),
                     f"{100 * e.cpu_time_total / total:.2f}%", _time(e.cpu_time_total),
                     _time(e.cpu_time_total / max(count, 1)), str(count)]
            if shapes:
                cells.append(str([list(s) for s in getattr(e, "input_shapes", None) or ()]))
            out.append("  ".join(c.rjust(w) for c, w in zip(cells, widths)))
        out += [line, f"Self CPU time total: {_time(total if self else 0.0)}", ""]
        return "\n".join(out)

    def __str__(self):
        return self.table()

    def total_average(self):
        avg = FunctionEventAvg("Total")
        for e in self:
            avg.count += getattr(e, "count", 1)
            avg.cpu_time_total += e.cpu_time_total
            avg.self_cpu_time_total += e.self_cpu_time_total
        return avg


def _time(us):
    if us >= 1e6:
        return f"{us / 1e6:.3f}s"
    if us >= 1e3:
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


class profile:  # noqa: N801 - torch's name
    """Records the ops run inside `with profile() as prof:` (see the module docstring).
    Accepts torch's arguments; use_cuda / use_device / profile_memory / with_flops are
    taken and not measured."""

    def __init__(self, enabled=True, *, use_cuda=False, use_device=None, record_shapes=False,
                 with_flops=False, profile_memory=False, with_stack=False, with_modules=False,
                 use_kineto=True, use_cpu=True, **_):
        self.enabled, self.record_shapes = enabled, record_shapes
        self.function_events = None
        self._events, self._stacks, self._previous = [], defaultdict(list), None

    # --- recording -------------------------------------------------------------------
    def __enter__(self):
        if not self.enabled:
            return self
        self._events, self._stacks = [], defaultdict(list)
        self._start_recording()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self._stop_recording()
            self.function_events = EventList(sorted(self._events, key=lambda e: e.start))
        return False

    def _start_recording(self):
        with _lock:
            _active.append(self)
            if len(_active) == 1:
                self._previous = dispatch.trace_hook
                dispatch.trace_hook = _timed

    def _stop_recording(self):
        with _lock:
            if self in _active:
                _active.remove(self)
            if not _active and dispatch.trace_hook is _timed:
                dispatch.trace_hook = None

    def begin(self, name, shapes=()):
        event = FunctionEvent(name, threading.get_ident(), 0, 0,
                              shapes if self.record_shapes else ())
        self._stacks[event.thread].append(event)
        event.start = time.perf_counter_ns()
        return event

    def end(self, event):
        event.end = time.perf_counter_ns()
        stack = self._stacks[event.thread]
        if stack and stack[-1] is event:
            stack.pop()
        if stack:
            stack[-1].children_ns += event.end - event.start
        self._events.append(event)

    # --- results ---------------------------------------------------------------------
    def _check_finished(self):
        if self.function_events is None:
            raise RuntimeError("Profiler didn't finish running")

    def key_averages(self, group_by_input_shape=False, group_by_stack_n=0, **_):
        self._check_finished()
        groups = {}
        for e in self.function_events:
            key = (e.name, tuple(e.input_shapes)) if group_by_input_shape else e.name
            if key not in groups:
                groups[key] = FunctionEventAvg(
                    e.name, list(e.input_shapes) if group_by_input_shape else None)
            groups[key].add(e)
        return EventList(groups.values())

    def table(self, *args, **kwargs):
        return self.key_averages().table(*args, **kwargs)

    def total_average(self):
        self._check_finished()
        return self.function_events.total_average()

    @property
    def self_cpu_time_total(self):
        self._check_finished()
        return sum(e.self_cpu_time_total for e in self.function_events)

    def export_chrome_trace(self, path):
        """The events as a Chrome trace (chrome://tracing, Perfetto): one complete event
        each, times in microseconds."""
        self._check_finished()
        origin = min((e.start for e in self.function_events), default=0)
        trace = {"traceEvents": [
            {"name": e.name, "ph": "X", "cat": "cpu_op", "pid": 0, "tid": e.thread,
             "ts": (e.start - origin) / 1e3, "dur": (e.end - e.start) / 1e3,
             **({"args": {"Input Dims": [list(s) for s in e.input_shapes]}}
                if e.input_shapes else {})}
            for e in self.function_events], "displayTimeUnit": "ms"}
        with open(path, "w", encoding="utf-8") as f:
            json.dump(trace, f)

    def __str__(self):
        return self.table() if self.function_events is not None else repr(self)


def _timed(prim, args, params):
    """dispatch.trace_hook while profiling: the op, bound as usual, as one event."""
    profiles = list(_active)
    shapes = tuple(tuple(a.shape) for a in args if hasattr(a, "shape")) \
        if any(p.record_shapes for p in profiles) else ()
    events = [(p, p.begin(prim.name, shapes)) for p in profiles]
    dispatch.trace_hook = None      # the op itself binds as it would unprofiled
    try:
        return dispatch.bind(prim, *args, **params)
    finally:
        if _active:
            dispatch.trace_hook = _timed
        for p, event in reversed(events):
            p.end(event)


class record_function:  # noqa: N801 - torch's name
    """A named span in every active profile: `with record_function("forward"):`, or as a
    decorator."""

    def __init__(self, name, args=None):
        self.name, self._events = name, []

    def __enter__(self):
        self._events = [(p, p.begin(self.name)) for p in list(_active)]
        return self

    def __exit__(self, *exc):
        for p, event in reversed(self._events):
            p.end(event)
        self._events = []
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with record_function(self.name):
                return fn(*args, **kwargs)
        return wrapped
