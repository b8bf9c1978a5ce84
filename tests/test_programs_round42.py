"""What published torch programs needed that tracecomp lacked, found by running them with
their imports changed, eager and compiled (round 42), each reproduced here against torch.

Programs run (weights copied from torch's twin, tiny synthetic data, a few steps; "agrees"
means eager, compile(model) and a compiled whole training step give torch's losses,
outputs and parameters):
- openai/CLIP clip/model.py (ViT and ModifiedResNet towers at a tiny width, the text
  transformer with its causal mask and argmax-token pooling, the symmetric contrastive
  loss under AdamW, build_model from a state dict with convert_weights' float16): the
  float32 models agree (the key projection's bias has a zero gradient, float32 rounding
  noise, which AdamW's first step turns into lr * sign: 1e-3 apart in both libraries'
  runs against float64). build_model of the ResNet tower stopped: its BatchNorm2d stays
  float32 while convert_weights makes the convolutions float16, and our batch_norm
  returned float32 for the float16 activations, which the next float16 conv refused.
  torch's CPU norms take a float16/bfloat16 input with float32 parameters and return the
  input's dtype; every other mixture is its "mixed dtype (CPU)" error (ours computed in
  the promoted dtype). Agrees now (rms_norm of a bfloat16 input also used bfloat16's
  machine epsilon where torch uses float32's).
- karpathy/pytorch-made made.py (its __main__ connectivity check) and run.py (binarized
  data replaced by a synthetic .npz, .cuda() dropped; masks resampled from
  np.random.RandomState into the `mask` buffers between compiled calls, Adam with weight
  decay, StepLR stepped with an epoch, BCE-with-logits size_average=False): agrees, eager,
  compile(model) and compiled step. Its scheduler warnings named our wrapper's file, not
  run.py's line: fixed.
- karpathy/pytorch-normalizing-flows nflib (the notebook's models: RealNVP, NICE, SlowMAF,
  MAF, IAF, ActNorm + MAF, Glow with LU-parametrized Invertible1x1Conv, NSF coupling and
  autoregressive spline flows; MultivariateNormal and the logistic TransformedDistribution
  priors; Adam; model.backward on a grid): agree eager and compile(model). The compiled
  step of every model with ActNorm diverged from step 2: its data-dependent init sets
  `t.data` from `exp(s)` and the traced backward went on from t into s. Agrees now.
- facebookresearch/dino (vit_tiny at patch 8 on 32x32 and 16x16 crops with bicubic
  position-embedding interpolation, DINOHead with weight_norm's last layer,
  MultiCropWrapper, DINOLoss with its centre update through a one-process gloo
  all_reduce, get_params_groups, cosine schedules written into the param groups,
  clip_gradients, cancel_gradients_last_layer, the teacher's EMA): agrees, eager,
  compile(model) and compiled step (clip_gradients' `if clip_coef < 1` a graph break, as
  in torch.compile; without clipping the step compiles whole).
- facebookresearch/ConvNeXt models (ConvNeXt and ConvNeXtIsotropic at tiny widths,
  channels-first LayerNorm, layer scale; timm's trunc_normal_/DropPath/register_model
  replaced by small stand-ins) under AdamW, label smoothing and clip_grad_norm_: agree.
- state-spaces/s4 example.py's S4Model with models/s4/s4d.py (complex C through
  view_as_real/view_as_complex, rfft/irfft convolution, GLU, the `_optim` per-parameter
  groups and CosineAnnealingLR; einops' one repeat spelled as expand): agrees, eager,
  compile(model) and compiled step.

Left: a Parameter made inside compiled code (`nn.Parameter(y)`) and stored outside gets no
.grad after the call (eagerly it does); the gradient it passes on is right.
"""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

_DT = {"float16": (torch.float16, tc.float16), "bfloat16": (torch.bfloat16, tc.bfloat16),
       "float32": (torch.float32, tc.float32), "float64": (torch.float64, tc.float64)}


def _pair(array, dtype, grad=False):
    """The same values as a torch and a tracecomp tensor of dtype (bfloat16 through
    float32, which numpy cannot hand torch)."""
    t = torch.tensor(array, dtype=torch.float64).to(_DT[dtype][0])
    c = tc.tensor(array, dtype=tc.float64).to(_DT[dtype][1])
    return (t.requires_grad_(), c.requires_grad_()) if grad else (t, c)


def _np(x):
    return x.detach().float().numpy().astype(np.float64) if isinstance(x, torch.Tensor) \
        else np.asarray(x.detach().float().numpy(), np.float64)


