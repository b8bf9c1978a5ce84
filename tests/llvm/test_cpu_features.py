"""TRACECOMP_CPU_FEATURES (codegen/llvm/runtime/host_cpu.py): the narrower code path of a
machine, built and run on a wider one. With AVX turned off the kernels must use no AVX
register and still compute what eager does; on an AVX-512 host `-avx512f` gives the AVX2
path the same way."""
import re

import numpy as np
import pytest

import tracecomp as tc
import tracecomp.nn.functional as F
from tracecomp import nn
from tracecomp.codegen.llvm import target
from tracecomp.codegen.llvm.gemm import first_calls
from tracecomp.codegen.llvm.runtime import host_cpu


def _model():
    tc.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, 16), nn.GELU(approximate="tanh"),
                         nn.Linear(16, 3))


def _grads(model, compiled):
    x = tc.tensor(np.random.default_rng(0).standard_normal((5, 1, 8, 8)).astype(np.float32))
    y = tc.tensor(np.array([0, 1, 2, 1, 0]))
    run = tc.compile(model) if compiled else model
    loss = F.cross_entropy(run(x), y)
    loss.backward()
    return loss.item(), [p.grad.numpy().copy() for p in model.parameters()], run


@pytest.mark.skipif(not host_cpu.features().get("avx"), reason="the host has no AVX to drop")
def test_sse_code_on_an_avx_host_runs_and_matches_eager(monkeypatch):
    monkeypatch.setenv(host_cpu.VARIABLE, "-avx")
    monkeypatch.setenv("TRACECOMP_CACHE", "0")
    assert target.host().vector_bytes == 16
    want_loss, want, _ = _grads(_model(), compiled=False)
    got_loss, got, compiled = _grads(_model(), compiled=True)
    np.testing.assert_allclose(got_loss, want_loss, rtol=1e-5)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)
    for graph, asm in compiled.asm.items():
        assert not re.search(r"%[yz]mm\d", asm), f"{graph} uses AVX registers"


def test_feature_changes_are_checked_and_keyed(monkeypatch):
    monkeypatch.setenv(host_cpu.VARIABLE, "avx2")
    with pytest.raises(ValueError, match=r"'avx2' is not a feature change; write \+name"):
        host_cpu.changes()
    monkeypatch.setenv(host_cpu.VARIABLE, "-avx512f, +sse4.2")
    assert host_cpu.changes() == [("avx512f", False), ("sse4.2", True)]
    assert host_cpu.feature_string().endswith(",-avx512f,+sse4.2")
    assert host_cpu.features()["avx512f"] is False


@pytest.mark.skipif(not host_cpu.features().get("avx2"), reason="the host has no AVX2")
def test_the_avx2_path_computes_its_products_with_the_generated_gemm(monkeypatch):
    """On an AVX2 host the weight and input gradients' products run tracecomp's own GEMM
    (gemm/choice.py), built for 32-byte vectors: no zmm register, torch's gradients."""
    import torch
    monkeypatch.setenv(host_cpu.VARIABLE, "-avx512f")
    monkeypatch.setenv("TRACECOMP_CACHE", "0")
    monkeypatch.delenv("TRACECOMP_GEMM", raising=False)
    assert target.host().vector_bytes == 32
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Linear(96, 80), torch.nn.ReLU(), torch.nn.Linear(80, 33))
    model = nn.Sequential(nn.Linear(96, 80), nn.ReLU(), nn.Linear(80, 33))
    model.load_state_dict({k: tc.from_numpy(v.detach().numpy().copy())
                           for k, v in ref.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((70, 96)).astype(np.float32)
    compiled = tc.compile(model)
    for _ in range(2):      # the first call computes the products on the BLAS (first_calls.py)
        model.zero_grad()
        (compiled(tc.tensor(x)) ** 2).sum().backward()
    (ref(torch.tensor(x)) ** 2).sum().backward()
    for p, r in zip(model.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), r.grad.numpy(), rtol=1e-4, atol=1e-4)
    text = "\n".join(compiled.fusion_log.values())
    assert "the generated GEMM, reading A^T in place" in text        # dY^T @ x
    assert not re.search(r"[sd]gemm", text)      # no product on a BLAS symbol
    assert first_calls.filled(("float32", "generated", True, False))
    for graph, asm in compiled.asm.items():
        assert not re.search(r"%zmm\d", asm), f"{graph} uses AVX-512 registers"


@pytest.mark.skipif(not host_cpu.features().get("avx2"), reason="the host has no AVX2")
def test_an_in_place_mask_on_the_avx2_path_stores_whole_vectors(monkeypatch):
    """where(r > 0, d @ w, 0) written over the product (passes/in_place.py): LLVM would
    store it as a masked store of the zeros, which AVX2's vmaskmovps makes ~5x slower on
    AMD (kernels.py freezes the loads there); the values stay numpy's."""
    monkeypatch.setenv(host_cpu.VARIABLE, "-avx512f")
    monkeypatch.setenv("TRACECOMP_CACHE", "0")
    rng = np.random.default_rng(0)
    d, w, r = (rng.standard_normal(s).astype(np.float32) for s in [(64, 32), (32, 64), (64, 64)])
    f = tc.compile(lambda d, w, r: tc.where(r > 0, d @ w, 0.0))
    got = f(tc.tensor(d), tc.tensor(w), tc.tensor(r)).numpy()
    np.testing.assert_allclose(got, np.where(r > 0, d @ w, 0.0), rtol=1e-5, atol=1e-5)
    assert "written over it in place" in f.fusion_log["forward"]
    for graph, asm in f.asm.items():
        assert "vmaskmov" not in asm, f"{graph}: a masked store"
