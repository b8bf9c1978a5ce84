"""Compile latency of training steps: cold, and from the disk cache in a new process.

    .venv/bin/python benchmarks/compile_latency.py [--runs 5] [--batch 64] [--threads 1]
                                                   [--only mlp-model,...,resnet18-step]
                                                   [--profile] [--device cuda]

Workloads, batch 64 (the models of `tracecomp bench`):

  mlp-model:   `tracecomp.compile(model)` on Sequential(Linear(784,256), ReLU,
               Linear(256,256), ReLU, Linear(256,10)), then cross_entropy and
               loss.backward() eagerly: one compile (forward and backward graphs);
  mlp-step:    the whole step compiled (zero_grad, forward, cross_entropy, backward,
               SGD momentum 0.9), the batch passed as its arguments: the first call
               compiles, and so does the second, whose optimizer now has momentum
               buffers (torch.compile recompiles there too);
  lenet-step:  the same for LeNet (conv 6@5x5 pad 2, pool, conv 16@5x5, pool, 400-120-84-10);
  resnet18-step: the same for ResNet-18 as for CIFAR-10 (32x32 inputs, batch 8 unless
               --batch is given): ~1700 ops, the issue's "ResNet-18-sized training step".

A first call also runs the step once, and a first run pays for touching its memory (on our
VMs ~2 ms per MB: ResNet-18's first run takes ~1 s more than the next): "of which
compiling" is the compiler's share alone (the pass log: tracing, passes, kernels, LLVM).
"of which LLVM" is compiling or linking the modules; with the cache on, the backend emits
a module's IR only on a miss (codegen/llvm/recipe.py), so there it counts the emission too.

Each measurement is a fresh Python process timing its first calls (tracing, passes,
fusion, codegen or cache load, linking and running), because a process that already
compiled once has warm LLVM state and would flatter every number. Python's bytecode is
cached as an installed package has it. Imports are timed separately, and `import
tracecomp` alone in fresh processes, with and without .pyc files. Runs:

  fill:  one process fills an empty cache directory; it also runs the host's GEMM contests
         (codegen/llvm/gemm/calibrate.py, once per host: which code computes which products);
  cold:  each run gets a new cache directory holding only those contests' answers, so LLVM
         optimizes and compiles every graph, with the code choices a warm run makes (with
         TRACECOMP_CACHE=0 no contest runs, and some choices are the default ones), and also
         the code built once per host: the float32 GEMM libraries, dots and the thread pool
         (codegen/llvm/gemm/shared.py, runtime/native_pool.py);
  cold, host code kept: the same, but the directory also holds that once-per-host code, as
         on a host where tracecomp has compiled anything before (the dots contest builds
         those libraries, so a first run leaves them in the cache): what compiling a new
         model costs there;
  warm:  each run links from the filled directory.

--device cuda runs the steps on the GPU (model and batch moved there, each call waited for):
there "of which LLVM" is 0, and the cache is numba-cuda's kernels (codegen/cuda/kernel_cache.py).

--profile runs one more warm process of mlp-model under cProfile and prints where its first
step went.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def child(workload, batch, profile, device="cpu"):
    start = time.perf_counter()
    import numpy as np

    import tracecomp as tc
    import tracecomp.nn.functional as F
    from tracecomp.bench.workloads import lenet_module, mlp_module, resnet18_module
    from tracecomp.codegen.llvm.runtime import cache
    imported = time.perf_counter()

    llvm_s = []  # the LLVM share: optimize + codegen + link, or read + link a cached object

    def timed(compile_module):
        def run(*args, **kwargs):
            t = time.perf_counter()
            try:
                return compile_module(*args, **kwargs)
            finally:
                llvm_s.append(time.perf_counter() - t)
        return run
    # backend.py looks them up on the module at each compile; compile_recipe (the cache on)
    # also emits the IR on a miss, compile_module (the cache off) is given it
    cache.compile_module = timed(cache.compile_module)
    cache.compile_recipe = timed(cache.compile_recipe)

    rng = np.random.default_rng(0)
    kind = workload.partition("-")[0]
    shape = {"mlp": (784,), "lenet": (1, 28, 28), "resnet18": (3, 32, 32)}[kind]
    model = resnet18_module(tc) if kind == "resnet18" else \
        (mlp_module if kind == "mlp" else lenet_module)(tc, None)
    x = tc.tensor(rng.standard_normal((batch, *shape)).astype(np.float32)).to(device)
    y = tc.tensor(rng.integers(0, 10, batch)).to(device)
    model.to(device)
    finish = tc.cuda.synchronize if device != "cpu" else (lambda: None)
    if workload == "mlp-model":
        compiled = tc.compile(model)

        def step():
            model.zero_grad()
            F.cross_entropy(compiled(x), y).backward()
            finish()
    else:
        opt = tc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        # the batch as arguments, as a training loop passes each batch
        @tc.compile
        def step_only(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        def step():
            step_only(x, y)
            finish()

    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.runcall(step)
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
        return
    seconds = []
    for _ in range(3):
        t = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - t)
        if not _:       # the first call's compile, as the pass log timed it
            log = (compiled if workload == "mlp-model" else step_only).pass_log
            compiling = sum(r.seconds for r in log)
    print(json.dumps({"import_s": imported - start, "first_s": seconds[0],
                      "compile_s": compiling,
                      "second_s": seconds[1], "steady_s": seconds[2],
                      "llvm_s": sum(llvm_s), "modules": len(llvm_s)}))


def run_child(env, workload, batch, profile=False, device="cpu"):
    args = [sys.executable, __file__, "--child", workload, "--batch", str(batch),
            "--device", device]
    if profile:
        subprocess.run(args + ["--profile"], env=env, check=True)
        return None
    out = subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def cold_child(base, filled, calibration, workload, batch, device):
    """A run in a new cache directory holding only the host's GEMM contests' answers, taken
    from the `filled` one."""
    with tempfile.TemporaryDirectory(prefix="tracecomp-cold-") as cache_dir:
        if os.path.exists(os.path.join(filled, calibration)):
            shutil.copy(os.path.join(filled, calibration), cache_dir)
        env = {**base, "TRACECOMP_CACHE": "1", "TRACECOMP_CACHE_DIR": cache_dir}
        return run_child(env, workload, batch, device=device)


# the code built once per host and dtype (keyed by the CPU, its features and the sources):
# every float32 GEMM library and dots, and the native thread pool
HOST_CODE = ("from tracecomp.codegen.llvm.gemm import shared\n"
             "from tracecomp.codegen.llvm.runtime import native_pool\n"
             "for variant in [('dots', False, True), ('generated', False, False), "
             "('generated', False, True)]:\n"
             "    shared.address('float32', *variant)\n"
             "native_pool.library()\n")


def host_code_folder(base, filled, calibration, folder):
    """Fill `folder` with the contests' answers (from `filled`) and the code a host builds
    once (HOST_CODE), in a process of its own."""
    if os.path.exists(os.path.join(filled, calibration)):
        shutil.copy(os.path.join(filled, calibration), folder)
    env = {**base, "TRACECOMP_CACHE": "1", "TRACECOMP_CACHE_DIR": folder}
    subprocess.run([sys.executable, "-c", HOST_CODE], env=env, check=True)


def host_code_child(base, host_folder, workload, batch, device):
    """A run in a new cache directory holding a copy of `host_folder`'s entries."""
    with tempfile.TemporaryDirectory(prefix="tracecomp-cold-") as cache_dir:
        shutil.copytree(host_folder, cache_dir, dirs_exist_ok=True)
        env = {**base, "TRACECOMP_CACHE": "1", "TRACECOMP_CACHE_DIR": cache_dir}
        return run_child(env, workload, batch, device=device)


