"""Tensors the traced code stores outside itself: a forward hook that keeps a layer's
output in a global dict (`activation["fc1"] = o.detach()`, the feature-extraction and
Grad-CAM recipe), a step that appends its loss to a global list. Replayed after every call.

A trace runs the Python once, so such a store would happen once, with a graph value in
place of a tensor. As torch.compile replays the side effects it traced, `KeptWatch` looks,
before and after the trace, at the containers the function and the forward hooks of its
modules reach (state.starts: arguments, closure, globals, a bound method's object, and one
attribute or element inside one, or two but for an argument's: a trainer's
`self.opt.param_momentum`; a dict, a list or a plain object's attributes, and their
subclasses: a defaultdict, a Counter, an OrderedDict, and what one holds; a deque; a set):
a traced tensor set under a key (a dict item, an attribute, a list element) or appended to
a list becomes an extra output of the graph (`Kept`), the container is put back as it was,
and after each call `apply` stores that call's tensor (with its autograd history, as
eagerly) the same way. So are constants (`log.append("step")`, `counts["n"] += 1`),
numbers .item() made, the arguments' own tensors (`cache[0] = x`) and the parameters and
buffers read as inputs (`d["w"] = model.weight`: the parameter itself). A leaf the code
makes (`nn.Parameter(y)`) is stored as a new leaf of its class each call, with the .grad
the code's backward gave it, as eagerly. A list found as a dict's item (a defaultdict(list)
of histories, `hist["loss"].append(loss.item())`) is the one each call finds at that key,
one the factory made while traced made again where missing. A deque's appends and
appendlefts (its maxlen dropping the oldest), a set's adds and discards, and the keys and
attributes removed (`cache.pop(k)`, `del d[k]`, `del obj.a`) likewise. A change to a list,
a deque, a set or an OrderedDict's order that no call can repeat (a pop, a rotate,
move_to_end) is a TraceError, as a graph break runs such a call eagerly; tracecomp's own
tables (a module's registries, an optimizer's state: state.own_table) are not watched.

The trace's arguments are copies of the call's (their tensors swapped for stand-ins), so a
store into a list, dict or object passed as an argument, or held one level inside one,
is replayed into the container *each call* passes there (d2l's decoder blocks keep their
keys in the state list they are given). A traced tensor kept anywhere else is a
TraceError (state.refuse_kept_traced), and so is an attribute stored on any other plain
object the code reaches, or to a value no call can store again (object_stores.py).
"""
import builtins
from collections import defaultdict, deque
from copy import deepcopy
from operator import is_
from types import FunctionType, MethodType, ModuleType

from ..errors import TraceError
from ..ir import Node
from ..nn.module import Module
from ..nn.parameter import Parameter
from ..tensor import Tensor
from ..tracing.number import TracedNumber
from .code_names import named_values, traced_functions
from .frozen_values import container
from .signature import constant
from .state import INSIDE_MAX, SYNC, follow, hook_starts, inside, own_table, starts


class Kept:
    # a plain class, not a dataclass (passes/memory.py's MemoryPlan says why)
    def __init__(self, holder, how, key=None):
        self.holder = holder    # the dict, list or object
        # "item" (holder[key] = value), "attr" (setattr), "append", "appendleft" (a
        # deque's), "add" or "discard" (a set's; discard's value is the key), "pop" (a
        # dict's key removed), "delattr" (an attribute removed) or "touch" (a
        # defaultdict's key read, made by its factory)
        self.how = how
        self.key = key
        # what _output learns of the value stored:
        self.number = None      # a number .item() made (`losses.append(loss.item())`): its type
        self.constant = ()      # (value,): a constant stored as it is (`log.append(1)`)
        self.argument = None    # an argument tensor stored (`cache[i] = x`): its position
        self.place = None       # a holder inside the arguments: (position, None or (how, key))
        # a leaf the code made (`nn.Parameter(y)`, `y.detach().requires_grad_()`): its class,
        # so each call stores a leaf of its own, as eagerly (a "grad" Kept after it, if
        # the code's backward gave it one, stores its .grad)
        self.leaf = None
        # (key,): the container is holder[key] (the holder a dict: a defaultdict(list)'s
        # list), looked up each call, a defaultdict making it where it is missing
        self.within = ()
        self.copied = False     # the constant is a list, dict or set: stored as a copy


