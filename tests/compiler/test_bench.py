"""`tracecomp bench` (tracecomp.bench): the quick run's tables and JSON, how a failing
contestant and a wrong result are reported, and the break-even arithmetic. No test asserts
a speed ratio: machines are noisy, and correctness of the report is what is tested here."""
import json

import pytest

from tracecomp import cli
from tracecomp.bench import numpy_ref, report, runner
from tracecomp.bench.workloads import Workload

CONTESTANTS = ["tracecomp eager", "tracecomp llvm", "numpy by hand", "torch eager",
               "torch.compile"]


def _bench(capsys, tmp_path, *flags):
    path = tmp_path / "bench.json"
    status = cli.main(["bench", "--quick", *flags, "--json", str(path)])
    out, err = capsys.readouterr()
    return status, out, err, json.loads(path.read_text())


def test_quick_run_checks_and_times_every_contestant(capsys, tmp_path):
    torch = pytest.importorskip("torch")
    status, out, err, data = _bench(capsys, tmp_path, "--only", "mlp,gelu")
    assert status == 0, err
    assert data["machine"]["cores"] >= 1 and data["machine"]["torch"] == torch.__version__
    keys = [w["key"] for w in data["workloads"]]
    assert keys == ["mlp_infer_b16", "mlp_train_b16", "gelu_65536"]
    for w in data["workloads"]:
        assert f"### {w['title']}" in out
        assert w["other_processes_cores"] is None or w["other_processes_cores"] >= 0
        assert w["stolen_cores"] is None or w["stolen_cores"] >= 0
        step = ["tracecomp llvm step"] if "train" in w["key"] else []
        assert [c["name"] for c in w["contestants"]] == CONTESTANTS[:2] + step + CONTESTANTS[2:]
        for c in w["contestants"]:
            if c["name"] == "torch.compile":    # --quick leaves it out: 20 s per model
                assert c["status"] == "skipped: --no-torch-compile", c
                continue
            where = f"{w['key']} / {c['name']}"
            assert c["status"] == "ok", where
            assert c["check"] in ("reference", "OK"), (where, c["check"])
            assert c["median_s"] > 0 and c["min_s"] > 0 and c["first_s"] > 0, where
            assert c["second_s"] > 0, where
            assert c["min_s"] <= c["median_s"] and c["throughput"] > 0, where
            assert len(c["times_s"]) == data["settings"]["rounds"], where
            assert c["vs_eager"] > 0 and c["vs_torch_eager"] > 0, where
        compiled = w["contestants"][1]
        assert compiled["compile_s"] >= 0 and compiled["baseline"] == "tracecomp eager"
    gelu = data["workloads"][-1]
    assert gelu["copy_gbs"] > 0 and "Copy bandwidth of this host" in out
    for c in gelu["contestants"]:
        if c["throughput"]:
            assert c["of_copy"] == pytest.approx(c["throughput"] / gelu["copy_gbs"])
    header = ("| contestant | median | min | vs tracecomp eager | vs torch eager | GB/s | "
              "compile | break-even | check |")
    assert header in out
    assert "| tracecomp llvm | " in out and "OK (" in out and "MISMATCH" not in out


def test_small_ops_checks_eager_against_torch_and_numpy(capsys, tmp_path):
    pytest.importorskip("torch")
    status, out, err, data = _bench(capsys, tmp_path, "--only", "small-ops", "--threads", "1")
    assert status == 0, err
    assert [w["key"] for w in data["workloads"]] == [
        "bigram_batch_b32_t8", "bigram_batch_b64_t256", "gather_embedding",
        "matmul_relu_sum_backward", "call_overhead", "elementwise_chain"]
    for w in data["workloads"]:
        rows = {c["name"]: c for c in w["contestants"]}
        assert list(rows) == CONTESTANTS, w["key"]
        for name in ("tracecomp eager", "numpy by hand", "torch eager"):
            assert rows[name]["status"] == "ok", (w["key"], name)
            assert rows[name]["check"] in ("reference", "OK"), (w["key"], rows[name]["check"])
            assert rows[name]["vs_torch_eager"] > 0 and rows[name]["min_s"] > 0
        compiled = rows["tracecomp llvm"]
        if w["key"].startswith("bigram"):    # slice bounds from the data: not traceable
            assert compiled["status"] == "skipped: data-dependent slice bounds"
            assert rows["torch.compile"]["status"] == "skipped: data-dependent slice bounds"
        else:
            assert compiled["status"] == "ok" and compiled["check"] == "OK", w["key"]
    assert "### bigram batch sampling (stack of data[i:i+8] for i in ix), batch 32" in out


