"""Where an op's public names are declared: beside its definition, once.

`@public("torch", "Tensor", inplace=prim)` above the function that binds a primitive makes
it `tracecomp.X`, the method `Tensor.X` and the in-place method `Tensor.X_`; the namespaces
read back with `names(namespace)` by the modules that are those namespaces (tracecomp's
__init__, tracecomp.special, the Tensor method table). So a new op is exported where it is
written, not added to three import lists (torch generates its bindings from one table too:
native_functions.yaml).

Namespaces are torch's: "torch", "torch.special", "Tensor". A name is declared in one way
only: `export` refuses a name that the namespace's module already defines.
"""
import types

NAMESPACES = ("torch", "torch.special", "Tensor")

_NAMES: dict[str, dict] = {namespace: {} for namespace in NAMESPACES}
_INPLACE: dict[str, object] = {}     # Tensor method name (with "_") -> primitive


def public(*namespaces, inplace=None, aliases=()):
    """Declare `fn` public under its own name (and `aliases`) in each namespace; with
    `inplace=prim`, also the method `name_` that writes prim(self, *args) into self."""
    unknown = set(namespaces) - set(NAMESPACES)
    assert namespaces and not unknown, f"unknown namespaces {sorted(unknown)}"

    def declare(fn):
        for name in (fn.__name__, *aliases):
            named = fn if name == fn.__name__ else _renamed(fn, name)
            for namespace in namespaces:
                assert name not in _NAMES[namespace], f"{namespace}.{name} declared twice"
                _NAMES[namespace][name] = named
            if inplace is not None:
                _INPLACE[name + "_"] = inplace
        return fn
    return declare


def _renamed(fn, name):
    """fn under its alias's own name (torch.arctan is named arctan, not atan: fx names its
    nodes so, and __torch_function__ handlers see func.__name__): a copy, not a wrapper."""
    alias = types.FunctionType(fn.__code__, fn.__globals__, name, fn.__defaults__,
                               fn.__closure__)
    alias.__kwdefaults__, alias.__doc__, alias.__module__ = \
        fn.__kwdefaults__, fn.__doc__, fn.__module__
    alias.__qualname__ = name
    return alias


def names(namespace):
    """The names declared public in `namespace`."""
    return sorted(_NAMES[namespace])


def export(namespace, into, inplace_method=None):
    """Put the names declared in `namespace` into the dict `into` (a module's globals, the
    Tensor method table); for "Tensor", also `inplace_method(prim)` under each in-place
    name."""
    declared = dict(_NAMES[namespace])
    if namespace == "Tensor":
        declared.update({name: inplace_method(prim) for name, prim in _INPLACE.items()})
    twice = sorted(set(declared) & set(into))
    assert not twice, f"{namespace}: {twice} declared public beside their op and defined again"
    into.update(declared)