class Undo:
    """`with ..., undo:` around a trace: when the trace raises, what `watch` (its
    KeptWatch, set once made) watches and the attributes `stores` (its object_stores.
    StoreWatch) noted are put back, before the contexts entered ahead of it (the fed
    hyperparameters' stand-ins) put back their own."""

    watch = stores = None

    def __enter__(self):
        return self

    def __exit__(self, kind, *rest):
        if kind is not None:
            for watch in (self.stores, self.watch):
                if watch is not None:
                    watch.restore()


class KeptWatch:
    """The containers fn (and hooks) reach, as they were before the trace."""

    def __init__(self, places, stand_ins, state=()):
        # {id of an argument's stand-in: its position} (f(x, x): x's first position)
        self.own = {id(s): k for k, s in reversed(list(enumerate(stand_ins)))}
        # the parameters, buffers and optimizer state read as inputs: stored as themselves
        # (`d["w"] = model.weight` keeps the parameter, as eagerly), not as a graph value
        self.state = {id(t) for t in state}
        self.before = {}    # id(container) -> (container, copy of its entries)
        # id(container) -> (argument position, None or (how, key) one level in): the
        # trace's arguments are copies (the tensors swapped for stand-ins), so a store
        # into one is replayed into the container each call passes there
        self.in_argument = {}
        # id(container) -> (dict, key): a container found as a dict's item (a
        # defaultdict(list) of histories, `hist["loss"].append(v)`), which each call finds
        # there again (the caller may put a new list there: `hist["loss"] = []`)
        self.in_dict = {}
        # id(defaultdict) -> (it, its factory, [the containers that made while traced]):
        # a key's list the factory made is appended to each call; one the code put there
        # (`hist[k] = []`) is stored anew
        self.factories = {}
        # the objects it reaches by name (not its arguments, which the trace copies): one
        # it assigns to a name (`CUR = DEFAULT`) is assigned again as itself each call
        self.reached = {}
        self.add(places)

    def add(self, places):
        """Watches the containers at `places` ([(where, object)]: state.starts') and one
        level inside (two but for an argument's), those watched already as they were
        first seen: fn's before the trace, a function's it runs that no name leads to as
        that starts (ran_functions.py)."""
        for where, x in places:
            inner = [(None, x)] + [((how, key), v) for how, _, key, v in _inside(x)]
            if where[0] != "arg":   # the lists in a tuple held one level in (a forward
                inner += [(step, e) for step, v in inner[1:]     # hook's `h.stats[0]`)
                          if type(v) is tuple and len(v) <= INSIDE_MAX for e in v]
                self.reached[id(x)] = x
            for step, value in inner:
                if step is not None and own_table(x, step[1], value):
                    continue        # a module's registries, an optimizer's state
                entries = _entries(value)
                if entries is None:
                    continue
                if where[0] != "arg" and step is not None:
                    self._in_dict(x, step[1], value)
                self.before.setdefault(id(value), (value, entries))
                self._watch_factory(value)
                if where[0] == "arg":
                    self.in_argument.setdefault(id(value), (where[1], step))
                elif step is not None:      # and one more level: a trainer's
                    for _, _, key, v in _inside(value):  # `self.opt.param_momentum[p] = m`
                        deeper = None if own_table(value, key, v) else _entries(v)
                        if deeper is not None:
                            self._in_dict(value, key, v)
                            self.before.setdefault(id(v), (v, deeper))

    def _watch_factory(self, d):
        """While traced, a defaultdict of lists, sets or deques notes what its factory
        makes (a wrapper in its default_factory, put back by _unwatch_factories)."""
        factory = getattr(d, "default_factory", None)
        if not isinstance(d, defaultdict) or factory not in _STORES or \
                id(d) in self.factories:
            return
        made = []

        def making():
            made.append(factory())
            return made[-1]
        self.factories[id(d)] = (d, factory, made)
        d.default_factory = making

    def _unwatch_factories(self):
        for d, factory, _ in self.factories.values():
            d.default_factory = factory

    def _in_dict(self, holder, key, value):
        """Notes that the container value (not a plain object: its stores are guarded as
        object_stores.py says), first seen now, is holder[key] of a dict holder."""
        if id(value) not in self.before and container(type(holder)) is dict and \
                container(type(value)) is not None and holder.get(key, _ABSENT) is value:
            self.in_dict[id(value)] = (holder, key)

    def restore(self):
        """Every container as it was before the trace, whatever it stored (a trace that
        failed: a graph break runs the call again eagerly, which makes its own stores;
        none of the trace's traced tensors may stay behind)."""
        self._unwatch_factories()
        for holder, before in self.before.values():
            _put_back(holder, before)

    def kept(self):
        """[(Kept, traced tensor or None)] of what the trace stored, each container put back:
        a traced tensor; a number .item() made (stored as its 0-d tensor, given as the
        number); a constant (a Python number, str, None or tuple of them: `log.append(1)`,
        `stats["mode"] = "train"`), stored as it is (None for its tensor); a key removed (None).
        An object appended that no call can append again (one the code makes) is refused."""
        out = []
        self._unwatch_factories()
        for holder, before in self.before.values():
            after = _entries(holder)
            base = container(type(holder))
            if base in (list, deque, set):
                # first: a tensor inside a new item has its own refusal (an appended list)
                self._refuse_nested(holder, before, after)
                stored = _STORES[base](self, holder, before, after)
                if stored:
                    _put_back(holder, before)
            else:
                how = "item" if base is dict else "attr"
                # a key or attribute removed (`cache.pop(k)`, `del d[k]`, `del obj.a`):
                # removed again after each call, as each eager call removes it
                stored = [(Kept(holder, _REMOVE[how], k), None) for k in before
                          if k not in after]
                if not stored and base is dict and type(holder) is not dict and \
                        not all(map(is_, after, before)):
                    _refuse(holder, "reordered its keys (move_to_end?)")
                made, factory_made = self._made(holder, before, after)
                stored += [(Kept(holder, how, k), v) for k, v in after.items()
                           if before.get(k, _ABSENT) is not v and self.repeatable(v)
                           and k not in factory_made]
                stored += made
                if stored:      # those keys as before, in its order (the guards hold it so)
                    _put_back(holder, _undone(before, after, {_key(k) for k, _ in stored}))
                    at = {k: j for j, k in enumerate(after)}    # a new key where eagerly
                    stored.sort(key=lambda pair: at.get(_key(pair[0]), -1))
            place = self.in_argument.get(id(holder))
            found = self.in_dict.get(id(holder))
            for k, _ in stored:
                if found is not None and not k.within:  # each call's list at hist["loss"]
                    k.holder, k.within = found[0], found[1:]
                if place is not None:
                    k.holder, k.place = None, place
            out += [pair for k, v in stored for pair in
                    ([(k, None)] if k.how in _KEYED else self._outputs(k, v))]
            if base not in (list, deque, set):
                self._refuse_nested(holder, before, after, {k.within for k, _ in stored})
        return out

    def rebound(self, places):
        """[(Kept, traced tensor or None)] of the names the code bound anew (`global
        running; running = 0.9 * running + 0.1 * m`, `step += 1`) to what each call can
        store again, or to an object it reached by name before the trace, as itself; a name
        bound to anything else (an object each eager call makes anew) is refused: compiled
        calls would leave it as it was before the trace."""
        out, unbound = [], []
        for holder, how, key, v in places:
            if self.repeatable(v):
                out += self._outputs(Kept(holder, how, key), v)
            elif self.reached.get(id(v)) is v:
                kept = Kept(holder, how, key)
                kept.constant = (v,)
                out.append((kept, None))
            else:
                unbound.append(key if how == "item" else "a closure variable")
        if unbound:
            raise TraceError(
                f"compiled code assigned {', '.join(map(str, unbound))} an object each call "
                f"makes anew (an array, a list, an object of its own class), which compiled "
                f"calls cannot assign again: a trace runs the Python once. With fullgraph=False "
                f"this call runs eagerly. Keep such bookkeeping outside the compiled function.")
        return out

    def _list_stores(self, holder, before, after):
        old = len(before)
        changed = [(k, v) for k, v in enumerate(after[:old]) if v is not before[k]]
        stored = [(Kept(holder, "item", k), v) for k, v in changed if self.repeatable(v)]
        if len(after) < old or len(stored) < len(changed):
            _refuse(holder, "removed items (a pop, a del, a clear) or replaced one with "
                            "an object each call makes anew")
        if not all(map(self.repeatable, after[old:])):
            # each eager call appends one, a compiled call none: the list would stop growing
            # (and a numpy argument's stand-in kept there would outlive its call)
            _refuse(holder, "appended an object each call makes anew (a numpy array, an "
                            "object of its own class), which compiled calls cannot append again")
        return stored + [(Kept(holder, "append"), v) for v in after[old:]]

    def _deque_stores(self, holder, before, after):
        """A deque's appends (on the right, the oldest items dropping out past its maxlen)
        or appendlefts: the fewest new items that give `after` when appended again (a
        full deque appended more than maxlen times keeps the last maxlen of them).
        Anything else (a pop, a rotate, appends on both sides) is refused."""
        if len(after) == len(before) and all(map(is_, after, before)):
            return []
        for how in ("append", "appendleft"):
            # as appendleft sees the deque: reversed, the new items appended in their order
            old, new = (before, after) if how == "append" else (before[::-1], after[::-1])
            for dropped in range(len(before) + 1):
                kept = len(before) - dropped
                added = new[kept:]
                if all(map(is_, new[:kept], old[dropped:])) and \
                        _same(_appended(old, added, holder.maxlen), new):
                    if not all(map(self.repeatable, added)):
                        _refuse(holder, f"used {how} with an object each call makes anew")
                    return [(Kept(holder, how), v) for v in added]
        _refuse(holder, "removed, rotated or replaced items (only append or appendleft "
                        "is repeated)")

    def _set_stores(self, holder, before, after):
        """A set's adds and discards. An object added that no call can add again (one the
        code makes) or removed that is not a constant is refused."""
        added = [v for v in after if v not in before]
        removed = [v for v in before if v not in after]
        if not all(map(self.repeatable, added)) or not all(map(constant, removed)):
            _refuse(holder, "added an object the code makes, or removed one that is not a "
                            "number, string or tuple of them")
        return [(Kept(holder, "discard", v), None) for v in removed] + \
            [(Kept(holder, "add"), v) for v in added]

    def _made(self, holder, before, after):
        """([(Kept, value)], keys): what the code put in the containers a defaultdict's
        factory made while traced (`hist["loss"].append(v)`, "loss" new), and their
        keys: each call appends to the container at that key, made again where it is
        missing, as eagerly (one left empty is made again: a read of a missing key)."""
        _, factory, made = self.factories.get(id(holder), (None, None, ()))
        out, keys = [], set()
        for key, v in after.items():
            if key in before or not any(v is m for m in made):
                continue
            keys.add(key)
            self._refuse_nested(v, factory(), _entries(v))
            stored = _STORES[factory](self, v, factory(), _entries(v))
            for k, _ in stored:
                k.holder, k.within = holder, (key,)
            out += stored or [(Kept(holder, "touch", key), None)]
        return out, keys

    def repeatable(self, v):
        return self._traced(v) or constant(v) or id(v) in self.own or \
            id(v) in self.state or id(v) not in self.before and _plain_data(v)

    def _traced(self, v):
        if type(v) is TracedNumber:     # .item()'s, or a fed number's (number_args.py,
            return True                 # outside_numbers.py): given as a Python number
        return isinstance(v, Tensor) and isinstance(v._data, Node) and \
            id(v) not in self.own and id(v) not in self.state

    def _outputs(self, kept, v):
        """[(Kept, the graph output it stores or None)] for a stored value: a state tensor
        as itself; a leaf the code made with its class, and its .grad after it."""
        if id(v) in self.state:
            kept.constant = (v,)
            return [(kept, None)]
        out = [_output(kept, v, self.own)]
        # a list, dict or set of constants the code made (`log.append({"step": 1})`): each
        # call stores a copy of its own, as each eager call makes its own
        kept.copied = bool(kept.constant) and not constant(v)
        if isinstance(v, Tensor) and v._requires_grad and v._node is None:
            kept.leaf = type(v)
            grad, g = Kept(None, "grad"), v.grad
            if g is not None:   # the trace's gradient: a graph value, or one it folded
                out.append((grad, g) if isinstance(g._data, Node) else (grad, None))
                grad.constant = () if isinstance(g._data, Node) else (g,)
        return out

    def _refuse_nested(self, holder, before, after, made=()):
        """A traced tensor stored inside something new (a tuple appended to a list): not
        replayed, so refused. made: the (key,) of a defaultdict's containers its factory
        made, whose items _made replays."""
        base = container(type(holder))
        new = after[len(before):] if base is list else \
            [v for v in after if v not in before] if base is set else \
            list(after) if base is deque else \
            [v for k, v in after.items() if before.get(k) is not v and (k,) not in made]
        for v in new:       # (a parameter stored itself is stored again as itself)
            if not self._traced(v) and id(v) not in self.state and \
                    _holds_traced(v, self.own):
                raise TraceError(
                    "compiled code stored a tuple, list or dict holding a tensor it "
                    "computed outside itself: its Python runs once, when traced, so later "
                    "calls would not store theirs. Store each tensor itself (d[k] = t, "
                    "lst.append(t)), or return them and store them after the call.")


