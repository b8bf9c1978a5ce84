"""What a compiled call reads and writes besides its arguments.

Reads: the parameters, buffers and tensor attributes of the modules it uses (a tensor kept
as a plain attribute is read like a buffer: attributes.py), their `.grad` tensors,
and the state of the optimizers it uses (momentum buffers, Adam's moments and step
counts). All of them become graph inputs, so their current values are used on every call
and nothing is baked in. So do the optimizers' hyperparameters that change between calls
or are tensors (hyperparameters.py); the others are compiled in.

Writes (effects), found by comparing before and after tracing, then replayed after every
call on the real objects:
  - data:  an in-place update of an input (BatchNorm's running statistics, `p.add_(...)`
           in an optimizer step) is written into the tensor's own buffer, or, when nothing
           but the tensor can see that buffer, the tensor takes the new array instead;
  - grad:  `.grad` set by a traced `loss.backward()` or cleared by `zero_grad()`;
  - state: a new or replaced optimizer state entry (the first step creates them);
  - a module attribute or buffer rebound to a new tensor (`self.h = ...`): an extra output
    assigned after every call (attributes.py).
Tracing itself changes nothing the user can see: every holder's data, `.grad` and every
optimizer's state are restored when tracing ends.
"""
import functools
import sys
import threading
import weakref
from types import BuiltinFunctionType, FunctionType, MethodType, ModuleType

import numpy as np

from .. import devices
from ..device_array import DeviceArray
from ..errors import TraceError
from ..ir import Node
from ..nn.module import HOOK_TABLES, Module
from ..tensor import Tensor
from ..tracing.number import TracedNumber
from ..user_code import stale_error
from .code_names import filled, global_names, helpers
from .object_stores import slot_names, slot_values
from .signature import label_text


class Effect:
    # a plain class, not a dataclass (passes/memory.py's MemoryPlan says why)
    def __init__(self, kind, target, has_value, number=None):
        self.kind = kind    # "data" | "grad" | "state" | "number" | "flag" (requires_grad_())
        # an input position (data, grad, flag), or (optimizer, param, key)
        self.target = target
        # takes a forward output (False: .grad set to None, or a flag)
        self.has_value = has_value
        # "number" (a Python number in an optimizer's state, `state['step'] += 1`): its
        # type, given its 0-d output; or, without one, the constant the trace stored (a new
        # entry)
        self.number = number


@functools.cache       # runs on every compiled call: the import statement alone costs ~1 us
def optimizer_types():
    from ..optim.optimizer import Optimizer
    return Optimizer


def roots_of(fn, args):
    """(modules, optimizers, links): the modules and optimizers a function uses, so their
    parameters and state are inputs, not constants. They are what it reaches directly
    (`starts`: arguments, closure, the globals it names, a bound method's own object), or
    one level inside those: an element of a list, tuple or dict, an attribute of a plain
    object (a trainer's `self.model` and `self.opt`) or an optimizer kept by a module, and
    the optimizers an optimizer found holds, at any depth (SAM steps its base_optimizer).
    `links` says how each one found inside something was reached: (holder, how, key), how
    being "attr" or "item" (follow)."""
    optimizer = optimizer_types()
    modules, optimizers, links = [], [], []

    def add(x, link=None):
        found = modules if isinstance(x, Module) else optimizers \
            if isinstance(x, optimizer) else None
        if found is not None and all(x is not y for y in found):
            found.append(x)
            if link is not None:
                links.append((*link, x))
        return found is not None
    def walk(found):
        for _, x in found:
            if add(x) and not isinstance(x, Module):
                continue
            for how, holder, key, value in inside(x):
                if not isinstance(x, Module) or isinstance(value, optimizer):
                    add(value, (holder, how, key))
    walk(starts(fn, args))
    for opt in optimizers:  # grows: an optimizer wrapping one (SAM's base_optimizer,
        for how, holder, key, value in inside(opt):     # Lookahead's optimizer) steps it
            if isinstance(value, optimizer):
                add(value, (holder, how, key))
    if optimizers:      # an optimizer's step runs its step hooks: what they reach too
        walk(step_hook_starts(optimizers))
    return modules, optimizers, links


