"""Compare: many Measurements printed as tables, one per label (table.py lays them out).

Replicates of one task (equal TaskSpecs, e.g. the same Timer run twice) are merged into one
measurement first, so their times count together. The switches change how the next print
looks: trim_significant_figures() keeps only the digits each column's measurements support,
colorize() colours each time against the best in its column (or row), highlight_warnings()
adds the spread to cells whose interquartile range is large.
"""
from .measurement import Measurement
from .table import Colorize, render


class Compare:
    """Tables of `results` (Measurements), grouped by label, in first-seen order."""

    def __init__(self, results) -> None:
        self._results: list[Measurement] = []
        self.extend_results(results)
        self._trim_significant_figures = False
        self._colorize = Colorize.NONE
        self._highlight_warnings = False

    def extend_results(self, results) -> None:
        """Add more Measurements to the ones already held."""
        for r in results:
            if not isinstance(r, Measurement):
                raise ValueError(f"Expected an instance of `Measurement`, got {type(r)} instead.")
        self._results.extend(results)

    def trim_significant_figures(self) -> None:
        self._trim_significant_figures = True

    def colorize(self, rowwise: bool = False) -> None:
        """Colour each time against the best of its column (of its row, when rowwise)."""
        self._colorize = Colorize.ROWWISE if rowwise else Colorize.COLUMNWISE

    def highlight_warnings(self) -> None:
        self._highlight_warnings = True

    def __str__(self) -> str:
        by_label: dict[str | None, list[Measurement]] = {}
        for m in Measurement.merge(self._results):
            by_label.setdefault(m.label, []).append(m)
        return "\n".join(render(group, self._colorize, self._trim_significant_figures,
                                self._highlight_warnings) for group in by_label.values())

    def print(self) -> None:
        print(str(self))
