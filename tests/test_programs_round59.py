"""What published normalizing-flow, flow-matching and score-matching programs needed that
tracecomp lacked, found by running them with their imports changed, eager and compiled
(round 59), each reproduced here against torch.

Programs run (weights copied from the torch model, data and noise from one numpy generator
in both libraries; "agrees" means eager, compile(model) and a compiled whole training step
give torch's losses, outputs and parameters after every step):
- cloneofsimo/minRF rf.py and dit.py (DiT_Llama at dim 64 on 8x8 inputs: patchify einsum,
  view_as_complex rotary embeddings from torch.polar, adaLN modulation, GroupNorm stem,
  LabelEmbedder's class dropout with its `.cuda()` dropped, scaled_dot_product_attention;
  RF's logit-normal t, batchwise MSE over `dim=list(range(1, ndim))`, Adam; RF.sample's
  classifier-free guided Euler steps under @torch.no_grad): agrees.
- bayesiains/nflows (its UMNN import stubbed out): Flow + CompositeTransform with
  MaskedPiecewiseRationalQuadraticAutoregressiveTransform (linear tails), the
  rational-quadratic coupling with LULinear, MaskedAffineAutoregressiveTransform +
  BatchNorm + RandomPermutation, SimpleRealNVP; log_prob training, inverse on noise; and
  each transform on its own forward, inverse, logabsdet and gradients (NaiveLinear,
  LULinear, QRLinear, SVDLinear, HouseholderSequence, Sigmoid/Logit, LeakyReLU, the
  piecewise linear/quadratic/cubic/rational-quadratic CDFs, masked and coupling piecewise
  transforms, affine and additive couplings, ActNorm, PointwiseAffineTransform): agree in
  float64 to 1e-13. The splines' `inputs[inside_interval_mask]` is a graph break with its
  reason, as torch.compile's data-dependent shape. (With BatchNorm and Adam, float32 or
  float64, the runs part from the second step in both libraries against each other: the
  last BatchNorm's bias has an exactly-zero gradient, rounding noise that Adam's first
  step turns into lr * sign; under SGD they agree.)
- atong01/conditional-flow-matching torchcfm (POT and torchdyn replaced by a
  linear_sum_assignment/sinkhorn stand-in and a fixed-step RK4): the 2D tutorial loop for
  ConditionalFlowMatcher, ExactOptimalTransport-, SchrodingerBridge-, VariancePreserving-
  and TargetConditionalFlowMatcher (OT plans from `torch.cdist(x0, x1) ** 2` and
  np.random.choice over the plan, pad_t_like_x), MLP with SELU, torch_wrapper's
  `t.repeat(n)[:, None]` in the ODE, GradModel's autograd.grad(create_graph=True): agree
  (the OT plan's `.numpy()` is a graph break of the compiled step, with its reason).
  Its UNetModelWrapper (guided-diffusion's UNet: timestep embedding, ResBlocks with
  scale-shift norm and up/down-sampling resblocks, QKVAttention and the legacy order,
  class conditioning) with train_cifar10.py's loop (clip_grad_norm_, warmup LambdaLR, the
  state_dict EMA through `.data.copy_`) did not import: fp16_util.py's
  `from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors` (below).
  Agrees now (float32 rounding of gradients that are zero in exact arithmetic, biases
  before a GroupNorm, Adam turns into lr-sized steps in both libraries); with
  use_fp16=True (convert_to_fp16, make_master_params, model_grads_to_master_grads,
  master_params_to_model_params) both libraries' float16 outputs are within 5e-3 of the
  float32 model's, and the master parameters agree.
- ermongroup/sliced_score_matching losses/sliced_sm.py and score_matching.py (an energy
  MLP with Softplus/ELU): single_sliced_score_matching (Rademacher and sphere noise),
  sliced_VR_score_matching, sliced_score_matching(_vr) with n_particles=2 (expand +
  contiguous + view duplicates), sliced_score_estimation(_vr) with a score network,
  exact_score_matching(_old) with its per-dimension autograd.grad loop: agree; the compiled
  steps of the sliced losses agree with fullgraph=True.
- VincentStimper/normalizing-flows normflows: NormalizingFlow with MaskedAffineFlow +
  ActNorm + AffineCouplingBlock + Permute('swap'), Planar + Radial, the autoregressive and
  coupled rational-quadratic splines with LULinearPermute, the circular autoregressive
  spline over UniformGaussian, Residual flows with LipschitzMLP (the memory-efficient
  Neumann estimator, np.random.geometric draws, exact-trace power series): forward_kld
  training agrees eagerly and compiled (ActNorm's data-dependent-init flag and the
  Residual fixed-point `while` are graph breaks with their reasons; the residual flow's
  compiled step stops with our double-backward error, as torch.compile's aot_autograd
  does: after the graph break the LipschitzMLP runs as a compiled call whose gradient the
  Neumann estimator differentiates again).
- A continuous normalizing flow's likelihood (torchcfm's maximum-likelihood CNF tutorial
  and FFJORD's exact divergence, written the torch.func way): backward through
  `vmap(lambda z: trace(jacrev(f)(z)))` where f closes over the model's weights raised
  AttributeError ('Batched' object has no attribute 'base'), eagerly and so in the
  compiled step too (below). Agrees now.
"""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tests.helpers import assert_close

