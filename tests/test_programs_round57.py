"""What published custom optimizers and training tricks needed that tracecomp lacked, found
by running them with their imports changed, eager, under compile(model) and as a compiled
whole training step (round 57), each reproduced here against torch.

Programs run (weights copied from the torch model, data from one numpy generator; "agrees"
means eager, compile(model) and a compiled whole training step give torch's losses,
parameters and optimizer state after every step):
- davda54/sam sam.py with example/ (WideResNet depth 10 width 1 on 32x32 inputs,
  smooth_crossentropy through scatter_ + kl_div, bypass_bn's enable/disable_running_stats
  setting BatchNorm momentum to 0, StepLR writing param_group['lr']): SAM over SGD with
  momentum and weight decay, plain and adaptive, through first_step/second_step (two
  forward/backward passes a step, `p.data = old_p`) and through step(closure): agrees in
  float64 to 1e-15; in float32 adaptive SAM (rho 0.5) drifts from torch eagerly by 1e-5 in
  the parameters and 1e-4 in the momentum after 3 steps, as float32 rounding in a chaotic
  step does (its first step agrees to 1e-7).
  The compiled step broke its graph at the base optimizer's step (below); after the fix one
  graph, agreeing.
- alphadl/lookahead.pytorch lookahead.py over Adam and over SGD with momentum (k=3): its
  `lookahead.zero_grad()` fails under torch 2.13 itself (Optimizer.__init__ never runs, so no
  `defaults`), so the base optimizer's zero_grad is used in both. Eagerly tracecomp crashed
  in step (below); after the fix agrees, eager and compile(model); the compiled step broke
  its graph at the first step (below), after the fix one graph, agreeing.
- facebookresearch/madgrad madgrad.py (MADGRAD with momentum 0.9 and L2 decay, without
  momentum and with decoupled decay) and mirror_madgrad.py: agree eagerly and under
  compile(model); the compiled step crashed with AttributeError (below), after the fix a
  graph break naming the state entry, agreeing.
- Liuhong99/Sophia sophia.py (SophiaG with its tensor step counts, update_hessian every
  second step from a cross_entropy of labels drawn from numpy, step(bs=...), weight decay,
  the clamped ratio): agrees, eager, compile(model) and compiled step (float32, to 1e-9).
- sail-sg/Adan adan.py (Adan, foreach and single-tensor, with and without no_prox, its own
  global grad-norm clipping through .item()) under SequentialLR of LinearLR warmup then
  CosineAnnealingWarmRestarts(T_mult=2), two micro-batches of gradient accumulation and
  clip_grad_norm_: agrees, eager, compile(model) and compiled step, without a graph break.
The gaps: an optimizer held by the optimizer a compiled step uses (SAM's `base_optimizer`,
Lookahead's `optimizer`) was not found as an input, so its step inside the trace was refused
("ran the step of an optimizer it was not given") and every SAM step ran eagerly. An
Optimizer subclass whose __init__ does not call Optimizer.__init__ (Lookahead) crashed in
step() with AttributeError '_optimizer_step_pre_hooks': tracecomp wraps every subclass's
step to run the step hooks, torch only the steps of classes whose Optimizer.__init__ ran.
Lookahead's `self.fast_state = self.optimizer.state` was watched as a user's dict, so the
inner optimizer's first step, creating its state there, was refused as "a dict holding a
tensor it computed".
MADGRAD keeps its step count as `self.state['k'] = torch.tensor([0])`, a tensor under a
string key of the state rather than a parameter's dict: the compiled step read every state
entry as a dict and crashed ('Tensor' object has no attribute 'items'); now it is a graph
break that says so (the step runs eagerly, as torch's values).
Found on the way: a Python number kept as an optimizer's own attribute (`self.steps += 1`
in a custom step, where Lookahead keeps its counter in param_groups) was a graph break in a
compiled step, as a store compiled calls cannot repeat: kept_values.KeptWatch looked at no
optimizer's attributes. Now replayed (fed from its second change; a Python branch on it
compiles once per value, as torch.compile specializes such an int).
"""
import collections

import numpy as np
import pytest
import torch

import tracecomp as tc

_RNG = np.random.default_rng(57)


