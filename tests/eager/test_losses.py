"""Losses (functional and modules) vs torch 2.13: values, input gradients, reductions,
errors; float64 central differences; and a few training steps of small models whose losses
and weights must follow torch's."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tracecomp as tc
import tracecomp.nn.functional as F

from helpers import as_np, assert_close

RNG = np.random.default_rng(7)
REDUCTIONS = ["none", "mean", "sum"]


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def probs(*shape, axis=-1):
    e = np.exp(randn(*shape))
    return (e / e.sum(axis, keepdims=True)).astype(np.float32)


def unit(*shape):
    """Values strictly inside (0, 1), where BCE's gradient is torch's formula."""
    return RNG.uniform(0.02, 0.98, shape).astype(np.float32)


def labels(n_classes, *shape):
    return RNG.integers(0, n_classes, shape).astype(np.int64)


def run_both(fn, arrays, grad_args, rtol=1e-4, atol=1e-5):
    """fn(F, *inputs) under both libraries; the inputs at positions grad_args require grad,
    and their gradients under a random cotangent must match."""
    ours = [tc.tensor(a, requires_grad=k in grad_args) for k, a in enumerate(arrays)]
    theirs = [torch.tensor(a, requires_grad=k in grad_args) for k, a in enumerate(arrays)]
    got, want = fn(F, *ours), fn(TF, *theirs)
    assert_close(got, want, rtol, atol)
    cot = RNG.standard_normal(want.shape).astype(as_np(want).dtype)
    (got * tc.tensor(cot)).sum().backward()
    (want * torch.tensor(cot)).sum().backward()
    for k in grad_args:
        assert_close(ours[k].grad, theirs[k].grad, rtol, atol, what=f"gradient of input {k}")


def with_ignored(target, ignore_index=-100):
    t = target.copy()
    t.flat[::3] = ignore_index
    return t


# (name, fn(f, *inputs, reduction), arrays, indices of inputs that get gradients)
CASES = [
    ("ce", lambda f, x, t, r: f.cross_entropy(x, t, reduction=r),
     lambda: [randn(6, 5), labels(5, 6)], (0,)),
    ("ce_unbatched", lambda f, x, t, r: f.cross_entropy(x, t, reduction=r),
     lambda: [randn(5), np.array(3)], (0,)),
    ("ce_kdim", lambda f, x, t, r: f.cross_entropy(x, t, reduction=r),
     lambda: [randn(2, 4, 3, 3), labels(4, 2, 3, 3)], (0,)),
    ("ce_weight", lambda f, x, t, w, r: f.cross_entropy(x, t, w, reduction=r),
     lambda: [randn(6, 5), labels(5, 6), RNG.uniform(0.5, 2, 5).astype(np.float32)], (0,)),
    ("ce_ignore", lambda f, x, t, r: f.cross_entropy(x, t, ignore_index=-100, reduction=r),
     lambda: [randn(6, 5), with_ignored(labels(5, 6))], (0,)),
    ("ce_ignore_class", lambda f, x, t, r: f.cross_entropy(x, t, ignore_index=2, reduction=r),
     lambda: [randn(8, 3), labels(3, 8)], (0,)),
    ("ce_smoothing", lambda f, x, t, r: f.cross_entropy(x, t, reduction=r,
                                                        label_smoothing=0.2),
     lambda: [randn(6, 5), labels(5, 6)], (0,)),
    ("ce_smoothing_weight_ignore",
     lambda f, x, t, w, r: f.cross_entropy(x, t, w, reduction=r, label_smoothing=0.3),
     lambda: [randn(2, 5, 4), with_ignored(labels(5, 2, 4)),
              RNG.uniform(0.5, 2, 5).astype(np.float32)], (0,)),
    ("ce_probs", lambda f, x, t, r: f.cross_entropy(x, t, reduction=r),
     lambda: [randn(6, 5), probs(6, 5)], (0, 1)),
    ("ce_probs_kdim_weight_smoothing",
     lambda f, x, t, w, r: f.cross_entropy(x, t, w, reduction=r, label_smoothing=0.1),
     lambda: [randn(3, 4, 2), probs(3, 4, 2, axis=1),
              RNG.uniform(0.5, 2, 4).astype(np.float32)], (0, 1)),
    ("nll", lambda f, x, t, r: f.nll_loss(x, t, reduction=r),
     lambda: [randn(6, 5), labels(5, 6)], (0,)),
    ("nll_weight_ignore", lambda f, x, t, w, r: f.nll_loss(x, t, w, ignore_index=1,
                                                           reduction=r),
     lambda: [randn(7, 4), labels(4, 7), RNG.uniform(0.5, 2, 4).astype(np.float32)], (0,)),
    ("mse", lambda f, x, y, r: f.mse_loss(x, y, reduction=r),
     lambda: [randn(4, 3), randn(4, 3)], (0, 1)),
    ("l1", lambda f, x, y, r: f.l1_loss(x, y, reduction=r),
     lambda: [randn(4, 3), randn(4, 3)], (0, 1)),
    ("smooth_l1", lambda f, x, y, r: f.smooth_l1_loss(x, y, reduction=r),
     lambda: [randn(5, 4) * 2, randn(5, 4)], (0, 1)),
    ("smooth_l1_beta", lambda f, x, y, r: f.smooth_l1_loss(x, y, reduction=r, beta=0.3),
     lambda: [randn(5, 4), randn(5, 4)], (0, 1)),
    ("smooth_l1_beta0", lambda f, x, y, r: f.smooth_l1_loss(x, y, reduction=r, beta=0.0),
     lambda: [randn(5, 4), randn(5, 4)], (0, 1)),
    ("huber", lambda f, x, y, r: f.huber_loss(x, y, reduction=r, delta=0.7),
     lambda: [randn(5, 4) * 2, randn(5, 4)], (0, 1)),
    ("bce", lambda f, x, y, r: f.binary_cross_entropy(x, y, reduction=r),
     lambda: [unit(6, 2), unit(6, 2)], (0, 1)),
    ("bce_weight", lambda f, x, y, w, r: f.binary_cross_entropy(x, y, w, reduction=r),
     lambda: [unit(6, 2), (unit(6, 2) > 0.5).astype(np.float32), unit(2)], (0,)),
    ("bce_logits", lambda f, x, y, r: f.binary_cross_entropy_with_logits(x, y, reduction=r),
     lambda: [randn(6, 3) * 4, unit(6, 3)], (0, 1)),
    ("bce_logits_pos_weight",
     lambda f, x, y, w, p, r: f.binary_cross_entropy_with_logits(x, y, w, reduction=r,
                                                                 pos_weight=p),
     lambda: [randn(6, 3) * 4, unit(6, 3), unit(6, 1), unit(3) * 3], (0, 1)),
    ("kl_div", lambda f, x, y, r: f.kl_div(x, y, reduction=r),
     lambda: [np.log(probs(4, 5)), probs(4, 5)], (0, 1)),
    ("kl_div_zero_target", lambda f, x, y, r: f.kl_div(x, y, reduction=r),
     lambda: [np.log(probs(4, 5)), np.where(probs(4, 5) > 0.2, probs(4, 5), 0)
              .astype(np.float32)], (0,)),
    ("kl_div_log_target", lambda f, x, y, r: f.kl_div(x, y, reduction=r, log_target=True),
     lambda: [np.log(probs(4, 5)), np.log(probs(4, 5))], (0, 1)),
]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,fn,make,grads", CASES, ids=[c[0] for c in CASES])
def test_loss_matches_torch(name, fn, make, grads, reduction):
    run_both(lambda f, *xs: fn(f, *xs, reduction), make(), grads)


def test_kl_div_batchmean():
    run_both(lambda f, x, y: f.kl_div(x, y, reduction="batchmean"),
             [np.log(probs(4, 5)), probs(4, 5)], (0, 1))


def test_cross_entropy_all_ignored_is_nan_like_torch():
    x, t = randn(3, 4), np.full(3, -100, np.int64)
    got = F.cross_entropy(tc.tensor(x), tc.tensor(t))
    want = TF.cross_entropy(torch.tensor(x), torch.tensor(t))
    assert np.isnan(got.item()) and np.isnan(want.item())



@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(16, 5), (4, 5, 3), (5,)])
def test_nll_without_ignored_targets_is_the_weighted_formulas_numbers(shape, reduction):
    """A batch with no ignored target takes a shorter path (every class weight is 1): its
    loss and gradient are bit for bit those of the path with weights and ignore_index."""
    from tracecomp.nn import functional_losses
    x = randn(*shape)
    batched = len(shape) > 1
    t = labels(shape[1], *shape[:1] + shape[2:]) if batched else labels(shape[0])
    results = []
    for short in (True, False):
        xs = tc.tensor(x, requires_grad=True)
        keep = functional_losses._nothing_ignored
        if not short:       # the general path, forced
            functional_losses._nothing_ignored = lambda *_: False
        try:
            loss = F.cross_entropy(xs, tc.tensor(t), reduction=reduction)
        finally:
            functional_losses._nothing_ignored = keep
        loss.sum().backward()
        results.append((loss.detach().numpy(), xs.grad.numpy()))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)

def test_bce_with_logits_extreme_logits_stay_finite():
    x = np.array([-200.0, -30.0, 0.0, 30.0, 200.0], np.float32)
    y = np.array([1.0, 0.0, 1.0, 1.0, 0.0], np.float32)
    run_both(lambda f, a, b: f.binary_cross_entropy_with_logits(a, b, reduction="none"),
             [x, y], (0,))


def test_bce_clamps_log_at_minus_100():
    x = np.array([0.0, 1.0, 0.5], np.float32)
    y = np.array([1.0, 0.0, 1.0], np.float32)
    got = F.binary_cross_entropy(tc.tensor(x), tc.tensor(y), reduction="none")
    want = TF.binary_cross_entropy(torch.tensor(x), torch.tensor(y), reduction="none")
    assert_close(got, want)


# --- float64 central differences --------------------------------------------------------
FD_CASES = [
    ("ce_smoothing_weight", lambda x: F.cross_entropy(
        x, tc.tensor([0, 2, 1]), tc.tensor([1.0, 2.0, 0.5], dtype=tc.float64),
        label_smoothing=0.2)),
    ("smooth_l1", lambda x: F.smooth_l1_loss(x, tc.zeros(3, 3, dtype=tc.float64), beta=0.5)),
    ("huber", lambda x: F.huber_loss(x, tc.zeros(3, 3, dtype=tc.float64), delta=0.5)),
    ("bce_logits_pos_weight", lambda x: F.binary_cross_entropy_with_logits(
        x, tc.full((3, 3), 0.3, dtype=tc.float64),
        pos_weight=tc.tensor([1.0, 2.0, 3.0], dtype=tc.float64))),
    ("kl_div", lambda x: F.kl_div(F.log_softmax(x, 1), tc.full((3, 3), 1 / 3,
                                                                dtype=tc.float64),
                                  reduction="batchmean")),
]


@pytest.mark.parametrize("name,fn", FD_CASES, ids=[c[0] for c in FD_CASES])
def test_loss_gradient_matches_central_differences(name, fn):
    x0 = np.random.default_rng(3).standard_normal((3, 3))
    x = tc.tensor(x0, requires_grad=True)
    fn(x).backward()
    eps, num = 1e-6, np.zeros_like(x0)
    for i in np.ndindex(x0.shape):
        hi, lo = x0.copy(), x0.copy()
        hi[i] += eps
        lo[i] -= eps
        num[i] = (fn(tc.tensor(hi)).item() - fn(tc.tensor(lo)).item()) / (2 * eps)
    np.testing.assert_allclose(x.grad.numpy(), num, rtol=1e-5, atol=1e-7)


# --- modules ----------------------------------------------------------------------------
MODULES = [
    ("CrossEntropyLoss", {"label_smoothing": 0.1, "ignore_index": 3}, "ce"),
    ("NLLLoss", {"ignore_index": 0}, "ce"),
    ("MSELoss", {}, "reg"),
    ("L1Loss", {"reduction": "sum"}, "reg"),
    ("SmoothL1Loss", {"beta": 0.5}, "reg"),
    ("HuberLoss", {"delta": 0.5, "reduction": "none"}, "reg"),
    ("BCELoss", {}, "bce"),
    ("BCEWithLogitsLoss", {}, "reg01"),
    ("KLDivLoss", {"reduction": "batchmean", "log_target": True}, "reg"),
]


@pytest.mark.parametrize("name,kwargs,kind", MODULES, ids=[m[0] for m in MODULES])
def test_loss_module_matches_torch(name, kwargs, kind):
    inputs = {"ce": lambda: [randn(6, 5), labels(5, 6)],
              "reg": lambda: [randn(6, 5), randn(6, 5)],
              "reg01": lambda: [randn(6, 5), unit(6, 5)],
              "bce": lambda: [unit(6, 5), unit(6, 5)]}[kind]()
    ours, theirs = getattr(tc.nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
    run_both(lambda f, *xs: (ours if f is F else theirs)(*xs), inputs, (0,))
    assert repr(ours) == repr(theirs)


def test_loss_weights_are_buffers_with_torch_keys():
    w, p = np.array([1.0, 2.0, 3.0], np.float32), np.array([0.5, 1.5, 2.5], np.float32)
    pairs = [(tc.nn.CrossEntropyLoss(weight=tc.tensor(w)),
              torch.nn.CrossEntropyLoss(weight=torch.tensor(w))),
             (tc.nn.BCEWithLogitsLoss(weight=tc.tensor(w), pos_weight=tc.tensor(p)),
              torch.nn.BCEWithLogitsLoss(weight=torch.tensor(w), pos_weight=torch.tensor(p))),
             (tc.nn.NLLLoss(), torch.nn.NLLLoss())]
    for ours, theirs in pairs:
        assert list(ours.state_dict()) == list(theirs.state_dict())
        for k, v in theirs.state_dict().items():
            assert_close(ours.state_dict()[k], v)


def test_legacy_size_average_and_reduce_flags():
    x, y = randn(3, 4), randn(3, 4)
    for size_average, reduce in [(False, None), (None, False), (True, True)]:
        with pytest.warns(UserWarning):
            ours = tc.nn.MSELoss(size_average, reduce)(tc.tensor(x), tc.tensor(y))
        with pytest.warns(UserWarning):
            want = torch.nn.MSELoss(size_average, reduce)(torch.tensor(x), torch.tensor(y))
        assert_close(ours, want)


def test_cosine_similarity_module():
    a, b = randn(4, 6), randn(4, 6)
    run_both(lambda f, x, y: (tc.nn.CosineSimilarity(dim=1) if f is F
                              else torch.nn.CosineSimilarity(dim=1))(x, y), [a, b], (0, 1))


# --- errors -------------------------------------------------------------------------------
ERRORS = [
    ("target out of range", lambda: F.cross_entropy(tc.randn(4, 5), tc.tensor([0, 1, 7, 2])),
     IndexError, "Target 7 is out of bounds"),
    ("negative target", lambda: F.nll_loss(tc.randn(2, 3), tc.tensor([-1, 0])),
     IndexError, "Target -1 is out of bounds"),
    ("float target of wrong shape", lambda: F.cross_entropy(tc.randn(4, 5), tc.randn(4)),
     tc.ShapeError, "class-probability targets must have the input's shape [4, 5]"),
    ("batch mismatch", lambda: F.cross_entropy(tc.randn(4, 5), tc.tensor([0, 1, 2])),
     ValueError, "Expected input batch_size (4) to match target batch_size (3)"),   # torch's
    ("0-d target", lambda: F.cross_entropy(tc.randn(1, 5), tc.tensor(2)),
     ValueError, "Expected input batch_size (1) to match target batch_size (0)"),
    ("float target for nll", lambda: F.nll_loss(tc.randn(4, 5), tc.randn(4)),
     tc.TracecompError, "expected target of scalar type Long"),
    ("weight of wrong size", lambda: F.cross_entropy(tc.randn(4, 5), tc.tensor([0, 1, 2, 3]),
                                                     weight=tc.ones(3)),
     tc.ShapeError, "weight tensor should be defined either for all 5 classes"),
    ("bad reduction", lambda: F.mse_loss(tc.randn(2), tc.randn(2), reduction="avg"),
     ValueError, "avg is not a valid value for reduction"),
    ("bce outside [0, 1]", lambda: F.binary_cross_entropy(tc.tensor([1.5]), tc.tensor([1.0])),
     RuntimeError, "all elements of input should be between 0 and 1"),     # torch's type
    ("bce size mismatch", lambda: F.binary_cross_entropy(tc.rand(3, 1), tc.rand(3)),
     ValueError, "Using a target size ([3]) that is different to the input size ([3, 1])"),
    ("bad smoothing", lambda: F.cross_entropy(tc.randn(2, 3), tc.tensor([0, 1]),
                                              label_smoothing=1.5),
     ValueError, "label_smoothing must be between 0.0 and 1.0"),
]


@pytest.mark.parametrize("name,call,exc,text", ERRORS, ids=[e[0] for e in ERRORS])
def test_loss_errors_name_the_problem(name, call, exc, text):
    with pytest.raises(exc) as info:
        call()
    assert text in str(info.value)


def test_mse_broadcast_warns_like_torch():
    with pytest.warns(UserWarning, match="different to the input size"):
        F.mse_loss(tc.randn(3, 1), tc.randn(3))


# --- training parity -----------------------------------------------------------------------
def _pair(build):
    """The same architecture in both libraries, torch's initial weights copied by key."""
    theirs = build(torch.nn)
    ours = build(tc.nn)
    ours.load_state_dict({k: tc.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    return ours, theirs


def _mlp(nn):
    return nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 4))


