"""compile(..., backend="cuda") end to end on numba's simulator: functions, a model's
forward and backward, and a whole training step (its products in CUDA kernels too) give
eager's numbers. Without the simulator and without a GPU, compiling says so in the user's
terms."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tracecomp as tc
import tracecomp.nn.functional as F
from tracecomp import nn

from helpers import compiled_step


def _close(got, want):
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-5,
                               atol=1e-6)


def _steps_match_eager(ref, model, optimizer, x, y, steps=3):
    """`steps` SGD steps of model compiled whole on the cuda backend against ref's eager
    ones (the same starting weights): losses, then weights; returns the compiled step's
    host steps (fusion-log lines)."""
    ref_opt = optimizer(ref.parameters())
    step = compiled_step(model, optimizer(model.parameters()), backend="cuda")
    for _ in range(steps):
        ref_opt.zero_grad()
        want = F.cross_entropy(ref(x), y)
        want.backward()
        ref_opt.step()
        _close(step(x, y), want)
    for p, q in zip(ref.parameters(), model.parameters()):
        _close(q, p)
    return [line for line in step.fusion_log["forward"].splitlines()
            if "no native lowering" in line]


def test_functions_match_eager():
    def fn(x, y):
        return (F.gelu(x * 2 + y).sum(1), (x - y).abs().amax(0), x.flip(0).argmax(1))
    x, y = tc.randn(3, 5), tc.randn(5)
    f = tc.compile(fn, backend="cuda")
    for got, want in zip(f(x, y), fn(x, y)):
        _close(got, want)


def test_mlp_forward_backward_and_a_whole_training_step_match_eager():
    tc.manual_seed(0)
    ref = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    tc.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = tc.randn(4, 6), tc.randint(0, 3, (4,))
    compiled = tc.compile(model, backend="cuda")
    loss = F.cross_entropy(compiled(x), y)
    want = F.cross_entropy(ref(x), y)
    loss.backward()
    want.backward()
    _close(loss, want)
    for p, q in zip(ref.parameters(), model.parameters()):
        _close(q.grad, p.grad)
    host = _steps_match_eager(ref, model, lambda ps: tc.optim.SGD(ps, lr=0.1, momentum=0.9),
                              x, y)
    assert not any("matmul" in line for line in host), host


def test_the_kernels_source_is_there_to_read():
    f = tc.compile(lambda x: (x.exp() * 2).sum(0), backend="cuda")
    f(tc.randn(3, 4))
    text = f.cuda_source["forward"]
    assert "def kernel" in text and "cuda.shared.array" in text and "math.exp" in text
    compile(text, "<cuda_source>", "exec")          # it is Python, as numba reads it


def test_without_a_gpu_or_the_simulator_compiling_says_so():
    script = textwrap.dedent("""
        import tracecomp as tc
        try:
            tc.compile(lambda x: x * 2, backend="cuda")(tc.ones(3))
            print("compiled: a GPU is here")
        except Exception as exc:
            print(type(exc).__name__, exc)
    """)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=300).stdout
    if out.startswith("compiled: a GPU is here"):
        pytest.skip("this machine has a CUDA GPU")
    assert "found no CUDA GPU" in out and "NUMBA_ENABLE_CUDASIM=1" in out, out


def test_a_small_convnet_training_step_matches_eager():
    """Convolution (unfold, a batched product), max pooling (argmax, gather) and their
    gradients (fold, scatter_add) in CUDA kernels, over three SGD steps."""
    def net():
        tc.manual_seed(1)
        return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(8, 3))
    ref, model = net(), net()
    x, y = tc.randn(2, 1, 4, 4), tc.tensor([0, 2])
    host = _steps_match_eager(ref, model, lambda ps: tc.optim.SGD(ps, lr=0.1), x, y)
    assert all("check_range" in line for line in host), host


def test_a_gpu_tensor_from_outside_the_function_is_read_and_rechecked():
    """A closure's tensor on the GPU is a constant of the graph (copied to the host once);
    changing it in place compiles again, as on the CPU."""
    x = tc.arange(6, dtype=tc.float32).reshape(2, 3).to("cuda")
    f = tc.compile(lambda: (x * 2).sum(0), backend="cuda")
    np.testing.assert_array_equal(f().cpu().numpy(), [6, 10, 14])
    x.add_(1)
    np.testing.assert_array_equal(f().cpu().numpy(), [10, 14, 18])


def test_an_optimizer_step_on_gpu_parameters_of_a_compiled_model_runs_fused():
    """compile(model) on the GPU with an eager loss and optimizer: the optimizer's update is
    one compiled cuda call (compiler/fused_step.py), with the eager loop's numbers."""
    from tracecomp.compiler import fused_step

    def net():
        tc.manual_seed(0)
        return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    ref, model = net(), net().to("cuda")
    compiled = tc.compile(model)
    ref_opt = tc.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    opt = tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = tc.randn(4, 6), tc.tensor([0, 2, 1, 0])
    for _ in range(3):
        ref_opt.zero_grad()
        F.cross_entropy(ref(x), y).backward()
        ref_opt.step()
        opt.zero_grad()
        F.cross_entropy(compiled(x.to("cuda")), y.to("cuda")).backward()
        opt.step()
    assert fused_step._STEPS[opt].steps == 3 and not fused_step._STEPS[opt].off
    for p, q in zip(ref.parameters(), model.parameters()):
        _close(q.cpu(), p)
