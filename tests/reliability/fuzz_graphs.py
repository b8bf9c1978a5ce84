"""Random small programs over the op table (tests/op_table.py), for the differential fuzzer.

A `Program` is 1-3 input arrays, 2-8 steps and 1-2 outputs. Each step applies one op-table
case (`fn(lib, *args)`, written once for tracecomp and torch) to earlier values; an argument
first goes through the adapter for the case's input domain, so log/sqrt/div/acos... see the
values the table itself samples (positive, nonzero, |x| < 0.9, no ties). `Program.source()`
is runnable Python: the failure message of the fuzz test, and a repro in one paste.

Generation takes a `Draw` (hypothesis' `data.draw`, or `RandomDraw` for plain sweeps), so the
same code serves the CI test, hypothesis' shrinking and the long local run. Whether the
arguments of a step fit (shapes, dtypes) is asked of torch once per signature (`fits`).
"""
import inspect
import random
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from op_table import BY_NAME, CASES

# Cases the fuzzer never draws, and why: none of these is a bug workaround.
EXCLUDED = {
    # the output's shape depends on the values (boolean-mask indexing): tracing refuses it
    # by design, tests/compiler/test_compile_ops.py checks that refusal
    "index_mask_values": "data-dependent output shape, refused by tracing on purpose",
}
# Cases whose table function is only written for some ranks: the table's `pad` helper turns
# torch's F.pad (which pads the last dims) into the pad primitive's one entry per dim for 2-d
# inputs only, so other ranks would compare two different programs.
RANKS = {"pad": (2,), "pad_crop": (2,)}
# The table's _spd helper (a @ a.mT + 4 I, I of a's last dim) is positive definite only for
# square a: on a (3, 1) input it broadcasts 4 over a rank-1 matrix, which is singular.
SQUARE = {"linalg_solve", "linalg_cholesky", "linalg_inv_det"}
# Cases with Int/Mask arguments (gather, scatter, where, losses with targets) need index or
# mask tensors built for their shapes; they stay with the op-table tests (not drawn here).
OPS = [c for c in CASES if c.name not in EXCLUDED
       and all(isinstance(s, tuple) for v in c.variants for s in v)]

FLOAT = ("float32", "float64")
MAX_NUMEL = 4096            # keeps kron / cartesian_prod / repeat chains small


@dataclass(frozen=True)
class Value:
    name: str
    shape: tuple
    dtype: str              # torch spelling: float32, float64, int64, bool


@dataclass(frozen=True)
class Step:
    case: str               # op-table name
    args: tuple             # Value names
    outs: tuple             # Value names it defines (several for tuple-returning ops)
    seq: bool = False       # the case returns a tuple or list (unpacked into `outs`)


@dataclass(frozen=True)
class Program:
    inputs: tuple           # numpy arrays
    steps: tuple
    outputs: tuple          # Value names
    values: dict = field(default_factory=dict, compare=False)   # name -> Value
    weight_seed: int = 0    # random weights of the outputs in the loss

    def source(self):
        """The program as a Python function `program(lib, x0, ...)`."""
        names = ", ".join(f"x{i}" for i in range(len(self.inputs)))
        lines = [f"def program(lib, {names}):"]
        for s in self.steps:
            case = BY_NAME[s.case]
            args = ", ".join(adapt(case, self.values[a]) for a in s.args)
            outs = ", ".join(s.outs) + ("," if s.seq and len(s.outs) == 1 else "")
            lines.append(f"    {outs} = T[{s.case!r}].fn(lib, {args})  # {_table_src(case)}")
        lines.append(f"    return ({', '.join(self.outputs)},)")
        return "\n".join(lines)

    def inputs_source(self):
        return "\n".join(f"x{i} = np.array({a.tolist()!r}, dtype=np.{a.dtype}).reshape"
                         f"({a.shape!r})" for i, a in enumerate(self.inputs))

    def repro(self):
        """A script to run from the repository root, with the test suite's settings."""
        return "\n".join([
            "import os, sys; sys.path[:0] = ['tests', 'tests/reliability']",
            "os.environ.update(TRACECOMP_CHECK_SHAPES='1', TRACECOMP_VERIFY='1')",
            "import numpy as np",
            "from op_table import BY_NAME as T",
            "from fuzz_graphs import positive, nonzero, unit, distinct, conditioned, finite, ties",
            "from fuzz_compare import compare", "",
            self.source(), "", self.inputs_source(),
            f"print(compare(program, [{', '.join(f'x{i}' for i in range(len(self.inputs)))}], "
            f"weight_seed={self.weight_seed}, steps={len(self.steps)}, "
            f"float64_only={self.float64_only()}))"])

    def float64_only(self):
        """No float32 value anywhere: float64 tolerances apply."""
        used = [f"x{i}" for i in range(len(self.inputs))] + [o for s in self.steps
                                                              for o in s.outs]
        return all(self.values[n].dtype != "float32" for n in used)

    def function(self):
        names = namespace()
        exec(compile(self.source(), "<fuzz program>", "exec"), names)
        return names["program"]


