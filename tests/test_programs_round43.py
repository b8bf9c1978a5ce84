"""What published torch programs needed that tracecomp lacked, found by running them with
their imports changed, eager and compiled (round 43), each reproduced here against torch.

Programs run (weights copied from torch's twin or drawn from one numpy generator in both
libraries, tiny synthetic data, a few steps; "agrees" means eager, compile(model) and a
compiled whole training step give torch's losses, outputs and parameters):
- cloneofsimo/minDiffusion (superminddpm.py's DummyEpsModel with BatchNorm, mindiffusion's
  NaiveUnet with GroupNorm/ConvTranspose2d/TimeSiren, DDPM's training loss and ancestral
  sampling, DDIM's sampling at eta 0.5; torch's draws replaced by the same numpy numbers in
  both libraries): agrees eager and with the eps model compiled (float64 to 1e-11; in
  float32 Adam's first steps turn the zero-gradient conv biases before the norms into
  lr * sign of rounding noise, as in torch's own float32 runs). compile(ddpm) and the
  compiled step drew the same timesteps on every call: torch.randint (and randint_like,
  randperm) drew their numbers while tracing, baked into the graph. They draw afresh now.
- seungeunrho/minimalRL (ppo, ppo-lstm, ppo-continuous, dqn, acer, vtrace, sac, ddpg) with
  a small deterministic stand-in for gym, samples drawn from one numpy generator: agree
  eager and with their networks' methods compiled (sums of the parameters after every
  optimizer step to float32 rounding). ppo-continuous stopped: torch.tensor of a list of
  1-element action tensors is a list of numbers to torch, a dimension to us; fixed, with
  torch's dtype rules for lists holding tensors or numpy values. SAC's compiled policy
  drew its noise once when a function reached through a class (the harness's patched
  Normal.rsample) drew from a numpy generator: refused now, as a named one was.
- lucidrains/lion-pytorch (Lion, decoupled weight decay, the foreach Lion, cautious Lion)
  with lucidrains/ema-pytorch (EMA with update_after_step, ignore_names, names copied
  instead of averaged, use_foreach, the optimizer post-step hook; PostHocEMA's checkpoints
  and synthesize_ema_model through linalg.solve) on an MLP with BatchNorm: agree in float32
  and float64, eager, compile(model) and compiled step (the step is a graph break at EMA's
  `if not self.initted.item()`, as in torch.compile). Needed: torch._foreach_* (none
  existed), Tensor.copy_'s non_blocking, compile of a module defining __call__ and no
  forward (EMA), a compiled step whose optimizer hook updates an EMA model it reaches only
  through the hook's closure (every update after the trace was lost, silently), and a user
  optimizer's hooked step compiled whole (the hook wrapper's flag was a refused store).
- karpathy/build-nanogpt train_gpt2.py at a tiny config (tiktoken, requests, tqdm and
  transformers stood in for; byte tokens in .npy shards; a synthetic hellaswag file):
  DataLoaderLite, bfloat16 autocast, gradient accumulation, clip_grad_norm_, the cosine lr
  schedule into param_groups, AdamW param groups with inspect.signature's fused check, the
  HellaSwag scoring, top-k sampling with a torch.Generator: agrees with torch (bfloat16
  rounding, 6e-6 in the losses), also with use_compile (where torch 2.13's inductor fails on
  this machine). Its checkpoint holds the GPTConfig dataclass: tracecomp.save refused it;
  saves and loads now. torch.tensor of minimalRL's lists of numpy states now gives torch's
  "extremely slow" warning, once.

Left: a function reached only through an object's attribute or a class (not by name) that
pops from or reads a global list or tensor is not guarded (`ns.draw = lambda: Q.pop(0)`:
the trace's value is baked in).
"""
import dataclasses
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc

