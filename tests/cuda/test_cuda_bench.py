"""`tracecomp bench --device cuda` on numba's simulator, on a tiny GEMM and MLP training
step: every GPU contestant runs and matches tracecomp eager on the device, torch without
CUDA is a skipped row, and the command refuses where there is no GPU."""
import importlib
import io

import tracecomp.bench as bench_module
from tracecomp.bench import Options, bench
from tracecomp.bench.runner import run_workload

wl = importlib.import_module("tracecomp.bench.workloads")   # the package exports a function
#                                                             of the same name


def test_gpu_contestants_run_on_the_device_and_match_eager():
    opts = Options(quick=True, device="cuda", torch_compile=False)
    for workload in (wl.gemm_workload(opts, 8),
                     wl.model_workload(opts, "mlp", "MLP", 4, True, _tiny_mlp, _NoNumpy,
                                       [(5, 6), (10, 5)], [30, 50], (6,))):
        results = {r.name: r for r in run_workload(workload, rounds=1, round_s=0.001)}
        assert results["tracecomp eager"].check == "reference", workload.title
        for name in ("tracecomp cuda",) + (("tracecomp cuda step",) if "train" in
                                           workload.key else ()):
            assert results[name].ok and results[name].check == "OK", (name, results[name])
        torch_row = results["torch eager"]          # skipped by a CPU torch, else checked
        assert torch_row.status.startswith("skipped") if not _torch_has_cuda() else \
            torch_row.check == "OK", torch_row
        assert results["numpy by hand"].status.startswith("skipped")


def _tiny_mlp(lib, weights):
    nn = lib.nn
    return wl.load_weights(lib, nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 10)),
                           weights)


class _NoNumpy:
    """The numpy by hand row is not run on a GPU: never built."""

    def __init__(self, *args):
        raise AssertionError("numpy by hand must not run with --device cuda")


def test_the_bench_command_names_the_gpu(monkeypatch):
    monkeypatch.setattr(bench_module, "workloads", lambda opts: [wl.gemm_workload(opts, 8)])
    out = io.StringIO()
    assert bench(Options(quick=True, device="cuda", torch_compile=False), rounds=1,
                 out=out) == 0
    assert "GPU: " in out.getvalue() and "tracecomp cuda" in out.getvalue()


def test_the_bench_command_refuses_cuda_without_a_gpu(monkeypatch, capsys):
    from tracecomp import devices
    from tracecomp.cli import main
    monkeypatch.setattr(devices, "_BACKENDS", {})
    monkeypatch.setattr(devices, "DISCOVER", {})
    assert main(["bench", "--device", "cuda", "--quick"]) == 2
    assert "--device cuda: no CUDA GPU here" in capsys.readouterr().err


def _torch_has_cuda():
    torch = wl.torch_or_none()
    return torch is not None and torch.cuda.is_available()
