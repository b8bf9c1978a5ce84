"""Attributes the traced code stores on plain objects that existed before the trace (a
config's `cfg.n += 1`, a counter's `self.n += 1` in a method, a trainer's `self.step += 1`),
so that none of them changes once per trace instead of once per call.

kept_values.KeptWatch replays the stores it sees: it compares, before and after the trace,
the attributes of the objects the function reaches by name and one level (two but for an
argument's) inside them, and after each call stores again what the trace stored (a number
the code computed from a fed one, a constant, a tensor it computed). A store it does not
see would happen once, while the code is traced, and never again, where each eager call
makes it: a silent wrong state. Those are the stores into

  - an object deeper inside (`self.cfg.counter.n += 1`, reached three levels down);
  - an object that keeps its attributes in `__slots__` (no `__dict__` to compare);
  - an object with more attributes than the watch looks at (state.INSIDE_MAX);

and a store KeptWatch sees but cannot repeat (`self.history = self.history + [n]`, `self.
best = SomeRecord(...)`: an object the code makes anew on every eager call).

So while a trace runs, `StoreWatch` hooks `__setattr__` and `__delattr__` of the user's
classes whose reads value_reads.py watches (value_reads.plain_reach: the plain objects the
function reaches, PLAIN_DEPTH levels down), and notes the first store into each attribute
of an object that was there before the trace (fresh objects the code builds are its own).
After the trace, `check` refuses any noted store that KeptWatch does not replay: it is put
back and the trace is a TraceError, a graph break with fullgraph=False, so the call runs
eagerly (its own stores happen once, as written), as torch.compile falls back where it
cannot replay a side effect.
"""
import functools
import threading

from ..errors import TraceError
from ..tracing.number import TracedNumber
from .trace_warnings import function_name

_MISSING = object()
_ACTIVE = []        # the StoreWatch of the trace running now (one trace at a time)


@functools.cache
def slot_names(cls):
    """The attribute names cls keeps in __slots__ (its own and its bases', name-mangled
    as Python stores them), without __dict__ and __weakref__."""
    names = []
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if slot in ("__dict__", "__weakref__"):
                continue
            if slot.startswith("__") and not slot.endswith("__"):
                slot = f"_{klass.__name__.lstrip('_')}{slot}"
            if slot not in names:
                names.append(slot)
    return tuple(names)


def slot_values(x):
    """{name: value} of x's slots that are set (object.__getattribute__: not the hooked
    reads of value_reads.py)."""
    out = {}
    for name in slot_names(type(x)):
        try:
            out[name] = object.__getattribute__(x, name)
        except AttributeError:      # declared, never set
            pass
    return out


def _current(obj, name):
    """What obj's attribute `name` holds in the object itself (not its class), or
    _MISSING."""
    if name in slot_names(type(obj)):
        return slot_values(obj).get(name, _MISSING)
    try:
        table = object.__getattribute__(obj, "__dict__")
    except AttributeError:
        return _MISSING
    return table.get(name, _MISSING)


def _note(obj, name):
    watch = _ACTIVE[-1] if _ACTIVE else None
    if watch is not None and watch.thread == threading.get_ident() and \
            id(obj) in watch.objects and (id(obj), name) not in watch.stored:
        watch.stored[(id(obj), name)] = (obj, name, _current(obj, name))


def _hooks(cls):
    """The __setattr__ and __delattr__ StoreWatch gives cls: note, then store as cls
    did."""
    set_before, del_before = cls.__setattr__, cls.__delattr__

    def __setattr__(self, name, value):
        _note(self, name)
        set_before(self, name, value)

    def __delattr__(self, name):
        _note(self, name)
        del_before(self, name)
    return __setattr__, __delattr__


class StoreWatch:
    """`with StoreWatch(classes, objects):` around a trace notes the attributes the code
    stores into `objects` (instances of `classes`), each with what it held before."""

    def __init__(self, classes, objects):
        self.objects = {id(x): x for x in objects}  # held: no id is reused meanwhile
        self.stored = {}        # (id(object), name) -> (object, name, value before)
        self.thread = threading.get_ident()
        # parents first, so that a hooked subclass calls its parent's hook (noted once)
        self.classes = sorted(classes, key=lambda c: len(c.__mro__)) if not _ACTIVE else []
        self.own = []

    def __enter__(self):
        for cls in self.classes:
            own = (cls.__dict__.get("__setattr__"), cls.__dict__.get("__delattr__"))
            self.own.append((cls, own))
            cls.__setattr__, cls.__delattr__ = _hooks(cls)
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc):
        _ACTIVE.pop()
        for cls, own in reversed(self.own):
            for name, method in zip(("__setattr__", "__delattr__"), own):
                if method is None:
                    delattr(cls, name)
                else:
                    setattr(cls, name, method)
        self.own = []

    def restore(self):
        """Every attribute stored as it was before the trace."""
        for obj, name, before in self.stored.values():
            if before is _MISSING:
                if _current(obj, name) is not _MISSING:
                    object.__delattr__(obj, name)
            else:
                object.__setattr__(obj, name, before)

    def check(self, fn, kept):
        """Refuses the trace (after putting every store back) where it stored an attribute
        that kept_values.KeptWatch `kept` does not store again after each call."""
        for obj, name, before in self.stored.values():
            now = _current(obj, name)
            if now is before:
                continue
            if id(obj) in kept.before and name not in slot_names(type(obj)) and \
                    (now is _MISSING or kept.repeatable(now)):
                continue
            self.restore()
            raise TraceError(
                f"compiled code ({function_name(fn)}) set the attribute `{name}` of a "
                f"{type(obj).__name__} it reaches ({_show(before)} -> {_show(now)}), which "
                f"compiled calls cannot store again ({_why(obj, name, kept)}): a trace runs "
                f"the Python once, so the store would happen once instead of on every "
                f"call. With fullgraph=False this call runs eagerly. Fix: keep the object "
                f"where the function names it (a global, a closure variable, an argument, "
                f"or an attribute of one), store a number, string or tensor, or return the "
                f"value and store it after the call.")


def _why(obj, name, kept):
    if name in slot_names(type(obj)):
        return "it keeps its attributes in __slots__"
    if id(obj) not in kept.before:
        return "it is held too deep inside what the function names, or has too many " \
               "attributes"
    return "the value is an object the code made, which every eager call makes anew"


def _show(v):
    if v is _MISSING:
        return "unset"
    if type(v) is TracedNumber:     # type(): its __class__ answers as its value's
        return "a number of this call"      # repr would read its value
    if type(v) in (list, tuple, set, dict) and any(
            type(x) is TracedNumber for x in (v.values() if type(v) is dict else v)):
        return f"a {type(v).__name__} holding a number of this call"
    text = repr(v)
    return text if len(text) <= 40 else f"a {type(v).__name__}"
