"""What torch.utils.benchmark's pieces share: the task a Timer describes (TaskSpec), the
time units results are printed in, significant-figure trimming, and the thread count a
measurement runs under.

torch computes the unit choice and the trimming on float32 tensors. The helpers here round
through float32 the same way, so a time at or near a power of ten (1 us, 2.5 ms, ...) gets
the unit and digits torch prints rather than the neighbouring ones.
"""
import contextlib
import dataclasses
import math
import textwrap

import numpy as np

from ...threads import get_num_threads, set_num_threads

UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1}
# select_unit: floor(log10(t) / 3) -> unit; anything else (>= 1 s, or below 1 ns) is seconds
_UNIT_BY_THOUSANDS = {-3: "ns", -2: "us", -1: "ms"}
_ENGLISH = {"ns": "nanosecond", "us": "microsecond", "ms": "millisecond", "s": "second"}


def f32(x: float) -> float:
    """x rounded to float32, as a Python float."""
    return float(np.float32(x))


def f32_log10(x: float) -> float:
    """log10 of x as torch computes it on a float32 tensor: correctly rounded to float32
    (numpy's float32 log10 is a few ulps off, which moves exact powers of ten)."""
    return f32(math.log10(f32(x)))


@dataclasses.dataclass(repr=False, frozen=True)
class TaskSpec:
    """What a Timer measures, and the labels results are grouped and printed by. Frozen
    (hashable): Measurement.merge groups replicates by it."""
    stmt: str
    setup: str
    global_setup: str = ""
    label: str | None = None
    sub_label: str | None = None
    description: str | None = None
    env: str | None = None
    num_threads: int = 1

    @property
    def title(self) -> str:
        """The label (or the one-line stmt), with the sub_label after a colon."""
        if self.label is not None or "\n" not in self.stmt:
            name = self.stmt if self.label is None else self.label
            return name + (f": {self.sub_label}" if self.sub_label else "")
        sub = f" ({self.sub_label})" if self.sub_label else ""
        return f"stmt:{sub}\n" + textwrap.indent(self.stmt, "  ")

    def setup_str(self) -> str:
        if self.setup in ("", "pass"):
            return ""
        if "\n" in self.setup:
            return "setup:\n" + textwrap.indent(self.setup, "  ")
        return f"setup: {self.setup}"

    def summarize(self) -> str:
        """The task's lines in a Measurement's repr: title, description, setup. A block of
        several lines is followed by a blank line."""
        sections = [s for s in (self.title, self.description or "", self.setup_str()) if s]
        return "\n".join(s + "\n" if "\n" in s else s for s in sections)


TASK_FIELDS = frozenset(f.name for f in dataclasses.fields(TaskSpec))


def select_unit(t: float) -> tuple[str, float]:
    """The unit that prints t (seconds) with 1 to 3 digits before the point, and its size
    in seconds: select_unit(2.5e-5) == ("us", 1e-6)."""
    unit = _UNIT_BY_THOUSANDS.get(int(f32_log10(t) // 3), "s")
    return unit, UNITS[unit]


def unit_to_english(u: str) -> str:
    return _ENGLISH[u]


def trim_sigfig(x: float, n: int) -> float:
    """x rounded to n significant figures (3.14159, 2 -> 3.1), in float32 as torch rounds."""
    if n != int(n):
        raise AssertionError("Number of significant figures must be an integer")
    magnitude = math.ceil(f32_log10(abs(x)))
    scale = 10 ** (magnitude - n)
    return float(np.round(np.float32(x / scale)) * np.float32(scale))


def ordered_unique(elements) -> list:
    """The distinct elements, in order of first appearance."""
    return list(dict.fromkeys(elements))


@contextlib.contextmanager
def set_torch_threads(n: int):
    """Inside: tracecomp.set_num_threads(n); after: the count there was before."""
    prior = get_num_threads()
    try:
        set_num_threads(n)
        yield
    finally:
        set_num_threads(prior)
