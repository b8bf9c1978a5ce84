"""What published torch programs needed that tracecomp lacked, found by running them with
their imports changed, eager and compiled (round 39), each reproduced here against torch.

Programs run (weights copied from torch's twin, tiny synthetic data, a few steps; "agrees"
means eager, compile(model) and a compiled whole training step give torch's losses and
outputs to 1e-5 relative):
- labml_nn StyleGAN2 (mapping network, modulated/demodulated grouped conv, equalized
  learning rate, Smooth with ReplicationPad2d, bilinear up/down sampling, minibatch std,
  hinge losses, R1 gradient penalty, path length penalty with its EMA parameters,
  clip_grad_norm_): agrees with SGD; with the experiment's Adam(betas=(0, 0.99)) the first
  step is lr * sign(g), and gradients that are float32 rounding noise flip a few weights'
  updates (4e-3 in the generator loss), which SGD does not. The path length penalty as a
  compiled module called after the generator stopped on "appears to not have been used"
  (the gradient's path to w lies outside the traced call): a graph break now; through a
  compiled generator it is then double backward, refused as torch.compile refuses it.
- labml_nn fast weights transformer (DPFP feature map with roll, the fast-weight update
  loop of einsums from zero weights): eager agreed; compiled, the gradients of the value
  projection were wrong (15x their size). The chunk-loop scheduler (passes/chunks.py)
  moved a backward kernel down to the batched product it feeds, past the kernel that read
  the value gradient it also stored; a product's consumer could likewise move up before a
  kernel storing what it reads. Agrees now (tests/compiler/test_chunk_loops.py).
- labml_nn PonderNet (GRUCell halting loop with bernoulli, ReconstructionLoss,
  RegularizationLoss's KLDivLoss against a geometric prior), evidential deep learning
  (MaximumLikelihoodLoss, CrossEntropyBayesRisk's digamma, SquaredErrorBayesRisk,
  KLDivergenceLoss's lgamma/digamma annealing; TrackStatistics' masked select a graph
  break, as it must be), Fuzzy Tiling Activation, hourglass transformer (shift right,
  avg-pool shortening, naive upsampling), feedback transformer: agree.
- labml_nn feedback transformer with shared keys and values (FeedbackTransformerKV): its
  StackFunction's backward adds every step's gradient into one buffer held on ctx and
  returns a row of it, so each call's backward must see the later calls' updates. Eager
  agreed; compiled whole, each call's backward got the buffer's value at its forward and
  the sums were lost (every layer's gradients off, silently). A traced backward that
  updates a tensor held on ctx in place is a graph break now; agrees.
- labml_nn sketch-rnn (bidirectional LSTM encoder with fixed eps, LSTM decoder whose
  forward returns a BivariateGaussianMixture object, MultivariateNormal log_prob of a
  stacked 2x2 covariance, Categorical, KL loss, clip_grad_norm_ on two parameter sets):
  eager and the compiled step agreed; compile(decoder) handed out the trace's valueless
  stand-ins inside the returned object (a compiled policy returning Categorical failed
  the same way). A compiled call's result objects holding traced tensors are rebuilt
  with the computed ones now (compiler/result_objects.py); agrees.
- labml_nn compressive transformer (XL relative attention over memory and Conv1d-compressed
  memory, the experiment's no_grad merge_compress_memory with torch.split, the attention
  reconstruction loss on detached weights, five steps of carried memory), ViT, RoPE with
  value PE, U-Net (tracecomp.vision's center_crop), PonderNet, evidential losses: agree.
- labml_nn PPO experiment's model (returns Categorical and a value: compile(model) stopped
  on the valueless logits before the fix above), ClippedPPOLoss, ClippedValueFunctionLoss;
  dueling DQN with QFuncLoss (double Q, gather, SmoothL1 with weights): agree.
- labml_nn stable diffusion UNetModel (time embeddings, ResBlocks with GroupNorm32, spatial
  transformer with cross attention and GeGLU, up/down sampling) under AdamW, and its
  autoencoder (Encoder/Decoder, AttnBlock, GaussianDistribution's mean and log_var) as a
  VAE: agree (the autoencoder under Adam at lr 1e-4 drifts by 1e-4 at step 2, the first
  step's lr * sign(g) on gradients that are rounding noise; with SGD it agrees).
- labml_nn CycleGAN (its optimize_generators/optimize_discriminator run as written:
  reflect-padded convs, InstanceNorm2d, nearest Upsample, MSE/L1 losses, Adam over
  itertools.chain, LambdaLR, ReplayBuffer's stack): in float64 agrees, eager and compiled;
  in float32 the N(0, 0.02)-initialised generator's weight gradients are conditioned so
  that torch's own float32 run is 3e-3..2e-2 from its float64 one (ours 1e-6..1e-2), and
  Adam carries that into the images (1e-2 by step 2).
- pytorch/tutorials beginner nlp advanced_tutorial (BiLSTM-CRF: forward algorithm,
  score_sentence, Viterbi decode, SGD with weight decay): as published it stops under
  torch 2.13 (torch.cat of 0-d tensors), with the same error under tracecomp; with
  torch.stack there it agrees, eager and compiled (its argmax's .tolist() a graph break).
- pytorch/tutorials mario_rl_tutorial's learner (online net and its deepcopy target with
  frozen parameters, Q[np.arange(B), action], torch.argmax(axis=1), a @torch.no_grad()
  method, SmoothL1Loss, Adam, sync by load_state_dict), imbalanced_data_tutorial's
  evaluation (confusion matrix by 0-d tensor indices, weighted NLLLoss), labml_nn nucleus
  and top-k sampling (sort, cumsum, boolean-mask assignment, topk + scatter_; fullgraph),
  recurrent highway network (2 layers, depth 3), gated feed-forward variants (ReGLU, GEGLU,
  SwiGLU, bilinear) with LabelSmoothingLoss (its index_fill_ of nonzero rows a graph
  break, as a data-dependent shape must be): agree. The original GAN's smoothed-label
  losses draw their labels with uniform_ (tracecomp's generator, not torch's): not compared.

Left: compile(model) of a generator used by a path length penalty is double backward
(refused, as torch.compile refuses it); a Function backward that updates a ctx tensor
runs eagerly (graph break), not compiled; result objects are rebuilt from their instance
attributes (a class with __slots__ or one that keeps tensors elsewhere stays a static
leaf, as before). Not run: the variable length attention tutorial (varlen_attn is a
CUDA flash-attention op that torch 2.13 does not run on CPU, and its is_causal= is gone),
named_tensor_tutorial (tracecomp has no named tensors), quadric_layers_tutorial (no code).
"""
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close


