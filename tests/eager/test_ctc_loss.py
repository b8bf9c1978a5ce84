"""ctc_loss (F.ctc_loss, nn.CTCLoss, torch.ctc_loss): the losses and torch's gradient
w.r.t. log_probs against torch 2.13 for every reduction, zero_infinity with alignments that
cannot fit, padded and concatenated targets, lengths as tensors or sequences, unbatched
input; torch's errors (type and message) on bad arguments; a gradient of the gradient
raises as torch's does."""
import numpy as np
import pytest
import torch

import tracecomp as tc

T, N, C, S = 12, 4, 6, 5
RNG = np.random.default_rng(0)
LOGITS = RNG.standard_normal((T, N, C)).astype(np.float32)
TARGETS = RNG.integers(1, C, (N, S))
TARGETS[0, 1] = TARGETS[0, 0]          # a repeated label: the path needs a blank between
COTANGENT = RNG.standard_normal(N).astype(np.float32)

# (input_lengths, target_lengths): all fit; then sequences 1 and 3 too short to fit
LENGTHS = {"fit": ((12, 10, 12, 7), (5, 3, 0, 4)), "impossible": ((12, 2, 12, 1), (5, 3, 1, 4))}


def _loss(lib, logits, normalized, lengths, form, **kw):
    """(loss, d loss / d logits) of one ctc_loss call in lib; `normalized` takes log_softmax
    of the logits first (else they are fed as they are: torch's gradient is still its own)."""
    x = lib.tensor(logits, requires_grad=True)
    lp = x.log_softmax(-1) if normalized else x
    il, tl = lengths
    targets = TARGETS if lp.dim() == 3 else TARGETS[0]
    if form == "concatenated":
        targets = np.concatenate([TARGETS[i, :tl[i]] for i in range(len(tl))])
    if form == "tensors":
        il, tl = lib.tensor(il), lib.tensor(tl)
    y = lib.nn.functional.ctc_loss(lp, lib.tensor(targets), il, tl, **kw)
    weights = COTANGENT[:y.numel()].reshape(tuple(y.shape))
    (y * lib.tensor(weights)).sum().backward()
    return y.detach().numpy(), x.grad.numpy()


def _assert_match(got, want):
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)     # NaNs where torch's are


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("lengths", sorted(LENGTHS))
@pytest.mark.parametrize("form", ["sequences", "tensors", "concatenated"])
def test_ctc_loss_and_its_gradient_match_torch(reduction, zero_infinity, lengths, form):
    kw = {"reduction": reduction, "zero_infinity": zero_infinity}
    want = _loss(torch, LOGITS, True, LENGTHS[lengths], form, **kw)
    got = _loss(tc, LOGITS, True, LENGTHS[lengths], form, **kw)
    _assert_match(got, want)
    if lengths == "impossible" and reduction == "none":
        assert (want[0][[1, 3]] == (0 if zero_infinity else np.inf)).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unnormalized_log_probs_get_torchs_gradient(dtype):
    """torch's gradient has exp(lp) in it whether or not lp are normalized."""
    for reduction in ("none", "mean"):
        want = _loss(torch, LOGITS.astype(dtype), False, LENGTHS["fit"], "sequences",
                     reduction=reduction)
        _assert_match(_loss(tc, LOGITS.astype(dtype), False, LENGTHS["fit"], "sequences",
                            reduction=reduction), want)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("form", ["sequences", "tensors"])
def test_unbatched_input(reduction, form):
    lengths = ((10,), (5,)) if form == "sequences" else (10, 5)
    want = _loss(torch, LOGITS[:, 0], True, lengths, form, reduction=reduction)
    _assert_match(_loss(tc, LOGITS[:, 0], True, lengths, form, reduction=reduction), want)


def test_blank_elsewhere_targets_holding_it_and_empty_inputs():
    # blank 2; labels equal to the blank; an empty input with an empty target (loss 0) and
    # with a target (infinite)
    lengths = ((12, 0, 0, 7), (5, 0, 2, 4))
    for form in ("sequences", "concatenated"):
        want = _loss(torch, LOGITS, True, lengths, form, blank=2, reduction="none")
        _assert_match(_loss(tc, LOGITS, True, lengths, form, blank=2, reduction="none"), want)


def test_module_and_torch_ctc_loss_match_torch():
    lp = torch.tensor(LOGITS).log_softmax(2)
    ref = torch.nn.CTCLoss(blank=0, reduction="sum", zero_infinity=True)
    module = tc.nn.CTCLoss(blank=0, reduction="sum", zero_infinity=True)
    assert repr(module) == repr(ref) and dict(module.state_dict()) == {}
    assert (module.blank, module.reduction, module.zero_infinity) == (0, "sum", True)
    args = (LENGTHS["impossible"][0], LENGTHS["impossible"][1])
    want = ref(lp, torch.tensor(TARGETS), *args)
    got = module(tc.tensor(lp.numpy()), tc.tensor(TARGETS), *args)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5)
    for reduction in (0, 1, 2):     # aten's ints; left out, torch.ctc_loss is unreduced
        want = torch.ctc_loss(lp, torch.tensor(TARGETS), *LENGTHS["fit"], 0, reduction)
        got = tc.ctc_loss(tc.tensor(lp.numpy()), tc.tensor(TARGETS), *LENGTHS["fit"], 0,
                          reduction)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5)
    want = torch.ctc_loss(lp, torch.tensor(TARGETS), *LENGTHS["fit"])
    assert tc.ctc_loss(tc.tensor(lp.numpy()), tc.tensor(TARGETS), *LENGTHS["fit"]).shape == \
        tuple(want.shape)


