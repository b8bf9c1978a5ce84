"""F.embedding_bag and nn.EmbeddingBag vs torch 2.13: values, the gradients of weight and
per_sample_weights, errors, and the module's repr, state_dict and from_pretrained.

Where torch's CPU kernels contradict torch's documentation (scale_grad_by_freq with mixed
counts, pytorch/pytorch#190063; indices past offsets[-1] with include_last_offset) the
reference is torch's documented semantics built from torch ops that get them right.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tracecomp as tc
import tracecomp.nn.functional as F

from helpers import assert_close

RNG = np.random.default_rng(0)
NUM, DIM = 10, 4
INDICES = np.array([1, 2, 4, 5, 4, 3, 2, 9, 7, 7, 0])


def weight():
    return RNG.standard_normal((NUM, DIM)).astype(np.float32)


def both(fn, w, *arrays, psw=None):
    """fn(F, input, weight, *rest) under both libraries: (tracecomp, torch) outputs and
    weights, each weight (and per_sample_weights) with its gradient under one random
    cotangent."""
    runs = []
    for lib, make in ((F, tc.tensor), (TF, torch.tensor)):
        wt = make(w.copy(), requires_grad=True)
        pt = None if psw is None else make(psw.copy(), requires_grad=True)
        rest = [None if a is None else make(a) for a in arrays]
        out = fn(lib, rest[0], wt, *rest[1:], per_sample_weights=pt)
        runs.append((out, wt, pt))
    cot = RNG.standard_normal(tuple(runs[1][0].shape)).astype(np.float32)
    for (out, _, _), make in zip(runs, (tc.tensor, torch.tensor)):
        (out * make(cot)).sum().backward()
    return runs


def check(fn, w, *arrays, psw=None, grads=True):
    (got, gw, gp), (want, ww, wp) = both(fn, w, *arrays, psw=psw)
    assert_close(got, want, what="output")
    if grads:
        assert_close(gw.grad, ww.grad, what="weight gradient")
        if psw is not None:
            assert_close(gp.grad, wp.grad, what="per_sample_weights gradient")


LAYOUTS = {     # (input, offsets)
    "offsets": (INDICES, np.array([0, 4, 7])),
    "empty_bags": (INDICES, np.array([0, 0, 3, 3, 11])),
    "int32": (INDICES.astype(np.int32), np.array([0, 5], dtype=np.int32)),
    "one_bag": (INDICES, np.array([0])),
    "2d": (INDICES[:10].reshape(2, 5), None),
    "2d_no_rows": (np.zeros((0, 3), dtype=np.int64), None),
}


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("padding_idx", [None, 4, -3])
def test_values_and_gradients_match_torch(mode, layout, padding_idx):
    inp, off = LAYOUTS[layout]
    check(lambda f, i, w, o, **k: f.embedding_bag(i, w, o, mode=mode, padding_idx=padding_idx,
                                                  **k), weight(), inp, off)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_include_last_offset_matches_torch(mode):
    """offsets[-1] is the end of the last bag; here the input's length, as torch requires
    for its CPU kernels to agree with its documentation."""
    check(lambda f, i, w, o, **k: f.embedding_bag(i, w, o, mode=mode, include_last_offset=True,
                                                  **k), weight(), INDICES, np.array([0, 3, 3, 11]))


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_indices_past_the_last_offset_belong_to_no_bag(mode):
    """With include_last_offset, input[offsets[-1]:] takes no part in any bag: the same
    values and gradients as the bags of input[:offsets[-1]] (torch's sum mode agrees;
    its CPU mean and max modes and its backward do not)."""
    w, off = weight(), np.array([0, 3, 7])
    (got, gw, _), _ = both(lambda f, i, w, o, **k: f.embedding_bag(
        i, w, o, mode=mode, include_last_offset=True, **k), w, INDICES, off)
    wt = torch.tensor(w, requires_grad=True)
    want = TF.embedding_bag(torch.tensor(INDICES[:7]), wt, torch.tensor(off[:-1]), mode=mode)
    assert_close(got, want)
    if mode == "sum":
        assert_close(got, TF.embedding_bag(torch.tensor(INDICES), torch.tensor(w),
                                           torch.tensor(off), mode=mode,
                                           include_last_offset=True))
    (want * torch.tensor(np.ones(want.shape, np.float32))).sum().backward()
    gw.grad = None
    F.embedding_bag(tc.tensor(INDICES), gw, tc.tensor(off), mode=mode,
                    include_last_offset=True).sum().backward()
    assert_close(gw.grad, wt.grad, what="weight gradient")


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_no_offsets_make_no_bags(mode):
    """No bags: a (0, D) result, as torch's, and no gradient for any row (torch's CPU
    kernels read past the bags here, and may crash: they are not called)."""
    w = tc.tensor(weight(), requires_grad=True)
    got = F.embedding_bag(tc.tensor(INDICES), w, tc.tensor(np.zeros(0, np.int64)), mode=mode)
    assert tuple(got.shape) == (0, DIM) and got.dtype == tc.float32
    got.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), 0)


@pytest.mark.parametrize("layout", ["offsets", "empty_bags", "2d"])
@pytest.mark.parametrize("padding_idx", [None, 2])
def test_per_sample_weights_and_their_gradient_match_torch(layout, padding_idx):
    inp, off = LAYOUTS[layout]
    psw = RNG.random(inp.shape).astype(np.float32)
    check(lambda f, i, w, o, **k: f.embedding_bag(i, w, o, mode="sum", padding_idx=padding_idx,
                                                  **k), weight(), inp, off, psw=psw)


def test_max_gives_the_gradient_to_the_first_maximum():
    """Equal maxima in a column: torch's kernel keeps the first, which alone gets the
    gradient (an even share would be scatter_reduce's rule, not embedding_bag's)."""
    w = np.zeros((NUM, DIM), np.float32)
    w[1], w[2], w[3] = 1.0, 1.0, [1.0, 2.0, 2.0, 0.5]
    for inp in (np.array([1, 2, 1, 3]), np.array([3, 2, 1, 2])):
        check(lambda f, i, w, o, **k: f.embedding_bag(i, w, o, mode="max", **k), w, inp,
              np.array([0, 2]))


def _freq_reference(inp, off, w, mode):
    """The documented scale_grad_by_freq: torch's F.embedding (whose CPU kernel gets it
    right), then each bag reduced with index_add."""
    wt = torch.tensor(w, requires_grad=True)
    rows = TF.embedding(torch.tensor(inp), wt, scale_grad_by_freq=True)
    bag = torch.tensor(np.searchsorted(off, np.arange(len(inp)), side="right") - 1)
    out = torch.zeros(len(off), w.shape[1]).index_add(0, bag, rows)
    if mode == "mean":
        out = out / torch.bincount(bag, minlength=len(off)).clamp(min=1)[:, None].float()
    return out, wt


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_scale_grad_by_freq_divides_by_each_index_count(mode):
    kwargs = {"mode": mode, "scale_grad_by_freq": True}
    # one count for every index: torch's CPU kernel agrees with its documentation
    check(lambda f, i, w, o, **k: f.embedding_bag(i, w, o, **kwargs, **k), weight(),
          np.array([1, 1, 3, 3, 2, 2]), np.array([0, 3]))
    # mixed counts: against the documented rule (pytorch/pytorch#190063)
    inp, off, w = np.array([1, 1, 3, 1, 2, 5]), np.array([0, 2]), weight()
    want, wt = _freq_reference(inp, off, w, mode)
    ours = tc.tensor(w, requires_grad=True)
    got = F.embedding_bag(tc.tensor(inp), ours, tc.tensor(off), **kwargs)
    assert_close(got, want)
    cot = RNG.standard_normal(tuple(want.shape)).astype(np.float32)
    (got * tc.tensor(cot)).sum().backward()
    (want * torch.tensor(cot)).sum().backward()
    assert_close(ours.grad, wt.grad, what="weight gradient")


def test_max_norm_renormalizes_the_looked_up_rows_in_place():
    w = weight() * 5
    ours, theirs = tc.tensor(w.copy()), torch.tensor(w.copy())
    got = F.embedding_bag(tc.tensor(INDICES[:5]), ours, tc.tensor(np.array([0, 2])),
                          max_norm=1.5, norm_type=3.0)
    want = TF.embedding_bag(torch.tensor(INDICES[:5]), theirs, torch.tensor([0, 2]),
                            max_norm=1.5, norm_type=3.0)
    assert_close(got, want)
    assert_close(ours, theirs, what="renormalized weight")


def test_grad_fn_is_torchs_node():
    w = tc.tensor(weight(), requires_grad=True)
    out = F.embedding_bag(tc.tensor(INDICES), w, tc.tensor(np.array([0, 4])))
    assert type(out.grad_fn).__name__ == "EmbeddingBagBackward0"
    assert out.grad_fn.next_functions[0][0].variable is w
    assert out.grad_fn.next_functions[1] == (None, 0)


def test_float_weight_dtypes_follow_weight():
    for dtype in (np.float64, np.float16):
        w = weight().astype(dtype)
        check(lambda f, i, w, o, **k: f.embedding_bag(i, w, o, mode="sum", **k), w, INDICES,
              np.array([0, 4]))


def raises_like_torch(fn, *arrays):
    """Both libraries raise the same exception class with the same message."""
    with pytest.raises(Exception) as theirs:
        fn(TF, *[None if a is None else torch.tensor(a) for a in arrays])
    with pytest.raises(type(theirs.value)) as ours:
        fn(F, *[None if a is None else tc.tensor(a) for a in arrays])
    want = str(theirs.value).replace("torch.Size", "tracecomp.Size").split("\n")[0] \
        .replace("<class 'torch.Tensor'>", "<class 'tracecomp.tensor.Tensor'>")
    assert want in str(ours.value), f"tracecomp={ours.value} | torch={theirs.value}"


W = weight()
OFF = np.array([0, 4])
ERRORS = [
    ("first_offset", lambda f, i, w, o: f.embedding_bag(i, w, o), INDICES, W, np.array([1, 4])),
    ("last_offset", lambda f, i, w, o: f.embedding_bag(i, w, o), INDICES, W, np.array([0, 12])),
    ("last_offset_include", lambda f, i, w, o: f.embedding_bag(i, w, o,
                                                               include_last_offset=True),
     INDICES, W, np.array([0, 12])),
    ("no_offsets_include", lambda f, i, w, o: f.embedding_bag(i, w, o,
                                                              include_last_offset=True),
     INDICES, W, np.zeros(0, np.int64)),
    ("negative_index", lambda f, i, w, o: f.embedding_bag(i, w, o, padding_idx=0),
     INDICES - 2, W, OFF),
    ("index_too_big", lambda f, i, w, o: f.embedding_bag(i, w, o, padding_idx=0),
     INDICES + 1, W, OFF),
    ("float_indices", lambda f, i, w, o: f.embedding_bag(i, w, o), INDICES * 1.0, W, OFF),
    ("int_weight", lambda f, i, w, o: f.embedding_bag(i, w, o), INDICES, np.ones((10, 3),
                                                                                 np.int32), OFF),
    ("max_freq", lambda f, i, w, o: f.embedding_bag(i, w, o, mode="max",
                                                    scale_grad_by_freq=True), INDICES, W, OFF),
    ("max_sparse", lambda f, i, w, o: f.embedding_bag(i, w, o, mode="max", sparse=True),
     INDICES, W, OFF),
    ("bad_mode", lambda f, i, w, o: f.embedding_bag(i, w, o, mode="min"), INDICES, W, OFF),
    ("psw_mean", lambda f, i, w, o: f.embedding_bag(i, w, o, per_sample_weights=i * 1.0),
     INDICES, W, OFF),
    ("psw_shape", lambda f, i, w, o: f.embedding_bag(i, w, o, mode="sum",
                                                     per_sample_weights=(i * 1.0)[:3]),
     INDICES, W, OFF),
    ("psw_dtype", lambda f, i, w, o: f.embedding_bag(i, w, o, mode="sum",
                                                     per_sample_weights=(i * 1.0).double()),
     INDICES, W, OFF),
    ("2d_with_offsets", lambda f, i, w, o: f.embedding_bag(i, w, o),
     INDICES[:10].reshape(2, 5), W, OFF),
    ("1d_without_offsets", lambda f, i, w, o: f.embedding_bag(i, w, o), INDICES, W, None),
    ("2d_offsets", lambda f, i, w, o: f.embedding_bag(i, w, o), INDICES, W, OFF[None]),
    ("3d_input", lambda f, i, w, o: f.embedding_bag(i, w, o),
     np.zeros((2, 2, 2), np.int64), W, None),
    ("1d_weight", lambda f, i, w, o: f.embedding_bag(i, w, o), INDICES, W[0], OFF),
    ("padding_too_big", lambda f, i, w, o: f.embedding_bag(i, w, o, padding_idx=10),
     INDICES, W, OFF),
    ("padding_too_small", lambda f, i, w, o: f.embedding_bag(i, w, o, padding_idx=-11),
     INDICES, W, OFF),
    ("2d_empty_bags", lambda f, i, w, o: f.embedding_bag(i, w, o),
     np.zeros((2, 0), np.int64), W, None),
]


@pytest.mark.parametrize("fn,inp,w,off", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_match_torch(fn, inp, w, off):
    raises_like_torch(fn, inp, w, off)


def test_decreasing_offsets_are_refused():
    with pytest.raises(RuntimeError, match="offsets have to be non-decreasing"):
        F.embedding_bag(tc.tensor(INDICES), tc.tensor(W), tc.tensor(np.array([0, 5, 3])))


def test_sparse_gradients_are_torchs_sparse_tensors():
    """sparse=True: weight.grad is torch's uncoalesced COO tensor, entry for entry (more
    cases, and the optimizers that take it, in tests/test_programs_round55.py)."""
    grads = []
    for lib in (torch, tc):
        w = lib.tensor(W, requires_grad=True)
        lib.nn.functional.embedding_bag(lib.tensor(INDICES), w, lib.tensor(OFF), mode="sum",
                                        sparse=True).pow(2).sum().backward()
        grads.append(w.grad)
    want, got = grads
    assert got.is_sparse and not got.is_coalesced()
    assert_close(got._indices(), want._indices())
    assert_close(got._values(), want._values())


def test_swapped_arguments_warn_and_run_as_torch():
    with pytest.warns(UserWarning, match="Argument order of nn.functional.embedding_bag"):
        got = F.embedding_bag(tc.tensor(W), tc.tensor(INDICES), tc.tensor(OFF))
    with pytest.warns(UserWarning):
        want = TF.embedding_bag(torch.tensor(W), torch.tensor(INDICES), torch.tensor(OFF))
    assert_close(got, want)


# --- the module -----------------------------------------------------------------------------
MODULES = [
    ((10, 3), {}),
    ((10, 3), {"mode": "sum", "padding_idx": -2, "max_norm": 1.0, "norm_type": 1.0}),
    ((10, 3), {"mode": "max", "include_last_offset": True, "padding_idx": 0}),
    ((10, 3), {"scale_grad_by_freq": True}),
]
# every index twice: torch's CPU scale_grad_by_freq is right only when the counts are equal
TWICE = np.repeat([1, 3, 2, 7, 5], 2)


@pytest.mark.parametrize("args,kwargs", MODULES)
def test_module_repr_state_and_forward_match_torch(args, kwargs):
    ours, theirs = tc.nn.EmbeddingBag(*args, **kwargs), torch.nn.EmbeddingBag(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    assert ours.padding_idx == theirs.padding_idx
    if ours.padding_idx is not None:
        assert not ours.weight.detach().numpy()[ours.padding_idx].any()
    assert ours.weight.requires_grad
    ours.load_state_dict({"weight": tc.tensor(theirs.weight.detach().numpy().copy())})
    off = np.array([0, 3, 11]) if kwargs.get("include_last_offset") else np.array([0, 3])
    inp = TWICE if kwargs.get("scale_grad_by_freq") else INDICES
    got = ours(tc.tensor(inp), tc.tensor(off))
    want = theirs(torch.tensor(inp), torch.tensor(off))
    assert_close(got, want)
    got.sum().backward()
    want.sum().backward()
    assert_close(ours.weight.grad, theirs.weight.grad, what="weight gradient")


def test_module_per_sample_weights_and_2d_input():
    theirs = torch.nn.EmbeddingBag(10, 3, mode="sum")
    ours = tc.nn.EmbeddingBag.from_pretrained(tc.tensor(theirs.weight.detach().numpy()),
                                              freeze=False, mode="sum")
    psw = RNG.random((2, 5)).astype(np.float32)
    inp = INDICES[:10].reshape(2, 5)
    assert_close(ours(tc.tensor(inp), per_sample_weights=tc.tensor(psw)),
                 theirs(torch.tensor(inp), per_sample_weights=torch.tensor(psw)))


def test_from_pretrained_matches_torch():
    w = weight()
    ours = tc.nn.EmbeddingBag.from_pretrained(tc.tensor(w), mode="max", padding_idx=2)
    theirs = torch.nn.EmbeddingBag.from_pretrained(torch.tensor(w), mode="max", padding_idx=2)
    assert repr(ours) == repr(theirs)
    assert not ours.weight.requires_grad
    np.testing.assert_array_equal(ours.weight.detach().numpy(), w)    # padding row kept
    assert tc.nn.EmbeddingBag.from_pretrained(tc.tensor(w), freeze=False).weight.requires_grad
    with pytest.raises(AssertionError, match="expected to be 2-dimensional"):
        tc.nn.EmbeddingBag.from_pretrained(tc.tensor(w[0]))


def test_module_argument_errors_match_torch():
    for lib in (torch, tc):
        with pytest.raises(AssertionError, match="padding_idx must be within num_embeddings"):
            lib.nn.EmbeddingBag(10, 3, padding_idx=10)
        with pytest.raises(AssertionError, match="Shape of weight does not match"):
            lib.nn.EmbeddingBag(10, 3, _weight=lib.zeros(3, 10))