# --- normalization of a float16/bfloat16 input with float32 parameters ---------------------
_NORMS = {
    "batch_norm_train": lambda F, x, w, b, rm, rv: F.batch_norm(x, rm, rv, w, b, True, 0.3),
    "batch_norm_eval": lambda F, x, w, b, rm, rv: F.batch_norm(x, rm, rv, w, b, False),
    "layer_norm": lambda F, x, w, b, rm, rv: F.layer_norm(x, (3, 5), w.expand(5, 3).T,
                                                           b.expand(5, 3).T),
    "group_norm": lambda F, x, w, b, rm, rv: F.group_norm(x, 1, w, b),
    "instance_norm": lambda F, x, w, b, rm, rv: F.instance_norm(x, rm, rv, w, b, True, 0.3),
}


def _norm_case(op, x_dtype, p_dtype, compiled=False):
    rng = np.random.default_rng(0)
    x = _pair(rng.standard_normal((4, 3, 5)) * 3 + 1, x_dtype, grad=True)
    w = _pair(rng.standard_normal(3), p_dtype, grad=True)
    b = _pair(rng.standard_normal(3), p_dtype, grad=True)
    rm = _pair(rng.standard_normal(3), p_dtype)
    rv = _pair(rng.random(3) + 0.5, p_dtype)
    fn = _NORMS[op]
    want = fn(torch.nn.functional, *(p[0] for p in (x, w, b, rm, rv)))
    ours = tc.compile(fn) if compiled else fn
    got = ours(tc.nn.functional, *(p[1] for p in (x, w, b, rm, rv)))
    cot = np.random.default_rng(1).standard_normal(tuple(want.shape))
    (want * _pair(cot, x_dtype)[0]).sum().backward()
    (got * _pair(cot, x_dtype)[1]).sum().backward()
    return want, got, [(t, c) for t, c in (x, w, b, rm, rv)]


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("x_dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("op", sorted(_NORMS))
def test_a_half_input_with_float32_parameters_normalizes_as_torch(op, x_dtype, compiled):
    want, got, pairs = _norm_case(op, x_dtype, "float32", compiled)
    assert str(got.dtype).split(".")[1] == x_dtype == str(want.dtype).split(".")[1]
    # one rounding of the float32 result: at most one unit in the last place apart
    ulp = 2.0 ** -10 if x_dtype == "float16" else 2.0 ** -7
    assert_close(_np(got), _np(want), rtol=ulp, atol=ulp, what=f"{op} output")
    for (t, c), name in zip(pairs, ("input", "weight", "bias", "running_mean",
                                    "running_var")):
        assert str(c.dtype).split(".")[1] == str(t.dtype).split(".")[1], name
        assert_close(_np(c), _np(t), rtol=1e-6, atol=1e-6, what=name)
        if t.grad is not None:
            assert_close(_np(c.grad), _np(t.grad), rtol=4 * ulp, atol=4 * ulp,
                         what=f"{op} {name} grad")


def test_a_half_resnet_after_convert_weights_keeps_its_batchnorm_in_float32():
    """CLIP's build_model: convolutions float16, BatchNorm2d float32, conv after BN."""
    def net(nn):
        m = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Conv2d(4, 2, 1))
        for conv in (m[0], m[3]):
            conv.weight.data = conv.weight.data.half()
            if conv.bias is not None:
                conv.bias.data = conv.bias.data.half()
        return m.eval()
    ref, ours = net(torch.nn), net(tc.nn)
    ours.load_state_dict({k: tc.tensor(v.float().numpy()).to(getattr(tc, str(v.dtype)[6:]))
                          for k, v in ref.state_dict().items()})
    x = np.random.default_rng(2).standard_normal((1, 3, 6, 6))
    want = ref(torch.tensor(x, dtype=torch.float16))
    for model in (ours, tc.compile(ours)):
        got = model(tc.tensor(x, dtype=tc.float16))
        assert got.dtype == tc.float16
        assert_close(_np(got), _np(want), rtol=2e-3, atol=2e-3)


_MIXES = [("float16", "bfloat16"), ("float16", "float64"), ("bfloat16", "float16"),
          ("float32", "float16"), ("float32", "bfloat16"), ("float32", "float64"),
          ("float64", "float32"), ("float64", "float16")]


@pytest.mark.parametrize("x_dtype, p_dtype", _MIXES)
@pytest.mark.parametrize("op", ["batch_norm_eval", "layer_norm", "group_norm",
                                "instance_norm"])
def test_other_mixed_dtypes_are_torch_errors(op, x_dtype, p_dtype):
    x = _pair(np.ones((2, 3, 5)), x_dtype)
    params = [_pair(np.ones(3), p_dtype) for _ in range(4)]
    with pytest.raises(RuntimeError) as want:
        _NORMS[op](torch.nn.functional, x[0], *(p[0] for p in params))
    with pytest.raises(RuntimeError) as got:
        _NORMS[op](tc.nn.functional, x[1], *(p[1] for p in params))
    assert str(got.value).startswith(str(want.value).split("\n")[0])


