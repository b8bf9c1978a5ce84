"""Tensors a compiled function reaches inside the objects it names, a few attributes or
items down: a hand-written optimizer's state (`self.param_momentum[p]`, two containers
below the global `optimizer`), a trainer's `self.opt.m[i]`. Once a trace has read one,
they are graph inputs, read from their places on every call, as torch.compile lifts the
tensors it reaches through the attributes and dicts of objects it guards.

Held as constants instead (the rule before), a step that rebinds its state every call
(`self.param_momentum[p] = 0.1 * p.grad + 0.9 * self.param_momentum[p]`, stored after each
call by kept_values.py) found the constant changed on the next call and compiled again,
every step; three steps below a trainer, the store was not even replayed.

How (learned, as dynamo learns its sources while it traces): a trace reads such a tensor
as a constant (Tracer.read_from_outside); afterwards `found` looks for it from the places
the function reaches directly (state.starts, not its arguments, which may be other objects
on the next call), up to DEPTH attributes or items down through lists, tuples, dicts and
plain objects (not modules or optimizers, whose tensors are inputs already). The place
holding it is learned (`Places`), and the same call traces again at once (`DeepRead`,
before anything is lowered: no extra compile) with every tensor in that place an input:
each tensor of the list, tuple or dict that held it, or the plain object's attribute.
A container that gains or loses a tensor then compiles again, as the graph may iterate
it or index it from its end. An entry of a dict keyed by objects (the parameters) is
labelled by its key's identity (`Held`).

Not lifted: tensors that require grad (captured inputs, tracing/tracer.py), and what is
reached through an argument or deeper (a constant checked where it was read, as before:
outside_tensors.py). A trace that reads a lifted tensor's values (`.item()`, an `if` on
it) fails with BoundRead, and the function holds them all as constants again
(bound_tensors.py).
"""
from ..nn.module import Module
from ..sparse_data import SparseData
from ..tensor import Tensor
from .state import DEPTH, follow, inside, optimizer_types, start, starts

KIND, DEEP = "bound", "deep"   # a deep label: (KIND, DEEP, its text, where, steps[, key])
_CONTAINERS = (list, tuple, dict)
_KEYS = (str, int, float, bool, type(None))     # a dict key a label may hold as it is


class DeepRead(Exception):
    """A trace read tensors as constants from places it can lift: trace again with them
    lifted (driver.CompiledFunction._call)."""

    def __init__(self, places):
        super().__init__(f"{len(places)} places to lift")
        self.places = places


class Held:
    """A dict key that is an object (a parameter keying an optimizer's state) in a label:
    equal only to itself (a tensor's == compares values)."""

    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key

    def __eq__(self, other):
        return type(other) is Held and other.key is self.key

    def __hash__(self):
        return id(self.key)

    def __repr__(self):
        shape = getattr(self.key, "shape", None)
        return f"<{type(self.key).__name__}" + (">" if shape is None else f" {list(shape)}>")


class Places:
    """The places a compiled function lifts tensors from: {(where, steps): label head}."""

    def __init__(self):
        self.heads = {}

    def learn(self, fn, places):
        for where, steps in places:
            self.heads.setdefault((where, steps), (KIND, DEEP, _text(fn, where, steps),
                                                   where, steps))

    def new(self, fn, args, read):
        """The places not learned yet that hold tensors a trace read as constants (found)."""
        return [place for place in found(fn, args, read) if place not in self.heads]

    def lifted(self, fn, args, taken):
        """[(label, tensor)] of the tensors in the learned places this call, not those in
        `taken` (ids of the tensors listed already)."""
        out = []
        for (where, steps), head in self.heads.items():
            held = _resolve(fn, args, where, steps)
            if isinstance(held, Tensor):
                if id(held) not in taken and not held._requires_grad and _dense(held):
                    taken.add(id(held))
                    out.append((head, held))
                continue
            items = held.items() if type(held) is dict else \
                enumerate(held) if type(held) in (list, tuple) else ()
            for key, t in items:
                if isinstance(t, Tensor) and not t._requires_grad and id(t) not in taken \
                        and _dense(t):
                    taken.add(id(t))
                    out.append(((*head, key if type(key) in _KEYS else Held(key)), t))
        return out


