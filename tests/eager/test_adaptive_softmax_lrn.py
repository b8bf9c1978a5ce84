"""nn.AdaptiveLogSoftmaxWithLoss, nn.CrossMapLRN2d, nn.NLLLoss2d and nn.Container against
torch 2.13: state_dict keys, values and gradients with torch's weights, log_prob /
predict, the namedtuple result, torch's errors, and compiled mode (compiled == eager ==
torch)."""
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close, raised, to_tc

gen = torch.Generator().manual_seed(1)


def _twins(*args, **kw):
    torch.manual_seed(3)
    ref = torch.nn.AdaptiveLogSoftmaxWithLoss(*args, **kw)
    ours = tc.nn.AdaptiveLogSoftmaxWithLoss(*args, **kw)
    assert list(ours.state_dict()) == list(ref.state_dict())
    for key, value in ours.state_dict().items():
        assert tuple(value.shape) == tuple(ref.state_dict()[key].shape), key
    ours.load_state_dict({k: to_tc(v) for k, v in ref.state_dict().items()})
    return ref, ours


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_adaptive_log_softmax_loss_and_gradients(compiled):
    ref, ours = _twins(16, 30, [5, 12, 20], div_value=2.0, head_bias=True)
    x = torch.randn(9, 16, generator=gen, requires_grad=True)
    target = torch.tensor([0, 4, 5, 11, 12, 19, 20, 29, 7])     # every cluster, edges too
    want = ref(x, target)
    xc = to_tc(x)
    run = tc.compile(lambda a, b: ours(a, b)) if compiled else ours
    got = run(xc, to_tc(target))
    assert type(got).__name__ == "_ASMoutput" and got._fields == ("output", "loss")
    assert_close(got.output, want.output)
    assert_close(got.loss, want.loss)
    want.loss.backward()
    got.loss.backward()
    assert_close(xc.grad, x.grad, what="input gradient")
    for (name, p_ref), (_, p_ours) in zip(ref.named_parameters(), ours.named_parameters()):
        assert_close(p_ours.grad, p_ref.grad, what=f"{name} gradient")


def test_adaptive_log_softmax_unused_cluster_and_unbatched():
    ref, ours = _twins(8, 10, [3, 6], div_value=1.0)
    x = torch.randn(4, 8, generator=gen)
    target = torch.tensor([0, 2, 1, 2])                 # no row in either cluster
    assert_close(ours(to_tc(x), to_tc(target)).output, ref(x, target).output)
    one, label = x[0], torch.tensor(7)
    got, want = ours(to_tc(one), to_tc(label)), ref(one, label)
    assert got.output.shape == want.output.shape == ()
    assert_close(got.output, want.output)
    assert_close(got.loss, want.loss)


def test_adaptive_log_prob_and_predict():
    ref, ours = _twins(6, 12, [2, 7], div_value=2.0, head_bias=True)
    with torch.no_grad():       # the head favours the clusters for some rows, not all
        ref.head.bias.copy_(torch.tensor([0.0, 0.0, 3.0, -3.0]))
    ours.load_state_dict({k: to_tc(v) for k, v in ref.state_dict().items()})
    x = torch.randn(10, 6, generator=gen) * 3
    assert_close(ours.log_prob(to_tc(x)), ref.log_prob(x))
    predict = ref.predict(x)
    assert 0 < int((predict >= 2).sum()) < 10, "the sample should mix both predict paths"
    np.testing.assert_array_equal(ours.predict(to_tc(x)).numpy(), predict.numpy())
    np.testing.assert_array_equal(tc.compile(ours.predict)(to_tc(x)).numpy(), predict.numpy())
    everyone = x[predict >= 2]
    np.testing.assert_array_equal(ours.predict(to_tc(everyone)).numpy(),
                                  ref.predict(everyone).numpy())