def _table_src(case):
    """The case's lambda, for the reader of a failure (first source line, trimmed)."""
    try:
        line = inspect.getsource(case.fn).strip().splitlines()[0]
    except (OSError, TypeError):
        return case.name
    return line[:90]


# --- domain adapters: map any value into the inputs the case was written for ---------------
def positive(lib, x):
    """(0.5, 2.5) for floats, 1..5 for integers: as op_table.sample's `positive`."""
    if x.dtype.is_floating_point:
        return lib.sigmoid(x) * 2 + 0.5
    return x.abs() % 5 + 1


def nonzero(lib, x):
    """|x| >= 0.3 for floats (a shift away from 0), x != 0 for integers. A float within
    rounding noise of 0 (|x| < 1e-5, e.g. an off-diagonal of vh.mT @ vh) counts as 0: its
    sign is an accident of rounding that two correct libraries need not share."""
    if x.dtype.is_floating_point:
        x = lib.where(x.abs() < 1e-5, x * 0, x)
        return lib.where(x >= 0, x + 0.3, x - 0.3)
    return lib.where(x >= 0, x + 1, x)


def unit(lib, x):
    """|x| < 0.9: asin, atanh, erfinv, logit."""
    return lib.tanh(x) * 0.9


def distinct(lib, x):
    """No two elements within 0.17 of each other (max, sort, median...): a fixed ramp."""
    n = int(np.prod(tuple(x.shape)))
    ramp = np.random.default_rng(n).permutation(n).reshape(tuple(x.shape))
    if x.dtype.is_floating_point:
        return lib.tanh(x) * 0.1 + lib.tensor(ramp * 0.37, dtype=x.dtype)
    return x % 3 * n + lib.tensor(ramp, dtype=x.dtype)


def conditioned(lib, x):
    """Matrices far from singular, with separated singular values and eigenvalues: small
    entries plus 1, 2, 3... on the diagonal. Linear-algebra gradients are unbounded near a
    singular matrix or a repeated eigenvalue (the table's random inputs never are; values
    computed by a program often are, e.g. equal rows after max-pooling). NaN becomes 0:
    what LAPACK makes of a matrix holding NaN is not defined (torch's qr gave R[0, 0] =
    0.277 for a NaN column)."""
    if x.ndim < 2 or not x.dtype.is_floating_point:
        return x
    m, n = tuple(x.shape[-2:])
    ramp = np.zeros((m, n))
    ramp[np.arange(min(m, n)), np.arange(min(m, n))] = np.arange(1, min(m, n) + 1)
    return lib.tanh(lib.nan_to_num(x, nan=0.0)) * 0.3 + lib.tensor(ramp, dtype=x.dtype)


def ties(lib, x):
    """Floats within rounding noise (1e-5) of a multiple of 1/2 become it: a "ties" case
    compares or clamps at such values on purpose (x == 1.0, x <= 0.5, sign at 0), and a
    value that is 1 only up to rounding (svd's reconstruction of a 1) falls on either side
    of it in two correct libraries. Integers pass unchanged."""
    if not x.dtype.is_floating_point:
        return x
    near = (x * 2).round() / 2
    return lib.where((x - near).abs() < 1e-5, near.detach(), x)


def finite(lib, x):
    """NaN -> 0, for a case whose torch answer with NaNs is undefined."""
    return lib.nan_to_num(x, nan=0.0) if x.dtype.is_floating_point else x


