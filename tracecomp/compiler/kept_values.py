"""Tensors the traced code stores outside itself: a forward hook that keeps a layer's
output in a global dict (`activation["fc1"] = o.detach()`, the feature-extraction and
Grad-CAM recipe), a step that appends its loss to a global list. Replayed after every call.

A trace runs the Python once, so such a store would happen once, with a graph value in
place of a tensor. As torch.compile replays the side effects it traced, `KeptWatch` looks,
before and after the trace, at the containers the function and the forward hooks of its
modules reach (state.starts: arguments, closure, globals, a bound method's object, and one
attribute or element inside one; a dict, a list or a plain object's attributes): a traced
tensor set under a key (a dict item, an attribute, a list element) or appended to a list
becomes an extra output of the graph (`Kept`), the container is put back as it was, and
after each call `apply` stores that call's tensor (with its autograd history, as eagerly)
the same way. A traced tensor kept anywhere else is a TraceError
(state.refuse_kept_traced).
"""
from dataclasses import dataclass
from types import FunctionType, MethodType, ModuleType

from ..errors import TraceError
from ..ir import Node
from ..nn.module import Module
from ..optim.optimizer import Optimizer
from ..tensor import Tensor
from ..tracing.number import ITEM, TracedNumber
from .state import INSIDE_MAX, inside, starts


@dataclass
class Kept:
    holder: object      # the dict, list or object
    how: str            # "item" (holder[key] = value), "attr" (setattr) or "append"
    key: object = None
    number: type = None     # a number .item() made (`losses.append(loss.item())`): its type
    constant: tuple = ()    # (value,): a constant stored as it is (`log.append(1)`)


class KeptWatch:
    """The containers fn (and hooks) reach, as they were before the trace."""

    def __init__(self, places, own):
        self.own = own      # ids of the arguments' stand-ins: not the code's tensors
        self.before = {}    # id(container) -> (container, copy of its entries)
        for _, x in places:
            for value in (x, *(v for *_, v in inside(x))):
                entries = _entries(value)
                if entries is not None:
                    self.before.setdefault(id(value), (value, entries))

    def kept(self):
        """[(Kept, traced tensor or None)] of what the trace stored, each container put back:
        a traced tensor; a number .item() made (stored as its 0-d tensor, given as the
        number); a constant (a Python number, str, None or tuple of them: `log.append(1)`,
        `stats["mode"] = "train"`), stored as it is (None for its tensor). Changes no call
        can repeat (an item removed, a list reordered) are listed in self.unrepeated."""
        out, self.unrepeated = [], []
        for holder, before in self.before.values():
            after = _entries(holder)
            if type(holder) is list:
                stored = self._list_stores(holder, before, after)
                if stored:
                    holder[:] = before
            else:
                how = "item" if type(holder) is dict else "attr"
                stored = [(Kept(holder, how, k), v) for k, v in after.items()
                          if before.get(k, _ABSENT) is not v and self._repeatable(v)]
                if any(k not in after for k in before):
                    self.unrepeated.append(f"a key removed from {_what(holder)}")
                for kept, _ in stored:
                    table = holder if how == "item" else holder.__dict__
                    if kept.key in before:
                        table[kept.key] = before[kept.key]
                    else:
                        del table[kept.key]
            out += [_output(k, v) for k, v in stored]
            self._refuse_nested(holder, before, after)
        return out

    def _list_stores(self, holder, before, after):
        old = len(before)
        if len(after) < old or any(
                a is not b and not self._traced(a) for a, b in zip(after, before)):
            if after != before:
                self.unrepeated.append(f"items removed or replaced in {_what(holder)}")
            return [(Kept(holder, "item", k), v) for k, v in enumerate(after[:old])
                    if v is not before[k] and self._traced(v)]
        stored = [(Kept(holder, "item", k), v) for k, v in enumerate(after[:old])
                  if v is not before[k]]
        if not all(map(self._repeatable, after[old:])):
            self.unrepeated.append(f"an object appended to {_what(holder)}")
        return stored + [(Kept(holder, "append"), v) for v in after[old:]
                         if self._repeatable(v)]

    def _repeatable(self, v):
        return self._traced(v) or _constant(v)

    def _traced(self, v):
        if type(v) is TracedNumber:
            return ITEM in v.sources
        return isinstance(v, Tensor) and isinstance(v._data, Node) and id(v) not in self.own

    def _refuse_nested(self, holder, before, after):
        """A traced tensor stored inside something new (a tuple appended to a list): not
        replayed, so refused."""
        new = after[len(before):] if type(holder) is list else \
            [v for k, v in after.items() if before.get(k) is not v]
        for v in new:
            if not self._traced(v) and _holds_traced(v, self.own):
                raise TraceError(
                    "compiled code stored a tuple, list or dict holding a tensor it "
                    "computed outside itself: its Python runs once, when traced, so later "
                    "calls would not store theirs. Store each tensor itself (d[k] = t, "
                    "lst.append(t)), or return them and store them after the call.")


