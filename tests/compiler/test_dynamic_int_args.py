"""An int argument used as a size or an offset (compiler/size_sources.py): after a few values,
one dynamic graph serves every later value, as torch.compile's automatic dynamic does for
int inputs, instead of a compile per value. Each case compares with torch or eager at every
value and counts the compiles."""
import math

import numpy as np
import torch

import tracecomp as tc
from tracecomp.compiler.dynamic import generalize

from helpers import assert_close


def _graph(fn, *args):
    f = tc.compile(fn, dynamic=False)
    f(*args)
    return f.graphs["forward.optimized"]


def test_a_slice_length_is_read_from_the_graph_as_its_symbol():
    def head(x, k):
        return x[:k] * 2
    x = tc.randn(24)
    g, where, domain = generalize([_graph(head, x, 5), _graph(head, x, 9)])
    assert where == [("node", 0, 0)] and domain.lows == (2,)
    assert "f32[s]" in str(g)


def test_an_int_argument_used_as_a_length_compiles_three_times_for_every_value():
    def head(x, k):
        return (x[:k] * 2).softmax(0)
    f = tc.compile(head)
    x = tc.randn(24)
    for k in [*range(1, 14), 20, 3, 24]:
        assert_close(f(x, k), head(x, k))
    # 1 and 2 for themselves (a size-1 dim broadcasts), then the dynamic graph at 3; at 24
    # the slice takes all of x and goes: another graph
    assert f.compiles == 4


class _Decoder:
    """One attention layer decoding a token at a time into a KV cache at `start_pos`, as
    llama's and mistral's reference models do; `lib` is tracecomp or torch."""

    def __init__(self, lib, weights, width=8, length=16):
        self.lib = lib
        self.module = lib.nn.Module()
        for name, w in weights.items():
            layer = lib.nn.Linear(width, width, bias=False)
            with lib.no_grad():
                layer.weight.copy_(lib.tensor(w))
            setattr(self.module, name, layer)
        self.module.register_buffer("cache_k", lib.zeros(1, length, width))
        self.module.register_buffer("cache_v", lib.zeros(1, length, width))
        self.width = width

    def __call__(self, x, start_pos):
        m, lib = self.module, self.lib
        q, k, v = m.wq(x), m.wk(x), m.wv(x)
        m.cache_k[:, start_pos:start_pos + 1] = k
        m.cache_v[:, start_pos:start_pos + 1] = v
        keys, values = m.cache_k[:, :start_pos + 1], m.cache_v[:, :start_pos + 1]
        scores = q @ keys.transpose(1, 2) / math.sqrt(self.width)
        return lib.softmax(scores, -1) @ values


def test_a_kv_cache_written_at_start_pos_decodes_as_torch_with_one_dynamic_graph():
    rng = np.random.default_rng(0)
    weights = {n: rng.standard_normal((8, 8)).astype(np.float32) / 3 for n in ("wq", "wk", "wv")}
    ours, theirs = _Decoder(tc, weights), _Decoder(torch, weights)
    step = tc.compile(ours.__call__)
    with tc.no_grad(), torch.no_grad():
        for pos in range(14):
            x = rng.standard_normal((1, 1, 8)).astype(np.float32)
            assert_close(step(tc.tensor(x), pos), theirs(torch.tensor(x), pos))
            assert_close(ours.module.cache_k, theirs.module.cache_k)
            assert_close(ours.module.cache_v, theirs.module.cache_v)
    assert step.compiles == 4      # 0, 1 and 2 for themselves, then every later position


def test_an_offset_that_changes_no_shape_is_read_from_the_params():
    def write(cache, x, pos):
        cache[:, pos] = x
        return cache * 1
    cache = tc.zeros(2, 12)
    g, where, domain = generalize([_graph(write, cache.clone(), tc.ones(2), p) for p in (4, 7)])
    assert where == [("param", 1, ("key", 1, 1))]     # index_put's key: ('s', pos, pos + 1, 1)
    f = tc.compile(write)
    expected = np.zeros((2, 12), np.float32)
    for pos in range(12):
        x = np.full(2, pos + 1, np.float32)
        expected[:, pos] = x
        np.testing.assert_array_equal(f(cache, tc.tensor(x), pos).numpy(), expected)
    np.testing.assert_array_equal(cache.numpy(), expected)
    assert f.compiles == 4


def test_an_int_whose_sizes_no_polynomial_follows_is_a_second_symbol():
    def rows(x, n):
        return x.reshape(n, -1).sum(1)      # 24 // n columns: no polynomial in n
    f = tc.compile(rows)
    x = tc.randn(24)
    for n in (2, 3, 4, 6, 8, 12, 3, 24):
        assert_close(f(x, n), rows(x, n))
    # 2, 3 (a line through two points that shrinks), then rows and columns as two symbols
    # from 4 on (each value traced and matched), and 24 for itself: one column
    assert f.compiles == 4


def test_an_int_the_code_only_computes_with_is_not_a_symbol():
    def shift(x, k):
        return x - k if k > 2 else x + k    # read in a branch: compiled in; no size
    f = tc.compile(shift)
    x = tc.randn(5)
    for k in (3, 4, 5, 6):
        assert_close(f(x, k), shift(x, k))
    assert f.compiles == 4