def _cnn(nn):
    # no conv bias before BatchNorm: its gradient is rounding noise, which RMSprop amplifies
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 3))


TRAINING = [
    ("mlp_ce_adam", _mlp, lambda: (randn(8, 10), labels(4, 8)),
     lambda nn: nn.CrossEntropyLoss(label_smoothing=0.1), "Adam", {"lr": 1e-2}),
    ("mlp_mse_sgd", _mlp, lambda: (randn(8, 10), randn(8, 4)),
     lambda nn: nn.MSELoss(), "SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("mlp_bce_logits_adamw", _mlp, lambda: (randn(8, 10), unit(8, 4)),
     lambda nn: nn.BCEWithLogitsLoss(), "AdamW", {"lr": 1e-2}),
    ("cnn_ce_rmsprop", _cnn, lambda: (randn(6, 1, 6, 6), labels(3, 6)),
     lambda nn: nn.CrossEntropyLoss(), "RMSprop", {"lr": 1e-3}),
]


@pytest.mark.parametrize("name,build,data,loss,opt,kw", TRAINING, ids=[t[0] for t in TRAINING])
def test_training_steps_follow_torch(name, build, data, loss, opt, kw):
    torch.manual_seed(0)
    ours, theirs = _pair(build)
    x, y = data()
    our_opt = getattr(tc.optim, opt)(ours.parameters(), **kw)
    their_opt = getattr(torch.optim, opt)(theirs.parameters(), **kw)
    our_loss, their_loss = loss(tc.nn), loss(torch.nn)
    for step in range(5):
        for model, optim, lossf, lib in ((ours, our_opt, our_loss, tc),
                                         (theirs, their_opt, their_loss, torch)):
            optim.zero_grad()
            value = lossf(model(lib.tensor(x)), lib.tensor(y))
            value.backward()
            optim.step()
            if lib is tc:
                got = value.item()
            else:
                want = value.item()
        assert got == pytest.approx(want, rel=1e-4, abs=1e-6), f"loss at step {step}"
    for k, v in theirs.state_dict().items():
        assert_close(ours.state_dict()[k], v, rtol=1e-4, atol=1e-5, what=k)


