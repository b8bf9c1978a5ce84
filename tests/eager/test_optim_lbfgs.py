"""LBFGS against torch.optim.LBFGS 2.13 on the Rosenbrock function: the fixed-step and the
strong-Wolfe variants, a short history, evaluation budgets and tolerances. In float64 the
two follow the same path (every branch of the line search and the stopping tests decides
the same way), so parameters, losses, evaluation counts and state match closely; in
float32 they match to rounding over a few steps."""
import numpy as np
import pytest
import torch

import tracecomp as tc
import tracecomp.optim as optim
from tests.helpers import assert_close

START = [-1.5, 2.0, -0.5, 1.0]
CONFIGS = [
    dict(max_iter=5),
    dict(line_search_fn="strong_wolfe", max_iter=5),
    dict(history_size=2, max_iter=4, lr=0.1),
    dict(lr=0.5, line_search_fn="strong_wolfe", history_size=3, max_eval=6, max_iter=5),
    dict(line_search_fn="strong_wolfe", max_iter=10, tolerance_change=1e-6),
    dict(max_iter=8, tolerance_grad=1e-2, tolerance_change=1e-3),
]


def _problem(lib, o, kwargs, dtype):
    x = lib.tensor(START, dtype=dtype, requires_grad=True)
    opt = o.LBFGS([x], **kwargs)

    def closure():
        opt.zero_grad()
        loss = (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()
        loss.backward()
        return loss
    return x, opt, closure


def _check_state(got, want, what, rtol):
    assert set(got) == set(want), f"{what}: state keys"
    for key, w in want.items():
        g = got[key]
        if isinstance(w, list):
            assert len(g) == len(w), f"{what}: len(state[{key!r}])"
            for i, (a, b) in enumerate(zip(g, w)):
                if b is None:
                    assert a is None, f"{what}: state[{key!r}][{i}]"
                else:
                    assert_close(a, b, rtol=rtol, atol=rtol, what=f"{what} {key}[{i}]")
        elif isinstance(w, torch.Tensor):
            assert_close(g, w, rtol=rtol, atol=rtol, what=f"{what} {key}")
        else:
            assert type(g) is type(w) and g == pytest.approx(w, rel=rtol), f"{what} {key}"


@pytest.mark.parametrize("kwargs", CONFIGS, ids=lambda k: ",".join(f"{a}={b}" for a, b in
                                                                  k.items()))
def test_lbfgs_follows_torch_in_float64(kwargs):
    x, opt, closure = _problem(tc, optim, kwargs, tc.float64)
    y, ref, ref_closure = _problem(torch, torch.optim, kwargs, torch.float64)
    for step in range(5):
        got, want = opt.step(closure), ref.step(ref_closure)
        what = f"LBFGS {kwargs} step {step + 1}"
        assert got.item() == pytest.approx(want.item(), rel=1e-12), what
        assert_close(x, y, rtol=1e-9, atol=1e-12, what=what)
        _check_state(opt.state_dict()["state"][0], ref.state_dict()["state"][0], what, 1e-8)
    assert opt.state_dict()["param_groups"] == ref.state_dict()["param_groups"]


def test_lbfgs_float32_matches_to_rounding():
    for kwargs in (dict(max_iter=5), dict(line_search_fn="strong_wolfe", max_iter=5)):
        x, opt, closure = _problem(tc, optim, kwargs, tc.float32)
        y, ref, ref_closure = _problem(torch, torch.optim, kwargs, torch.float32)
        for step in range(3):
            opt.step(closure)
            ref.step(ref_closure)
            assert_close(x, y, rtol=1e-4, atol=1e-5, what=f"{kwargs} step {step + 1}")
            assert opt.state[x]["func_evals"] == ref.state[y]["func_evals"]


def test_lbfgs_state_dict_round_trip():
    kwargs = dict(line_search_fn="strong_wolfe", max_iter=4, history_size=3)
    x, opt, closure = _problem(tc, optim, kwargs, tc.float64)
    y, ref, ref_closure = _problem(torch, torch.optim, kwargs, torch.float64)
    for _ in range(2):
        opt.step(closure)
        ref.step(ref_closure)
    saved = opt.state_dict()
    fresh = optim.LBFGS([x], **kwargs)
    fresh.load_state_dict(saved)
    assert fresh.state[x]["old_dirs"][0] is not saved["state"][0]["old_dirs"][0]

    def fresh_closure():
        fresh.zero_grad()
        loss = (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()
        loss.backward()
        return loss
    for step in range(3):
        fresh.step(fresh_closure)
        ref.step(ref_closure)
        assert_close(x, y, rtol=1e-9, atol=1e-12, what=f"after reload, step {step + 3}")


def test_lbfgs_stops_at_once_when_already_optimal():
    x = tc.tensor([1.0, 1.0], dtype=tc.float64, requires_grad=True)
    opt = optim.LBFGS([x])

    def closure():
        opt.zero_grad()
        loss = ((x - 1) ** 2).sum()
        loss.backward()
        return loss
    assert opt.step(closure).item() == 0.0
    assert opt.state[x] == {"func_evals": 1, "n_iter": 0}


def _error(fn):
    with pytest.raises(Exception) as info:
        fn()
    return type(info.value), str(info.value)


def test_lbfgs_errors_match_torch():
    def both(build):
        got = _error(lambda: build(tc, optim))
        want = _error(lambda: build(torch, torch.optim))
        assert issubclass(got[0], want[0]) and got[1] == want[1], f"{got} | {want}"

    both(lambda lib, o: o.LBFGS([{"params": [lib.zeros(2, requires_grad=True)]},
                                 {"params": [lib.zeros(1, requires_grad=True)]}]))
    both(lambda lib, o: o.LBFGS([lib.zeros(2, requires_grad=True)], lr=-1.0))

    def bad_line_search(lib, o):
        x = lib.ones(2, requires_grad=True)
        opt = o.LBFGS([x], line_search_fn="armijo")

        def closure():
            opt.zero_grad()
            loss = (x * x).sum()
            loss.backward()
            return loss
        opt.step(closure)
    both(bad_line_search)
    with pytest.raises(TypeError):
        optim.LBFGS([tc.zeros(2, requires_grad=True)]).step()


def test_compiled_lbfgs_step_is_a_trace_error_that_changes_nothing():
    model = tc.nn.Linear(3, 1)
    opt = optim.LBFGS(model.parameters())
    x, y = tc.randn(8, 3), tc.randn(8, 1)
    before = [p.detach().numpy().copy() for p in model.parameters()]

    @tc.compile(fullgraph=True)
    def train(x, y):
        def closure():
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            return loss
        return opt.step(closure)

    with pytest.raises(tc.TraceError, match="LBFGS.step cannot be compiled"):
        train(x, y)
    for b, p in zip(before, model.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), b)
    assert len(opt.state) == 0
