"""Modules as functions of their state: torch.func.functional_call, stack_module_state and
replace_all_batch_norm_modules_.

functional_call runs module(*args, **kwargs) with some of its parameters and buffers
replaced by the given tensors (by their dotted names), then puts the originals back: the
function of the weights that grad, vjp, jacrev and vmap transform. Tied weights (one
tensor under two names) take the given value under every name unless tie_weights=False.
stack_module_state stacks the same-named parameters and buffers of several models of one
class along a new dim 0, for vmap over an ensemble. replace_all_batch_norm_modules_ stops
every batch norm in a model from tracking running statistics (under vmap each sample would
update one shared set), as torch's.
"""
import contextlib

from ..composite import stack


def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *,
                    tie_weights=True, strict=False):
    """module(*args, **kwargs) with its parameters and buffers replaced (torch.func's)."""
    values = _merged(parameter_and_buffer_dicts)
    args = () if args is None else args if isinstance(args, tuple) else (args,)
    with reparametrized(module, values, tie_weights, strict):
        return module(*args, **(kwargs or {}))


def _merged(dicts):
    if isinstance(dicts, dict):
        return dicts
    if not isinstance(dicts, (list, tuple)):
        raise ValueError(f"Expected parameter_and_buffer_dicts to be a dict, or a list/tuple "
                         f"of dicts, but got {type(dicts)}")
    if not all(isinstance(d, dict) for d in dicts):
        raise ValueError("Expected all elements of parameter_and_buffer_dicts to be "
                         "dictionaries")
    keys = [k for d in dicts for k in d]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise ValueError(f"{repeated} appeared in multiple dictionaries; behavior of "
                         f"functional call is ambiguous")
    return {k: v for d in dicts for k, v in d.items()}


def _untied(module, values):
    """values with a given tied tensor's value under all of its names (torch's rule: two
    different values for one tied tensor are an error)."""
    names_of = {}
    for name, t in list(module.named_parameters(remove_duplicate=False)) + \
            list(module.named_buffers(remove_duplicate=False)):
        names_of.setdefault(id(t), set()).add(name)
    out = dict(values)
    for names in names_of.values():
        given = names & set(values)
        if len(names) < 2 or not given:
            continue
        if len({id(values[n]) for n in given}) > 1:
            raise ValueError(f"functional_call got multiple values for keys {sorted(names)}, "
                             f"which are tied. Consider using tie_weights=False")
        value = values[next(iter(given))]
        out.update(dict.fromkeys(names, value))
    return out


def _owner(module, name):
    """(the submodule holding `name`, its registry, the last part of the name)."""
    *path, leaf = name.split(".")
    for part in path:
        child = module._modules.get(part)
        if child is None:
            raise AttributeError(f"{module._get_name()} has no attribute `{part}`")
        module = child
    for registry in (module._parameters, module._buffers):
        if leaf in registry:
            return module, registry, leaf
    return module, None, leaf


@contextlib.contextmanager
def reparametrized(module, values, tie_weights=True, strict=False):
    """module with `values` in place of its parameters/buffers, restored on exit."""
    if tie_weights:
        values = _untied(module, values)
    if strict:
        _check_keys(module, values)
    swapped = []
    try:
        for name, value in values.items():
            owner, registry, leaf = _owner(module, name)
            if registry is None:        # not a parameter or buffer: a plain attribute
                swapped.append((owner, None, leaf, owner.__dict__.get(leaf, _ABSENT)))
                object.__setattr__(owner, leaf, value)
                continue
            swapped.append((owner, registry, leaf, registry[leaf]))
            registry[leaf] = value
        yield
    finally:
        for owner, registry, leaf, old in reversed(swapped):
            if registry is not None:
                registry[leaf] = old
            elif old is _ABSENT:
                object.__delattr__(owner, leaf)
            else:
                object.__setattr__(owner, leaf, old)


_ABSENT = object()


def _check_keys(module, values):
    known = {n for n, _ in module.named_parameters(remove_duplicate=False)} | \
        {n for n, _ in module.named_buffers(remove_duplicate=False)}
    unexpected = [k for k in values if k not in known]
    missing = [k for k in known if k not in values]
    msgs = []
    if unexpected:
        msgs.append(f"Unexpected key(s): {', '.join(map(repr, unexpected))}.")
    if missing:
        msgs.append(f"Missing key(s): {', '.join(map(repr, missing))}.")
    if msgs:
        raise RuntimeError("Error(s) in reparametrizing for {}:\n\t{}".format(
            module._get_name(), "\n\t".join(msgs)))


def stack_module_state(models):
    """(params, buffers): each name's tensors from every model stacked along dim 0; the
    stacked parameters are new leaves that require grad when the models' do."""
    models = list(models)
    if not models:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if not (all(m.training for m in models) or not any(m.training for m in models)):
        raise RuntimeError("stack_module_state: Expected all models to have the same "
                           "training/eval mode.")
    if any(type(m) is not type(models[0]) for m in models):
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")
    params = _stacked([dict(m.named_parameters()) for m in models])
    buffers = _stacked([dict(m.named_buffers()) for m in models])
    return params, buffers


def _stacked(dicts):
    out = {}
    for name in dicts[0]:
        tensors = [d[name] for d in dicts]
        wants = {t.requires_grad for t in tensors}
        if len(wants) > 1:
            raise RuntimeError(f"Expected {name} from each model to have the same "
                               f".requires_grad")
        out[name] = stack(tensors).detach().requires_grad_(wants.pop())
    return out


def replace_all_batch_norm_modules_(root):
    """Every batch norm in root (root included) in place without running statistics:
    running_mean, running_var and num_batches_tracked become None and track_running_stats
    False, so it normalizes with the batch's own statistics in training and in eval."""
    from ..nn.modules.batchnorm import _BatchNorm
    for module in root.modules():
        if isinstance(module, _BatchNorm) and module.track_running_stats:
            module.running_mean = None
            module.running_var = None
            module.num_batches_tracked = None
            module.track_running_stats = False
    return root
