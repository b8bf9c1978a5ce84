"""Tensors a compiled function names itself (a global `X`, a closure's `batch`) are graph
inputs, read from their names on every call, as torch.compile lifts them.

A training loop that rebinds a global to the next batch (`X, Y = next(it); step()`), or a
closure over a tensor refilled in place, then runs one compiled graph: each call reads the
tensor the name holds now. The signature covers its shape, dtype and requires_grad, as an
argument's, so a new shape compiles again and says which name changed ("global.X").

Held as constants instead (the rule before), every rebinding compiled again: a loop over
5 batches compiled 5 times, and past the recompile limit it warned each step.

What is lifted: a tensor held by a global name the function's code loads (or a function,
lambda or comprehension defined in it loads), or by one of its closure variables, or a
parameter (a leaf that requires grad) one element in a list, tuple or dict such a name
holds (`params = [W1, b1]`, the update `for p in params: p.sub_(lr * p.grad)`), or kept on
the object of a method compiled (compile(obj) of a callable object: `self.running_mean`),
unless it is an argument of the call or a module's or optimizer's tensor (those are inputs
already). One that requires grad is lifted as a module's parameter is, its .grad an input
too where it has one: lecture code keeps its parameters in globals and updates them by
hand (`p.data += -lr * p.grad` after `loss.backward()`, all compiled), which the captured
input it was before (tracing/tracer.py: Tracer.capture, still for tensors reached
otherwise) could not write back. Tensors further inside what it names (a hand-written
optimizer's `self.param_momentum[p]`) are lifted once a trace reads them (deep_tensors.py,
`lift_into` adds both); what the code reaches otherwise (a module method's global, an
argument's object) stays a constant, checked by its version and where it was read
(outside_tensors.py).

A lifted tensor is a traced value while the code runs, so code that needs its numbers
(`.item()`, an `if` on it, a data-dependent shape) cannot trace: such a trace fails with
BoundRead, and the compiled function then holds those tensors as constants again
(driver.CompiledFunction._call), as it did before they were lifted.
"""
from types import ModuleType

from ..nn.module import Module
from ..sparse_data import SparseData
from ..tensor import Tensor
from .code_names import named_values
from .deep_tensors import is_deep
from .deep_tensors import source as deep_source
from .grad_inputs import grad_tail
from .state import inside

KIND = "bound"      # the first element of a lifted tensor's state label
_CONTAINERS = (list, tuple, dict)


class BoundRead(Exception):
    """A trace with lifted tensors failed: the driver compiles again with them held as
    constants."""


def lift_into(fn, args, state, deep):
    """Insert into `state` (collect's) the tensors lifted this call: those fn names itself
    and those in the places `deep` learned (deep_tensors.Places), before the .grad tail
    (which lookups extend), and the .grad of those that have one after it."""
    bound = lifted(fn, args, state)
    if deep.heads:
        taken = {id(t) for _, t in state}
        taken.update(map(id, args))
        taken.update(id(t) for _, t in bound)
        bound += deep.lifted(fn, args, taken)
    cut = grad_tail(state)
    state[cut:cut] = bound
    state += [(("grad", label), t.grad) for label, t in bound if t.grad is not None]


def lifted(fn, args, state):
    """[(label, tensor)] of the tensors fn names itself that become inputs for this call,
    labels ("bound", "global" or "closure", name), without the tensors in `args` (the
    call's arguments) and `state` (everything else read: collect's)."""
    if getattr(fn, "__code__", None) is None:
        return []
    found = []
    for _, how, name, v in named_values(fn):
        kind = "global" if how == "item" else "closure"
        if isinstance(v, Tensor):
            if type(v._data) is not SparseData:     # a sparse one stays a constant
                found.append(((KIND, kind, name), v))
        elif type(v) in _CONTAINERS:    # `params = [W1, b1]`: one element in, by its key
            found += [((KIND, kind, name, key), t) for _, _, key, t in inside(v)
                      if _hand_parameter(t)]
    owner = _plain_owner(fn)
    if owner is not None:       # a plain object's method: the tensors it keeps on self
        found += [((KIND, "self", name), t) for name, t in vars(owner).items()
                  if isinstance(t, Tensor) and type(t._data) is not SparseData]
    if not found:
        return found
    taken = {id(t) for _, t in state}
    taken.update(id(a) for a in args)
    kept = []
    for label, t in found:
        if id(t) not in taken:
            taken.add(id(t))
            kept.append((label, t))
    return kept


def is_lifted(label):
    return type(label) is tuple and label[0] == KIND


def source(fn, label):
    """Where a lifted tensor is read from on each call, as state.follow takes it: (fn's
    globals, "item", name), (its closure cell, "cell", name), (the object of a method,
    "attr", name), or (the list, tuple or dict a name holds, "item", key); a deep label's,
    deep_tensors.source."""
    if is_deep(label):
        return deep_source(fn, label)
    _, kind, name, *inner = label
    if inner:       # an element of the list, tuple or dict the name holds now
        holder, how, key = source(fn, label[:3])
        return (holder[key] if how == "item" else holder.cell_contents), "item", inner[0]
    if kind == "global":
        return fn.__globals__, "item", name
    if kind == "self":
        return fn.__self__, "attr", name
    return fn.__closure__[fn.__code__.co_freevars.index(name)], "cell", name


def _hand_parameter(t):
    """A leaf tensor that requires grad: a parameter kept by hand in a list or dict (only
    those: a list the code appends its losses to, or a dict of data, would compile again
    for each new element if its tensors were inputs; they stay constants, checked where
    they were read, outside_tensors.py)."""
    return isinstance(t, Tensor) and t._requires_grad and t._node is None and \
        type(t._data) is not SparseData


def _plain_owner(fn):
    """The object of a bound method of the user's class (compile(obj) of a callable object,
    compile(trainer.step)), not a module (whose tensors are state) or a Python module."""
    owner = getattr(fn, "__self__", None)
    if owner is None or isinstance(owner, (Module, ModuleType)) or \
            type(getattr(owner, "__dict__", None)) is not dict:
        return None
    return owner
