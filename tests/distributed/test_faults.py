"""A rank that raises stops the whole job within seconds, with its error in the output
(faults.py: an excepthook that calls MPI_Abort), instead of leaving the others waiting in
a collective forever; a rank that hangs does too, after the group's timeout (watchdog.py).
One case goes through `tracecomp run`, the launcher."""
import sys
import time

import pytest
from mpi_jobs import JOBS, mpiexec, run, run_job

LIMIT_S = 20      # "within seconds": a hang would run into the job's timeout (60 s)


@pytest.mark.parametrize("when", ["after_init", "before_init"])
def test_a_failing_rank_stops_every_rank_with_its_error(when):
    start = time.perf_counter()
    status, out = run_job("fail.py", when, ok=False)
    assert status != 0, out
    assert time.perf_counter() - start < LIMIT_S
    assert f"[rank 1] ValueError: rank 1 fails on purpose {when.replace('_', ' ')}" in out
    assert "raised ValueError; aborting every rank" in out, out


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_a_rank_that_hangs_is_stopped_by_the_groups_timeout(mode):
    start = time.perf_counter()
    status, out = run_job("hang.py", mode, ok=False)
    assert status != 0, out
    assert time.perf_counter() - start < LIMIT_S, out
    assert "[rank 0] tracecomp.distributed: all_reduce" in out, out
    assert "waited longer than the process group's timeout (0:00:02" in out, out


def test_tracecomp_run_launches_the_ranks_and_reports_the_failure():
    mpiexec()       # skips without MPI
    cmd = [sys.executable, "-c", "import sys; from tracecomp.cli import main; "
           "sys.exit(main(sys.argv[1:]))", "run", "-n", "2", str(JOBS / "fail.py"),
           "after_init"]
    start = time.perf_counter()
    status, out = run(cmd, timeout=60)
    assert status != 0 and time.perf_counter() - start < LIMIT_S, out
    assert "[rank 1] ValueError: rank 1 fails on purpose after init" in out, out
