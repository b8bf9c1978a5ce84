"""Python values a trace read from outside the arguments (a module's `self.temperature`, a
scheduler's `last_epoch`, a global `SCALE`): guarded, so that a call after one of them
changed compiles again instead of running the graph that holds the old value.

A trace runs the code once, so every Python number it reads is folded into the graph as a
constant. The arguments' numbers are in the signature (signature.py) and so are the
optimizers' hyperparameters and the modules' training flags; what else the code reads is
recorded while it is traced and checked before a compiled graph runs again, as
torch.compile guards the attributes and globals it reads:

  - **attributes of modules and schedulers**: while tracing, `Module` and `LRScheduler`
    answer attribute reads through a hook (`ReadWatch`) that records each instance
    attribute holding a number (a numpy scalar too: compared, never fed), a string, None,
    or a tuple, list, dict or set of them or of anything (a subclass of one, a deque too:
    a Counter, an OrderedDict, held with its class; one of more than MAX_ITEMS
    items, or of nothing but tensors or objects, held whole: `Whole`, compared item by
    item at C speed, ~35 us a call for 1000 numbers), with its value at the first read.
    Module.__setattr__ counts a change of such a value (nn/structure.py), so a module
    attribute is compared again only after some module changed; a scheduler's (its
    counters move every step) and a list or dict (changed in place, uncounted) are
    compared on every call;
  - **attributes of plain objects** (an argparse Namespace, a dataclass config) that the
    function reaches through its arguments, closure, globals or bound object, or finds
    inside those up to PLAIN_DEPTH levels down (a module's `self.config`, a config's
    `cfg.model.act`): their classes are watched
    the same way while tracing (`plain_reach`), and what was read is compared on every
    call (a slot's value too). So is, by identity, where the code found each such object
    whose attributes it read or stores (`self.cfg`, a global `cfg`: `links`), as the
    guards hold that object's attributes: `cfg = Config(scale=2)` compiles again;
  - **class attributes** the code may read (`Config.scale`, `self.scale` where the class
    holds it, a counter `Model.calls += 1`), in the user's classes it names and its
    modules' classes (`class_reads`), compared on every call; and one read through an
    object (`self.n` while only the class sets `n = 0`) as unset on the object
    (`ABSENT`), so that the code's `self.n += 1` compiles again for the value then set;
  - **environment variables** the user's code reads (`os.environ["SCALE"]`, os.getenv):
    environ_reads.py, compared on every call;
  - **globals and closure variables of the compiled function itself**, of its modules'
    methods (forward and what it calls), and of the user's helper functions each names
    and those name in turn (`def norm(x): return x / TEMP`; code_names.helpers, a few
    levels), that hold such a value, compared on every call (the fast paths compare their
    bindings already); and those of the user's functions the trace ran that no name
    leads to (`ns.draw`, a plain object's method, a monkeypatched library function:
    ran_functions.py).

Random numbers drawn from Python's `random` module, numpy's or a random.Random the code
reaches, the iterators it reaches from outside, numpy arrays it writes into
(outside_streams.py) and the clock (clock_reads.py) are refused.

A value that changed makes the call compile again (driver.CompiledFunction._call_once),
the reason naming it: `attribute temperature of M: 1.0 -> 2.0`. A number seen to change
is fed as an input from then on (outside_numbers.py): while traced it is a stand-in, which
a guard holds as `FedSlot` (any number of its type passes), and a dict holding one must
stay the very dict (`tables`), the one it is fed from. Values reached otherwise
(an object's attribute deeper inside) are not seen: pass them as arguments, where a
number that changes is fed as an input (number_args.py).
"""
import threading
import types
from contextlib import contextmanager

import numpy as np

from ..errors import TraceError
from ..nn import structure
from ..nn.module import Module
from ..optim.scheduler_base import LRScheduler
from . import environ_reads
from .code_names import filled, named_values, read_names, traced_functions
from .frozen_values import (
    ABSENT,
    GUARDED,
    MISSING,
    OTHER,
    FedSlot,
    Whole,
    container,
    frozen,
    pair,
    refuse_large_array,
)
from .object_stores import slot_names, slot_values
from .signature import array_text, numpy_scalar
from .state import SYNC, inside, own_table

