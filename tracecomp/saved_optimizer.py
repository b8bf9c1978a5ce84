"""`tracecomp.save({'model': model, 'optimizer': optimizer})` of a whole optimizer, and
loading it back, with no pickle.

Training scripts checkpoint the optimizer object itself, which torch.save pickles. Here it
is saved as data:

    ["optimizer", "package.module:Class", defaults, [param...], state_dict]

defaults is the optimizer's `defaults` dict, the params are its parameters in the
numbering of its state_dict (each ["param", i], the same table entry as the parameter
where a module in the same file holds it: saved_module saves state_dict(keep_vars=True);
["tensor", i] for a plain tensor that requires grad, `SGD([w, b])`),
and state_dict is optimizer.state_dict().

Loading finds the class among the modules Python has already imported (as saved_module
does), builds it over the parameters, one group per saved group, sets its defaults and
loads the state_dict. A table entry loads as one object wherever the file names it, and a
loaded module takes its parameters' objects (link, below), so the loaded optimizer updates
the loaded model, as torch's unpickled pair does; a parameter of no saved module loads as
a parameter of its own.
"""
from .errors import SerializationError


def _optimizer_class():
    from .optim.optimizer import Optimizer
    return Optimizer


def is_optimizer(obj):
    return isinstance(obj, _optimizer_class())


def encode(encoder, opt, path):
    """The JSON node for an optimizer (encoder is serialization._Encoder)."""
    cls = type(opt)
    if "<locals>" in cls.__qualname__:
        raise SerializationError(f"tracecomp.save: {path} is a {cls.__qualname__}, a class "
                                 f"defined inside a function, which loading cannot find; "
                                 f"define it at module level, or save {path}.state_dict()")
    params, seen = [], set()
    for group in opt.param_groups:
        for p in group["params"]:
            if id(p) not in seen:
                seen.add(id(p))
                params.append(p)
    return ["optimizer", f"{cls.__module__}:{cls.__qualname__}",
            encoder.node(dict(opt.defaults), f"{path}.defaults"),
            [encoder.node(p, f"{path} parameter {k}") for k, p in enumerate(params)],
            encoder.node(opt.state_dict(), f"{path}.state_dict()")]


def decode(decoder, args, depth):
    """The optimizer an ["optimizer", ...] node describes (decoder is
    serialization._Decoder)."""
    from .saved_module import find_class
    if len(args) != 4 or not isinstance(args[0], str) or not isinstance(args[2], list) or \
            not all(isinstance(n, list) and n[:1] in (["param"], ["tensor"]) and len(n) == 2
                    for n in args[2]):
        raise SerializationError(f"{decoder.name}: malformed header: optimizer node")
    cls = find_class(args[0], decoder.name, _optimizer_class(), "optimizer")
    defaults = decoder.node(args[1], depth)
    params = [decoder.node(n, depth) for n in args[2]]
    state = decoder.node(args[3], depth)
    groups = state.get("param_groups") if isinstance(state, dict) else None
    if not isinstance(defaults, dict) or not isinstance(groups, list) or not all(
            isinstance(g, dict) and isinstance(g.get("params"), list) and all(
                type(k) is int and 0 <= k < len(params) for k in g["params"])
            for g in groups):
        raise SerializationError(f"{decoder.name}: malformed header: state of {args[0]}")
    try:
        opt = cls([{**g, "params": [params[k] for k in g["params"]]} for g in groups])
        opt.defaults = defaults
        opt.load_state_dict(state)
    except Exception as exc:
        raise SerializationError(f"{decoder.name}: rebuilding {args[0]} from its saved "
                                 f"parameter groups failed ({type(exc).__name__}: {exc}); "
                                 f"has the class changed since the file was saved?") from exc
    return opt


def link(decoder, module, state_node):
    """After a module loaded its state_dict: each parameter the file stores as ["param", i]
    (saved with keep_vars=True, all of them) becomes the object table entry i loaded as,
    with the entry's requires_grad (a parameter frozen after construction, as a fine-tuning
    script's, stays frozen, as in torch's pickle). An optimizer in the same file, before or
    after the module, decodes its parameters from the same entries: both hold one object."""
    owners = {name: (module.get_submodule(name.rpartition(".")[0]), name.rpartition(".")[2])
              for name, _ in module.named_parameters(remove_duplicate=False)}
    for key, value in state_node[1]:
        if not (isinstance(value, list) and value[:1] == ["param"] and len(value) == 2):
            continue
        name = decoder.node(key)
        made = decoder.made_param(value[1])
        if name in owners and made is not None:
            setattr(*owners[name], made)
