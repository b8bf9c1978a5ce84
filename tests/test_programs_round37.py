"""What published torch programs needed that tracecomp lacked, found by running them with
their imports changed, eager and compiled (round 37), each reproduced here against torch.

Programs run (weights copied from torch's twin, tiny synthetic data, a few steps, dropout
p=0 where torch's RNG would draw the masks; "agrees" means eager, compile(model) and a
compiled whole training step give torch's losses and outputs to 1e-5 relative):
- d2l-en chapter_attention-mechanisms-and-transformers: transformer encoder-decoder Seq2Seq
  (masked_softmax through X[~mask] = -1e6, LazyLinear, repeat_interleave valid lens, Adam,
  predict_step with saved attention weights): agrees.
- d2l-en chapter_optimization: scratch momentum/Adagrad/RMSProp/Adadelta/Adam/Yogi on
  linreg and train_concise_ch11's loop with torch.optim's: agrees; the compiled scratch step
  (state in a closure's tuples, `v[:] = ...`) was a graph break: compiles now.
- d2l-en lr-scheduler chapter: LeNet with SGD and MultiStepLR / SquareRoot / Factor /
  Cosine-with-warmup schedulers writing param_group['lr'], Accumulator, accuracy: agrees.
- d2l-en neural-style (a small conv stack for VGG19): gram matrices, content/style/TV losses,
  SynthesizedImage, Adam + StepLR: compiled step lost every update (the Parameter passed as
  the step's argument): agrees now.
- d2l-en appendix (information theory, naive Bayes, eigendecomposition, distributions'
  pmfs, statistics, maximum likelihood): agrees (eager; no training step).
- pytorch/tutorials knowledge_distillation (CE, KD with temperature, CosineEmbeddingLoss
  on avg_pool1d features, regressor + MSE): agrees.
- pytorch/tutorials chatbot_tutorial (bidirectional GRU over packed sequences, Luong dot/
  general/concat attention, maskNLLLoss, teacher forcing and topk feeding,
  clip_grad_norm_, GreedySearchDecoder): agrees; pack_padded_sequence of traced lengths is
  a graph break (data-dependent shapes), as it says.
- pytorch/tutorials reinforcement_q_learning (DQN, ReplayMemory, SmoothL1Loss,
  AdamW(amsgrad), clip_grad_value_, soft target update): agrees; its
  `next_state_values[non_final_mask] = ...` broke the compiled step's graph: compiles now.
- pytorch/tutorials seq2seq_translation (batch_first GRU, Bahdanau attention, TensorDataset,
  NLLLoss): agrees with a fixed sample order (RandomSampler draws from another RNG).
- pytorch/tutorials recipes: saving/loading a general checkpoint (resume SGD-momentum and
  Adam with StepLR), what_is_state_dict, warmstarting with strict=False, several models in
  one file, zeroing out gradients; amp_recipe on CPU (bfloat16 autocast, GradScaler('cpu')
  enabled and not, its state_dict): agree.
- pytorch/tutorials introyt tensors_deeper and autogradyt (creation, broadcasting, math and
  bitwise ops, out=, grad_fn.next_functions, autograd.functional jacobian/vjp/hvp,
  autograd profiler), char_rnn_classification (old: Variable, deprecated add_(-lr, grad);
  new: nn.RNN) and char_rnn_generation, nn_tutorial ('What is torch.nn really?'), data
  tutorials (dict samples, transforms, Subset/ConcatDataset/BatchSampler, pad_sequence
  collate with a packed LSTM, IterableDataset, ChainDataset): agree.
- karpathy's makemore part 4 (backprop ninja: every manual gradient against autograd,
  retain_grad, the fused forms, a no_grad training step with index_add_): agrees.
- A mixture density network and a policy-gradient loss on torch.distributions
  (MixtureSameFamily, Independent, Categorical, Normal, kl_divergence), GP regression from
  scratch (cdist, cholesky, cholesky_solve, solve_triangular; PCA by svd/eigh, lstsq, pinv),
  the LR schedulers and SWA (AveragedModel, SWALR, update_bn, EMA), autograd.Function in
  the new style (setup_context, generate_vmap_rule, mark_non_differentiable, vmap/grad):
  agree.
- Module hooks (forward pre-hooks with kwargs, backward pre-hooks, state_dict hooks,
  ModuleDict/ParameterList/ParameterDict): agree; torch.nn.modules.module's global forward
  hooks were missing: present now.
- torch.nn.grad.conv{1,2,3}d_input/_weight, which hand-written conv backwards call, was
  unsupported: present now.
- pytorch/tutorials beginner nlp (BoW classifier, N-gram language model, CBOW, LSTM
  tagger) and torch_compile_tutorial's API (decorator, backends and modes, dynamic=True,
  compiler.disable, _dynamo.reset/mark_dynamic, is_compiling, model.compile()): agree.
- Docs examples of utils.checkpoint (use_reentrant=False, checkpoint_sequential),
  parametrizations.weight_norm/spectral_norm (u, v fixed: torch draws them),
  MultiheadAttention with key_padding_mask, a norm_first TransformerEncoderLayer with
  generate_square_subsequent_mask, scaled_dot_product_attention(is_causal), NAdam: agree.

Left: a pack_padded_sequence inside a compiled function with lengths as a tensor argument
stays a graph break (its shapes are the lengths); so do full backward hooks on a module a
compiled model calls (run once at trace time otherwise), and char_rnn_generation's
`target_line_tensor.unsqueeze_(-1)` on the compiled step's own argument (an in-place shape
change of an input would need a new kind of effect replayed on the caller's tensor;
torch.compile handles it as an input metadata mutation); random draws (RandomSampler, dropout,
torch.rand) come from tracecomp's own generator, not torch's; global backward and
registration hooks (register_module_full_backward_hook, ..._buffer_registration_hook) are
not provided yet.
"""
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close


