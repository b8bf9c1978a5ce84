"""What published scientific-ML torch programs needed that tracecomp lacked, found by
running them with their imports changed, eager and compiled (round 54), each reproduced
here against torch.

Programs run (weights copied from the torch model, data from one numpy generator; "agrees"
means eager, compile(model) and a compiled whole training step give torch's losses,
outputs and parameters after every step):
- greydanus/hamiltonian-nn hnn.py, nn_models.py, utils.py's rk4 and experiment-spring/
  train.py's step (HNN over an orthogonal-init tanh MLP; time_derivative through
  autograd.grad(create_graph=True) of F1/F2 and the canonical permutation tensor;
  solenoidal, conservative and both fields; with and without the RK4 integrator of
  time derivatives; Adam with weight decay): agrees.
- zongyi-li/fourier_neural_operator (the torch-1.8 scripts before the move to
  neuraloperator: fourier_1d/2d/3d.py and fourier_2d_time.py's autoregressive rollout with
  torch.cat of predictions; SpectralConv with cfloat weights, rfft/rfft2/rfftn, complex
  einsum, out_ft filled by slices, irfft with s=; utilities3's LpLoss and HsLoss (fftn,
  norms of complex tensors), its own complex-aware Adam.py (an old-style Optimizer
  subclass) and torch.optim.Adam, StepLR): agrees. Two graph breaks in the compiled step,
  fixed (below): torch.optim.Adam on the complex weights, and the program's Adam subclass
  under a scheduler.
- geoelements/gns gns/graph_network.py (EncodeProcessDecode: build_mlp Sequentials with
  LayerNorm, InteractionNetwork message passing with residuals over two steps; a stand-in
  for torch_geometric's MessagePassing gathering x_i/x_j by edge_index and summing
  messages with scatter_add_), MSE and Adam on a random graph: agrees.
- jayroxis/PINNs "Burgers Identification (PyTorch)" and "Burgers Inference (PyTorch)"
  notebooks' DNN (OrderedDict Sequential of Linear/Tanh) and PhysicsInformedNN (lambda_1,
  lambda_2 registered on the DNN; net_f's u_t, u_x, u_xx through autograd.grad with
  create_graph; Adam steps, then LBFGS with strong_wolfe over loss_func): eager failed
  from the second step (below); now agrees, Adam and LBFGS. compile(dnn) refuses the
  double backward with its clear error, as torch.compile does; a compiled step failed
  with "differentiated Tensor ... not used" (below), and now breaks the graph at the
  grad() into the data's outside history, whose modules then refuse the double backward.
The gaps:
- An in-place write through a view inside compiled code (torch's optimizers update a
  complex parameter through view_as_real; `p.view(-1).mul_(2)`, `x[0].zero_()`) left the
  base stale: reading it was a TraceError, a graph break of every compiled step with a
  complex parameter. The base now takes the view's value put back at its places
  (inplace_view.write_back_traced, torch's CopySlices).
- Eagerly, a write into the real (or imaginary) part of view_as_real of a tensor with
  history took the whole complex tensor's history: the other part's gradient was lost,
  silently (the coverage was counted in elements, and a complex-valued mask cannot say
  which part a real view covers). Writing an expanded view gave a numpy shape message;
  it is torch's overlap error now, eagerly and compiled.
- A compiled whole step whose loss reached a tensor made before the call with autograd
  history (an argument, or a closure's `x = leaf.float()`) dropped the gradient into that
  history silently (leaf.grad stayed None; the argument's own .grad was set, as on a
  leaf), and a closure's such tensor was baked in as a constant, so grad() by it failed.
  It is now a captured input, and a backward into its history is a TraceError (a graph
  break: the step runs eagerly, as torch's would), as grad() already was.
- Eagerly, a second backward through a node that saves nothing was refused as "backward
  through the graph a second time": the PINN notebooks make `self.x = torch.tensor(X,
  requires_grad=True).float()` once, and every step's graph starts from that cast (and a
  cat); torch's ToCopyBackward0 saves no tensors and runs again. A node that saves
  nothing and reads only leaves now keeps them when freed (autograd/freed_nodes.py; a
  chain of such nodes, `leaf.float().reshape(...)`, is still refused).
- lr_scheduler's wrapper of optimizer.step set `_opt_called` on a user's Optimizer
  subclass, a store compiled code refused to replay: a graph break of every compiled step
  of a custom optimizer under a scheduler (FNO's Adam.py with StepLR). The flag is ours,
  set past the user class's hooked __setattr__.
"""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