def test_a_contestant_that_fails_is_a_row_of_the_table(capsys, tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")

    def no_compiler(fn):
        raise RuntimeError("no C++ compiler here\nsecond line")
    monkeypatch.setattr(torch, "compile", no_compiler)
    status, out, _, data = _bench(capsys, tmp_path, "--only", "gelu", "--torch-compile",
                                  "--threads", "1")
    assert status == 0
    row = data["workloads"][0]["contestants"][-1]
    assert row["name"] == "torch.compile"
    assert row["status"] == "failed: RuntimeError: no C++ compiler here"
    assert "| torch.compile | failed: RuntimeError: no C++ compiler here |" in out
    assert data["settings"]["threads"] == 1


def test_a_wrong_result_is_reported_loudly(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(numpy_ref, "gelu_tanh", lambda x, a, b: x * a + b)
    status, out, err, data = _bench(capsys, tmp_path, "--only", "gelu", "--threads", "1")
    assert status == 1
    row = data["workloads"][0]["contestants"][2]
    assert row["name"] == "numpy by hand" and row["check"].startswith("MISMATCH: output")
    assert "| numpy by hand | " in out and "**MISMATCH: output differs by" in out
    assert "WRONG RESULT: numpy by hand on gelu_tanh(x*a+b)" in err


def test_usage_errors_exit_2(capsys):
    assert cli.main(["bench", "--only", "mlp,bogus"]) == 2
    assert "choose from mlp,lenet,gelu,gemm" in capsys.readouterr().err
    assert cli.main(["bench", "--rounds", "0"]) == 2
    assert "--rounds must be at least 1" in capsys.readouterr().err


def test_compile_time_and_break_even():
    workload = Workload("w", "w", "a workload", list, "GFLOP/s", 2e9)
    eager = runner.Result("tracecomp eager", times_s=[0.010, 0.011, 0.009], first_s=0.02)
    fast = runner.Result("tracecomp llvm", baseline="tracecomp eager", first_s=1.004,
                         times_s=[0.004, 0.005, 0.004])
    slow = runner.Result("tracecomp interp", baseline="tracecomp eager", first_s=0.5,
                         times_s=[0.02, 0.02, 0.02])
    runner.summarize(workload, [eager, fast, slow])
    assert fast.median_s == 0.004 and fast.compile_s == pytest.approx(1.0)
    assert fast.break_even == 167           # ceil(1.0 s / 6 ms saved per call)
    assert fast.vs_eager == pytest.approx(0.4) and fast.throughput == pytest.approx(500)
    assert slow.break_even is None and slow.vs_torch_eager is None
    assert report.row(slow, "GFLOP/s")[7] == "never"
    assert report.row(fast, "GFLOP/s")[7] == "167 calls"


def test_throughput_as_a_share_of_the_copy_bandwidth():
    workload = Workload("w", "w", "a workload", list, "GB/s", 8e6, copy_bytes=4_000_000)
    workload.copy_gbs = 20.0
    fast = runner.Result("tracecomp llvm", times_s=[0.0004, 0.0004])
    runner.summarize(workload, [fast])
    assert fast.throughput == pytest.approx(20.0) and fast.of_copy == pytest.approx(1.0)
    assert "20.0 GB/s. Throughput as a share of it: tracecomp llvm 100%." in \
        report.table(workload, [fast], 2)


def test_check_compares_gradients_too():
    import numpy as np
    out, grads = np.ones(3), [np.ones((2, 2)), np.arange(4.0)]
    assert runner.check((out, grads), (out, grads))[1] == "OK"
    bad = [grads[0], grads[1] * 1.01]
    err, text = runner.check((out, bad), (out, grads))
    assert text.startswith("MISMATCH: gradient 1 [4]") and err == pytest.approx(0.01)
    assert runner.check((np.ones(4), None), (out, grads))[1].startswith("MISMATCH: output")


def test_no_chart_without_matplotlib(monkeypatch, tmp_path):
    import sys
    monkeypatch.setitem(sys.modules, "matplotlib", None)     # `import matplotlib` fails
    assert report.write_png(str(tmp_path / "chart.png"), []) is False
    assert not (tmp_path / "chart.png").exists()


def test_proc_stat_busy_time_leaves_out_idle_guest_and_steal():
    # user nice system idle iowait irq softirq steal guest guest_nice
    line = "cpu  600 5 150 1200 40 3 12 810 77 9\n"
    assert report.busy_and_steal(line) == (600 + 5 + 150 + 3 + 12, 810)
    assert report.busy_and_steal("cpu  10 0 2 99 1 0 0\n") == (12, 0)     # no steal column


def test_a_workload_is_flagged_noisy_by_other_processes_or_by_steal():
    tiny = Workload("tiny", "tiny", "tiny", list, "GFLOP/s")
    quiet = report.table(tiny, [], 3, report.Load(others=0.1, stolen=0.1))
    assert "Noisy" not in quiet
    stolen = report.table(tiny, [], 3, report.Load(others=0.0, stolen=0.4))
    assert "**Noisy:** the hypervisor took 0.4 cores (steal) while" in stolen
    both = report.table(tiny, [], 3, report.Load(others=0.3, stolen=0.2))
    assert "other processes kept 0.3 cores busy and the hypervisor took 0.2 cores" in both


def test_the_machine_lines_give_the_host_speed_measured():
    speed = report.python_speed(rounds=2)
    assert isinstance(speed, float) and speed > 0
    info = {"cpu": "x", "cores": 2, "python": "3", "numpy": "2", "llvmlite": "0",
            "torch": None, "python_loop_mhz": speed}
    assert f"host speed: a fixed Python loop ran {speed} M iterations/s" in \
        "\n".join(report.machine_lines(info))
