"""What published torch programs needed that tracecomp lacked, found by running them with
their imports changed, eager and compiled (round 51), each reproduced here against torch.

Programs run (weights copied from the torch model, data from one numpy generator; "agrees"
means eager, compile(model) and a compiled whole training step give torch's losses,
outputs and parameters, buffers included, after every step):
- rosinality/vq-vae-2-pytorch vqvae.py (two-level VQ-VAE: the EMA Quantize with
  `.data.mul_().add_(alpha=)` buffers, `(-dist).max(1)`, one_hot, straight-through
  `input + (quantize - input).detach()`, ResBlock's `out += input` after an inplace ReLU,
  ConvTranspose2d), train_vqvae.py's step (MSE + 0.25 latent loss, Adam), decode_code:
  agree.
  pixelsnail.py with train_pixelsnail.py's step (PixelSNAIL top with causal attention and
  its lru_cache'd masks, bottom conditioned through CondResNet and interpolate; the old
  nn.utils.weight_norm, CausalConv2d zeroing `weight_v.data[:, :, -1, k:]` each forward,
  GLU gates, `out += input`, dropout set to 0 in both: the blocks' default p=0.1 draws
  masks from each library's own generator): losses agree to 1e-7 (weight_v entries the
  forward zeroes and Adam moves by noise drift to 1e-3 of their size in every mode, eager
  included; the program's float32 background keeps float64 out). In a compiled forward
  the `.data[...]` zero_ was a graph break (below); compiled alone, the forward still is
  one, now as any parameter updated before its use in compile(model) is.
- dreamquark-ai/tabnet tab_network.py with sparsemax.py (TabNet with categorical
  embeddings and a group matrix, ghost batch norm over uneven chunks, GLU blocks, the
  sparsemax and entmax15 autograd.Functions, forward_masks), abstract_model's step
  (cross_entropy - lambda_sparse * M_loss, clip_grad_norm_, Adam): eager agrees; compiled,
  sparsemax gave the attentive transformers no gradient at all (below) and training went
  elsewhere; after the fix agrees (float64 to 1e-7 after four steps; in float32 Adam turns
  the ghost batch norms' noise-sized gradients into lr-sized steps in both libraries).
  EmbeddingGenerator's `if is_continuous:` over a tensor is a graph break, as in torch.
- yenchenlin/nerf-pytorch run_nerf_helpers.py and run_nerf.py's render, render_rays,
  raw2outputs, batchify (positional encoding through lambdas of torch.sin/cos, NeRF with a
  skip and view directions, get_rays' meshgrid, ndc_rays, hierarchical sample_pdf with
  searchsorted and gather over an expand, exclusive cumprod, coarse + fine networks, Adam
  with the exponential lr decay written into param_groups): agree (float32 Adam drift on
  dead-ReLU gradients; float64 agrees, NaN disparities where both give NaN); the
  `isnan(...).any() and DEBUG` check is a graph break, as in torch.
- williamleif/graphsage-simple aggregators.py, encoders.py, model.py (random.sample made to
  sample sorted(set) for Python 3.11 in both; MeanAggregator's mask with list-indexed
  `mask[rows, cols] = 1`, nested encoders through lambdas, Variable, xavier_uniform, SGD
  without zero_grad as the original): agree; Python's random in a compiled forward is a
  graph break with its reason.
- lucidrains/performer-pytorch performer_pytorch.py and reversible.py (an einops stand-in
  for its seven patterns; local_attention and axial embeddings unused): PerformerLM causal
  (the chunked non-CUDA causal linear attention), reversible with generalized attention,
  chunked feed-forward and ReZero (the _ReversibleFunction whose backward reruns the
  blocks under enable_grad and calls autograd.backward, restoring the recorded RNG state),
  and ScaleNorm + GLU with tied embeddings; cross_entropy with ignore_index, masks,
  clip_grad_norm_, Adam: agree after the helpers below were added. The redraw counter's
  `calls >= interval` and get_rng_state in a compiled forward are graph breaks.
- rosinality/glow-pytorch model.py and train.py's calc_loss (ActNorm's data-dependent
  init under no_grad behind `initialized.item()`, InvConv2dLU from scipy's LU with masks,
  InvConv2d with torch.qr and a float64 slogdet, ZeroConv2d, affine coupling, squeeze and
  split, the warmup lr, reverse sampling): agree (float32 Adam drift on the zero-initialised
  convolutions' first gradients; float64 to 1e-12).
The gaps: in compiled code a non-leaf tensor updated in place under no_grad lost its
gradient path (torch keeps its grad_fn: the update changes values, not history), so
sparsemax's `input -= max_val` inside the Function's forward (which runs under no_grad)
cut every gradient before it, silently; the same for `a[0] = v`, clamp_, copy_,
masked_fill_, add_ and index_add_ under no_grad. torch.utils.checkpoint's
get_device_states / set_device_states (reversible.py imports them) and
torch.cuda._initialized were missing, and torch.qr gave no deprecation warning.
Noticed, then done: a view updated in place under no_grad (`v = a[1:]; v.mul_(2)`, and
PixelSNAIL's `w.data[:, :, -1, k:].zero_()` on a parameter) was a graph break in a compiled
function, its base read as stale (traced values share no memory). The write now reaches
the base (tracing/view_writes.py, tests/compiler/test_view_writes_under_no_grad.py); in
compile(model) PixelSNAIL's mask still breaks the graph, as an update of any parameter
that the forward then uses where gradients are recorded does (compiler/state.py:
settle_updated_leaves), while its compiled training step is one graph.
"""
import numpy as np
import pytest
import torch

