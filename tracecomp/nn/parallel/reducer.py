"""DistributedDataParallel's gradient reduction: parameters grouped into buckets, each
bucket's gradients averaged over the ranks with one MPI all-reduce during backward.

How a backward goes (torch's Reducer, in small):
  1. DDP's forward calls `prepare()`: a new round starts; with find_unused_parameters the
     parameters the output does not depend on are marked ready at once (their bucket
     slots hold their current .grad, or zeros).
  2. The eager engine calls each parameter's hook (Tensor.register_hook) with its new
     gradient g just before adding g into .grad. The hook does that addition itself, so
     the bucket gets what .grad is about to become (torch reduces after accumulation, so
     gradients accumulated under no_sync() are averaged too); it sets .grad to None and
     returns a copy of the sum, which the engine then makes the new .grad.
  3. When every parameter of a bucket is in, the bucket's nonblocking all-reduce (SUM)
     starts, always in bucket order, so every rank issues the same collectives in the
     same order whatever order its hooks fire in.
  4. When the last bucket has started, all are waited for, divided by the world size and
     written into the .grad arrays handed out in step 2 (the last one included: the
     engine stores it after its hook returns, and it is the same array).
The engine adds leaves' gradients after its walk over the graph, so the reductions overlap
the remaining hooks' copies rather than backward compute: the buckets save MPI calls (one
per bucket, not per parameter) more than they hide time.

A hook the user registers on a parameter after wrapping runs after ours and sees the local
sum; it must return None (or that tensor): a new tensor it returns would become .grad in
place of the array the average is written into. (The engine has no post-accumulate-grad
hook, torch's register_post_accumulate_grad_hook, which would remove both caveats.)

A round that started reductions but did not finish (a parameter got no gradient and
find_unused_parameters is off) is reported at the next forward with torch's error, naming
the parameters; their .grad values meanwhile are the local, unreduced ones.
"""
import numpy as np

from ...distributed.bucketing import FIRST_BUCKET_BYTES, assign
from ...distributed.reduce_op import finish_avg
from ...distributed.watchdog import waiting
from ...tensor import Tensor

UNFINISHED = (
    "Expected to have finished reduction in the prior iteration before starting a new one. "
    "This error indicates that your module has parameters that were not used in producing "
    "loss. You can enable unused parameter detection by passing the keyword argument "
    "`find_unused_parameters=True` to `torch.nn.parallel.DistributedDataParallel`, and by "
    "making sure all `forward` function outputs participate in calculating loss.\n"
    "Parameters which did not receive grad for rank {rank}: {names}")


class Bucket:
    """Parameters of one dtype whose gradients travel in one buffer."""

    def __init__(self, members, params):
        self.members = members                  # indices into the reducer's params
        sizes = [params[i]._data.size for i in members]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).tolist()
        self.buf = np.zeros(self.offsets[-1], params[members[0]]._data.dtype)
        self.waiting = len(members)             # parameters not ready yet in this round
        self.request = None

    def slot(self, k):
        return slice(self.offsets[k], self.offsets[k + 1])


def assign_buckets(params, cap_bytes, first_cap_bytes=FIRST_BUCKET_BYTES):
    """Buckets in the order gradients usually arrive (last parameters first), one dtype
    each (distributed/bucketing.py; the first one small, so the first reduction starts
    early, as torch's)."""
    buckets = assign(reversed(range(len(params))), lambda i: params[i]._data.nbytes,
                     lambda i: params[i]._data.dtype, cap_bytes, first_cap_bytes)
    return [Bucket(m, params) for m in buckets]


