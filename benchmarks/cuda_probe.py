"""Where a CUDA step's time goes, on a machine with a GPU (one run, a few tens of seconds).

    NUMBA_ENABLE_CUDASIM=0 python benchmarks/cuda_probe.py

Prints the versions, the cost of one launch (numba's dispatcher, our direct launch,
torch), of a device allocation and of one tracecomp eager op; then for the MLP and LeNet
training steps of `tracecomp bench` (batch 64, SGD momentum 0.9) the first calls of the
compiled whole step (compiling) and the steady host and synchronized times of the
compiled step, the eager step and torch's eager step; then float32 products through
tracecomp, CuPy (cuBLAS) and torch. A time pair is (host us, synchronized us) per call,
the median of 5 rounds: host close to synchronized means the host is the bottleneck.
"""
import functools
import importlib
import sys
import time

import numpy as np


def main():
    started = time.perf_counter()
    from tracecomp.codegen.cuda.compat import numba_cuda
    cuda = numba_cuda()
    print(f"numba.cuda import {time.perf_counter() - started:.2f} s")
    print(_versions())
    _launches(cuda)
    for name in ("mlp", "lenet"):
        _attempt(f"{name} step", functools.partial(_steps, name))
    for n in (1024, 4096):
        _attempt(f"product {n}", functools.partial(_product, n))


def _versions():
    out = {"python": sys.version.split()[0]}
    for name in ("numpy", "numba", "numba_cuda", "llvmlite", "torch", "cupy"):
        try:
            out[name] = importlib.import_module(name).__version__
        except ImportError as exc:
            out[name] = f"missing ({exc})"
    return out


def _attempt(label, fn):
    try:
        fn()
    except Exception as exc:    # noqa: BLE001  (one part failing leaves the others)
        print(f"{label}: FAILED {type(exc).__name__}: {exc}", flush=True)


def per_call(fn, n, sync):
    """(host us, synchronized us) per call of fn, the median of 5 rounds of n calls."""
    fn()
    sync()
    rounds = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        host = time.perf_counter() - t
        sync()
        rounds.append((host / n * 1e6, (time.perf_counter() - t) / n * 1e6))
    rounds.sort()
    return tuple(round(v, 1) for v in rounds[len(rounds) // 2])


def _launches(cuda):
    import tracecomp as tc
    from tracecomp.codegen.cuda import launcher

    @cuda.jit
    def add(a, b, out):
        i = cuda.grid(1)
        if i < out.size:
            out[i] = a[i] + b[i]
    a, b = (cuda.to_device(np.ones(1024, np.float32)) for _ in range(2))
    out = cuda.device_array(1024, np.float32)
    t = time.perf_counter()
    add[4, 256](a, b, out)
    cuda.synchronize()
    print(f"first compile and launch of a tiny kernel: {time.perf_counter() - t:.3f} s")
    direct = launcher.Launcher(add, 4, 256, [(1024,)] * 3)
    direct([a, b, out])
    print("launch through numba's dispatcher:", per_call(lambda: add[4, 256](a, b, out), 2000,
                                                          cuda.synchronize))
    print(f"direct launch (available: {bool(direct.fast)}):",
          per_call(lambda: direct([a, b, out]), 2000, cuda.synchronize))
    print("device_array(1024):", per_call(lambda: cuda.device_array(1024, np.float32), 2000,
                                          cuda.synchronize))
    x, y = tc.ones(1024).to("cuda"), tc.ones(1024).to("cuda")
    print("tracecomp eager x + y:", per_call(lambda: x + y, 2000, tc.cuda.synchronize))
    torch = _torch()
    if torch is not None:
        p, q = torch.ones(1024, device="cuda"), torch.ones(1024, device="cuda")
        print("torch eager x + y:", per_call(lambda: p + q, 5000, torch.cuda.synchronize))


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def _steps(name):
    import tracecomp as tc
    from tracecomp.bench.workloads import lenet_module, mlp_module
    make, shape = {"mlp": (mlp_module, (784,)), "lenet": (lenet_module, (1, 28, 28))}[name]
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((64, *shape)).astype(np.float32)
    ys = rng.integers(0, 10, 64)
    for lib in (tc, _torch()):
        if lib is None:
            continue
        model = make(lib, None).to("cuda")
        x, y = lib.from_numpy(xs).to("cuda"), lib.from_numpy(ys).to("cuda")
        step = _training_step(lib, model)
        label = "tracecomp" if lib is tc else "torch"
        if lib is tc:
            compiled = tc.compile(step)
            for k in range(3):
                t = time.perf_counter()
                compiled(x, y)
                tc.cuda.synchronize()
                print(f"{name} compiled step, call {k}: {time.perf_counter() - t:.3f} s")
            print(f"{name} compiled step:", per_call(functools.partial(compiled, x, y), 50,
                                                     tc.cuda.synchronize), flush=True)
        calls = 5 if lib is tc else 50      # tracecomp eager on a GPU: ~10-30 ms a step
        print(f"{name} {label} eager step:",
              per_call(functools.partial(step, x, y), calls, lib.cuda.synchronize), flush=True)


def _training_step(lib, model):
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        loss = lib.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def _product(n):
    import tracecomp as tc
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    want = a.astype(np.float64) @ b.astype(np.float64)
    flops = 2.0 * n ** 3
    mm = tc.compile(lambda p, q: p @ q)
    p, q = tc.from_numpy(a).to("cuda"), tc.from_numpy(b).to("cuda")
    runs = [("tracecomp", lambda: mm(p, q), tc.cuda.synchronize,
             lambda out: out.cpu().numpy())]
    try:
        import cupy
        ca, cb = cupy.asarray(a), cupy.asarray(b)
        runs.append(("cupy (cuBLAS)", lambda: ca @ cb, cupy.cuda.Device().synchronize,
                     cupy.asnumpy))
    except ImportError:
        pass
    torch = _torch()
    if torch is not None:
        ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
        runs.append((f"torch (tf32 {torch.backends.cuda.matmul.allow_tf32})", lambda: ta @ tb,
                     torch.cuda.synchronize, lambda out: out.cpu().numpy()))
    for label, call, sync, host in runs:
        err = np.linalg.norm(host(call()) - want) / np.linalg.norm(want)
        us = per_call(call, 10, sync)[1]
        print(f"product {n}^3 float32, {label}: {flops / us / 1e6:.1f} TFLOP/s ({us:.0f} us), "
              f"relative error {err:.1e}", flush=True)


if __name__ == "__main__":
    main()