def _plain_data(v, depth=3):
    """Whether v is a list, tuple, dict or set of constants (and of such containers, a few
    levels, a few items each): data a copy of stores again."""
    kind = type(v)
    if kind not in (list, tuple, dict, set) or not depth or len(v) > INSIDE_MAX:
        return constant(v)
    items = [*v.keys(), *v.values()] if kind is dict else v
    return all(constant(x) or _plain_data(x, depth - 1) for x in items)


def _holds_traced(x, own, depth=3):
    if type(x) is TracedNumber:     # .item()'s, known only when the graph runs
        return True
    if isinstance(x, Tensor):
        return isinstance(x._data, Node) and id(x) not in own
    if depth and type(x) in (tuple, list):
        return any(_holds_traced(v, own, depth - 1) for v in x)
    if depth and type(x) is dict:
        return any(_holds_traced(v, own, depth - 1) for v in x.values())
    return False


_NOT_CONTAINERS = (type, ModuleType, FunctionType, MethodType, Tensor, Module, *SYNC)
_BUILTINS = builtins.__dict__


def _same(a, b):
    return len(a) == len(b) and all(map(is_, a, b))


def _appended(old, added, maxlen):
    """The items of a deque holding `old` once `added` are appended."""
    items = list(old) + list(added)
    return items if maxlen is None else items[max(0, len(items) - maxlen):]


