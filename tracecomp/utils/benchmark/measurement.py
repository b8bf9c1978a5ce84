"""Measurement: the times a Timer took for one task, and the statistics read from them.

Each of `raw_times` is the time of one block of `number_per_run` runs of the statement;
`times` divides them down to one run, and every statistic is over those per-run times.
Median and quartiles interpolate linearly between the sorted times (torch.quantile's rule);
the repr prints them in the unit that suits the median, and adds a warning when the
interquartile range is a large share of the median.
"""
import collections
import dataclasses
import math
from typing import Any, NamedTuple

import numpy as np

from .common import TASK_FIELDS, TaskSpec, f32, f32_log10, select_unit

MAX_SIGNIFICANT_FIGURES = 4
# the smallest confidence interval significant_figures assumes: a timer's own resolution
MIN_CONFIDENCE_INTERVAL = 25e-9
# IQR / median above which a measurement is flagged, least suspect first
IQR_WARN_THRESHOLD = 0.1
IQR_GROSS_WARN_THRESHOLD = 0.25
# the warnings, checked in order: the first threshold the spread fails picks the message
_WARNINGS = ((IQR_GROSS_WARN_THRESHOLD, "This suggests significant environmental influence."),
             (IQR_WARN_THRESHOLD, "This could indicate system fluctuation."))


class _Summary(NamedTuple):
    sorted_times: tuple[float, ...]
    median: float
    mean: float
    p25: float
    p75: float
    warnings: tuple[str, ...]


# what a Measurement with no times answers
_NO_TIMES = _Summary((), -1.0, -1.0, -1.0, -1.0, ())


def _summarize(times: list[float]) -> _Summary:
    ordered = np.sort(np.asarray(times, dtype=np.float64))
    p25, median, p75 = (float(q) for q in np.quantile(ordered, (0.25, 0.5, 0.75)))
    spread = (p75 - p25) / median
    # `not spread < threshold`: a spread that is not a number (a NaN time) warns too
    message = next((text for threshold, text in _WARNINGS if not spread < threshold), None)
    warnings = () if message is None else (
        f"  WARNING: Interquartile range is {spread * 100:.1f}% of the median measurement.\n"
        f"           {message}",)
    return _Summary(tuple(ordered.tolist()), median, float(ordered.mean()), p25, p75, warnings)


@dataclasses.dataclass(repr=False)
class Measurement:
    """One task's timings: `raw_times[i]` seconds for `number_per_run` runs each. The
    task's fields read through: m.label, m.stmt, m.num_threads, m.env (None when unset)..."""
    number_per_run: int
    raw_times: list[float]
    task_spec: TaskSpec
    metadata: dict[Any, Any] | None = None  # the user's own payload; merge() drops it

    def __post_init__(self) -> None:
        self._summary_cache = _NO_TIMES

    def __getattr__(self, name: str) -> Any:
        # only called for names the object lacks: the task's fields
        if name in TASK_FIELDS:
            return getattr(self.task_spec, name)
        raise AttributeError(f"'Measurement' object has no attribute {name!r}")

    def _summary(self) -> _Summary:
        # computed once, on the first question after there are times
        if self.raw_times and not self._summary_cache.sorted_times:
            self._summary_cache = _summarize(self.times)
        return self._summary_cache

    @property
    def times(self) -> list[float]:
        """Seconds per run of the statement, one per block."""
        return [t / self.number_per_run for t in self.raw_times]

    @property
    def median(self) -> float:
        return self._summary().median

    @property
    def mean(self) -> float:
        return self._summary().mean

    @property
    def iqr(self) -> float:
        s = self._summary()
        return s.p75 - s.p25

    @property
    def has_warnings(self) -> bool:
        return bool(self._summary().warnings)

    def meets_confidence(self, threshold: float = IQR_WARN_THRESHOLD) -> bool:
        """Is the interquartile range less than `threshold` times the median?"""
        return self.iqr / self.median < threshold

    @property
    def significant_figures(self) -> int:
        """How many digits of the median to trust (1 to 4), for Compare's trimming. A rough
        estimate: a 90% interval (z = 1.645) on the spread of the middle half of the times.
        torch computes it on float32 tensors, and so do we, so that times that are round
        numbers land on the same side of a power of ten."""
        s = self._summary()
        n = len(s.sorted_times)
        middle = np.float32(s.sorted_times[n // 4:math.ceil(3 * n / 4)]).astype(np.float64)
        std = f32(np.sqrt(np.mean((middle - middle.mean()) ** 2)))
        interval = max(1.645 * std / f32(math.sqrt(len(middle))), MIN_CONFIDENCE_INTERVAL)
        figures = math.floor(f32_log10(s.median / interval))
        return min(max(figures, 1), MAX_SIGNIFICANT_FIGURES)

    @property
    def title(self) -> str:
        return self.task_spec.title

    @property
    def as_row_name(self) -> str:
        """The row Compare prints this measurement in."""
        return self.sub_label or self.stmt or "[Unknown]"

    def __repr__(self) -> str:
        s = self._summary()
        n = len(s.sorted_times)
        unit, scale = select_unit(s.median)
        lines = [object.__repr__(self), self.task_spec.summarize(),
                 f"  {'Median: ' if n > 1 else ''}{s.median / scale:.2f} {unit}"]
        if n >= 4:
            lines.append(f"  IQR:    {(s.p75 - s.p25) / scale:.2f} {unit} "
                         f"({s.p25 / scale:.2f} to {s.p75 / scale:.2f})")
        # torch's wording, including the space before the comma of a single measurement
        runs = "runs per measurement," if n > 1 else "runs ,"
        threads = self.num_threads
        lines.append(f"  {n} measurement{'s' if n > 1 else ''}, {self.number_per_run} {runs} "
                     f"{threads} thread{'s' if threads > 1 else ''}")
        lines.extend(s.warnings)
        return "\n".join(lines)

    @staticmethod
    def merge(measurements) -> list["Measurement"]:
        """One Measurement per distinct task, holding all its replicates' per-run times
        (number_per_run=1; metadata dropped, as replicates may disagree on it)."""
        by_task = collections.defaultdict(list)
        for m in measurements:
            by_task[m.task_spec].extend(m.times)
        return [Measurement(1, times, task) for task, times in by_task.items()]
