"""Which code computes a compiled product (codegen/llvm/gemm/choice.py): the rules by the
product's shape and the host's vector width, the TRACECOMP_GEMM override, and products
computed each way matching eager, with the fusion log naming the code that computes each."""
import os
import subprocess
import sys

import numpy as np
import pytest

import tracecomp as tc
from tracecomp.codegen.llvm import target
from tracecomp.codegen.llvm.gemm import blas, calibrate, choice, shared

requires_blas = pytest.mark.skipif(blas.find_gemm("float32") is None,
                                   reason="no BLAS found: " + "; ".join(blas.search_log()))


def _code(dtype, m, n, k, trans_a=False, trans_b=False, found=True):
    return choice.code(choice.Product(dtype, m, n, k, trans_a, trans_b, found))


@pytest.fixture
def dots_won(monkeypatch):
    """A host where dots beat the generated GEMM on x @ W^T (calibrate.py's contest)."""
    monkeypatch.setattr(calibrate, "dots_win", lambda dtype: True)


def test_dots_takes_a_times_b_transposed_of_few_rows_or_a_small_result(monkeypatch, dots_won):
    monkeypatch.delenv("TRACECOMP_GEMM", raising=False)
    assert _code("float32", 64, 256, 784, trans_b=True) == "dots"        # x @ W^T
    assert _code("float64", 128, 512, 128, trans_b=True) == "dots"
    assert _code("float32", 6, 25, 50176, trans_b=True) == "dots"        # a conv's dW
    assert _code("float32", 200, 20, 4000, trans_b=True) == "dots"       # small result
    assert _code("float32", 512, 256, 256, trans_b=True) != "dots"       # many rows
    assert _code("float32", 64, 256, 64, trans_b=True) != "dots"         # a short K
    assert _code("float32", 64, 256, 784, trans_a=True, trans_b=True) != "dots"
    assert _code("float32", 64, 256, 784) != "dots"                      # B read as stored
    monkeypatch.setenv("TRACECOMP_CPU_FEATURES", "-avx512f")             # the same on AVX2
    assert target.host().vector_bytes == 32
    assert _code("float32", 64, 256, 784, trans_b=True) == "dots"


def test_where_the_generated_gemm_beat_dots_it_takes_x_times_w_transposed(monkeypatch):
    """The generated GEMM, packing B^T, takes A @ B^T of any shape where it won the host's
    contest, but small results of few rows over a long K (a conv's weight gradient), which
    dots keeps; float64 (no generated GEMM) and 16-byte vectors keep dots everywhere."""
    monkeypatch.delenv("TRACECOMP_GEMM", raising=False)
    monkeypatch.setattr(calibrate, "dots_win", lambda dtype: False)
    monkeypatch.setattr(calibrate, "blas_wins", lambda dtype: False)
    if target.host().vector_bytes < 32:
        pytest.skip("the generated GEMM takes no products on this host")
    for features in ("", "-avx512f"):
        monkeypatch.setenv("TRACECOMP_CPU_FEATURES", features)
        assert _code("float32", 64, 256, 784, trans_b=True) == "generated"     # x @ W^T
        assert _code("float32", 64, 64, 784, trans_b=True) == "generated"      # many rows
        assert _code("float32", 64, 256, 64, trans_b=True) == "generated"      # a short K
        assert _code("float32", 512, 256, 256, trans_b=True) == "generated"
        assert _code("float32", 6, 25, 50176, trans_b=True) == "dots"          # conv1's dW
        assert _code("float32", 16, 150, 6400, trans_b=True) == "dots"         # conv2's dW
        assert _code("float64", 64, 256, 784, trans_b=True) == "dots"
    monkeypatch.setenv("TRACECOMP_CPU_FEATURES", "-avx")
    assert _code("float32", 64, 256, 784, trans_b=True) == "dots"
    assert _code("float32", 512, 256, 256, trans_b=True) == "blas"


