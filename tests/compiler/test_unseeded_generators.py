"""A random generator made without a seed inside compiled code (clock_reads.py): seeded
from the system's entropy, it draws new numbers on every eager call, so a trace that held
its draws would give every compiled call the same ones (hRP47's RL-Adventure gap). It is
refused (a graph break: those calls run eagerly); a seeded one compiles, its draws the
same each call as eagerly."""
import random

import numpy as np
import pytest

import tracecomp as tc
from tracecomp.errors import TraceError

X = np.arange(4, dtype=np.float32)

MAKERS = {
    "default_rng()": lambda: np.random.default_rng().standard_normal(),
    "Generator(PCG64())": lambda: np.random.Generator(np.random.PCG64()).standard_normal(),
    "RandomState()": lambda: np.random.RandomState().standard_normal(),
    "random.Random()": lambda: random.Random().random(),
}


@pytest.mark.parametrize("name", MAKERS)
def test_an_unseeded_generator_made_inside_is_refused(name):
    draw = MAKERS[name]
    f = tc.compile(lambda x: x + draw(), fullgraph=True)
    with pytest.raises(TraceError, match="random generator without a seed"):
        f(tc.tensor(X))


@pytest.mark.parametrize("name", MAKERS)
def test_an_unseeded_generator_draws_anew_each_call(name):
    draw = MAKERS[name]
    f = tc.compile(lambda x: x + draw())
    with pytest.warns(UserWarning, match="random generator without a seed"):
        first = f(tc.tensor(X)).numpy()
    outputs = [first] + [f(tc.tensor(X)).numpy() for _ in range(3)]
    # eagerly each call's draw is new: four equal outputs would be the trace's held
    assert len({float(o[0]) for o in outputs}) == 4


@pytest.mark.parametrize("make", [lambda: np.random.default_rng(7).standard_normal(),
                                  lambda: random.Random(7).random()])
def test_a_seeded_generator_made_inside_compiles(make):
    f = tc.compile(lambda x: x + make(), fullgraph=True)
    want = X + np.float32(make())
    for _ in range(3):
        np.testing.assert_array_equal(f(tc.tensor(X)).numpy(), want)
