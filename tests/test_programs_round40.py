"""What published torch programs needed that tracecomp lacked, found by running them with
their imports changed, eager and compiled (round 40), each reproduced here against torch.

Programs run (weights copied from torch's twin, tiny synthetic data, a few steps; "agrees"
means eager, compile(model) and a compiled whole training step give torch's losses and
outputs to 1e-5 relative):
- johnma2006/mamba-minimal (Mamba with tied embedding, RMSNorm, depthwise causal Conv1d,
  selective scan by a Python loop of einsums; einops' rearrange/repeat/einsum spelled as
  permute/expand/einsum, einops not being installed) under AdamW: stopped on
  `x_and_res.split(split_size=[d, d], dim=-1)` (Tensor.split's keyword is split_size,
  torch.split's split_size_or_sections); agrees now. Its demo's from_pretrained (a
  torch-saved checkpoint read by torch.load(weights_only=True, mmap=True), "backbone."
  keys, tied lm_head) and generate() (topk, `probs[probs < v[:, -1, None]] = 0`,
  sum(axis=1, keepdims=True)), eager and through compile(model): same tokens.
- Blealtan/efficient-kan (KANLinear's B-spline bases, curve2coeff's batched linalg.lstsq,
  update_grid under no_grad with sort/linspace/concatenate, regularization_loss) trained
  as examples/mnist.py trains (AdamW, ExponentialLR, CrossEntropyLoss, grid updated at
  step 3): agrees (compile(model) breaks the graph at the in-place grid update, as it
  says). Its tests/test_simple_math.py (LBFGS over closures): float(closure()) in LBFGS's
  no_grad step printed torch's requires_grad warning, which torch gives only with grad
  mode on; fixed. Its 20 line-search evaluations per step agree in float64 (1e-12); in
  float32 they drift to 6e-4 by step 3, as torch's own float32 run drifts from float64.
- meta-llama/llama3 model.py at a tiny config (fairscale's parallel layers as nn.Linear and
  nn.Embedding, .cuda() dropped): generation.py's generate() with greedy decoding, the
  KV cache written in place under inference_mode, complex RoPE (polar, view_as_complex),
  GQA repeat_kv, logprobs by cross_entropy(reduction="none", ignore_index), torch.isin:
  agrees, eager and compile(model) (one compile per start_pos, as it warns). Trained
  (inference_mode removed): the cache's in-place writes carry the last step's graph, so a
  second backward stops "backward through the graph a second time" in torch and in
  tracecomp alike; with the caches detached per step it agrees under AdamW.
- openai/spinningup pytorch vpg, ppo, ddpg, td3, sac run whole (gym, MPI and the logger
  shimmed, a deterministic toy env, Box and Discrete actions, sample/rsample/randn_like
  drawn from one numpy stream in both libraries): every logged value agrees (PPO's
  initial LossPi and VPG's first KL are rounding noise, 1e-8, in both), eager and with
  the actor and critics compiled. SAC compiled drew its noise from a numpy Generator
  inside the traced actor: the trace kept the first draws as constants, every later
  call silently reused them (torch.compile draws anew). A numpy Generator or
  RandomState the code reaches now refuses the trace as np.random's global state did
  (a graph break; outside_streams.numpy_streams). Their update() functions compiled whole
  (a user's torch.compile(update)) break at the logger's .item()/.numpy() reads, as
  torch.compile's do, and agree.
- harvardnlp/annotated-transformer's copy task (make_model, LabelSmoothing's scatter_/
  nonzero/index_fill_, KLDivLoss(sum), SimpleLossCompute, run_epoch, Adam with the rate()
  LambdaLR, greedy_decode; dropout p=0): agrees, eager, compile(model), compiled step.
- bentrevett/pytorch-seq2seq 1-3 (LSTM, GRU with context and Bahdanau attention seq2seq,
  pad_sequence collate, train_fn with teacher forcing, translate_sentence with its
  attention map), legacy 4 (packed padded bidirectional GRU, masked attention,
  teacher forcing by random.random(): a graph break, its draws put back), 5 (ConvS2S:
  Conv1d + GLU blocks, scaled residuals, attention over encoder combined), 6 (Transformer
  with masks) and bentrevett/pytorch-sentiment-analysis 1-3 (NBoW, packed bidirectional
  LSTM with enforce_sorted=False, TextCNN; pad_sequence collate through DataLoader,
  `embedding.weight.data = pretrained`, predict_sentiment): agree.
- karpathy/llama2.c train.py run whole (configurator replaced, Task shimmed; gradient
  accumulation, raw_model.last_loss set inside a compiled forward, GradScaler(enabled=
  False), configure_optimizers' AdamW groups, estimate_loss, ckpt.pt and export.py's
  model.bin, then init_from="resume"), with compile False and True: the logs and
  model.bin agree.
- pytorch/examples distributed/FSDP2 model.py (meta-device init, to_empty,
  reset_parameters, clip_grad_norm_; fully_shard not run: tracecomp has no FSDP):
  agrees (the example resets the top module only: its layers keep to_empty's garbage,
  NaN in torch too).
- pytorch/examples distributed/tensor_parallelism llama2_model.py run on one process
  (complex freqs_cis buffer rebuilt under `with torch.device(...)`, trunc_normal_ inits
  with depth_init, SDPA is_causal, GQA) under AdamW(foreach=True): agrees.
- pytorch-labs/gpt-fast model.py + generate.py (meta-device model, load_state_dict(
  assign=True), KVCache index_put at tensor positions, prefill and decode_one_token
  compiled with mode="reduce-overhead", fullgraph=True, top_k sampling through
  exponential_, sdp_kernel) and quantize.py's int8 weight-only handler: generate.py's
  first lines stopped: `import torch._dynamo.config` (tracecomp._dynamo is a module, no
  package) and torch._inductor / torch._functorch did not exist. Their config modules
  import now (foreign_configs.py); gpt-fast's settings read back and warn once that they
  change nothing. Then tokens and logits agree, eager, compiled and int8 (speculative
  decoding stops in torch 2.13 itself: torch.cat of a 1-d and a 2-d tensor).
- gpt-fast mixtral-moe (MoE: softmax + topk routing, expert weights gathered by
  w1[expert_indices], einsums; int8 ConditionalFeedForwardBit8): its KVCache is bfloat16
  whatever the model's dtype, and a float32 model's keys written by `k_out[:, :,
  input_pos] = k_val` stop torch ("Index put requires the source and destination dtypes
  match"); tracecomp cast them silently. It raises torch's error now (a single mask with
  a one-element value still casts, torch's masked_fill_). With float32 caches generation
  agrees (eager, compiled, int8), in bfloat16 too (tokens equal, logits to 7e-3), and a
  few AdamW steps of the MoE model agree, eager and compiled. Compiled bfloat16 decoding
  with fullgraph=True stopped on exponential_'s bfloat16 draw (compiled code made no
  bfloat16 from nothing): an in-place random fill of a bfloat16 tensor now draws float64
  and rounds once, eager's bits; bfloat16 (and int8) compiled decoding agrees.

Left: a numpy Generator the code reaches only through objects the trace does not walk (a
function patched onto a library class, a generator two levels inside a config) is still
read at trace time, its draws kept; FSDP2's fully_shard (tracecomp has no FSDP); gpt-fast's
speculative decoding (stops in torch 2.13 itself); LBFGS's float32 drift over 20 line-search
evaluations (torch's own float32 run drifts as far from float64).
"""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close


