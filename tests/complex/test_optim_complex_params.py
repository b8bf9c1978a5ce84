"""Complex parameters in every optimizer, against torch for 3 steps: torch updates the real
and imaginary parts as parameters of their own (optim/optimizer.py's real_views) in the
Adam family, Adagrad, RMSprop, Adadelta, Adamax, ASGD and Rprop (whose complex step size
starts at lr + lr i), SGD works on the complex numbers directly, LBFGS flattens them as real
pairs, Adafactor refuses them. A compiled whole step gives the same updates: the writes
through the real views reach the complex parameter and state (inplace_view.
write_back_traced; they were a TraceError, a graph break for FNO's training step)."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tests.helpers import assert_close, raised

rng = np.random.default_rng(0)
W0 = (rng.standard_normal((3, 2)) + 1j * rng.standard_normal((3, 2))).astype(np.complex64)
X = (rng.standard_normal((4, 3)) + 1j * rng.standard_normal((4, 3))).astype(np.complex64)

CASES = {
    "Adam": {"lr": 0.1, "amsgrad": True}, "AdamW": {"lr": 0.1},
    "Adagrad": {"lr": 0.1, "weight_decay": 0.1}, "Adadelta": {"lr": 1.0},
    "RMSprop": {"lr": 0.01, "momentum": 0.9, "centered": True}, "Adamax": {"lr": 0.1},
    "NAdam": {"lr": 0.1}, "RAdam": {"lr": 0.1}, "ASGD": {"lr": 0.1, "t0": 1},
    "Rprop": {"lr": 0.1}, "SGD": {"lr": 0.05, "momentum": 0.9, "nesterov": True,
                                  "weight_decay": 0.01},
}


def _loss(lib, w):
    """A real loss whose gradient mixes the parts unevenly (|.|^2 and a cube of the real
    part), so treating the parts as one complex number would change the update."""
    return ((lib.tensor(X) @ w).abs() ** 2).sum() + (w.real ** 3).sum()


def _train(lib, name, kw, steps=3, compiled=False):
    w = lib.tensor(W0.copy(), requires_grad=True)
    opt = getattr(lib.optim, name)([w], **kw)

    def step():
        opt.zero_grad()
        _loss(lib, w).backward()
        opt.step()
    run = tc.compile(step, fullgraph=True) if compiled else step
    for _ in range(steps):
        run()
    return w, opt


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_complex_parameters_update_as_torch(name, compiled):
    ours, opt = _train(tc, name, CASES[name], compiled=compiled)
    ref, ref_opt = _train(torch, name, CASES[name])
    assert_close(ours, ref, rtol=1e-5, atol=2e-5, what=f"{name} parameter")
    for key, value in ref_opt.state[ref].items():        # the state is complex, as torch's
        got = opt.state[ours][key]
        assert_close(got, value, rtol=1e-5, atol=2e-5, what=f"{name} state {key!r}")


def test_lbfgs_flattens_complex_parameters_as_torch():
    def run(lib):
        w = lib.tensor(W0.astype(np.complex128), requires_grad=True)
        opt = lib.optim.LBFGS([w], lr=0.5, max_iter=4)

        def closure():
            opt.zero_grad()
            loss = ((w - 1j).abs() ** 2).sum() + (w.real ** 4).sum()
            loss.backward()
            return loss
        for _ in range(2):
            opt.step(closure)
        return w
    assert_close(run(tc), run(torch), rtol=1e-8, atol=1e-10)


def test_adafactor_refuses_complex_parameters_as_torch():
    def step(lib):
        w = lib.tensor(W0.copy(), requires_grad=True)
        opt = lib.optim.Adafactor([w])
        _loss(lib, w).backward()
        opt.step()
    got, want = raised(tc, step), raised(torch, step)
    assert type(got) is type(want) and str(got) == str(want)