ADAPTERS = {"positive": positive, "nonzero": nonzero, "unit": unit, "distinct": distinct,
            "conditioned": conditioned, "finite": finite, "ties": ties}
# linear algebra: the case's matrices go through `conditioned` (solve and cholesky build
# a @ a.mT + 4 I, which is ill-conditioned too when the entries of a are large)
CONDITIONED = {"linalg_inv_det", "linalg_eigh", "linalg_qr", "linalg_svd", "linalg_pinv",
               "linalg_lstsq", "linalg_solve", "linalg_cholesky", "matrix_norm"}
# torch's CPU mode sorts each row with `<` and counts runs of ==; with NaNs present its own
# source calls the result undefined (a row [1, nan, nan] gives 1, [nan, 1, nan] gives nan)
NAN_UNDEFINED = {"mode"}


def adapt(case, value):
    src = value.name
    if not case.grad and value.dtype in FLOAT:
        src += ".detach()"          # forward-only case: keep it off the gradient path
    domain = "conditioned" if case.name in CONDITIONED else \
        "finite" if case.name in NAN_UNDEFINED else case.domain
    if domain in ADAPTERS:
        src = f"{domain}(lib, {src})"
    return src


def namespace(lib=None):
    """What a program's source refers to."""
    return {"T": BY_NAME, "np": np, "lib": lib, **ADAPTERS}


# --- does a step fit? torch answers once per signature ----------------------------------------
_FITS = {}


def _dummy(value, rng, grad):
    if value.dtype == "bool":
        return torch.from_numpy(rng.random(value.shape) < 0.5)
    if value.dtype == "int64":
        return torch.from_numpy(rng.integers(-3, 4, value.shape).astype(np.int64))
    t = torch.from_numpy(rng.uniform(-2, 2, value.shape).astype(value.dtype))
    return t.requires_grad_(grad)


def fits(case, args):
    """(returns a sequence, [(shape, dtype) of each output]) when torch runs `case` on these
    args, else None."""
    key = (case.name, tuple((a.shape, a.dtype) for a in args))
    if key not in _FITS:
        _FITS[key] = _try(case, args)
    return _FITS[key]


def _try(case, args):
    allowed = FLOAT + (("int64",) if "int64" in case.dtypes else ())
    if any(a.dtype not in allowed for a in args):
        return None
    if case.name in RANKS and any(len(a.shape) not in RANKS[case.name] for a in args):
        return None
    if case.name in SQUARE and (len(args[0].shape) < 2 or args[0].shape[-1] != args[0].shape[-2]):
        return None
    out = _torch_call(case, args)
    if out is None:
        return None
    # torch skips some checks when a tensor is empty: it does not bounds-check an index
    # (x[range(3)] of a (2, 0, 3) tensor returns (3, 0, 3)) nor match batch dims of 0 and 2
    # in attention; tracecomp raises the error it raises for the same non-empty call, which
    # we keep. So a call with size-0 dims must also fit with those dims at 7 (no other size
    # drawn is 7: a mismatch with it is not hidden)
    if any(0 in a.shape for a in args) and _torch_call(case, [_nonempty(a) for a in args]) is None:
        return None
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    if not outs or not all(isinstance(o, torch.Tensor) for o in outs):
        return None
    if case.name.startswith(("index_", "setitem_")) and case.name != "index_empty_slice" \
            and any(o.numel() == 0 for o in outs):
        return None
    if any(o.numel() > MAX_NUMEL or o.is_complex() for o in outs):
        return None
    return (isinstance(out, (tuple, list)),
            [(tuple(o.shape), str(o.dtype).split(".")[-1]) for o in outs])


def _nonempty(value):
    return replace(value, shape=tuple(d or 7 for d in value.shape))


def _torch_call(case, args):
    """What the case returns in torch on random values of these shapes; None if it raises."""
    rng = np.random.default_rng(0)
    names = namespace(torch)
    names.update({a.name: _dummy(a, rng, case.grad) for a in args})
    call = f"T[{case.name!r}].fn(lib, {', '.join(adapt(case, a) for a in args)})"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return eval(call, names)
    except Exception:  # noqa: BLE001 - any refusal by torch means "does not fit"
        return None


