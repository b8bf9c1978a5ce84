"""F.gumbel_softmax inside tracecomp.compile, on every backend: each call draws new noise
from the default generator, so a seed gives compiled code the eager samples, and the
straight-through gradient is eager's."""
import numpy as np
import pytest

import tracecomp as tc
import tracecomp.nn.functional as F

from helpers import assert_close

X = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)


@pytest.mark.parametrize("hard", [False, True])
def test_compiled_samples_follow_the_seed_as_eager(hard, backend):
    def sample(fn):
        x = tc.tensor(X, requires_grad=True)
        tc.manual_seed(5)
        first, second = fn(x), fn(x)
        (first * tc.tensor(np.arange(X.size, dtype=np.float32).reshape(X.shape))).sum() \
            .backward()
        return first, second, x.grad

    def fn(x):
        return F.gumbel_softmax(x, tau=0.5, hard=hard, dim=0)
    want = sample(fn)
    got = sample(tc.compile(fn, backend=backend, fullgraph=True))
    assert not np.array_equal(got[0].detach().numpy(), got[1].detach().numpy())
    for what, g, w in zip(("first sample", "second sample", "logits gradient"), got, want):
        assert_close(g, w, what=what)