_RNG = np.random.default_rng(59)


# --- backward through vmap of a transform of a function closing over a weight ------------
# grad/jacrev/jvp differentiate with respect to a fresh leaf of their own; a backward after
# the transform (the weight's gradient) also reached that leaf and put its gradient in the
# leaf's .grad, which under vmap is a batch with no array: add_to_grad raised.
_TRANSFORMS = {
    "vmap(grad)": lambda F, f, x: F.vmap(F.grad(lambda a: f(a).sum()))(x),
    "vmap(jacrev) trace": lambda F, f, x: F.vmap(lambda a: F.jacrev(f)(a).diagonal().sum())(x),
    "vmap(jacfwd)": lambda F, f, x: F.vmap(F.jacfwd(f))(x),
    "vmap(jvp)": lambda F, f, x: F.vmap(lambda a: F.jvp(f, (a,), (a * 0 + 1,))[1])(x),
    "vmap(hessian)": lambda F, f, x: F.vmap(F.hessian(lambda a: f(a).sum()))(x),
}


@pytest.mark.parametrize("transform", sorted(_TRANSFORMS))
@pytest.mark.parametrize("x_requires_grad", [False, True])
def test_backward_through_vmap_of_a_transform_reaches_the_closed_over_weight(
        transform, x_requires_grad):
    w0, x0 = _RNG.standard_normal((3, 3)), _RNG.standard_normal((4, 3))
    grads = {}
    for lib in (torch, tc):
        w = lib.tensor(w0, requires_grad=True)
        x = lib.tensor(x0, requires_grad=x_requires_grad)
        out = _TRANSFORMS[transform](lib.func, lambda a, lib=lib, w=w: lib.tanh(w @ a), x)
        (out ** 2).sum().backward()
        grads[lib] = (w.grad, x.grad)
    assert_close(grads[tc][0], grads[torch][0], rtol=1e-10, atol=1e-12, what="w.grad")
    if x_requires_grad:
        assert_close(grads[tc][1], grads[torch][1], rtol=1e-10, atol=1e-12, what="x.grad")
    else:
        assert grads[tc][1] is None


# --- a continuous normalizing flow trained on its exact log-likelihood -------------------
def _velocity(lib):
    lib.manual_seed(0)
    return lib.nn.Sequential(lib.nn.Linear(3, 16), lib.nn.Softplus(), lib.nn.Linear(16, 2))


def _cnf_nll(lib, model, x, steps=3):
    """Euler steps of the flow from data to noise, the log-density change from the exact
    divergence (trace of the Jacobian per sample, by vmap over jacrev)."""
    z, logdet = x, lib.zeros(x.shape[0])
    for k in range(steps):
        t = 1.0 - k / steps

        def field(zi, t=t):
            return model(lib.cat([zi, lib.full((1,), t)], -1))

        v = model(lib.cat([z, lib.full((z.shape[0], 1), t)], -1))
        div = lib.func.vmap(lambda zi: lib.trace(lib.func.jacrev(field)(zi)))(z)
        z, logdet = z - v / steps, logdet - div / steps
    return (0.5 * (z ** 2).sum(1) + logdet).mean()