def _dense(t):
    """A sparse tensor is never lifted: it stays a constant, checked where it was read
    (outside_tensors.py), so every sparse op (even one grouping by index) compiles."""
    return type(t._data) is not SparseData


def found(fn, args, read):
    """The places (where, steps) that hold a tensor of `read` ({id: (tensor, version)}: what
    a trace read as constants) within DEPTH steps of what fn reaches directly: a list,
    tuple or dict (steps lead to it) or a plain object's attribute (the last step)."""
    out = []
    if not read:
        return out
    for where, x in starts(fn, args):
        if where[0] == "arg":
            continue
        level = [((), x)]
        for depth in range(DEPTH + 1):
            deeper = []
            for steps, y in level:
                if isinstance(y, Tensor):      # a plain object's attribute (steps end so)
                    if steps and id(y) in read and read[id(y)][0] is y and \
                            not y._requires_grad and _dense(y):
                        out.append((where, steps))
                    continue
                if isinstance(y, (Module, optimizer_types())) or depth == DEPTH:
                    continue
                entries = inside(y)
                if type(y) in _CONTAINERS and any(
                        isinstance(v, Tensor) and id(v) in read and read[id(v)][0] is v
                        and not v._requires_grad and _dense(v) for *_, v in entries):
                    out.append((where, steps))
                    continue
                deeper += [((*steps, (how, key)), v) for how, _, key, v in entries
                           if type(key) in _KEYS and (how == "attr" or
                                                      not isinstance(v, Tensor))]
            level = deeper
    return list(dict.fromkeys(out))


def source(fn, label):
    """Where a deep label's tensor is read from this call (state.follow's holder, how, key)."""
    _, _, _, where, steps, *key = label
    if not key:
        holder = _resolve(fn, (), where, steps[:-1])
        return holder, "attr", steps[-1][1]
    key = key[0].key if type(key[0]) is Held else key[0]
    return _resolve(fn, (), where, steps), "item", key


def links(fn, state):
    """(holder, how, key, what it holds) of every step on the way to each deep label's
    place, the first (fn, "start", where, the start) (the fast path, state_call.py, checks
    the starts by their names: code_names.Bindings), and [(container, its length)]: what
    must be unchanged for the same tensors to be read from, and stored into, the same
    places."""
    chains, sizes = {}, {}
    for label, _ in state:
        if not is_deep(label):
            continue
        _, _, _, where, steps, *key = label
        y = start(fn, (), where)
        chains.setdefault(where, (fn, "start", where, y))
        for how, k in steps[:len(steps) - (not key)]:
            z = follow(y, how, k)
            chains.setdefault((id(y), how, k), (y, how, k, z))
            y = z
        if key and type(y) is not tuple:
            sizes[id(y)] = (y, len(y))
    return list(chains.values()), list(sizes.values())


def moved(held):
    """Why an artifact no longer holds, or None: an object on the way to a place it lifts
    tensors from is another now (`opt.param_momentum = {...}`), where its stores into that
    place go (kept_values.py: into the container it traced)."""
    for holder, how, key, value in held:
        now = start(holder, (), key) if how == "start" else follow(holder, how, key)
        if now is not value:
            return f"{_what(holder, how, key)} is another object"
    return None


def _what(holder, how, key):
    if how == "start":
        return _text(holder, key, ())
    return f"attribute {key} of {type(holder).__name__}" if how == "attr" else \
        f"item {key!r} of a {type(holder).__name__}"


def is_deep(label):
    return type(label) is tuple and label[0] == KIND and label[1] == DEEP


def _resolve(fn, args, where, steps):
    """What the place (where, steps) holds this call, or None."""
    y = start(fn, args, where)
    for how, key in steps:
        if y is None:
            return None
        y = follow(y, how, key)
    return y


def _text(fn, where, steps):
    """The place in the user's words: `optimizer.param_momentum`, `self.opt.m`."""
    kind, *name = where
    if kind == "cell":
        name = fn.__code__.co_freevars[name[0]]
    elif kind == "helper":
        name = name[1] if isinstance(name[1], str) else f"helper {name[0]} closure {name[1]}"
    elif kind == "self":
        name = "self"
    else:
        name = name[0]
    return str(name) + "".join(f".{k}" if how == "attr" else f"[{k!r}]" for how, k in steps)