import tracecomp as tc

_RNG = np.random.default_rng(51)


# --- a non-leaf updated in place under no_grad keeps its history --------------------------
def _update_under_no_grad(lib, x):
    a = x * 2.0
    with lib.no_grad():
        a -= a.max()
        a.mul_(3)
    (a * a + a.exp()).sum().backward()
    return a


@pytest.mark.parametrize("compiled", [False, True])
def test_a_nonleaf_updated_in_place_under_no_grad_keeps_its_gradient_path(compiled):
    x = _RNG.standard_normal(5).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    want = _update_under_no_grad(torch, xt)
    xc = tc.tensor(x, requires_grad=True)
    f = tc.compile(_update_under_no_grad) if compiled else _update_under_no_grad
    got = f(tc, xc)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-6)
    assert xc.grad is not None
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=1e-5)


_NO_GRAD_UPDATES = {
    "setitem": lambda lib, a, b: a.__setitem__(0, 5.0),
    "clamp_": lambda lib, a, b: a.clamp_(min=0.5),
    "copy_": lambda lib, a, b: a.copy_(b),
    "masked_fill_": lambda lib, a, b: a.masked_fill_(a > 1, 0.0),
    "add_": lambda lib, a, b: a.add_(b * 3),
    "index_add_": lambda lib, a, b: a.index_add_(0, lib.tensor([0, 0]), b[:2]),
}


def _updated_then_used(lib, name, x, y):
    a = x * 2.0 + y
    with lib.no_grad():
        _NO_GRAD_UPDATES[name](lib, a, y)
    (a * a * x).sum().backward()
    return a


@pytest.mark.parametrize("name", sorted(_NO_GRAD_UPDATES))
def test_each_in_place_update_under_no_grad_keeps_the_gradient_path_compiled(name):
    x = np.array([1.0, 2.0, 3.0, 0.25], np.float32)
    y = np.array([0.5, -1.0, 2.0, 1.0], np.float32)
    xt, yt = (torch.tensor(v, requires_grad=True) for v in (x, y))
    want = _updated_then_used(torch, name, xt, yt)
    xc, yc = (tc.tensor(v, requires_grad=True) for v in (x, y))
    got = tc.compile(_updated_then_used)(tc, name, xc, yc)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-6)
    for mine, theirs in ((xc, xt), (yc, yt)):
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-6)


# --- tabnet's sparsemax: an autograd.Function whose forward shifts its input in place ---
def _sparsemax_function(lib):
    class Sparsemax(lib.autograd.Function):
        @staticmethod
        def forward(ctx, z):
            z -= z.max(dim=-1, keepdim=True)[0]     # in place, not marked dirty
            srt = z.sort(dim=-1, descending=True)[0]
            ks = lib.arange(1, z.shape[-1] + 1, dtype=z.dtype)
            cum = srt.cumsum(-1) - 1
            k = (ks * srt > cum).sum(-1, keepdim=True)
            tau = cum.gather(-1, k - 1) / k.to(z.dtype)
            out = (z - tau).clamp(min=0)
            ctx.save_for_backward(k, out, z)
            return out

        @staticmethod
        def backward(ctx, g):
            k, out, z = ctx.saved_tensors
            g = g.clone()
            g[out == 0] = 0
            v = g.sum(-1, keepdim=True) / k.to(g.dtype)
            # z is read as forward left it (shifted): its max is 0 in every row
            return lib.where(out != 0, g - v, g) + 0 * z.max(-1, keepdim=True)[0]
    return Sparsemax