_get_attribute = object.__getattribute__
_ACTIVE = []        # the ReadWatch of the trace running now (one trace at a time)


def _watching(self, name):
    """Module.__getattribute__ (and LRScheduler's, and plain_reach's classes') while a
    trace runs."""
    value = _get_attribute(self, name)
    watch = _ACTIVE[-1] if _ACTIVE else None
    if watch is None or watch.thread != threading.get_ident():
        return value
    if type(value) in GUARDED or numpy_scalar(value) or \
            container(type(value)) is not None and not own_table(self, name, value):
        key = (id(self), name)
        if key in watch.reads or name == "training":
            pass
        elif name in _instance_dict(self):
            if watch.from_outside(self, name, value):
                refuse_large_array(value, f"{type(self).__name__}.{name}")
                held = frozen(value)
                if held is not None:
                    watch.reads[key] = (self, name, held)
        else:
            watch.class_read(self, name, value)
    elif type(value) in watch.plain:
        # a plain object read as an attribute (`self.cfg`): how the guards find it again
        watch.links.setdefault(id(value), (self, name, value))
    return value


class ReadWatch:
    """Records the guarded attributes of modules, schedulers and the plain objects of
    `classes` (plain_reach) that the code inside `with` reads (in this thread), each
    with its value at the first read."""

    CLASSES = (Module, LRScheduler)

    def __init__(self, classes=(), attributes=None, fn=None, modules=()):
        self.reads, self.thread = {}, threading.get_ident()
        # class attributes the code may read, as they are before it runs (class_reads)
        self.class_reads = [] if fn is None else class_reads(fn, modules)
        self.class_values = [klass.__dict__[name] for klass, name, _ in self.class_reads]
        self.hooked = [*self.CLASSES, *classes] if not _ACTIVE else []
        self.plain = frozenset(classes)
        # id(plain object) -> (holder, name, the object): where the code read it from
        self.links = {}
        # the modules' attributes before the trace (attributes.AttributeSnapshot), by id
        self.before = {} if attributes is None else {
            id(mod): values for (_, _, mod), values in zip(attributes.modules,
                                                           attributes.before)}

    def from_outside(self, obj, name, value):
        """Whether a read finds what was there before the code ran: a module attribute
        the code set first (`self.weights = [None] * n`, then `self.weights[i] = w`) is
        its own value, not one to guard (attributes.py writes it back)."""
        before = self.before.get(id(obj))
        return before is None or before.get(name, MISSING) is value

    def class_read(self, obj, name, value):
        """obj.name read from obj's class (a default `n = 0` that `self.n += 1` then sets
        on the object): guarded as unset on the object (a store there compiles again,
        as its value is then read) and as the class holds it. Not a class of tracecomp's
        (Module's own defaults), nor a descriptor's value (a property)."""
        before = self.before.get(id(obj))
        if before is not None and name in before:
            return          # set before, deleted by the code: not a read from outside
        klass = next((k for k in type(obj).__mro__ if name in k.__dict__), None)
        if klass is None or klass.__dict__[name] is not value or \
                not klass.__flags__ & _HEAP_TYPE or klass.__module__.startswith("tracecomp"):
            return
        held = frozen(value)
        if held is not None:
            self.reads[(id(obj), name)] = (obj, name, ABSENT)
            self.reads.setdefault((id(klass), name), (klass, name, held))

    def __enter__(self):
        for cls in self.hooked:
            cls.__getattribute__ = _watching
        _ACTIVE.append(self)
        self.environ = environ_reads.watched(self._environ_read) if self.hooked else None
        if self.environ is not None:
            self.environ.__enter__()
        return self

    def __exit__(self, *exc):
        if self.environ is not None:
            self.environ.__exit__(*exc)
        _ACTIVE.pop()
        for cls in self.hooked:
            del cls.__getattribute__

    @staticmethod
    def _environ_read(key, value):
        """An environment variable the code read (environ_reads.py), with its value at the
        first read, for the trace running now (an inner one's too); unset: ABSENT, as Guards
        sees a missing entry."""
        watch = _ACTIVE[-1] if _ACTIVE else None
        if watch is not None:       # not the compiler's own reads (unwatched)
            watch.reads.setdefault(("environ", key), (
                environ_reads.ENVIRONMENT, key, ABSENT if value is None else frozen(value)))

    def number_guards(self):
        """Guards of the attributes read alone (for Guards.numbers_changed), or None."""
        return Guards(list(self.reads.values()), []) if self.reads else None

    def check_classes(self):
        """Refuses a trace that changed a class attribute it may read (`Model.calls += 1`):
        the graph would hold the value of the trace's call, and the store is not repeated
        by later calls. The value is put back first, so the call run eagerly instead (a
        graph break) changes it once."""
        for (klass, name, held), value in zip(self.class_reads, self.class_values):
            now = klass.__dict__.get(name, MISSING)
            if frozen(now) != held:
                setattr(klass, name, value)
                raise TraceError(
                    f"compiled code changed the class attribute {klass.__name__}.{name} "
                    f"({_show(held)} -> {_show(frozen(now))}): a trace runs the code once, "
                    f"so later calls would neither change it nor read its new value. Keep "
                    f"it on an instance (self.{name}) or a global, or pass it as an "
                    f"argument.")

    def guards(self, fn, modules=(), stored=(), written=(), ran=()):
        """The Guards of what was read and of the globals and closure variables that hold
        guarded values, of the functions a trace of fn runs (code_names.traced_functions:
        fn, its modules' methods, their helpers), or None when there is nothing to
        guard. stored: the containers each call appends to (kept_values: `losses.append(
        loss.item())`), which change every call by the code's own doing: not guarded
        where the code only appends to them; one it reads too (`len(log)`, `log[-1]`,
        code_names.read_names) is, so each call compiles again as each eager call reads
        the grown list. written: the plain objects each call stores attributes into
        (kept_values). ran: the functions the trace ran that no name leads to
        (ran_functions.py), looked at as fn's helpers."""
        bindings, seen, named = [], set(), set()
        functions = traced_functions(fn, modules, ran)
        read = frozenset().union(*(read_names(f.__code__) for f in functions))
        stored = {id(c) for c in stored}
        # the plain objects whose attributes it read or stores, and those it reached them
        # through: a name or attribute that holds another object since is another graph
        # (`cfg = Config(scale=2)` between calls: the guards above hold the old one's)
        objects = self._chain([obj for obj, *_ in self.reads.values()] + list(written))
        same = [(_attribute, holder, name, obj) for holder, name, obj in
                (self.links[k] for k in objects if k in self.links)]
        for f in functions:
            for holder, _, n, value in named_values(f):
                if id(value) in objects and (id(holder), n) not in named:
                    named.add((id(holder), n))
                    same.append((_bound, holder, n, value))
                if id(value) in stored and n not in read:
                    continue
                if n in read:
                    refuse_large_array(value, n)
                held = frozen(value)
                if held is not None and (id(holder), n) not in seen:
                    seen.add((id(holder), n))
                    bindings.append((holder, n, held))
        self.check_classes()
        # a list the code only appends to (`self.losses.append(loss.item())`) grows every
        # call by the code's own doing: neither are the attributes that hold it guarded,
        # unless the code reads it too
        reads = [r for r in self.reads.values()
                 if r[1] in read or id(_attribute(r[0], r[1])) not in stored]
        reads += self.class_reads
        if not reads and not bindings and not same:
            return None
        return Guards(reads, bindings, same)

    def _chain(self, objects):
        """{id: object} of the plain objects among `objects` and those each was read from
        (self.links), up to the names the code starts from."""
        found = {}
        todo = [x for x in objects if type(x) in self.plain]
        while todo:
            x = todo.pop()
            if id(x) not in found:
                found[id(x)] = x
                link = self.links.get(id(x))
                if link is not None and type(link[0]) in self.plain:
                    todo.append(link[0])
        return found


