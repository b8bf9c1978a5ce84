"""A small model trained 3 steps in bfloat16 (.to(bfloat16)) with SGD and Adam, against
torch 2.13 on the same weights and data; and compiled mode on bfloat16: eager's bits, and a
graph break naming the op where no float32 form of it exists (tests/bfloat16/
test_bfloat16_compiled*.py hold the rest)."""
import warnings

import pytest
import torch
from bf16_helpers import assert_same, tc_of

import tracecomp as tc


@pytest.mark.parametrize("opt,kw", [("SGD", {"lr": 0.1, "momentum": 0.9}),
                                    ("Adam", {"lr": 0.01})])
def test_three_steps_in_bfloat16_match_torch(opt, kw):
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    m = tc.nn.Sequential(tc.nn.Linear(4, 8), tc.nn.ReLU(), tc.nn.Linear(8, 3))
    m.load_state_dict({k: tc_of(v) for k, v in tm.state_dict().items()})
    tm, m = tm.to(torch.bfloat16), m.to(tc.bfloat16)
    topt, copt = getattr(torch.optim, opt)(tm.parameters(), **kw), \
        getattr(tc.optim, opt)(m.parameters(), **kw)
    x, y = torch.randn(5, 4).bfloat16(), torch.tensor([0, 2, 1, 1, 0])
    for step in range(3):
        loss_t = torch.nn.functional.cross_entropy(tm(x), y)
        loss = tc.nn.functional.cross_entropy(m(tc_of(x)), tc_of(y))
        # step 0 is bit for bit (forward, loss, gradients); torch's optimizer updates round
        # its scalar tail loop (tensors under 32 elements) differently: 1 ulp per step
        assert_same(loss, loss_t, 0 if step == 0 else 2)
        topt.zero_grad()
        copt.zero_grad()
        loss_t.backward()
        loss.backward()
        if step == 0:
            for p, q in zip(tm.parameters(), m.parameters()):
                assert_same(q.grad, p.grad)
        topt.step()
        copt.step()
    for p, q in zip(tm.parameters(), m.parameters()):
        assert q.dtype is tc.bfloat16
        assert_same(q, p, 3)


@pytest.mark.parametrize("backend", ["llvm", "interp"])
def test_compiled_bfloat16_gives_eagers_bits(backend):
    def f(x, y):
        return (x * y + 1.0).sum()
    x, y = tc.randn(4, 3).bfloat16(), tc.randn(4, 3).bfloat16()
    got = tc.compile(f, backend=backend, fullgraph=True)(x, y)
    assert_same(got, torch.tensor(float(f(x, y)), dtype=torch.bfloat16))


@pytest.mark.parametrize("backend", ["llvm", "interp"])
def test_bfloat16_made_from_no_bfloat16_operand_breaks_the_graph(backend):
    """A primitive that makes bfloat16 from no bfloat16 operand has no float32 form to
    widen (tracer._bf16_refusal): a graph break, an error under fullgraph. The public
    bfloat16 draws (randn(dtype=bfloat16), ...) are float32 draws and a cast, which
    compile: the same bits as eager."""
    from tracecomp.creation import normal_p
    from tracecomp.dispatch import bind

    def f(x):       # bfloat16 noise drawn as bfloat16 by the primitive itself
        return x * bind(normal_p, shape=(300,), dtype=tc.bfloat16.np)
    x = tc.randn(300)
    tc.manual_seed(3)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        got = tc.compile(f, backend=backend)(x)
    assert any("normal: bfloat16 result not supported in compiled mode" in str(i.message)
               for i in w)
    tc.manual_seed(3)
    want = f(x)
    assert got.dtype is tc.float32 and bool((got == want).all())
    with pytest.raises(tc.errors.TraceError, match="no bfloat16 operand"):
        tc.compile(f, backend=backend, fullgraph=True)(x)

    def g(x):
        return x * tc.randn(300, dtype=tc.bfloat16)
    tc.manual_seed(3)
    got = tc.compile(g, backend=backend, fullgraph=True)(x)
    tc.manual_seed(3)
    assert bool((got == g(x)).all())


def test_compiled_under_autocast_traces_the_cast():
    def f(a, b):
        return a @ b
    a, b = tc.randn(2, 3), tc.randn(3, 2)
    with tc.autocast("cpu"):
        got = tc.compile(f, fullgraph=True)(a, b)
        want = f(a, b)
    assert got.dtype is tc.bfloat16 and bool((got == want).all())


@pytest.mark.parametrize("opt,kw", [("SGD", {"lr": 0.1, "momentum": 0.9}),
                                    ("Adam", {"lr": 0.01}), ("AdamW", {"lr": 0.01})])
def test_compiled_bfloat16_training_step_is_eagers_bits(opt, kw):
    """A model held in bfloat16 (.to(bfloat16)): the whole step compiled, its optimizer's
    in-place updates of bfloat16 parameters and state included, gives eager's bits."""
    def run(compiled):
        tc.manual_seed(0)
        m = tc.nn.Sequential(tc.nn.Linear(4, 8), tc.nn.ReLU(), tc.nn.Linear(8, 3))
        m = m.to(tc.bfloat16)
        o = getattr(tc.optim, opt)(m.parameters(), **kw)
        x, y = tc.randn(5, 4).bfloat16(), tc.tensor([0, 2, 1, 1, 0])

        def step(x, y):
            loss = tc.nn.functional.cross_entropy(m(x), y)
            o.zero_grad()
            loss.backward()
            o.step()
            return loss
        step = tc.compile(step, fullgraph=True) if compiled else step
        losses = [step(x, y) for _ in range(3)]
        return losses, list(m.parameters())
    (eager_losses, eager_params), (losses, params) = run(False), run(True)
    for got, want in zip(losses + params, eager_losses + eager_params):
        assert got.dtype is want.dtype is tc.bfloat16
        assert_same(got, torch.from_numpy(want.detach().float().numpy()).bfloat16())
