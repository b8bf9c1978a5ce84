"""Optimizer: the base class of every optimizer, with torch.optim.Optimizer's behaviour.

It owns what all optimizers share: parameter groups (per-group options over defaults),
per-parameter state, zero_grad, state_dict / load_state_dict in torch's format, and the
step skeleton. A subclass only says how one group is updated (`_update_group`), using
in-place Tensor ops (p.add_, buf.mul_(m).add_, p.addcdiv_) so a tracer sees the update as
ordinary ops; `step` runs it under no_grad, as torch does.
"""
from collections import defaultdict

import numpy as np

from ..grad_mode import enable_grad, no_grad
from ..tensor import Tensor


def step_count(step_t):
    """The step count for bias corrections: a Python float eagerly (torch's non-capturable
    path, in double precision), the tensor itself inside compiled code, where its value is
    only known when the graph runs (torch's capturable path), in float64 so the bias
    corrections round as the eager ones do."""
    return step_t.item() if isinstance(step_t._data, np.ndarray) else step_t.double()


def _typename(x):
    t = type(x)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def reject_unsupported(**flags):
    """torch options that select another implementation (fused kernels, CUDA graph capture,
    differentiable steps): the update here is always the plain single-tensor one."""
    for name, value in flags.items():
        if value:
            raise ValueError(f"{name}=True is not supported by tracecomp optimizers; "
                             f"leave it at its default ({name}=None or False)")


def _copy_state_value(param, value, key=None):
    """A deep copy of a saved state value, with tensors cast to param's dtype like torch
    ('step' keeps its own dtype)."""
    if isinstance(value, Tensor):
        v = value.detach()
        if key != "step" and param.is_floating_point():
            v = v.to(param.dtype)
        return v.clone()
    if isinstance(value, dict):
        return {k: _copy_state_value(param, v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_copy_state_value(param, v) for v in value)
    return value


class Optimizer:
    def __init__(self, params, defaults):
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got " + params.type())
        self.state = defaultdict(dict)
        self.param_groups = []
        groups = list(params)
        if len(groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(dict(group))

    def __repr__(self):
        s = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    s += f"    {key}: {group[key]}\n"
        return s + ")"

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state,
                "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)

    # --- parameter groups ---------------------------------------------------------------
    def add_param_group(self, param_group):
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs. "
                            "Please use a list instead.")
        else:
            param_group["params"] = list(params)
        for p in param_group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                + _typename(p))
            if not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            param_group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in param_group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # --- gradients and the update -------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    # a grad with history (create_graph=True) is cut loose, then zeroed
                    p.grad.detach_()
                    p.grad.zero_()

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure()'s loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                self._update_group(group)
        return loss

    def _update_group(self, group):
        raise NotImplementedError(f"{type(self).__name__} must define _update_group(group) "
                                  f"or override step()")

    # --- saving and loading -------------------------------------------------------------
    def state_dict(self):
        """{'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]}, with
        parameters numbered in group order, as torch does. Tensors are not copied."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {(index[id(k)] if isinstance(k, Tensor) else k): v
                 for k, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load state saved by state_dict(): parameters are matched by position, tensors
        are deep-copied (and cast to their parameter's dtype)."""
        groups = self.param_groups
        saved_groups = [dict(g) for g in state_dict["param_groups"]]
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match "
                             "the size of optimizer's group")
        id_map = {i: p for g, s in zip(groups, saved_groups)
                  for i, p in zip(s["params"], g["params"])}
        state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                state[id_map[k]] = _copy_state_value(id_map[k], v)
            else:
                state[k] = v
        for g, s in zip(groups, saved_groups):
            s["params"] = g["params"]
        self.__setstate__({"state": state, "param_groups": saved_groups})

