"""Probing one torch API against tracecomp's: does it exist, run, and give torch's answer,
eagerly and compiled? What the support table (SUPPORT.md) says is what these probes saw.

A probe first finds a call torch accepts, by trying argument patterns in order on fresh
inputs (a float 3x4 tensor, a square matrix, int indices, a bool mask, a list of tensors,
plain numbers ...; modules: constructor arguments, then inputs; optimizers: a few steps
on a quadratic; schedulers: a few epochs); a few APIs need a call of their own (OVERRIDES
in api_probe_calls.py). The same call then runs on tracecomp and the results are compared
(values to float32 rounding, shapes, dtypes; random results by shape and dtype only: torch
decides an op is random when two calls differ). For tensor ops and modules, the call then
runs inside tracecomp.compile on the reference backend (interp): tracing, autodiff-free
simplification and the graph it gives are what every backend starts from; see the
primitive table for which primitives the llvm backend lowers natively.

Outcomes: "yes" (runs and matches), "differs" (runs but answers differently: a bug),
"error: <Type>" (raises where torch does not), "refused: <why>" (compiled code rejects it
with a TraceError, e.g. an output shape that depends on values), "-" (absent), "n/a".
"""
import contextlib
import math
import warnings
from dataclasses import dataclass

import numpy as np

from . import api_probe_calls as calls
from .dtypes import np_kind


@dataclass
class Outcome:
    eager: str
    compiled: str = "n/a"
    call: str = ""


def _flat(value):
    """A result as a list of comparable leaves (arrays, numbers, strings, types)."""
    if isinstance(value, (tuple, list)):
        return [leaf for v in value for leaf in _flat(v)]
    if isinstance(value, dict):
        return [leaf for k in sorted(value, key=str) for leaf in _flat(value[k])]
    if hasattr(value, "detach") and hasattr(value, "shape") and hasattr(value, "dtype"):
        if str(getattr(value, "layout", "torch.strided")) != "torch.strided":
            value = value.to_dense()    # a sparse result: compared by its values
        name = str(value.dtype).split(".")[-1]
        v = value.detach().resolve_conj()           # (torch: no conj bit)
        # torch's bfloat16 has no numpy form (.numpy() raises): compare its float32 values
        arr = np.asarray((v.float() if name == "bfloat16" else v).numpy())
        return [("tensor", arr, name)]
    if isinstance(value, (bool, int, float, str, type(None))):
        return [value]
    if hasattr(value, "values") and hasattr(value, "indices"):    # (values, indices) tuples
        return _flat(tuple(value))
    return [("object", type(value).__name__)]


TOLERANCE = (1e-4, 1e-5)     # rtol, atol of two tensors' values


def same(a, b, values=True, tolerance=TOLERANCE):
    """Do two results (torch's, tracecomp's) agree? Values skipped for random results."""
    fa, fb = _flat(a), _flat(b)
    if len(fa) != len(fb):
        return False
    for x, y in zip(fa, fb):
        if isinstance(x, tuple) and x[0] == "tensor":
            if not (isinstance(y, tuple) and y[0] == "tensor") or x[1].shape != y[1].shape \
                    or x[2] != y[2]:
                return False
            if values and x[1].size and not _close(x[1], y[1], *tolerance):
                return False
        elif isinstance(x, float) and isinstance(y, float):
            if values and not (math.isclose(x, y, rel_tol=1e-4, abs_tol=1e-5)
                               or math.isnan(x) and math.isnan(y)):
                return False
        elif isinstance(x, tuple):
            continue        # two objects: their kinds may be named differently
        elif values and x != y:
            return False
    return True


def _close(x, y, rtol, atol):
    if np_kind(x.dtype) in "biu" or np_kind(y.dtype) in "biu":
        return np.array_equal(x, y)
    wide = np.complex128 if "c" in x.dtype.kind + y.dtype.kind else np.float64
    return bool(np.allclose(x.astype(wide), y.astype(wide), rtol=rtol, atol=atol,
                            equal_nan=True))


