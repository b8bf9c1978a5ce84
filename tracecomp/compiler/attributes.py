"""Module attributes that compiled code assigns: `self.stat = 0.9 * self.stat + ...`.

A forward may rebind a module attribute to a new tensor (a running statistic kept as a
plain attribute, an RNN's last hidden state, attention weights kept for a plot), or rebind a
buffer (`self.buf = self.buf * 0.9` instead of an in-place update). Eagerly the module then
holds the new tensor; compiled, the traced code would leave a graph value in the attribute.
So, around tracing, every module's attributes are compared before and after:

  - an attribute (or buffer) rebound to a tensor, or to a tuple, list or dict of tensors,
    becomes an extra output of the graph; after every call the module gets the computed tensor, as
    eagerly (with a gradient when it has one);
  - an attribute set to None, or deleted, is set to None / deleted after every call;
  - an attribute set to a Python number, a numpy scalar (CategoricalVAE's annealed
    `self.temp = np.maximum(...)`), a string, bool or a tuple of them (a KV cache's
    `self.pos += n`, `self.calls += 1`, `self.last_shape = x.shape`) is set to its
    trace-time value after every call. That value is what the code computes from what the
    trace read, and every number read is guarded (value_reads.py: `self.pos` is read at
    0, so the graph runs only while it is 0): the next call, with `pos` at 2, traces
    again, as torch.compile recompiles for a changed int attribute;
  - an attribute set to a number `.item()` made (`self.last_loss = loss.item()`), or to a
    number argument fed each call (number_args.py), is an extra output too: after every
    call the module gets this call's number;
  - any other change (a list's or an object's identity) cannot be replayed: the graph
    holds the trace's object, which eager code would make anew each call. That is a
    TraceError naming the attribute, never a silent wrong value;
  - a parameter replaced by a new nn.Parameter (zalandoresearch's VectorQuantizerEMA:
    `self._ema_w = nn.Parameter(self._ema_w * decay + ...)`) is a TraceError too, so a
    graph break with fullgraph=False, as torch.compile breaks on `nn.Parameter()` there:
    the new leaf is a graph value that no later call could own. A lazy module's first
    call (an UninitializedParameter made real) is not a replacement.

The attributes' current tensors are graph inputs like buffers (compile_state.collect), so
a new value is read on the next call, and a new shape recompiles with the reason.
Everything is restored when tracing ends; the writes happen only when the code runs.
"""

from ..errors import TraceError
from ..ir import Node
from ..tensor import Tensor
from ..tracing.number import TracedNumber
from .signature import constant, flatten, unflatten

# what Module.__init__ keeps in __dict__ itself: never user attributes
INTERNAL = frozenset(("_parameters", "_buffers", "_modules", "_forward_hooks",
                       "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                       "_non_persistent_buffers_set", "training", "_init_args",
                       "_as_built", "_forward_pre_hooks_with_kwargs",
                       "_forward_hooks_with_kwargs", "_state_dict_hooks",
                       "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
                       "_load_state_dict_post_hooks"))
_ABSENT = object()


class AttributeWrite:
    # a plain class, not a dataclass (passes/memory.py's MemoryPlan says why)
    def __init__(self, root, path, name, structure, n_tensors, statics=(), delete=False,
                 constant=None, number=None):
        self.root = root        # which module the compiled call uses (its position)
        self.path = path        # child names from that module down to the owner
        self.name = name
        self.structure = structure  # flatten()'s structure of the value; None: `constant`
        self.n_tensors = n_tensors  # how many graph outputs the value takes
        self.statics = statics  # the value's non-tensor leaves (None in a tuple of states)
        self.delete = delete    # the code deleted the attribute
        self.constant = constant    # a Python value the code set (structure None, n_tensors 0)
        self.number = number    # int or float: the one output is a traced number's 0-d tensor

    def where(self):
        return ".".join(self.path + (self.name,))

    def owner(self, roots):
        """The module whose attribute this is, among the call's roots."""
        mod = roots[self.root]
        for part in self.path:
            mod = mod._modules[part]
        return mod


def _modules(roots):
    """(root index, path, module) for every module reachable from the roots, once each."""
    seen, out = set(), []
    for r, root in enumerate(roots):
        for path, mod in root.named_modules():
            if id(mod) not in seen:
                seen.add(id(mod))
                out.append((r, tuple(path.split(".")) if path else (), mod))
    return out


