"""`tracecomp doctor` (tracecomp/doctor.py): its rows say what this machine is, as the
compiler sees it, and its exit status is 1 exactly when a row is a problem."""
import os
import re
import subprocess
import sys
import time

import llvmlite.binding as llvm
import pytest

from tracecomp import cli, doctor
from tracecomp.codegen.llvm import target
from tracecomp.codegen.llvm.runtime import parallel

ROW = re.compile(r"^(ok|note|problem) +(\S+(?: \S+)*?) {2,}(.*)$")
# settings that would change the rows; each test sets the ones it is about
SETTINGS = ("TRACECOMP_CACHE", "TRACECOMP_CACHE_DIR", "TRACECOMP_CACHE_MAX_MB",
            "TRACECOMP_CPU_FEATURES", "TRACECOMP_THREADS", "OPENBLAS_CORETYPE")


def run_doctor(**env):
    """(exit status, {item: (status, value)}, stdout) of `tracecomp doctor` in a new process."""
    environ = {k: v for k, v in os.environ.items() if k not in SETTINGS} | env
    done = subprocess.run([sys.executable, "-m", "tracecomp.cli", "doctor"], env=environ,
                          capture_output=True, text=True, timeout=120, check=False)
    return done.returncode, parse(done.stdout), done.stdout


def parse(text):
    rows = {}
    for line in text.splitlines():
        if m := ROW.match(line):
            rows[m[2]] = (m[1], m[3])
    return rows


@pytest.fixture
def clean_env(monkeypatch):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)


def by_item():
    return {r.item: r for r in doctor.rows()}


def test_rows_describe_this_machine(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    (cache / "a.tcobj").write_bytes(b"x" * 1000)
    (cache / "notes.txt").write_text("not an entry")
    start = time.perf_counter()
    status, rows, out = run_doctor(TRACECOMP_CACHE_DIR=str(cache))
    assert time.perf_counter() - start < 30, "doctor compiles nothing: it takes ~1.5 s"
    assert rows["cpu"] == ("ok", f"{llvm.get_host_cpu_name()} (as LLVM sees it)"), out
    host = dict(llvm.get_host_cpu_features())
    shown = " ".join(f for f in doctor.VECTOR_FEATURES if host.get(f))
    assert rows["cpu features"][1] == f"{shown}: {target.vector_bytes(host)}-byte vectors"
    assert rows["cache folder"] == ("ok", f"{cache} (writable)"), out
    assert rows["cache size"][1].startswith("1 entries, 0.0 MB of the 512 MB bound"), out
    assert rows["python"][1].startswith(".".join(map(str, sys.version_info[:3])))
    assert rows["threads"][1].startswith(f"{parallel.threads()} "), out
    for item in ("numpy", "llvmlite", "networkx", "blas", "blas core", "cpus", "thread pool",
                 "cuda", "graphviz", "matplotlib"):
        assert item in rows, (item, out)
    problems = sum(s == "problem" for s, _ in rows.values())
    notes = sum(s == "note" for s, _ in rows.values())
    assert status == (1 if problems else 0), out
    assert out.rstrip().endswith(f"tracecomp doctor: {problems} problem"
                                 f"{'s' * (problems != 1)}, {notes} note{'s' * (notes != 1)}")


@pytest.mark.parametrize("kind", ["file", "under a file", "open to others"])
def test_an_unusable_cache_folder_is_a_problem(tmp_path, kind):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    folder = {"file": a_file, "under a file": a_file / "cache",
              "open to others": tmp_path / "shared"}[kind]
    if kind == "open to others":
        folder.mkdir()
        folder.chmod(0o777)
    status, rows, out = run_doctor(TRACECOMP_CACHE_DIR=str(folder))
    assert status == 1, out
    state, value = rows["cache folder"]
    assert state == "problem" and value.startswith(f"{folder} ("), out
    assert "-> compiled code is not cached: " in out, out


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root may write into a read-only folder")
def test_a_read_only_cache_folder_is_a_problem(tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o500)
    status, rows, out = run_doctor(TRACECOMP_CACHE_DIR=str(folder))
    assert status == 1 and rows["cache folder"] == ("problem", f"{folder} (not writable)"), out


def test_the_cli_entry_point_runs_it(tmp_path, clean_env, monkeypatch, capsys):
    missing = tmp_path / "not" / "yet"
    monkeypatch.setenv("TRACECOMP_CACHE_DIR", str(missing))
    status = cli.main(["doctor"])
    rows = parse(capsys.readouterr().out)
    assert rows["cache folder"] == ("ok", f"{missing} (not made yet: the first compile "
                                          f"makes it)")
    assert not (tmp_path / "not").exists()          # the doctor writes nothing
    assert status == (1 if any(s == "problem" for s, _ in rows.values()) else 0)


def test_missing_optional_packages_are_notes(clean_env, monkeypatch):
    absent = {"matplotlib", "numba-cuda", "torch"}
    real = doctor.installed
    monkeypatch.setattr(doctor, "installed", lambda d: None if d in absent else real(d))
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)     # its import fails

    def no_cuda():
        raise AssertionError("CUDA was asked about without numba-cuda")
    monkeypatch.setattr("tracecomp.cuda.is_available", no_cuda)
    rows = by_item()
    assert (rows["cuda"].status, rows["cuda"].value) == ("note", "numba-cuda not installed")
    assert (rows["torch"].status, rows["matplotlib"].status) == ("note", "note")
    assert "pip install 'tracecomp[demo]'" in rows["matplotlib"].advice
    assert "could not be checked" not in " ".join(r.value for r in rows.values())


