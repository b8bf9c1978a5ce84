"""What a compiled call reads besides its arguments, found by walking its modules and
optimizers: the parameters, buffers and tensor attributes of the modules (depth first),
the optimizers' parameters, state and fed hyperparameters, and the .grad tensors, each
with a readable label (the signature's), plus the training flags and hooks.

The walk is kept between calls while nothing the modules hold changes (nn/structure.py
counts the changes). A list or tuple attribute none of whose tensors a trace read (a
policy's `saved_log_probs`, grown after every call for the loss outside) leaves the walk
after that trace (`note_unread`), so its new tensors do not compile the function again.
"""
import operator

from ..nn import global_hooks, structure
from ..sparse_data import SparseData
from ..tensor import Tensor
from .attributes import INTERNAL, tensors_of
from .hyperparameters import group_settings


def collect(modules, optimizers, memo=None, fed=None):
    """[(label, tensor)] of everything read besides the arguments, module paths for
    source lines, the training flags and the optimizers' hyperparameters (signature).

    memo: a dict the caller keeps between calls, where the walk over the modules is kept
    while nothing they hold changes (nn/structure.py counts the changes). fed: the
    caller's hyperparameters.FedSettings, which hyperparameters it feeds as inputs."""
    if not modules and not optimizers:      # a plain function of its arguments
        return [], {}, ()
    kept = memo.get("walk") if memo is not None else None
    if kept is not None and kept[0] == structure.version() and len(kept[1]) == len(modules) \
            and all(map(operator.is_, kept[1], modules)):
        walk = kept[2]
    else:
        walk = _walk(modules, memo.get("unread", ()) if memo is not None else ())
        if memo is not None:
            memo["walk"] = (structure.version(), tuple(modules), walk) if walk[4] else None
            memo["listed"] = walk[5]
    state, module_names, flags, params = list(walk[0]), walk[1], walk[2], walk[3]
    if not optimizers and all(p.grad is None for p in params):
        return state, module_names, flags
    seen = {id(t) for _, t in state}
    flags, params = list(flags), list(params)
    # labels of what follows are tuples, formatted only when shown (signature.label_text)
    labels = {id(t): label for label, t in state}   # for grads and optimizer state

    def add(label, t):
        if id(t) not in seen:
            seen.add(id(t))
            state.append((label, t))
            labels.setdefault(id(t), label)
    for o, opt in enumerate(optimizers):
        for g, group in enumerate(opt.param_groups):
            for k, p in enumerate(group["params"]):
                if id(p) not in seen:
                    add(("param", o, g, k), p)
                    params.append(p)
            entry, feeds = group_settings(o, g, opt, group, fed)
            flags.append((("settings", o, g), entry))
            for label, t in feeds:
                add(label, t)
        for p, entries in opt.state.items():
            for key, v in entries.items():
                if isinstance(v, Tensor):
                    add(("state", labels.get(id(p), "param"), key), v)
                elif type(v) in (int, float):   # a hand-written optimizer's step count
                    fed_number = fed is not None and (id(entries), key) in fed.state_numbers
                    flags.append((("state", labels.get(id(p), "param"), key),
                                  f"fed {type(v).__name__}" if fed_number else v))
    for p in params:
        grad = p.grad
        if grad is not None and id(grad) not in seen:
            seen.add(id(grad))
            state.append((("grad", labels.get(id(p), "param")), grad))
    return state, module_names, tuple(flags)


def _walk(modules, unread=()):
    """(state, module names, training flags, parameters, whether the walk may be kept,
    {label: (module id, attribute)} of the tensors listed in attributes) of the modules:
    each one's parameters, buffers and tensor attributes, depth first; not the list and
    tuple attributes in `unread` (note_unread)."""
    state, seen, module_names, flags, keep, listed = [], set(), {}, [], True, {}
    if global_hooks.any_hooks():    # traced into every module's call: a new one compiles again
        flags.append(("hooks of every module", global_hooks.signature()))
    for r, root in enumerate(modules):      # inlined (no helper calls): it was per call
        prefix = "" if len(modules) == 1 else f"m{r}."
        stack = [(prefix, root)]
        while stack:
            path, mod = stack.pop()
            if id(mod) in module_names:
                continue
            module_names[id(mod)] = path[:-1] if path else ""
            flags.append((("training of", path), mod.training))
            hooks = (mod._forward_pre_hooks, mod._forward_hooks, mod._backward_hooks,
                     mod._backward_pre_hooks)
            if any(hooks):      # traced in (or refused): a new one compiles again
                flags.append((("hooks of", path), tuple(tuple(h) for h in hooks)))
            for table in (mod._parameters, mod._buffers):
                keep = keep and type(table) is structure.Registry
                for name, t in table.items():
                    # a sparse buffer stays a constant of the graph (what its ops read)
                    if t is not None and id(t) not in seen and type(t._data) is not SparseData:
                        seen.add(id(t))
                        state.append((path + name, t))
                        if t._hooks or t._post_accumulate_hooks:     # traced in: as above
                            flags.append((("hooks of", path + name),
                                          (tuple(t._hooks or ()),
                                           tuple(t._post_accumulate_hooks or ()))))
            for name, v in mod.__dict__.items():    # tensors kept as plain attributes
                if isinstance(v, (Tensor, tuple, list, dict)) and name not in INTERNAL:
                    if (id(mod), name) in unread and not isinstance(v, Tensor):
                        continue
                    held = [(k, t) for k, t in tensors_of(v) if type(t._data) is not SparseData]
                    # a list or dict (of tensors, or empty, or in a tuple) can gain a tensor
                    # unseen by the change count; a list of numbers (Conv2d's padding) is kept
                    if keep and not isinstance(v, Tensor):
                        keep = not (isinstance(v, (list, dict)) and (not v or held)
                                    or any(isinstance(e, (list, dict)) for e in
                                           (v.values() if type(v) is dict else v)))
                    for suffix, t in held:
                        if id(t) not in seen:
                            seen.add(id(t))
                            label = path + name + suffix
                            state.append((label, t))
                            if not isinstance(v, Tensor):
                                listed[label] = (id(mod), name)
            children = mod._modules
            keep = keep and type(children) is structure.Registry
            if children:
                stack.extend((f"{path}{name}.", child) for name, child in
                             reversed(children.items()) if child is not None)
    params = [t for _, t in state if t._requires_grad]
    return state, module_names, tuple(flags), params, keep, listed


def unused_labels(graph, nodes, state):
    """The labels of the state entries whose graph inputs (`nodes`) the graph never uses."""
    used = {id(v) for n in graph.nodes for v in n.inputs} | set(map(id, graph.outputs))
    return [label for (label, _), node in zip(state, nodes) if id(node) not in used]


def note_unread(memo, art, roots):
    """After a trace (art): the list and tuple attributes none of whose tensors it read (a
    policy's `saved_log_probs`, appended to after every call and read only by the loss
    outside) leave the walks from now on, so their new tensors do not compile the function
    again; not those the code itself assigns (attributes.py), which it may read back on
    the next call. Should a later trace read one after all, it is a tensor from outside,
    guarded as such (outside_tensors.py)."""
    listed = memo.get("listed")
    if not listed:
        return
    by_attribute = {}
    for label, key in listed.items():
        by_attribute.setdefault(key, []).append(label)
    unread_labels = set(art.unread_state)
    new = {key for key, labels in by_attribute.items() if unread_labels.issuperset(labels)}
    new -= {(id(w.owner(roots)), w.name) for w in art.attribute_writes}
    unread = memo.setdefault("unread", set())
    if not new <= unread:
        unread |= new
        memo["walk"] = None     # walk again without them