def test_batch_norm_of_half_weights_with_float32_statistics_is_torch_error():
    with pytest.raises(RuntimeError, match="expected scalar type Half but found Float") \
            as want:
        torch.nn.functional.batch_norm(torch.ones(2, 3, dtype=torch.float16),
                                       torch.zeros(3), torch.ones(3),
                                       torch.ones(3, dtype=torch.float16))
    with pytest.raises(RuntimeError, match=str(want.value)):
        tc.nn.functional.batch_norm(tc.ones(2, 3, dtype=tc.float16), tc.zeros(3),
                                    tc.ones(3), tc.ones(3, dtype=tc.float16))


@pytest.mark.parametrize("x_dtype, w_dtype", [("bfloat16", None), ("float16", None),
                                              ("bfloat16", "float32"),
                                              ("float16", "float64"),
                                              ("float32", "float64")])
def test_rms_norm_computes_a_half_input_in_float32_and_returns_its_dtype(x_dtype, w_dtype):
    """torch's rms_norm: eps=None is float32's epsilon for a float16/bfloat16 input (ours
    took bfloat16's, 0.0078, so small inputs came out 1/100 of torch's), the weight's
    product in the promoted dtype, the result in the input's."""
    x = _pair(np.full((2, 4), 1e-3) * np.arange(1, 5), x_dtype)
    w = _pair(np.array([0.5, 1 / 3, 2, 3]), w_dtype) if w_dtype else (None, None)
    want = torch.nn.functional.rms_norm(x[0], (4,), w[0])
    got = tc.nn.functional.rms_norm(x[1], (4,), w[1])
    assert str(got.dtype).split(".")[1] == str(want.dtype).split(".")[1]
    assert_close(_np(got), _np(want), rtol=1e-2, atol=1e-6)


# --- `p.data = y` inside a compiled step: the parameter stays a leaf ----------------------
class _ActNorm:
    """karpathy/pytorch-normalizing-flows' ActNorm (its shape, our code): the first batch
    sets s and t by `.data =` to values computed from it, the second (t) from the first."""

    def __init__(self, lib):
        self.lib = lib
        self.s = lib.nn.Parameter(lib.zeros(1, 2))
        self.t = lib.nn.Parameter(lib.zeros(1, 2))
        self.done = False

    def __call__(self, x):
        lib = self.lib
        if not self.done:
            self.s.data = (-lib.log(x.std(dim=0, keepdim=True))).detach()
            self.t.data = (-(x * lib.exp(self.s)).mean(dim=0, keepdim=True)).detach()
            self.done = True
        return x * lib.exp(self.s) + self.t


@pytest.mark.parametrize("compiled", [False, True])
def test_data_assigned_from_another_parameter_keeps_both_leaves_in_a_compiled_step(compiled):
    """t's new data was computed from s: the compiled step's backward went on through it
    into s (s's gradient 2.92 where torch's is 9.72, t's none), so every later step
    diverged; it stops at t now, as eagerly."""
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((8, 2)) for _ in range(3)]
    runs = []
    for lib in (torch, tc):
        m = _ActNorm(lib)
        opt = lib.optim.SGD([m.s, m.t], lr=0.01)

        def step(x, m=m, opt=opt):
            loss = (m(x) ** 3).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        if compiled and lib is tc:
            step = tc.compile(step)
        runs.append([(step(lib.tensor(x, dtype=lib.float32)).item(), _np(m.s), _np(m.t),
                      _np(m.s.grad), _np(m.t.grad)) for x in xs])
    for want, got in zip(*runs):
        for w, g in zip(want, got):
            assert_close(np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-5)


# --- a scheduler's warnings name the caller's line ------------------------------------------
_SCHEDULERS = {
    "StepLR": lambda lib, o: lib.optim.lr_scheduler.StepLR(o, 1),
    "LambdaLR": lambda lib, o: lib.optim.lr_scheduler.LambdaLR(o, lambda e: 0.9 ** e),
    "ReduceLROnPlateau": lambda lib, o: lib.optim.lr_scheduler.ReduceLROnPlateau(o),
}


@pytest.mark.parametrize("name", sorted(_SCHEDULERS))
def test_scheduler_warnings_point_at_the_callers_line_as_torch(name):
    """karpathy/pytorch-made's run.py calls scheduler.step(epoch) before any optimizer
    step: torch's two warnings name that line, ours named scheduler_base.py (the
    wrapper that keeps a scheduler's step out of traces), so a filter by module or a
    reader looking for the call found the wrong place."""
    import warnings
    seen = []
    for lib in (torch, tc):
        p = lib.nn.Parameter(lib.zeros(2))
        sched = _SCHEDULERS[name](lib, lib.optim.SGD([p], lr=0.1))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sched.step(1.0, 2) if name == "ReduceLROnPlateau" else sched.step(2)
        seen.append([(w.filename, str(w.message)) for w in caught])
    assert seen[1] == seen[0] and seen[0] and {f for f, _ in seen[0]} == {__file__}
