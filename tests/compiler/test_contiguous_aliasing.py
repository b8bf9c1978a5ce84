"""x.contiguous() inside compiled code: torch returns x itself where x is contiguous, so a
write through the result writes x. A traced value's layout is not known, so the trace holds
the copy and x as sharing memory: a write through either makes the other unreadable, a
graph break whose eager run gives torch's values (before: the compiled call missed the
write, silently), and where the other is never read again the call stays one graph."""
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc


def _write_through_argument(lib, a):
    b = a.contiguous()
    b.add_(1)
    return a * 2


def _write_through_intermediate(lib, a):
    y = a * 2
    y.contiguous().mul_(3)
    return y + 1


def _write_the_result(lib, a):
    y = (a * 2).contiguous()
    y.add_(1)
    return y


@pytest.mark.parametrize("fn", [_write_through_argument, _write_through_intermediate])
def test_a_write_through_contiguous_reaches_what_torch_writes(fn):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    want_arg = torch.tensor(x)
    want = fn(torch, want_arg)
    got_arg = tc.tensor(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")         # the graph break's warning
        got = tc.compile(lambda a: fn(tc, a))(got_arg)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(got_arg.numpy(), want_arg.numpy())


def test_a_write_into_the_result_alone_stays_one_graph():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    got = tc.compile(lambda a: _write_the_result(tc, a), fullgraph=True)(tc.tensor(x))
    np.testing.assert_array_equal(got.numpy(), _write_the_result(torch, torch.tensor(x)).numpy())