# --- Tensor.split's keyword ---------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda lib, x: x.split(split_size=[2, 4], dim=-1),
    lambda lib, x: x.split(split_size=3),
    lambda lib, x: lib.split(x, split_size_or_sections=[1, 5], dim=1),
    lambda lib, x: lib.Tensor.split(x, 2, dim=-1),
])
def test_split_takes_torch_keywords_method_and_function(call):
    x = np.arange(12.0, dtype=np.float32).reshape(2, 6)
    want = call(torch, torch.tensor(x))
    got = call(tc, tc.tensor(x))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert_close(g, w)


def test_torch_split_refuses_the_methods_keyword_as_torch_does():
    x = np.arange(6.0, dtype=np.float32)
    with pytest.raises(TypeError, match="split_size"):
        torch.split(torch.tensor(x), split_size=2)
    with pytest.raises(TypeError, match="split_size"):
        tc.split(tc.tensor(x), split_size=2)


# --- float() under no_grad ----------------------------------------------------------------
_SCALAR_LOG = """
import warnings
import {lib} as torch
w = torch.nn.Parameter(torch.ones(3))
opt = torch.optim.LBFGS([w], max_iter=2)
def closure():
    opt.zero_grad()
    loss = (w * w).sum()
    loss.backward()
    return loss
x = w.sum()
for name, convert in [("no_grad float", lambda: float(x)),
                      ("no_grad complex", lambda: complex(x)),
                      ("inference float", lambda: float(x)),
                      ("LBFGS step", lambda: opt.step(closure)),
                      ("float", lambda: float(x)), ("float again", lambda: float(x))]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mode = torch.inference_mode() if name.startswith("inference") else \\
            torch.no_grad() if name.startswith("no_grad") else torch.enable_grad()
        with mode:
            convert()
    print(name, [str(w.message).splitlines()[0] for w in caught])
"""


