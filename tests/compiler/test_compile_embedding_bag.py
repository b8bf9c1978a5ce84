"""F.embedding_bag / nn.EmbeddingBag inside tracecomp.compile, on every backend: values and
gradients equal eager tracecomp's, offsets that are only known when the compiled code runs
are checked on every call, and the training loop of pytorch/tutorials' text classification
tutorial (EmbeddingBag + Linear, SGD, clip_grad_norm_) follows torch's.
"""
import numpy as np
import pytest
import torch

import tracecomp as tc
import tracecomp.nn.functional as F

from helpers import assert_close

RNG = np.random.default_rng(0)
W = RNG.standard_normal((10, 4)).astype(np.float32)
INDICES = np.array([1, 2, 4, 5, 4, 3, 2, 9, 7, 7, 0])

CASES = {
    "mean_offsets": (INDICES, np.array([0, 3, 3, 8]), {}),
    "sum_last_offset": (INDICES, np.array([0, 4, 9]),
                        {"mode": "sum", "include_last_offset": True, "padding_idx": 4}),
    "max_padding": (INDICES, np.array([0, 5]), {"mode": "max", "padding_idx": 2}),
    "max_2d": (INDICES[:10].reshape(2, 5), None, {"mode": "max"}),
    "mean_freq": (INDICES, np.array([0, 6]), {"scale_grad_by_freq": True}),
    "sum_weights": (INDICES, np.array([0, 2, 7]), {"mode": "sum", "psw": True}),
}


def _run(fn, inp, off, psw):
    w = tc.tensor(W, requires_grad=True)
    p = None if psw is None else tc.tensor(psw, requires_grad=True)
    out = fn(tc.tensor(inp), w, None if off is None else tc.tensor(off), p)
    (out * tc.tensor(np.arange(out.numel(), dtype=np.float32).reshape(out.shape))).sum() \
        .backward()
    return out, w.grad, None if p is None else p.grad


@pytest.mark.parametrize("name", sorted(CASES))
def test_compiled_matches_eager(name, backend):
    inp, off, kwargs = CASES[name]
    kwargs = dict(kwargs)
    psw = RNG.random(inp.shape).astype(np.float32) if kwargs.pop("psw", False) else None

    def fn(i, w, o, p):
        return F.embedding_bag(i, w, o, per_sample_weights=p, **kwargs)
    want = _run(fn, inp, off, psw)
    got = _run(tc.compile(fn, backend=backend, fullgraph=True), inp, off, psw)
    for what, g, w in zip(("output", "weight gradient", "per_sample_weights gradient"), got,
                          want):
        if w is not None:
            assert_close(g, w, what=what)


@pytest.mark.parametrize("offsets,message", [
    ([1, 4], "offsets\\[0\\] has to be 0"),
    ([0, 12], "offsets\\[-1\\] can not be greater than input's length 11 but got offsets"),
    ([0, 5, 3], "offsets have to be non-decreasing"),
])
def test_offsets_are_checked_on_every_call(offsets, message, backend):
    fn = tc.compile(lambda i, w, o: F.embedding_bag(i, w, o, mode="max"), backend=backend,
                    fullgraph=True)
    fn(tc.tensor(INDICES), tc.tensor(W), tc.tensor(np.array([0, 4, 4])))   # compiled here
    with pytest.raises(RuntimeError, match=message):
        fn(tc.tensor(INDICES), tc.tensor(W), tc.tensor(np.array(offsets)))
    with pytest.raises(RuntimeError, match="found idx to be 10"):
        fn(tc.tensor(INDICES + 1), tc.tensor(W), tc.tensor(np.array([0, 4, 4])))


def test_changing_text_lengths_share_one_dynamic_graph():
    """A batch of texts is as long as its tokens: on llvm every length after the second
    runs one dynamic graph (the offsets guard names the length as {last}, not as text)."""
    fn = tc.compile(lambda i, w, o: F.embedding_bag(i, w, o, mode="sum"), backend="llvm")
    w, off = tc.tensor(W), tc.tensor(np.array([0, 2, 5]))
    for n in (7, 9, 12, 15, 20):
        inp = tc.tensor(RNG.integers(0, 10, n))
        assert_close(fn(inp, w, off), F.embedding_bag(inp, w, off, mode="sum"))
    assert fn.compiles == 2


# --- pytorch/tutorials: beginner_source/text_sentiment_ngrams_tutorial.py -----------------------
VOCAB, EMBED, NCLASS = 500, 16, 4


def _model(lib):
    nn = lib.nn

    class TextClassificationModel(nn.Module):
        def __init__(self, vocab_size, embed_dim, num_class):
            super().__init__()
            self.embedding = nn.EmbeddingBag(vocab_size, embed_dim, sparse=False)
            self.fc = nn.Linear(embed_dim, num_class)
            self.embedding.weight.data.uniform_(-0.5, 0.5)
            self.fc.weight.data.uniform_(-0.5, 0.5)
            self.fc.bias.data.zero_()

        def forward(self, text, offsets):
            return self.fc(self.embedding(text, offsets))
    return TextClassificationModel(VOCAB, EMBED, NCLASS)


def _batches(count, size=8):
    """The tutorial's collate_batch on synthetic token lists: one flat text, each bag's
    start in offsets, each label drawing from its own range of tokens."""
    rng, out = np.random.default_rng(1), []
    for _ in range(count):
        lengths = rng.integers(2, 20, size)
        labels = rng.integers(0, NCLASS, size)
        text = np.concatenate([rng.integers(c * 100, c * 100 + 150, n)
                               for c, n in zip(labels, lengths)])
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        out.append((text, offsets, labels))
    return out


def _train(lib, model, forward, batches):
    criterion = lib.nn.CrossEntropyLoss()
    optimizer = lib.optim.SGD(model.parameters(), lr=5.0)
    losses = []
    for text, offsets, label in batches:
        optimizer.zero_grad()
        loss = criterion(forward(lib.tensor(text), lib.tensor(offsets)), lib.tensor(label))
        loss.backward()
        lib.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_text_classification_tutorial_trains_as_torch(backend):
    batches = _batches(8)
    torch.manual_seed(0)
    theirs = _model(torch)
    ours = _model(tc)
    ours.load_state_dict({k: tc.tensor(v.detach().numpy().copy())
                          for k, v in theirs.state_dict().items()})
    want = _train(torch, theirs, theirs, batches)
    got = _train(tc, ours, tc.compile(ours, backend=backend), batches)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for k, v in theirs.state_dict().items():
        assert_close(ours.state_dict()[k], v, what=k)