@pytest.mark.parametrize("compiled", [False, True])
def test_bce_gradient_at_saturated_probabilities_is_torchs(compiled):
    """A sigmoid that rounds to exactly 0 or 1: torch's derivative is finite there (its
    1e-12 floor), never the nan a clamped log's derivative would give; the range check runs
    in compiled code too."""
    x = np.array([0.2, 1.0, 0.0, 0.5], np.float32)
    t = np.array([1.0, 0.0, 0.0, 0.3], np.float32)
    w = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    def bce(a, b):
        return F.binary_cross_entropy(a, b, tc.tensor(w), reduction="sum")
    fn = tc.compile(bce) if compiled else bce
    ours = [tc.tensor(v, requires_grad=True) for v in (x, t)]
    theirs = [torch.tensor(v, requires_grad=True) for v in (x, t)]
    fn(*ours).backward()
    torch.nn.functional.binary_cross_entropy(*theirs, torch.tensor(w), reduction="sum").backward()
    for a, b, name in zip(ours, theirs, ("input", "target")):
        assert_close(a.grad, b.grad, rtol=1e-5, what=f"d/d{name}")
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        fn(tc.tensor([1.5, 0.5, 0.5, 0.5]), tc.tensor(t))


@pytest.mark.parametrize("targets", [[-1, -1, -1], [-1, 2, -1]], ids=["all", "some"])
@pytest.mark.parametrize("kwargs", [{}, {"weight": [1.0, 2.0, 3.0, 4.0, 5.0]},
                                    {"label_smoothing": 0.1}], ids=["plain", "weight", "smooth"])
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_cross_entropy_of_ignored_targets_has_torchs_gradient(targets, kwargs, compiled):
    """A batch whose targets are all ignore_index: the loss is 0 / 0 (NaN) in torch, and its
    gradient zeros; ours was NaN (nanoGPT's ignore_index=-1), which one optimizer step
    spreads into every weight."""
    def loss(lib, x):
        kw = {k: lib.tensor(v) if k == "weight" else v for k, v in kwargs.items()}
        return lib.nn.functional.cross_entropy(x, lib.tensor(targets), ignore_index=-1, **kw)
    tx = torch.zeros(3, 5, requires_grad=True)
    want = loss(torch, tx)
    want.backward()
    x = tc.zeros(3, 5, requires_grad=True)
    got = (tc.compile(lambda v: loss(tc, v)) if compiled else lambda v: loss(tc, v))(x)
    got.backward()
    np.testing.assert_allclose(got.item(), want.item(), rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), atol=1e-7)


@pytest.mark.parametrize("loss", ["nll_loss", "cross_entropy", "mse_loss", "l1_loss",
                                  "binary_cross_entropy"])
def test_elementwise_mean_is_torchs_deprecated_mean(loss):
    """reduction='elementwise_mean' (torch 0.4's name, in pytorch/examples' char_level_rnn)
    is 'mean' with a deprecation warning, as torch's; it was a ValueError."""
    x = np.random.default_rng(0).uniform(0.1, 0.9, (3, 4)).astype(np.float32)
    target = np.array([0, 1, 3]) if loss in ("nll_loss", "cross_entropy") else x[::-1].copy()
    got = getattr(F, loss)
    with pytest.warns(UserWarning, match="elementwise_mean' is deprecated"):
        value = got(tc.tensor(x), tc.tensor(target), reduction="elementwise_mean")
    assert_close(value, getattr(TF, loss)(torch.tensor(x), torch.tensor(target)))
