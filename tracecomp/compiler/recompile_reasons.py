"""Why a call missed the cache, in the user's terms, and what to do about compiling again.

`explain_miss` compares a new signature (signature.py) with the nearest cached one and
says what changed: "input x dim 0: 64 -> 32", "training: True -> False";
`only_sizes_changed` says whether only tensor sizes did (the call a dynamic graph serves);
`recompile_advice` what to do about a reason that keeps coming back.
"""

from .signature import PACKED_SIZES, TensorSpec, array_text, label_text


def explain_miss(new, cached):
    """Why `new` missed the cache: its differences from the nearest of `cached`."""
    if not cached:
        return "first call"
    new_d = new.as_dict()
    # among equally near signatures, the most recent one reads best
    best = min(reversed(cached), key=lambda old: _distance(new_d, old.as_dict()))
    return "; ".join(_differences(new_d, best.as_dict())) or "structure of the arguments"


def only_sizes_changed(new, cached):
    """Whether `new` differs from the nearest of `cached` only in the sizes of tensors (the
    same ranks, dtypes, requires_grad and devices) and in a PackedSequence's batch sizes,
    which are sizes too (each is how many rows a time step reads): the call a dynamic graph
    would serve, and where a recurrent layer traces its time loop as one rnn_scan node
    (context.sizes_vary) instead of unrolling it again for the new lengths."""
    return nearest_resized(new, cached) is not None


def nearest_resized(new, cached):
    """The nearest of `cached` when `new` differs from it only in sizes (only_sizes_changed),
    else None."""
    if not cached:
        return None
    new_d = new.as_dict()
    nearest = min(reversed(cached), key=lambda old: _distance(new_d, old.as_dict()))
    old_d = nearest.as_dict()
    changed = [k for k in set(new_d) | set(old_d) if new_d.get(k) != old_d.get(k)]
    resized = bool(changed) and all(
        isinstance(new_d.get(k), TensorSpec) and isinstance(old_d.get(k), TensorSpec)
        and len(new_d[k][0]) == len(old_d[k][0]) and new_d[k][1:] == old_d[k][1:]
        or _packed_sizes(k, new_d.get(k)) and _packed_sizes(k, old_d.get(k))
        for k in changed)
    return nearest if resized else None


def _packed_sizes(key, value):
    """Whether a signature entry is a PackedSequence argument's batch sizes (_walk)."""
    return isinstance(key, str) and key.startswith("argument ") and \
        key.endswith(PACKED_SIZES) and isinstance(value, tuple) and value[:2] == ("value", "tuple")


def _distance(a, b):
    return sum(1 for k in set(a) | set(b) if a.get(k, None) != b.get(k, None))


def _differences(new, old):
    out, appeared, gone = [], [], []
    for key in list(old) + [k for k in new if k not in old]:
        a, b = old.get(key, "absent"), new.get(key, "absent")
        if a == b or isinstance(key, tuple) and key[0] == "setting" and a == "absent":
            continue        # (a new fed hyperparameter's input: its settings say so)
        label = label_text(key)
        if isinstance(b, TensorSpec) and a == "absent":     # optimizer state, .grad
            appeared.append(label)
        elif isinstance(a, TensorSpec) and b == "absent":
            gone.append(label)
        elif isinstance(a, TensorSpec) and isinstance(b, TensorSpec):
            out.extend(_tensor_differences(label, a, b))
        elif isinstance(key, tuple) and key[0] == "settings" and a != "absent" != b:
            out.append(_settings_differences(label, dict(a), dict(b)))
        elif isinstance(a, tuple) and a and a[0] in ("value", "object", "array"):
            out.append(f"{label}: {_show(a)} -> {_show(b)}")
        else:
            out.append(f"{label}: {a} -> {b}")
    for labels, what in ((appeared, "new tensors read"), (gone, "tensors no longer read")):
        if labels:
            out.append(f"{len(labels)} {what}: " + ", ".join(labels[:4])
                       + (", ..." if len(labels) > 4 else ""))
    return out


# what to do about compiling again and again, by what the reason (explain_miss's) starts
# with or holds, first match; the last rule holds for every reason
_ADVICE = (
    (lambda r: " settings " in r,       # an optimizer's hyperparameters (_settings_differences)
     "An optimizer's hyperparameters are compiled in as constants, except those it feeds as "
     "inputs once they change (SGD: lr, momentum; Adam, AdamW: lr, betas; RMSprop, Adagrad: "
     "lr), so a scheduler stepped every call that changes another compiles every call: "
     "compile the model alone (tracecomp.compile(model)) and keep opt.step() and the "
     "scheduler outside"),
    (lambda r: r.startswith("argument "),   # a number or other Python value (static_value)
     "A number argument whose value the code reads (a branch, a range, a size, min() or "
     "max(), returning it) and any other argument that is not a tensor (a flag, a string) "
     "is compiled in as a constant, so each new value compiles again (a number the code "
     "only computes with is fed as an input once it changes): pass a number that changes "
     "every call as a tensor (tracecomp.tensor(step)), or decide what depends on it outside "
     "the compiled function"),
    (lambda r: True,
     "Each new input shape, dtype, requires_grad, train/eval or grad mode compiles again: "
     "keep them stable (e.g. drop_last=True in the DataLoader)"),
)


def recompile_advice(reason):
    """What to do about compiling again and again for `reason` (explain_miss's text)."""
    return next(advice for applies, advice in _ADVICE if applies(reason))


def _settings_differences(label, a, b):
    """The hyperparameters of an optimizer group that changed, each `key old -> new`."""
    changed = [k for k in list(a) + [k for k in b if k not in a] if a.get(k) != b.get(k)]
    return f"{label} " + ", ".join(f"{k} {a.get(k, 'absent')!r} -> {b.get(k, 'absent')!r}"
                                   for k in changed)


def _tensor_differences(label, a, b):
    (shape_a, dtype_a, grad_a, device_a), (shape_b, dtype_b, grad_b, device_b) = a, b
    out = []
    if len(shape_a) != len(shape_b):
        out.append(f"{label} shape: {list(shape_a)} -> {list(shape_b)}")
    else:
        out.extend(f"{label} dim {d}: {x} -> {y}" for d, (x, y) in
                   enumerate(zip(shape_a, shape_b)) if x != y)
    if dtype_a != dtype_b:
        out.append(f"{label} dtype: {dtype_a} -> {dtype_b}")
    if grad_a != grad_b:
        out.append(f"{label} requires_grad: {grad_a} -> {grad_b}")
    if device_a != device_b:
        out.append(f"{label} device: {device_a or 'cpu'} -> {device_b or 'cpu'}")
    return out


def _show(v):
    if isinstance(v, tuple) and len(v) == 3 and v[0] == "value":
        return repr(v[2])
    if isinstance(v, tuple) and len(v) == 4 and v[0] == "array":     # static_value's
        return array_text(*v[1:])
    if isinstance(v, tuple) and len(v) == 3:
        return f"a different {v[1]} object"
    return str(v)
