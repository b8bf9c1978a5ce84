"""What published torch programs needed that tracecomp lacked, found by running them with
their imports changed, eager and compiled (round 58: adversarial robustness, quantization-
aware training, distillation), each reproduced here against torch.

Programs run (weights drawn from one numpy generator in both libraries, tiny synthetic data,
a few steps; torch's random draws (rand, randn, randint, *_like, uniform_) replaced by the
same numpy numbers in both; "agrees" means eager, compile(model) and, where there is a
training step, a compiled whole step give torch's adversarial images, losses and
parameters):
- Harry24k/adversarial-attacks-pytorch (torchattacks, the package with its imports swapped,
  a small conv net with BatchNorm in eval mode): FGSM, BIM, PGD (random start or not),
  PGDL2, TPGD, MIFGSM, NIFGSM, VMIFGSM, VNIFGSM, RFGSM, FFGSM, EOTPGD, GN, Jitter, UPGD,
  PGDRS, PGDRSL2, PIFGSM, CW, DeepFool, EADL1, EADEN, JSMA, SparseFool, Square agree, eager
  and with the model compiled. SINIFGSM stopped on a second autograd.grad(retain_graph=False)
  through `nes_image = adv_images + c * momentum` (grad() thought the freed add led nowhere);
  APGD and FAB on torch.cuda.random.manual_seed (missing); FAB then on
  torch.zeros(c2.sum()) (a 0-d size tensor). All agree now. DIFGSM and TIFGSM (interpolate
  to a randint size, F.pad, a depthwise gaussian/linear kernel) on a net with adaptive
  pooling, the targeted modes (least likely, by function, random) and MultiAttack: agree,
  eager and compiled. Attack.save/load through DataLoader/TensorDataset (verbose robust
  accuracy and L2, predictions and clean inputs): agrees, eager; tracecomp reads torch's
  file (torch.load of tracecomp's file is refused: tracecomp saves in its own format).
- locuslab/fast_adversarial MNIST train_mnist.py (FGSM training from a uniform_ random start,
  `delta.data = torch.max(torch.min(1-X, delta.data), 0-X)`, PGD training with
  `delta.data[I] = ...[I]`, Adam with the cyclic np.interp lr): agrees; the compiled PGD step
  breaks the graph at the boolean-mask assignment, as it says. CIFAR10/train_fgsm.py without
  apex (a small PreActResNet, mean/std limits as (3,1,1) tensors, per-channel
  `delta[:, j].uniform_`, delta_init random/previous/zero, CyclicLR, the early-stop
  attack_pgd with torch.where indices, `delta.data[index[0]] = d` and restarts keeping the
  max loss, deepcopy of the state_dict): agrees, eager and with the model compiled.
- zhutmost/lsq-net (LsqQuan's grad_scale and round_pass straight-through estimators,
  QuanConv2d/QuanLinear swapped in by find_modules_to_quantize/replace_module_by_names,
  per-channel weight and all-positive activation quantizers, SGD momentum): agrees (its
  `_conv_forward(x, w)` is torch 1.7's; both runs pass the bias as torch 2 needs).
- haitongli/knowledge-distillation-pytorch (model/net.py's student CNN with BatchNorm1d,
  loss_fn_kd's KLDivLoss() with temperature and its 'mean' reduction warning, a teacher under
  no_grad in eval mode, nesterov SGD with StepLR): agrees.
- torch.nn.utils.prune in training (l1_unstructured then ln_structured on one weight,
  global_unstructured over a bias and a weight, l1_unstructured with an int amount, Adam,
  remove): agrees, eager, compile(model) and a compiled whole step.
- itayhubara/BinaryNet.pytorch (models/binarized_modules.py: Binarize, an InplaceFunction
  with a legacy-style forward used through apply, BinarizeLinear/BinarizeConv2d, the
  `p.org` full-precision copies restored before Adam's step and clamped after; a small
  main_mnist Net): stopped at once on `from torch.autograd.function import InplaceFunction`
  (missing); agrees now in float64 to 5e-12, eager, compile(model) and a compiled step (in
  float32 Adam's first step turns the zero gradient of the biases before BatchNorm1d into
  lr * sign of rounding noise, as torch's own float32 runs do). Setting `bias.org` inside
  forward breaks the graph, as it says (round 41). (Its fc1 reads input_b unset when the
  input has 784 features: both runs set it as BinarizeConv2d does.)
- A straight-through fake-quant QAT written by hand (a custom autograd.Function rounding in
  forward, masking in backward; eager and compiled) agrees; torch.fake_quantize_per_tensor_
  affine and fake_quantize_per_channel_affine (what QAT code calls without torch.ao) were
  missing, and torch.round(x, decimals=...) refused its keyword: they agree now.
"""
import numpy as np
import pytest
import torch

