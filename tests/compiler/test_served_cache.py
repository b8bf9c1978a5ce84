"""Artifacts a dynamic graph serves (artifact_cache.py): kept apart from compiled ones, up
to SERVED times cache_size of them, so a model fed more padded lengths than cache_size
traces each length once, not again on every call once the lengths cycle."""
import numpy as np

import tracecomp as tc
from tracecomp.artifact_cache import CACHE_SIZE, LATEST, SERVED
from tracecomp.compiler import driver


def _counting_builds(monkeypatch):
    builds = []
    real = driver.build

    def build(*args, **kwargs):
        builds.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(driver, "build", build)
    return builds


def test_forty_lengths_trace_once_each_and_then_only_hit(monkeypatch):
    builds = _counting_builds(monkeypatch)
    head = tc.nn.Sequential(tc.nn.Linear(6, 8), tc.nn.Tanh(), tc.nn.Linear(8, 3))
    compiled = tc.compile(head)
    rng = np.random.default_rng(0)
    lengths = list(range(2, 42))            # 40 > CACHE_SIZE padded lengths
    xs = {n: tc.tensor(rng.standard_normal((4, n, 6)).astype(np.float32)) for n in lengths}
    for n in lengths:
        compiled(xs[n])
    first = len(builds)
    assert first <= len(lengths) + 2        # each length traced once (a few compile)
    for n in lengths + lengths[::-1]:
        np.testing.assert_allclose(compiled(xs[n]).detach().numpy(),
                                   head(xs[n]).detach().numpy(), rtol=1e-5, atol=1e-6)
    assert len(builds) == first             # the second and third passes only hit
    assert compiled._compiled.compiles <= 3


def test_served_ones_are_bounded_too():
    f = tc.compile(lambda x: x * 2 + 1, cache_size=2)
    for n in range(2, 2 + 2 * SERVED + 6):
        f(tc.ones(n))
    assert f.cache.held() == (2, 2 * SERVED)     # two compiled (static, then dynamic)
    assert CACHE_SIZE * SERVED >= 100      # a text model's padded lengths fit by default


def test_a_new_length_compares_its_signature_with_the_latest_few_only(monkeypatch):
    """Each miss compared its signature with every one held (why it missed, whether only
    sizes changed, a break's artifact at other sizes): a generation loop's 200th length
    scanned 199 (16 -> 24 ms a token)."""
    from tracecomp.compiler import recompile_reasons
    compared, real = [], recompile_reasons._distance
    monkeypatch.setattr(recompile_reasons, "_distance",
                        lambda a, b: compared.append(1) or real(a, b))
    head = tc.nn.Sequential(tc.nn.Linear(6, 8), tc.nn.Tanh())
    compiled = tc.compile(head)
    x = tc.randn(1, 60, 6)
    for n in range(2, 60):
        compared.clear()
        np.testing.assert_allclose(compiled(x[:, :n]).detach().numpy(),
                                   head(x[:, :n]).detach().numpy(), rtol=1e-5, atol=1e-6)
    assert 0 < len(compared) <= 3 * LATEST      # the last length: three scans at most
