"""tracecomp.utils.benchmark: torch.utils.benchmark's timing of Python statements.

    common.py        TaskSpec (what is timed, and its labels), time units, significant
                     figures, the thread count during a measurement
    measurement.py   Measurement: a task's block times and their statistics and repr
    timer.py         Timer: timeit, blocked_autorange, adaptive_autorange
    table.py         one table of Compare's output (the layout, widths, colours)
    compare.py       Compare: measurements grouped by label into tables

The output (a Measurement's repr, Compare's tables) is torch's, character for character,
for the same times. Not provided: C++ statements (Timer(language="c++")), Callgrind
instruction counts (Timer.collect_callgrind) and the input fuzzers (Fuzzer, FuzzedTensor).
"""
from .common import TaskSpec, ordered_unique, select_unit, set_torch_threads, trim_sigfig, \
    unit_to_english
from .compare import Compare
from .measurement import Measurement
from .table import Colorize
from .timer import Language, Timer, timer

__all__ = ["Colorize", "Compare", "Language", "Measurement", "TaskSpec", "Timer",
           "ordered_unique", "select_unit", "set_torch_threads", "timer", "trim_sigfig",
           "unit_to_english"]

# a torch.utils.benchmark name we lack (Fuzzer, CallgrindStats, ...) raises
# NotImplementedError naming it (support.py)
from ...support import missing_in as _missing_in  # noqa: E402

__getattr__ = _missing_in("torch.utils.benchmark")
