"""The CUDA backend's PTX in `tracecomp dump` (codegen/cuda/ptx.py) and its kernel disk
cache (codegen/cuda/kernel_cache.py). Without a GPU: the PTX comes from NVVM in a child
process, the cache's files are checked on the simulator, and numba's own cache is checked
to take our kernels; a GPU also checks that a second process loads the compiled kernel."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tracecomp.codegen.cuda import kernel_cache, source
from tracecomp.codegen.cuda.compat import numba_cuda

EXP = source.PREAMBLE + textwrap.dedent("""
    def exp_kernel(x, out):
        i = cuda.grid(1)
        if i < out.shape[0]:
            out[i] = math.exp(x[i])
""")


def _python(script, cache_dir, simulator=True):
    """Run `script` in a fresh Python with the cache in `cache_dir`; its last stdout line
    as JSON."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["TRACECOMP_CACHE_DIR"] = str(cache_dir)
    if simulator:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True,
                         text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def _exp_on(kernel):
    x = np.linspace(-2, 2, 7).astype(np.float32)
    cuda = numba_cuda()
    out = cuda.device_array(7, np.float32)
    kernel[1, 32](cuda.to_device(x), out)
    np.testing.assert_allclose(out.copy_to_host(), np.exp(x), rtol=1e-6)


# --- PTX in the dump -----------------------------------------------------------------------
def test_dump_writes_the_ptx_of_every_kernel(tmp_path):
    from tracecomp.cli import main
    model = tmp_path / "model.py"
    model.write_text(textwrap.dedent("""
        import tracecomp as torch
        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = torch.nn.Linear(4, 3)
            def forward(self, x):
                return (torch.relu(self.fc(x)) * 2).sum(1)
    """))
    out = tmp_path / "dump"
    assert main(["dump", f"{model}:Net", "--input", "2x4", "--backend", "cuda",
                 "--out", str(out), "-q"]) in (0, None)
    ptx = {p.name.split(".")[1]: p.read_text() for p in out.glob("*_cuda_ptx.*.ptx")}
    assert sorted(ptx) == ["backward", "forward"]
    for graph, text in ptx.items():
        kernels = [line for line in next(out.glob(f"*_cuda_source.{graph}.py")).read_text()
                   .splitlines() if line.startswith("def kernel")]
        assert kernels and text.count(".entry") == len(kernels), (graph, kernels)
        assert text.count(".target sm_90") == len(kernels), graph
    assert "_cuda_ptx.forward.ptx" in (out / "index.md").read_text()


# --- the kernel cache's files (the simulator) -------------------------------------------------
def test_a_second_process_reuses_the_kernel_files_without_rewriting_them(tmp_path):
    script = """
        import json
        import tracecomp as tc
        f = tc.compile(lambda x: (x @ x.T).exp().sum(0), backend="cuda")
        got = f(tc.ones(3, 4)).tolist()
        kernels = f.cuda_source["forward"].count("\\ndef kernel")
        print(json.dumps([got, kernels]))
    """
    cache = tmp_path / "cache"
    got, kernels = _python(script, cache)
    files = sorted((cache / "cuda").glob("k*.py"))
    assert len(files) == kernels >= 2
    for path in files:
        text = path.read_text()
        assert text.startswith(source.PREAMBLE) and "\ndef kernel" in text
        assert path.name == f"k{kernel_cache.digest(text)}.py"
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in files}
    again, _ = _python(script, cache)
    assert again == got
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in files} == before
    assert sorted((cache / "cuda").glob("k*.py")) == files


def test_a_kernel_is_compiled_from_its_file_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACECOMP_CACHE_DIR", str(tmp_path / "cache"))
    kernel = kernel_cache.jit(numba_cuda(), "exp_kernel", EXP)
    path = tmp_path / "cache" / "cuda" / f"k{kernel_cache.digest(EXP)}.py"
    assert path.read_text() == EXP
    assert kernel.py_func.__code__.co_filename == str(path)     # what numba's cache locates
    _exp_on(kernel)


@pytest.mark.parametrize("damage", ["corrupt", "truncated", "removed", "symlink"])
def test_a_damaged_kernel_file_is_written_again(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("TRACECOMP_CACHE_DIR", str(tmp_path / "cache"))
    cuda = numba_cuda()
    kernel_cache.jit(cuda, "exp_kernel", EXP)
    path = tmp_path / "cache" / "cuda" / f"k{kernel_cache.digest(EXP)}.py"
    victim = tmp_path / "victim.py"
    victim.write_text("untouched")
    path.unlink()
    if damage == "corrupt":
        path.write_text(EXP.replace("math.exp", "math.log"))
    elif damage == "truncated":
        path.write_text(EXP[:40])
    elif damage == "symlink":
        path.symlink_to(victim)
    _exp_on(kernel_cache.jit(cuda, "exp_kernel", EXP))
    assert not path.is_symlink() and path.read_text() == EXP
    assert victim.read_text() == "untouched"


def test_tracecomp_cache_0_turns_the_kernel_cache_off(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACECOMP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TRACECOMP_CACHE", "0")
    kernel = kernel_cache.jit(numba_cuda(), "exp_kernel", EXP)
    assert kernel.py_func.__code__.co_filename == "<exp_kernel>"
    assert not (tmp_path / "cache").exists()
    _exp_on(kernel)


def test_a_folder_others_can_write_to_is_not_used(tmp_path, monkeypatch):
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o700)
    folder.chmod(0o777)
    monkeypatch.setenv("TRACECOMP_CACHE_DIR", str(folder))
    kernel = kernel_cache.jit(numba_cuda(), "exp_kernel", EXP)
    assert kernel.py_func.__code__.co_filename == "<exp_kernel>"
    assert not (folder / "cuda").exists()
    _exp_on(kernel)


# --- numba-cuda's own cache (real numba, no simulator) ---------------------------------------
CACHED = """
    import json
    from tracecomp.codegen.cuda import kernel_cache
    from tracecomp.codegen.cuda.compat import numba_cuda
    cuda = numba_cuda()
    kernel = kernel_cache.jit(cuda, "exp_kernel", EXP)
    hits = misses = None
    if cuda.is_available():
        import numpy as np
        x = cuda.to_device(np.ones(7, np.float32))
        kernel[1, 32](x, cuda.device_array(7, np.float32))
        cuda.synchronize()
        hits, misses = sum(kernel.stats.cache_hits.values()), \\
            sum(kernel.stats.cache_misses.values())
    print(json.dumps([kernel.stats.cache_path, cuda.is_available(), hits, misses]))
"""


def _cached():
    return f"EXP = {EXP!r}\n" + textwrap.dedent(CACHED)


def test_numba_caches_our_kernels_beside_their_files(tmp_path):
    """numba-cuda refuses cache=True for exec'd text (no file to locate); from the cache's
    file it keeps the compiled code in that folder's __pycache__."""
    cache = tmp_path / "cache"
    path, *_ = _python(_cached(), cache, simulator=False)
    assert path == str(cache / "cuda" / "__pycache__")


def test_a_second_process_loads_the_compiled_kernel_from_numbas_cache(tmp_path):
    cache = tmp_path / "cache"
    _, gpu, hits, misses = _python(_cached(), cache, simulator=False)
    if not gpu:
        pytest.skip("needs a CUDA GPU: numba compiles (and caches) kernels only for one")
    assert (hits, misses) == (0, 1)
    assert _python(_cached(), cache, simulator=False)[2:] == [1, 0]
    assert list((cache / "cuda" / "__pycache__").glob("*.nbc"))
