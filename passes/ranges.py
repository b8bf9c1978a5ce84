"""Value ranges of integer tensors: bounds that every element provably lies within.

    bounds(node) -> (lo, hi), every element in [lo, hi]; or None (unknown)

A backend uses them to read through an index without checking it: a gather whose indices
provably lie inside the gathered dim is a plain load (codegen/llvm/lower/select.py); any other
gather keeps its numpy impl, which checks. What is known comes from the ops that bound
their values, through the ops that keep them:

  - argmax/argmin over a dim of size m: [0, m - 1];
  - check_range(x, low, high, ignore): [low, high - 1], and the one value `ignore` (the
    guard lets it through), which `where(x != ignore, x, c)` then replaces by c: how
    cross_entropy makes a target with ignore_index safe to gather with;
  - views and detach keep their input's values; an integer constant has its min and max;
  - a graph input carries the `value_range` that partition recorded for a saved value (the
    backward graph's copy of a forward index), or that a guard checked on it before the
    graph ran (`guarded`).

Ranges are tracked as (lo, hi, points): the interval, plus single values outside it, so
that a `where` can remove the point a guard let through.
"""
import numpy as np

KEEP = ("reshape", "expand", "permute", "slice", "detach")


def bounds(node):
    """(lo, hi) with every element of node in [lo, hi], or None when nothing is known."""
    r = _range(node)
    if r is None:
        return None
    lo, hi, points = r
    return min((lo, *points)), max((hi, *points))


def _range(node):
    op = getattr(node, "op", None)
    if op is None:                          # a Python number operand
        return (node, node, ()) if isinstance(node, (int, np.integer)) \
            and not isinstance(node, bool) else None
    if node.dtype.kind not in "iu":
        return None
    rule = RULES.get(op)
    return rule(node) if rule else None


def guarded(node):
    """(lo, hi, points) that a guard node lets through (a graph input's `value_range` once
    the guard runs before the graph: codegen/llvm/input_guards.py), or None."""
    return _range(node)


def _input(node):
    known = node.params.get("value_range")      # (lo, hi) or (lo, hi, points)
    if not known:
        return None
    return known[0], known[1], tuple(known[2]) if len(known) > 2 else ()


def _arg_extremum(node):
    dim = node.params["dim"]
    return None if dim is None else (0, node.inputs[0].shape[dim] - 1, ())


def _check_range(node):
    p = node.params
    lo, hi, ignore = p["low"], p["high"] - 1, p["ignore"]
    return lo, hi, () if ignore is None or lo <= ignore <= hi else (ignore,)


def _where(node):
    """where(x != k, x, c) drops the point k from x's range; any where joins its ranges."""
    cond, a, b = node.inputs
    ra, rb = _range(a), _range(b)
    if ra is None or rb is None:
        return None
    if getattr(cond, "op", None) == "ne" and any(x is a for x in cond.inputs):
        k = cond.inputs[1] if cond.inputs[0] is a else cond.inputs[0]
        ra = (ra[0], ra[1], tuple(p for p in ra[2] if p != k))
    lo, hi = min(ra[0], rb[0]), max(ra[1], rb[1])
    return lo, hi, tuple(p for p in ra[2] + rb[2] if not lo <= p <= hi)


def _constant(node):
    value = node.params.get("value")    # none: a constant described by its sizes (symbolic.py)
    return (int(value.min()), int(value.max()), ()) if value is not None and value.size \
        else None


RULES = {"input": _input, "argmax": _arg_extremum, "argmin": _arg_extremum,
         "check_range": _check_range, "where": _where, "constant": _constant,
         **{op: lambda node: _range(node.inputs[0]) for op in KEEP}}
