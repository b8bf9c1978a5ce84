"""What published torch programs needed that tracecomp lacked, found by running them with
their imports changed, eager and compiled (round 50), each reproduced here against torch.

Programs run (weights copied from the torch model, data from one numpy generator; "agrees"
means eager, compile(model) and a compiled whole training step give torch's losses and
parameters after every step; where Adam turns a parameter's exactly-zero gradient (a key
bias before softmax, a bias before BatchNorm, transformer-xl's r_net columns for distance
0) into lr * sign of float32 noise, SGD is the check, as in earlier rounds):
- cure-lab/LTSF-Linear (`.cuda()` dropped in both): DLinear and NLinear, shared and
  individual heads, Linear, and its Informer (ProbAttention's torch.randint drawn from one
  numpy generator in both; with tracecomp's own generator eager, compiled model and step
  draw the same samples), Autoformer (auto-correlation through rfft/irfft, topk, roll by
  `-int(index[i])`: a graph break, as torch.compile's) and Transformer, timeF and fixed
  (integer time marks) embeddings, MSE, Adam: agree.
- locuslab/TCN tcn.py (legacy weight_norm, Chomp1d, dilated causal Conv1d) in the adding
  problem, word_cnn with and without tied weights (CrossEntropy over the valid part),
  poly_music (double sigmoid output, -trace of log-likelihood matmuls, clip_grad_norm_
  before backward as in music_test.py): agree; init_weights' `conv.weight.data.normal_`
  under weight_norm is recomputed away in both.
- ndrplz/ConvLSTM_pytorch convlstm.py: one layer batch_first, two stacked layers with
  per-layer kernels and return_all_layers, no bias: agree.
- yuqinie98/PatchTST PatchTST_supervised (RevIN with and without subtract_last, padding
  patch, unfold, BatchNorm through Transpose, residual attention, individual and flatten
  heads, series decomposition, LayerNorm pre-norm, sincos positional encoding): agree;
  its exp2d encoding raises NameError (`pv`) in both.
- thuml/Time-Series-Library (einops and reformer_pytorch stand-ins, unused by these):
  TimesNet (rfft period finding, `frequency_list[0] = 0`, topk to numpy: a graph break, as
  torch.compile's; Inception 2-d conv blocks), iTransformer, TimeMixer (moving-average and
  DFT decomposition, channel independence on and off), SegRNN, Nonstationary_Transformer,
  TSMixer, LightTS: agree. TimeMixer's conv down-sampling builds a Conv1d inside forward
  (fresh random weights each call): eager, compiled model and step agree with each other.
- kimiyoung/transformer-xl pytorch/mem_transformer.py with utils/proj_adaptive_softmax.py
  (`.byte()` masks made `.bool()` in both, as torch 2 refuses uint8 masks in masked_fill,
  which tracecomp does too; torch.version.cuda read as 10.0): relative attention (attn_type
  0) plain, with adaptive embedding and softmax (div_val 1 and 2, cutoffs, tied projections,
  pre-norm: nonzero breaks the graph, as torch.compile), same_length with clamp_len,
  learnable (1) and deeper absolute (3) positions adding into the carried memories in
  place, memories carried between steps, clip_grad_norm_: crashed eagerly in _rel_shift's
  view (below); agrees after the fix. attn_type 2 adds positions into the empty first
  memories: torch's RuntimeError, and ours.
The gaps: torch.cat's result followed numpy's concatenate, which keeps its inputs' axis order
(an einsum's permuted scores, a transpose), where torch's cat is row-major unless every
input is channels-last: `.view` refused it (transformer-xl's _rel_shift) and as_strided read
its memory in the wrong order (a silent wrong answer). A sweep of ops on a permuted tensor
found the same for reductions (sum, mean, amax, prod, var, norm, median), softmax and
log_softmax, cumsum/cumprod/logcumsumexp, masked_fill, tril/triu and layer_norm (torch's
are row-major), and for the 2-d pools of a channels-last batch (torch's stay channels-last).
Left (strides only, values agree): flip, sort/argsort and a product with a row-major operand
keep a permuted input's order in torch and are row-major here (a view works here where
torch's refuses); cummax, index_add, scatter, nonzero and fft results of permuted inputs
are laid out differently from torch's; size-1 dims of a row-major result may report
numpy's strides, not torch's.
"""
import numpy as np
import pytest
import torch