def _attributes(mod):
    """A module's user attributes, buffers and parameters, by name (buffers and parameters
    keyed apart)."""
    out = {name: v for name, v in mod.__dict__.items() if name not in INTERNAL}
    out.update({("buffer", name): v for name, v in mod._buffers.items()})
    out.update({("parameter", name): v for name, v in mod._parameters.items()})
    return out


def _table(mod, key):
    """The dict that holds the attribute `key` (_attributes' keys) of mod."""
    if not isinstance(key, tuple):
        return mod.__dict__, key
    return (mod._buffers if key[0] == "buffer" else mod._parameters), key[1]


class AttributeSnapshot:
    """Every module's attributes before tracing, to find what the code rebound."""

    def __init__(self, roots):
        self.modules = _modules(roots)
        self.before = [_attributes(mod) for _, _, mod in self.modules]

    def writes(self, tracer):
        """(AttributeWrite list, the graph values they take, in order)."""
        writes, values = [], []
        for (r, path, mod), before in zip(self.modules, self.before):
            after = _attributes(mod)
            for key in list(before) + [k for k in after if k not in before]:
                old, new = before.get(key, _ABSENT), after.get(key, _ABSENT)
                if old is new:
                    continue
                name = key[1] if isinstance(key, tuple) else key
                if isinstance(key, tuple) and key[0] == "parameter":
                    _check_parameter(path, name, old, new)
                    continue
                write = _write(r, path, name, old, new)
                if write.number is not None:
                    values.append(tracer.lift(new.tensor))
                elif write.structure is not None:
                    tensors, _, _ = flatten(new)
                    values.extend(tracer.lift(t) for _, t in tensors)
                writes.append(write)
        return writes, values

    def restore(self):
        for (_, _, mod), before in zip(self.modules, self.before):
            for key in [k for k in _attributes(mod) if k not in before]:
                table, name = _table(mod, key)
                del table[name]
            for key, v in before.items():
                table, name = _table(mod, key)
                if table.get(name, _ABSENT) is not v:   # a write counts as a change of
                    table[name] = v                     # structure (nn/structure.py)


def _check_parameter(path, name, old, new):
    """Refuse a parameter that the traced code replaced (see the module docstring)."""
    from ..nn.modules.lazy import UninitializedParameter
    if old is _ABSENT or isinstance(old, UninitializedParameter):
        return          # a lazy module's parameters, made on its first call
    where = ".".join(path + (name,))
    raise TraceError(
        f"compiled code replaced the parameter `{where}` with a new {type(new).__name__}: a "
        f"parameter made from a value the graph computes would be the trace's one on every "
        f"later call. torch.compile breaks the graph at such an `nn.Parameter(...)` too; with "
        f"fullgraph=False this call runs eagerly there. Fix: update it in place under "
        f"no_grad (`self.w.data.copy_(...)`, `self.w.mul_(...)`) or keep the state in a "
        f"buffer.")


def _write(r, path, name, old, new):
    where = ".".join(path + (name,))
    if new is _ABSENT or new is None:
        return AttributeWrite(r, path, name, None, 0, delete=new is _ABSENT)
    if _tensors_only(new):
        tensors, statics, structure = flatten(new)
        return AttributeWrite(r, path, name, structure, len(tensors),
                              tuple(v for _, v in statics))
    if constant(new):
        return AttributeWrite(r, path, name, None, 0, constant=new)
    if type(new) is TracedNumber:     # type(): its __class__ answers as its value's
        return AttributeWrite(r, path, name, None, 1, number=new.__class__)
    raise TraceError(
        f"compiled code changed the module attribute `{where}` from {_show(old)} to "
        f"{_show(new)}: a compiled graph is traced once, so an object it makes would be "
        f"the trace's one on every later call. Keep such state in tensors, numbers or "
        f"strings, or change it outside the compiled call.")


def _tensors_only(v):
    """A tensor, or a tuple/list of them, nested or not, holding at least one (None allowed
    inside: an LSTM's (h, None), d2l's decoder's [[w1, w2], [None, None]])."""
    n = _leaves(v)
    return n is not None and n > 0