def _refuse(holder, what):
    raise TraceError(
        f"compiled code changed {_what(holder)} it reaches in a way compiled calls cannot "
        f"repeat: it {what}. A trace runs the Python once, so the change would happen once "
        f"instead of on every call. With fullgraph=False this call runs eagerly. Keep such "
        f"bookkeeping outside the compiled function, or return the values and store them "
        f"after the call.")


def _put_back(holder, before):
    """holder's entries as `before` (_entries) holds them, through holder's own methods
    (a Counter's, an OrderedDict's bookkeeping stays right). Not compared first: a changed
    entry may be a tensor."""
    base = container(type(holder))
    if base is list:
        holder[:] = before
        return
    table = holder if base is not None else object.__getattribute__(holder, "__dict__")
    table.clear()
    if base in (deque, set):
        (holder.extend if base is deque else holder.update)(before)
    else:
        for k, v in before.items():
            table[k] = v


def _undone(before, after, keys):
    """A dict's or object's entries (`after`) with those at `keys` as `before` held them,
    in before's order: what the trace stored or removed there undone, the rest (an object
    no call stores again, which stays as the trace left it) kept."""
    out = {k: before[k] if k in keys else after[k] for k in before if k in keys or k in after}
    out.update((k, v) for k, v in after.items() if k not in before and k not in keys)
    return out