# --- randint / randint_like / randperm inside compiled code --------------------------------
_DRAWS = {
    "randint": lambda lib, x: lib.randint(1, 1000, (x.shape[0],)),
    "randint_high": lambda lib, x: lib.randint(1000, (3, 2)),
    "randint_like": lambda lib, x: lib.randint_like(x, 5, 1000),
    "randint_float": lambda lib, x: lib.randint(0, 1000, (4,), dtype=lib.float32),
    "randperm": lambda lib, x: lib.randperm(50),
}


@pytest.mark.parametrize("op", sorted(_DRAWS))
def test_a_compiled_integer_draw_is_drawn_afresh_each_call(op):
    # minDiffusion's DDPM loss draws its timesteps with torch.randint inside the compiled
    # model: they were drawn once, when traced, and every step trained the same timesteps
    fn = _DRAWS[op]
    want = fn(torch, torch.zeros(6, 2))
    compiled = tc.compile(lambda x: fn(tc, x) * 1)
    tc.manual_seed(0)
    got = [compiled(tc.zeros(6, 2)) for _ in range(4)]
    for g in got:
        assert tuple(g.shape) == tuple(want.shape)
        assert str(g.dtype) == str(want.dtype).replace("torch", "tracecomp")
    values = [g.numpy() for g in got]
    assert not all(np.array_equal(values[0], v) for v in values[1:]), values
    if op == "randperm":
        assert all(sorted(v.tolist()) == list(range(50)) for v in values)
    else:
        low = 5 if op == "randint_like" else (0 if op in ("randint_high", "randint_float") else 1)
        assert all(v.min() >= low and v.max() < 1000 for v in values)


def test_compiled_draws_follow_the_seed():
    # a compiled draw reads the generator when it runs: the same seed, the same numbers
    compiled = tc.compile(lambda x: x + tc.randint(0, 100, (8,)))
    firsts = []
    for _ in range(2):
        tc.manual_seed(3)
        firsts.append([compiled(tc.zeros(8, dtype=tc.int64)).tolist() for _ in range(3)])
    assert firsts[0] == firsts[1] and firsts[0][1] != firsts[0][2]


def test_a_compiled_ddpm_loss_samples_new_timesteps_each_step():
    # the shape of minDiffusion's DDPM.forward: schedule[t] scales the input and the noise
    sched = torch.linspace(0.1, 0.9, 11)

    def loss(lib, x, schedule):
        t = lib.randint(1, 11, (x.shape[0],))
        eps = lib.randn_like(x)
        x_t = schedule[t, None] * x + (1 - schedule[t, None]) * eps
        return schedule[t], x_t

    compiled = tc.compile(lambda x, s: loss(tc, x, s))
    seen = set()
    s = tc.tensor(sched.numpy())
    for _ in range(6):
        st, x_t = compiled(tc.ones(16, 3), s)
        seen.update(np.round(st.numpy(), 5).tolist())
        assert x_t.shape == (16, 3)
    assert len(seen) > 6, seen      # one step's 16 draws were every step's


# --- torch.tensor of a list holding tensors or numpy values --------------------------------
_LISTS = {
    # minimalRL's ppo-continuous: a_lst.append([a]) of 1-element action tensors
    "one_element_tensors": lambda lib: [[[lib.tensor([0.5])] for _ in range(3)]
                                        for _ in range(2)],
    "int32_and_int": lambda lib: [lib.tensor([1], dtype=lib.int32), 1],
    "int32_and_float": lambda lib: [lib.tensor(1, dtype=lib.int32), 2.5],
    "float64_tensor": lambda lib: [lib.tensor([1.0], dtype=lib.float64)],
    "float16_and_int": lambda lib: [lib.tensor([2.5], dtype=lib.float16), 1],
    "bool_and_int": lambda lib: [lib.tensor(True), 2],
    "complex": lambda lib: [lib.tensor([1 + 2j])],
    "matrix_of_scalars": lambda lib: [[1, 2], [lib.tensor(3), lib.tensor([4])]],
    "requires_grad": lambda lib: [lib.tensor([1.5], requires_grad=True), 2],
    "numpy_float64_scalars": lambda lib: [np.float64(0.25), np.float64(-1.0)],
    "numpy_int32_scalar": lambda lib: [np.int32(7)],
    "numpy_rows": lambda lib: [np.array([1.0, 2.0]), np.array([3.0, 4.0])],
    "numpy_float32_and_float": lambda lib: [[np.float32(1), 2.0]],
}