def class_reads(fn, modules):
    """[(class, name, frozen value)] of the class attributes holding a guarded value
    (`Config.scale`, a counter `Model.calls`) that the functions a trace of fn runs may
    read: the attribute names their code loads, looked up in the user's classes those
    functions name and in the classes of its modules (`self.scale` where scale is a class
    attribute). Taken before the trace runs, so that code that moves one (`Model.calls +=
    1`) compiles again each call, as each eager call reads the moved value."""
    functions = traced_functions(fn, modules)
    names = {n for f in functions for n in _attribute_names(f.__code__)}
    classes = [v for f in functions for *_, v in named_values(f) if isinstance(v, type)]
    classes += [type(m) for root in modules for m in root.modules()]
    found, seen = [], set()
    for cls in classes:
        for klass in cls.__mro__:
            if id(klass) in seen or not klass.__flags__ & _HEAP_TYPE or \
                    klass.__module__.startswith("tracecomp"):
                continue
            seen.add(id(klass))
            for name in names & klass.__dict__.keys():
                held = frozen(klass.__dict__[name])
                if held is not None:
                    found.append((klass, name, held))
    return found


def _attribute_names(code):
    """The names code (and the code defined in it) may read as attributes (co_names)."""
    names = set(code.co_names)
    for inner in code.co_consts:
        if isinstance(inner, types.CodeType):
            names |= _attribute_names(inner)
    return names


