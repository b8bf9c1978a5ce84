"""`tracecomp.save(model, path)` of a whole module, and loading it back, with no pickle.

torch.save(model) pickles the module, and loading a pickle can run any code its author
wanted. Here a module is saved as data only:

    ["module", "package.module:Class", args, kwargs, state_dict, training, changes]

where args/kwargs are the arguments its constructor was called with (Module.__new__
records them), state_dict is the module's own, training lists the train/eval flag of
every submodule by path, and changes the submodules set, replaced or deleted after the
constructor returned (nn/as_built.py: `net.fc = nn.Linear(512, 10)`), by path: each a
module node, ["same", path] for a module also at an earlier path, or null (deleted);
files written before changes existed lack it.

Loading finds the class among the modules Python has ALREADY imported (nothing is
imported because a file names it: the program that loads must define or import the
class, as torch's loader also requires), checks that it is an nn.Module subclass, calls
it with the saved arguments (plain data, or other saved modules), then makes the
changes, loads the state_dict strictly and restores the train/eval flags.

What does not come back: attributes other than submodules set after construction that are
not in the state_dict (torch's pickle keeps those), and constructor arguments that are
neither data nor modules (a function, an open file), which save() refuses, naming the
argument. Reparametrized weights are refused too: a parametrized module with torch's own
RuntimeError (torch.save refuses it as well), and the hook-based legacy weight_norm,
spectral_norm and pruning naming the submodule (their state_dict keys would not load into
the rebuilt module); their state_dict saves and loads.

A compiled module (`tracecomp.compile(model)`, as torch.save(torch.compile(model)) pickles
torch's OptimizedModule) is saved as ["compiled", module node, backend, fallback,
recompile_limit, cache_size, fullgraph] (files written before cache_size or fullgraph
existed lack them) and loads as the rebuilt module compiled again with those options.
"""
import sys

from . import saved_optimizer
from .errors import SerializationError


def _module_class():
    from .nn.module import Module
    return Module


def _compiled_class():
    from .compiler.compiled_module import OptimizedModule
    return OptimizedModule


def is_module(obj):
    return isinstance(obj, _module_class())     # a compiled module is one too


def encode_any(encoder, obj, path):
    """The JSON node for a module or a compiled module."""
    if not isinstance(obj, _compiled_class()):
        return encode(encoder, obj, path)
    fn = obj._compiled
    return ["compiled", encode(encoder, obj._orig_mod, f"{path}._orig_mod"), fn.backend,
            fn.fallback, fn.recompile_limit, fn.cache.size, fn.fullgraph]


def decode_compiled(decoder, args, depth):
    """The compiled module a ["compiled", ...] node describes."""
    from .artifact_cache import CACHE_SIZE
    from .compiler.api import compile
    if len(args) == 4:          # written before cache_size was saved
        args = [*args, CACHE_SIZE]
    if len(args) == 5:          # written before fullgraph was saved
        args = [*args, False]
    if (len(args) != 6 or not isinstance(args[0], list) or args[0][:1] != ["module"]
            or not (args[1] is None or isinstance(args[1], str))   # None: by device
            or args[2] not in (None, "eager")
            or type(args[3]) is not int
            or not (args[4] is None or (type(args[4]) is int and args[4] > 0))
            or type(args[5]) is not bool):
        raise SerializationError(f"{decoder.name}: malformed header: compiled module node")
    module = decoder.node(args[0], depth)
    return compile(module, backend=args[1], fallback=args[2], recompile_limit=args[3],
                   cache_size=args[4], fullgraph=args[5])


def encode(encoder, module, path):
    """The JSON node for a module (encoder is serialization._Encoder)."""
    cls = type(module)
    where = f"{cls.__module__}:{cls.__qualname__}"
    if "<locals>" in cls.__qualname__:
        raise SerializationError(f"tracecomp.save: {path} is a {cls.__qualname__}, a class "
                                 f"defined inside a function, which loading cannot find; "
                                 f"define it at module level, or save model.state_dict()")
    _refuse_reparametrized(module, path)
    args, kwargs = module.__dict__.get("_init_args", ((), {}))
    try:
        arg_nodes = encoder.node(tuple(args), f"{path} constructor arguments")
        kwarg_nodes = encoder.node(dict(kwargs), f"{path} constructor arguments")
    except SerializationError as exc:
        raise SerializationError(f"{exc}. A whole module is saved as its class, its "
                                 f"constructor arguments and its state_dict; save "
                                 f"model.state_dict() instead") from None
    # the parameters themselves (keep_vars), so that an optimizer saved with the module
    # refers to the same table entries (saved_optimizer.py)
    state = encoder.node(module.state_dict(keep_vars=True), f"{path}.state_dict()")
    training = [[name, m.training] for name, m in module.named_modules()]
    changes = _changes(encoder, module, path)
    return ["module", where, arg_nodes, kwarg_nodes, state, training] + (
        [changes] if changes else [])