def _sam(lib):
    class SharpnessAware(lib.optim.Optimizer):
        """SAM's shape: an Optimizer that builds a base optimizer over its own param_groups,
        perturbs the weights along the normalized gradient, then restores them and steps
        the base one."""

        def __init__(self, params, base, rho, **kwargs):
            super().__init__(params, dict(rho=rho, **kwargs))
            self.base_optimizer = base(self.param_groups, **kwargs)
            self.param_groups = self.base_optimizer.param_groups

        @lib.no_grad()
        def first_step(self):
            norm = lib.stack([p.grad.norm() for g in self.param_groups
                              for p in g["params"]]).norm()
            for group in self.param_groups:
                for p in group["params"]:
                    self.state[p]["old_p"] = p.data.clone()
                    p.add_(p.grad * (group["rho"] / (norm + 1e-12)))
            self.zero_grad()

        @lib.no_grad()
        def second_step(self):
            for group in self.param_groups:
                for p in group["params"]:
                    p.data = self.state[p]["old_p"]
            self.base_optimizer.step()
            self.zero_grad()
    return SharpnessAware


def _sam_step(lib, model, opt):
    def step(x, y):
        loss = lib.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.first_step()
        lib.nn.functional.cross_entropy(model(x), y).backward()
        opt.second_step()
        return loss
    return step


def test_a_compiled_sam_step_is_one_graph_stepping_the_base_optimizer_as_torch():
    nets = [lib.nn.Sequential(lib.nn.Linear(5, 8), lib.nn.Tanh(), lib.nn.Linear(8, 3))
            for lib in (torch, tc)]
    nets[1].load_state_dict({k: tc.tensor(v.detach().numpy())
                             for k, v in nets[0].state_dict().items()})
    opts = [_sam(lib)(net.parameters(), lib.optim.SGD, rho=0.1, lr=0.1, momentum=0.9)
            for lib, net in zip((torch, tc), nets)]
    want = _sam_step(torch, nets[0], opts[0])
    got = tc.compile(_sam_step(tc, nets[1], opts[1]), fullgraph=True)
    for _ in range(3):
        x = _RNG.standard_normal((6, 5)).astype(np.float32)
        y = _RNG.integers(0, 3, 6)
        np.testing.assert_allclose(got(tc.tensor(x), tc.tensor(y)).item(),
                                   want(torch.tensor(x), torch.tensor(y)).item(), rtol=1e-5)
    for (k, a), b in zip(nets[1].state_dict().items(), nets[0].state_dict().values()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)
    for a, b in zip(nets[1].parameters(), nets[0].parameters()):
        np.testing.assert_allclose(opts[1].base_optimizer.state[a]["momentum_buffer"].numpy(),
                                   opts[0].base_optimizer.state[b]["momentum_buffer"].numpy(),
                                   rtol=1e-5, atol=1e-6)


def _lookahead(lib):
    class Lookahead(lib.optim.Optimizer):
        """Lookahead's shape: an Optimizer subclass that never calls Optimizer.__init__,
        sharing its inner optimizer's param_groups and keeping slow weights of its own."""

        def __init__(self, inner, k=2, alpha=0.5):
            self.inner, self.k, self.alpha = inner, k, alpha
            self.param_groups = inner.param_groups
            self.state = collections.defaultdict(dict)
            self.fast_state = inner.state      # the inner optimizer's state, aliased
            inner.param_groups[0]["counter"] = 0

        def step(self):
            self.inner.step()
            group = self.param_groups[0]
            if group["counter"] % self.k == 0:
                with lib.no_grad():
                    for p in self.param_groups[0]["params"]:
                        slow = self.state[p].setdefault("slow", p.detach().clone())
                        slow += (p - slow) * self.alpha
                        p.copy_(slow)
            group["counter"] += 1
    return Lookahead


def _train_step(lib, net, opt):
    def step(x):
        opt.inner.zero_grad()
        net(x).square().mean().backward()
        opt.step()
    return step


@pytest.mark.parametrize("mode", ["eager", "compile(model)", "compiled step"])
def test_an_optimizer_whose_init_skips_optimizer_init_steps_as_torch(mode):
    nets = [lib.nn.Linear(4, 2) for lib in (torch, tc)]
    nets[1].load_state_dict({k: tc.tensor(v.detach().numpy())
                             for k, v in nets[0].state_dict().items()})
    opts = [_lookahead(lib)(lib.optim.Adam(net.parameters(), lr=0.05))
            for lib, net in zip((torch, tc), nets)]
    want = _train_step(torch, nets[0], opts[0])
    got = _train_step(tc, tc.compile(nets[1]) if mode == "compile(model)" else nets[1],
                      opts[1])
    # the compiled step is one graph: the aliased state is the inner optimizer's own
    got = tc.compile(got, fullgraph=True) if mode == "compiled step" else got
    _steps(want, got, 4)
    _same_parameters(nets)


