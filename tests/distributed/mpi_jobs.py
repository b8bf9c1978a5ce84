"""Running a job script under `mpiexec -n N` from a test (the multi-rank tests).

A test calls `run_job("collectives.py")`: the script in tests/distributed/jobs/ runs in N
processes started by the mpiexec beside this Python (the mpich wheel's, the one whose MPI
library mpi4py loads), with a timeout, in a session of its own so that a hung job is
killed whole. Without mpi4py or an mpiexec the test is skipped, saying which is missing
and how to install it.
"""
import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

JOBS = Path(__file__).parent / "jobs"
INSTALL = "pip install 'tracecomp[distributed]' (mpi4py and the mpich wheel)"


def mpiexec():
    """The mpiexec the jobs run under; skips the test when MPI is not installed."""
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip(f"mpi4py is not installed: {INSTALL}")
    from tracecomp.distributed.mpi_launch import LaunchError, find_mpiexec
    try:
        return find_mpiexec()
    except LaunchError:
        pytest.skip(f"no mpiexec beside {sys.executable} or on PATH: {INSTALL}")


def run(cmd, timeout):
    """(exit status, stdout + stderr) of cmd; on timeout the whole job is killed and the
    test fails with what it printed so far."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{' '.join(cmd)} did not finish in {timeout} s; it printed:\n{out}")
    return proc.returncode, out


def run_job(script, *args, n=2, timeout=60, ok=True):
    """Run jobs/<script> in n ranks; with ok, fail the test unless it exits 0."""
    cmd = [mpiexec(), "-n", str(n), sys.executable, str(JOBS / script), *map(str, args)]
    status, out = run(cmd, timeout)
    if ok:
        assert status == 0, f"{' '.join(cmd)} exited with {status}:\n{out}"
    return status, out