def _path_penalty(lib):
    """labml's PathLengthPenalty's shape: the gradient of an image made before the call
    with respect to the latent the image was made from, both passed in."""
    class PathPenalty(lib.nn.Module):
        def forward(self, w, images):
            g, = lib.autograd.grad((images * images).sum(), w)
            return (g ** 2).sum(dim=-1).sqrt().mean()
    return PathPenalty()


def _generated(lib):
    generator = lib.nn.Linear(3, 4)
    with lib.no_grad():
        generator.weight.copy_(lib.tensor(np.arange(12.).reshape(4, 3).astype(np.float32) / 7))
        generator.bias.fill_(0.25)
    w = lib.tensor(np.linspace(-1, 1, 6).reshape(2, 3).astype(np.float32), requires_grad=True)
    return w, generator(w)


def test_grad_through_history_outside_a_compiled_call_breaks_the_graph():
    want = _path_penalty(torch)(*_generated(torch))
    penalty = tc.compile(_path_penalty(tc))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = penalty(*_generated(tc))
    assert_close(got, want)
    assert any("autograd history lies outside the traced code" in str(w.message)
               for w in caught)
    with pytest.raises(tc.errors.TraceError, match=r"argument of the compiled call \(images"):
        tc.compile(_path_penalty(tc), fullgraph=True)(*_generated(tc))


def test_grad_of_an_argument_made_inside_stays_compiled():
    """The gradient penalty's usual form: the input is an argument and the output is made
    inside, so nothing crosses the call's boundary."""
    def penalty(lib, critic, x):
        g, = lib.autograd.grad(critic(x).sum(), x, create_graph=True)
        return ((g.norm(2, dim=1) - 1) ** 2).mean()
    results = {}
    for lib in (torch, tc):
        critic = lib.nn.Linear(3, 1)
        with lib.no_grad():
            critic.weight.copy_(lib.tensor([[0.5, -1.0, 2.0]]))
            critic.bias.zero_()
        x = lib.tensor(np.linspace(0, 1, 6).reshape(2, 3).astype(np.float32),
                       requires_grad=True)
        def run(x, lib=lib, critic=critic):
            return penalty(lib, critic, x)
        results[lib] = tc.compile(run, fullgraph=True)(x) if lib is tc else run(x)
    assert_close(results[tc], results[torch])


