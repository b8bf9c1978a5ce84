"""torch.export's dynamic shapes: Dim, dims(), the `dynamic_shapes` argument read into one
map per input tensor, and the guards an exported module checks on every call.

    batch = torch.export.Dim("batch", min=2, max=64)
    ep = torch.export.export(model, (x,), dynamic_shapes={"x": {0: batch}})

Each Dim is one symbol of the exported graph (dims given the same Dim are one size, as in
torch); every other dim is the example's size. A call whose sizes break these raises
torch's AssertionError, `Guard failed: x.size()[1] == 4`, naming the input and the dim.
"""
import inspect
import math

from ..errors import TraceError


class UserError(TraceError):
    """torch._dynamo.exc.UserError: export was asked for something the code does not allow
    (a dim marked dynamic that the code fixes, dynamic_shapes that do not fit the inputs)."""


class _Hint:
    """Dim.AUTO / Dim.STATIC / Dim.DYNAMIC, torch's DimHint: a dim left to export (AUTO:
    dynamic where the code allows), fixed, or dynamic."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"DimHint({self.name})"


class Dim:
    """A named dynamic size, torch.export.Dim(name, min=, max=); sizes 0 and 1 are never
    dynamic (they broadcast), so the least size served is max(min, 2)."""

    AUTO, STATIC, DYNAMIC = _Hint("AUTO"), _Hint("STATIC"), _Hint("DYNAMIC")

    def __init__(self, name, *, min=None, max=None):  # noqa: A002 - torch's keywords
        low = 0 if min is None else min
        high = math.inf if max is None else max
        if high < low:
            raise AssertionError(f"Cannot create Dim with inconsistent min={min}, max={max}")
        self.__name__, self.min, self.max = name, low, high

    def __repr__(self):
        upper = "" if self.max == math.inf else f", max={self.max}"
        return f"Dim({self.__name__!r}, min={self.min}{upper})"


def dims(*names, min=None, max=None):  # noqa: A002
    """torch.export.dims: one Dim per name, with the same bounds."""
    return tuple(Dim(name, min=min, max=max) for name in names)


def input_dims(forward, args, kwargs, dynamic_shapes):
    """{id(tensor): {dim: Dim}} for the inputs' tensors from `dynamic_shapes` (a dict keyed
    by forward's argument names, or a tuple/list in their order), Dim.STATIC and None
    dropped, Dim.AUTO and Dim.DYNAMIC each an anonymous Dim."""
    if dynamic_shapes is None:
        return {}
    bound = inspect.signature(forward).bind(*args, **kwargs).arguments
    names = list(bound)
    if isinstance(dynamic_shapes, dict):
        unknown = [k for k in dynamic_shapes if k not in bound]
        if unknown:
            raise UserError(f"When `dynamic_shapes` is specified as a dict, its top-level keys "
                            f"must be the arg names {names} of `inputs`, but here they are "
                            f"{list(dynamic_shapes)}. Alternatively, you could also ignore "
                            f"arg names entirely and specify `dynamic_shapes` as a list/tuple "
                            f"matching `inputs`.")
        pairs = [(bound[k], v, k) for k, v in dynamic_shapes.items()]
    elif isinstance(dynamic_shapes, (tuple, list)):
        if len(dynamic_shapes) != len(names):
            raise UserError(f"dynamic_shapes has {len(dynamic_shapes)} entries but the inputs "
                            f"are {len(names)} ({names}): give one per argument (None for one "
                            f"with no dynamic dims)")
        pairs = [(bound[k], v, k) for k, v in zip(names, dynamic_shapes)]
    else:
        raise UserError(f"dynamic_shapes must be a dict, tuple or list, got "
                        f"{type(dynamic_shapes).__name__}")
    out = {}
    for value, spec, name in pairs:
        _match(value, spec, name, out)
    return out


def _match(value, spec, path, out):
    from ..tensor import Tensor
    if spec is None:
        return
    if isinstance(value, Tensor):
        per_dim = spec.items() if isinstance(spec, dict) else enumerate(spec)
        marks = {}
        for d, dim in per_dim:
            if not -value.ndim <= d < value.ndim:
                raise UserError(f"dynamic_shapes[{path!r}] names dim {d}, but {path} has "
                                f"{value.ndim} dims (shape {list(value.shape)})")
            if dim is None or dim is Dim.STATIC:
                continue
            if dim is Dim.AUTO or dim is Dim.DYNAMIC:
                dim = Dim(f"{path}_dim{d % value.ndim}")
                dim.auto = True
            if not isinstance(dim, Dim):
                raise UserError(f"dynamic_shapes for {path} dim {d}: expected a Dim, None or "
                                f"Dim.STATIC/AUTO/DYNAMIC, got {dim!r}")
            marks[d % value.ndim] = dim
        if marks:
            out[id(value)] = marks
    elif isinstance(value, (tuple, list)) and isinstance(spec, (tuple, list)):
        for k, (v, s) in enumerate(zip(value, spec)):
            _match(v, s, f"{path}[{k}]", out)
    elif isinstance(value, dict) and isinstance(spec, dict):
        for k, s in spec.items():
            _match(value[k], s, f"{path}[{k!r}]", out)
    else:
        raise UserError(f"dynamic_shapes for {path}: {spec!r} does not fit the input, a "
                        f"{type(value).__name__}")


class Symbol(str):
    """A symbol of an exported graph, a key of ExportedProgram.range_constraints (torch's is
    a sympy Symbol; both print as their name, s0)."""

    @property
    def name(self):
        return str(self)


class ValueRanges:
    """The sizes a symbol takes, torch's ValueRanges: lower and upper (inclusive; math.inf
    where unbounded, which torch prints int_oo), printed as torch prints them: VR[2, 64]."""

    def __init__(self, lower, upper):
        self.lower, self.upper = lower, upper

    def __eq__(self, other):
        return isinstance(other, ValueRanges) and (self.lower, self.upper) == \
            (other.lower, other.upper)

    def __hash__(self):
        return hash((self.lower, self.upper))

    def __repr__(self):
        upper = "int_oo" if self.upper == math.inf else self.upper
        return f"VR[{self.lower}, {upper}]"


class Guards:
    """What every call of an exported module must satisfy: per user tensor its dtype and
    rank, and per dim its size, or a symbol's range (symbols: [(name, low, high)])."""

    def __init__(self, names, specs, symbols):
        # specs: per tensor (dtype str, [size int or symbol index]); names: their paths
        self.names, self.specs, self.symbols = names, specs, symbols

    def check(self, tensors):
        """The sizes of the symbols at this call, or torch's AssertionError."""
        sizes = [None] * len(self.symbols)
        for name, (dtype, dims), t in zip(self.names, self.specs, tensors):
            if t.ndim != len(dims):
                raise AssertionError(f"Guard failed: {name}.dim() == {len(dims)} (got a tensor "
                                     f"of shape {list(t.shape)})")
            if t._data.dtype.name != dtype:
                raise AssertionError(f"Guard failed: {name}.dtype == {dtype} (got "
                                     f"{t._data.dtype.name})")
            for d, (want, got) in enumerate(zip(dims, t.shape)):
                where = f"{name}.size()[{d}]"
                if isinstance(want, int):
                    if got != want:
                        raise AssertionError(f"Guard failed: {where} == {want} (got {got})")
                    continue
                symbol, low, high = self.symbols[want[0]]
                if got < low:
                    raise AssertionError(f"Guard failed: {where} >= {low} (got {got}; {symbol} "
                                         f"is dynamic in [{low}, {_bound(high)}])")
                if got > high:
                    raise AssertionError(f"Guard failed: {where} <= {high} (got {got}; {symbol} "
                                         f"is dynamic in [{low}, {_bound(high)}])")
                if sizes[want[0]] is None:
                    sizes[want[0]] = got
                elif sizes[want[0]] != got:
                    raise AssertionError(f"Guard failed: {where} == {sizes[want[0]]} (got "
                                         f"{got}: it is {symbol}, as an earlier dim)")
        return sizes


def _bound(high):
    return "inf" if high == math.inf else high