def _refuse_reparametrized(module, path):
    """Raise when a module under `module` has a reparametrized weight (see the top)."""
    from .nn.utils.parametrize import is_parametrized
    from .nn.utils.prune import BasePruningMethod
    from .nn.utils.spectral_norm import SpectralNorm
    from .nn.utils.weight_norm import WeightNorm
    hooks = (WeightNorm, SpectralNorm, BasePruningMethod)
    for where, sub in module.named_modules(prefix=path):
        if is_parametrized(sub):
            sub.__getstate__()      # torch's message: only through state_dict()
        for hook in sub._forward_pre_hooks.values():
            if isinstance(hook, hooks):
                name = hook._tensor_name if isinstance(hook, BasePruningMethod) else hook.name
                raise SerializationError(
                    f"tracecomp.save: {where} has its `{name}` reparametrized by a "
                    f"{type(hook).__name__} hook, which a saved module (rebuilt from its "
                    f"class and constructor arguments) cannot bring back; save "
                    f"model.state_dict() and apply the same reparametrization before "
                    f"loading it")


def _changes(encoder, root, path):
    """[[sub-path, node]] for each submodule changed since its parent's constructor
    returned, anywhere under root, parents first (a changed child's own node holds the
    changes inside it)."""
    from .nn import as_built
    entries, seen = [], {id(root): ""}

    def walk(module, prefix):
        changed = dict(as_built.changed(module))
        for name, child in module._modules.items():
            if child is None:
                continue
            where = prefix + name
            if name in changed:
                if id(child) in seen:
                    entries.append([where, ["same", seen[id(child)]]])
                else:
                    seen[id(child)] = where
                    entries.append([where, encode_any(encoder, child, f"{path}.{where}")])
            elif id(child) not in seen:
                seen[id(child)] = where
                walk(child, where + ".")
        entries.extend([prefix + name, None] for name, child in changed.items()
                       if child is None)
    walk(root, "")
    return entries


def decode(decoder, args, depth):
    """The module a ["module", ...] node describes (decoder is serialization._Decoder)."""
    name = decoder.name
    if len(args) not in (5, 6) or not isinstance(args[0], str) or not isinstance(
            args[4], list) or not isinstance(args[5:] and args[5], list):
        raise SerializationError(f"{name}: malformed header: module node {args[:1]!r}")
    cls = find_class(args[0], name)
    ctor_args = decoder.node(args[1], depth)
    ctor_kwargs = decoder.node(args[2], depth)
    if not isinstance(ctor_args, tuple) or not isinstance(ctor_kwargs, dict) or not all(
            isinstance(k, str) for k in ctor_kwargs):
        raise SerializationError(f"{name}: malformed header: constructor arguments of "
                                 f"{args[0]}")
    state = decoder.node(args[3], depth)
    try:
        module = cls(*ctor_args, **ctor_kwargs)
    except Exception as exc:
        raise SerializationError(f"{name}: rebuilding {args[0]} with its saved constructor "
                                 f"arguments failed ({type(exc).__name__}: {exc}); has the "
                                 f"class changed since the file was saved?") from exc
    for entry in args[5] if len(args) == 6 else ():
        _apply_change(decoder, module, entry, depth)
    module.load_state_dict(state)
    if isinstance(args[3], list) and args[3][:1] == ["odict"] and len(args[3]) > 1:
        saved_optimizer.link(decoder, module, args[3])
    flags = dict(entry for entry in args[4] if isinstance(entry, list) and len(entry) == 2)
    for path, m in module.named_modules():
        if isinstance(flags.get(path), bool):
            object.__setattr__(m, "training", flags[path])
    return module


def _apply_change(decoder, module, entry, depth):
    """One saved change: the submodule at entry's path set (decoded, or the module at
    another path) or deleted."""
    malformed = SerializationError(f"{decoder.name}: malformed header: a change of "
                                   f"{type(module).__name__}'s submodules")
    if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
        raise malformed
    where, node = entry
    owner_path, _, name = where.rpartition(".")
    try:
        owner = module.get_submodule(owner_path)
        if node is None:
            if name in owner._modules:
                delattr(owner, name)
        elif isinstance(node, list) and node[:1] == ["same"] and len(node) == 2:
            setattr(owner, name, module.get_submodule(node[1]))
        else:
            setattr(owner, name, decoder.node(node, depth))
    except (AttributeError, TypeError) as exc:
        raise SerializationError(f"{decoder.name}: the saved {type(module).__name__} had "
                                 f"{where!r} changed after construction, but the rebuilt "
                                 f"one has no such place ({exc}); has the class changed "
                                 f"since the file was saved?") from exc


def find_class(where, name, base=None, what="nn.Module"):
    """The class `package.module:Qualname`, among modules already imported only, which must
    subclass `base` (nn.Module unless given; saved_optimizer asks for an Optimizer)."""
    base = base or _module_class()
    module_name, _, qualname = where.partition(":")
    owner = sys.modules.get(module_name)
    if owner is None:
        raise SerializationError(
            f"{name}: the file holds a {where.replace(':', '.')} {what.rpartition('.')[2]}, "
            f"but its module {module_name!r} is not imported; import it (or define the "
            f"class) before tracecomp.load: loading never imports code because a file names it")
    obj = owner
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if not (isinstance(obj, type) and issubclass(obj, base)):
        raise SerializationError(f"{name}: {where.replace(':', '.')} is not an {what} "
                                 f"class in the running program; loading rebuilds only "
                                 f"{what} subclasses")
    return obj