_RNG = np.random.default_rng(54)
_Z = _RNG.standard_normal((3, 4)) + 1j * _RNG.standard_normal((3, 4))
_G = _RNG.standard_normal((3, 4)) + 1j * _RNG.standard_normal((3, 4))

_PART_WRITES = {
    "real part": lambda lib, z: lib.view_as_real(z)[..., 0].mul_(2),
    "imaginary part": lambda lib, z: lib.view_as_real(z)[..., 1].add_(z.real * 3),
    "a row's real part": lambda lib, z: lib.view_as_real(z)[1, :, 0].zero_(),
    "whole real view": lambda lib, z: lib.view_as_real(z).mul_(-1),
}


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("write", _PART_WRITES.values(), ids=list(_PART_WRITES))
def test_write_into_a_part_of_view_as_real_keeps_the_other_parts_gradient(write, compiled):
    def fn(lib, x):
        z = x * 1
        write(lib, z)
        return (z * lib.tensor(_G).conj()).real.sum() + (z.abs() ** 2).sum()

    x_t = torch.tensor(_Z, requires_grad=True)
    fn(torch, x_t).backward()
    x_c = tc.tensor(_Z, requires_grad=True)
    run = tc.compile(lambda x: fn(tc, x), fullgraph=True) if compiled else \
        (lambda x: fn(tc, x))
    loss = run(x_c)
    loss.backward()
    assert_close(loss, fn(torch, torch.tensor(_Z)), rtol=1e-12, atol=1e-12)
    assert_close(x_c.grad, x_t.grad, rtol=1e-12, atol=1e-12, what="grad")


def _view_writes(x):
    y = x * 2
    y[0].mul_(3)                    # a row
    y.t()[1].add_(x[:, 2])          # a column, through a transpose
    y[1:3][:, 1:3].mul_(x[0, :2])   # a view of a view (a reshape that merges dims stays
    #                                 a graph break: tracing/view_writes.py)
    return (y ** 2).sum()


def test_writes_through_views_reach_the_base_in_compiled_code():
    x_t = torch.tensor(_Z.real, requires_grad=True)
    _view_writes(x_t).backward()
    x_c = tc.tensor(_Z.real, requires_grad=True)
    loss = tc.compile(_view_writes, fullgraph=True)(x_c)
    loss.backward()
    assert_close(loss, _view_writes(torch.tensor(_Z.real)), rtol=1e-12)
    assert_close(x_c.grad, x_t.grad, rtol=1e-12, what="grad")


def test_an_expanded_view_written_in_compiled_code_is_refused_as_eagerly():
    def fn(x):
        x[:1].expand(3, 4).add_(1)
        return x * 1
    with pytest.raises(RuntimeError, match="more than one element of the written-to"):
        fn(tc.zeros(3, 4))
    with pytest.raises(RuntimeError, match="more than one element of the written-to"):
        tc.compile(fn, fullgraph=True)(tc.zeros(3, 4))


