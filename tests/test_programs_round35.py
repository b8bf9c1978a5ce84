"""What published torch programs needed that tracecomp lacked, found by running them with
their imports changed, eager and compiled (round 35), each reproduced here against torch.

Programs run (weights copied from torch's twin, tiny synthetic data, a few steps; "agrees"
means eager and compiled losses/logits match torch's to about 1e-7 relative):
- rasbt/LLMs-from-scratch ch04/03_kv-cache gpt_with_kv_cache.py: forward, greedy and
  KV-cached generation, AdamW steps: agrees; compiled cached generation stopped on a
  TypeError building ArgumentRead's message (two modules' position counters read at once).
- ch04/04_gqa, 05_mla, 06_swa: the same (stopped the same way compiled); agree now.
- ch04/07_moe: agrees; its MoE layer (torch.unique, .item()) runs as a graph break.
- labml_nn optimizers (Adam, AMSGrad, RAdam, AdaBelief, Noam, AdamWarmupCosineDecay,
  Adam with WeightDecay, Sophia) on a small MLP, steps eager, compiled model and compiled
  whole step: AMSGrad (and every optimizer built on it) stopped on
  torch.maximum(v_max, v, out=v_max): torch.* elementwise functions took no out=; agree now.
- labml_nn RWKV: stopped under torch as well (its time mixing writes a [B, T, C] x into
  state[layer, :, [0], :]); on the way, that key showed tracecomp laid out an int beside
  index tensors as numpy does (x[0, :, idx]: idx's dim first), not as torch; fixed.
- pytorch/tutorials custom_function_double_backward (Square, Exp, Sinh, SinhBad, Cube with
  gradcheck/gradgradcheck): Sinh's gradgradcheck failed (a saved output the caller
  dropped lost its history: second derivative 0); agrees now.
- pytorch/tutorials scaled_dot_product_attention_tutorial (SDPA with masks, causal,
  sdpa_kernel, its CausalSelfAttention trained): eager stopped on y.transpose(1, 2).view(...)
  (our SDPA result was row-major, torch's fused kernel's is in the query's order); agrees
  now; compiled ran and agreed before.
- pytorch/tutorials visualizing_gradients (forward hooks registering tensor hooks, BN and
  no-BN nets), optimizer_step_in_backward (register_post_accumulate_grad_hook), forward_ad
  usage (make_dual on module parameters, functional_call, Function.jvp, func.jvp): agree,
  eager and compiled (the tensor hooks as graph breaks, as torch.compile).
- LLMs-from-scratch ch05 gpt_train.py (whole script, a local text): runs; compiled losses
  equal eager's step for step. ch05/10 opt_single_gpu.py: runs; its bfloat16 model and
  fused AdamW run as graph breaks (bfloat16 compile is another helper's).
- cleanrl dqn, c51, pqn, ppo, ppo_continuous_action, rpo_continuous_action, ddpg, td3, sac
  (a local CartPole/Pendulum stand-in for gymnasium): run; compiled trajectories equal
  eager's (ddpg/td3/sac drift from the 1e-8 level after learning starts, float32 order).
- labml_nn: DDPM UNet + DenoiseDiffusion, MHA/RoPE/ALiBi attention, GAT, GATv2, capsule
  routing, HyperLSTM, LSTM, GroupNorm, BatchChannelNorm, weight-standardized conv,
  InstanceNorm, LayerNorm, BatchNorm, DeepNorm, switch FFN (graph break at nonzero),
  AFT-local, gMLP, ResNet, ConvMixer, LoRA GPT-2, Transformer-XL relative MHA, Primer-EZ,
  MLP-Mixer, WGAN-GP: agree with torch eager and compiled (WGAN-GP's critic compiled stops
  on double backward, as torch.compile's does); FNet's fft is complex (a graph break).
  The optimizers' int state['step'] makes a compiled whole step a graph break (correct
  numbers, not compiled).
"""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close


