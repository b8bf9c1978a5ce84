"""DistributedSampler gives torch's partition index for index: every size against
torch.utils.data.distributed.DistributedSampler (num_replicas and rank given, so no
process group is needed), shuffled or not, with and without drop_last, over epochs."""
import pytest
import torch
from torch.utils.data.distributed import DistributedSampler as TorchSampler

from tracecomp.utils.data.distributed import DistributedSampler, _torch_randperm


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("drop_last", [False, True])
def test_partition_equals_torchs(shuffle, drop_last):
    for n in (1, 2, 3, 7, 10, 16, 33, 101):
        for replicas in (1, 2, 3, 4, 8):
            for rank in range(replicas):
                ours = DistributedSampler(range(n), replicas, rank, shuffle, seed=7,
                                          drop_last=drop_last)
                theirs = TorchSampler(range(n), replicas, rank, shuffle, seed=7,
                                      drop_last=drop_last)
                assert len(ours) == len(theirs)
                for epoch in (0, 1, 5):
                    ours.set_epoch(epoch)
                    theirs.set_epoch(epoch)
                    assert list(ours) == list(theirs), \
                        f"n={n} replicas={replicas} rank={rank} epoch={epoch}: " \
                        f"tracecomp={list(ours)} | torch={list(theirs)}"


def test_shuffled_order_is_torchs_randperm_for_large_sizes_and_seeds():
    for n, seed in [(1000, 0), (60000, 12345), (4097, 2 ** 32 + 3), (50, -1)]:
        want = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
        assert _torch_randperm(n, seed) == want, f"n={n} seed={seed}"


def test_invalid_rank_is_torchs_error():
    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval "
                                         r"\[0, 1\]"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
