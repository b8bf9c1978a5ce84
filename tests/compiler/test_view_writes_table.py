"""Writes through every kind of view inside compiled code, against torch: for each view op,
a compiled function writes through the view (an in-place op, an index assignment, copy_)
and then reads the base and the view. The base is a local value computed from an input
that requires grad, or an argument (the caller's tensor, which torch writes); the write
runs in grad mode or under no_grad. Each case must give torch's values and gradients (in
one graph, or after a graph break whose eager run gives them) or torch's error: never a
write lost silently. Before tracing/strided_views' unfold was held as sharing memory with
its input, every unfold case lost the write (the traced unfold is a copy)."""
import contextlib
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close


def _complex(lib, a):
    return lib.view_as_complex(a.unflatten(1, (2, 2)))


# view name -> the view of a (3, 4) float64 base a
VIEWS = {
    "unfold": lambda lib, a: a.unfold(1, 2, 2),
    "unfold of rows": lambda lib, a: a.unfold(0, 1, 2),
    "unfold, overlapping windows": lambda lib, a: a.unfold(0, 2, 1),
    "unfold then index": lambda lib, a: a.unfold(1, 2, 2)[1],
    "diagonal": lambda lib, a: a.diagonal(),
    "diagonal above": lambda lib, a: a.diagonal(1),
    "narrow": lambda lib, a: a.narrow(1, 1, 2),
    "select": lambda lib, a: a.select(1, 2),
    "integer index": lambda lib, a: a[1],
    "t": lambda lib, a: a.t(),
    "transpose": lambda lib, a: a.transpose(0, 1),
    "swapaxes": lambda lib, a: a.swapaxes(0, 1),
    "movedim": lambda lib, a: a.unsqueeze(0).movedim(0, 2),
    "unsqueeze": lambda lib, a: a.unsqueeze(1),
    "squeeze": lambda lib, a: a[:1].squeeze(0),
    "split": lambda lib, a: a.split(2, 1)[1],
    "chunk": lambda lib, a: a.chunk(2, 0)[0],
    "unbind": lambda lib, a: a.unbind(0)[1],
    "expand_as": lambda lib, a: a[:1].expand_as(a),
    "unflatten": lambda lib, a: a.unflatten(1, (2, 2)),
    "view merging dims": lambda lib, a: a.view(-1),
    "reshape merging dims": lambda lib, a: a.reshape(2, -1),
    "view(dtype)": lambda lib, a: a.view(lib.int64),
    "view_as_complex": _complex,
    ".real": lambda lib, a: _complex(lib, a).real,
    ".imag": lambda lib, a: _complex(lib, a).imag,
    "view_as_real": lambda lib, a: lib.view_as_real(_complex(lib, a)),
}

WRITES = {
    "mul_": lambda v: v.mul_(2),
    "index assign": lambda v: v.__setitem__(0, 7),
    "copy_": lambda v: v.copy_(v * 0 + 3),
}

# torch's values for an in-place op through overlapping windows depend on its loop order
# (each element is read and written once per window): no one answer to compare with
_UNDEFINED = {("unfold, overlapping windows", "mul_")}

# known differences from torch, in eager code as well (so a graph break cannot mend them):
# refusals or wrong numbers, each a bug to fix in eager first
_EXPANDED = ("torch writes a part of an expanded view that does not overlap itself (v[0]); "
             "tracecomp refuses any write (eager: numpy's read-only error)")
_KNOWN = {
    ("expand_as", "index assign", True, False): _EXPANDED,
    ("expand_as", "index assign", False, False): _EXPANDED,
    ("expand_as", "index assign", False, True): _EXPANDED,    # (local under no_grad: torch
    #                                                           refuses too, the view's mode)
    ("unfold, overlapping windows", "index assign", True, False): "in grad mode eager's write "
    "copies the whole view back, so the later window's old values overwrite the row written",
}