@pytest.mark.parametrize("call", [
    lambda lib: lib.nn.AdaptiveLogSoftmaxWithLoss(4, 10, []),
    lambda lib: lib.nn.AdaptiveLogSoftmaxWithLoss(4, 10, [5, 3]),
    lambda lib: lib.nn.AdaptiveLogSoftmaxWithLoss(4, 10, [3, 10]),
    lambda lib: lib.nn.AdaptiveLogSoftmaxWithLoss(4, 10, [3, 3]),
    lambda lib: lib.nn.AdaptiveLogSoftmaxWithLoss(4, 10, [0, 3]),
    lambda lib: lib.nn.AdaptiveLogSoftmaxWithLoss(4, 10, [3])(lib.zeros(2, 4),
                                                              lib.tensor([1, 10])),
    lambda lib: lib.nn.AdaptiveLogSoftmaxWithLoss(4, 10, [3])(lib.zeros(2, 4),
                                                              lib.tensor([-1, 2])),
    lambda lib: lib.nn.AdaptiveLogSoftmaxWithLoss(4, 10, [3])(lib.zeros(3, 4),
                                                              lib.tensor([1, 2])),
    lambda lib: lib.nn.AdaptiveLogSoftmaxWithLoss(4, 10, [3])(lib.zeros(2, 2, 4),
                                                              lib.tensor([1, 2])),
    lambda lib: lib.nn.AdaptiveLogSoftmaxWithLoss(4, 10, [3])(lib.zeros(2, 4),
                                                              lib.tensor(1)),
    lambda lib: lib.nn.AdaptiveLogSoftmaxWithLoss(4, 10, [3])(lib.zeros(2, 4),
                                                              lib.zeros(2, 1).long()),
])
def test_adaptive_log_softmax_errors_match_torch(call):
    ours, theirs = raised(tc, call), raised(torch, call)
    assert isinstance(ours, type(theirs)), f"tracecomp={ours!r} | torch={theirs!r}"
    assert str(ours).replace("tracecomp.", "torch.") == str(theirs), \
        f"tracecomp={ours} | torch={theirs}"


def test_adaptive_log_softmax_compiled_target_guard():
    model = tc.nn.AdaptiveLogSoftmaxWithLoss(4, 10, [3])
    run = tc.compile(lambda x, t: model(x, t).loss)
    run(tc.zeros(2, 4), tc.tensor([1, 9]))
    with pytest.raises(RuntimeError, match=r"Target values should be in \[0, 9\]"):
        run(tc.zeros(2, 4), tc.tensor([1, 10]))


@pytest.mark.parametrize("size,channels", [(3, 6), (5, 7), (4, 3), (2, 5), (5, 2)])
def test_cross_map_lrn2d_matches_torch_values_and_its_backward(size, channels):
    """torch's forward windows keep channel 0 once it entered, and its backward is its own
    formula (not the forward's exact derivative): both are matched, not textbook LRN."""
    ref = torch.nn.CrossMapLRN2d(size, alpha=0.5, beta=0.75, k=1.5)
    ours = tc.nn.CrossMapLRN2d(size, alpha=0.5, beta=0.75, k=1.5)
    assert repr(ours) == repr(ref)
    x = torch.randn(2, channels, 3, 2, generator=gen, requires_grad=True)
    xc = to_tc(x)
    want, got = ref(x), ours(xc)
    assert_close(got, want)
    assert type(got.grad_fn).__name__ == type(want.grad_fn).__name__
    upstream = torch.randn(want.shape, generator=gen)
    want.backward(upstream)
    got.backward(to_tc(upstream))
    assert_close(xc.grad, x.grad, what="gradient")


def test_cross_map_lrn2d_compiled_and_errors():
    ours = tc.nn.CrossMapLRN2d(3)
    x = tc.randn(2, 5, 3, 3, requires_grad=True)
    loss = tc.compile(lambda a: (ours(a) ** 2).sum())(x)
    loss.backward()
    grad, x.grad = x.grad, None
    eager = (ours(x) ** 2).sum()
    eager.backward()
    assert_close(loss, eager)
    assert_close(grad, x.grad)
    call = lambda lib: lib.nn.CrossMapLRN2d(3)(lib.zeros(2, 3, 4))    # noqa: E731
    ours_err, theirs = raised(tc, call), raised(torch, call)
    assert type(ours_err) is type(theirs) and str(ours_err) == str(theirs)


def test_nll_loss2d_is_nll_loss_with_torch_warning():
    x = torch.randn(2, 4, 3, 3, generator=gen, requires_grad=True).log_softmax(1)
    target = torch.randint(0, 4, (2, 3, 3), generator=gen)
    weight = torch.rand(4, generator=gen)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ref = torch.nn.NLLLoss2d(weight=weight, ignore_index=2)
    with warnings.catch_warnings(record=True) as ours_caught:
        warnings.simplefilter("always")
        ours = tc.nn.NLLLoss2d(weight=to_tc(weight), ignore_index=2)
    assert [str(w.message) for w in ours_caught] == [str(w.message) for w in caught]
    assert ours_caught[0].category is FutureWarning
    assert isinstance(ours, tc.nn.NLLLoss)
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert_close(ours(to_tc(x), to_tc(target)), ref(x, target))


def test_container_is_torchs_deprecated_module_holder():
    caught = {}
    for lib in (torch, tc):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            box = lib.nn.Container(a=lib.nn.Linear(2, 3), b=lib.nn.ReLU())
        caught[lib] = [(w.category, str(w.message)) for w in seen]
        assert list(box.state_dict()) == ["a.weight", "a.bias"]
        assert repr(box).replace("tracecomp", "torch").startswith("Container(\n  (a): Linear")
    assert caught[tc] == caught[torch]