def _counted_sgd(lib):
    class CountedSGD(lib.optim.Optimizer):
        """MADGRAD's shape: a step count kept as a tensor under a string key of the state
        (not a parameter's dict), read with .item() to scale the step."""

        def __init__(self, params, lr):
            super().__init__(params, dict(lr=lr))

        @lib.no_grad()
        def step(self):
            if "k" not in self.state:
                self.state["k"] = lib.tensor([0], dtype=lib.long)
            k = self.state["k"].item()
            for group in self.param_groups:
                for p in group["params"]:
                    state = self.state[p]
                    if "sum" not in state:
                        state["sum"] = lib.zeros_like(p)
                    state["sum"].add_(p.grad)
                    p.sub_(state["sum"] * (group["lr"] / (k + 1) ** 0.5))
            self.state["k"] += 1
    return CountedSGD


def test_a_compiled_step_of_an_optimizer_keeping_a_tensor_under_a_string_key_breaks():
    nets = [lib.nn.Linear(4, 2) for lib in (torch, tc)]
    nets[1].load_state_dict({k: tc.tensor(v.detach().numpy())
                             for k, v in nets[0].state_dict().items()})
    opts = [_counted_sgd(lib)(net.parameters(), lr=0.1) for lib, net in zip((torch, tc), nets)]

    def train(lib, net, opt):
        def step(x):
            opt.zero_grad()
            net(x).square().mean().backward()
            opt.step()
        return step
    want, got = train(torch, nets[0], opts[0]), tc.compile(train(tc, nets[1], opts[1]))
    with pytest.warns(UserWarning, match=r"CountedSGD keeps state\['k'\] as a Tensor"):
        _steps(want, got, 3)    # first: made in the trace; then: found before it
    _same_parameters(nets)
    assert opts[1].state["k"].item() == 3
    with pytest.raises(tc.errors.TraceError, match=r"state\['k'\]"):
        tc.compile(train(tc, nets[1], opts[1]), fullgraph=True)(tc.ones(5, 4))


def _every_other_sgd(lib):
    class EveryOtherSGD(lib.optim.Optimizer):
        """A count kept as the optimizer's own attribute (`self.steps += 1`), read by a
        Python branch: the slow-weights pull of a Lookahead every k steps."""

        def __init__(self, params, lr):
            super().__init__(params, dict(lr=lr))
            self.steps = 0

        @lib.no_grad()
        def step(self):
            for group in self.param_groups:
                for p in group["params"]:
                    p.sub_(p.grad * group["lr"])
                    if self.steps % 2 == 1:
                        p.mul_(0.5)
            self.steps += 1
    return EveryOtherSGD


def test_a_count_on_the_optimizer_itself_moves_every_compiled_step_as_torch():
    nets = [lib.nn.Linear(4, 2) for lib in (torch, tc)]
    nets[1].load_state_dict({k: tc.tensor(v.detach().numpy())
                             for k, v in nets[0].state_dict().items()})
    opts = [_every_other_sgd(lib)(net.parameters(), lr=0.1)
            for lib, net in zip((torch, tc), nets)]
    def train(net, opt):
        def step(x):
            opt.zero_grad()
            net(x).square().mean().backward()
            opt.step()
        return step
    want, got = train(nets[0], opts[0]), tc.compile(train(nets[1], opts[1]), fullgraph=True)
    _steps(want, got, 5)
    assert opts[1].steps == opts[0].steps == 5
    _same_parameters(nets)


def _steps(want, got, n):
    """n steps of torch's `want` and tracecomp's `got` on the same random batches."""
    for _ in range(n):
        x = _RNG.standard_normal((5, 4)).astype(np.float32)
        want(torch.tensor(x))
        got(tc.tensor(x))


def _same_parameters(nets):
    """tracecomp's net (nets[1]) has torch's (nets[0]) parameters."""
    for a, b in zip(nets[1].parameters(), nets[0].parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