def _inside(x):
    """state.inside, and a dict subclass's items (a defaultdict(list) of histories, a
    Counter, an OrderedDict; not tracecomp's own tables)."""
    if type(x) is dict or container(type(x)) is not dict or \
            type(x).__module__.startswith("tracecomp") or len(x) > INSIDE_MAX:
        return inside(x)
    return [("item", x, k, v) for k, v in x.items()]


def _entries(x):
    """A copy of what container x holds (a list's or a deque's items, a set's, a dict's or
    a plain object's entries; a subclass's of any: a defaultdict, a Counter, an
    OrderedDict), or None for anything else (a module's attributes and an optimizer's
    state have their own write-back: attributes.py, state.py; a class of tracecomp's is
    its own bookkeeping). An optimizer's other attributes are a plain object's (a custom
    step's `self.steps += 1`), its state table left out by state.own_table."""
    if x is _BUILTINS:      # a namespace dict's __builtins__ (exec's globals, globals()):
        return None         # the interpreter's own; restore's clear() would empty it
    base = container(type(x))
    if base is not None:
        return None if type(x).__module__.startswith("tracecomp") else \
            dict(x.items()) if base is dict else list(x) if base is not set else set(x)
    try:        # not getattr: a traced number argument would count that as reading it
        d = object.__getattribute__(x, "__dict__")
    except AttributeError:
        return None
    if type(d) is not dict or isinstance(x, _NOT_CONTAINERS) or len(d) > INSIDE_MAX:
        return None
    return dict(d)