import tracecomp as tc


def _both(fn, x0):
    """fn(lib, x) in torch and tracecomp: values and the gradient of a weighted sum."""
    out = []
    for lib in (torch, tc):
        x = lib.tensor(x0, requires_grad=True)
        y = fn(lib, x)
        (y * lib.tensor(np.arange(y.numel(), dtype=x0.dtype).reshape(y.shape))).sum().backward()
        out.append((y.detach().numpy(), x.grad.numpy()))
    return out


# --- autograd.grad again through a freed node that saves nothing (torchattacks' SINIFGSM) ----
def test_a_second_grad_without_retain_graph_reaches_the_input_through_a_freed_add():
    def run(lib):
        x = lib.ones(3, requires_grad=True)
        nes = x + 2.0 * lib.zeros(3)        # AddBackward saves nothing: torch runs it again
        grads = []
        for i in lib.arange(2):
            y = nes / lib.pow(2, i)
            grads.append(lib.autograd.grad((y * y).sum(), x, retain_graph=False)[0].numpy())
        return grads
    for got, want in zip(run(tc), run(torch)):
        np.testing.assert_allclose(got, want)


# --- torch.cuda.random (torchattacks' APGD and FAB seed it on any machine) -------------------
def test_cuda_random_has_torchs_seeding_functions_and_seeds_nothing_without_a_device():
    names = [n for n in dir(torch.cuda.random) if "seed" in n or "rng_state" in n]
    assert names and all(callable(getattr(tc.cuda.random, n)) for n in names)
    tc.manual_seed(3)
    want = tc.rand(2).numpy()
    tc.manual_seed(3)
    tc.cuda.random.manual_seed(7)           # a no-op without a device, as torch's
    np.testing.assert_array_equal(tc.rand(2).numpy(), want)
    assert tc.cuda.random.get_rng_state_all() == torch.cuda.random.get_rng_state_all() == []


# --- a 0-d tensor as a size (torchattacks' FAB: torch.zeros(c2.sum())) ------------------------
def test_a_zero_d_int_tensor_is_one_size():
    mask = np.array([True, False, True, True])
    assert tuple(tc.zeros(tc.tensor(mask).sum()).shape) == \
        tuple(torch.zeros(torch.tensor(mask).sum()).shape) == (3,)
    with pytest.raises(TypeError, match="must be tuple of ints"):
        tc.zeros(tc.tensor(3.0))


# --- fake quantization (QAT without torch.ao) -------------------------------------------------
_X = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32) * 3
_X[0, :3] = [0.25, 0.75, -0.35]             # ties and a value next to one, at scale 0.1/0.5


@pytest.mark.parametrize("args", [(0.1, 3, -128, 127), (0.5, 10, 0, 15), (0.3, 0, -2, 1),
                                  (-0.2, 0, -4, 3)])
@pytest.mark.parametrize("compiled", [False, True])
def test_fake_quantize_per_tensor_affine_gives_torchs_values_and_straight_through_grads(
        args, compiled):
    def fn(lib, x):
        f = lambda x: lib.fake_quantize_per_tensor_affine(x * 1, *args)  # noqa: E731
        return (lib.compile(f) if compiled and lib is tc else f)(x)
    (tv, tg), (cv, cg) = _both(fn, _X)
    np.testing.assert_array_equal(cv, tv)
    np.testing.assert_array_equal(np.signbit(cv), np.signbit(tv))     # -0.0 as torch's
    np.testing.assert_array_equal(cg, tg)   # 0 where the grid clamps: some of each here
    assert (tg == 0).any() and (tg != 0).any()


def test_fake_quantize_per_tensor_affine_takes_tensor_qparams():
    def fn(lib, x):
        return lib.fake_quantize_per_tensor_affine(
            x, lib.tensor(0.2), lib.tensor(3, dtype=lib.int32), -8, 7)
    (tv, tg), (cv, cg) = _both(fn, _X.astype(np.float64))
    np.testing.assert_array_equal(cv, tv)
    np.testing.assert_array_equal(cg, tg)


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("compiled", [False, True])
def test_fake_quantize_per_channel_affine_gives_torchs_values_and_grads(axis, compiled):
    n = _X.shape[axis]
    scale = np.linspace(0.1, 0.4, n).astype(np.float32)
    zero_point = np.arange(n, dtype=np.int32) - 1

    def fn(lib, x):
        f = lambda x: lib.fake_quantize_per_channel_affine(  # noqa: E731
            x * 1, lib.tensor(scale), lib.tensor(zero_point), axis, -8, 7)
        return (lib.compile(f) if compiled and lib is tc else f)(x)
    (tv, tg), (cv, cg) = _both(fn, _X)
    np.testing.assert_array_equal(cv, tv)
    np.testing.assert_array_equal(cg, tg)