def test_targets_of_other_dtypes_are_truncated_to_labels_as_torchs():
    for convert in (lambda t: t.int(), lambda t: t.float() + 0.5, lambda t: t.bool()):
        got, want = (lib.nn.functional.ctc_loss(lib.tensor(LOGITS).log_softmax(2),
                                                convert(lib.tensor(TARGETS)), *LENGTHS["fit"])
                     for lib in (tc, torch))
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5)


def test_grad_fn_names_and_a_second_derivative_raises_as_torchs():
    for lib in (torch, tc):
        x = lib.tensor(LOGITS, requires_grad=True)
        y = lib.nn.functional.ctc_loss(x, lib.tensor(TARGETS), *LENGTHS["fit"],
                                       reduction="none")
        assert type(y.grad_fn).__name__ == "CtcLossBackward0"
        (g,) = lib.autograd.grad(y.sum(), x, create_graph=True)
        assert type(g.grad_fn).__name__ == "NotImplemented"
        with pytest.raises(RuntimeError, match="^derivative for aten::_ctc_loss_backward is not "
                                               "implemented$"):
            g.sum().backward()


def _call(lib, lp=None, targets=None, il=(12, 12, 12, 12), tl=(5, 5, 5, 5), **kw):
    lp = lib.tensor(LOGITS) if lp is None else lp(lib.tensor(LOGITS))
    targets = lib.tensor(TARGETS) if targets is None else targets(lib.tensor(TARGETS))
    return lib.nn.functional.ctc_loss(lp, targets, il, tl, **kw)


ERRORS = {
    "blank past the classes": lambda lib: _call(lib, blank=C),
    "negative blank": lambda lib: _call(lib, blank=-1),
    "input_lengths size": lambda lib: _call(lib, il=(12,) * 5),
    "target_lengths size": lambda lib: _call(lib, tl=(5,) * 3),
    "input_lengths past T": lambda lib: _call(lib, il=(13, 12, 12, 12)),
    "input_lengths tensor past T": lambda lib: _call(lib, il=lib.tensor([13, 1, 1, 1]),
                                                     tl=lib.tensor([1, 1, 1, 1])),
    "target_lengths past S": lambda lib: _call(lib, tl=(6, 5, 5, 5)),
    "negative input length": lambda lib: _call(lib, il=(-1, 12, 12, 12)),
    "negative target length": lambda lib: _call(lib, tl=(-1, 5, 5, 5)),
    "4-D log_probs": lambda lib: _call(lib, lp=lambda x: x[None]),
    "1-D log_probs": lambda lib: _call(lib, lp=lambda x: x[:, 0, 0]),
    "3-D targets": lambda lib: _call(lib, targets=lambda t: t[None]),
    "targets rows": lambda lib: _call(lib, targets=lambda t: t[:1]),
    "concatenated targets short": lambda lib: _call(lib, targets=lambda t: t.flatten()[:19]),
    "float input_lengths": lambda lib: _call(lib, il=lib.tensor([12.0] * 4),
                                             tl=lib.tensor([5] * 4)),
    "bool input_lengths": lambda lib: _call(lib, il=lib.tensor([True] * 4),
                                            tl=lib.tensor([5] * 4)),
    "float target_lengths": lambda lib: _call(lib, il=lib.tensor([12] * 4),
                                              tl=lib.tensor([5.0] * 4)),
    "integer log_probs": lambda lib: _call(lib, lp=lambda x: x.long()),
    "half log_probs": lambda lib: _call(lib, lp=lambda x: x.half()),
    "empty log_probs": lambda lib: _call(lib, lp=lambda x: x[:, :0], targets=lambda t: t[:0],
                                         il=(), tl=()),
    "bad reduction": lambda lib: _call(lib, reduction="avg"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_bad_arguments_raise_torchs_error(case):
    with pytest.raises(Exception) as want:
        ERRORS[case](torch)
    with pytest.raises(want.type) as got:
        ERRORS[case](tc)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("lengths", [(tc.tensor([12] * 4), (5,) * 4), (12, 5)])
def test_lengths_of_mixed_or_scalar_forms_are_torchs_type_error(lengths):
    with pytest.raises(TypeError, match=r"^ctc_loss\(\) received an invalid combination of "
                                        r"arguments - got \(Tensor, Tensor, (Tensor, tuple|int, "
                                        r"int), int, int, bool\)"):
        tc.nn.functional.ctc_loss(tc.tensor(LOGITS), tc.tensor(TARGETS), *lengths)


def test_labels_outside_the_classes_are_an_error_not_garbage():
    """torch reads past log_probs' classes (its result is garbage): tracecomp refuses."""
    with pytest.raises(RuntimeError, match="targets hold the label 9, outside the 6 classes"):
        _call(tc, targets=lambda t: t * 0 + 9)
    # a padded position past a sequence's length may hold anything (-1 padding, say)
    padded = np.where(np.arange(S) < 3, TARGETS, -1)
    got, want = (lib.nn.functional.ctc_loss(lib.tensor(LOGITS).log_softmax(2), lib.tensor(padded),
                                            (12,) * 4, (3,) * 4) for lib in (tc, torch))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5)
