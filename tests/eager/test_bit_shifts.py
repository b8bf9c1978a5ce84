"""<< and >> (torch.bitwise_left_shift / bitwise_right_shift, the Tensor methods, the
reflected and in-place operators) against torch 2.13: every integer dtype torch shifts,
counts outside [0, bits) and negative ones, Python ints on either side, dtype promotion,
out=, and torch's errors. Compiled shifts are in the op table (tests/op_table.py,
"bit_shifts") and in the CUDA kernel programs (tests/cuda/test_cuda_source.py, "shifts")."""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import raised

DTYPES = ("int8", "uint8", "int16", "int32", "int64")


def _pair(lib, dtype):
    values = lib.tensor([-128, -5, -1, 0, 1, 3, 100, 127, -77, 64])
    counts = lib.tensor([0, 1, 2, 7, 8, 15, 16, 31, 32, 63])
    # uint8: the same bit patterns, as torch's conversion wraps them
    return values.to(getattr(lib, dtype)), counts.to(getattr(lib, dtype))


def _same(got, want):
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1], \
        f"dtype tracecomp={got.dtype} | torch={want.dtype}"
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def _shifts(lib, a, b):
    return (a << b, a >> b, lib.bitwise_left_shift(a, b), a.bitwise_right_shift(b),
            a << 3, a >> 1, a >> 9, 3 << b, 1000 >> b, b << -1, b >> 70)


@pytest.mark.parametrize("dtype", DTYPES)
def test_shifts_match_torch(dtype):
    for got, want in zip(_shifts(tc, *_pair(tc, dtype)), _shifts(torch, *_pair(torch, dtype))):
        _same(got, want)


def test_negative_and_huge_counts():
    def fn(lib):
        a = lib.tensor([-9, 9, -1, 2 ** 40, 1])
        b = lib.tensor([-1, -64, 64, 65, 63])
        return a << b, a >> b, a >> 2 ** 63, a.int() << b.int(), a.int() >> b.int()
    for got, want in zip(fn(tc), fn(torch)):
        _same(got, want)


@pytest.mark.parametrize("make", [
    lambda lib: lib.tensor([1, 2], dtype=lib.int8) << lib.tensor([1, 2]),
    lambda lib: lib.tensor([1, 2], dtype=lib.uint8) >> lib.tensor([1, 2], dtype=lib.int8),
    lambda lib: lib.tensor([True, False]) << 1,
    lambda lib: lib.tensor([True]) << lib.tensor([1], dtype=lib.uint8),
    lambda lib: lib.tensor([5, 6]) << True,
    lambda lib: lib.tensor(5).__rrshift__(lib.tensor(100)),
    lambda lib: lib.tensor([[1], [2]]) << lib.tensor([0, 1, 2]),
], ids=["int8_int64", "uint8_int8", "bool_int", "bool_uint8", "int_bool", "rrshift", "broadcast"])
def test_promotion_and_broadcasting(make):
    _same(make(tc), make(torch))


def test_in_place_forms():
    def fn(lib):
        a = lib.tensor([5, -7, 3], dtype=lib.int8)
        view = a[1:]
        a <<= 2
        b = lib.tensor([40, -40, 1])
        b >>= lib.tensor([1, 3, 64])
        c = lib.tensor([1, 2, 3]).bitwise_left_shift_(lib.tensor([1, 2, 3]))
        d = lib.tensor([-8, 8]).bitwise_right_shift_(1)
        return a, view, b, c, d
    for got, want in zip(fn(tc), fn(torch)):
        _same(got, want)


def test_out_keyword():
    def fn(lib):
        out = lib.empty(3, dtype=lib.int64)
        lib.bitwise_right_shift(lib.tensor([64, -64, 7]), 2, out=out)
        return out
    _same(fn(tc), fn(torch))


@pytest.mark.parametrize("call", [
    lambda lib: lib.tensor([1.0]) << 1,
    lambda lib: lib.tensor([1, 2]) >> 1.5,
    lambda lib: 1.5 << lib.tensor([1]),
    lambda lib: lib.tensor([True]) << lib.tensor([True]),
    lambda lib: lib.tensor([4], dtype=lib.uint16) << 1,
    lambda lib: lib.tensor([5]).bitwise_left_shift_(2.0),
    lambda lib: lib.tensor([5.0]).__ilshift__(2),
    lambda lib: lib.tensor([True]).__ilshift__(1),
    lambda lib: lib.tensor([5]).__irshift__(lib.tensor([[1], [2]])),
    lambda lib: lib.bitwise_left_shift(2, 3),
], ids=["float_tensor", "float_count", "float_left", "bools", "uint16", "inplace_float",
        "float_self", "bool_self", "inplace_broadcast", "two_numbers"])
def test_errors_match_torch(call):
    ours, theirs = raised(tc, call), raised(torch, call)
    assert isinstance(ours, type(theirs)), f"tracecomp={ours!r} | torch={theirs!r}"
    # the kernel names and dtypes torch names ("lshift_cpu" ... 'Float'), and its cast rule
    for words in ('"lshift_cpu"', '"rshift_cpu"', "'Float'", "'Bool'", "'UInt16'",
                  "can't be cast to the desired output type", "doesn't match the broadcast"):
        assert (words in str(theirs)) == (words in str(ours)), \
            f"tracecomp={ours} | torch={theirs}"


def test_compiled_in_place_shift_matches_eager():
    def step(a, b):
        a = a.clone()
        a <<= b
        return a >> 1, (7 << b) + (-1000 >> b)
    a, b = tc.tensor([-9, 5, 1, 7]), tc.tensor([0, 3, 63, 64])
    for got, want in zip(tc.compile(step)(a, b), step(a, b)):
        _same(got, want)
    ta, tb = torch.tensor([-9, 5, 1, 7]), torch.tensor([0, 3, 63, 64])
    for got, want in zip(step(a, b), step(ta, tb)):
        _same(got, want)
