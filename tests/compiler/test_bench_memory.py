"""`tracecomp bench`'s step-memory column (tracecomp/bench/peak.py): the heap counter counts
what a process allocates, and a training workload's contestants each get a figure, with
compiled code's held memory in it, next to torch eager's."""
import json
import subprocess
import sys

import pytest

from tracecomp import cli
from tracecomp.bench import peak

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the heap counter needs Linux with glibc")


@pytest.fixture(scope="module")
def meter():
    m = peak.Meter()
    if m.shim is None:
        pytest.skip(m.why)
    yield m
    m.close()


def test_the_counter_sees_one_known_allocation(meter):
    code = ("import ctypes, json, numpy as np\n"
            "heap = ctypes.CDLL(None)\n"
            "heap.tracecomp_heap_now.restype = heap.tracecomp_heap_peak.restype = "
            "ctypes.c_longlong\n"
            "heap.tracecomp_heap_reset(); before = heap.tracecomp_heap_now()\n"
            "a = np.ones(3_000_000, np.uint8); del a\n"
            "print(json.dumps([heap.tracecomp_heap_peak() - before, "
            "heap.tracecomp_heap_now() - before]))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"LD_PRELOAD": meter.shim, "PATH": ""}, check=True)
    grew, left = json.loads(run.stdout)
    assert 3_000_000 <= grew < 3_100_000        # the array, plus a few small objects
    assert abs(left) < 100_000                  # freed again


def test_a_training_workload_gets_a_memory_column(capsys, tmp_path, meter):
    pytest.importorskip("torch")
    path = tmp_path / "bench.json"
    status = cli.main(["bench", "--quick", "--memory", "--only", "mlp", "--rounds", "1",
                       "--json", str(path)])
    out, err = capsys.readouterr()
    assert status == 0, err
    data = json.loads(path.read_text())
    assert data["settings"]["memory"] is True
    infer, train = data["workloads"]
    assert all(c["step_bytes"] is None for c in infer["contestants"])
    got = {c["name"]: c for c in train["contestants"]}
    for name in ("tracecomp eager", "tracecomp llvm", "tracecomp llvm step", "numpy by hand",
                 "torch eager"):
        assert got[name]["step_bytes"] is not None, (name, got[name]["memory_note"])
    assert got["torch eager"]["memory_vs_torch"] == 1.0
    assert got["tracecomp eager"]["held_bytes"] == 0       # nothing compiled to hold memory
    step = got["tracecomp llvm step"]
    assert 0 < step["held_bytes"] <= step["step_bytes"]   # its arena, at least
    assert got["torch.compile"]["memory_note"] == ""      # skipped: not run, not measured
    assert "step memory (vs torch eager)" in out and "MB (1.00×)" in out


def test_quick_runs_leave_memory_out_unless_asked(capsys, tmp_path):
    path = tmp_path / "bench.json"
    assert cli.main(["bench", "--quick", "--only", "gemm", "--rounds", "1", "--json",
                     str(path)]) == 0
    assert json.loads(path.read_text())["settings"]["memory"] is False
    assert "step memory" not in capsys.readouterr().out