def loose_state(optimizers):
    """A TraceError for an optimizer state entry that is not a parameter's dict (MADGRAD's
    step count `self.state['k'] = torch.tensor([0])`), or None: compiled code reads and
    writes back an optimizer's state per parameter, so such a step runs eagerly."""
    for opt in optimizers:
        for key, entries in opt.state.items():
            if not isinstance(entries, dict):
                return TraceError(
                    f"{type(opt).__name__} keeps state[{_key_text(key)}] as a "
                    f"{type(entries).__name__}, not a dict of one parameter's entries: "
                    f"compiled code reads and writes back optimizer state per parameter "
                    f"(state[p]['exp_avg']), so its step runs eagerly. Keep the value in "
                    f"each parameter's entries (state[p]['k']) to compile the step.")
    return None


def _key_text(key):
    return repr(key) if isinstance(key, (str, int)) else f"<a {type(key).__name__}>"


def step_hook_starts(optimizers):
    """starts() of the step hooks the optimizers' steps run (own and global, pre and post):
    ema-pytorch's post-step hook updates its EMA model there (held as constants, every
    compiled call lost those updates)."""
    hooks = optimizer_hook_tables()
    found = [hooks._global_pre_hooks.values(), hooks._global_post_hooks.values()]
    found += [opt.__dict__.get(table, {}).values() for opt in optimizers
              for table in ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks")]
    return [start for table in found for hook in table for start in hook_starts(hook)]


@functools.cache
def optimizer_hook_tables():
    from ..optim import hooks  # (not at import: tracecomp.optim imports the compiler)
    return hooks


def hook_starts(hook):
    """starts() of a hook, looking through the functools.partial that binds its first
    arguments (fastai's `m.register_forward_hook(partial(f, self))`, course22p2's Hooks):
    what a partial binds is reached as a closure variable is."""
    found = []
    while isinstance(hook, functools.partial):
        found += [(("bound", len(found)), v) for v in (*hook.args, *hook.keywords.values())]
        hook = hook.func
    return found + starts(hook, ())


def starts(fn, args):
    """[(where, object)] of what fn reaches directly: ("arg", k) its arguments, ("cell", k)
    its filled closure cells, ("global", name) the global names its code uses (None where
    unbound), ("default", name) the defaults of the parameters the call leaves out (`def
    step(x, y, opt=opt)`, a way to bind a loop's optimizer), ("helper", k, name) the global
    names and ("helper", k, j) the closure cells of the k-th of the user's functions fn calls
    (`def step(x): return body(x)`, body using the global model and opt), ("self",) a bound
    method's own object. `start` finds `where` again."""
    found = [(("arg", k), a) for k, a in enumerate(args)]
    code = getattr(fn, "__code__", None)
    if code is not None:
        if fn.__closure__:
            found += [(("cell", k), c.cell_contents) for k, c in enumerate(fn.__closure__)
                      if filled(c)]
        look = fn.__globals__.get
        found += [(("global", n), look(n)) for n in code.co_names]
        found += [(("default", n), d) for n, d in defaults_used(fn, len(args)).items()]
        for k, helper in enumerate(helpers(fn)):
            look = helper.__globals__.get
            found += [(("helper", k, n), look(n)) for n in global_names(helper.__code__)]
            found += [(("helper", k, j), c.cell_contents)
                      for j, c in enumerate(helper.__closure__ or ()) if filled(c)]
    owner = getattr(fn, "__self__", None)
    if owner is not None and not isinstance(owner, ModuleType):
        found.append((("self",), owner))
    return found


def start(fn, args, where):
    """What `where` (a place of starts()) holds in this call of fn, or None."""
    kind, *key = where
    if kind == "arg":
        return args[key[0]] if key[0] < len(args) else None
    if kind == "cell":
        cells = fn.__closure__ or ()
        cell = cells[key[0]] if key[0] < len(cells) else None
        return cell.cell_contents if cell is not None and filled(cell) else None
    if kind == "global":
        return fn.__globals__.get(key[0])
    if kind == "default":
        return defaults_used(fn, len(args)).get(key[0])
    if kind == "helper":
        found = helpers(fn)
        if key[0] >= len(found):
            return None
        helper, name = found[key[0]], key[1]
        if isinstance(name, str):
            return helper.__globals__.get(name)
        cells = helper.__closure__ or ()
        return cells[name].cell_contents if name < len(cells) and filled(cells[name]) else None
    return getattr(fn, "__self__", None)


def defaults_used(fn, n_args):
    """{parameter name: its default} for fn's parameters a call with n_args positional
    arguments leaves out: positional ones past those given, and keyword-only ones."""
    code = fn.__code__
    if isinstance(fn, MethodType):      # the call's arguments come after `self`
        n_args += 1
    positional = fn.__defaults__ or ()
    first = code.co_argcount - len(positional)
    used = {code.co_varnames[first + k]: d for k, d in enumerate(positional)
            if first + k >= n_args}
    used.update(fn.__kwdefaults__ or {})
    return used


def follow(holder, how, key):
    """What a link's holder holds there now (roots_of; "cell": a closure cell's value),
    or None."""
    if how == "cell":
        return holder.cell_contents if filled(holder) else None
    if how == "attr":
        return getattr(holder, "__dict__", {}).get(key)
    try:
        return holder[key]
    except (IndexError, KeyError, TypeError):
        return None


# threading's synchronization objects: other threads change what they hold (an Event's flag,
# the waiters a Condition's deque lists) while a trace runs, so a change seen there is not
# the compiled code's to guard, replay or undo (a thread waiting on an Event the code sets
# made its waiters' deque "changed", and undoing the trace's changes cleared a flag another
# thread had set, so the eager run after the break waited for ever)
SYNC = (threading.Event, threading.Condition, threading.Semaphore, threading.Barrier)
_OPAQUE = (type, ModuleType, FunctionType, BuiltinFunctionType, MethodType, Tensor,
           np.ndarray, str, bytes, int, float, complex, bool, functools.partial, *SYNC)


def inside(x):
    """(how, holder, key, value) for what x holds one level down: the elements of a list,
    tuple or dict, or the attributes of a plain object (its __slots__' too) or a module
    (not of classes, Python modules, functions, tensors or numbers). A container of more
    than INSIDE_MAX entries is data (a dataset, a vocabulary), not a few models: not
    looked into, as roots_of runs on every call that has no fast path."""
    if type(x) in (list, tuple):
        return [("item", x, k, v) for k, v in enumerate(x)] if len(x) <= INSIDE_MAX else []
    if type(x) is dict:
        return [("item", x, k, v) for k, v in x.items()] if len(x) <= INSIDE_MAX else []
    if x is None or isinstance(x, _OPAQUE):
        return []
    d = getattr(x, "__dict__", None)
    if slot_names(type(x)):     # and what its __slots__ hold
        d = {**(d if type(d) is dict else {}), **slot_values(x)}
    if type(d) is not dict or len(d) > INSIDE_MAX:
        return []
    return [("attr", x, k, v) for k, v in d.items()]


INSIDE_MAX = 64


def own_table(holder, name, value):
    """Whether holder.name (value) is tracecomp's bookkeeping, not a container of the
    user's to guard or replay: one of a module's own tables (its registries, hook tables,
    the names of its non-persistent buffers: OrderedDicts and a set), which attributes.py
    and structure.py keep; an optimizer's state (a defaultdict), written back as effects;
    or any container but a plain dict or list that an object of tracecomp's class holds
    (a GradScaler's defaultdict of per-optimizer states). An optimizer's attribute holding
    the state of an optimizer it wraps is that state too (Lookahead's `self.fast_state =
    self.optimizer.state`)."""
    if type(name) is not str:   # a dict's key (a parameter keying step counts)
        return False
    if isinstance(holder, Module) and name in _MODULE_TABLES:
        return True
    return type(value) not in (dict, list) and (
        type(holder).__module__.startswith("tracecomp.") and not isinstance(holder, Module)
        or isinstance(holder, optimizer_types()) and (name == "state" or any(
            value is vars(o).get("state") for o in vars(holder).values()
            if isinstance(o, optimizer_types()))))


_MODULE_TABLES = frozenset(("_parameters", "_buffers", "_modules", "_forward_hooks",
                            "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                            "_non_persistent_buffers_set", *HOOK_TABLES))
DEPTH = 3       # how deep deep_tensors.py lifts: trainer -> .opt -> .param_momentum -> [p]


def describe_place(path):
    """A place of starts() and, one level in, (how, key) or None, in the user's words."""
    (kind, *name), step = path
    where = {"arg": "argument {}", "cell": "closure variable {}", "global": "global {}",
             "default": "the default of parameter {}", "bound": "argument {} a partial binds",
             "self": "the method's object"}[kind].format(*name)
    if step is None:
        return where
    return f"{where}, {'attribute' if step[0] == 'attr' else 'item'} {step[1]!r}"


def refuse_kept_traced(fn, args, stand_ins):
    """After a trace of fn(*args): a tensor the code computed, kept where it reaches
    (appended to a global list, stored in an argument's attribute), holds a graph value
    for good, and later calls would not store theirs: a TraceError naming the place.
    (`stand_ins`, the arguments' own stand-ins, are not the code's.)"""
    own = set(map(id, stand_ins))
    for where, x in starts(fn, args):
        for how, _, key, value in [(None, None, None, x), *inside(x)]:
            if isinstance(value, Tensor) and isinstance(value._data, Node) and \
                    id(value) not in own:
                place = describe_place((where, None if how is None else (how, key)))
                raise TraceError(
                    f"compiled code kept a tensor it computed in {place}: its Python runs "
                    f"once, when traced, so later calls would not store theirs (and this "
                    f"one holds no values). Return the tensor and store it after the call.")


def check_rebound(tracer, holders, effect_values):
    """Every real tensor the code updated in place must be one whose update is written
    back (an input, or new optimizer state); anything else would keep a trace-time value."""
    for h in holders:           # an input updated only through a view: the update is lost
        if tracer.is_stale(h):
            raise stale_error()
    known = {id(h) for h in holders}
    new_state = {id(v) for v in effect_values}
    for t, _ in tracer.rebound:
        if id(t) not in known and id(t._data) not in new_state and not tracer.made_here(t):
            if tracer.from_numpy.get(id(t)) is t:
                raise TraceError(
                    f"compiled code updated in place a tensor of shape {list(t.shape)} that "
                    f"from_numpy made: it shares the numpy array's memory, which a compiled "
                    f"call cannot write (nor tell whether anyone else reads it). Make the "
                    f"tensor with torch.zeros(...) or torch.tensor(array) (a copy) instead.")
            raise TraceError(
                f"compiled code updated a tensor of shape {list(t.shape)} in place that is not "
                f"one of its inputs (held more than {DEPTH} attributes or items below the "
                f"function's closure and globals, or inside an object passed as an "
                f"argument?): its update would be lost. Pass the tensor (or its module) as an "
                f"argument, or keep it in a global, a closure, or an attribute or item of "
                f"one, so it is an input.")


def arguments_made_leaves(stand_ins, tensors, nodes):
    """Effects for `x.requires_grad_()` inside the code on an argument that came without
    it: its graph input requires grad (the backward gives it a gradient, whose .grad the
    caller then reads), and after each call the caller's tensor requires grad, as it does
    eagerly."""
    effects = []
    for k, (s, (_, t), node) in enumerate(zip(stand_ins, tensors, nodes)):
        if s._requires_grad and not t._requires_grad and s._data is node:
            node.requires_grad = True
            effects.append(Effect("flag", k, False))
    return effects


def settle_updated_leaves(tracer, every):
    """Tracing ends: the nodes standing for updated leaves (Tracer._updated_leaf) stop
    requiring grad, as an op without a VJP must in the graph; any gradient through them
    was taken inside the trace. Refused: compile(model)'s forward that updates one of its
    inputs (a parameter, or an argument that requires grad) under no_grad (`w.clamp_()`)
    and then computes with it. Eagerly the later backward adds to the parameter's `.grad`,
    but the bridged backward graph gives gradients to graph inputs only, so it would be
    lost; a whole step differentiates in its own graph, where it arrives.
    every: (label, the tensor standing for that input in the trace)."""
    for _, node in tracer.leaves.values():
        node.requires_grad = False
    if tracer.did_backward or not tracer.leaves:
        return
    # only a use whose gradient is recorded loses it: an optimizer step compiled alone
    # reads its updated parameters only to write them back
    recorded = {id(i) for n in tracer.graph.nodes if n.requires_grad for i in n.node_inputs()}
    names = {id(t): label for label, t in every}
    held = sorted(label_text(names[id(tracer.holders[node])])
                  for _, node in tracer.leaves.values()
                  if id(node) in recorded and id(tracer.holders[node]) in names)
    if held:
        raise TraceError(
            f"compiled code updates {', '.join(held)} in place under no_grad and then "
            f"computes with it where gradients are recorded: the gradient of that use would "
            f"not reach its .grad, because compile(model)'s backward differentiates graph "
            f"inputs only. Update it outside the compiled call (before calling the model), "
            f"or compile the whole training step, whose backward is traced with it.")


class Snapshot:
    """Before tracing: every holder's .grad and every optimizer's state, to compare with
    afterwards (effects) and to restore.

    A Python number in an optimizer's state (a hand-written optimizer's `state['step'] =
    0`, then `+= 1`) is in the signature (state_walk.collect), and when the step moves it
    the call feeds it from then on, as outside_numbers.py feeds a trainer's `self.t`: the
    moved places are `moved` (OutsideNumbers.adopt's `found`), and the driver traces again
    with a stand-in there, whose new value is an output written back each call ("number").
    `outside`: the function's OutsideNumbers (None, or compile(dynamic=False), or a place
    it pinned: the move is a graph break, as the value would be compiled in)."""

    def __init__(self, holders, optimizers, outside=None):
        self.holders, self.optimizers, self.outside = holders, optimizers, outside
        self.grads = [h.grad for h in holders]
        # each parameter's own dict, and its entries: a fed number's place is that dict
        self.states = [{p: (entries, dict(entries)) for p, entries in opt.state.items()}
                       for opt in optimizers]
        self.moved = {}

    def effects(self, tracer, nodes):
        """(effects, their graph values) for what tracing changed."""
        effects, values = [], []
        for k, (h, node) in enumerate(zip(self.holders, nodes)):
            if h._data is not node:
                effects.append(Effect("data", k, True))
                values.append(tracer.lift(h))
        for k, (h, before) in enumerate(zip(self.holders, self.grads)):
            if h.grad is not before:
                effects.append(Effect("grad", k, h.grad is not None))
                if h.grad is not None:
                    values.append(tracer.lift(h.grad))
        loose = loose_state(self.optimizers)    # made by this step (MADGRAD's first)
        if loose is not None:
            raise loose
        for o, (opt, before) in enumerate(zip(self.optimizers, self.states)):
            for p, entries in opt.state.items():
                old = before[p][1] if p in before else {}
                for key, v in entries.items():
                    if key in old and old[key] is v:
                        continue
                    if isinstance(v, Tensor):
                        effects.append(Effect("state", (o, p, key), True))
                        values.append(tracer.lift(v))
                    elif type(v) is TracedNumber and v.recipe is not None:
                        # a fed count moved by the step: its new value, each call
                        effects.append(Effect("number", (o, p, key), True, type(v.value)))
                        values.append(tracer.lift(v.tensor))
                    elif key not in old and type(v) in (int, float):
                        effects.append(Effect("number", (o, p, key), False, v))
                    else:
                        self._moved(entries, key, old.get(key), v)
        return effects, values

    def _moved(self, entries, key, old, new):
        place, outside = (id(entries), key), self.outside
        if type(new) not in (int, float) or type(old) is not type(new) or outside is None or \
                outside.dynamic is False or place in outside.pinned:
            raise TraceError(f"optimizer state {key!r} changed to a Python value ({new!r}) "
                             f"inside compiled code: it would be fixed at its trace-time "
                             f"value; keep it in a tensor")
        self.moved[place] = (entries, key, type(new), f"optimizer state {key!r}")

    def restore(self):
        for h, g in zip(self.holders, self.grads):
            h.grad = g
        for opt, before in zip(self.optimizers, self.states):
            opt.state.clear()
            for p, (entries, content) in before.items():
                entries.clear()
                entries.update(content)
                opt.state[p] = entries


def apply(effects, values, every, optimizers, runner=None, first=0):
    """Replay the effects of one call on the real tensors and optimizers. values[j] is
    output first + j of `runner`; an output it hands over whole (runner.owned) becomes
    the updated tensor's array, in exchange for the old one, when nobody can tell, and
    new optimizer state's array for good."""
    owned = getattr(runner, "owned", None)
    j = 0       # values[j] is output first + j
    for e in effects:
        kind = e.kind
        if kind == "data":
            t = every[e.target]
            value = values[j]
            k, j = first + j, j + 1
            if value is t._data:                # the runner computed it in place
                pass
            elif type(t._data) is DeviceArray:  # every tensor sharing the box sees it
                t._data.assign(value if type(value) is DeviceArray else
                               devices.to_device(value, t._data.device))
            elif owned and owned[k] and _adoptable(t, value):
                runner.hand_over(k, value, t._data)
                t._data = value
            else:
                np.copyto(t._data, devices.to_host(value), casting="unsafe")
            t._vc[0] += 1
        elif kind == "grad":        # a new tensor each call: its buffer goes back to reuse
            if e.has_value:
                every[e.target].grad = Tensor._make(values[j])
                j += 1
            else:
                every[e.target].grad = None
        elif kind == "flag":        # requires_grad_() on an argument, before its backward
            every[e.target].requires_grad_(True)
        elif kind == "number":      # a Python number in an optimizer's state
            o, p, key = e.target
            if e.has_value:
                value, j = e.number(values[j]), j + 1
            else:
                value = e.number
            optimizers[o].state[p][key] = value
        else:                       # kept across calls, updated in place from now on
            value = values[j]
            k, j = first + j, j + 1
            if owned and owned[k]:
                runner.hand_over(k, value)
            o, p, key = e.target
            optimizers[o].state[p][key] = Tensor._make(value)


def _adoptable(t, new):
    """Whether array `new` can stand in for t's array with nobody able to tell but by its
    address (data_ptr): t's array is a plain array owning its memory that nothing but t
    references, strongly or weakly (no view, detached tensor, `.numpy()` result or saved
    value: eager updates those in place, so they need the copy), and new has its shape,
    dtype and C layout. Saves copying a whole step's parameters and optimizer state back
    (~60 us for an MLP)."""
    old = t._data
    return (_refs(t) == _ALONE + 1 and type(old) is np.ndarray and old.base is None
            and not _weakrefs(old)
            and old.shape == new.shape and old.dtype == new.dtype
            and old.flags.c_contiguous and new.flags.c_contiguous)


def _refs(t):
    return _refcount(t._data)


_refcount, _weakrefs = sys.getrefcount, weakref.getweakrefcount
_ALONE = _refs(Tensor._make(np.empty(1)))     # the count of an array only its tensor holds