_RNG = np.random.default_rng(60)
_X = _RNG.standard_normal((3, 4))
_W = _RNG.standard_normal((3, 4))


def _case(lib, view, write, local, no_grad):
    def fn(x, b, w):
        base = x * 2 if local else b
        with lib.no_grad() if no_grad else contextlib.nullcontext():
            v = view(lib, base)
            write(v)
        loss = (base * w).sum() + (x * base).sum()
        return loss, base * 1, v * 1
    return fn


def _run(lib, fn):
    x = lib.tensor(_X, requires_grad=True)
    b = lib.tensor(_X * 3)
    try:
        loss, base, v = fn(x, b, lib.tensor(_W))
        loss.backward()
    except Exception as e:      # noqa: BLE001  (torch's refusal: ours must refuse too)
        return e
    return loss, base, v, x.grad, b


def _params():
    for view in VIEWS:
        for write in WRITES:
            for local in (True, False):
                for no_grad in (False, True):
                    key = (view, write, local, no_grad)
                    known = _KNOWN.get(key)
                    if key[:2] in _UNDEFINED:
                        continue
                    marks = [pytest.mark.xfail(reason=known, strict=True)] if known else []
                    yield pytest.param(*key, marks=marks, id="-".join(
                        (view, write, "local base" if local else "argument base",
                         "no_grad" if no_grad else "grad mode")))


@pytest.mark.parametrize(("view", "write", "local", "no_grad"), list(_params()))
def test_a_write_through_a_view_is_torchs_or_refused(view, write, local, no_grad):
    want = _run(torch, _case(torch, VIEWS[view], WRITES[write], local, no_grad))
    compiled = tc.compile(_case(tc, VIEWS[view], WRITES[write], local, no_grad))
    _agrees(compiled, want)


def _base_written(lib, view, local, no_grad):
    def fn(x, b, w):
        base = x * 2 if local else b
        v = view(lib, base)
        with lib.no_grad() if no_grad else contextlib.nullcontext():
            base.mul_(w)        # the other way: the view must see its base's write
        read = v.real.pow(2).sum() if v.is_floating_point() or v.is_complex() else 0
        return (base * w).sum() + read, base * 1, v * 1
    return fn


def _base_params():
    for view in VIEWS:
        for local in (True, False):
            for no_grad in (False, True):
                known = view in _MULTI and local
                yield pytest.param(view, local, no_grad, id="-".join(
                    (view, "local base" if local else "argument base",
                     "no_grad" if no_grad else "grad mode")), marks=[pytest.mark.xfail(
                         reason=_MULTI[view], strict=True)] if known else [])


# torch refuses to read an output of unbind/split/chunk whose base (which requires grad) changed in
# place; tracecomp reads it, eagerly too (the values are right)
_READ_MULTI = ("tracecomp reads an output of unbind/split/chunk whose base changed in place "
               "(eager too), where torch refuses")
_MULTI = dict.fromkeys(("unbind", "split", "chunk"), _READ_MULTI)


@pytest.mark.parametrize(("view", "local", "no_grad"), list(_base_params()))
def test_a_view_read_after_its_base_is_written_is_torchs_or_refused(view, local, no_grad):
    want = _run(torch, _base_written(torch, VIEWS[view], local, no_grad))
    compiled = tc.compile(_base_written(tc, VIEWS[view], local, no_grad))
    _agrees(compiled, want)


def _agrees(compiled, want):
    """Two calls of the compiled case (the second runs the cached code) give torch's values,
    or refuse where torch refused."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")         # a graph break's warning
        for _ in range(2):
            got = _run(tc, compiled)
    if isinstance(want, Exception):
        assert isinstance(got, Exception), f"torch refused ({want}), compiled code did not"
        return
    if isinstance(got, Exception):
        raise got
    for mine, theirs, what in zip(got, want, ("loss", "the base", "the view",
                                              "x's gradient", "the argument")):
        assert_close(mine, theirs, rtol=1e-12, atol=1e-12, what=what)