# --- two modules' counters read as values in one trace -----------------------------------
# Each attention layer of a KV-cached GPT keeps `self.ptr_current_pos` and takes
# torch.arange(ptr, ptr + n) from it: the counters change each call so they are fed, then
# read as values, and the ArgumentRead naming both failed to sort its labels.
def _counter_net(lib):
    class Layer(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.pos = 0

        def forward(self, x):
            n = x.shape[1]
            q = lib.arange(self.pos, self.pos + n)
            self.pos += n
            return x * q.to(x.dtype)

    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = lib.nn.ModuleList([Layer(), Layer()])

        def forward(self, x):
            for layer in self.layers:
                x = layer(x) + 1
            return x
    return Net()


def test_two_fed_counters_read_as_values_compile_and_match_torch():
    ref, ours = _counter_net(torch), _counter_net(tc)
    step = tc.compile(ours)
    rng = np.random.default_rng(0)
    for n in (3, 1, 1, 1, 2):
        x = rng.standard_normal((1, n)).astype(np.float32)
        assert_close(step(tc.tensor(x)), ref(torch.tensor(x)))
    assert [layer.pos for layer in ours.layers] == [layer.pos for layer in ref.layers] == [8, 8]


# --- out= on torch's elementwise functions ------------------------------------------------
# labml_nn's AMSGrad keeps its running maximum with torch.maximum(v_max, v, out=v_max);
# torch takes out= on every torch.* elementwise function (not on the Tensor methods).
_OUT_CASES = [("exp", 1), ("sqrt", 1), ("sigmoid", 1), ("log2", 1), ("erfc", 1), ("tan", 1),
              ("maximum", 2), ("minimum", 2), ("pow", 2), ("atan2", 2), ("fmax", 2),
              ("logaddexp", 2), ("gt", 2), ("true_divide", 2), ("addcmul", 3), ("lerp", 3)]


@pytest.mark.parametrize("name,arity", _OUT_CASES)
def test_elementwise_functions_write_into_out_as_torch(name, arity):
    rng = np.random.default_rng(1)
    xs = [rng.random((3, 4)).astype(np.float32) + 0.5 for _ in range(arity)]
    want = getattr(torch, name)(*map(torch.tensor, xs))
    out = tc.zeros(3, 4, dtype=tc.bool if want.dtype == torch.bool else tc.float32)
    got = getattr(tc, name)(*map(tc.tensor, xs), out=out)
    assert got is out
    assert_close(out, want)


def test_out_may_be_an_input_eager_and_compiled():
    rng = np.random.default_rng(2)
    v_max0, v = rng.random(5).astype(np.float32), rng.random(5).astype(np.float32)
    ref = torch.tensor(v_max0)
    torch.maximum(ref, torch.tensor(v), out=ref)
    ours = tc.tensor(v_max0)
    tc.maximum(ours, tc.tensor(v), out=ours)
    assert_close(ours, ref)

    def step(v_max, v):
        tc.maximum(v_max, v, out=v_max)
        return tc.sqrt(v_max, out=tc.empty(5)) * 2
    in_graph = tc.tensor(v_max0)
    got = tc.compile(step)(in_graph, tc.tensor(v))
    assert_close(in_graph, ref)
    assert_close(got, ref.sqrt() * 2)


def test_elementwise_out_keeps_torchs_rules():
    x = np.array([0.5, 1.5], np.float32)
    for lib in (torch, tc):
        with pytest.raises(RuntimeError, match="can't be cast to the desired output type"):
            lib.exp(lib.tensor(x), out=lib.zeros(2, dtype=lib.int64))
        with pytest.raises(TypeError):
            lib.tensor(x).exp(out=lib.zeros(2))      # the method takes no out=
        w = lib.tensor(x, requires_grad=True)
        with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
            lib.exp(w, out=lib.zeros(2))


# --- an int beside index tensors: torch selects with it first ------------------------------
# labml_nn's RWKV writes state[layer, :, [PREV_X_TIME], :] = x; torch reads x[0, :, idx] as
# x[0][:, idx] (result [3, 2, 4] here), numpy broadcasts the 0 with idx and puts that dim
# first ([2, 3, 4]): tracecomp followed numpy, a silent wrong layout.
_INT_KEYS = [(0, slice(None), [1, 2]), (0, slice(None), [1], slice(None)),
             (slice(None), 1, slice(None), [0, 2]), (slice(None), [0, 1], 0, [1, 2]),
             ([0, 1], 0, [1, 2]), (Ellipsis, 0, [1, 2]), (1, slice(1, 3), [[0], [4]], 2),
             (0, None, slice(None), [1, 2]), (0, "tensor"), (0, "mask")]


def _key(key, lib):
    named = {"tensor": lambda: lib.tensor([2, 0]),
             "mask": lambda: lib.tensor(np.arange(15).reshape(3, 5) % 3 == 0)}
    return tuple(named[k]() if isinstance(k, str) else k for k in key)


@pytest.mark.parametrize("key", _INT_KEYS, ids=str)
def test_int_and_index_tensors_read_as_torch_eager_and_compiled(key):
    a = np.arange(120, dtype=np.float32).reshape(2, 3, 5, 4)
    ref = torch.tensor(a, requires_grad=True)
    want = ref[_key(key, torch)]
    (want * want).sum().backward()
    ours = tc.tensor(a, requires_grad=True)
    got = ours[_key(key, tc)]
    (got * got).sum().backward()
    assert_close(got, want)
    assert_close(ours.grad, ref.grad, what="grad")
    if "mask" not in key:
        assert_close(tc.compile(lambda x: x[_key(key, tc)] * 2)(tc.tensor(a)), want * 2)


@pytest.mark.parametrize("key", [k for k in _INT_KEYS if None not in k], ids=str)
def test_int_and_index_tensors_write_as_torch_eager_and_compiled(key):
    a = np.arange(120, dtype=np.float32).reshape(2, 3, 5, 4)
    shape = torch.tensor(a)[_key(key, torch)].shape
    v = np.arange(np.prod(shape), dtype=np.float32).reshape(shape) + 1000

    def write(lib, x, v):
        y = x.clone()
        y[_key(key, lib)] = v
        return y * y
    x_t, v_t = torch.tensor(a, requires_grad=True), torch.tensor(v, requires_grad=True)
    want = write(torch, x_t, v_t)
    want.sum().backward()
    x, vv = tc.tensor(a, requires_grad=True), tc.tensor(v, requires_grad=True)
    assert_close(write(tc, tc.tensor(a), tc.tensor(v)), want)
    if "mask" in key:
        return
    got = tc.compile(lambda x, v: write(tc, x, v), fullgraph=True)(x, vv)
    got.sum().backward()
    assert_close(got, want)
    assert_close(vv.grad, v_t.grad, what="v.grad")
    assert_close(x.grad, x_t.grad, what="x.grad")


# --- a saved output the caller dropped, differentiated twice ----------------------------
# The double-backward tutorial's Sinh returns exp(x) and exp(-x) beside its result so that
# saving them keeps their history, and its wrapper keeps only output 0: the dropped
# outputs' history was lost, so the second derivative came out 0 (gradgradcheck failed).
def _sinh_twice(lib):
    class Sinh(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ex, enx = lib.exp(x), lib.exp(-x)
            ctx.save_for_backward(ex, enx)
            return (ex - enx) / 2, ex, enx

        @staticmethod
        def backward(ctx, g, g_ex, g_enx):
            ex, enx = ctx.saved_tensors
            return g * (ex + enx) / 2 + g_ex * ex - g_enx * enx

    x = lib.tensor(np.linspace(-1.0, 1.5, 6), requires_grad=True)
    out = Sinh.apply(x)[0]
    (gx,) = lib.autograd.grad((out * out).sum(), x, create_graph=True)
    (ggx,) = lib.autograd.grad(gx.sum(), x)
    return gx, ggx, lib.autograd.gradgradcheck(lambda t: Sinh.apply(t)[0], (x,))


def test_dropped_saved_outputs_keep_their_history_for_double_backward():
    want, got = _sinh_twice(torch), _sinh_twice(tc)
    assert_close(got[0], want[0])
    assert_close(got[1], want[1], what="second derivative")
    assert got[2] is want[2] is True


# --- scaled_dot_product_attention lays its result out in the query's order ----------------
# The SDPA tutorial's CausalSelfAttention splits one projection into q, k, v with
# .view(B, L, H, E).transpose(1, 2) and ends with y.transpose(1, 2).view(B, L, H * E):
# torch's fused CPU kernel writes y in the query's memory order, so that view works; ours
# was row-major and the view raised.
@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_result_in_the_querys_order_as_torch(causal):
    x = np.random.default_rng(3).standard_normal((2, 8, 96)).astype(np.float32)

    def attend(lib, contiguous_q=False):
        xx = lib.tensor(x, requires_grad=True)
        q, k, v = (t.view(2, -1, 4, 8).transpose(1, 2) for t in xx.chunk(3, -1))
        q = q.contiguous() if contiguous_q else q
        y = lib.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return xx, y
    for contiguous_q in (False, True):
        (x_t, want), (x_c, got) = attend(torch, contiguous_q), attend(tc, contiguous_q)
        assert tuple(got.stride()) == tuple(want.stride())
        assert_close(got, want)
    (x_t, want), (x_c, got) = attend(torch), attend(tc)
    (want.transpose(1, 2).view(2, -1, 32) ** 2).sum().backward()
    (got.transpose(1, 2).view(2, -1, 32) ** 2).sum().backward()
    assert_close(x_c.grad, x_t.grad, rtol=1e-4, atol=1e-5, what="x.grad")
