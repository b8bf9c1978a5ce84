"""What published torch programs needed that tracecomp lacked, found by running them with
their imports changed, eager and compiled (round 43), each reproduced here against torch.

Programs run (weights copied from torch's twin, tiny synthetic data, a few steps; "agrees"
means eager, compile(model) and a compiled whole training step give torch's losses,
outputs and parameters):
- cloneofsimo/minDiffusion (superminddpm.py's DummyEpsModel with BatchNorm, mindiffusion's
  NaiveUnet with GroupNorm/ConvTranspose2d/TimeSiren, DDPM's training loss and ancestral
  sampling, DDIM's sampling at eta 0.5; torch's draws replaced by the same numpy numbers in
  both libraries): agrees eager and with the eps model compiled (float64 to 1e-11; in
  float32 Adam's first steps turn the zero-gradient conv biases before the norms into
  lr * sign of rounding noise, as in torch's own float32 runs). compile(ddpm) and the
  compiled step drew the same timesteps on every call: torch.randint (and randint_like,
  randperm) drew their numbers while tracing, baked into the graph. They draw afresh now.
"""
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
