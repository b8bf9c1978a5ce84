"""Numpy array arguments fed as tensor inputs (compiler/array_args.py): a compiled function
given a new array each call (an RL agent's observation, a batch of arrays) compiles once,
as torch.compile does; code that reads the numbers themselves compiles them in, as before.
Each case compares with torch, or with the same code run eagerly, and counts compiles."""
import numpy as np
import pytest
import torch

import tracecomp as tc


def _twins(rng, sizes=(4, 16, 2)):
    """The same MLP in both libraries."""
    ws = [(rng.standard_normal((o, i)).astype(np.float32) / 2, rng.standard_normal(o)
           .astype(np.float32)) for i, o in zip(sizes, sizes[1:])]

    def build(lib):
        layers = []
        for w, b in ws:
            lin = lib.nn.Linear(w.shape[1], w.shape[0])
            with lib.no_grad():
                lin.weight.copy_(lib.tensor(w))
                lin.bias.copy_(lib.tensor(b))
            layers += [lin, lib.nn.Tanh()]
        return lib.nn.Sequential(*layers[:-1])
    return build(tc), build(torch)


CONVERSIONS = {
    "from_numpy": lambda lib, a: lib.from_numpy(a).float(),
    "tensor": lambda lib, a: lib.tensor(a, dtype=lib.float32),
    "FloatTensor": lambda lib, a: lib.FloatTensor(a),
    "as_tensor": lambda lib, a: lib.as_tensor(a, dtype=lib.float32),
    "asarray": lambda lib, a: lib.asarray(a).float(),
    "astype": lambda lib, a: lib.from_numpy(a.astype(np.float32)),
}


@pytest.mark.parametrize("conversion", sorted(CONVERSIONS))
def test_an_agent_acting_on_new_observations_compiles_once(conversion):
    rng = np.random.default_rng(0)
    ours, theirs = _twins(rng)
    to_tensor = CONVERSIONS[conversion]

    def act(lib, model, obs):
        with lib.no_grad():
            return model(to_tensor(lib, obs).unsqueeze(0)).argmax(-1), model(
                to_tensor(lib, obs))
    compiled = tc.compile(lambda obs: act(tc, ours, obs))
    for _ in range(12):
        obs = rng.standard_normal(4)        # float64, as gym gives it: 4 numbers
        (a, q), (b, r) = compiled(obs), act(torch, theirs, obs)
        assert a.tolist() == b.tolist()
        np.testing.assert_allclose(q.numpy(), r.numpy(), rtol=1e-6, atol=1e-6)
    assert compiled.compiles == 1


def test_a_training_step_on_numpy_batches_compiles_once_and_trains_as_torch():
    rng = np.random.default_rng(1)
    ours, theirs = _twins(rng)
    opts = tc.optim.SGD(ours.parameters(), lr=0.1), torch.optim.SGD(theirs.parameters(),
                                                                     lr=0.1)

    def step(lib, model, opt, batch):
        x, y = batch
        opt.zero_grad()
        loss = lib.nn.functional.cross_entropy(model(lib.tensor(x, dtype=lib.float32)),
                                               lib.from_numpy(y))
        loss.backward()
        opt.step()
        return loss
    compiled = tc.compile(lambda batch: step(tc, ours, opts[0], batch))
    for _ in range(6):
        batch = (rng.standard_normal((32, 4)), rng.integers(0, 2, 32))
        np.testing.assert_allclose(compiled(batch).item(),
                                   step(torch, theirs, opts[1], batch).item(), rtol=1e-5)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
    assert compiled.compiles <= 2       # the first step, then the one with momentum-free .grad


def test_an_array_over_8_mb_is_fed_not_a_graph_break():
    w = tc.randn(4)

    def f(a):
        return (tc.from_numpy(a) * w).sum(1)
    compiled = tc.compile(f, fullgraph=True)
    for k in range(3):
        a = np.full((600_000, 4), float(k), np.float32)     # 9.6 MB
        np.testing.assert_allclose(compiled(a).numpy(), f(a).numpy(), rtol=1e-6)
    assert compiled.compiles == 1