@pytest.mark.parametrize("case", sorted(_LISTS))
def test_tensor_of_a_list_holding_tensors_as_torch(case):
    want = torch.tensor(_LISTS[case](torch))
    got = tc.tensor(_LISTS[case](tc))
    assert tuple(got.shape) == tuple(want.shape)
    assert str(got.dtype).split(".")[1] == str(want.dtype).split(".")[1]
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert not got.requires_grad


@pytest.mark.parametrize("make", [lambda lib: [lib.tensor([1.0, 2.0])],
                                  lambda lib: [[lib.tensor([1.0, 2.0])], [lib.tensor([3.0, 4.0])]]])
def test_tensor_of_a_list_holding_a_longer_tensor_is_torchs_error(make):
    with pytest.raises(ValueError) as want:
        torch.tensor(make(torch))
    with pytest.raises(ValueError) as got:
        tc.tensor(make(tc))
    assert str(got.value) == str(want.value)


def test_ppo_continuous_log_prob_of_stacked_actions():
    # the batch ppo-continuous builds: Normal(mu, std).log_prob(actions) with mu [4, 3, 1]
    rng = np.random.default_rng(0)
    acts = rng.standard_normal((4, 3))
    mu = rng.standard_normal((4, 3, 1))
    out = []
    for lib in (torch, tc):
        a = lib.tensor([[[lib.tensor([v])] for v in row] for row in acts], dtype=lib.float)
        d = lib.distributions.Normal(lib.tensor(mu, dtype=lib.float), lib.ones(4, 3, 1))
        out.append(d.log_prob(a).numpy())
    np.testing.assert_allclose(out[1], out[0], rtol=1e-6)


# --- a numpy stream drawn from by a function reached through an object ---------------------
_RNG = np.random.default_rng(0)


class _Noise:
    def draw(self, x):
        return x + tc.tensor(_RNG.standard_normal(tuple(x.shape)), dtype=x.dtype)


class _OwnNoise:
    def __init__(self):
        self.rng = np.random.default_rng(1)

    def draw(self, x):
        return x + tc.tensor(self.rng.standard_normal(tuple(x.shape)), dtype=x.dtype)


_NOISE, _OWN = _Noise(), _OwnNoise()


class _Normal(tc.distributions.Normal):
    pass


def _patched_rsample(self, sample_shape=()):
    return self.loc + tc.tensor(_RNG.standard_normal(tuple(self.loc.shape)),
                                dtype=self.loc.dtype)


_Normal.rsample = _patched_rsample      # as a test harness patches torch's sampler


_REACHED = {
    "a_plain_objects_method": lambda x: _NOISE.draw(x) * 2,
    "a_method_drawing_from_self": lambda x: _OWN.draw(x) * 2,
    "a_function_set_on_a_class": lambda x: _Normal(x, 1.0).rsample() * 2,
}


@pytest.mark.parametrize("case", sorted(_REACHED))
def test_a_stream_drawn_through_an_objects_method_is_not_baked(case):
    # minimalRL's SAC run with Normal.rsample drawing from a shared numpy generator: the
    # compiled policy's forward drew once, while traced, and every step reused that noise
    compiled = tc.compile(_REACHED[case])
    with pytest.warns(UserWarning, match="drew random numbers"):
        first = compiled(tc.zeros(3)).tolist()
    later = [compiled(tc.zeros(3)).tolist() for _ in range(2)]
    assert first != later[0] != later[1]