def _instance_dict(obj):
    """obj's own attributes: its __dict__, and what its __slots__ hold (then a copy:
    compared, never fed, as numbers_changed skips them)."""
    try:
        table = _get_attribute(obj, "__dict__")
    except AttributeError:      # a class with __slots__ only
        table = {}
    if slot_names(type(obj)):
        table = {**table, **slot_values(obj)}
    return table


_HEAP_TYPE = 1 << 9     # Py_TPFLAGS_HEAPTYPE: a class defined in Python (or by an
_IMMUTABLE_TYPE = 1 << 8    # extension, which may then be immutable: _thread.lock)


def plain_reach(reached):
    """(classes, objects): the classes of the plain objects the code reaches (`reached`:
    kept_values.places, from state.starts: the function's arguments, closure, globals, a
    bound method's object, and its modules' forward hooks') or finds inside them,
    attribute by attribute or element by element, PLAIN_DEPTH deep (a trainer's
    `self.cfg.model.act`): Python classes of the user's (an argparse Namespace, a
    dataclass), whose attribute reads are then watched as a module's are; not tracecomp's
    own, nor classes with a __getattribute__ of their own (of the objects PLAIN_DEPTH
    levels down too, not looked into). objects: the instances of those classes found so,
    whose stores object_stores.py watches."""
    found, seen, objects = set(), set(), []
    level = [x for _, x in reached]
    for depth in range(PLAIN_DEPTH + 1):    # the objects found PLAIN_DEPTH down: not inside
        deeper = []
        for y in level:
            if id(y) in seen or len(seen) >= PLAIN_MAX_OBJECTS:
                continue
            seen.add(id(y))
            cls = type(y)
            if cls not in found and cls.__flags__ & _HEAP_TYPE and \
                    not cls.__flags__ & _IMMUTABLE_TYPE and \
                    cls.__getattribute__ is object.__getattribute__ and \
                    not cls.__module__.startswith("tracecomp") and \
                    not issubclass(cls, (Module, LRScheduler, BaseException, *SYNC)):
                found.add(cls)
            if cls in found:
                objects.append(y)
            if depth < PLAIN_DEPTH and (cls in found or cls in (list, tuple, dict) or
                                        isinstance(y, Module)):
                deeper += [value for *_, value in inside(y)]
        level = deeper
    return found, objects