def _leaves(v):
    """How many tensors v holds when it is a tensor or a (nested) tuple/list of tensors
    and Nones, or a plain dict of them keyed by strings or ints (reformer's LSH attention
    caches its buckets as `self._cache = {**self._cache, 'buckets:0': t}`); else None."""
    if isinstance(v, Tensor):
        return 1
    if v is None:
        return 0
    if type(v) is dict and all(type(k) in (str, int) for k in v):
        v = v.values()
    elif not isinstance(v, (tuple, list)):
        return None
    total = 0
    for x in v:
        n = _leaves(x)
        if n is None:
            return None
        total += n
    return total


def _keyed(v):
    """Whether a dict is in v (a _tensors_only value)."""
    return type(v) is dict or isinstance(v, (tuple, list)) and any(map(_keyed, v))


def tensors_of(value):
    """[(label suffix, tensor)] of the tensors a module attribute holds: itself, or those in
    a tuple, list or dict of them. A list's are numbered in order (`.1`); where a dict is
    inside, the suffix names its keys (`.buckets:0`), so the same number of tensors under
    other keys is another signature, not the trace's keys read with the new tensors."""
    if isinstance(value, Tensor):
        return [("", value)]
    if not _tensors_only(value):
        return []
    held = flatten(value)[0]
    if _keyed(value):
        return held
    return [(f".{k}" if len(held) > 1 else "", t) for k, (_, t) in enumerate(held)]


def _show(v):
    if v is _ABSENT:
        return "nothing (a new attribute)"
    if type(v) is TracedNumber:
        return "a number of this call"      # repr would read its value
    text = repr(v)
    return text if len(text) <= 40 else f"a {type(v).__name__}"


def apply(writes, tensors, roots):
    """After a call: give each module the tensors its traced code assigned."""
    tensors = iter(tensors)
    for w in writes:
        mod = w.owner(roots)
        if w.delete:
            if w.name in mod.__dict__ or w.name in mod._buffers:
                delattr(mod, w.name)
            continue
        value = w.constant
        if w.number is not None:
            value = w.number(next(tensors).item())
        elif w.structure is not None:
            value = unflatten(w.structure, [next(tensors) for _ in range(w.n_tensors)],
                              w.statics)
        setattr(mod, w.name, value)


class TensorAttributes:
    """Attributes the traced code sets on the tensors it reads besides its arguments (the
    parameters, buffers and optimizer state): a hand-written optimizer's `p.grad_avg = ...`
    (fastai course22p2's Momentum, RMSProp and Adam keep their state on the parameter).
    A tensor's attributes are not state a graph reads or writes back, so the trace would
    leave its graph value there for good, and a trace run again (deep_tensors.DeepRead)
    read it as the next trace's input (a KeyError in Graph.copy). So such a store is put
    back and refused: a TraceError naming the tensor, a graph break with fullgraph=False
    (the call runs eagerly, as written). `.grad` has its own write-back (state.py)."""

    def __init__(self, state):
        self.state = state      # [(label, tensor)]
        self.before = [dict(object.__getattribute__(t, "__dict__")) for _, t in state]

    def _stores(self):
        """(label, tensor, its attributes before, name) of each attribute the trace set
        to a tensor (or a tuple/list of them) it computed."""
        out = []
        for (label, t), before in zip(self.state, self.before):
            for name, v in object.__getattribute__(t, "__dict__").items():
                if name != "grad" and before.get(name, _ABSENT) is not v and \
                        any(isinstance(x._data, Node) for _, x in tensors_of(v)):
                    out.append((label, t, before, name))
        return out

    def check(self, label_text):
        for label, t, _, name in self._stores():
            raise TraceError(
                f"compiled code set the attribute `{name}` of `{label_text(label)}` (shape "
                f"{list(t.shape)}) to a tensor it computed: a tensor's own attributes are "
                f"not state a compiled graph reads or writes back, so later calls would "
                f"not store theirs. With fullgraph=False this call runs eagerly. Fix: keep "
                f"such state in a dict keyed by the tensor (an optimizer's `self.state[p]`) "
                f"or in a module buffer.")

    def restore(self):
        for _, t, before, name in self._stores():
            table = object.__getattribute__(t, "__dict__")
            if name in before:
                table[name] = before[name]
            else:
                del table[name]
