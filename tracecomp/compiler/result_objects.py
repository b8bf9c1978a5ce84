"""Objects a compiled call returns that hold tensors its graph computed: a policy network's
`Categorical(logits=self.head(x))`, sketch-rnn's decoder returning a mixture object of its
parameters. Flattening the call's result (signature.flatten) takes such an object's
attributes as fields, so each tensor among them is a graph output and the caller gets a
new object of the class with the computed tensors, as torch.compile reconstructs it.
Left whole (a static leaf, the same object every call), it would hand out the trace's
stand-ins, which hold no values.

Only results are taken apart this way, and only plain objects (not modules, optimizers,
classes or functions) with a traced tensor somewhere among their attributes: those in its
`__dict__` and in the `__slots__` of its class and their bases. A result that still holds a
traced tensor where it cannot be taken apart (a module, a callable object, one nested
deeper than _DEPTH) refuses the trace (`refuse_traced_statics`), a graph break: handing
it back would give the caller stand-ins without values. Modules and optimizers are the
exception: returned whole, their stand-ins are their own parameters or attributes the call
writes, which hold values again after the call."""
from ..errors import TraceError
from ..ir import Node
from ..tensor import Tensor

# how deep into lists, dicts and other objects a traced tensor is looked for
_DEPTH = 4
_NOT_FIELDS = ("__dict__", "__weakref__")


def object_fields(x):
    """The attribute names of a plain object holding a traced tensor, or None."""
    from ..nn.modules.module import Module
    from ..optim.optimizer import Optimizer
    if isinstance(x, (type, Module, Optimizer)) or callable(x):
        return None
    names = _attribute_names(x)
    if not names or not _holds_traced(_attributes(x, names), _DEPTH):
        return None
    return names


def refuse_traced_statics(statics):
    """Raise where a static leaf of a call's result (flatten's, left whole) holds a traced
    tensor."""
    for label, value in statics:
        if not _keeps_itself(value) and _holds_traced(value, _DEPTH, anything=True):
            where = f" (result{label})" if label else ""
            raise TraceError(f"the compiled function returns an object of type "
                             f"{type(value).__name__}{where} holding tensors it computed, "
                             f"which tracecomp cannot take apart to hand back their values; "
                             f"return the tensors themselves, or a tuple, dict, dataclass or "
                             f"plain object of them")


def _keeps_itself(x):
    """A module or optimizer returned whole: its traced stand-ins are its own parameters
    (put back after the trace) or attributes the call writes, which are replayed with their
    computed values (attributes.py)."""
    from ..nn.modules.module import Module
    from ..optim.optimizer import Optimizer
    return isinstance(x, (Module, Optimizer))


def _attribute_names(x):
    """x's attributes: its slots that are set (in its class and bases), then its __dict__'s;
    () for an object with neither (a number, a string)."""
    names = []
    for cls in type(x).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if slot in _NOT_FIELDS:
                continue
            if slot.startswith("__") and not slot.endswith("__"):   # name-mangled
                slot = f"_{cls.__name__.lstrip('_')}{slot}"
            if slot not in names and hasattr(x, slot):
                names.append(slot)
    if hasattr(x, "__dict__") and not isinstance(x, type):
        names += [n for n in vars(x) if n not in names]
    return tuple(names)


def _attributes(x, names):
    return {n: getattr(x, n) for n in names}


def _holds_traced(x, depth, anything=False):
    """Whether a traced tensor lies in x, within `depth` levels of containers and plain
    objects (`anything`: callables' attributes too, but not a module's or optimizer's)."""
    if isinstance(x, Tensor):
        return isinstance(x._data, Node)
    if depth == 0:
        return False
    if isinstance(x, dict):
        return any(_holds_traced(v, depth - 1, anything) for v in x.values())
    if isinstance(x, (list, tuple)):
        return any(_holds_traced(v, depth - 1, anything) for v in x)
    if isinstance(x, type) or (callable(x) and not anything) or (anything and _keeps_itself(x)):
        return False
    names = _attribute_names(x)
    return bool(names) and _holds_traced(_attributes(x, names), depth - 1, anything)
