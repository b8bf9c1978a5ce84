"""What a compiled call reads and writes besides its arguments.

Reads: the parameters and buffers of the modules it uses, their current `.grad` tensors,
and the state of the optimizers it uses (momentum buffers, Adam's moments and step
counts). All of them become graph inputs, so their current values are used on every call
and nothing is baked in.

Writes (effects), found by comparing before and after tracing, then replayed after every
call on the real objects:
  - data:  an in-place update of an input (BatchNorm's running statistics, `p.add_(...)`
           in an optimizer step) is written into the tensor's own buffer;
  - grad:  `.grad` set by a traced `loss.backward()` or cleared by `zero_grad()`;
  - state: a new or replaced optimizer state entry (the first step creates them).
Tracing itself changes nothing the user can see: every holder's data, `.grad` and every
optimizer's state are restored when tracing ends.
"""
from dataclasses import dataclass

from .errors import TraceError
from .tensor import Tensor


@dataclass
class Effect:
    kind: str           # "data" | "grad" | "state"
    target: object      # an input position (data, grad), or (optimizer, param, key) (state)
    has_value: bool     # False: .grad set to None


def optimizer_types():
    from .optim.optimizer import Optimizer
    return Optimizer


def collect(modules, optimizers):
    """[(label, tensor)] of everything read besides the arguments, module paths for
    source lines, the training flags and the optimizers' hyperparameters (signature)."""
    state, seen, module_names, flags = [], set(), {}, []
    labels = {}                     # id(parameter) -> its label, for grads and opt state

    def add(label, t):
        if t is not None and id(t) not in seen:
            seen.add(id(t))
            state.append((label, t))
            labels.setdefault(id(t), label)

    for r, root in enumerate(modules):      # inlined (no helper calls): runs every call
        prefix = "" if len(modules) == 1 else f"m{r}."
        stack = [(prefix, root)]
        while stack:
            path, mod = stack.pop()
            if id(mod) in module_names:
                continue
            module_names[id(mod)] = path[:-1] if path else ""
            flags.append((("training of", path), mod.training))
            for table in (mod._parameters, mod._buffers):
                for name, t in table.items():
                    if t is not None and id(t) not in seen:
                        seen.add(id(t))
                        state.append((path + name, t))
            children = mod._modules
            if children:
                stack.extend((f"{path}{name}.", child) for name, child in
                             reversed(children.items()) if child is not None)
    if optimizers or any(t.grad is not None for _, t in state):
        labels.update((id(t), label) for label, t in state)
    params = [t for _, t in state if t._requires_grad]
    if not optimizers and all(p.grad is None for p in params):
        return state, module_names, tuple(flags)
    # labels of what follows are tuples, formatted only when shown (signature.label_text)
    for o, opt in enumerate(optimizers):
        for g, group in enumerate(opt.param_groups):
            for k, p in enumerate(group["params"]):
                if id(p) not in seen:
                    add(("param", o, g, k), p)
                    params.append(p)
            flags.append((("settings", o, g), tuple(
                (key, v) for key, v in sorted(group.items()) if key != "params"
                and isinstance(v, (int, float, bool, str, type(None))))))
        for p, entries in opt.state.items():
            for key, v in entries.items():
                if isinstance(v, Tensor):
                    add(("state", labels.get(id(p), "param"), key), v)
    for p in params:
        if p.grad is not None:
            add(("grad", labels.get(id(p), "param")), p.grad)
    return state, module_names, tuple(flags)


class Snapshot:
    """Before tracing: every holder's .grad and every optimizer's state, to compare with
    afterwards (effects) and to restore."""

    def __init__(self, holders, optimizers):
        self.holders, self.optimizers = holders, optimizers
        self.grads = [h.grad for h in holders]
        self.states = [{p: dict(entries) for p, entries in opt.state.items()}
                       for opt in optimizers]

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
        for o, (opt, before) in enumerate(zip(self.optimizers, self.states)):
            for p, entries in opt.state.items():
                old = before.get(p, {})
                for key, v in entries.items():
                    if key in old and old[key] is v:
                        continue
                    if not isinstance(v, Tensor):
                        raise TraceError(f"optimizer state {key!r} changed to a Python value "
                                         f"({v!r}) inside compiled code: it would be fixed at "
                                         f"its trace-time value; keep it in a tensor")
                    effects.append(Effect("state", (o, p, key), True))
                    values.append(tracer.lift(v))
        return effects, values

    def restore(self):
        for h, g in zip(self.holders, self.grads):
            h.grad = g
        for opt, before in zip(self.optimizers, self.states):
            opt.state.clear()
            for p, entries in before.items():
                opt.state[p] = entries


def apply(effects, values, every, optimizers):
    """Replay the effects of one call on the real tensors and optimizers."""
    import numpy as np
    values = iter(values)
    for e in effects:
        if e.kind == "data":
            t = every[e.target]
            np.copyto(t._data, next(values), casting="unsafe")
            t._vc[0] += 1
        elif e.kind == "grad":
            every[e.target].grad = Tensor._make(next(values)) if e.has_value else None
        else:
            o, p, key = e.target
            optimizers[o].state[p][key] = Tensor._make(next(values))