import tracecomp as tc

_RNG = np.random.default_rng(50)


# --- torch.cat lays its result out row-major unless every input is channels-last ------------
def _permuted(perm):
    return lambda lib, a: a.permute(*perm)


def _fmt(name):
    return lambda lib, a: a.contiguous(memory_format=getattr(lib, name))


def _transposed(lib, a):
    return a.t()


def _as_is(lib, a):
    return a


# (shapes, how each input is laid out, the call); numpy's concatenate follows its inputs'
# axis order, torch's cat only keeps channels_last (or channels_last_3d) shared by all
_CAT_CASES = {
    "transposed_2d": ((3, 4), _transposed, lambda lib, xs: lib.cat(xs, 0)),
    "permuted_3d": ((2, 5, 3), _permuted((2, 0, 1)), lambda lib, xs: lib.cat(xs, 1)),
    "permuted_4d_not_channels_last": ((3, 2, 4, 5), _permuted((1, 3, 0, 2)),
                                      lambda lib, xs: lib.cat(xs, 0)),
    "permuted_4d_channels_last": ((2, 5, 3, 4), _permuted((0, 3, 1, 2)),
                                  lambda lib, xs: lib.cat(xs, 1)),
    "channels_last": ((2, 3, 4, 5), _fmt("channels_last"), lambda lib, xs: lib.cat(xs, 1)),
    "channels_last_3d": ((2, 3, 4, 5, 2), _fmt("channels_last_3d"),
                         lambda lib, xs: lib.cat(xs, 2)),
    "channels_last_with_contiguous": ((2, 3, 4, 5), None, lambda lib, xs: lib.cat(xs, 1)),
    "n1hw": ((2, 1, 4, 5), _as_is, lambda lib, xs: lib.cat(xs, 0)),
    "stack_permuted": ((2, 5, 3), _permuted((2, 0, 1)), lambda lib, xs: lib.stack(xs, 1)),
    "stack_channels_last_new_last_dim": ((2, 3, 4, 5), _fmt("channels_last"),
                                         lambda lib, xs: lib.stack(xs, -1)),
}


def _cat_case(lib, name):
    shape, layout, call = _CAT_CASES[name]
    rng = np.random.default_rng(0)
    xs = [lib.tensor(rng.standard_normal(shape).astype(np.float32)) for _ in range(2)]
    if layout is None:          # one channels-last input, one row-major
        xs[0] = xs[0].contiguous(memory_format=lib.channels_last)
    else:
        xs = [layout(lib, x) for x in xs]
    return call(lib, xs)


@pytest.mark.parametrize("name", sorted(_CAT_CASES))
def test_cat_lays_out_its_result_as_torch(name):
    want, got = _cat_case(torch, name), _cat_case(tc, name)
    assert tuple(got.stride()) == tuple(want.stride()), \
        f"tracecomp={tuple(got.stride())} | torch={tuple(want.stride())}"
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_a_view_of_cat_of_transposes_works_as_in_torch():
    """The crash: numpy's concatenate kept the transposes' column-major order, so view
    refused a tensor torch's cat had made row-major."""
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    for lib in (torch, tc):
        x = lib.tensor(a)
        assert lib.cat([x.t(), x.t()], 0).view(-1).tolist() == \
            np.concatenate([a.T, a.T]).ravel().tolist()


def test_as_strided_reads_cat_s_memory_as_torch():
    """The silent wrong answer: as_strided walks the result's memory, which was laid out
    column by column."""
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    got, want = (lib.cat([lib.tensor(a).t()] * 2, 0).as_strided((2, 3), (1, 2)).tolist()
                 for lib in (tc, torch))
    assert got == want == [[0.0, 8.0, 5.0], [4.0, 1.0, 9.0]]


# --- transformer-xl's relative shift: pad by cat, view as [klen + 1, qlen], drop a row ------
def _rel_shift(lib, x):
    zero_pad = lib.zeros((x.size(0), 1, *x.size()[2:]), dtype=x.dtype)
    x_padded = lib.cat([zero_pad, x], dim=1)
    x_padded = x_padded.view(x.size(1) + 1, x.size(0), *x.size()[2:])
    return x_padded[1:].view_as(x)


def _rel_scores(lib, q, r, r_bias):
    """mem_transformer.py's BD term: an einsum whose result is not row-major, shifted."""
    bd = lib.einsum('ibnd,jnd->ijbn', (q + r_bias, r))
    return _rel_shift(lib, bd)