# how deep plain_reach looks (cfg.model.act.slope: the function names cfg, and the
# classes of cfg, cfg.model and cfg.model.act are watched), and over how many objects
PLAIN_DEPTH = 4
PLAIN_MAX_OBJECTS = 4096


@contextmanager
def unwatched():
    """Reads inside are the compiler's own (a deferred scheduler step's), not the code's."""
    _ACTIVE.append(None)
    try:
        yield
    finally:
        _ACTIVE.pop()


class Guards:
    """What a compiled graph read from outside its arguments, to compare before it runs
    again: `counted` (module attributes whose changes structure.py counts: compared only
    when the count moved), `always` (other attributes, lists, bindings: every time)."""

    __slots__ = ("always", "bindings", "counted", "in_place", "tables", "version")

    def __init__(self, reads, bindings, same=()):
        # what can change in place (a list, a dict, a set) is compared on every call, and
        # so is a dict or set rebound (Module.__setattr__ counts the scalars, tuples, lists)
        counted = [isinstance(obj, Module) and not _in_place(held[0])
                   for obj, _, held in reads]
        self.counted = [r for r, c in zip(reads, counted) if c]
        self.always = [r for r, c in zip(reads, counted) if not c]
        self.bindings = bindings
        # a binding to a list or dict (or a tuple of one) changes in place, unseen by the
        # fast path's identity check of what each name holds (fast_call.Bindings)
        self.in_place = any(map(_changes_in_place, (held for _, _, held in bindings)))
        self.version = None     # the count at which `counted` last held
        # a dict a number is fed from stays that dict, and a plain object whose attributes
        # were read or are stored stays that object: (getter, holder, name, the value)
        self.tables = [(get, where, name, get(where, name))
                       for get, entries in ((_attribute, reads), (_bound, bindings))
                       for where, name, held in entries if _feeds_item(held)] + list(same)

    def hold(self):
        """Whether every value read is as it was."""
        for get, where, name, table in self.tables:
            if get(where, name) is not table:
                return False
        for obj, name, held in self.always:
            if frozen(_instance_dict(obj).get(name, MISSING)) != held:
                return False
        for where, name, held in self.bindings:
            if frozen(_bound(where, name)) != held:
                return False
        version = structure.version()
        if version != self.version:
            for obj, name, held in self.counted:
                if frozen(_get_attribute(obj, "__dict__").get(name, MISSING)) != held:
                    return False
            self.version = version
        return True

    def changed(self):
        """What changed, in the user's terms (for the recompile reason)."""
        out = []
        for obj, name, held in self.counted + self.always:
            now = _instance_dict(obj).get(name, MISSING)
            if frozen(now) != held:
                owner = obj if isinstance(obj, type) else type(obj)
                out.append(f"attribute {name} of {owner.__name__}: {_show(held)} -> "
                           f"{_show(frozen(now))}")
        for where, name, held in self.bindings:
            now = _bound(where, name)
            if frozen(now) != held:
                kind = "global" if type(where) is dict else "closure variable"
                out.append(f"{kind} {name}: {_show(held)} -> {_show(frozen(now))}")
        out += [f"{name} holds another {type(table).__name__}"
                for get, where, name, table in self.tables if get(where, name) is not table]
        return "; ".join(out) or "a value it read changed"

    def numbers_changed(self):
        """[(holder, key, type, name)] of the numbers read that changed and kept their type
        (an int or a float: outside_numbers feeds them): holder a dict (a dict's item, a
        globals dict's name, an object's __dict__ entry) or a closure cell (key None);
        one level into a dict held there (`self.param_step[p]`)."""
        found = []
        for obj, name, held in self.counted + self.always:
            if isinstance(obj, type) or name in slot_names(type(obj)):
                continue    # a class attribute or a slot: compared, never fed
            found += _changed_numbers(held, _attribute(obj, name), _instance_dict(obj), name,
                                      f"{type(obj).__name__}.{name}")
        for where, name, held in self.bindings:
            cell = type(where) is not dict
            found += _changed_numbers(held, _bound(where, name), where, None if cell else name,
                                      f"{'closure variable' if cell else 'global'} {name}")
        return found


