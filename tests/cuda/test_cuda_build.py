"""Compiling a graph's kernels together (codegen/cuda/build.py): numba's PTX and nvJitLink's
cubins, made in forked worker processes, the same as made one by one, and cached on disk
so that a later load compiles nothing. No GPU is needed for any of this but the final
load, which tests/cuda/test_cuda_on_a_gpu.py covers where there is one; here the work runs
in a child Python without the simulator (NUMBA_ENABLE_CUDASIM removed), as the PTX does."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

import tracecomp as tc

ELF = "7f454c46"        # a cubin is an ELF file


@pytest.fixture(scope="module")
def kernels():
    """The kernels of a small training-like graph, as (name, text, args) lists."""
    f = tc.compile(lambda x, w: ((x @ w).relu() * 2).sum(1).exp(), backend="cuda")
    f(tc.ones(3, 4), tc.ones(4, 5))
    return [[k.name, k.text, k.args] for k in f.last.run_forward.cuda_ptx.kernels]


def _child(script, kernels, cache_dir):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["TRACECOMP_CACHE_DIR"] = str(cache_dir)
    head = textwrap.dedent("""
        import json, sys
        from tracecomp.codegen.cuda import build, ptx
        kernels = [ptx.Kernel(n, t, tuple(map(tuple, a))) for n, t, a in json.load(sys.stdin)]
    """)
    run = subprocess.run([sys.executable, "-c", head + textwrap.dedent(script)],
                         input=json.dumps(kernels), capture_output=True, text=True, env=env,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_workers_build_the_same_kernels_as_one_process(kernels, tmp_path):
    got = _child("""
        def summary(built):
            return [[b.kind, b.entry, b.code[:4].hex()] for b in built]
        build.MAX_WORKERS = 2
        forked = build.compile_all(kernels, (9, 0))
        workers = build._workers(len(kernels))
        build.MAX_WORKERS = 1
        alone = build.compile_all(kernels, (9, 0))
        print(json.dumps([summary(forked), summary(alone), workers]))
    """, kernels, tmp_path)
    forked, alone, workers = got
    assert len(kernels) >= 3 and len(forked) == len(alone) == len(kernels)
    for (name, _, _), f, a in zip(kernels, forked, alone):
        assert f[0] == a[0] == "cubin" and f[2] == a[2] == ELF, (name, f, a)
        # numba's mangled entry: the kernel's name, then a counter of this process
        assert f"{len(name)}{name}B" in f[1] and f"{len(name)}{name}B" in a[1], (name, f, a)
    assert workers == min(len(kernels), len(os.sched_getaffinity(0)), 2)


def test_where_no_worker_can_be_forked_this_process_compiles(kernels, tmp_path):
    got = _child("""
        class Refusing:                 # multiprocessing where every fork fails
            def Pool(self, workers):
                raise OSError(11, "Resource temporarily unavailable")
        class NoFork:
            get_all_start_methods = staticmethod(lambda: ["fork"])
            get_context = staticmethod(lambda method: Refusing())
        build.multiprocessing = NoFork
        print(json.dumps([[b.kind, b.code[:4].hex()] for b in build.compile_all(kernels, (9, 0))]))
    """, kernels, tmp_path)
    assert got == [["cubin", ELF]] * len(kernels)


def test_a_later_load_reads_the_cubins_and_compiles_nothing(kernels, tmp_path):
    script = """
        compiled = []
        def compile_one(kernel, cc, real=build.compile_one):
            compiled.append(kernel.name)
            return real(kernel, cc)
        build.compile_one = compile_one
        build.MAX_WORKERS = 1           # in this process, where the counter sees it
        build._load = lambda built, name: [built.entry, built.code[:4].hex(), len(built.code)]
        print(json.dumps([compiled, build.load(kernels, (9, 0))]))
    """
    first_compiled, first = _child(script, kernels, tmp_path)
    assert sorted(first_compiled) == sorted(k[0] for k in kernels)
    files = sorted((tmp_path / "cuda" / "cubin").glob("*.tccubin"))
    assert len(files) == len(kernels)
    again_compiled, again = _child(script, kernels, tmp_path)
    assert again_compiled == [] and again == first

    # a damaged entry is compiled again and replaced; the others still come from the cache
    files[0].write_bytes(b"tracecomp cubin 1\n")
    files[1].write_bytes(b"not ours")
    mended_compiled, mended = _child(script, kernels, tmp_path)
    assert len(mended_compiled) == 2
    assert [m[1] for m in mended] == [f[1] for f in first] == [ELF] * len(kernels)
    assert files[0].read_bytes().startswith(b"tracecomp cubin 1\n_Z")


def test_the_cache_off_writes_nothing(kernels, tmp_path):
    got = _child("""
        import os
        os.environ["TRACECOMP_CACHE"] = "0"
        build._load = lambda built, name: built.kind
        print(json.dumps(build.load(kernels[:1], (9, 0))))
    """, kernels, tmp_path)
    assert got == ["cubin"] and not (tmp_path / "cuda").exists()


def test_a_kernel_numba_cannot_compile_names_itself(tmp_path):
    bad = [["kernel0_bad", "def kernel0_bad(in0, out):\n    out[0] = in0.nonesuch\n",
            [["float32", 1], ["float32", 1]]]]
    got = _child("""
        try:
            build.compile_all(kernels, (9, 0))
        except Exception as exc:
            print(json.dumps([type(exc).__name__, str(exc)]))
    """, bad, tmp_path)
    assert got[0] == "LoweringError" and "kernel0_bad" in got[1] and "sm_90" in got[1]
