"""What only a real GPU runs (NUMBA_ENABLE_CUDASIM=0 on a machine with one; skipped on
the simulator, as in CI): kernels launched straight through cuda.core after their first
call (launcher.py), output buffers reused only when nothing holds them (buffers.py), and
large products through cuBLAS where CuPy is installed (cublas.py)."""
import numpy as np
import pytest

import tracecomp as tc
from tracecomp.codegen.cuda import kernel_cache, launcher, source
from tracecomp.codegen.cuda.compat import numba_cuda, simulating

pytestmark = pytest.mark.skipif(simulating(), reason="needs a GPU (runs on the simulator)")

ADD = source.PREAMBLE + """
def add_rows(x, y, out):
    i = cuda.grid(1)
    if i < 12:
        out[i] = x[i // 4, i % 4] + y[i // 4, i % 4]
"""


def test_a_direct_launch_computes_what_the_dispatcher_does():
    cuda = numba_cuda()
    kernel = kernel_cache.jit(cuda, "add_rows", ADD)
    run = launcher.Launcher(kernel, 1, 32, [(3, 4), (3, 4), (12,)])
    rng = np.random.default_rng(0)
    for _ in range(3):          # the first through the dispatcher, then straight
        x, y = (rng.standard_normal(12).astype(np.float32) for _ in range(2))
        out = cuda.to_device(np.full(12, np.nan, np.float32))
        run([cuda.to_device(x), cuda.to_device(y), out])       # flat: the graph's shapes
        np.testing.assert_array_equal(out.copy_to_host(), x + y)
        assert run.fast, "no direct launch with this numba-cuda"


def test_an_output_buffer_is_reused_only_when_nothing_holds_it():
    f = tc.compile(lambda x: x * 2 + 1)
    x = tc.arange(6, dtype=tc.float32).to("cuda")
    a = f(x)
    pointer_a = a._data.array.device_ctypes_pointer.value
    view = a.view(2, 3)
    del a
    b = f(x + 1)
    assert b._data.array.device_ctypes_pointer.value != pointer_a       # the view holds it
    np.testing.assert_array_equal(view.cpu().numpy().ravel(), np.arange(6) * 2 + 1)
    del view
    c = f(x + 2)
    assert c._data.array.device_ctypes_pointer.value == pointer_a       # free: reused
    np.testing.assert_array_equal(b.cpu().numpy(), (np.arange(6) + 1) * 2 + 1)
    np.testing.assert_array_equal(c.cpu().numpy(), (np.arange(6) + 2) * 2 + 1)


@pytest.mark.parametrize("transpose", [False, True])
def test_a_large_product_goes_through_cublas_where_cupy_is_installed(transpose):
    pytest.importorskip("cupy")
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2, 512, 384)).astype(np.float32)
    b = rng.standard_normal((640, 384) if transpose else (384, 640)).astype(np.float32)
    f = tc.compile(lambda p, q: p @ (q.T if transpose else q), backend="cuda")
    got = f(tc.from_numpy(a).to("cuda"), tc.from_numpy(b).to("cuda"))
    assert "by cuBLAS" in f.cuda_source["forward"]
    want = a.astype(np.float64) @ (b.T if transpose else b).astype(np.float64)
    err = np.linalg.norm(got.cpu().numpy() - want) / np.linalg.norm(want)
    assert err < 1e-6, err