def _fno_losses(lib, compiled, w_spec, w_lin, steps=3):
    """fourier_1d.py's SpectralConv1d (cfloat weights, rfft, complex einsum on the kept
    modes, out_ft filled by a slice, irfft with n=) beside a pointwise Linear, trained by
    torch.optim.Adam under StepLR, as its training loop."""
    nn = lib.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.weights1 = nn.Parameter(lib.tensor(w_spec))
            self.w = nn.Linear(4, 4)
            with lib.no_grad():
                self.w.weight.copy_(lib.tensor(w_lin))
                self.w.bias.zero_()

        def forward(self, x):
            b, n, modes = x.shape[0], x.shape[-1], self.weights1.shape[-1]
            x_ft = lib.fft.rfft(x)
            out_ft = lib.zeros(b, 4, n // 2 + 1, dtype=lib.cfloat)
            out_ft[:, :, :modes] = lib.einsum("bix,iox->box", x_ft[:, :, :modes], self.weights1)
            y = lib.fft.irfft(out_ft, n=n) + self.w(x.permute(0, 2, 1)).permute(0, 2, 1)
            return nn.functional.gelu(y)

    model = Net()
    opt = lib.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-4)
    sched = lib.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    x = lib.tensor(_RNG_FNO.standard_normal((2, 4, 16)).astype(np.float32))
    y = lib.tensor(_RNG_FNO.standard_normal((2, 4, 16)).astype(np.float32))

    def step():
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss
    run = tc.compile(step, fullgraph=True) if compiled else step
    losses = []
    for _ in range(steps):
        losses.append(float(run().detach()))
        sched.step()
    return losses, model.weights1.detach().numpy().copy(), opt


_RNG_FNO = np.random.default_rng(541)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_fno_spectral_conv_trains_with_adam_as_torch(compiled):
    rng = np.random.default_rng(7)
    w_spec = (rng.random((4, 4, 5)) + 1j * rng.random((4, 4, 5))).astype(np.complex64) / 16
    w_lin = rng.standard_normal((4, 4)).astype(np.float32) / 2
    global _RNG_FNO
    _RNG_FNO = np.random.default_rng(541)
    want, w_t, opt_t = _fno_losses(torch, False, w_spec, w_lin)
    _RNG_FNO = np.random.default_rng(541)
    got, w_c, opt_c = _fno_losses(tc, compiled, w_spec, w_lin)
    assert_close(np.array(got), np.array(want), rtol=1e-5, what="losses")
    assert_close(w_c, w_t, rtol=1e-5, atol=1e-6, what="spectral weights")
    assert opt_c.param_groups[0]["lr"] == opt_t.param_groups[0]["lr"]


def _custom_optimizer_losses(lib, compiled):
    """FNO's Adam.py shape: an Optimizer subclass whose step keeps a Python step count and
    moments in self.state, under StepLR (whose wrapper of step marks it called)."""
    class MomentumSGD(lib.optim.Optimizer):
        def __init__(self, params, lr=0.1, beta=0.9):
            super().__init__(params, dict(lr=lr, beta=beta))

        @lib.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    state = self.state[p]
                    if len(state) == 0:
                        state["step"] = 0
                        state["buf"] = lib.zeros_like(p)
                    state["step"] += 1
                    state["buf"].mul_(group["beta"]).add_(p.grad)
                    p.add_(state["buf"], alpha=-group["lr"] / state["step"])

    w = lib.nn.Parameter(lib.tensor(_Z.real.copy()))
    opt = MomentumSGD([w])
    sched = lib.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

    def step():
        opt.zero_grad()
        loss = (w.sin() ** 2).sum()
        loss.backward()
        opt.step()
        return loss
    run = tc.compile(step, fullgraph=True) if compiled else step
    losses = []
    for _ in range(4):
        losses.append(float(run().detach()))
        sched.step()
    return losses, w.detach().numpy().copy()


def test_a_custom_optimizer_under_a_scheduler_compiles_whole():
    want, w_t = _custom_optimizer_losses(torch, False)
    for compiled in (False, True):
        got, w_c = _custom_optimizer_losses(tc, compiled)
        assert_close(np.array(got), np.array(want), rtol=1e-12, what="losses")
        assert_close(w_c, w_t, rtol=1e-12, what="parameter")