# --- torch._foreach_* (lion-pytorch's foreach Lion, ema-pytorch's use_foreach) -------------
_SHAPES = ((2, 3), (4,), ())
_FOREACH = {
    "add_list_alpha": lambda L, a, b, c: L._foreach_add(a, b, alpha=2.0),
    "add_number": lambda L, a, b, c: L._foreach_add(a, 1.5),
    "add_tensor": lambda L, a, b, c: L._foreach_add(a, L.tensor(2.0, dtype=L.float64)),
    "mul_numbers": lambda L, a, b, c: L._foreach_mul(a, [1.0, 2.0, 3.0]),
    "mul_": lambda L, a, b, c: L._foreach_mul_(a, 0.9),
    "sub_alpha_": lambda L, a, b, c: L._foreach_sub_(a, b, alpha=0.5),
    "div": lambda L, a, b, c: L._foreach_div(a, c),
    "maximum_number": lambda L, a, b, c: L._foreach_maximum(a, 0.1),
    "minimum_list": lambda L, a, b, c: L._foreach_minimum(a, b),
    "pow_number": lambda L, a, b, c: L._foreach_pow(c, 0.5),
    "pow_number_base": lambda L, a, b, c: L._foreach_pow(2.0, a),
    "lerp_number_": lambda L, a, b, c: L._foreach_lerp_(a, b, 0.1),
    "lerp_tensors": lambda L, a, b, c: L._foreach_lerp(a, b, c),
    "lerp_numbers": lambda L, a, b, c: L._foreach_lerp(a, b, [0.1, 0.2, 0.3]),
    "sign_": lambda L, a, b, c: L._foreach_sign_(a),
    "sqrt": lambda L, a, b, c: L._foreach_sqrt(c),
    "addcmul_": lambda L, a, b, c: L._foreach_addcmul_(a, b, c, value=0.5),
    "addcdiv_numbers": lambda L, a, b, c: L._foreach_addcdiv(a, b, c, [0.5, 1.0, 2.0]),
    "addcdiv_tensor": lambda L, a, b, c: L._foreach_addcdiv(
        a, b, c, L.tensor([0.5, 1.0, 2.0], dtype=L.float64)),
    "copy_": lambda L, a, b, c: L._foreach_copy_(a, b),
    "zero_": lambda L, a, b, c: L._foreach_zero_(a),
    "norm": lambda L, a, b, c: L._foreach_norm(a),
    "norm_inf": lambda L, a, b, c: L._foreach_norm(a, float("inf")),
    "max": lambda L, a, b, c: L._foreach_max(a),
    "clamp_min_": lambda L, a, b, c: L._foreach_clamp_min_(a, 0.0),
    "neg": lambda L, a, b, c: L._foreach_neg(a),
    "exp_": lambda L, a, b, c: L._foreach_exp_(a),
    "clone": lambda L, a, b, c: L._foreach_clone(a),
}


def _foreach_case(lib, op):
    rng = np.random.default_rng(0)
    a, b = ([lib.tensor(rng.standard_normal(s)) for s in _SHAPES] for _ in range(2))
    c = [lib.tensor(np.abs(rng.standard_normal(s)) + 0.5) for s in _SHAPES]
    result = _FOREACH[op](lib, a, b, c)
    return result is a, a if result is a else result


@pytest.mark.parametrize("op", sorted(_FOREACH))
def test_foreach_ops_as_torch(op):
    want_self, want = _foreach_case(torch, op)
    got_self, got = _foreach_case(tc, op)
    assert got_self == want_self and type(got) is type(want)
    for g, w in zip(got, want, strict=True):
        assert tuple(g.shape) == tuple(w.shape)
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda L: L._foreach_add([L.ones(2), L.ones(3)], [L.ones(2)]),
     "Tensor lists must have the same number of tensors, got 2 and 1"),
    (lambda L: L._foreach_add([], []), "Tensor list must have at least one tensor."),
    (lambda L: L._foreach_mul_([L.ones(2)], [1.0, 2.0]),
     "Tensor list must have same number of elements as scalar list."),
])
def test_foreach_errors_as_torch(call, message):
    with pytest.raises(RuntimeError, match=message):
        call(torch)
    with pytest.raises(RuntimeError, match=message):
        call(tc)