def _shared_stack(lib):
    """labml's feedback transformer's Stack in small: each step stacks the rows so far from
    one shared buffer; the backward accumulates into one shared gradient buffer and hands
    the newest row its sum, so every call's backward reads the later calls' updates."""
    class StackFunction(lib.autograd.Function):
        @staticmethod
        def forward(ctx, memory, memory_grad, last, n):
            ctx._mem_grad, ctx._n = memory_grad, n
            return memory[:n + 1]

        @staticmethod
        def backward(ctx, grad_output):
            ctx._mem_grad[:ctx._n + 1] += grad_output
            return None, None, ctx._mem_grad[ctx._n], None

    class Feedback(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = lib.nn.Linear(3, 3)

        def forward(self, xs):
            memory = xs.new_zeros(4, 2, 3)
            memory_grad = xs.new_zeros(4, 2, 3)
            out, h = [], xs[0]
            for n in range(xs.shape[0]):
                h = self.proj(h + xs[n])
                with lib.no_grad():
                    memory[n] = h.detach()
                stacked = StackFunction.apply(memory, memory_grad, h, n)
                out.append(stacked.sum(0) * (n + 1))
            return lib.stack(out)
    return Feedback()


def test_a_backward_updating_a_tensor_held_on_ctx_breaks_the_graph():
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((4, 2, 3)).astype(np.float32)
    weight = rng.standard_normal((3, 3)).astype(np.float32) / 2
    results = {}
    for lib in (torch, tc):
        model = _shared_stack(lib)
        with lib.no_grad():
            model.proj.weight.copy_(lib.tensor(weight))
            model.proj.bias.zero_()
        run = tc.compile(model) if lib is tc else model
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = run(lib.tensor(xs))
            (out * out).sum().backward()
        results[lib] = (out, model.proj.weight.grad, caught)
    assert_close(results[tc][0], results[torch][0])
    assert_close(results[tc][1], results[torch][1], rtol=1e-4)
    assert any("StackFunction.backward updates ctx._mem_grad in place" in str(w.message)
               for w in results[tc][2])


def _policy(lib):
    class Policy(lib.nn.Module):
        """An actor returning its distribution (cleanrl's and the RL tutorials' shape)."""
        def __init__(self):
            super().__init__()
            self.head = lib.nn.Linear(3, 4)

        def forward(self, x):
            return lib.distributions.Categorical(logits=self.head(x))
    policy = Policy()
    with lib.no_grad():
        policy.head.weight.copy_(lib.tensor(np.linspace(-1, 1, 12).reshape(4, 3)))
        policy.head.bias.zero_()
    return policy


class _Mixture:
    """sketch-rnn's BivariateGaussianMixture in small: a plain object of parameters."""

    def __init__(self, pi_logits, sigma):
        self.pi_logits, self.sigma, self.n = pi_logits, sigma, pi_logits.shape[-1]


def _mixture_head(lib):
    class Head(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = lib.nn.Linear(3, 4)

        def forward(self, x):
            pi, sigma = lib.split(self.proj(x), 2, -1)
            return _Mixture(pi, lib.exp(sigma)), x.sum()
    head = Head()
    with lib.no_grad():
        head.proj.weight.copy_(lib.tensor(np.linspace(-1, 1, 12).reshape(4, 3)))
        head.proj.bias.fill_(0.5)
    return head


def test_objects_a_compiled_call_returns_hold_the_computed_tensors():
    """A compiled module returning a Distribution or a plain object of tensors handed out
    the trace's stand-ins (valueless: log_prob failed on them); now a new object of the
    class with the graph's outputs, differentiable, call after call."""
    x = np.linspace(0, 1, 6).reshape(2, 3).astype(np.float32)
    results = {}
    for lib in (torch, tc):
        policy, head = _policy(lib), _mixture_head(lib)
        run_policy, run_head = (tc.compile(policy), tc.compile(head)) if lib is tc \
            else (policy, head)
        got = []
        for k in range(2):      # the second call runs the compiled artifact
            dist = run_policy(lib.tensor(x + k))
            mixture, total = run_head(lib.tensor(x * k))
            assert type(mixture) is _Mixture and mixture.n == 2
            loss = -dist.log_prob(lib.tensor([0, 3])).sum() - dist.entropy().mean() \
                + (mixture.sigma * mixture.pi_logits.softmax(-1)).sum() + total
            loss.backward()
            got += [dist.probs, mixture.sigma, loss]
        results[lib] = got + [policy.head.weight.grad, head.proj.weight.grad]
    for k, (g, w) in enumerate(zip(results[tc], results[torch])):
        assert_close(g, w, what=f"result {k}")