def _pinn_two_steps(lib):
    """jayroxis/PINNs' PhysicsInformedNN: `self.x = torch.tensor(X, requires_grad=True)
    .float()` once, then every step's graph starts from that cast (and a cat of x and t),
    with u_x, u_xx from autograd.grad(create_graph=True); each step's backward frees it."""
    rng = np.random.default_rng(5)
    x_leaf = lib.tensor(rng.uniform(-1, 1, (6, 1)), requires_grad=True)
    t_leaf = lib.tensor(rng.uniform(0, 1, (6, 1)), requires_grad=True)
    x, t = x_leaf.float(), t_leaf.float()
    w = lib.tensor(rng.standard_normal((2, 5)).astype(np.float32), requires_grad=True)
    v = lib.tensor(rng.standard_normal((5, 1)).astype(np.float32), requires_grad=True)
    losses = []
    for _ in range(2):
        u = lib.tanh(lib.cat([x, t], dim=1) @ w) @ v
        ones = lib.ones_like(u)
        u_t = lib.autograd.grad(u, t, grad_outputs=ones, retain_graph=True, create_graph=True)[0]
        u_x = lib.autograd.grad(u, x, grad_outputs=ones, retain_graph=True, create_graph=True)[0]
        u_xx = lib.autograd.grad(u_x, x, grad_outputs=lib.ones_like(u_x), retain_graph=True,
                                 create_graph=True)[0]
        loss = lib.mean(u ** 2) + lib.mean((u_t + u * u_x - 0.01 * u_xx) ** 2)
        loss.backward()
        losses.append(float(loss.detach()))
    return losses, x_leaf.grad, t_leaf.grad, w.grad


def test_a_second_backward_through_a_cast_made_once_reaches_its_leaf():
    want = _pinn_two_steps(torch)
    got = _pinn_two_steps(tc)
    assert_close(np.array(got[0]), np.array(want[0]), rtol=1e-6, what="losses")
    for g, w, what in zip(got[1:], want[1:], ("x leaf grad", "t leaf grad", "w grad")):
        assert_close(g, w, rtol=1e-5, atol=1e-6, what=what)


def test_a_node_that_saves_values_still_refuses_a_second_backward():
    for lib in (torch, tc):
        x = lib.ones(3, requires_grad=True)
        y = (x * x).sum()
        y.backward()
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            y.backward()


def _step_through_outside_history(lib, compiled, as_argument):
    """A compiled step whose loss reaches a tensor made before the call with autograd
    history (`x = leaf.float()`, as the PINN notebooks' data): its backward goes on into
    that history, so the leaf's .grad fills, as torch's."""
    rng = np.random.default_rng(8)
    leaf = lib.tensor(rng.uniform(-1, 1, (5, 1)), requires_grad=True)
    x = leaf.float()
    w = lib.nn.Parameter(lib.tensor(rng.standard_normal((1, 3)).astype(np.float32)))
    opt = lib.optim.SGD([w], lr=0.1)

    def step(data):
        opt.zero_grad()
        loss = (lib.tanh(data @ w) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    def closure_step():
        return step(x)
    fn = step if as_argument else closure_step
    run = tc.compile(fn, **compiled) if compiled is not None else fn
    losses = [float((run(x) if as_argument else run()).detach()) for _ in range(3)]
    return losses, leaf.grad, w.detach().clone()


@pytest.mark.parametrize("as_argument", [True, False], ids=["argument", "closure"])
def test_a_compiled_step_whose_backward_reaches_outside_history(as_argument):
    want = _step_through_outside_history(torch, None, as_argument)
    got = _step_through_outside_history(tc, {}, as_argument)   # a graph break: eager
    assert_close(np.array(got[0]), np.array(want[0]), rtol=1e-6, what="losses")
    assert got[1] is not None, "the leaf behind x got no gradient"
    assert_close(got[1], want[1], rtol=1e-5, what="leaf grad")
    assert_close(got[2], want[2], rtol=1e-6, what="parameter")
    with pytest.raises(tc.TraceError, match="history lies outside the traced code"):
        _step_through_outside_history(tc, dict(fullgraph=True), as_argument)