# --- a scratch optimizer's state in a closure's tuple, updated in place in a compiled step --
# d2l's chapter_optimization: `states = ((v_w, s_w), (v_b, s_b))` and a step that does
# `for p, (v, s) in zip(params, states): v[:] = beta1 * v + ...`. The compiled step refused
# the update (check_rebound ran before the tensors read inside the tuple were lifted), so it
# ran as a graph break.
def _scratch_adam(lib, compiled):
    w = lib.tensor(np.linspace(-1, 1, 5, dtype=np.float32).reshape(5, 1), requires_grad=True)
    b = lib.zeros(1, requires_grad=True)
    states = ((lib.zeros(5, 1), lib.zeros(5, 1)), (lib.zeros(1), lib.zeros(1)))
    hp = {"lr": 0.1, "t": 1}

    def step(X, y):
        loss = ((X @ w + b - y) ** 2 / 2).mean()
        loss.backward()
        for p, (v, s) in zip([w, b], states):
            with lib.no_grad():
                v[:] = 0.9 * v + 0.1 * p.grad
                s[:] = 0.999 * s + 0.001 * lib.square(p.grad)
                p[:] -= hp["lr"] * (v / (1 - 0.9 ** hp["t"])) / (
                    lib.sqrt(s / (1 - 0.999 ** hp["t"])) + 1e-6)
            p.grad.data.zero_()
        hp["t"] += 1
        return loss
    if compiled:
        step = lib.compile(step, fullgraph=True)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(4):
        X = rng.standard_normal((8, 5)).astype(np.float32)
        y = rng.standard_normal((8, 1)).astype(np.float32)
        losses.append(step(lib.tensor(X), lib.tensor(y)).item())
    return losses, w.detach().numpy(), states[0][1].numpy()


def test_compiled_step_updates_state_held_in_a_closures_tuple():
    want = _scratch_adam(torch, False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # no graph break
        got = _scratch_adam(tc, True)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-7)


# --- x[mask] = one value per True, with a traced mask -------------------------------------
# pytorch/tutorials reinforcement_q_learning:
# `next_state_values[non_final_mask] = target_net(non_final_next_states).max(1).values`.
# A compiled step broke the graph there (the positions of the Trues are data); the i-th True
# takes value[i] whatever they are, so the graph's shapes need only the count, checked when
# it runs.
def _put_rows(lib, x, mask, v):
    y = x * 2
    y[mask] = v * 3
    return y


