"""functional_call: run a module with some of its parameters and buffers replaced by given
tensors (by their dotted names), then put the originals back: the function of the weights
that torch.func's grad, vjp, jacrev and vmap transform. Tied weights (one tensor under two
names) take the given value under every name unless tie_weights=False.

It lives under nn, not func, because both torch.func.functional_call and the deprecated
torch.nn.utils.stateless.functional_call are it: func imports nn, nn never imports func.
"""
import contextlib


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
