"""Run by test_collectives.py in 2 ranks: ZeroRedundancyOptimizer shares the parameters
out (each rank's local AdamW holds the state of its share only), and its steps give every
rank the parameters one plain AdamW gives on the same gradients; consolidate_state_dict
puts that AdamW's whole state_dict on the target rank, and state_dict elsewhere is torch's
error. Any mismatch raises, which aborts the job; rank 0 prints PASSED at the end."""
import numpy as np

import tracecomp as tc
import tracecomp.distributed as dist
from tracecomp.distributed.optim import ZeroRedundancyOptimizer


def model():
    rng = np.random.default_rng(0)          # the same weights on every rank
    net = tc.nn.Sequential(tc.nn.Linear(6, 16), tc.nn.Tanh(), tc.nn.Linear(16, 5),
                           tc.nn.Tanh(), tc.nn.Linear(5, 2))
    with tc.no_grad():
        for p in net.parameters():
            p.copy_(tc.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32)))
    return net


def steps(net, opt, x):
    for lr in (1e-2, 3e-2, 5e-3):
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad()
        net(x).pow(2).mean().backward()
        opt.step()


def main():
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    x = tc.tensor(np.random.default_rng(1).standard_normal((4, 6)).astype(np.float32))
    ref_net, net = model(), model()
    ref = tc.optim.AdamW(ref_net.parameters(), lr=1e-2, weight_decay=0.1)
    steps(ref_net, ref, x)
    opt = ZeroRedundancyOptimizer(net.parameters(), optimizer_class=tc.optim.AdamW, lr=1e-2,
                                  weight_decay=0.1)
    steps(net, opt, x)
    for a, b in zip(net.parameters(), ref_net.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-6,
                                   atol=1e-7, err_msg=f"parameters on rank {rank}")
    mine = {id(p) for p in opt.optim.param_groups[0]["params"]}
    assert set(map(id, opt.optim.state)) == mine, "state outside this rank's share"
    owned = tc.tensor([float(len(mine))])
    dist.all_reduce(owned)
    assert int(owned.item()) == len(list(net.parameters())), "shares overlap or miss one"
    assert 0 < len(mine) < len(list(net.parameters())), f"rank {rank} owns {len(mine)}"
    opt.consolidate_state_dict(to=0)
    if rank == 0:
        got, want = opt.state_dict(), ref.state_dict()
        assert sorted(got["state"]) == sorted(want["state"]), (got["state"], want["state"])
        for i, entry in want["state"].items():
            for key, value in entry.items():
                np.testing.assert_allclose(np.asarray(got["state"][i][key]), value.numpy(),
                                           rtol=1e-6, atol=1e-8, err_msg=f"state {i} {key}")
        assert [g["params"] for g in got["param_groups"]] == \
            [g["params"] for g in want["param_groups"]]
    else:
        try:
            opt.state_dict()
        except RuntimeError as e:
            assert "has not been consolidated on this rank" in str(e), e
        else:
            raise AssertionError("state_dict on a rank without the consolidated state")
    dist.barrier()
    dist.destroy_process_group()
    if rank == 0:
        print(f"zero: PASSED on {world} ranks")


if __name__ == "__main__":
    main()