@pytest.mark.parametrize("mask_shape, rest", [((6,), ()), ((6,), (3,)), ((2, 3), (2,))])
def test_compiled_mask_assign_of_one_row_per_true_matches_torch(mask_shape, rest):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(mask_shape + rest).astype(np.float32)
    masks = [np.array([True, False, True, True, False, True]).reshape(mask_shape),
             np.array([False, True, True, False, True, True]).reshape(mask_shape)]
    v = rng.standard_normal((4,) + rest).astype(np.float32)
    step = tc.compile(lambda x, m, v: _put_rows(tc, x, m, v), fullgraph=True)
    for m in masks:         # the same graph for another mask with as many Trues
        xt, vt = torch.tensor(x, requires_grad=True), torch.tensor(v, requires_grad=True)
        want = _put_rows(torch, xt, torch.tensor(m), vt)
        (want * want).sum().backward()
        xc, vc = tc.tensor(x, requires_grad=True), tc.tensor(v, requires_grad=True)
        got = step(xc, tc.tensor(m), vc)
        (got * got).sum().backward()
        assert_close(got, want)
        assert_close(xc.grad, xt.grad, what="x.grad")
        assert_close(vc.grad, vt.grad, what="v.grad")


def test_compiled_mask_assign_with_another_count_raises_torchs_error():
    step = tc.compile(lambda x, m, v: _put_rows(tc, x, m, v))
    x, v = np.zeros((4, 2), np.float32), np.ones((3, 2), np.float32)
    step(tc.tensor(x), tc.tensor([True, True, False, True]), tc.tensor(v))
    all_true = [True] * 4
    with pytest.raises(RuntimeError) as want:
        _put_rows(torch, torch.tensor(x), torch.tensor(all_true), torch.tensor(v))
    with pytest.raises(RuntimeError) as got:
        step(tc.tensor(x), tc.tensor(all_true), tc.tensor(v))
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize("key, shape", [("mask", (2, 2)), ("mask", (3, 1, 2)),
                                        ("ints", (2, 2, 2))])
def test_eager_setitem_shape_mismatch_is_torchs_runtime_error(key, shape, requires_grad):
    """numpy's ValueError ('value array ... could not be broadcast') came through."""
    def attempt(lib):
        x = lib.zeros(4, 2, requires_grad=requires_grad).clone()
        k = lib.tensor([True, False, True, True]) if key == "mask" else lib.tensor([0, 1])
        x[k] = lib.ones(shape)
    with pytest.raises(RuntimeError) as want:
        attempt(torch)
    with pytest.raises(RuntimeError) as got:
        attempt(tc)
    assert str(got.value) == str(want.value)


# --- a parameter passed to a compiled step as its argument ---------------------------------
# d2l's neural style: `X = gen_img()` (its Parameter) and `train` steps on X with an Adam of
# gen_img.parameters(). The compiled step read the argument through a stand-in that the
# optimizer never saw, so no step reached the parameter: the loss stayed put, silently.
def _param_argument_steps(lib, compiled):
    w = lib.nn.Parameter(lib.tensor([1.0, -2.0, 3.0]))
    other = lib.tensor([0.5, 0.5, 0.5])
    opt = lib.optim.Adam([w], lr=0.3)

    def step(x):
        opt.zero_grad()
        loss = ((x * x + w) * lib.tensor([1.0, 2.0, 3.0])).sum()
        loss.backward()
        opt.step()
        return loss
    if compiled:
        step = lib.compile(step)
    losses = [step(w).item() for _ in range(3)]
    losses.append(step(other).item())      # another tensor: not the parameter
    losses.append(step(w).item())
    return losses, w.detach().numpy()


def test_compiled_step_updates_the_parameter_it_is_given_as_argument():
    want = _param_argument_steps(torch, False)
    got = _param_argument_steps(tc, True)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)


