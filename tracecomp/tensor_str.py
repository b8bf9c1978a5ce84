"""How a tensor prints: torch's repr, character for character (torch/_tensor_str.py).

Tutorials print tensors and readers compare them with the book, so the layout follows
torch's: one width for every element (right-aligned), integral floats as `1.`, scientific
notation when the magnitudes span more than 1e3 (or pass 1e8, or fall under 1e-4), lines
wrapped at `linewidth`, and `...` summaries past `threshold` elements. The options are
torch's `set_printoptions` / `get_printoptions` / `printoptions`.
"""
import contextlib
import dataclasses
import math
import sys

import numpy as np

from . import dtypes
from .dtypes import np_kind
from .errors import TraceError, fmt_shape


@dataclasses.dataclass
class _PrinterOptions:
    precision: int = 4
    threshold: float = 1000
    edgeitems: int = 3
    linewidth: int = 80
    sci_mode: bool | None = None


PRINT_OPTS = _PrinterOptions()

# set_printoptions(profile=...): (precision, threshold, edgeitems, linewidth)
_PROFILES = {"default": (4, 1000, 3, 80), "short": (2, 1000, 2, 80),
             "full": (4, math.inf, 3, 80)}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None,
                     profile=None, sci_mode=None):
    """torch.set_printoptions: digits, summary threshold, edge items, line width, and
    scientific notation forced on (True), off (False) or chosen per tensor (None)."""
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: unknown profile {profile!r}; valid profiles "
                             f"are {', '.join(_PROFILES)}")
        (PRINT_OPTS.precision, PRINT_OPTS.threshold, PRINT_OPTS.edgeitems,
         PRINT_OPTS.linewidth) = _PROFILES[profile]
    for name, value in (("precision", precision), ("threshold", threshold),
                        ("edgeitems", edgeitems), ("linewidth", linewidth)):
        if value is not None:
            setattr(PRINT_OPTS, name, value)
    PRINT_OPTS.sci_mode = sci_mode


def get_printoptions():
    """The current options, as keyword arguments for set_printoptions."""
    return dataclasses.asdict(PRINT_OPTS)


@contextlib.contextmanager
def printoptions(**kwargs):
    """Print options changed inside a `with` block only."""
    old = get_printoptions()
    set_printoptions(**kwargs)
    try:
        yield
    finally:
        set_printoptions(**old)


class _Formatter:
    """One width and one notation for all the elements a tensor prints."""

    def __init__(self, values):
        self.floating = np_kind(values.dtype) == "f"
        self.int_mode, self.sci_mode, self.max_width = True, False, 1
        flat = values.reshape(-1)
        if not self.floating:
            self.max_width = max([1] + [len(str(v)) for v in flat.tolist()])
            return
        vals = flat[np.isfinite(flat) & (flat != 0)]
        if vals.size == 0:
            return
        absolute = np.abs(vals.astype(np.float64))
        lo, hi = absolute.min(), absolute.max()
        self.int_mode = bool(np.all(vals == np.ceil(vals)))
        auto_sci = hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4
        self.sci_mode = auto_sci if PRINT_OPTS.sci_mode is None else PRINT_OPTS.sci_mode
        p = PRINT_OPTS.precision
        if self.sci_mode:
            texts = [f"{v:.{p}e}" for v in vals.tolist()]
        elif self.int_mode:
            texts = [f"{v:.0f}." for v in vals.tolist()]   # the '.' counts in the width
        else:
            texts = [f"{v:.{p}f}" for v in vals.tolist()]
        self.max_width = max(len(t) for t in texts)

    def format(self, value):
        if not self.floating:
            text = str(value)
        elif self.sci_mode:
            text = f"{value:{self.max_width}.{PRINT_OPTS.precision}e}"
        elif self.int_mode:
            text = f"{value:.0f}" + ("" if math.isinf(value) or math.isnan(value) else ".")
        else:
            text = f"{value:.{PRINT_OPTS.precision}f}"
        return (self.max_width - len(text)) * " " + text


class _ComplexFormatter:
    """torch's complex layout: the real parts share one format, the imaginary parts another,
    joined as `1.0000+2.0000j` (the imaginary part's padding dropped)."""

    def __init__(self, values):
        self.real, self.imag = _Formatter(values.real), _Formatter(values.imag)
        self.max_width = self.real.max_width + self.imag.max_width + 1    # + the 'j'

    def format(self, value):
        imag = (self.imag.format(value.imag) + "j").lstrip()
        return self.real.format(value.real) + ("" if imag[0] in "+-" else "+") + imag


def _summarized(a):
    """The elements a summarized print shows (its edges), which set the common width."""
    e = PRINT_OPTS.edgeitems
    if a.ndim == 0:
        return a
    if a.ndim == 1:
        return np.concatenate([a[:e], a[-e:]]) if a.shape[0] > 2 * e else a
    if not e:
        return a[(slice(0, 0),) * a.ndim]
    rows = list(range(e)) + list(range(a.shape[0] - e, a.shape[0])) \
        if a.shape[0] > 2 * e else range(a.shape[0])
    return np.stack([_summarized(a[i]) for i in rows])