def test_a_compiled_foreach_lion_step_as_torch():
    # lion-pytorch's foreach update: lerp, sign, weight decay and the momentum lerp
    def step(lib, params, grads, avgs, lr=0.01, wd=0.1):
        lib._foreach_mul_(params, 1.0 - lr * wd)
        updates = [a.clone() for a in avgs]
        lib._foreach_lerp_(updates, grads, 0.1)
        lib._foreach_sign_(updates)
        lib._foreach_add_(params, updates, alpha=-lr)
        lib._foreach_lerp_(avgs, grads, 0.01)
    rng = np.random.default_rng(1)
    values = [[rng.standard_normal(s) for s in ((3, 2), (5,))] for _ in range(3)]
    want = [[torch.tensor(v) for v in vs] for vs in values]
    got = [[tc.tensor(v) for v in vs] for vs in values]
    compiled = tc.compile(lambda p, g, a: step(tc, p, g, a))
    for _ in range(3):
        step(torch, *want)
        compiled(*got)
    for ws, gs in zip(want, got):
        for w, g in zip(ws, gs):
            np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-12)


def test_copy_takes_non_blocking():
    # ema-pytorch's `torch._foreach_copy_`, and `p.copy_(q, non_blocking=True)` loops
    for lib in (torch, tc):
        x = lib.zeros(3)
        assert x.copy_(lib.ones(3), non_blocking=True) is x
        assert x.copy_(lib.full((3,), 2.0), True).tolist() == [2.0, 2.0, 2.0]


# --- tracecomp.compile of a module whose class defines __call__ (ema-pytorch's EMA) --------
def _calls_itself(lib):
    class Wrap(lib.nn.Module):     # no forward: __call__ runs the wrapped model
        def __init__(self):
            super().__init__()
            self.inner = lib.nn.Linear(3, 2)

        def __call__(self, x):
            return self.inner(x) * 2
    return Wrap()


def test_compile_of_a_module_that_defines_call():
    torch.manual_seed(0)    # the weights: unseeded, they followed the tests run before
    want_mod, got_mod = _calls_itself(torch), _calls_itself(tc)
    got_mod.load_state_dict({k: tc.tensor(v.detach().numpy())
                             for k, v in want_mod.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 3))
    want = want_mod(torch.tensor(x, dtype=torch.float32))
    compiled = tc.compile(got_mod)
    for _ in range(2):
        got = compiled(tc.tensor(x, dtype=tc.float32))
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-6,
                                   atol=1e-6)
    assert compiled.graphs, "ran eagerly"


# --- an optimizer's step hooks inside a compiled step --------------------------------------
class _Averaged(tc.nn.Module):
    """What ema-pytorch's EMA updates from its post-step hook: a step count and a copy."""

    def __init__(self):
        super().__init__()
        self.copy = tc.nn.Sequential(tc.nn.Linear(2, 2))
        self.register_buffer("count", tc.tensor(0))

    def update(self, model):
        self.count += 1
        with tc.no_grad():
            self.copy[0].weight.lerp_(model.weight, 0.5)


def _hooked_run(compiled):
    tc.manual_seed(0)
    model, avg = tc.nn.Linear(2, 2), _Averaged()
    opt = tc.optim.SGD(model.parameters(), lr=0.1)
    opt.register_step_post_hook(lambda *_: avg.update(model))

    def step(x):
        loss = model(x).pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    run = tc.compile(step) if compiled else step
    for _ in range(4):
        run(tc.ones(3, 2))
    return avg.count.item(), avg.copy[0].weight.detach().numpy().copy()


def test_a_step_hook_updates_what_it_reaches_on_every_compiled_call():
    # the hook reaches the averaged model through its closure only: its buffer and weight
    # were constants of the compiled step, so every call after the trace lost the updates
    want, got = _hooked_run(False), _hooked_run(True)
    assert got[0] == want[0] == 4
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)