def _holds_traced(x, own, depth=3):
    if isinstance(x, Tensor):
        return isinstance(x._data, Node) and id(x) not in own
    if depth and type(x) in (tuple, list):
        return any(_holds_traced(v, own, depth - 1) for v in x)
    if depth and type(x) is dict:
        return any(_holds_traced(v, own, depth - 1) for v in x.values())
    return False


_NOT_CONTAINERS = (type, ModuleType, FunctionType, MethodType, Tensor, Module, Optimizer)


def _entries(x):
    """A copy of what container x holds (a list's items, a dict's or a plain object's
    entries), or None for anything else (a module's attributes and an optimizer's state
    have their own write-back: attributes.py, state.py)."""
    if type(x) is list:
        return list(x)
    if type(x) is dict:
        return dict(x)
    if isinstance(x, dict):     # a module's registries, an OrderedDict: not a store
        return None
    try:        # not getattr: a traced number argument would count that as reading it
        d = object.__getattribute__(x, "__dict__")
    except AttributeError:
        return None
    if type(d) is not dict or isinstance(x, _NOT_CONTAINERS) or len(d) > INSIDE_MAX:
        return None
    return dict(d)


def places(fn, args, modules):
    """What fn reaches (state.starts) and what the forward hooks and pre-hooks of its
    modules and their children reach."""
    found = list(starts(fn, args))
    seen = set()
    for root in modules:
        for module in root.modules():
            for entry in (*module._forward_hooks.values(),
                          *module._forward_pre_hooks.values()):
                hook = entry[0] if type(entry) is tuple else entry   # (hook, with_kwargs)
                if id(hook) not in seen:
                    seen.add(id(hook))
                    found += starts(hook, ())
    return found


_ABSENT = object()
_CONSTANTS = (int, float, bool, str, bytes, type(None))


def _constant(v):
    """A value a call can store again as it is: immutable, holding no tensor."""
    return type(v) in _CONSTANTS or type(v) is tuple and all(map(_constant, v))


def _what(holder):
    return f"a {type(holder).__name__}" if type(holder) in (list, dict) else \
        f"the attributes of a {type(holder).__name__}"


def _output(kept, v):
    """(Kept, the graph output it stores) for a stored value."""
    if type(v) is TracedNumber:
        kept.number = v.__class__
        return kept, v.tensor
    if isinstance(v, Tensor):
        return kept, v
    kept.constant = (v,)
    return kept, None


def appended_only(kept):
    """The containers the code only appends to (a log, a list of losses): they grow every
    call by the code's own doing, so they are not value-guarded (value_reads.py). One it
    sets an item or attribute of stays guarded by its values before the trace: a counter
    it reads and sets (`stats["n"] += 1`) then compiles again per value, as torch does,
    rather than storing the traced value for ever."""
    holders = {}
    for k, _ in kept:
        holders[id(k.holder)] = (k.holder, holders.get(id(k.holder), (None, True))[1]
                                 and k.how == "append")
    return [h for h, only in holders.values() if only]


def apply(kept, tensors):
    """After a call: store this call's tensors (and constants) as the traced code stored
    its own."""
    tensors = iter(tensors)
    for k in kept:
        if k.constant:
            t = k.constant[0]
        else:
            t = next(tensors)
            if k.number is not None:
                t = k.number(t.item())
        if k.how == "append":
            k.holder.append(t)
        elif k.how == "item":
            k.holder[k.key] = t
        else:
            setattr(k.holder, k.key, t)