@pytest.mark.parametrize("compiled", [False, True])
def test_cnf_exact_divergence_training_step_matches_torch(compiled):
    ref, ours = _velocity(torch), _velocity(tc)
    ours.load_state_dict({k: tc.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    opt_t = torch.optim.Adam(ref.parameters(), lr=1e-2)
    opt_c = tc.optim.Adam(ours.parameters(), lr=1e-2)

    def step(x):
        opt_c.zero_grad()
        loss = _cnf_nll(tc, ours, x)
        loss.backward()
        opt_c.step()
        return loss

    run = tc.compile(step, fullgraph=True) if compiled else step
    for _ in range(3):
        x = _RNG.standard_normal((5, 2)).astype(np.float32)
        want = _cnf_nll(torch, ref, torch.tensor(x))
        opt_t.zero_grad()
        want.backward()
        opt_t.step()
        assert_close(run(tc.tensor(x)), want, rtol=1e-5, atol=1e-6, what="loss")
    for p, q in zip(ours.parameters(), ref.parameters()):
        assert_close(p, q, rtol=1e-5, atol=1e-6, what="parameter")


# --- sliced score matching: a second derivative inside the compiled step -----------------
def _sliced_score_loss(lib, energy, x, v):
    """Song et al.'s sliced score matching with given projections v: the score from
    autograd.grad(create_graph=True), then the projected Hessian term from a second grad."""
    x = x.clone().requires_grad_(True)
    score = lib.autograd.grad(-energy(x).sum(), x, create_graph=True)[0]
    proj = (score * v).sum()
    hess_v = lib.autograd.grad(proj, x, create_graph=True)[0]
    return ((score * v).sum(-1) ** 2 * 0.5 + (v * hess_v).sum(-1)).mean()


def _energy(lib):
    lib.manual_seed(0)
    nn = lib.nn
    return nn.Sequential(nn.Linear(3, 16), nn.Softplus(), nn.Linear(16, 16), nn.ELU(),
                         nn.Linear(16, 1))


def test_sliced_score_matching_step_compiles_whole_and_matches_torch():
    ref, ours = _energy(torch), _energy(tc)
    ours.load_state_dict({k: tc.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    opt_t = torch.optim.Adam(ref.parameters(), lr=1e-2)
    opt_c = tc.optim.Adam(ours.parameters(), lr=1e-2)

    @tc.compile(fullgraph=True)
    def step(x, v):
        opt_c.zero_grad()
        loss = _sliced_score_loss(tc, ours, x, v)
        loss.backward()
        opt_c.step()
        return loss

    for _ in range(3):
        x = _RNG.standard_normal((8, 3)).astype(np.float32)
        v = np.sign(_RNG.standard_normal((8, 3))).astype(np.float32)
        want = _sliced_score_loss(torch, ref, torch.tensor(x), torch.tensor(v))
        opt_t.zero_grad()
        want.backward()
        opt_t.step()
        assert_close(step(tc.tensor(x), tc.tensor(v)), want, rtol=1e-5, atol=1e-6,
                     what="loss")
    for p, q in zip(ours.parameters(), ref.parameters()):
        assert_close(p, q, rtol=1e-5, atol=1e-6, what="parameter")


# --- torch._utils' flat buffers: guided-diffusion's fp16 master parameters ----------------
def _master_step(lib, dtype):
    """fp16_util's pattern: one flat fp32 master parameter for a model's parameters, the
    model's gradients flattened into its .grad, an SGD step, the result copied back through
    _unflatten_dense_tensors' views."""
    from importlib import import_module
    utils = import_module(lib.__name__ + "._utils")
    lib.manual_seed(0)
    model = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Tanh(), lib.nn.Linear(4, 2))
    with lib.no_grad():
        for i, p in enumerate(model.parameters()):
            p.copy_(lib.tensor(_MASTER_W[i]))
    model.to(dtype)
    params = list(model.parameters())
    master = lib.nn.Parameter(utils._flatten_dense_tensors([p.detach().float() for p in params]))
    x = lib.tensor(_MASTER_X).to(dtype)
    model(x).float().pow(2).mean().backward()
    master.grad = utils._flatten_dense_tensors([p.grad.float() for p in params])
    with lib.no_grad():
        master.sub_(0.5 * master.grad)
    for p, m in zip(params, utils._unflatten_dense_tensors(master.detach(), params)):
        p.detach().copy_(m)
    return master, [p.float() for p in params]


_MASTER_W = [_RNG.standard_normal(s).astype(np.float32) for s in ((4, 3), (4,), (2, 4), (2,))]
_MASTER_X = _RNG.standard_normal((5, 3)).astype(np.float32)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_flat_master_parameters_through_torch_utils_match_torch(dtype):
    want_master, want = _master_step(torch, getattr(torch, dtype))
    got_master, got = _master_step(tc, getattr(tc, dtype))
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=2e-3, atol=2e-3)
    assert_close(got_master, want_master, what="master", **tol)
    assert_close(got_master.grad, want_master.grad, what="master.grad", **tol)
    for g, w in zip(got, want):
        assert_close(g, w, what="parameter", **tol)


def test_unflattened_pieces_are_views_of_the_flat_tensor():
    for lib in (torch, tc):
        a, b = lib.ones(2, 3), lib.zeros(4)
        flat = lib._utils._flatten_dense_tensors([a, b])
        pieces = lib._utils._unflatten_dense_tensors(flat, [a, b])
        assert isinstance(pieces, tuple) and [tuple(p.shape) for p in pieces] == [(2, 3), (4,)]
        pieces[1][2] = 7.0
        assert flat[8].item() == 7.0 and b[2].item() == 0.0      # flat is a copy of b
    with pytest.raises(RuntimeError, match="_unflatten_dense_tensors"):
        tc._utils._unflatten_dense_tensors(tc.ones(3), [tc.ones(2, 3)])