@pytest.mark.parametrize("name, value, item, status", [
    ("TRACECOMP_CPU_FEATURES", "-avx512f", "TRACECOMP_CPU_FEATURES", "note"),
    ("TRACECOMP_CPU_FEATURES", "avx", "TRACECOMP_CPU_FEATURES", "problem"),
    ("TRACECOMP_THREADS", "abc", "threads", "problem"),
    ("TRACECOMP_CACHE", "0", "cache folder", "note"),
    ("TRACECOMP_CACHE", "/tmp/my-cache", "TRACECOMP_CACHE", "note"),
    ("TRACECOMP_CACHE_MAX_MB", "lots", "cache size", "problem"),
    ("OPENBLAS_CORETYPE", "Haswell", "blas core", "note"),
])
def test_settings_are_shown_with_their_consequence(clean_env, monkeypatch, tmp_path, name,
                                                  value, item, status):
    monkeypatch.setenv("TRACECOMP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(name, value)
    row = by_item()[item]
    assert row.status == status, row
    assert row.advice, row          # a note or a problem says what to do


def test_a_failing_check_is_one_problem_row_and_the_rest_still_run(clean_env, monkeypatch,
                                                                  capsys):
    def check_broken():
        raise OSError("no such thing")
    monkeypatch.setattr(doctor, "CHECKS", (doctor.check_versions, check_broken))
    assert doctor.main() == 1
    rows = parse(capsys.readouterr().out)
    assert rows["broken"] == ("problem", "could not be checked: OSError: no such thing")
    assert rows["numpy"][0] == "ok"


class _FakeGPU:
    """A device backend as tracecomp/devices.py takes one, with one Hopper GPU."""

    def device_count(self):
        return 1

    def get_device_name(self, index):
        return "Fake H200"

    def get_device_capability(self, index):
        return (9, 0)


def test_a_gpu_is_named_with_its_architecture(monkeypatch):
    from tracecomp import devices
    monkeypatch.setitem(devices._BACKENDS, "cuda", _FakeGPU())
    real = doctor.installed
    monkeypatch.setattr(doctor, "installed",
                        lambda d: "0.30.4" if d == "numba-cuda" else real(d))
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    assert [(r.status, r.value) for r in doctor.check_cuda()] == \
        [("ok", "numba-cuda 0.30.4: 1 GPU(s): Fake H200 (sm_90)")]