def _attempt(fn):
    """fn() -> (ok, result or exception), with warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return True, fn()
        except Exception as exc:        # noqa: BLE001 - any failure is an outcome
            return False, exc


def _error(exc):
    return f"error: {type(exc).__name__}"


def probe(kind, namespace, name, torch_obj, tc_obj):
    """The Outcome for one name; `kind` is how to call it (calls.KINDS)."""
    if tc_obj is None:
        return Outcome("-", "-")
    with _global_state_kept():
        return _probe(kind, namespace, name, torch_obj, tc_obj)


@contextlib.contextmanager
def _global_state_kept():
    """Probes call setters (set_printoptions(x), set_default_dtype, set_num_threads ...)
    with whatever arguments torch accepts: both libraries' global settings are put back
    after each probe, so no probe changes how later code (or tests) runs."""
    import torch

    import tracecomp
    saved = [(lib, lib.get_printoptions() if lib is tracecomp else
              torch._tensor_str.get_printoptions(), lib.get_default_dtype(),
              lib.is_grad_enabled(), lib.get_num_threads()) for lib in (torch, tracecomp)]
    try:
        yield
    finally:
        for lib, printing, dtype, grad, threads in saved:
            lib.set_printoptions(**printing)
            lib.set_default_dtype(dtype)
            lib.set_grad_enabled(grad)
            lib.set_num_threads(threads)


def _probe(kind, namespace, name, torch_obj, tc_obj):
    override = calls.OVERRIDES.get(f"{namespace}.{name}")
    if override is not None:
        return _run_override(override)
    runner = calls.KINDS.get(kind)
    if runner is None:
        return Outcome("yes")       # a class, dtype or module: present is what counts
    return runner(namespace, name, torch_obj, tc_obj)


def _run_override(override):
    import torch

    import tracecomp
    ok_t, want = _attempt(lambda: override(torch))
    ok, got = _attempt(lambda: override(tracecomp))
    if not ok:
        return Outcome(_error(got), call="own call")
    if ok_t and not same(want, got):
        return Outcome("differs", call="own call")
    return Outcome("yes", call="own call")


# results whose values torch leaves unspecified (uninitialized memory, a generator's own
# state format): compared by shape and dtype only, like random ones
OPAQUE = {"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided",
          "get_rng_state", "seed", "initial_seed"}


def find_call(patterns, run_torch, name=""):
    """The first pattern torch accepts, with its result and whether it is random."""
    for pattern in patterns:
        ok, result = _attempt(lambda p=pattern: run_torch(p))
        if ok:
            # two more calls: a random op's two results agree by chance too often (dropout1d
            # over 3 channels: 1 in 8), which made the table change with unrelated APIs
            random = name in OPAQUE or any(
                not (again[0] and same(result, again[1]))
                for again in (_attempt(lambda p=pattern: run_torch(p)) for _ in range(2)))
            return pattern, result, random
    return None, None, False


def compare(pattern, want, random, run_ours, run_compiled=None, tolerance=TOLERANCE):
    """Run our side of a found call, eagerly then compiled."""
    ok, got = _attempt(lambda: run_ours(pattern))
    if not ok:
        return Outcome(_error(got), "-", pattern)
    if not same(want, got, not random, tolerance):
        return Outcome("differs", "-", pattern)
    if run_compiled is None:
        return Outcome("yes", "n/a", pattern)
    return Outcome("yes", _compiled(pattern, got, random, run_compiled, tolerance), pattern)


def _compiled(pattern, eager, random, run_compiled, tolerance=TOLERANCE):
    from .errors import TraceError
    ok, got = _attempt(lambda: run_compiled(pattern))
    if not ok:
        if isinstance(got, TraceError):
            return "refused: " + _reason(str(got))
        return _error(got)
    return "yes" if same(eager, got, not random, tolerance) else "differs"


def _reason(message):
    if "depends on the data" in message or "values are not known" in message or \
            "depend on" in message:
        return "needs tensor values"
    return message.split(":")[0][:40]
