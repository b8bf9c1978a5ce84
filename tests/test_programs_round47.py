"""What published torch programs needed that tracecomp lacked, found by running them with
their imports changed, eager and compiled (round 47), each reproduced here against torch.

Programs run (every weight drawn from one numpy generator in both libraries, inputs and
gym stand-ins the same; "agrees" means eager, compile(model) and a compiled whole training
step give torch's parameters after every optimizer step, and the same printout; where
float32 runs drift, the float64 run (set_default_dtype) is the check):
- graykode/nlp-tutorial, each script whole with its epochs cut to 5: NNLM, Word2Vec
  skip-gram, TextCNN (MaxPool2d built in forward, permute/cat/reshape), TextRNN, TextLSTM,
  Bi-LSTM, Seq2Seq (RNN encoder-decoder, one-hot FloatTensor inputs), Seq2Seq with
  attention (scores written one by one into torch.zeros, outputs into torch.empty,
  softmax without dim, .data.numpy() in forward: a graph break, as torch.compile), Bi-LSTM
  with attention, Transformer and its greedy decoder (sinusoid table from numpy,
  masked_fill_, 2 layers of 32), BERT (masked LM and next-sentence losses, gather of masked
  positions, the decoder tied to the token embedding; 2 layers of 32): agree. TextLSTM,
  Seq2Seq-attention and Transformer drift at 1e-6..1e-3 in float32 where Adam turns a
  parameter's exact zero gradient (the attention bias, key biases) into lr * sign; float64
  agrees to 1e-12. BERT builds a fresh nn.Linear and nn.LayerNorm inside every forward
  call, drawing from the library's own generator: with that init drawn from numpy in both,
  it agrees (float64 to 1e-13), and compiled BERT under tracecomp's own generator gives
  its eager run's parameters (fresh draws every call, as eagerly).
- higgsfield/RL-Adventure, the CartPole part of each notebook (a numpy CartPole for gym,
  120 frames, `loss.data[0]` made `.item()` in both, the prioritized buffer's
  `zip(...)[0]` made a list and common/replay_buffer's `np.array(copy=False)` made plain
  for numpy 2 in both): DQN, double DQN, dueling DQN, prioritized replay, noisy nets
  (NoisyLinear's randn noise and uniform_ init drawn from numpy in both), categorical C51
  (projection with index_add_ on a flattened view), rainbow, quantile regression (its
  missing `u = expected_quant - dist` put back; sort, advanced indexing, clip_grad_norm):
  agree (quantile regression drifts in float32 through its (u < 0) indicator; float64
  agrees to 1e-15). The compiled compute_td_loss breaks the graph at the replay buffer's
  random.sample, as it should. It showed the gap below: a compiled step that draws from
  numpy's global generator in mid-stream (the prioritized buffer's np.random.choice)
  kept the trace's draws for every call.
- higgsfield/RL-Adventure-2 (a numpy Pendulum and ActionWrapper for gym, SubprocVecEnv as
  the envs stepped in turn; Normal/Categorical sample, multinomial and init.normal_ drawn
  from numpy in both): actor-critic (A2C) and GAE on 4 CartPole/Pendulum envs, PPO
  (Normal log_prob/entropy, clipped surrogate, minibatches by np.random.randint in the
  ppo_iter generator), ACER (episodic replay, retrace, truncated importance weights,
  multinomial actions), DDPG (policy loss through the critic, soft target updates by
  `target.data.copy_` inside the compiled update), TD3 (torch.normal target noise, delayed
  policy updates), soft actor-critic (Normal.sample reparameterised by hand, four
  networks): agree, eager, compiled models and compiled update functions (ppo_update,
  compute_acer_loss, ddpg_update, td3_update, soft_q_update; the replay draws break the
  graphs of all but compute_acer_loss, as they should), float32 to 1e-7 (TD3 5e-4 after
  220 steps) and float64 to 1e-14; under tracecomp's own generator the compiled updates
  give the eager run's parameters.
An unseeded generator made inside a compiled function (`np.random.default_rng()`,
`random.Random()`), drawn once at the trace and its draws kept for every call, is refused
since (tests/compiler/test_unseeded_generators.py). Not done: a compiled module's
load_state_dict takes a plain module's state dict, where torch's OptimizedModule wants the
"_orig_mod." keys.
"""
import numpy as np
import pytest
import torch

import tracecomp as tc

# --- a compiled step that draws from numpy's global generator in mid-stream ---------------
# Each draws what a replay buffer or an exploration rule would (the prioritized buffer's
# np.random.choice with probabilities, a uniform, a normal, integers, a permutation).
_DRAWS = {
    "choice_p": lambda n: np.random.choice(n, 4, p=np.arange(1.0, n + 1) / (n * (n + 1) / 2)),
    "rand": lambda n: (np.random.rand(4) * n).astype(int),
    "randn": lambda n: (np.abs(np.random.randn(4)) * 3).astype(int) % n,
    "randint": lambda n: np.random.randint(0, n, 4),
    "permutation": lambda n: np.random.permutation(n)[:4],
}


def _prioritized_steps(lib, draw, compiled):
    """Three TD steps on a small Q-network, each on a batch of buffer rows that the step
    draws from numpy's global generator, as RL-Adventure's prioritized replay does."""
    rng = np.random.default_rng(0)
    states = lib.tensor(rng.standard_normal((10, 4)).astype(np.float32))
    targets = lib.tensor(rng.standard_normal(10).astype(np.float32))
    net = lib.nn.Linear(4, 1)
    with lib.no_grad():
        net.weight.copy_(lib.tensor(rng.standard_normal((1, 4)).astype(np.float32)))
        net.bias.zero_()
    opt = lib.optim.SGD(net.parameters(), lr=0.1)

    def step():
        idx = lib.tensor(_DRAWS[draw](10))
        loss = (net(states[idx]).squeeze(1) - targets[idx]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    if compiled:
        step = tc.compile(step)
    np.random.seed(0)
    np.random.rand()    # an exploration draw first: the next draws only move the position
    losses = [step().item() for _ in range(3)]
    return losses, net.weight.detach().numpy()


@pytest.mark.parametrize("draw", sorted(_DRAWS))
def test_a_compiled_step_drawing_from_numpys_global_generator_draws_anew(draw):
    ref = _prioritized_steps(torch, draw, False)
    with pytest.warns(UserWarning, match="np.random"):
        ours = _prioritized_steps(tc, draw, True)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
