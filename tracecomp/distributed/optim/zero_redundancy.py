"""ZeroRedundancyOptimizer (torch.distributed.optim's): ZeRO stage 1, each rank keeping the
optimizer state of only its share of the parameters.

    opt = ZeroRedundancyOptimizer(model.parameters(), optimizer_class=tc.optim.AdamW, lr=...)

The parameters of every group are shared out as torch does, so the same rank updates the
same tensors in both libraries: largest first (numel, stable order), each to the rank whose
share is smallest so far (the lowest rank on a tie). This rank's share, group by group, is
the local optimizer `opt.optim` (optimizer_class with the given defaults). step() copies
the hyperparameters of `param_groups` (what schedulers and user code change) into the
local groups, runs the local step, then every rank broadcasts the parameters it updated, so
all ranks end with the same parameters; the local groups' settings are copied back.
zero_grad and the LR schedulers work on `param_groups`, which hold every parameter.

state_dict() needs consolidate_state_dict(to=rank) on every rank first (torch's rule); it
then gives the whole state in torch's format, parameters numbered over all groups.
load_state_dict() keeps the state of this rank's parameters in the local optimizer.

parameters_as_bucket_view=True, which makes torch broadcast flat buckets instead of single
tensors, gives the same parameters; it is accepted and the tensors are broadcast one by one.
overlap_with_ddp=True (the update run inside DDP's communication hook) is not supported.
In a world of one nothing is sent. Inside tracecomp.compile, step() is a graph break (the
forward and backward stay compiled): the settings it copies into the local optimizer's
groups lie deeper than the stores a compiled step replays.
"""
import copy

import numpy as np

from ... import context
from ...errors import TraceError
from ...grad_mode import no_grad
from ...optim.optimizer import Optimizer
from ...tensor import Tensor
from ..collectives import broadcast
from ..process_group import resolve

__all__ = ["ZeroRedundancyOptimizer"]


def _params_of(params):
    """Every parameter in `params` (tensors or group dicts), with torch's refusals."""
    if isinstance(params, Tensor):
        raise TypeError(f"`params` argument should be an iterable of Tensors, but got "
                        f"{params.type()}")
    items = list(params)
    if not items:
        raise ValueError("ZeroRedundancyOptimizer got an empty parameter list")
    if all(isinstance(p, Tensor) for p in items):
        return items, items
    if not all(isinstance(g, dict) for g in items):
        raise TypeError("`params` argument should be an iterable of Tensors or dicts")
    for g in items:
        if "params" not in g:
            raise ValueError("Each parameter group passed-in via `params` must have a "
                             "'params' key mapping to the parameters in the group")
    return items, [p for g in items for p in g["params"]]


def _share_out(groups, world):
    """[[group dict for rank r, one per group] for r in range(world)]: each group's
    parameters, largest first, to the rank with the smallest share so far."""
    sizes = [0] * world
    shares = [[] for _ in range(world)]
    for group in groups:
        owned = [[] for _ in range(world)]
        for p in sorted(group["params"], key=lambda t: t.numel(), reverse=True):
            r = sizes.index(min(sizes))
            owned[r].append(p)
            sizes[r] += p.numel()
        for r in range(world):
            local = copy.copy(group)
            local["params"] = owned[r]
            shares[r].append(local)
    return shares


def _copy_settings(src_groups, dst_groups):
    """Every setting but the parameters, group by group (torch's _sync_param_groups)."""
    for src, dst in zip(src_groups, dst_groups):
        for key, value in src.items():
            if key != "params":
                dst[key] = value