IMPORT_TIMER = ("import time; t = time.perf_counter(); import tracecomp; "
                "print(time.perf_counter() - t)")


def import_seconds(env, runs, bytecode, pycache):
    """`import tracecomp` alone in fresh processes, with bytecode in the empty folder pycache.
    With bytecode: as an installed package has it (.pyc files written by a first import,
    then read). Without: as under PYTHONDONTWRITEBYTECODE=1 with no .pyc anywhere, where
    every module is compiled from source on each import."""
    env = {**env, "PYTHONPYCACHEPREFIX": pycache}
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([sys.executable, "-c", "import tracecomp"], env=env, check=True)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return [float(subprocess.run([sys.executable, "-c", IMPORT_TIMER], env=env, check=True,
                                 capture_output=True, text=True).stdout)
            for _ in range(runs)]


def ms(values):
    return (f"median {statistics.median(values) * 1e3:7.1f} ms   "
            f"min {min(values) * 1e3:7.1f} ms")


WORKLOADS = ("mlp-model", "mlp-step", "lenet-step", "resnet18-step")
BATCH = {"resnet18-step": 8}    # unless --batch says otherwise; 64 for the others


def report(workload, runs, batch, fill, cold, host_kept, warm, entries):
    what = {"mlp-model": "MLP 784-256-256-10, compile(model) + eager loss and backward",
            "mlp-step": "MLP 784-256-256-10, whole training step compiled",
            "lenet-step": "LeNet, whole training step compiled",
            "resnet18-step": "ResNet-18 (CIFAR), whole training step compiled"}[workload]
    print(f"{what}, batch {batch}, {runs} processes each")
    second = "second call" + ("" if workload == "mlp-model" else " (recompiles)")
    rows = [("cold, nothing compiled cached", cold),
            ("cold, host code kept", host_kept),
            ("cold, filling cache, contests", [fill]),
            ("warm, from the cache", warm)]
    for name, results in [(n, r) for n, r in rows if r]:
        print(f"  {name + ':':32}")
        print(f"    {'first call:':30} {ms([r['first_s'] for r in results])}")
        print(f"    {'  of which compiling:':30} {ms([r['compile_s'] for r in results])}")
        if workload != "mlp-model":
            print(f"    {second + ':':30} {ms([r['second_s'] for r in results])}")
        print(f"    {'of which LLVM, both calls:':30} {ms([r['llvm_s'] for r in results])}   "
              f"({results[0]['modules']} modules)")
    print(f"  cache entries written:           {entries}")
    print(f"  steady-state step:               {ms([r['steady_s'] for r in warm])}")
    print(f"  imports of the step's process:   {ms([r['import_s'] for r in warm])}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="processes per measurement")
    parser.add_argument("--batch", type=int, help="batch size (default 64; ResNet-18: 8)")
    parser.add_argument("--threads", type=int, help="BLAS threads (1 on a busy machine)")
    parser.add_argument("--only", default=",".join(WORKLOADS),
                        help=f"comma-separated workloads (default all: {','.join(WORKLOADS)})")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--child", choices=WORKLOADS, help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child:
        return child(opts.child, opts.batch, opts.profile, opts.device)
    batch = {w: opts.batch or BATCH.get(w, 64) for w in WORKLOADS}
    chosen = [w for w in opts.only.split(",") if w]
    unknown = sorted(set(chosen) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; choose from "
                     f"{', '.join(WORKLOADS)}")

    from tracecomp.bench.report import python_speed
    from tracecomp.codegen.llvm.gemm.calibrate import FILE as calibration
    # the Python speed of the host, before and after: these VMs' speed drifts (1.4x between
    # days, up to 2x within a minute), and every figure below is mostly Python
    print(f"host speed: a fixed Python loop ran {python_speed()} M iterations/s")
    with tempfile.TemporaryDirectory(prefix="tracecomp-pycache-") as pycache:
        # Python bytecode cached, as an installed package has it: without .pyc files (as
        # under PYTHONDONTWRITEBYTECODE=1) a first call also compiles the backend's ~30
        # modules from source, ~50 ms that is not the compiler's
        base = {**os.environ, "PYTHONPYCACHEPREFIX": pycache}
        base.pop("TRACECOMP_DEBUG", None)
        base.pop("PYTHONDONTWRITEBYTECODE", None)
        if opts.threads:
            base.update({v: str(opts.threads) for v in ("OPENBLAS_NUM_THREADS",
                                                         "OMP_NUM_THREADS", "MKL_NUM_THREADS")})
        off = {**base, "TRACECOMP_CACHE": "0"}
        run_child(off, chosen[0], batch[chosen[0]], device=opts.device)     # writes the bytecode
        for workload in chosen:
            with tempfile.TemporaryDirectory(prefix="tracecomp-latency-") as cache_dir:
                on = {**base, "TRACECOMP_CACHE": "1", "TRACECOMP_CACHE_DIR": cache_dir}
                fill = run_child(on, workload, batch[workload], device=opts.device)
                entries = len(set(os.listdir(cache_dir)) - {calibration})
                cold = [cold_child(base, cache_dir, calibration, workload, batch[workload],
                                      opts.device)
                        for _ in range(opts.runs)]
                host_kept = []      # LLVM builds no host code for the GPU
                if opts.device == "cpu":
                    with tempfile.TemporaryDirectory(prefix="tracecomp-host-") as host:
                        host_code_folder(base, cache_dir, calibration, host)
                        host_kept = [host_code_child(base, host, workload, batch[workload],
                                                     opts.device)
                                     for _ in range(opts.runs)]
                warm = [run_child(on, workload, batch[workload], device=opts.device)
                        for _ in range(opts.runs)]
            report(workload, opts.runs, batch[workload], fill, cold, host_kept, warm,
                   entries)
        for bytecode, name in [(True, ".pyc cached"), (False, "no .pyc at all")]:
            with tempfile.TemporaryDirectory(prefix="tracecomp-pycache-") as folder:
                seconds = import_seconds(base, opts.runs, bytecode, folder)
            print(f"{'import tracecomp, ' + name + ':':34} {ms(seconds)}")
        print(f"host speed after: {python_speed()} M iterations/s")
        if opts.profile:
            print("\ncProfile of a warm first call of mlp-model (stderr):", flush=True)
            with tempfile.TemporaryDirectory(prefix="tracecomp-latency-") as cache_dir:
                on = {**base, "TRACECOMP_CACHE": "1", "TRACECOMP_CACHE_DIR": cache_dir}
                run_child(on, "mlp-model", batch["mlp-model"])
                run_child(on, "mlp-model", batch["mlp-model"], profile=True)


if __name__ == "__main__":
    main()
