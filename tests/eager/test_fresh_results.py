"""Results that are new tensors in torch are new tensors here: writing into the result of
an op that torch answers with a copy leaves the input as it was, and an op torch answers
with the input itself (contiguous, to, Identity) writes through as torch's does. Each case
runs the same write under both libraries and compares what happened to the input.

(F.pad by nothing handed back its input, so `out = F.pad(x, (0, n - len)); out[:, 0] = 0`
wrote into x where the batch needed no padding.)"""
import pytest
import torch

import tracecomp as tc


def _table(lib):
    F = lib.nn.functional
    return {
        "pad by nothing": lambda x: F.pad(x, (0, 0)),
        "pad by nothing, two dims": lambda x: F.pad(x, (0, 0, 0, 0), value=1.0),
        "roll by 0": lambda x: x.roll(0),
        "repeat once": lambda x: x.repeat(1, 1),
        "tile once": lambda x: x.tile((1, 1)),
        "narrow_copy whole": lambda x: x.narrow_copy(0, 0, 2),
        "flip no dims": lambda x: x.flip([]),
        "cat of one": lambda x: lib.cat([x]),
        "x * 1": lambda x: x * 1,
        "x + 0": lambda x: x + 0,
        "x ** 1": lambda x: x ** 1,
        "relu": lambda x: F.relu(x),
        "max_pool1d window 1": lambda x: F.max_pool1d(x[None], 1)[0],
        "interpolate to its size": lambda x: F.interpolate(x[None], size=3)[0],
        "nan_to_num": lambda x: x.nan_to_num(),
        "tril keeping all": lambda x: x.tril(5),
        "index_select of all": lambda x: x.index_select(0, lib.tensor([0, 1])),
        "rot90 four times": lambda x: lib.rot90(x, 4),
        "to(copy=True)": lambda x: x.to(dtype=lib.float32, copy=True),
        "contiguous": lambda x: x.contiguous(),
        "to the same dtype": lambda x: x.to(lib.float32),
        "Identity": lambda x: lib.nn.Identity()(x),
        "dropout in eval": lambda x: F.dropout(x, 0.5, training=False),
        "atleast_2d of 2-d": lambda x: lib.atleast_2d(x),
        "detach": lambda x: x.detach(),
    }


def _writes_through(lib, name):
    x = lib.arange(6.0).reshape(2, 3)
    out = _table(lib)[name](x)
    out.add_(100)
    return bool((x != lib.arange(6.0).reshape(2, 3)).any())


@pytest.mark.parametrize("name", list(_table(torch)))
def test_a_write_into_the_result_reaches_the_input_only_where_torchs_does(name):
    assert _writes_through(tc, name) == _writes_through(torch, name), name