def test_batches_of_other_sizes_run_one_dynamic_graph():
    def f(a):
        return tc.from_numpy(a).softmax(-1).sum(0)
    compiled = tc.compile(f)
    rng = np.random.default_rng(2)
    for n in (8, 12, 5, 9, 30):
        a = rng.standard_normal((n, 3))
        np.testing.assert_allclose(compiled(a).numpy(), f(a).numpy(), rtol=1e-12)
    assert compiled.compiles == 2


READS = {
    "a numpy function": lambda a: tc.from_numpy(np.tanh(a)) * 2,
    "a method": lambda a: tc.tensor(a.clip(-0.5, 0.5)) + 1,
    "an item": lambda a: tc.ones(2) * float(a[1]),
    "a branch": lambda a: tc.from_numpy(a) * (2 if a.sum() > 0 else 3),
    "np.asarray": lambda a: tc.tensor(np.asarray(a, np.float32)) - 1,
    "iteration": lambda a: tc.tensor([v * 2 for v in a]),
}


@pytest.mark.parametrize("what", sorted(READS))
def test_code_that_reads_the_numbers_compiles_them_in_and_stays_right(what):
    f = READS[what]
    compiled = tc.compile(f)
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(5) for _ in range(4)]
    for a in arrays + arrays[:2]:
        before = a.copy()
        np.testing.assert_allclose(compiled(a).numpy(), f(a).numpy(), rtol=1e-12)
        np.testing.assert_array_equal(a, before)        # the trace wrote nothing there
    assert compiled.compiles == 4       # each array's numbers once, as before


def test_a_write_into_the_array_through_its_tensor_reaches_the_callers_array():
    def bump(a):
        t = tc.from_numpy(a)
        t.add_(1)
        return t * 2
    compiled = tc.compile(bump)
    for k in range(3):
        a, b = np.full(6, float(k)), np.full(6, float(k))
        np.testing.assert_allclose(compiled(a).numpy(), bump(b).numpy())
        np.testing.assert_array_equal(a, b)     # eager updated the caller's array


def test_a_write_into_the_array_itself_is_the_callers_as_eagerly():
    def zero_first(a):
        a[0] = 0.0
        return tc.tensor(a) + 1
    compiled = tc.compile(zero_first)
    for k in range(3):
        a, b = np.arange(4.0) + k, np.arange(4.0) + k
        np.testing.assert_allclose(compiled(a).numpy(), zero_first(b).numpy())
        np.testing.assert_array_equal(a, b)


def test_a_function_that_returns_its_array_as_a_tensor_compiles_once():
    compiled = tc.compile(lambda a: tc.from_numpy(a))
    for k in range(3):
        a = np.full(3, float(k))
        assert compiled(a).tolist() == [float(k)] * 3
    assert compiled.compiles == 1


def test_a_stand_in_kept_past_its_call_says_so_when_used():
    kept = []

    def f(a):
        kept.append(a)
        return tc.from_numpy(a) + 1
    compiled = tc.compile(f)
    with pytest.warns(UserWarning, match="graph break"):
        compiled(np.zeros(3))
    assert all(type(k) is np.ndarray for k in kept)     # the eager run's: the real array


def test_an_array_of_objects_or_strings_is_compiled_in_as_before():
    def f(x, names):
        return x * len(names[0])
    compiled = tc.compile(f)
    x = tc.ones(2)
    for names in (np.array(["ab", "c"]), np.array(["abc", "d"])):
        np.testing.assert_allclose(compiled(x, names).numpy(), f(x, names).numpy())
    assert compiled.compiles == 2


def test_its_shape_follows_the_traced_input_when_compiled_dynamic_from_the_start():
    def f(a):       # the shape read in Python, as the input's
        return tc.from_numpy(a).sum(0) * a.shape[0] + len(a) + a.size
    compiled = tc.compile(f, dynamic=True)
    for n in (3, 5, 8):
        a = np.arange(2.0 * n).reshape(n, 2)
        np.testing.assert_allclose(compiled(a).numpy(), f(a).numpy())
    assert compiled.compiles == 1


def test_views_of_an_array_run_as_the_array_they_show():
    def f(a):
        return tc.from_numpy(a).cumsum(0) - 1
    compiled = tc.compile(f)
    base = np.arange(24.0).reshape(6, 4)
    for a in (base[::-1], base[:, ::2], base.T, np.broadcast_to(np.arange(4.0), (3, 4))):
        np.testing.assert_allclose(compiled(a).numpy(), f(a).numpy())