def places(fn, args, modules, kwargs=None):
    """What fn reaches (state.starts), what the forward hooks and pre-hooks of its modules
    and their children reach, and what the user's methods of those modules' classes and
    their helpers name (a submodule's forward calling a global function that counts in a
    global list: compile(outer) stored it once, at the trace); keyword arguments count as
    arguments after the positional ones."""
    found = list(starts(fn, args))
    found += [(("arg", len(args) + j), v) for j, v in enumerate((kwargs or {}).values())]
    seen = set()
    for root in modules:
        for module in root.modules():
            for hook in (*module._forward_hooks.values(),
                         *module._forward_pre_hooks.values()):
                if id(hook) not in seen:
                    seen.add(id(hook))
                    found += hook_starts(hook)
    named = {id(v) for _, v in found}
    for f in traced_functions(None, modules):
        for *_, value in named_values(f):
            if id(value) not in named:
                named.add(id(value))
                found.append((("module",), value))
    return found


_ABSENT = object()
_REMOVE = {"item": "pop", "attr": "delattr"}    # how a removed key or attribute is replayed
_STORES = {list: KeptWatch._list_stores, deque: KeptWatch._deque_stores,
           set: KeptWatch._set_stores}


def _what(holder):
    return f"a {type(holder).__name__}" if container(type(holder)) is not None else \
        f"the attributes of a {type(holder).__name__}"