@pytest.mark.parametrize("compiled", [False, True])
def test_transformer_xl_rel_shift_gives_torchs_scores_and_gradients(compiled):
    arrays = [_RNG.standard_normal(s).astype(np.float32) for s in ((5, 3, 2, 4), (7, 2, 4),
                                                                   (2, 4))]
    results = []
    for lib in (torch, tc):
        q, r, b = (lib.tensor(a, requires_grad=True) for a in arrays)
        f = (lambda *a: _rel_scores(tc, *a)) if lib is tc else \
            (lambda *a: _rel_scores(torch, *a))
        out = (tc.compile(f) if compiled and lib is tc else f)(q, r, b)
        (out * lib.tensor(np.linspace(-1, 1, out.numel(), dtype=np.float32)
                          ).view(out.shape)).sum().backward()
        results.append([out.detach().numpy()] + [t.grad.numpy() for t in (q, r, b)])
    for want, got in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# --- reductions, scans and softmax answer row-major, as torch allocates their results -------
_PERMUTED = _RNG.standard_normal((3, 4, 5, 2)).astype(np.float32)

_ROW_MAJOR_CASES = {
    "sum": lambda x: x.sum(1), "mean_keepdim": lambda x: x.mean(1, keepdim=True),
    "amax": lambda x: x.amax(-1), "max_values": lambda x: x.max(1)[0],
    "argmax": lambda x: x.argmax(1), "prod": lambda x: x.prod(2), "var": lambda x: x.var(1),
    "norm": lambda x: x.norm(dim=1), "median": lambda x: x.median(1)[0],
    "softmax": lambda x: x.softmax(-1), "log_softmax": lambda x: x.log_softmax(1),
    "cumsum": lambda x: x.cumsum(1), "cumprod": lambda x: x.cumprod(-1),
    "logcumsumexp": lambda x: x.logcumsumexp(1),
    "tril": lambda x: x.tril(), "triu": lambda x: x.triu(1),
    "masked_fill": lambda x: x.masked_fill(x > 0, float("-inf")),
    "masked_fill_tensor": lambda x: x.masked_fill(x > 0, x.new_tensor(2.0)),
    "layer_norm": lambda x: _lib(x).nn.functional.layer_norm(x, (4,)),
}


def _lib(x):
    return tc if isinstance(x, tc.Tensor) else torch


@pytest.mark.parametrize("name", sorted(_ROW_MAJOR_CASES))
def test_reductions_scans_softmax_and_masking_of_a_permuted_tensor_are_row_major(name):
    """numpy's results followed the permuted input's axis order: `.view` after them was
    refused where torch's works (attention scores transposed, masked, softmax, then view)."""
    outs = [_ROW_MAJOR_CASES[name](lib.tensor(_PERMUTED).permute(2, 0, 3, 1))
            for lib in (torch, tc)]
    want, got = (tuple(o.stride()) for o in outs)
    assert got == want, f"tracecomp={got} | torch={want}"
    np.testing.assert_allclose(outs[1].view(-1).numpy(), outs[0].view(-1).numpy(),
                               rtol=1e-5, atol=1e-6)


_POOLS = {
    "avg_pool2d": lambda F, x: F.avg_pool2d(x, 2),
    "max_pool2d": lambda F, x: F.max_pool2d(x, 2),
    "max_pool2d_indices": lambda F, x: F.max_pool2d(x, 2, return_indices=True)[1],
    "adaptive_avg_pool2d": lambda F, x: F.adaptive_avg_pool2d(x, 3),
    "adaptive_max_pool2d": lambda F, x: F.adaptive_max_pool2d(x, 3),
}


@pytest.mark.parametrize("name", sorted(_POOLS))
def test_pools_of_a_channels_last_batch_stay_channels_last(name):
    x = _RNG.standard_normal((2, 3, 6, 6)).astype(np.float32)
    outs = [_POOLS[name](lib.nn.functional,
                         lib.tensor(x).contiguous(memory_format=lib.channels_last))
            for lib in (torch, tc)]
    want, got = (tuple(o.stride()) for o in outs)
    assert got == want, f"tracecomp={got} | torch={want}"
    np.testing.assert_allclose(outs[1].numpy(), outs[0].numpy(), rtol=1e-6)