# --- drawing a program ----------------------------------------------------------------------
class RandomDraw:
    """The `Draw` interface over random.Random, for sweeps outside hypothesis."""

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def integer(self, lo, hi):
        return self.rng.randint(lo, hi)


class HypothesisDraw:
    def __init__(self, data):
        from hypothesis import strategies as st
        self.data, self.st = data, st

    def integer(self, lo, hi):
        return self.data.draw(self.st.integers(lo, hi))


def _choice(draw, seq):
    return seq[draw.integer(0, len(seq) - 1)]


def _shape(draw, base=None):
    """Small shapes; with `base`, often one that broadcasts against it."""
    if base is not None and draw.integer(0, 3):
        kind = draw.integer(0, 3)
        if kind == 0:
            return base
        if kind == 1:   # some dims set to 1
            return tuple(1 if draw.integer(0, 1) else d for d in base)
        if kind == 2:   # a suffix
            return base[draw.integer(0, len(base)):]
        return (draw.integer(1, 3),) + base          # one more leading dim
    rank = draw.integer(0, 3)
    return tuple(0 if draw.integer(0, 19) == 0 else draw.integer(1, 4) for _ in range(rank))


def _input_shapes(draw):
    """1-3 shapes: random ones, or (1 in 3) the shapes of an op-table variant, so that ops
    with strict shape rules (conv, linalg, pooling) get drawn too."""
    if draw.integer(0, 2) == 0:
        case = _choice(draw, OPS)
        specs = _choice(draw, case.variants)
        return list(specs)
    n = draw.integer(1, 3)
    shapes = [_shape(draw)]
    for _ in range(n - 1):
        shapes.append(_shape(draw, shapes[0]))
    return shapes


def _input_array(draw, shape):
    dtype = _choice(draw, ("float32",) * 5 + ("float64", "int64"))
    rng = np.random.default_rng(draw.integer(0, 2 ** 16))
    if dtype == "int64":
        return rng.integers(-3, 4, shape).astype(np.int64)
    if draw.integer(0, 4) == 0:     # small integers: ties, values on clamp boundaries
        return rng.integers(-2, 3, shape).astype(dtype)
    return rng.uniform(-2, 2, shape).astype(dtype)


def draw_program(draw):
    arrays = [_input_array(draw, s) for s in _input_shapes(draw)]
    values = {f"x{i}": Value(f"x{i}", a.shape, str(a.dtype)) for i, a in enumerate(arrays)}
    pool = list(values.values())
    steps = []
    for _ in range(draw.integer(2, 8)):
        step = _draw_step(draw, pool, len(pool))
        if step is None:
            continue
        step, outs = step
        steps.append(step)
        pool.extend(outs)
        values.update((v.name, v) for v in outs)
    if not steps:
        return None
    made = [v for v in pool if not v.name.startswith("x")]
    outputs = [made[-1].name]
    if draw.integer(0, 1):
        other = _choice(draw, made).name
        if other != outputs[0]:
            outputs.append(other)
    return Program(tuple(arrays), tuple(steps), tuple(outputs), values,
                   weight_seed=draw.integer(0, 999))


def _draw_step(draw, pool, counter, tries=12):
    for _ in range(tries):
        case = _choice(draw, OPS)
        arity = len(case.variants[0])
        args = tuple(pool[-1] if draw.integer(0, 2) == 0 else _choice(draw, pool)
                     for _ in range(arity))
        out = fits(case, args)
        if out is None:
            continue
        seq, shapes = out
        outs = tuple(Value(f"v{counter + i}", s, d) for i, (s, d) in enumerate(shapes))
        names = tuple(v.name for v in outs)
        return Step(case.name, tuple(a.name for a in args), names, seq), outs
    return None


# --- shrinking (for sweeps; hypothesis shrinks on its own) ------------------------------------
def only_outputs(program, outputs):
    """The program cut down to what `outputs` need (dead steps and unused inputs dropped
    ... inputs are kept, so names stay valid)."""
    need, steps = set(outputs), []
    for s in reversed(program.steps):
        if need & set(s.outs):
            steps.append(s)
            need |= set(s.args)
    return replace(program, steps=tuple(reversed(steps)), outputs=tuple(outputs))