def _output(kept, v, own):
    """(Kept, the graph output it stores) for a stored value."""
    if type(v) is TracedNumber:
        kept.number = v.__class__
        return kept, v.tensor
    if isinstance(v, Tensor) and id(v) in own:     # an argument: this call's is stored
        kept.argument = own[id(v)]
        return kept, None
    if isinstance(v, Tensor):
        return kept, v
    kept.constant = (v,)
    return kept, None


def appended_only(kept, arguments):
    """The containers the code only appends to (a log, a list of losses, a module's
    `self.outs`): they grow every call by the code's own doing, so they are not
    value-guarded where the code does nothing else with them (value_reads.py). One it
    sets an item or attribute of stays guarded by its values before the trace: a counter
    it reads and sets (`stats["n"] += 1`) then compiles again per value, as torch does,
    rather than storing the traced value for ever. arguments: the trace's positional then
    keyword arguments, where a container in an argument (`self.outs`) is found."""
    holders = {}
    for k, _ in kept:       # (a list in a dict: the dict, as the code names that)
        holder = k.holder if k.place is None else _argument_holder(k.place, arguments)
        holders[id(holder)] = (holder, holders.get(id(holder), (None, True))[1]
                               and k.how in ("append", "appendleft", "add"))
    return [h for h, only in holders.values() if only]


def apply(kept, tensors, arguments, call_args):
    """After a call: store this call's tensors (and constants, and argument tensors) as
    the traced code stored its own. arguments: the call's tensors (the graph's inputs);
    call_args: its positional then keyword arguments, where stores into an argument's
    list, dict or object go."""
    tensors, last = iter(tensors), None
    for k in kept:
        holder = k.holder if k.place is None else _argument_holder(k.place, call_args)
        if k.within:
            holder = holder[k.within[0]]
        if k.how in _KEYED:
            _KEYED[k.how](holder, k.key)
            continue
        if k.how == "grad":     # the leaf stored just before: its gradient of this call
            last.grad = k.constant[0].clone() if k.constant else next(tensors)
            continue
        if k.constant:
            t = deepcopy(k.constant[0]) if k.copied else k.constant[0]
        elif k.argument is not None:
            t = arguments[k.argument]
        else:
            t = next(tensors)
            if k.number is not None:
                t = k.number(t.item())
            elif k.leaf is not None:    # a leaf of this call's, as the code made one
                t = _leaf(k.leaf, t)
            last = t
        if k.how in ("append", "appendleft", "add"):
            getattr(holder, k.how)(t)
        elif k.how == "item":
            holder[k.key] = t
        else:
            setattr(holder, k.key, t)


# what is done to a key, with no value: a set's discard, a dict's pop, an attribute's del
# (each call removes the key the trace did; gone already, the caller removed it between
# calls, as eagerly nothing to remove), a defaultdict's key read (its factory makes it)
_KEYED = {"discard": set.discard, "pop": lambda d, key: d.pop(key, None),
          "delattr": lambda obj, key: vars(obj).pop(key, None),
          "touch": lambda d, key: d[key]}


def _key(kept):
    """The key of a dict or object that kept stores, removes or stores into."""
    return kept.within[0] if kept.within else kept.key


def _leaf(cls, t):
    """A leaf of class cls (a Parameter, a Tensor) holding t's values, requiring grad."""
    if issubclass(cls, Parameter):
        return cls(t.detach(), requires_grad=True)
    return t.detach().requires_grad_()


def _argument_holder(place, call_args):
    """The container at `place` in this call's arguments (the signature guarantees one of
    the traced kind is there)."""
    position, step = place
    holder = call_args[position]
    return holder if step is None else follow(holder, *step)
