"""Module's state_dict and load_state_dict (a base class of Module), with torch's hooks.

state_dict() walks the registries in order: the module's `_state_dict_pre_hooks`, its own
parameters and persistent buffers, each child's, then its `_state_dict_hooks` (which may add
metadata: legacy spectral_norm's version). load_state_dict() gives each module the entries
under its prefix; the module's `_load_state_dict_pre_hooks` run first and may rename or
compute entries (weight_norm's `weight_g` becomes `parametrizations.weight.original0`) before
the module and then its children take theirs; `_load_state_dict_post_hooks` run after.
"""
import itertools
import warnings
from collections import OrderedDict, namedtuple

import numpy as np

from ..creation import tensor as _tensor
from ..errors import fmt_shape
from ..grad_mode import no_grad
from ..tensor import Tensor
from ..user_code import user_stacklevel


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What load_state_dict returns; prints as torch's does when everything matched."""

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


class ModuleState:
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()

    def state_dict(self, *, destination=None, prefix="", keep_vars=False):
        """Own parameters, own persistent buffers, then each child's, recursively. Values are
        detached tensors sharing memory with the module's."""
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()
        local_metadata = {"version": self._version}
        if hasattr(destination, "_metadata"):
            destination._metadata[prefix[:-1]] = local_metadata
        for hook in self._state_dict_pre_hooks.values():
            hook(self, prefix, keep_vars)
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".",
                                  keep_vars=keep_vars)
        for hook in self._state_dict_hooks.values():
            result = hook(self, destination, prefix, local_metadata)
            if not getattr(hook, "_from_public_api", False):
                if result is not None:      # the old hooks' contract: a new state dict
                    destination = result
            elif result is not None:
                raise RuntimeError("state_dict post-hook must return None")
        return destination

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys, error_msgs):
        for hook in self._load_state_dict_pre_hooks.values():
            hook(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                 error_msgs)
        persistent = {k: v for k, v in self._buffers.items()
                      if k not in self._non_persistent_buffers_set}
        local_state = {k: v for k, v in itertools.chain(self._parameters.items(),
                                                        persistent.items()) if v is not None}
        for name, param in local_state.items():
            key = prefix + name
            if key not in state_dict:
                missing_keys.append(key)
                continue
            value = state_dict[key]
            if isinstance(value, np.ndarray):
                value = _tensor(value)
            if not isinstance(value, Tensor):
                error_msgs.append(f'While copying the parameter named "{key}", expected '
                                  f"tracecomp.Tensor or numpy array from checkpoint but "
                                  f"received {type(value)}")
                continue
            if param.ndim == 0 and value.shape == (1,):
                value = value[0]
            if value.shape != param.shape:
                error_msgs.append(f"size mismatch for {key}: copying a param with shape "
                                  f"{fmt_shape(value.shape)} from checkpoint, the shape in "
                                  f"current model is {fmt_shape(param.shape)}.")
                continue
            if local_metadata.get("assign_to_params_buffers", False):
                _assign(self, name, param, value)
                continue
            if param.is_meta and not value.is_meta:
                warnings.warn(f"for {key}: copying from a non-meta parameter in the checkpoint "
                              f"to a meta parameter in the current model, which is a no-op. "
                              f"(Did you mean to pass `assign=True` to assign items in the "
                              f"state dictionary to their corresponding key in the module "
                              f"instead of copying them in place?)", UserWarning,
                              stacklevel=user_stacklevel())
            with no_grad():
                param.copy_(value)     # in place: optimizers holding `param` see the values
        if strict:
            for key in state_dict:
                if not key.startswith(prefix):
                    continue
                parts = key[len(prefix):].split(".", 1)
                if (parts[0] not in self._modules) if len(parts) > 1 else \
                        (parts[0] not in local_state):
                    unexpected_keys.append(key)

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Copy values into the existing parameters and buffers, in place (with assign:
        make the state dict's tensors the module's, as a meta module needs). Returns
        (missing_keys, unexpected_keys); with strict=True a mismatch raises."""
        if not isinstance(state_dict, dict):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing, unexpected, error_msgs = [], [], []
        metadata = getattr(state_dict, "_metadata", None)
        state_dict = OrderedDict(state_dict)

        def load(module, local_state, prefix=""):
            meta = {} if metadata is None else metadata.get(prefix[:-1], {})
            if assign:
                meta = dict(meta, assign_to_params_buffers=True)
            module._load_from_state_dict(local_state, prefix, meta, True, missing,
                                         unexpected, error_msgs)
            for name, child in module._modules.items():
                if child is not None:
                    child_prefix = prefix + name + "."
                    load(child, {k: v for k, v in local_state.items()
                                 if k.startswith(child_prefix)}, child_prefix)
            keys = _IncompatibleKeys(missing, unexpected)
            for hook in module._load_state_dict_post_hooks.values():
                if hook(module, keys) is not None:
                    raise AssertionError(
                        "Hooks registered with ``register_load_state_dict_post_hook`` are not "
                        "expected to return new values, if incompatible_keys need to be "
                        "modified, it should be done inplace.")

        load(self, state_dict)
        if strict:
            if unexpected:
                error_msgs.insert(0, "Unexpected key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in unexpected)))
            if missing:
                error_msgs.insert(0, "Missing key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in missing)))
        if error_msgs:
            raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(
                type(self).__name__, "\n\t".join(error_msgs)))
        return _IncompatibleKeys(missing, unexpected)


def _assign(module, name, param, value):
    """load_state_dict(assign=True): the checkpoint's tensor becomes the module's own (a
    Parameter keeps requires_grad, as torch's)."""
    from .parameter import Parameter
    if name in module._parameters:
        if not isinstance(value, Parameter):
            value = Parameter(value, requires_grad=param.requires_grad)
        else:
            value.requires_grad_(param.requires_grad)
        module._parameters[name] = value
    else:
        module._buffers[name] = value