def _vector(a, indent, summarize, fmt):
    per_line = max(1, math.floor((PRINT_OPTS.linewidth - indent) / (fmt.max_width + 2)))
    e = PRINT_OPTS.edgeitems
    if summarize and not e:
        data = ["..."]
    elif summarize and a.shape[0] > 2 * e:
        data = ([fmt.format(v) for v in a[:e].tolist()] + [" ..."]
                + [fmt.format(v) for v in a[-e:].tolist()])
    else:
        data = [fmt.format(v) for v in a.tolist()]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _nested(a, indent, summarize, fmt):
    if a.ndim == 0:
        return fmt.format(a.item())
    if a.ndim == 1:
        return _vector(a, indent, summarize, fmt)
    e = PRINT_OPTS.edgeitems
    if summarize and a.shape[0] > 2 * e:
        rows = ([_nested(a[i], indent + 1, summarize, fmt) for i in range(e)] + ["..."]
                + [_nested(a[i], indent + 1, summarize, fmt)
                   for i in range(a.shape[0] - e, a.shape[0])])
    else:
        rows = [_nested(a[i], indent + 1, summarize, fmt) for i in range(a.shape[0])]
    return "[" + ("," + "\n" * (a.ndim - 1) + " " * (indent + 1)).join(rows) + "]"


def _body(a, indent):
    if a.size == 0:
        return "[]"
    summarize = a.size > PRINT_OPTS.threshold
    shown = _summarized(a) if summarize else a
    fmt = (_ComplexFormatter if a.dtype.kind == "c" else _Formatter)(shown)
    return _nested(a, indent, summarize, fmt)


def _with_suffixes(text, suffixes, indent, force_newline=False):
    """`, dtype=...` and the like after the elements, wrapped as torch wraps them (the
    first on a line of its own with force_newline: a sparse COO tensor's)."""
    parts = [text]
    last = len(text) - text.rfind("\n") + 1
    for s in suffixes:
        if force_newline or last + len(s) + 2 > PRINT_OPTS.linewidth:
            parts.append(",\n" + " " * indent + s)
            last, force_newline = indent + len(s), False
        else:
            parts.append(", " + s)
            last += len(s) + 2
    return "".join(parts) + ")"


def format_tensor(t, grad_fn_name=None):
    """torch's repr of an eager tensor: tensor([1.0000, 2.5000], requires_grad=True)."""
    prefix = "tensor("
    indent = len(prefix)
    suffixes = [] if t.is_cpu else [f"device='{t.device}'"]
    if t.is_meta:       # no values to show: torch shows the size, and any other dtype
        suffixes.append(f"size={tuple(t.shape)}")
        if t._data.dtype != dtypes.default_float():
            suffixes.append(f"dtype={t.dtype!r}")
        return _with_suffixes(prefix + "...", suffixes + _grad_suffix(t, grad_fn_name),
                              indent)
    a = t._host()
    default = a.dtype in (dtypes.default_float(), dtypes.I64, dtypes.BOOL,
                          dtypes.complex_type(dtypes.default_float()))
    if a.size == 0:
        if a.ndim != 1:
            suffixes.append(f"size={tuple(a.shape)}")
        if a.dtype != dtypes.default_float():
            suffixes.append(f"dtype={t.dtype!r}")
    else:
        if not PRINT_OPTS.edgeitems:
            suffixes.append(f"size={tuple(a.shape)}")
        if not default:
            suffixes.append(f"dtype={t.dtype!r}")
    return _with_suffixes(prefix + _body(a, indent), suffixes + _grad_suffix(t, grad_fn_name),
                          indent)


# autograd/forward_ad.py's for_repr, put here when it is imported (before then no tensor
# is dual): printing sits below autograd in the import order and does not import it
DUAL_REPR = []


def _grad_suffix(t, grad_fn_name):
    """grad_fn or requires_grad, then the tangent of a dual tensor (forward_ad.py)."""
    shown, tangent = DUAL_REPR[0](t) if DUAL_REPR else (True, None)
    if not shown:
        suffixes = []
    elif grad_fn_name is not None:
        suffixes = [f"grad_fn=<{grad_fn_name}>"]
    else:
        suffixes = ["requires_grad=True"] if t._requires_grad else []
    return suffixes if tangent is None else suffixes + [f"tangent={tangent}"]


def traced_text(value):
    """The text of a tensor whose value is a graph node (a trace's): a placeholder for
    tracecomp's own messages; for the code being traced (print, an f-string, logging's
    formatting), which would show it where eager shows the values, a TraceError (a graph
    break, as torch.compile makes there)."""
    if _asked_by_the_traced_code():
        raise TraceError(
            f"the text of a tensor of shape {list(value.shape)} inside compiled code (str, "
            f"repr, an f-string, a log message): its values exist only when the compiled "
            f"code runs, so this call runs eagerly (a graph break, as torch.compile makes "
            f"there). Format it after the compiled call, or its shape or dtype")
    return f"Tensor(traced {fmt_shape(value.shape)} {value.dtype})"


def _asked_by_the_traced_code():
    """Whether the first caller outside the tensor's text (Tensor.__format__, __repr__,
    format_tensor) is not tracecomp's own code."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__") in ("tracecomp.tensor",
                                                                     __name__):
        frame = frame.f_back
    return frame is not None and \
        frame.f_globals.get("__name__", "").split(".")[0] != "tracecomp"
