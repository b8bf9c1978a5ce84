"""The clock read inside compiled code (`time.time()`, `time.perf_counter()`, monotonic,
process_time, thread_time and their _ns forms, `datetime.now()`, utcnow, `date.today()`;
and the calendar functions that read it when given no time: `time.localtime()`, gmtime(),
ctime(), asctime(), `time.strftime(fmt)`),
however the code reaches it (`time.perf_counter()`, `import time as t`, `from time import
perf_counter`, an alias in a global or a closure `clock = time.monotonic`, `from datetime
import datetime`): refused, as torch.compile graph-breaks there. A trace runs the code
once, so a tensor built from the clock would hold the trace's time on every call (`x * 0 +
time.perf_counter()`), and a timing the code prints or stores would be taken once. So is
a random generator made without a seed (`np.random.default_rng()`, PCG64(), RandomState(),
`random.Random()`): seeded from the system's entropy, it draws new numbers each eager
call, and the trace's draws would be held by every compiled one.

While a trace runs, its thread's profile hook (sys.setprofile) sees each call of a C
function: one of the clocks called from the user's code (not tracecomp's own timings)
refuses the trace when it ends, and so does a Python call of the entry points through which
an unseeded generator takes its entropy. An op's own recording runs with the hook off
(tracing/tracer.py). The hook costs the trace about as much again as its own
Python (a few ms a 12-block MLP), nothing for a compiled call. Where another profiler holds
the hook (cProfile), the time module's clocks are wrapped instead, which sees them called
through the module only (`time.perf_counter()`, `t.perf_counter()`), not a name bound
before the trace (`from time import perf_counter`) nor datetime's.
"""
import datetime
import dis
import random
import sys
import threading
import time

from .. import context
from ..errors import TraceError
from ..user_code import is_users

# a clock's name -> what holds it (the __self__ of the builtin the code calls)
_CLOCKS = {
    **dict.fromkeys(("time", "perf_counter", "monotonic", "process_time", "thread_time",
                     "time_ns", "perf_counter_ns", "monotonic_ns", "process_time_ns",
                     "thread_time_ns"), (time,)),
    "now": (datetime.datetime,), "utcnow": (datetime.datetime,),
    "today": (datetime.datetime, datetime.date),
}
# the time module's calendar functions: they read the clock only when given fewer
# arguments than this (`time.localtime()`, not `time.localtime(t)`; `time.strftime(fmt)`,
# not `time.strftime(fmt, t)`)
_WITHOUT_TIME = {"localtime": 1, "gmtime": 1, "ctime": 1, "asctime": 1, "strftime": 2}
_CLOCKS.update(dict.fromkeys(_WITHOUT_TIME, (time,)))
_TIME_CLOCKS = tuple(name for name, owners in _CLOCKS.items() if owners == (time,))
_CALL = dis.opmap.get("CALL")
# where a generator made without a seed takes the system's entropy: numpy's SeedSequence
# (np.random.default_rng(), PCG64(), RandomState()) through SystemRandom.getrandbits, and
# random.Random() through its seed(None): {code: the argument that is None for entropy}
_ENTROPY = {random.SystemRandom.getrandbits.__code__: None, random.Random.seed.__code__: "a"}


def _reads_clock(name, frame):
    """Whether the call of `name` that `frame` makes now reads the clock: a calendar
    function's does when its CALL passes fewer arguments than the time (any other call
    of it, `f(*args)`, counts as one that does)."""
    least = _WITHOUT_TIME.get(name)
    if least is None:
        return True
    code, at = frame.f_code.co_code, frame.f_lasti
    return not (code[at] == _CALL and code[at + 1] >= least)


class ClockWatch:
    """Inside, the user's reads of a clock are noted; on a clean exit any is a TraceError
    naming the first."""

    def __init__(self, *on_call):
        self.on_call = on_call      # each given each Python call's frame as it starts

    def __enter__(self):
        self.read, self.before = [], sys.getprofile()
        # an outer trace's hook (a module compiled on its own inside) is put back after;
        # another profiler's (cProfile's object) cannot be, so it is left in place
        self.profiled = self.before is None or \
            isinstance(getattr(self.before, "__self__", None), ClockWatch)
        if self.profiled:
            self.hook = self._called
            sys.setprofile(self.hook)
            # the trace turns it off while it records an op (tracing/tracer.py)
            self.tracer = context.current()
            if self.tracer is not None:
                self.tracer.watch_hook, self.outer_hook = self.hook, self.tracer.watch_hook
        else:
            self._wrap_time_module()
        return self

    def _called(self, frame, event, arg):
        """The profile hook: notes a clock the user's code calls, and hands on_call each
        function call (outside_streams.PythonRandom.called, ran_functions.RanFunctions.
        called)."""
        if event == "call":
            for on_call in self.on_call:
                on_call(frame)
            code = frame.f_code
            if code in _ENTROPY and _takes_entropy(frame, _ENTROPY[code]):
                self.entropy = True
        elif event == "c_call":
            name = getattr(arg, "__name__", None)
            owners = _CLOCKS.get(name)
            if owners is not None:
                owner = getattr(arg, "__self__", None)
                if any(owner is o for o in owners) and is_users(frame.f_code) and \
                        _reads_clock(name, frame):
                    self.read.append(f"{owner.__name__}.{name}")

    entropy = False     # a generator was seeded from the system's entropy (_called)

    def _wrap_time_module(self):
        self.clocks = {name: getattr(time, name) for name in _TIME_CLOCKS}
        thread = threading.get_ident()

        def watched(name, clock):
            def read(*args):
                if threading.get_ident() == thread and is_users(sys._getframe(1).f_code) \
                        and len(args) < _WITHOUT_TIME.get(name, 1):
                    self.read.append(f"time.{name}")
                return clock(*args)
            return read

        for name, clock in self.clocks.items():
            setattr(time, name, watched(name, clock))

    def __exit__(self, kind, *_):
        if self.profiled:
            sys.setprofile(self.before)
            if self.tracer is not None:
                self.tracer.watch_hook = self.outer_hook
        else:
            for name, clock in self.clocks.items():
                setattr(time, name, clock)
        if kind is None and self.entropy:
            raise TraceError(
                "compiled code made a random generator without a seed "
                "(np.random.default_rng(), random.Random(), ...): it is traced once, so "
                "every call would use the trace's draws where each eager call draws anew. "
                "Use tracecomp.rand, randn or randint inside (drawn anew each call), make "
                "the generator outside and pass the draws in as an argument, or give it a "
                "seed if the same numbers every call is what you want.")
        if kind is None and self.read:
            raise TraceError(
                f"compiled code read the clock ({self.read[0]}()): it is traced once, "
                f"so every call would use the time of the trace. Read it outside the "
                f"compiled function (and pass a value that changes as an argument: it is "
                f"fed as an input).")


def _takes_entropy(frame, seed_argument):
    """Whether this call of an entropy entry point seeds a generator from the system for
    the user's code: a seed(None), or any getrandbits, called (through numpy or random's
    own code) from the user's code rather than from another library's."""
    if seed_argument is not None and frame.f_locals.get(seed_argument) is not None:
        return False
    caller = frame.f_back
    while caller is not None and not is_users(caller.f_code):
        caller = caller.f_back
    return caller is not None
