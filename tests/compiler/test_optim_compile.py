"""A whole training step compiled as one graph with the optimizers added for issue 9
(Adamax, NAdam, RAdam, Adadelta, ASGD, Rprop, Adafactor): losses, weights, .grad and
optimizer state follow the eager step's over several steps, on both backends. The steps
cover RAdam's switch to the rectified update (step 6) and ASGD's start of averaging
(t0). What cannot be compiled faithfully is a TraceError, never a stale value."""
import numpy as np
import pytest

import tracecomp as tc
import tracecomp.nn.functional as F
from tracecomp import nn

STEPS = 8


def _mlp():
    tc.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 4))


OPTIMIZERS = [
    ("adamax", tc.optim.Adamax, {"lr": 1e-2, "weight_decay": 0.01}),
    ("nadam", tc.optim.NAdam, {"lr": 1e-2, "weight_decay": 0.01}),
    ("nadamw", tc.optim.NAdam, {"lr": 1e-2, "weight_decay": 0.1,
                                "decoupled_weight_decay": True}),
    ("radam", tc.optim.RAdam, {"lr": 1e-2}),
    ("adadelta", tc.optim.Adadelta, {"lr": 1.0, "weight_decay": 0.01}),
    ("asgd", tc.optim.ASGD, {"lr": 0.05, "t0": 3, "lambd": 1e-3}),
    ("rprop", tc.optim.Rprop, {"lr": 0.01}),
    ("adafactor", tc.optim.Adafactor, {"lr": 0.01, "weight_decay": 0.01}),
]


@pytest.mark.parametrize("name,opt_cls,kw", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_compiled_training_step_matches_eager(name, opt_cls, kw, backend):
    ref, model = _mlp(), _mlp()
    ref_opt, opt = opt_cls(ref.parameters(), **kw), opt_cls(model.parameters(), **kw)
    x, y = tc.randn(8, 12), tc.randint(0, 4, (8,))

    @tc.compile(backend=backend)
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for i in range(STEPS):
        ref_opt.zero_grad()
        want = F.cross_entropy(ref(x), y)
        want.backward()
        ref_opt.step()
        got = step(x, y)
        assert got.item() == pytest.approx(want.item(), rel=1e-5, abs=1e-6), f"step {i}"
    assert step.compiles == 2       # the first step creates the optimizer state
    for (key, a), b in zip(ref.state_dict().items(), model.state_dict().values()):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-6, err_msg=key)
    for p, q in zip(ref.parameters(), model.parameters()):
        np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=1e-4, atol=1e-6)
        assert set(opt.state[q]) == set(ref_opt.state[p])
        for key, value in ref_opt.state[p].items():
            got = opt.state[q][key]
            assert got.dtype == value.dtype, key
            np.testing.assert_allclose(got.numpy(), value.numpy(), rtol=1e-4, atol=1e-6,
                                       err_msg=key)


def test_a_tensor_lr_in_a_compiled_step_is_a_trace_error():
    """A tensor lr would be baked in at its trace-time value (schedulers fill_ it)."""
    model = nn.Linear(3, 1)
    opt = tc.optim.SGD(model.parameters(), lr=tc.tensor(0.1))
    before = model.weight.detach().numpy().copy()

    @tc.compile
    def step(x):
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()

    with pytest.raises(tc.TraceError, match="lr is a tensor"):
        step(tc.randn(4, 3))
    np.testing.assert_array_equal(model.weight.detach().numpy(), before)