def test_compiled_function_of_a_parameter_gives_it_its_gradient_once():
    """The argument is the module's own weight: one tensor, so its gradient is counted once
    (not once as argument and once as state)."""
    torch.manual_seed(0)
    ref = torch.nn.Linear(3, 2)
    ours = tc.nn.Linear(3, 2)
    ours.load_state_dict({k: tc.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    x = np.ones((4, 3), np.float32)

    def f(lib, model, w):
        return (model(lib.tensor(x)) * w.sum()).sum()
    f(torch, ref, ref.weight).backward()
    tc.compile(lambda w: f(tc, ours, w))(ours.weight).backward()
    assert_close(ours.weight.grad, ref.weight.grad)
    assert_close(ours.bias.grad, ref.bias.grad)


# --- hooks every module runs (torch.nn.modules.module.register_module_forward_hook) -----------
# nn.modules.module was no attribute of tracecomp.nn.modules, and the global hooks were
# missing: a program registering one to scale or log every Linear stopped there.
def _global_hooks_run(lib, compiled):
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    net = ref if lib is torch else tc.nn.Sequential(tc.nn.Linear(3, 4), tc.nn.ReLU(),
                                                    tc.nn.Linear(4, 2))
    if lib is tc:
        net.load_state_dict({k: tc.tensor(v.detach().numpy()) for k, v in
                             ref.state_dict().items()})
    run = lib.compile(net) if compiled else net
    x = lib.tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3))
    seen = []
    outs = [run(x)]
    module_api = lib.nn.modules.module
    pre = module_api.register_module_forward_pre_hook(
        lambda m, args: (args[0] + 1,) if isinstance(m, lib.nn.Linear) else None)
    post = module_api.register_module_forward_hook(
        lambda m, args, kwargs, out: seen.append(type(m).__name__) or out * 2
        if isinstance(m, lib.nn.ReLU) else None, with_kwargs=True)
    own = net[2].register_forward_hook(lambda m, args, out: out - 1)    # after the global one
    outs.append(run(x))
    outs[-1].sum().backward()
    pre.remove()
    outs.append(run(x))
    post.remove()
    own.remove()
    outs.append(run(x))
    return [o.detach().numpy() for o in outs], net[0].weight.grad.numpy(), seen.count("ReLU")


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_global_module_forward_hooks_match_torch(compiled):
    want = _global_hooks_run(torch, False)
    got = _global_hooks_run(tc, compiled)
    for g, w in zip(got[0], want[0]):
        np.testing.assert_allclose(g, w, rtol=1e-6)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)
    if not compiled:        # a compiled call runs the hooks once, when traced
        assert got[2] == want[2]


# --- torch.nn.grad: a hand-written convolution backward -------------------------------------
# A custom autograd.Function whose backward calls torch.nn.grad.conv2d_input/conv2d_weight
# (as extension tutorials and papers' reference code write conv layers) stopped on
# `torch.nn.grad is not supported`.
def _custom_conv_losses(lib, compiled):
    class Conv(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, w):
            ctx.save_for_backward(x, w)
            return lib.nn.functional.conv2d(x, w, stride=2, padding=1)

        @staticmethod
        def backward(ctx, g):
            x, w = ctx.saved_tensors
            return (lib.nn.grad.conv2d_input(x.shape, w, g, stride=2, padding=1),
                    lib.nn.grad.conv2d_weight(x, w.shape, g, stride=2, padding=1))
    rng = np.random.default_rng(0)
    w = lib.nn.Parameter(lib.tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.3))
    x = lib.tensor(rng.standard_normal((2, 3, 7, 7)).astype(np.float32), requires_grad=True)
    opt = lib.optim.SGD([w], lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = Conv.apply(x, w).tanh().square().mean()
        loss.backward()
        opt.step()
        return loss
    if compiled:
        step = lib.compile(step)
    losses = [step(x).item() for _ in range(3)]
    return losses, w.detach().numpy(), x.grad.numpy()


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_nn_grad_conv_backward_in_a_custom_function_matches_torch(compiled):
    want = _custom_conv_losses(torch, False)
    got = _custom_conv_losses(tc, compiled)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dims, kw", [(1, {"dilation": 2}), (2, {"stride": 2, "padding": 1}),
                                      (3, {"padding": 1, "groups": 2})])
def test_nn_grad_values_and_double_backward_match_torch(dims, kw):
    rng = np.random.default_rng(dims)
    x = rng.standard_normal((2, 4) + (6,) * dims).astype(np.float32)
    w = rng.standard_normal((6, 4 // kw.get("groups", 1)) + (3,) * dims).astype(np.float32)
    got = {}
    for lib in (torch, tc):
        xt, wt = lib.tensor(x, requires_grad=True), lib.tensor(w, requires_grad=True)
        out_shape = getattr(lib.nn.functional, f"conv{dims}d")(xt, wt, **kw).shape
        g = lib.tensor(np.cos(np.arange(np.prod(out_shape), dtype=np.float32)).reshape(
            tuple(out_shape)))
        gi = getattr(lib.nn.grad, f"conv{dims}d_input")(xt.shape, wt, g, **kw)
        gw = getattr(lib.nn.grad, f"conv{dims}d_weight")(xt, wt.shape, g, **kw)
        (gi.square().sum() + gw.square().sum()).backward()
        got[lib] = [gi.detach().numpy(), gw.detach().numpy(), xt.grad.numpy(), wt.grad.numpy()]
    for a, b in zip(got[tc], got[torch]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