def _arrays(value):
    """A state dict with its tensors as numpy arrays, to send to another rank."""
    if isinstance(value, Tensor):
        return ("tensor", np.array(value.detach().numpy()))
    if isinstance(value, dict):
        return {k: _arrays(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_arrays(v) for v in value]
    return value


def _tensors(value):
    """_arrays undone on the receiving rank."""
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "tensor":
        return Tensor._make(value[1])
    if isinstance(value, dict):
        return {k: _tensors(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tensors(v) for v in value]
    return value


class ZeroRedundancyOptimizer(Optimizer):
    def __init__(self, params, optimizer_class, process_group=None,
                 parameters_as_bucket_view=False, overlap_with_ddp=False, **defaults):
        if overlap_with_ddp:
            raise NotImplementedError(
                "ZeroRedundancyOptimizer(overlap_with_ddp=True): running the update inside "
                "DistributedDataParallel's communication hook is not supported; leave "
                "overlap_with_ddp=False and call step() after backward()")
        params, self._all_params = _params_of(params)
        kinds = {(p.dtype, p.device) for p in self._all_params}
        if len(kinds) > 1:
            raise ValueError(f"ZeroRedundancyOptimizer only supports using the same dense "
                             f"type for all parameters but got {sorted(map(str, kinds))}")
        self._ready = False         # Optimizer.__init__ adds the groups through our method
        super().__init__(params, defaults)
        self.process_group = resolve(process_group)
        self.world_size, self.rank = self.process_group.size, self.process_group.rank
        self.parameters_as_bucket_view = parameters_as_bucket_view
        self._optim_defaults = defaults
        self._shares = _share_out(self.param_groups, self.world_size)
        self.optim = optimizer_class(self._shares[self.rank], **defaults)
        _copy_settings(self.optim.param_groups, self.param_groups)  # the class's defaults too
        self._all_state_dicts = []
        self._ready = True

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        if getattr(self, "_ready", False):
            # the earlier groups are shared out as before (sizes carry over), so the local
            # optimizer keeps its groups and takes this rank's part of the new one
            self._shares = _share_out(self.param_groups, self.world_size)
            self.optim.add_param_group(self._shares[self.rank][-1])

    def step(self, closure=None, **kwargs):
        if context.current() is not None:
            raise TraceError(
                "ZeroRedundancyOptimizer.step() inside tracecomp.compile: its settings are "
                "copied into the local optimizer's groups, which a compiled step would not "
                "replay; keep the step outside the compiled function (a graph break does "
                "that with fullgraph=False)")
        _copy_settings(self.param_groups, self.optim.param_groups)
        loss = self.optim.step(**kwargs) if closure is None else \
            self.optim.step(closure=closure, **kwargs)
        self._broadcast_shares()
        _copy_settings(self.optim.param_groups, self.param_groups)
        return loss

    def _broadcast_shares(self):
        """Every rank's updated parameters to every other rank."""
        if self.world_size == 1:
            return
        with no_grad():
            works = [broadcast(p.data, src=r, group=self.process_group, async_op=True)
                     for r, share in enumerate(self._shares)
                     for group in share for p in group["params"]]
            for work in works:
                work.wait()

    def consolidate_state_dict(self, to=0):
        """Collect every rank's local optimizer state on rank `to` (call on every rank).
        This rank's own entries are its live state tensors, not copies (as torch's)."""
        _copy_settings(self.param_groups, self.optim.param_groups)
        mine = self.optim.state_dict()
        if self.world_size == 1:
            self._all_state_dicts = [mine]
            return
        gathered = self.process_group.comm.gather(_arrays(mine), root=to)
        self._all_state_dicts = [mine if r == self.rank else _tensors(s)
                                 for r, s in enumerate(gathered)] if self.rank == to else []

    def state_dict(self):
        if not self._all_state_dicts:
            raise RuntimeError(f"Optimizer state has not been consolidated on this rank. "
                               f"Please call `consolidate_state_dict(to={self.rank})` on all "
                               f"ranks beforehand if you meant to save the global state.")
        whole = super().state_dict()
        index = {id(p): i for i, p in enumerate(self._all_params_in_groups())}
        state = {}
        for share, local in zip(self._shares, self._all_state_dicts):
            for group, saved in zip(share, local["param_groups"]):
                for p, i in zip(group["params"], saved["params"]):
                    if i in local["state"]:
                        state[index[id(p)]] = local["state"][i]
        whole["state"] = dict(sorted(state.items()))
        return whole

    def load_state_dict(self, state_dict):
        """This rank's parameters take their saved state: the saved tensors themselves,
        as torch's (a later step updates them in place); the settings go to every group."""
        params = self._all_params_in_groups()
        owner = {id(p): r for r, share in enumerate(self._shares)
                 for group in share for p in group["params"]}
        for i, value in state_dict["state"].items():
            if owner[id(params[i])] == self.rank:
                self.optim.state[params[i]] = dict(value)
        _copy_settings(state_dict["param_groups"], self.param_groups)
        _copy_settings(self.param_groups, self.optim.param_groups)

    def _all_params_in_groups(self):
        return [p for group in self.param_groups for p in group["params"]]
