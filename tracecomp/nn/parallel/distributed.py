"""DistributedDataParallel: one model replica per rank, kept identical by averaging the
gradients over every rank in each backward (torch.nn.parallel.DistributedDataParallel).

At wrap time every rank compares its parameters' names, shapes and dtypes with rank 0's
(a mismatch is an error naming the parameter and both shapes, raised on every rank, so none
is left waiting), then takes rank 0's parameters and buffers. During training:
  - eager backward: gradients are averaged in buckets as they arrive (reducer.py);
  - inside tracecomp.compile: each gradient passes through the `all_reduce` primitive
    (AVG) in the backward graph, so the reduction is a node of the compiled step
    (tracecomp/distributed/traced.py);
  - buffers (batch-norm statistics) are broadcast from rank 0 before every forward, unless
    broadcast_buffers=False;
  - `no_sync()` skips the averaging: gradients accumulate locally until the first backward
    of a forward run outside it, which averages the accumulated sums.
The wrapped model is `.module`; state_dict keys carry torch's `module.` prefix.
"""
from contextlib import contextmanager

import numpy as np

from ... import context, grad_mode
from ...distributed.bucketing import DEFAULT_BUCKET_MB
from ...distributed.collectives import host_array
from ...distributed.process_group import resolve
from ...distributed.watchdog import waiting
from ...tensor import Tensor
from ..module import Module
from .reducer import Reducer


class DistributedDataParallel(Module):
    """Data parallelism over the processes of an MPI job (see the module docstring).

    device_ids/output_device must be None (the replicas run on the CPU); dim is accepted
    for torch's signature (inputs are not split: each rank feeds its own batch). Options
    that only tune torch's implementation (gradient_as_bucket_view, static_graph, ...) are
    accepted and change nothing here."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0,
                 broadcast_buffers=None, init_sync=True, process_group=None,
                 bucket_cap_mb=None, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False,
                 delay_all_reduce_named_params=None, param_to_hook_all_reduce=None,
                 mixed_precision=None, device_mesh=None, skip_all_reduce_unused_params=False,
                 bucket_cap_mb_list=None, batched_grad_copy=False, forward_sync_buffers=None):
        super().__init__()
        if device_ids or output_device is not None:
            raise ValueError(f"DistributedDataParallel device_ids and output_device arguments "
                             f"only work with single-device/multiple-device GPU modules or CPU "
                             f"modules, but got device_ids {device_ids}, output_device "
                             f"{output_device}, and module parameters "
                             f"{{device(type='cpu')}}.")
        if not any(p.requires_grad for p in module.parameters()):
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't "
                               "have any parameter that requires a gradient.")
        self.module = module
        self.process_group = resolve(process_group)   # the default group: torch's error before init
        self.dim = dim
        self.broadcast_buffers = forward_sync_buffers if forward_sync_buffers is not None \
            else (True if broadcast_buffers is None else broadcast_buffers)
        self.find_unused_parameters = find_unused_parameters
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.static_graph = static_graph
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        buffers = list(module.named_buffers())
        if init_sync:
            check_same_model(self.process_group, named, buffers)
            broadcast_tensors(self.process_group,
                              [p for _, p in named] + [b for _, b in buffers], src=0)
        cap = DEFAULT_BUCKET_MB if bucket_cap_mb is None else bucket_cap_mb
        self.bucket_bytes = int(cap * 1024 * 1024)     # a compiled step's buckets too
        self.reducer = Reducer([p for _, p in named], [n for n, _ in named],
                               self.process_group, self.bucket_bytes)

    def forward(self, *inputs, **kwargs):
        group = self.process_group
        tracing = context.current() is not None
        buffers = list(self.module.buffers())
        if self.broadcast_buffers and buffers and group.size > 1:
            if tracing:
                from ...distributed.traced import broadcast_traced
                for b in buffers:
                    broadcast_traced(b, src=0)
            else:
                broadcast_tensors(group, buffers, src=0)
        if tracing:     # the averaging is part of the graph; no_sync is read at run time
            from ...distributed.traced import averaged_parameters
            self.reducer.stop()
            averaging = group.size > 1 and grad_mode.is_grad_enabled()
            with averaged_parameters(self, self.module, enabled=averaging):
                return self.module(*inputs, **kwargs)
        out = self.module(*inputs, **kwargs)
        if grad_mode.is_grad_enabled() and self.require_backward_grad_sync and group.size > 1:
            self.reducer.prepare(_tensors(out), self.find_unused_parameters)
        else:
            self.reducer.stop()
        return out

    @contextmanager
    def no_sync(self):
        """Backward passes of forwards run inside accumulate gradients locally; the first
        synced backward after it averages the sums."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous


def _tensors(out):
    """The tensors in a forward's output (nested in tuples, lists and dicts too)."""
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _tensors(o)]
    return []


def check_same_model(group, named_params, named_buffers):
    """Every rank must hold the parameters (and buffers) rank 0 holds, with the same shapes
    and dtypes, in the same order; the error names the first difference and is raised on
    every rank (all compare the same gathered lists)."""
    mine = [("parameter", n, tuple(p.shape), p._data.dtype.name) for n, p in named_params] + \
        [("buffer", n, tuple(b.shape), b._data.dtype.name) for n, b in named_buffers]
    with waiting("DistributedDataParallel's model check"):
        every = group.comm.allgather(mine)
    ref = every[0]
    for rank, theirs in enumerate(every[1:], start=1):
        for (kind0, name0, shape0, dt0), (kind, name, shape, dt) in zip(ref, theirs):
            if (kind, name) != (kind0, name0):
                raise RuntimeError(f"DistributedDataParallel: rank {rank} has {kind} {name!r} "
                                   f"where rank 0 has {kind0} {name0!r}: every rank must "
                                   f"build the same model (same layers in the same order)")
            if shape != shape0 or dt != dt0:
                raise RuntimeError(f"DistributedDataParallel: {kind} {name!r} has shape "
                                   f"{list(shape)} ({dt}) on rank {rank} but {list(shape0)} "
                                   f"({dt0}) on rank 0: every rank must build the same model")
        if len(theirs) != len(ref):
            count = sum(1 for e in theirs if e[0] == "parameter")
            count0 = sum(1 for e in ref if e[0] == "parameter")
            extra = (theirs if len(theirs) > len(ref) else ref)[min(len(theirs), len(ref))]
            raise RuntimeError(f"DistributedDataParallel: rank {rank} has {count} parameters "
                               f"and {len(theirs) - count} buffers, rank 0 has {count0} and "
                               f"{len(ref) - count0} (the first unmatched one is {extra[0]} "
                               f"{extra[1]!r}): every rank must build the same model")


def broadcast_tensors(group, tensors, src=0):
    """Every rank's tensors take rank src's values: one Bcast per dtype, of all of that
    dtype's tensors packed together (few large messages rather than many small ones)."""
    by_dtype = {}
    for t in tensors:
        by_dtype.setdefault(host_array(t, "DistributedDataParallel").dtype, []).append(t)
    for dtype in sorted(by_dtype, key=str):         # the same order on every rank
        same_dtype = by_dtype[dtype]
        flat = np.concatenate([t._data.reshape(-1) for t in same_dtype])
        with waiting("DistributedDataParallel's broadcast"):
            group.comm.Bcast(flat, root=src)
        at = 0
        for t in same_dtype:
            n = t._data.size
            t._data[...] = flat[at:at + n].reshape(t._data.shape)
            t._vc[0] += 1
            at += n