class Reducer:
    """Averages `params`' gradients over `group` during each synced backward."""

    def __init__(self, params, names, group, cap_bytes):
        self.params, self.names, self.group = params, names, group
        self.buckets = assign_buckets(params, cap_bytes)
        self.where = {}                         # param index -> (bucket, position in it)
        for b in self.buckets:
            for k, i in enumerate(b.members):
                self.where[i] = (b, k)
        self.active = False                     # a synced round is under way
        self.fired = False                      # a hook ran in this round
        self.ready = [False] * len(params)
        self.outs = [None] * len(params)        # the .grad arrays handed to the engine
        self.used = np.ones(len(params), np.uint8)
        self.find_unused = False
        self.next_bucket = 0
        self.handles = [p.register_hook(self._hook(i)) for i, p in enumerate(params)]

    def prepare(self, outputs, find_unused):
        """Start a round (DDP.forward with gradient sync on)."""
        if self.active and self.fired:
            missing = [self.names[i] for i, r in enumerate(self.ready) if not r]
            raise RuntimeError(UNFINISHED.format(rank=self.group.rank,
                                                 names=", ".join(missing)))
        self.active, self.fired, self.next_bucket = True, False, 0
        self.ready = [False] * len(self.params)
        self.outs = [None] * len(self.params)
        self.used[:] = 1
        self.find_unused = find_unused
        for b in self.buckets:
            b.waiting, b.request = len(b.members), None
        if find_unused:
            reached = reachable_leaves(outputs)
            for i, p in enumerate(self.params):
                if id(p) not in reached:
                    self.used[i] = 0
                    b, k = self.where[i]
                    b.buf[b.slot(k)] = 0 if p.grad is None else p.grad._data.reshape(-1)
                    self._mark_ready(i, launch=False)

    def stop(self):
        """No synced round (a forward under no_sync() or with grad off)."""
        self.active = False

    def _hook(self, i):
        def hook(g):
            if not self.active or self.ready[i]:
                return g                        # no_sync, or a second backward: local only
            p = self.params[i]
            total = g._data if p.grad is None else p.grad._data + g._data
            b, k = self.where[i]
            b.buf[b.slot(k)] = total.reshape(-1)
            p.grad = None                       # the engine stores the sum we return
            out = np.array(total, copy=True)
            self.outs[i] = out
            self.fired = True
            self._mark_ready(i, launch=True)
            return Tensor._make(out)
        return hook

    def _mark_ready(self, i, launch):
        self.ready[i] = True
        b, _ = self.where[i]
        b.waiting -= 1
        if launch:
            self._launch()

    def _launch(self):
        """Start every bucket that is complete and whose predecessors have started."""
        from mpi4py import MPI
        comm = self.group.comm
        while self.next_bucket < len(self.buckets) and \
                self.buckets[self.next_bucket].waiting == 0:
            b = self.buckets[self.next_bucket]
            b.request = comm.Iallreduce(MPI.IN_PLACE, b.buf, MPI.SUM)
            self.next_bucket += 1
        if self.next_bucket == len(self.buckets):
            self._finish()

    def _finish(self):
        """Wait for every bucket, average, and write the results into the .grad arrays."""
        from mpi4py import MPI
        with waiting("DistributedDataParallel's gradient all_reduce"):
            MPI.Request.Waitall([b.request for b in self.buckets])
            if self.find_unused:    # a parameter unused on every rank keeps its .grad
                self.group.comm.Allreduce(MPI.IN_PLACE, self.used, MPI.MAX)
        for b in self.buckets:
            finish_avg(b.buf, self.group.size)
            for k, i in enumerate(b.members):
                if not self.used[i]:
                    continue
                avg = b.buf[b.slot(k)].reshape(self.params[i]._data.shape)
                if self.outs[i] is not None:
                    self.outs[i][...] = avg
                else:                   # unused here, used elsewhere: gets their average
                    self.params[i].grad = Tensor._make(avg.copy())
        self.active = False

    def remove(self):
        for h in self.handles:
            h.remove()


def reachable_leaves(outputs):
    """ids of the leaf tensors the autograd tape behind `outputs` reaches (an explicit
    stack: graphs can be deep)."""
    stack = [t._node for t in outputs if t._node is not None]
    leaves = {id(t) for t in outputs if t._node is None}
    seen = set()
    while stack:
        node = stack.pop()
        if id(node) in seen or not getattr(node, "args", None):
            continue
        seen.add(id(node))
        for a in node.args:
            if not isinstance(a, Tensor) or not a._requires_grad:
                continue
            if a._node is None:
                leaves.add(id(a))
            else:
                stack.append(a._node)
    return leaves
