"""SyncBatchNorm over MPI (the job runs under `mpiexec -n 2`): two ranks on half batches
normalize, differentiate and update their running statistics as one process with
BatchNorm on the whole batch (jobs/sync_batchnorm.py); in one process it is BatchNorm."""
import pytest
import torch
from mpi_jobs import run_job

import tracecomp as tc

from helpers import assert_close, to_tc


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_two_ranks_on_half_batches_normalize_as_one_process_on_the_whole(mode):
    _, out = run_job("sync_batchnorm.py", mode, timeout=120)
    assert f"sync batchnorm {mode}: PASSED on 2 ranks" in out, out


def test_without_a_process_group_it_is_batch_norm_and_converts_as_torchs():
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
                              torch.nn.Sequential(torch.nn.BatchNorm2d(4, affine=False)))
    ours = tc.nn.Sequential(tc.nn.Conv2d(3, 4, 3), tc.nn.BatchNorm2d(4),
                            tc.nn.Sequential(tc.nn.BatchNorm2d(4, affine=False)))
    ours.load_state_dict({k: to_tc(v) for k, v in ref.state_dict().items()})
    ref = torch.nn.SyncBatchNorm.convert_sync_batchnorm(ref)
    ours = tc.nn.SyncBatchNorm.convert_sync_batchnorm(ours)
    assert repr(ours) == repr(ref)
    for _ in range(2):
        x = torch.randn(3, 3, 6, 6, requires_grad=True)
        y = to_tc(x)
        ref(x).pow(2).sum().backward()
        ours(y).pow(2).sum().backward()
        assert_close(y.grad, x.grad, atol=1e-5)
    assert ours.state_dict().keys() == ref.state_dict().keys()
    for k, v in ref.state_dict().items():
        assert_close(ours.state_dict()[k], v, atol=1e-6)
    for bad in (torch.randn(4), ):
        with pytest.raises(ValueError, match="expected at least 2D input"):
            torch.nn.SyncBatchNorm(4)(bad)
        with pytest.raises(ValueError, match="expected at least 2D input"):
            tc.nn.SyncBatchNorm(4)(to_tc(bad))
