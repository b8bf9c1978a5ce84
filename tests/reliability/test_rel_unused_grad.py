"""A parameter the forward never uses keeps `.grad` None under every compile mode, as in
torch (issue 10 item 6: compile(model) gave it zeros, so momentum and weight decay moved
it). Compared with torch on the same weights: SGD(momentum=0.9, weight_decay=0.1), 3 steps.
"""
import numpy as np
import pytest
import torch

import tracecomp as tc
import tracecomp.nn.functional as F
from tracecomp import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.used, self.unused = nn.Linear(4, 3), nn.Linear(4, 3)

    def forward(self, x):
        return self.used(x)


class TorchNet(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.used, self.unused = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
        with torch.no_grad():
            for p, q in zip(self.parameters(), net.parameters()):
                p.copy_(torch.from_numpy(q.detach().numpy().copy()))

    def forward(self, x):
        return self.used(x)


def _sgd(params):
    return dict(params=params, lr=0.1, momentum=0.9, weight_decay=0.1)


def _torch_run(net, x):
    ref = TorchNet(net)
    opt = torch.optim.SGD(**_sgd(ref.parameters()))
    for _ in range(3):
        opt.zero_grad()
        ref(torch.from_numpy(x)).sum().backward()
        opt.step()
    return ref


def _steps(mode, model, opt, x):
    """One training step of `mode`: eager, compile(model), @compile on a function taking
    the parameters, or the whole step (forward, backward, optimizer) compiled."""
    if mode == "eager":
        def step():
            opt.zero_grad()
            model(x).sum().backward()
            opt.step()
    elif mode == "compile_model":
        compiled = tc.compile(model)

        def step():
            opt.zero_grad()
            compiled(x).sum().backward()
            opt.step()
    elif mode == "compile_function":
        @tc.compile
        def forward(x, w, b, w_unused, b_unused):
            return F.linear(x, w, b)

        def step():
            opt.zero_grad()
            forward(x, model.used.weight, model.used.bias, model.unused.weight,
                    model.unused.bias).sum().backward()
            opt.step()
    else:
        @tc.compile
        def step():
            opt.zero_grad()
            model(x).sum().backward()
            opt.step()
    return step


@pytest.mark.parametrize("backend", ["llvm", "interp"])
@pytest.mark.parametrize("mode", ["eager", "compile_model", "compile_function",
                                  "compile_step"])
def test_unused_parameter_keeps_grad_none(mode, backend):
    if mode == "eager" and backend == "interp":
        pytest.skip("eager has no backend")
    tc.manual_seed(0)
    model = Net()
    opt = tc.optim.SGD(**_sgd(model.parameters()))
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    ref = _torch_run(model, x)
    before = [p.detach().numpy().copy() for p in model.unused.parameters()]
    with pytest.MonkeyPatch.context() as mp:     # the backend for every tc.compile here
        if backend == "interp":
            original = tc.compile
            mp.setattr(tc, "compile", lambda f=None, **kw: original(f, backend="interp", **kw))
        step = _steps(mode, model, opt, tc.tensor(x))
        for _ in range(3):
            step()
    for name, p in model.unused.named_parameters():
        assert p.grad is None, f"{mode}: unused.{name}.grad is {p.grad} (torch: None)"
    assert all(q.grad is None for q in ref.unused.parameters())
    for p, b in zip(model.unused.parameters(), before):
        np.testing.assert_array_equal(p.detach().numpy(), b, err_msg=f"{mode}: unused moved")
    for (name, p), q in zip(model.used.named_parameters(), ref.used.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=f"{mode}: used.{name} | torch")
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=f"{mode}: used.{name}.grad | torch")


def test_unused_input_of_compiled_function_gets_no_grad():
    """torch.autograd.grad semantics: an input that requires grad but is unused gets no
    gradient from backward() (its .grad stays None) while a used one gets its gradient."""
    a, b = tc.ones(3, requires_grad=True), tc.ones(3, requires_grad=True)
    tc.compile(lambda a, b: (a * 2).sum())(a, b).backward()
    assert b.grad is None
    np.testing.assert_array_equal(a.grad.numpy(), np.full(3, 2, np.float32))