def _changed_numbers(held, now, holder, key, label):
    """numbers_changed's entries for one value read: `now` itself, or its items (a dict)."""
    if _number_changed(held, now):
        return [(holder, key, type(now), label)]
    if held is None or container(held[0]) is not dict or type(now) is not held[0] or \
            type(held[1]) is Whole or len(now) != len(held[1]):
        return []       # a dict held whole: a change compiles again, feeds nothing
    return [(now, k, type(v), f"{label}[{_key_text(item[1][0], j)}]")
            for j, ((k, v), item) in enumerate(zip(now.items(), held[1]))
            if item is not OTHER and pair((k, v))[1][0] == item[1][0] and
            _number_changed(item[1][1], v)]


def _key_text(key, position):
    """A dict key as shown in a fed number's name: a key held by its identity (a
    parameter) with its position, `<Parameter 2>`."""
    return f"<{key[1][1]} {position}>" if key[0] is object else _show(key)


def _number_changed(held, now):
    """Whether a number (an int, a float, a numpy scalar other than a bool) changed,
    keeping its type."""
    return held is not None and (held[0] in (int, float) or numpy_scalar(now) and
                                 held[0] is not np.bool_) and \
        type(now) is held[0] and type(held) is not FedSlot and held[1] != now


def _feeds_item(held):
    return held is not None and container(held[0]) is dict and type(held[1]) is not Whole \
        and any(
        item is not OTHER and type(item[1][1]) is FedSlot for item in held[1])


def _attribute(obj, name):
    return _instance_dict(obj).get(name, MISSING)


# what a guard compares on every call (a module's attribute too): it changes in place (a
# dict, a list, a set, a deque, their subclasses), or (a frozenset) Module.__setattr__
# does not count its rebinding
def _in_place(kind):
    return kind in (frozenset, np.ndarray) or container(kind) is not None


def _changes_in_place(held):
    if held is OTHER:
        return False
    kind, value = held
    if type(value) is Whole:        # a tuple of lists held whole (nested) changes in place
        return _in_place(kind) and kind is not frozenset or value.nested
    return _in_place(kind) and kind is not frozenset or \
        kind in (tuple, frozenset) and any(map(_changes_in_place, value))


def _bound(where, name):
    if type(where) is dict:
        return where.get(name, MISSING)
    return where.cell_contents if filled(where) else MISSING


def _show(held):
    """A frozen value as the user wrote it."""
    if held is None:
        return "another value"
    if held is OTHER:
        return "..."
    if held is ABSENT:
        return "unset"
    if type(held) is FedSlot:
        return f"{'an int' if held[0] is int else 'a ' + held[0].__name__} fed each call"
    kind, value = held
    if kind is object:      # a dict key held by its identity (pair)
        return f"<{value[1]}>"
    if type(value) is Whole:
        return f"{kind.__name__} of " \
            f"{len(value.items) // (2 if container(kind) is dict else 1)} items"
    if kind is np.ndarray:
        return array_text(*value)
    base = container(kind)
    if base is dict:
        text = "{" + ", ".join("..." if pair is OTHER else
                               f"{_show(pair[1][0])}: {_show(pair[1][1])}"
                               for pair in value) + "}"
    elif kind is tuple:
        items = [_show(v) for v in value]
        return f"({', '.join(items)}{',' if len(items) == 1 else ''})"
    elif base is not None or kind is frozenset:
        items = ", ".join(_show(v) for v in value)
        text = f"{{{items}}}" if base in (set, None) else f"[{items}]"
    else:
        return repr(value)
    # a subclass of dict or list, a deque, a set: named as repr names them
    return text if kind in (dict, list) else f"{kind.__name__}({text})"
