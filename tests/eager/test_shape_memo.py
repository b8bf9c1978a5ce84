"""ops/rules.memo_ints: shape arithmetic an eager op repeats per call (reshape's -1,
a permutation, a padding) is remembered for arguments of Python ints only. The answers
must be the function's own, whatever the argument types, and nothing else may be kept:
an error is raised again on every call, and a list, a numpy int or a tensor among the
arguments is computed each time."""
import numpy as np
import pytest

import tracecomp as tc
from tracecomp.errors import ShapeError
from tracecomp.ops import movement as mv
from tracecomp.ops.rules import MEMO_MAX, memo_ints


def counted(fn):
    calls = []

    def inner(*args):
        calls.append(args)
        return fn(*args)
    return memo_ints(inner), calls


def test_int_arguments_are_answered_once_and_others_every_time():
    normal, calls = counted(lambda dims, n: tuple(int(d) % n for d in dims))
    assert normal((0, -1), 2) == normal((0, -1), 2) == (0, 1)
    assert len(calls) == 1
    # equal keys of other types get the same answer; they are never kept themselves
    assert normal((np.int64(0), -1), 2) == (0, 1) and len(calls) == 1
    assert normal([0, -1], 2) == (0, 1) and normal([0, -1], 2) == (0, 1)
    assert normal((np.int64(1), 0), 2) == (1, 0) and normal((np.int64(1), 0), 2) == (1, 0)
    assert normal((0.0, 1.0), 2) == (0, 1) and normal((0.0, 1.0), 2) == (0, 1)
    assert len(calls) == 1 + 2 + 2 + 2


def test_errors_are_raised_on_every_call():
    x = tc.zeros(2, 3)
    for _ in range(3):
        with pytest.raises(ShapeError, match="invalid for input of size 6"):
            x.reshape(4, -1)


def test_a_tensor_among_the_dims_is_read_each_time():
    x = tc.zeros(2, 3, 4)
    d = tc.tensor(2)
    assert tuple(mv.permute(x, (0, d, 1)).shape) == (2, 4, 3)
    d.fill_(1)
    assert mv.permute(x, (0, d, 2)) is x


def test_the_table_stops_growing():
    square, calls = counted(lambda n: n * n)
    for n in range(MEMO_MAX + 10):
        square(n)
    calls.clear()
    assert square(MEMO_MAX + 5) == (MEMO_MAX + 5) ** 2 and square(MEMO_MAX + 5) and \
        len(calls) == 2
    assert square(3) == 9 and not calls[2:]