class _Lion(tc.optim.Optimizer):
    """lion-pytorch's shape: an Optimizer subclass with its own step."""

    def __init__(self, params, lr=0.01):
        super().__init__(params, dict(lr=lr))

    @tc.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                p.add_(p.grad.sign(), alpha=-group["lr"])


def test_a_hooked_user_optimizer_step_compiles_whole():
    # the step hooks' wrapper set `_in_hooked_step` on the optimizer at its first step:
    # inside compiled code a store no call repeats, so the step was a graph break
    model = tc.nn.Linear(2, 2)
    opt = _Lion(model.parameters())
    calls = []
    opt.register_step_post_hook(lambda *_: calls.append(1))

    def step(x):
        loss = model(x).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tc.compile(step, fullgraph=True)(tc.ones(1, 2))


# --- a checkpoint holding a dataclass config (build-nanogpt's train_gpt2.py) ---------------
@dataclasses.dataclass
class _GPTConfig:
    block_size: int = 1024
    vocab_size: int = 50257
    n_layer: int = 12
    dropout: float = 0.0
    name: str = "gpt2"
    scale: object = None


@dataclasses.dataclass(frozen=True)
class _Frozen:
    width: int
    seen: list = dataclasses.field(default_factory=list, init=False)


def test_save_and_load_a_checkpoint_holding_a_dataclass(tmp_path):
    # torch.save pickles the config; tracecomp.save stopped: "cannot save obj['config']"
    model = tc.nn.Linear(2, 3)
    config = _GPTConfig(block_size=64, n_layer=2, scale=tc.tensor([1.5, 2.5]))
    frozen = _Frozen(4)
    object.__setattr__(frozen, "seen", [1, 2])
    path = tmp_path / "ckpt.pt"
    tc.save({"model": model.state_dict(), "config": config, "frozen": frozen, "step": 3}, path)
    back = tc.load(path)
    assert type(back["config"]) is _GPTConfig and back["step"] == 3
    assert (back["config"].block_size, back["config"].n_layer, back["config"].name) == \
        (64, 2, "gpt2")
    assert back["config"].scale.tolist() == [1.5, 2.5]
    assert back["frozen"] == frozen and back["frozen"].seen == [1, 2]
    rebuilt = tc.nn.Linear(2, 3)
    rebuilt.load_state_dict(back["model"])
    assert tc.equal(rebuilt.weight, model.weight)
    # torch saves and loads the same checkpoint (weights_only=False: a pickled class)
    torch.save({"config": _GPTConfig(block_size=64)}, tmp_path / "t.pt")
    assert torch.load(tmp_path / "t.pt", weights_only=False)["config"].block_size == 64


def test_a_dataclass_defined_in_a_function_is_refused_by_name(tmp_path):
    @dataclasses.dataclass
    class Local:
        x: int = 1
    with pytest.raises(tc.errors.SerializationError, match="defined inside a function"):
        tc.save({"config": Local()}, tmp_path / "c.pt")


@pytest.mark.parametrize("data", [[np.zeros(2), np.ones(2)], (np.zeros(2), np.ones(2)),
                                  [[np.zeros(2)], [np.ones(2)]]])
def test_tensor_of_numpy_arrays_warns_once_as_torch(data, monkeypatch):
    # minimalRL's make_batch: torch.tensor(s_lst) of numpy states, where torch warns once
    import tracecomp.creation as creation
    monkeypatch.setattr(creation, "_SLOW_WARNED", [])
    with pytest.warns(UserWarning, match="Creating a tensor from a list of numpy.ndarrays is "
                                         "extremely slow") as seen:
        tc.tensor(data)
    assert seen[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tc.tensor(data)         # once a process
        tc.tensor([np.float64(1.0), np.float64(2.0)])    # numpy numbers: no warning