def test_float_of_a_tensor_requiring_grad_under_no_grad_does_not_warn():
    """LBFGS's step reads float(closure()) under no_grad: torch does not warn there (only
    where grad mode is on), tracecomp did (efficient-kan's LBFGS test printed it)."""
    import subprocess
    import sys
    runs = {lib: subprocess.Popen([sys.executable, "-c", _SCALAR_LOG.format(lib=lib)],
                                  text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for lib in ("torch", "tracecomp")}          # side by side: the test waits on both
    logs = {}
    for lib, run in runs.items():
        logs[lib], err = run.communicate()
        assert run.returncode == 0, err
    assert "float ['Converting a tensor with requires_grad=True" in logs["torch"]
    assert logs["tracecomp"] == logs["torch"]


# --- a numpy Generator drawn from inside compiled code ------------------------------------
class _NoisyActor:
    """An actor adding exploration noise from its own numpy Generator inside forward
    (spinningup-style noise, drawn where the model runs)."""

    @staticmethod
    def build(lib, rng, where):
        holder = {"rng": rng}

        class Actor(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.mu = lib.nn.Linear(3, 2)
                if where == "attribute":
                    self.rng = rng

            def forward(self, obs):
                g = self.rng if where == "attribute" else holder["rng"]
                eps = g.standard_normal((obs.shape[0], 2)).astype(np.float32)
                return lib.tanh(self.mu(obs)) + 0.1 * lib.tensor(eps)
        actor = Actor()
        with lib.no_grad():
            actor.mu.weight.copy_(lib.tensor(np.linspace(-1, 1, 6).reshape(2, 3)))
            actor.mu.bias.fill_(0.1)
        return actor


@pytest.mark.parametrize("where", ["attribute", "closure"])
@pytest.mark.parametrize("stream", [np.random.default_rng, np.random.RandomState])
def test_numpy_generator_draws_in_compiled_code_are_new_each_call(where, stream):
    """A numpy Generator or RandomState the compiled code draws from was traced once: its
    draws were constants of the graph, the same on every call (torch.compile draws anew).
    Now it is a graph break, as np.random's global state was, and the generator is put
    back after the trace, so the draws are the eager run's."""
    obs = np.linspace(-1, 1, 6).reshape(2, 3).astype(np.float32)
    want = _NoisyActor.build(torch, stream(7), where)
    want = [want(torch.tensor(obs)) for _ in range(3)]
    actor = tc.compile(_NoisyActor.build(tc, stream(7), where))
    with pytest.warns(UserWarning, match=r"drew random numbers from a numpy " +
                      ("Generator" if stream is np.random.default_rng else "RandomState")):
        got = [actor(tc.tensor(obs)) for _ in range(3)]
    for g, w in zip(got, want):
        assert_close(g, w)


# --- torch._inductor / _functorch / _dynamo config modules ---------------------------------
def test_compiler_config_modules_import_and_keep_what_a_program_sets():
    """gpt-fast's generate.py opens with `import torch._dynamo.config`, `import
    torch._inductor.config` and sets Inductor's and functorch's options: the imports
    failed (no such modules). They import now; the settings read back as set, warn that
    they change nothing here, and patch() puts them back."""
    import importlib
    for name in ("_dynamo", "_inductor", "_functorch"):
        assert importlib.import_module(f"tracecomp.{name}.config") is \
            getattr(tc, name).config
    settings = {"coordinate_descent_tuning": True, "triton.unique_kernel_names": True,
                "fx_graph_cache": True}

    def read(config):
        return [config.coordinate_descent_tuning, config.triton.unique_kernel_names,
                config.fx_graph_cache]
    with torch._inductor.config.patch(settings):
        want = read(torch._inductor.config)
    with pytest.warns(UserWarning, match="coordinate_descent_tuning has no effect in "
                                         "tracecomp"):
        with tc._inductor.config.patch(settings):
            got = read(tc._inductor.config)
    assert got == want
    with pytest.raises(AttributeError, match="fx_graph_cache has no value in tracecomp"):
        assert tc._inductor.config.fx_graph_cache   # put back: never set outside
    with pytest.warns(UserWarning, match="enable_autograd_cache has no effect"):
        tc._functorch.config.enable_autograd_cache = True
    assert tc._functorch.config.enable_autograd_cache is True
    with pytest.raises(AttributeError, match="namespace of options"):
        tc._inductor.config.triton = False


# --- x[tensor index] = value of another dtype ----------------------------------------------
_PUTS = {   # key (x of shape [2, 4, 3]), value shape
    "tensor": (lambda lib: (slice(None), lib.tensor([1, 2])), (2, 2, 3)),
    "list": (lambda lib: (slice(None), [1, 2]), (2, 2, 3)),
    "int and tensor": (lambda lib: (0, lib.tensor([0, 3])), (2, 3)),
    "mask": (lambda lib: (slice(None), lib.tensor([False, True, True, False])), (2, 2, 3)),
    "first dim": (lambda lib: lib.tensor([1]), (4, 3)),
}


@pytest.mark.parametrize("key", sorted(_PUTS))
@pytest.mark.parametrize("dst, src", [("bfloat16", "float32"), ("float32", "float64"),
                                      ("int32", "int64")])
def test_index_put_through_setitem_requires_the_destinations_dtype(key, dst, src):
    """gpt-fast mixtral's KVCache is bfloat16 and took float32 keys through
    `k_out[:, :, input_pos] = k_val` silently (cast); torch stops there."""
    make_key, shape = _PUTS[key]
    for lib in (torch, tc):
        x = lib.zeros(2, 4, 3, dtype=getattr(lib, dst))
        with pytest.raises(RuntimeError, match="Index put requires the source and "
                                               "destination dtypes match"):
            x[make_key(lib)] = lib.ones(shape, dtype=getattr(lib, src))


@pytest.mark.parametrize("key, value", [
    ((slice(None), slice(1, 3)), np.full((2, 2, 3), 2.5)),       # basic indexing: copy_ casts
    ((slice(None), [False, True, True, False]), np.float64(2.5)),   # one element, one mask
    ([[True, False, False, True], [False] * 3 + [True]], np.array([2.5])),  # masked_fill_
])
def test_setitem_casts_where_torch_does(key, value):
    results = []
    for lib in (torch, tc):
        x = lib.zeros(2, 4, 3)
        k = tuple(lib.tensor(k) if isinstance(k, list) else k for k in key) \
            if isinstance(key, tuple) else lib.tensor(key)
        x[k] = lib.tensor(value)
        results.append(x)
    assert_close(results[1], results[0])


def test_index_put_of_one_value_under_a_mask_casts_as_torch():
    """torch's index_put_ with one bool mask and a one-element value is its masked_fill_,
    which casts; with accumulate it is an index put, which does not."""
    results = []
    for lib in (torch, tc):
        x = lib.zeros(3)
        x.index_put_((lib.tensor([True, False, True]),), lib.tensor(2.5, dtype=lib.float64))
        results.append(x)
        with pytest.raises(RuntimeError, match="Index put requires the source and "):
            x.index_put_((lib.tensor([True, False, True]),), lib.tensor(1., dtype=lib.float64),
                         accumulate=True)
    assert_close(results[1], results[0])


# --- a bfloat16 random fill inside compiled code ------------------------------------------
@pytest.mark.parametrize("fill", [lambda q: q.exponential_(1), lambda q: q.uniform_(-1, 2),
                                  lambda q: q.normal_(0.5, 2.0), lambda q: q.bernoulli_(0.3)])
def test_bfloat16_random_fill_compiles_and_draws_what_eager_draws(fill):
    """gpt-fast samples with `empty_like(probs).exponential_(1)`; with bfloat16 probabilities
    its compiled decode step (fullgraph=True) stopped: compiled code made no bfloat16 draw.
    It draws in float64 and rounds once now, the eager run's bits, call after call."""
    def sample(probs):
        q = fill(tc.empty_like(probs))
        return tc.argmax(probs / q, dim=-1), q
    rng = np.random.default_rng(0)
    probs = tc.softmax(tc.tensor(rng.standard_normal((2, 50)).astype(np.float32)), -1)
    probs = probs.to(tc.bfloat16)
    tc.manual_seed(3)
    eager = [sample(probs) for _ in range(3)]
    compiled = tc.compile(sample, fullgraph=True)
    tc.manual_seed(3)
    got = [compiled(probs) for _ in range(3)]
    for (idx, q), (cidx, cq) in zip(eager, got):
        assert cq.dtype == tc.bfloat16
        assert np.array_equal(cq.float().numpy(), q.float().numpy())
        assert np.array_equal(cidx.numpy(), idx.numpy())


def test_bfloat16_rand_and_randn_compile_and_draw_what_eager_draws():
    """randn(dtype=bfloat16), rand, randn_like and rand_like of a bfloat16 tensor in
    compiled code stopped the same way; float32 draws rounded now, eager's bits (rand's
    kept below 1), call after call."""
    def draws(x):
        return (x + tc.randn(4, 8, dtype=tc.bfloat16), tc.rand(64, 64, dtype=tc.bfloat16),
                tc.randn_like(x), tc.rand_like(x))
    x = tc.zeros(4, 8, dtype=tc.bfloat16)
    tc.manual_seed(1)
    eager = [draws(x) for _ in range(2)]
    compiled = tc.compile(draws, fullgraph=True)
    tc.manual_seed(1)
    got = [compiled(x) for _ in range(2)]
    for e, g in zip(eager, got):
        for a, b in zip(e, g):
            assert b.dtype == tc.bfloat16
            assert np.array_equal(b.float().numpy(), a.float().numpy())
        assert float(g[1].max()) < 1.0
