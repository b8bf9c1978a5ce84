"""The arguments and results of an exported program as flat lists of tensors and a spec of
their nesting (torch.export's in_spec / out_spec), in a form its file can hold.

A spec is JSON-able: ["T"] a tensor; ["C", value] a constant (None, a number, a string:
the example's value, which every call must repeat, as torch specializes it); ["tuple", [...]],
["list", [...]]; ["dict", [[key, spec], ...]].
"""
from ..tensor import Tensor

CONSTANT_TYPES = (type(None), bool, int, float, str)


def flatten(tree, what="the inputs"):
    """(tensors, spec) of tree."""
    tensors = []
    return tensors, _walk(tree, tensors, what)


def _walk(x, tensors, what):
    if isinstance(x, Tensor):
        tensors.append(x)
        return ["T"]
    if isinstance(x, (tuple, list)):
        kind = "tuple" if isinstance(x, tuple) else "list"
        return [kind, [_walk(v, tensors, what) for v in x]]
    if isinstance(x, dict):
        if not all(isinstance(k, str) for k in x):
            raise TypeError(f"torch.export: {what} hold a dict whose keys are not all strings "
                            f"({sorted(map(repr, x))}); export takes str keys")
        return ["dict", [[k, _walk(v, tensors, what)] for k, v in x.items()]]
    if isinstance(x, CONSTANT_TYPES):
        return ["C", x]
    raise TypeError(f"torch.export: {what} hold a {type(x).__name__}; export takes tensors, "
                    f"numbers, strings, None, and tuples, lists and dicts of them")


def unflatten(spec, tensors):
    """The tree spec describes, its tensors taken from `tensors` in order."""
    return _build(spec, iter(tensors))


def _build(spec, tensors):
    kind = spec[0]
    if kind == "T":
        return next(tensors)
    if kind == "C":
        return spec[1]
    if kind == "dict":
        return {k: _build(v, tensors) for k, v in spec[1]}
    items = [_build(v, tensors) for v in spec[1]]
    return tuple(items) if kind == "tuple" else items


def leaf_paths(spec, prefix):
    """Each tensor leaf's path as torch names it in its errors (`*args[0]`,
    `**kwargs['mask']`, `*args[1][0]`), in order; `prefix` names the root."""
    out = []
    _paths(spec, prefix, out)
    return out


def _paths(spec, path, out):
    kind = spec[0]
    if kind == "T":
        out.append(path)
    elif kind == "dict":
        for k, v in spec[1]:
            _paths(v, f"{path}[{k!r}]", out)
    elif kind in ("tuple", "list"):
        for i, v in enumerate(spec[1]):
            _paths(v, f"{path}[{i}]", out)


def mismatch(spec, got):
    """Why `got` (a spec) does not fit `spec`, torch's ValueError text, or None: the structure
    and every constant must be the example's."""
    if _same(spec, got):
        return None
    return (f"Trying to flatten user inputs with exported input tree spec:\n{describe(spec)}\n"
            f"but actually got inputs with tree spec of:\n{describe(got)}.\nPlease check that "
            f"the inputs have the same number and type of args and kwargs as the ones you used "
            f"when tracing.")


def _same(a, b):
    if a[0] != b[0]:
        return False
    if a[0] == "T":
        return True
    if a[0] == "C":
        return type(a[1]) is type(b[1]) and a[1] == b[1]
    if len(a[1]) != len(b[1]):
        return False
    if a[0] == "dict":
        return all(ka == kb and _same(va, vb) for (ka, va), (kb, vb) in zip(a[1], b[1]))
    return all(_same(x, y) for x, y in zip(a[1], b[1]))


def describe(spec):
    """A spec in words: (*, [*, 3], {'mask': *}): * a tensor, a constant as its value."""
    kind = spec[0]
    if kind == "T":
        return "*"
    if kind == "C":
        return repr(spec[1])
    if kind == "dict":
        return "{" + ", ".join(f"{k!r}: {describe(v)}" for k, v in spec[1]) + "}"
    body = ", ".join(describe(v) for v in spec[1])
    return f"({body}{',' if len(spec[1]) == 1 else ''})" if kind == "tuple" else f"[{body}]"
