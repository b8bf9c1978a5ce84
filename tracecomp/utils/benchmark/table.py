"""The text of one of Compare's tables: the measurements that share a label, one row per
(num_threads, env, sub_label or stmt), one column per description, every median in one
unit (the one that suits the smallest):

    [----------- ReLU -----------]
                 |  n=1   |   n=64
    1 threads: -------------------
          float  |  12.6  |   65.7
          int    |  46.5  |  241.9
    4 threads: -------------------
          float  |   3.6  |   17.4

    Times are in microseconds (us).

Rows are grouped by thread count, keeping their first-seen order within a group; a row's
env is printed, in parentheses, when the table has several and it changes. Optionally
(Compare's switches) each column keeps only the digits its measurements support, cells are
coloured against the best time in their row or column, and noisy cells say how noisy.
"""
import enum
import math

from .common import f32_log10, ordered_unique, select_unit, trim_sigfig, unit_to_english

BEST = "\033[92m"
GOOD = "\033[34m"
BAD = "\033[2m\033[91m"
VERY_BAD = "\033[31m"
BOLD = "\033[1m"
TERMINATE = "\033[0m"

# a coloured cell's escape codes, by how its median compares with the best one; the first
# rule that holds wins, and a cell that none fits stays plain
_SHADES = (
    (lambda t, best: t <= best * 1.01 or t <= best + 100e-9, BEST + BOLD),
    (lambda t, best: t <= best * 1.1, GOOD + BOLD),
    (lambda t, best: t >= best * 5, VERY_BAD + BOLD),
    (lambda t, best: t >= best * 2, BAD),
)
# the width a noisy-cell note (" (! 12%)") is padded to, in columns that have one
_NOTE_WIDTH = 7
_HIGH_VARIANCE = "(! XX%) Measurement has high variance, where XX is the IQR / median * 100."


class Colorize(enum.Enum):
    NONE = "none"
    COLUMNWISE = "columnwise"
    ROWWISE = "rowwise"


def _env_text(m) -> str:
    # torch's tables fail when some envs are None and others are not; name the missing one
    return "Unspecified env" if m.env is None else m.env


def _row_key(m) -> tuple:
    return m.num_threads, _env_text(m), m.as_row_name


class _ColumnFormat:
    """How one column prints its medians: one width and one number of decimals for all of
    its cells (one decimal, or with trimming as many as its least precise cell supports)."""

    def __init__(self, cells, scale: float, trim: bool, highlight: bool) -> None:
        present = [m for m in cells if m is not None]
        self.scale, self.trim = scale, trim
        self.highlight = highlight and any(m.has_warnings for m in present)
        digits = [math.ceil(f32_log10(m.median / scale)) for m in present]
        self.decimals = min(max(m.significant_figures - d, 0)
                            for m, d in zip(present, digits)) if trim else 1
        self.width = max(digits) + self.decimals + (1 if self.decimals else 0)

    def _text(self, value: float, figures: int, spread: float | None) -> str:
        if self.trim:
            value = trim_sigfig(value, figures)
        note = "" if spread is None else f" (! {spread * 100:.0f}%)"
        return f"{value:>{self.width}.{self.decimals}f}" + \
            (note.rjust(_NOTE_WIDTH) if self.highlight else "")

    def cell(self, m) -> str:
        if m is None:       # blank, as wide as a number
            return " " * len(self._text(1, 1, None))
        spread = m.iqr / m.median if m.has_warnings else None
        return self._text(m.median / self.scale, m.significant_figures, spread)


def _shade(text: str, t: float, best: float) -> str:
    for holds, codes in _SHADES:
        if holds(t, best):
            return codes + text + TERMINATE * 2
    return text


def _best_times(cells, groups, colorize: Colorize) -> list[list[float | None]]:
    """For each cell, the median it is coloured against (None: leave it plain)."""
    if colorize is Colorize.ROWWISE:
        return [[min(m.median for m in row if m is not None)] * len(row) for row in cells]
    if colorize is Colorize.NONE:
        return [[None] * len(row) for row in cells]
    # columnwise: the best of the column among the rows with the same thread count
    best = {}
    for g, row in zip(groups, cells):
        for j, m in enumerate(row):
            if m is not None:
                best[g, j] = min(best.get((g, j), m.median), m.median)
    return [[best.get((g, j)) for j in range(len(row))] for g, row in zip(groups, cells)]


def render(results, colorize: Colorize, trim: bool, highlight: bool) -> str:
    """The table of `results`, which share one label."""
    unit, scale = select_unit(min(m.median for m in results))
    # sorted by thread count and env only: rows keep their order within those
    rows = sorted(ordered_unique(map(_row_key, results)), key=lambda key: key[:2])
    columns = ordered_unique(m.description for m in results)
    grid = {(_row_key(m), m.description): m for m in results}    # a later replicate wins
    cells = [[grid.get((row, column)) for column in columns] for row in rows]
    formats = [_ColumnFormat([row[j] for row in cells], scale, trim, highlight)
               for j in range(len(columns))]

    envs = ordered_unique(key[1] for key in rows)
    env_width = (max(map(len, envs)) if len(envs) > 1 else 0) + 4
    texts = []
    for i, ((num_threads, env, name), row) in enumerate(zip(rows, cells)):
        # with several envs, a row names its env when the row above (of the same thread
        # count) had another
        above = rows[i - 1][1] if i and rows[i - 1][0] == num_threads else ""
        shown_env = f"({env})" if len(envs) > 1 and env != above else ""
        texts.append(["  " + shown_env.ljust(env_width) + name] +
                     [f.cell(m) for f, m in zip(formats, row)])

    header = [""] + ["" if c is None else c for c in columns]
    widths = [max(map(len, column)) for column in zip(header, *texts)]
    lines = ["  |  ".join(t.center(w) for t, w in zip(header, widths))]
    overall = len(lines[0])
    groups = [key[0] for key in rows]
    for i, (text, row, bests) in enumerate(zip(texts, cells, _best_times(cells, groups,
                                                                            colorize))):
        if i == 0 or groups[i] != groups[i - 1]:
            lines.append(f"{groups[i]} threads: ".ljust(overall, "-"))
        shown = [text[0].ljust(widths[0])]
        for t, width, m, best in zip(text[1:], widths[1:], row, bests):
            t = t.center(width)
            shown.append(t if m is None or best is None else _shade(t, m.median, best))
        lines.append("  |  ".join(shown))

    label = results[0].label or ""
    warned = highlight and any(m.has_warnings for m in results)
    return (f"[{(' ' + label + ' ').center(overall - 2, '-')}]\n" + "\n".join(lines) +
            f"\n\nTimes are in {unit_to_english(unit)}s ({unit}).\n" +
            (_HIGH_VARIANCE + "\n" if warned else ""))
