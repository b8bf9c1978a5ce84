"""tracecomp.testing.assert_close: torch.testing's comparison of tensors, numbers and
nested sequences and mappings of them, with torch's default tolerances per dtype and its
messages (a tutorial's `torch.testing.assert_close(out, expected)`).

Each pair is compared in float64 on the host: |actual - expected| <= atol + rtol *
|expected|, NaNs equal only with equal_nan; dtypes and shapes must match first (the
dtype check can be turned off), and integers and bools must be equal.
"""
from collections.abc import Mapping, Sequence

import numpy as np

from . import support as _support
from .devices import to_host
from .dtypes import np_kind
from .tensor import Tensor

# torch's default (rtol, atol) by dtype; integers and bools compare exactly
_TOLERANCES = {"float16": (1e-3, 1e-5), "bfloat16": (1.6e-2, 1e-5), "float32": (1.3e-6, 1e-5),
               "float64": (1e-7, 1e-7), "complex64": (1.3e-6, 1e-5),
               "complex128": (1e-7, 1e-7)}


def assert_close(actual, expected, *, allow_subclasses=True, rtol=None, atol=None,
                 equal_nan=False, check_device=True, check_dtype=True, check_layout=True,
                 check_stride=False, msg=None):
    if (rtol is None) != (atol is None):
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got "
                         f"no {'rtol' if rtol is None else 'atol'}.")
    _compare(actual, expected, (), dict(rtol=rtol, atol=atol, equal_nan=equal_nan,
                                        check_device=check_device, check_dtype=check_dtype,
                                        msg=msg))


def _compare(actual, expected, path, options):
    if isinstance(actual, Mapping) and isinstance(expected, Mapping):
        if set(actual) != set(expected):
            _fail(f"The keys of the mappings do not match:\nactual: {sorted(map(repr, actual))}"
                  f"\nexpected: {sorted(map(repr, expected))}", path, options)
        for key in expected:
            _compare(actual[key], expected[key], path + (key,), options)
        return
    if _is_sequence(actual) and _is_sequence(expected):
        if len(actual) != len(expected):
            _fail(f"The length of the sequences mismatch: {len(actual)} != {len(expected)}",
                  path, options)
        for k, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, path + (k,), options)
        return
    if isinstance(actual, Tensor) or isinstance(expected, Tensor):
        _compare_tensors(_as_tensor(actual), _as_tensor(expected), path, options)
        return
    if isinstance(actual, (bool, int, float, complex)) and \
            isinstance(expected, (bool, int, float, complex)):
        _compare_numbers(actual, expected, path, options)
        return
    if actual is None and expected is None:
        return
    raise TypeError(f"No comparison pair was able to handle inputs of type {type(actual)} and "
                    f"{type(expected)}.")


def _is_sequence(x):
    return isinstance(x, Sequence) and not isinstance(x, str)


def _as_tensor(x):
    from .creation import tensor
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray | bool | int | float):
        return tensor(x)
    raise TypeError(f"No comparison pair was able to handle inputs of type {type(x)}: a "
                    f"tensor is compared with tensors, numpy arrays or numbers")


def _compare_tensors(actual, expected, path, options):
    if options["check_device"] and actual.device != expected.device:
        _fail(f"The values for attribute 'device' do not match: {actual.device} != "
              f"{expected.device}.", path, options)
    if options["check_dtype"] and actual.dtype != expected.dtype:
        _fail(f"The values for attribute 'dtype' do not match: {actual.dtype} != "
              f"{expected.dtype}.", path, options)
    if tuple(actual.shape) != tuple(expected.shape):
        _fail(f"The values for attribute 'shape' do not match: {actual.shape} != "
              f"{expected.shape}.", path, options)
    a = np.asarray(to_host(actual.detach()._data))
    e = np.asarray(to_host(expected.detach()._data))
    rtol, atol = _tolerances(actual, expected, options)
    exact = rtol == 0 and atol == 0
    bad = _mismatches(a, e, rtol, atol, options["equal_nan"])
    if not bad.any():
        return
    # the differences in the tensors' own dtype, as torch reports them (integers' relative
    # one in float32)
    common = np.result_type(a, e)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if np_kind(common) in "biu":
            diff = np.abs(a.astype(np.int64) - e.astype(np.int64))
            rel = diff.astype(np.float32) / np.abs(e.astype(np.float32))
        else:
            diff = np.abs(a.astype(common) - e.astype(common))
            rel = diff / np.abs(e.astype(common))
    at = np.unravel_index(int(np.nanargmax(diff)) if not np.isnan(diff).all() else 0, a.shape)
    rel_at = np.unravel_index(int(np.nanargmax(rel)) if not np.isnan(rel).all() else 0,
                              a.shape)
    n, total = int(bad.sum()), bad.size
    allowed = "" if exact else f" (up to {atol} allowed)"
    allowed_rel = "" if exact else f" (up to {rtol} allowed)"
    _fail(f"Tensor-likes are not {'equal' if exact else 'close'}!\n\n"
          f"Mismatched elements: {n} / {total} ({100 * n / total:.1f}%)\n"
          f"Greatest absolute difference: {diff[at].item()} at index {tuple(map(int, at))}"
          f"{allowed}\n"
          f"Greatest relative difference: {rel[rel_at].item()} at index "
          f"{tuple(map(int, rel_at))}{allowed_rel}", path, options)


def _compare_numbers(actual, expected, path, options):
    exact = all(isinstance(v, (bool, int)) for v in (actual, expected))
    rtol, atol = (0.0, 0.0) if exact else (options["rtol"], options["atol"])
    if rtol is None:
        rtol, atol = _TOLERANCES["float64"]
    if not _mismatches(np.array(actual), np.array(expected), rtol, atol,
                       options["equal_nan"]).any():
        return
    diff = abs(actual - expected)
    rel = diff / abs(expected) if expected else float("inf")
    tail = "" if exact else f" (up to {atol} allowed)"
    tail_rel = "" if exact else f" (up to {rtol} allowed)"
    _fail(f"Scalars are not {'equal' if exact else 'close'}!\n\nExpected {expected} but got "
          f"{actual}.\nAbsolute difference: {diff}{tail}\nRelative difference: {rel}"
          f"{tail_rel}", path, options)


def _tolerances(actual, expected, options):
    if options["rtol"] is not None:
        return options["rtol"], options["atol"]
    found = [_TOLERANCES.get(t._data.dtype.name, (0.0, 0.0)) for t in (actual, expected)]
    return max(f[0] for f in found), max(f[1] for f in found)


def _mismatches(a, e, rtol, atol, equal_nan):
    if np_kind(a.dtype) in "biu" and np_kind(e.dtype) in "biu" and rtol == 0 and atol == 0:
        return a != e
    wide = np.complex128 if "c" in np_kind(a.dtype) + np_kind(e.dtype) else np.float64
    a64, e64 = a.astype(wide), e.astype(wide)
    with np.errstate(invalid="ignore"):
        close = np.abs(a64 - e64) <= atol + rtol * np.abs(e64)
        close |= a64 == e64         # infinities of one sign
    if equal_nan:
        close |= np.isnan(a64) & np.isnan(e64)
    return ~close


def _fail(text, path, options):
    if path:
        text += "\n\nThe failure occurred for item " + "".join(f"[{k!r}]" for k in path)
    message = options["msg"]
    if callable(message):
        text = message(text)
    elif message is not None:
        text = message
    raise AssertionError(text)


__getattr__ = _support.missing_in("torch.testing")     # make_tensor, ...: named as missing