@pytest.mark.parametrize("call, match", [
    (lambda L, x: L.fake_quantize_per_tensor_affine(x, 0.1, 0, 5, 3), "quant_min"),
    (lambda L, x: L.fake_quantize_per_tensor_affine(x, 0.1, 9, 0, 3), "zero_point"),
    (lambda L, x: L.fake_quantize_per_tensor_affine(
        x, L.ones(2), L.tensor(0), 0, 3), "element"),
    (lambda L, x: L.fake_quantize_per_channel_affine(
        x, L.ones(3), L.zeros(3, dtype=L.int32), 1, 0, 3), "not consistent"),
    (lambda L, x: L.fake_quantize_per_channel_affine(
        x, L.ones(4), L.zeros(4, dtype=L.int64), 1, 0, 3), "Int32, Float or Half"),
    (lambda L, x: L.fake_quantize_per_channel_affine(
        x, L.ones(4, dtype=L.float64), L.zeros(4, dtype=L.int32), 1, 0, 3), "Float"),
    (lambda L, x: L.fake_quantize_per_channel_affine(
        x, L.ones(4), L.zeros(4, dtype=L.int32), 2, 0, 3), "out of range"),
    (lambda L, x: L.fake_quantize_per_channel_affine(
        x, L.ones(4), L.zeros(4, dtype=L.int32), -1, 0, 3), "`axis` must be between"),
])
def test_fake_quantize_refuses_what_torch_refuses(call, match):
    with pytest.raises(Exception, match=match) as want:
        call(torch, torch.tensor(_X))
    with pytest.raises(type(want.value), match=match):
        call(tc, tc.tensor(_X))


# --- round(decimals=) -------------------------------------------------------------------------
@pytest.mark.parametrize("decimals", [1, 2, -1, -2])
def test_round_with_decimals_gives_torchs_values(decimals):
    a = np.random.default_rng(1).standard_normal(500).astype(np.float32) * 1000
    want = torch.round(torch.tensor(a), decimals=decimals).numpy()
    np.testing.assert_array_equal(tc.round(tc.tensor(a), decimals=decimals).numpy(), want)
    np.testing.assert_array_equal(
        tc.compile(lambda x: x.round(decimals=decimals))(tc.tensor(a)).numpy(), want)
    x = tc.tensor(a.astype(np.float64))
    x[1:].round_(decimals=decimals)
    y = torch.tensor(a.astype(np.float64))
    y[1:].round_(decimals=decimals)
    np.testing.assert_array_equal(x.numpy(), y.numpy())


# --- InplaceFunction (BinaryNet's Binarize: torch's legacy base, used through apply) ----------
def _binarize(lib):
    class Binarize(lib.autograd.function.InplaceFunction):
        def forward(ctx, input, quant_mode="det", allow_scale=False, inplace=False):
            ctx.inplace = inplace
            if ctx.inplace:
                ctx.mark_dirty(input)
                output = input
            else:
                output = input.clone()
            scale = output.abs().max() if allow_scale else 1
            return output.div(scale).sign().mul(scale)

        def backward(ctx, grad_output):
            return grad_output, None, None, None        # straight through
    return Binarize


@pytest.mark.parametrize("allow_scale", [False, True])
def test_an_inplace_function_subclass_binarizes_with_a_straight_through_gradient(allow_scale):
    def fn(lib, x):
        return _binarize(lib).apply(x * 1, "det", allow_scale) * 2
    (tv, tg), (cv, cg) = _both(fn, _X)
    np.testing.assert_array_equal(cv, tv)
    np.testing.assert_array_equal(cg, tg)


def test_an_inplace_function_that_marks_its_input_dirty_but_returns_another_is_refused():
    # (Binarize's inplace=True branch: torch refuses it, so must we)
    with pytest.raises(RuntimeError, match="marked as dirty") as want:
        _binarize(torch).apply(torch.ones(2, requires_grad=True) * 1, "det", False, True)
    with pytest.raises(type(want.value), match="marked as dirty"):
        _binarize(tc).apply(tc.ones(2, requires_grad=True) * 1, "det", False, True)
