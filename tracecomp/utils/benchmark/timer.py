"""Timer: times a Python statement the way torch.utils.benchmark.Timer does.

It is timeit.Timer (the statement runs in a loop with the garbage collector off, after
`setup`) plus what torch adds: the thread count is set for the measurement, the accelerator
is synchronized before each clock reading, and results come back as a Measurement of
several blocks, so their spread can be judged. How the methods choose how long to run:

    timeit(number)        one warmup block of number // 100 runs (at least 2), then one
                          block of `number` runs
    blocked_autorange     a block size grown by 10x until the clock's own cost is under
                          0.01% of a block (or a block takes min_run_time), then blocks
                          until min_run_time has been spent
    adaptive_autorange    the same block size (chosen against 0.05 s), then blocks until
                          at least 4 have run, min_run_time is spent and the interquartile
                          range is under `threshold` of the median, or max_run_time is spent
"""
import enum
import statistics
import textwrap
import timeit as _timeit_module
from collections.abc import Callable
from typing import Any

import tracecomp

from ... import accelerator, devices
from ...support import Unsupported, unsupported
from .common import TaskSpec, set_torch_threads
from .measurement import Measurement

# the largest block: torch's C++ timer counts runs in a 32-bit int
_MAX_BLOCK = 2147483647
# blocked_autorange's block size: the clock's cost at most this share of a block...
_MAX_CLOCK_SHARE = 1e-4
# ...and a block at least this share of min_run_time
_MIN_BLOCK_SHARE = 1e-3
# the min_run_time adaptive_autorange sizes its blocks against
_ADAPTIVE_BLOCK_TIME = 0.05


def timer() -> float:
    """timeit.default_timer, read after queued accelerator work has finished (only an
    accelerator already in use can have any: none is looked for)."""
    if devices.used_accelerator() is not None and accelerator.is_available():
        accelerator.synchronize()
    return _timeit_module.default_timer()


class Language(enum.Enum):
    PYTHON = 0
    CPP = 1


_LANGUAGES = {Language.PYTHON: Language.PYTHON, "py": Language.PYTHON,
              "python": Language.PYTHON,
              Language.CPP: Language.CPP, "cpp": Language.CPP, "c++": Language.CPP}


def _tidy(code: str) -> str:
    """A snippet written as an indented block string, dedented, without its first newline
    and trailing blanks: what the repr shows (and runs)."""
    code = textwrap.dedent(code)
    return code.removeprefix("\n").rstrip()


class Timer:
    """Measures `stmt` (Python source), run after `setup` in a namespace made of `globals`
    (where `torch` and `tracecomp` are this library unless given). label, sub_label,
    description and env only name the result (Compare's table is laid out by them);
    num_threads is tracecomp's thread count while the statement runs (1 by default, so
    results compare like for like)."""

    def __init__(
        self,
        stmt: str = "pass",
        setup: str = "pass",
        global_setup: str = "",
        timer: Callable[[], float] = timer,
        globals: dict[str, Any] | None = None,
        label: str | None = None,
        sub_label: str | None = None,
        description: str | None = None,
        env: str | None = None,
        num_threads: int = 1,
        language: Language | str = Language.PYTHON,
    ) -> None:
        if not isinstance(stmt, str):
            raise ValueError("Currently only a `str` stmt is supported.")
        if _LANGUAGES.get(language) is None:
            raise ValueError(f"Invalid language `{language}`.")
        if _LANGUAGES[language] is Language.CPP:
            raise Unsupported(
                f"Timer(language={language!r}): tracecomp times Python statements only "
                f"(language='python', 'py' or Language.PYTHON); C++ statements need torch's "
                f"C++ toolchain, which tracecomp does not have.")
        if global_setup:
            raise ValueError(f"global_setup is C++ only, got `{global_setup}`. Most likely "
                             f"this code can simply be moved to `setup`.")
        # a copy: running the statement adds __builtins__ to its namespace
        namespace = {"torch": tracecomp, "tracecomp": tracecomp, **(globals or {})}
        stmt, setup = _tidy(stmt), _tidy(setup)
        self._timer = _timeit_module.Timer(stmt=stmt, setup=setup, timer=timer,
                                           globals=namespace)
        self._task_spec = TaskSpec(stmt=stmt, setup=setup, global_setup=global_setup,
                                   label=label, sub_label=sub_label, description=description,
                                   env=env, num_threads=num_threads)

    def _timeit(self, number: int) -> float:
        # setup, then `number` runs; never 0 s, so times can be divided by
        return max(self._timer.timeit(number), 1e-9)

    def _measurement(self, number: int, times: list[float]) -> Measurement:
        return Measurement(number_per_run=number, raw_times=times, task_spec=self._task_spec)

    def timeit(self, number: int = 1000000) -> Measurement:
        """Run the statement `number` times (after a warmup) and time that one block."""
        with set_torch_threads(self._task_spec.num_threads):
            self._timeit(max(int(number // 100), 2))
            return self._measurement(number, [self._timeit(number)])

    def repeat(self, repeat: int = -1, number: int = -1) -> None:
        raise NotImplementedError("See `Timer.blocked_autorange.`")

    def autorange(self, callback=None) -> None:
        raise NotImplementedError("See `Timer.blocked_autorange.`")

    def collect_callgrind(self, *args, **kwargs):
        raise unsupported("torch.utils.benchmark.Timer.collect_callgrind")

    def _block_size(self, min_run_time: float) -> int:
        """Runs per block: grown by 10x until a block dwarfs the clock's own cost (or takes
        min_run_time). Also the warmup."""
        with set_torch_threads(self._task_spec.num_threads):
            clock_cost = statistics.median(self._timeit(0) for _ in range(5))
            number = 1
            while True:
                taken = self._timeit(number)
                if clock_cost / taken <= _MAX_CLOCK_SHARE and \
                        taken >= min_run_time * _MIN_BLOCK_SHARE:
                    return number
                if taken > min_run_time or number * 10 > _MAX_BLOCK:
                    return number
                number *= 10

    def _run_blocks(self, number: int, done: Callable[[list[float]], bool], min_run_time: float,
                    max_run_time: float | None, callback) -> list[float]:
        """Time blocks until min_run_time is spent and done(times) holds, or until more than
        max_run_time (when given) is spent. callback(number, seconds) sees each block."""
        times: list[float] = []
        total = 0.0
        with set_torch_threads(self._task_spec.num_threads):
            while True:
                taken = self._timeit(number)
                times.append(taken)
                total += taken
                if callback:
                    callback(number, taken)
                if max_run_time and total > max_run_time:
                    return times
                if total >= min_run_time and done(times):
                    return times

    def blocked_autorange(self, callback=None, min_run_time: float = 0.2) -> Measurement:
        """Blocks of a size that keeps the clock's cost negligible, for min_run_time seconds
        in all."""
        number = self._block_size(min_run_time)
        times = self._run_blocks(number, lambda times: True, min_run_time, None, callback)
        return self._measurement(number, times)

    def adaptive_autorange(self, threshold: float = 0.1, *, min_run_time: float = 0.01,
                           max_run_time: float = 10.0, callback=None) -> Measurement:
        """Blocks until the interquartile range is under `threshold` of the median (with
        at least 4 blocks and min_run_time spent), or until max_run_time is spent."""
        number = self._block_size(_ADAPTIVE_BLOCK_TIME)

        def steady(times: list[float]) -> bool:
            return len(times) > 3 and \
                self._measurement(number, times).meets_confidence(threshold)

        times = self._run_blocks(number, steady, min_run_time, max_run_time, callback)
        return self._measurement(number, times)
