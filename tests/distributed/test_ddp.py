"""DistributedDataParallel on two ranks (the jobs run under `mpiexec -n 2`).

jobs/train.py: two ranks, each on half of every batch, end with the weights of one process
on the whole batch (to 1e-5), for SGD with momentum and Adam, eagerly and as a compiled
training step whose graph holds the gradient all-reduce; gradients accumulated under
no_sync() are averaged like torch's; buffers are rank 0's. jobs/unused.py: parameters
without a gradient (find_unused_parameters, and torch's error without it).
jobs/mismatch.py: ranks that built different models are told so at wrap time."""
import sys

import pytest
from mpi_jobs import JOBS, mpiexec, run, run_job


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_two_ranks_on_half_batches_match_one_process_on_the_whole(mode):
    _, out = run_job("train.py", mode)
    assert f"train {mode}: PASSED on 2 ranks" in out, out


def test_unused_parameters_are_averaged_or_reported():
    _, out = run_job("unused.py")
    assert "unused parameters: PASSED" in out, out


def test_models_that_differ_between_ranks_are_refused_at_wrap_on_every_rank():
    _, out = run_job("mismatch.py")
    for rank in (0, 1):
        assert (f"rank {rank} shape: DistributedDataParallel: parameter '2.weight' has shape "
                f"[2, 9] (float32) on rank 1 but [2, 8] (float32) on rank 0") in out, out
        assert f"rank {rank} count: DistributedDataParallel: rank 1 has 4 parameters" in out


def test_the_example_trains_to_the_same_losses_on_two_processes_as_on_one():
    import subprocess
    import sys
    from pathlib import Path

    from mpi_jobs import mpiexec, run
    example = Path(__file__).parents[2] / "examples" / "train_ddp.py"
    _, two = run([mpiexec(), "-n", "2", sys.executable, str(example), "--epochs", "2"], 120)
    one = subprocess.run([sys.executable, str(example), "--epochs", "2"], capture_output=True,
                         text=True, timeout=120).stdout

    def losses(out):
        return [line for line in out.splitlines() if line.startswith("epoch")]
    assert len(losses(two)) == 2 and losses(two) == losses(one), (two, one)
    assert "2 process(es): test accuracy" in two and "1 process(es)" in one


def test_tracecomp_dump_under_mpiexec_shows_the_overlapped_all_reduce(tmp_path):
    """Every rank compiles (the all-reduces need both); rank 0 alone writes the files."""
    out = tmp_path / "dump"
    cmd = [mpiexec(), "-n", "2", sys.executable, "-c",
           "import sys; from tracecomp.cli import main; sys.exit(main(sys.argv[1:]))",
           "dump", f"{JOBS / 'ddp_step.py'}:step", "--input", "64x784",
           "--input", "64:int64:10", "--out", str(out), "-q"]
    status, printed = run(cmd, timeout=120)
    assert status == 0, printed
    assert printed.count("tracecomp dump: ") == 1, printed
    graph = (out / "02_forward.optimized.txt").read_text()
    order = [line.split("= ")[1].split("(")[0] for line in graph.splitlines()
             if "all_reduce" in line or "matmul(" in line]
    start = order.index("all_reduce_start")
    assert "matmul" in order[start:order.index("all_reduce_wait")], graph
