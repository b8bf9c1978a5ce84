"""Compiled versions per function are bounded (issue 10 item 12: 200 recompiles kept 200
versions, +148 MB): least recently used evicted, the eviction logged, an evicted shape
compiled again when called, the recompile-limit warning unchanged. New shapes are what
makes the versions here, so the tests compile with dynamic=False: with dynamic shapes a
new size is traced and runs one dynamic graph, and is not counted as a compile (its
version is still held and bounded alike)."""
import gc
import logging
import warnings
import weakref

import numpy as np
import pytest

import tracecomp as tc
from tracecomp import nn
from tracecomp.artifact_cache import CACHE_SIZE


def _affine(x):
    return x * 2 + 1


def _check(f, n):
    got = f(tc.arange(n, dtype=tc.float32)).numpy()
    np.testing.assert_array_equal(got, np.arange(n, dtype=np.float32) * 2 + 1)


def test_artifacts_held_are_bounded_and_evicted_ones_freed(caplog):
    f = tc.compile(_affine, cache_size=3, recompile_limit=100, dynamic=False)
    held = []
    with caplog.at_level(logging.DEBUG, logger="tracecomp"):
        for n in range(1, 9):
            _check(f, n)
            held.append(weakref.ref(f.last))
    assert len(f.cache) == 3 and f.compiles == 8
    evicted = [r for r in caplog.records if "evicted a compiled version" in r.getMessage()]
    assert len(evicted) == 5 and "_affine" in evicted[0].getMessage()
    gc.collect()
    assert [r() is None for r in held] == [True] * 5 + [False] * 3, \
        "evicted versions must not stay referenced (their code and buffers are freed)"


def test_evicted_shape_recompiles_and_recent_shapes_hit():
    f = tc.compile(_affine, cache_size=2, recompile_limit=100, dynamic=False)
    for n in (1, 2, 3):
        _check(f, n)
    assert f.compiles == 3
    _check(f, 3)
    _check(f, 2)            # still held: no compile
    assert f.compiles == 3
    _check(f, 1)            # evicted: compiled again, same numbers
    assert f.compiles == 4 and len(f.cache) == 2


def test_least_recently_used_goes_first():
    f = tc.compile(_affine, cache_size=2, recompile_limit=100, dynamic=False)
    _check(f, 1)
    _check(f, 2)
    _check(f, 1)            # 1 is now more recent than 2
    _check(f, 3)            # evicts 2
    before = f.compiles
    _check(f, 1)
    assert f.compiles == before
    _check(f, 2)
    assert f.compiles == before + 1


def test_default_bound_and_module_option():
    assert tc.compile(_affine).cache.size == CACHE_SIZE
    model = nn.Linear(3, 2)
    compiled = tc.compile(model, cache_size=1)
    with tc.no_grad():
        for rows in (1, 2, 3):
            want = model(tc.ones(rows, 3)).numpy()
            np.testing.assert_allclose(compiled(tc.ones(rows, 3)).numpy(), want, rtol=1e-6)
    assert len(compiled._compiled.cache) == 1
    assert tc.compile(_affine, cache_size=None).cache.size is None


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "4"])
def test_bad_cache_size_is_a_value_error(bad):
    with pytest.raises(ValueError, match="cache_size must be a positive int or None"):
        tc.compile(_affine, cache_size=bad)


def test_recompile_limit_warning_still_fires_past_the_bound():
    f = tc.compile(_affine, cache_size=2, recompile_limit=3, dynamic=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in range(1, 6):
            _check(f, n)
    messages = [str(w.message) for w in caught if "recompiled" in str(w.message)]
    assert len(messages) == 2 and "limit 3" in messages[0]