def _attention_step(lib, fn, w, x, g):
    m = fn.apply(x @ w)
    loss = (m * g).sum() + (m * lib.log(m + 1e-15)).sum(1).mean()
    loss.backward()
    return m.detach(), loss.detach()


@pytest.mark.parametrize("compiled", [False, True])
def test_a_function_shifting_its_input_in_place_passes_torchs_gradient_on(compiled):
    w = _RNG.standard_normal((4, 6)).astype(np.float32)
    x = _RNG.standard_normal((5, 4)).astype(np.float32)
    g = _RNG.standard_normal((5, 6)).astype(np.float32)
    wt = torch.tensor(w, requires_grad=True)
    want = _attention_step(torch, _sparsemax_function(torch), wt, torch.tensor(x),
                           torch.tensor(g))
    wc = tc.tensor(w, requires_grad=True)
    f = tc.compile(_attention_step) if compiled else _attention_step
    got = f(tc, _sparsemax_function(tc), wc, tc.tensor(x), tc.tensor(g))
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    assert wc.grad is not None
    np.testing.assert_allclose(wc.grad.numpy(), wt.grad.numpy(), rtol=1e-4, atol=1e-6)


# --- performer-pytorch's reversible layers: torch.utils.checkpoint's device-state helpers ---
def test_get_device_states_of_cpu_tensors_is_torchs():
    from torch.utils.checkpoint import get_device_states as torch_states

    from tracecomp.utils.checkpoint import get_device_states, set_device_states
    want = torch_states(torch.ones(2), [torch.ones(1), {"a": torch.ones(3)}], 3)
    got = get_device_states(tc.ones(2), [tc.ones(1), {"a": tc.ones(3)}], 3)
    assert got == want == ([], [])
    assert set_device_states(*got) is None
    assert set_device_states([], [], device_type="meta") is None


def test_cuda_initialized_is_a_bool_flag_as_torchs():
    assert type(tc.cuda._initialized) is type(torch.cuda._initialized) is bool
    assert tc.cuda._initialized == tc.cuda.is_initialized()
    with pytest.raises(AttributeError, match="no attribute '_not_a_name'"):
        tc.cuda._not_a_name    # noqa: B018


def _recorded_dropout(lib, x):
    """What performer's Deterministic does: record the generators' states, run, then run
    again from those states, drawing the same dropout mask."""
    from importlib import import_module
    checkpoint = import_module(f"{lib.__name__}.utils.checkpoint")
    cpu_state = lib.get_rng_state()
    devices, states = checkpoint.get_device_states(x) if lib.cuda._initialized else ([], [])
    first = lib.nn.functional.dropout(x, 0.5)
    with lib.random.fork_rng(devices=devices, enabled=True):
        lib.set_rng_state(cpu_state)
        checkpoint.set_device_states(devices, states)
        again = lib.nn.functional.dropout(x, 0.5)
    return first, again, lib.nn.functional.dropout(x, 0.5)


def test_a_recorded_rng_state_replays_dropout_as_in_torch():
    for lib in (torch, tc):
        lib.manual_seed(0)
        first, again, after = _recorded_dropout(lib, lib.ones(64))
        assert (first == again).all()
        assert not (after == first).all()   # fork_rng put the drawn-on state back


# --- glow-pytorch's InvConv2d: torch.qr is deprecated, once per process --------------------
def test_the_old_qr_warns_once_with_torchs_text():
    import warnings

    from tracecomp import linalg_legacy
    linalg_legacy._WARNED.discard("qr")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        q, r = tc.qr(tc.eye(3) * 2)
        tc.eye(2).qr()
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        torch.qr(torch.eye(3))          # torch warns once per process: maybe not here
    assert [w.category for w in caught] == [UserWarning]
    assert caught[0].filename == __file__
    text = str(caught[0].message)
    assert text.startswith("torch.qr is deprecated in favor of torch.linalg.qr")
    assert text.endswith("Q, R = torch.linalg.qr(A, 'reduced' if some else 'complete')")
    for w in theirs:
        assert str(w.message).startswith(text)
    np.testing.assert_allclose((q @ r).numpy(), np.eye(3) * 2, atol=1e-6)
