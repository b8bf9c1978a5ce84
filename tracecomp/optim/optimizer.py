"""Optimizer: the base class of every optimizer, with torch.optim.Optimizer's behaviour.

It owns what all optimizers share: parameter groups (per-group options over defaults,
parameters given bare or named, as `model.named_parameters()` yields them), per-parameter
state, zero_grad, state_dict / load_state_dict in torch's format, hooks, and the step
skeleton. A subclass only says how one group is updated (`_update_group`), using in-place
Tensor ops (p.add_, buf.mul_(m).add_, p.addcdiv_) so a tracer sees the update as ordinary
ops; `step` runs it under no_grad, as torch does (with grad on for differentiable=True).
The compiler may run that same update as one compiled call instead (`fused_update`).
"""
import warnings
from collections import defaultdict
from copy import deepcopy

import numpy as np

from .. import sparse_data
from ..creation import tensor
from ..grad_mode import enable_grad, set_grad_enabled
from ..ops.complex import view_as_real
from ..tensor import Tensor
from ..user_code import user_stacklevel
from .hooks import (  # noqa: F401 - torch.optim.optimizer's global hook functions
    HookMixin,
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
    with_step_hooks,
)

# Set by tracecomp/compiler/fused_step.py when the compiler is imported: fused_update(opt)
# runs opt's update as one compiled call and returns True, or returns False and step()
# loops over the parameters (a hook, so that optim/ does not import the compiler)
fused_update = None


def step_count(step_t):
    """The step count for bias corrections: a Python float eagerly (torch's non-capturable
    path, in double precision), the tensor itself inside compiled code, where its value is
    only known when the graph runs (torch's capturable path), in float64 so the bias
    corrections round as the eager ones do."""
    return step_t.item() if isinstance(step_t._data, np.ndarray) else step_t.double()


def real_views(p, grad, state):
    """A complex parameter, its gradient and its state as (..., 2) real views: torch's
    Adam-family, Adagrad, RMSprop, Adadelta, Adamax, ASGD and Rprop update the real and
    imaginary parts as parameters of their own (torch.optim's _view_as_real; the square or
    the sign of a complex gradient would mix them). Writes go through to the complex
    tensors; real state (the step count) is itself."""
    views = {k: view_as_real(v) if isinstance(v, Tensor) and v.is_complex() else v
             for k, v in state.items()}
    return view_as_real(p), view_as_real(grad), views


def _typename(x):
    t = type(x)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


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


def _split_names(group):
    """[(name, p), ...] (named_parameters()) -> params and group['param_names']."""
    entries = group["params"]
    names = [e[0] for e in entries if isinstance(e, tuple)]
    group["params"] = [e[1] if isinstance(e, tuple) else e for e in entries]
    if names:
        if len(names) != len(entries):
            raise ValueError("all optimizer params should be with/without names. Some param "
                             "names are missing")
        group["param_names"] = names


class Optimizer(HookMixin):
    # state entries that torch keeps as 0-d tensors; a state_dict holding plain numbers
    # there (saved by an older torch) is converted on load, as torch's __setstate__ does
    _scalar_state = ("step",)
    # hyperparameters that _update_group reads through options.setting, as plain arithmetic,
    # so compiled code may feed them as inputs instead of compiling them in (a scheduler's
    # new lr then runs the same compiled step: compiler/hyperparameters.py)
    fed_settings = ()
    zero_tested = ()    # of those, the ones it branches on being zero (SGD's momentum)
    # torch's error for a sparse .grad (embedding(sparse=True)), or None where
    # _update_group takes one (SGD, Adagrad)
    sparse_refusal = "{} does not support sparse gradients"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            cls.step = with_step_hooks(cls.__dict__["step"])

    def __init__(self, params, defaults):
        self.defaults = defaults
        self._init_hooks()
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
        self._init_hooks()
        for group in self.param_groups:       # groups saved before an option existed
            for key, default in self.defaults.items():
                group.setdefault(key, default)
        self.defaults.setdefault("differentiable", False)
        for entries in self.state.values():
            for key in self._scalar_state:
                if key in entries and not isinstance(entries[key], Tensor):
                    entries[key] = tensor(float(entries[key]))

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
        _split_names(param_group)
        for p in param_group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                + _typename(p))
            if not self.defaults.get("differentiable") and not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            param_group.setdefault(name, default)
        ids = [id(p) for p in param_group["params"]]
        if len(ids) != len(set(ids)):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in "
                          "future, this will cause an error; see "
                          "github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=user_stacklevel())
        named = "param_names" in param_group
        for group in self.param_groups:
            if ("param_names" in group) != named:
                raise ValueError("all optimizer param groups should be with/without names. "
                                 "cannot add param group "
                                 f"{'with names' if named else 'without names'} to the optimizer")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(i in seen for i in ids):
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
        # torch's _use_grad_for_differentiable: the update is recorded on the tape only
        # for differentiable=True (meta-learning through the step)
        if sparse_data.used[0] and self.sparse_refusal is not None:    # a .grad may be sparse
            self._refuse_sparse_grads()
        with set_grad_enabled(bool(self.defaults.get("differentiable", False))):
            if fused_update is None or not fused_update(self):
                for group in self.param_groups:
                    self._update_group(group)
        return loss

    def _refuse_sparse_grads(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None and p.grad.is_sparse:
                    raise RuntimeError(self.sparse_refusal.format(type(self).__name__))

    def _update_group(self, group):
        raise NotImplementedError(f"{type(self).__name__} must define _update_group(group) "
                                  f"or override step()")

    # --- saving and loading -------------------------------------------------------------
    def state_dict(self):
        """{'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]}, with
        parameters numbered in group order, as torch does. Tensors are not copied."""
        for pre_hook in self._optimizer_state_dict_pre_hooks.values():
            pre_hook(self)
        index, start, groups = {}, 0, []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                index.setdefault(id(p), i)
            packed["params"] = [index[id(p)] for p in group["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {(index[id(k)] if isinstance(k, Tensor) else k): v
                 for k, v in self.state.items()}
        state_dict = {"state": state, "param_groups": groups}
        for post_hook in self._optimizer_state_dict_post_hooks.values():
            result = post_hook(self, state_dict)
            if result is not None:
                state_dict = result
        return state_dict

    def load_state_dict(self, state_dict):
        """Load state saved by state_dict(): parameters are matched by position, tensors
        are deep-copied (and cast to their parameter's dtype)."""
        state_dict = state_dict.copy()
        for pre_hook in self._optimizer_load_state_dict_pre_hooks.values():
            result = pre_hook(self, state_dict)
            if result is not None:
                state_dict = result
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
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
            if "param_names" in g and "param_names" not in s:
                s["param_names"] = g["param_names"]
        self.__setstate__({"state": state, "param_groups": saved_groups})
        for post_hook in self._optimizer_load_state_dict_post_hooks.values():
            post_hook(self)


Optimizer.step = with_step_hooks(Optimizer.step)
