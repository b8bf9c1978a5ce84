"""Run by test_ddp.py in 2 ranks: parameters that get no gradient.

With find_unused_parameters=True, a head used on rank 0 only gets the average of rank 0's
gradient and nothing (zero) from rank 1, on both ranks; a head no rank uses keeps
.grad None. Reference: one process computing the mean of both ranks' losses. Without it,
the next forward raises torch's "Expected to have finished reduction" error naming the
parameter. Rank 0 prints PASSED."""
import numpy as np

import tracecomp as tc
import tracecomp.distributed as dist
from tracecomp import nn
from tracecomp.nn.parallel import DistributedDataParallel as DDP


class Heads(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk, self.a, self.b, self.c = (nn.Linear(4, 4), nn.Linear(4, 1),
                                              nn.Linear(4, 1), nn.Linear(4, 1))

    def forward(self, x, use_b):
        h = self.trunk(x).tanh()
        return self.a(h).sum() + (self.b(h).sum() if use_b else 0)


def model():
    tc.manual_seed(0)
    return Heads()


dist.init_process_group("mpi")
rank, world = dist.get_rank(), dist.get_world_size()
tc.manual_seed(1)
xs = [tc.randn(5, 4) for _ in range(world)]

ref = model()
(sum(ref(xs[r], use_b=(r == 0)) for r in range(world)) / world).backward()
mine = model()
ddp = DDP(mine, find_unused_parameters=True)
ddp(xs[rank], use_b=(rank == 0)).backward()
for (name, p), q in zip(mine.named_parameters(), ref.parameters()):
    if name.startswith("c."):
        assert p.grad is None, f"{name}: unused on every rank, but got a gradient"
        continue
    np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7,
                               err_msg=name)

strict = DDP(model())
strict(xs[rank], use_b=False).backward()
try:
    strict(xs[rank], use_b=False)
except RuntimeError as exc:
    text = str(exc)
    assert "Expected to have finished reduction in the prior iteration" in text, text
    assert "b.weight" in text and "c.weight" in text and "a.weight" not in text, text
else:
    raise AssertionError("a parameter without gradient went unreported")
dist.destroy_process_group()
if rank == 0:
    print("unused parameters: PASSED")