def test_the_dots_contest_runs_once_where_its_answer_is_kept(monkeypatch, tmp_path):
    """dots_win times dots against the generated GEMM once per host and keeps the answer
    in the cache folder; with the cache off it answers the default, dots, without
    building either library; a product computed by the winner matches eager."""
    if target.host().vector_bytes < 32:
        pytest.skip("the generated GEMM takes no products on this host")
    monkeypatch.delenv("TRACECOMP_GEMM", raising=False)
    runs = []
    real = calibrate._CONTESTS["dots"]
    monkeypatch.setitem(calibrate._CONTESTS, "dots",
                        lambda dtype: runs.append(dtype) or real(dtype))
    monkeypatch.setattr(calibrate, "_answers", {})
    monkeypatch.setenv("TRACECOMP_CACHE", "0")
    built = dict(shared._builds)
    assert calibrate.dots_win("float32") is True and runs == ["float32"]
    assert shared._builds == built                  # nothing compiled to answer
    monkeypatch.setenv("TRACECOMP_CACHE", "1")
    monkeypatch.setenv("TRACECOMP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(calibrate, "_answers", {})
    from tracecomp import doctor
    assert "not measured yet" in doctor._large_products()[-1].value
    first = calibrate.dots_win("float32")
    assert isinstance(first, bool) and runs == ["float32", "float32"]
    monkeypatch.setattr(calibrate, "_answers", {})      # a new process: read from the folder
    assert calibrate.dots_win("float32") is first and len(runs) == 2
    assert doctor._large_products()[-1].value.startswith(
        "dots" if first else "the generated GEMM")
    f = tc.compile(lambda x, w: x @ w.t())
    x, w = tc.randn(64, 300), tc.randn(200, 300)
    np.testing.assert_allclose(f(x, w).numpy(), x.numpy() @ w.numpy().T, rtol=1e-4, atol=1e-3)
    log = "\n".join(f.fusion_log.values())
    assert ("dots (dot products along K)" if first else "the generated GEMM, reading B^T") in log


def test_the_generated_gemm_takes_float32_products_of_plain_b_on_32_byte_vectors(monkeypatch,
                                                                                 dots_won):
    monkeypatch.delenv("TRACECOMP_GEMM", raising=False)
    monkeypatch.setattr(calibrate, "blas_wins", lambda dtype: False)    # a host where it won
    wide = target.host().vector_bytes >= 32
    assert (_code("float32", 512, 512, 512) == "generated") is wide
    assert (_code("float32", 512, 512, 512, trans_a=True) == "generated") is wide
    assert _code("float32", 512, 512, 512, trans_b=True) == "blas"
    assert _code("float64", 512, 512, 512) == "blas"
    assert _code("float64", 512, 512, 512, found=False) == "generated"   # no BLAS found
    monkeypatch.setenv("TRACECOMP_CPU_FEATURES", "-avx512f")    # an AVX2 host: generated
    assert target.host().vector_bytes == 32
    assert _code("float32", 512, 512, 512) == "generated"
    assert _code("float32", 64, 784, 64, trans_a=True) == "generated"    # a weight gradient
    monkeypatch.setenv("TRACECOMP_CPU_FEATURES", "-avx")        # SSE only: the BLAS
    assert target.host().vector_bytes == 16
    assert _code("float32", 512, 512, 512) == "blas"


def test_tracecomp_gemm_overrides_the_rule(monkeypatch):
    monkeypatch.setenv("TRACECOMP_GEMM", "generated")
    assert _code("float64", 64, 256, 784, trans_b=True) == "generated"
    monkeypatch.setenv("TRACECOMP_GEMM", "BLAS")
    assert _code("float32", 64, 256, 784, trans_b=True) == "blas"
    assert _code("float32", 64, 256, 784, found=False) == "generated"
    monkeypatch.setenv("TRACECOMP_GEMM", "dots")
    assert _code("float32", 512, 512, 8, trans_b=True) == "dots"
    assert _code("float32", 512, 512, 512) == "generated"    # dots only computes A @ B^T
    monkeypatch.setenv("TRACECOMP_GEMM", "mkl")
    with pytest.raises(ValueError, match=r"TRACECOMP_GEMM must be one of blas, generated, "
                                         r"dots.*'mkl'"):
        _code("float32", 8, 8, 8)


@requires_blas
@pytest.mark.parametrize("forced", ["blas", "generated", "dots"])
def test_a_compiled_step_matches_eager_with_each_code(monkeypatch, forced):
    """An MLP's forward and backward products (x @ W^T, dY @ W, dY^T @ x) under each choice:
    the outputs and gradients are eager's, and the log names what computed each product."""
    monkeypatch.setenv("TRACECOMP_GEMM", forced)
    tc.manual_seed(0)
    model = tc.nn.Sequential(tc.nn.Linear(96, 80), tc.nn.ReLU(), tc.nn.Linear(80, 33))
    x = tc.tensor(np.random.default_rng(0).standard_normal((70, 96)).astype(np.float32))

    def run(m):
        for p in model.parameters():
            p.grad = None
        out = m(x)
        (out * out).sum().backward()
        return [out.detach().numpy()] + [p.grad.numpy().copy() for p in model.parameters()]
    want = run(model)
    compiled = tc.compile(model)
    for got, ref in zip(run(compiled), want):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    text = "\n".join(compiled.fusion_log.values())
    sgemm = blas.find_gemm("float32").name
    if forced == "blas":
        assert "the generated GEMM" not in text and f"{sgemm}, reading B^T in place" in text
        assert "dots" not in text
    else:
        assert "the generated GEMM, reading A^T in place" in text     # dY^T @ x
        x_wt = "dots (dot products along K)" if forced == "dots" else "the generated GEMM"
        assert f"{x_wt}, reading B^T in place" in text                # x @ W^T


def test_products_of_two_dtypes_in_one_graph_each_get_their_own_gemm(monkeypatch):
    """float32 and float64 products compiled together, each by a generated GEMM of its own
    element type (the function is emitted per dtype and transposes)."""
    monkeypatch.setenv("TRACECOMP_GEMM", "generated")
    rng = np.random.default_rng(1)
    a32, b32 = (tc.tensor(rng.standard_normal(s).astype(np.float32)) for s in [(9, 20), (7, 20)])
    a64, b64 = (tc.tensor(rng.standard_normal(s)) for s in [(20, 11), (20, 5)])
    f = tc.compile(lambda a, b, c, d: (a @ b.t(), c.t() @ d))
    got32, got64 = f(a32, b32, a64, b64)
    assert got32.dtype == tc.float32 and got64.dtype == tc.float64
    np.testing.assert_allclose(got32.numpy(), a32.numpy() @ b32.numpy().T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got64.numpy(), a64.numpy().T @ b64.numpy(), rtol=1e-12)


def test_the_generated_gemms_are_compiled_once_and_called_by_address(monkeypatch):
    """Graphs call the generated GEMM through a slot that holds its address in one library
    per dtype (gemm/shared.py, gemm/first_calls.py), instead of compiling its micro-kernels
    into every module; where no BLAS was found, they declare it and import its address."""
    from tracecomp.codegen.llvm.gemm import blas, first_calls, shared
    monkeypatch.setenv("TRACECOMP_GEMM", "generated")
    rng = np.random.default_rng(2)
    a, b = (tc.tensor(rng.standard_normal(s).astype(np.float32)) for s in [(30, 40), (30, 50)])
    want = a.numpy().T @ b.numpy()
    f = tc.compile(lambda a, b: a.t() @ b)
    g = tc.compile(lambda a, b: (a.t() @ b).relu())
    for _ in range(2):      # the BLAS, then the generated GEMM
        np.testing.assert_allclose(f(a, b).numpy(), want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(g(a, b).numpy(), np.maximum(want, 0), rtol=1e-5, atol=1e-5)
    name = shared.symbol("float32", "generated", True, False)
    for compiled in (f, g):
        text = "\n".join(compiled.llvm_ir.values())
        assert "define" not in "".join(line for line in text.splitlines() if name in line)
        assert (first_calls.SYMBOL in text) == (blas.find_gemm("float32") is not None)
    library = shared._builds[("gemm", "float32", target.host().name)].library
    assert shared.address("float32", "generated", True, False) == library.address(name)


def test_b_is_packed_where_a_k_block_of_its_rows_does_not_fit_the_hosts_l1(monkeypatch):
    """l1_panel_rows from the L1's geometry: Zen 3's (32 KiB, 8 ways) with AVX2's one-line
    panel rows holds 32 rows 1 KiB apart (a K block of 128 is packed), 512 at 3136 bytes
    (LeNet's 49 KiB stride: 32, so its K of 25 stays in place); Zen 4's (48 KiB, 12 ways)
    with AVX-512's four-line rows holds 192 at 1 KiB; a stride of 0 counts as a way's."""
    from tracecomp.codegen.llvm.gemm import generated
    for l1, panel, stride, rows in [((32 << 10, 8), 64, 1024, 32), ((32 << 10, 8), 64, 3136, 512),
                                    ((32 << 10, 8), 64, 50176, 32), ((32 << 10, 8), 64, 0, 8),
                                    ((48 << 10, 12), 256, 1024, 192),
                                    ((48 << 10, 12), 256, 4096, 48)]:
        monkeypatch.setattr(generated.host_cpu, "l1d", lambda l1=l1: l1)
        assert generated.l1_panel_rows(panel, stride) == rows, (l1, panel, stride)


@requires_blas
def test_large_pieces_go_to_the_blas_where_it_won_the_hosts_contest(monkeypatch, tmp_path,
                                                                   dots_won):
    """A float32 piece of calibrate.LARGE_WORK multiply-adds or more goes to the BLAS exactly
    where calibrate's contest says so (smaller ones and dots' shapes are unchanged); the
    contest runs once, its answer is kept in the cache folder for the next process, and a
    compiled large product computed either way matches eager."""
    monkeypatch.delenv("TRACECOMP_GEMM", raising=False)
    if target.host().vector_bytes < 32:
        pytest.skip("the generated GEMM takes no products on this host")
    side = round(calibrate.LARGE_WORK ** (1 / 3))
    for wins in (True, False):
        monkeypatch.setattr(calibrate, "blas_wins", lambda dtype, wins=wins: wins)
        assert _code("float32", side, side, side) == ("blas" if wins else "generated")
        assert _code("float32", side, side, side // 2) == "generated"     # below LARGE_WORK
        assert _code("float32", 64, 4096, 4096, trans_b=True) == "dots"
    monkeypatch.undo()
    monkeypatch.setenv("TRACECOMP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(calibrate, "_answers", {})
    from tracecomp import doctor
    assert "not measured yet" in doctor._large_products()[0].value     # it runs nothing
    assert not (tmp_path / "cache").exists()
    runs = []
    real = calibrate._CONTESTS["blas"]
    monkeypatch.setitem(calibrate._CONTESTS, "blas",
                        lambda dtype: runs.append(dtype) or real(dtype))
    first = calibrate.blas_wins("float32")
    assert isinstance(first, bool) and runs == ["float32"]
    monkeypatch.setattr(calibrate, "_answers", {})      # a new process: read from the folder
    assert calibrate.blas_wins("float32") is first and runs == ["float32"]
    assert (tmp_path / "cache" / calibrate.FILE).exists()
    assert doctor._large_products()[0].value.startswith(
        "the BLAS" if first else "the generated GEMM")
    a, b = tc.randn(2 * side, side), tc.randn(side, 2 * side)
    f = tc.compile(lambda a, b: a @ b)
    np.testing.assert_allclose(f(a, b).numpy(), (a @ b).numpy(), rtol=1e-4, atol=1e-3)


_CHILD = """
import sys
import os
import subprocess
import sys

import numpy as np
import tracecomp as tc
from tracecomp.codegen.llvm.gemm import calibrate
calibrate.dots_win = lambda dtype: sys.argv[1] == "dots"
f = tc.compile(lambda x, w: x @ w.t())
x, w = tc.randn(64, 300), tc.randn(200, 300)
for _ in range(2):      # the second call links the library (gemm/first_calls.py)
    np.testing.assert_allclose(f(x, w).numpy(), x.numpy() @ w.numpy().T, rtol=1e-4, atol=1e-3)
print("dots" if "dots (dot products" in "\\n".join(f.fusion_log.values()) else "generated")
"""


def test_a_cached_graph_is_not_linked_for_another_contest_answer(tmp_path):
    """The disk cache's key names what computes each product: a process whose host contest
    answered otherwise (the answer measured again) compiles its own code instead of finding
    the entry of code that calls the other GEMM, which failed to link (JIT session error:
    symbols not found), was deleted and compiled again."""
    if target.host().vector_bytes < 32:
        pytest.skip("the generated GEMM takes no products on this host")
    env = {**os.environ, "TRACECOMP_CACHE": "1", "TRACECOMP_CACHE_DIR": str(tmp_path)}
    env.pop("TRACECOMP_GEMM", None)
    entries = []
    for answer in ("dots", "generated", "dots"):
        run = subprocess.run([sys.executable, "-c", _CHILD, answer], env=env,
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
        assert run.stdout.split()[-1] == answer
        # (a stale entry failed to link, was deleted and compiled again, with an error)
        assert "did not link" not in run.stderr, run.stderr[-3000:]
        entries.append({p.name for p in tmp_path.glob("*.tcobj")})
    # the second process wrote its GEMM library and the graph's code for its answer; the
    # third, answering as the first, linked the first's
    assert len(entries[1] - entries[0]) == 2 and entries[2] == entries[1]
