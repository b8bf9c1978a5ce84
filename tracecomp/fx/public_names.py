"""The public dotted names of tracecomp's functions (tracecomp.add,
tracecomp.nn.functional.relu): how graphs print call_function targets, how generated code
calls them, which functions a trace records, and how a node's target is pickled."""
import importlib
import types

# namespaces whose functions are recorded, in the order a function's public name is
# looked up (a function that two namespaces share prints as the first one's)
NAMESPACES = ("tracecomp", "tracecomp.nn.functional", "tracecomp.special",
              "tracecomp.linalg", "tracecomp.fft")
# tracecomp functions that answer about their argument's Python type, not its value
_NOT_RECORDED = frozenset(("is_tensor", "is_storage", "typename", "compile",
                           "is_grad_enabled", "get_default_dtype", "set_default_dtype"))

_table = None   # {id(fn): (dotted name, fn)} once built


def table():
    """{id(fn): (public dotted name, fn)} for every public function of NAMESPACES."""
    global _table
    if _table is None:
        found = {}
        for ns in NAMESPACES:
            module = importlib.import_module(ns)
            for name, fn in list(vars(module).items()):
                if not isinstance(fn, (types.FunctionType, types.BuiltinFunctionType)) or \
                        (name.startswith("_") and name != "_assert") or name in _NOT_RECORDED:
                    continue
                known = found.get(id(fn))
                # functional's own functions print as tracecomp.nn.functional.<name>
                if known is None or (ns == "tracecomp.nn.functional" and
                                     fn.__module__.startswith("tracecomp.nn")):
                    found[id(fn)] = (f"{ns}.{name}", fn)
        _table = found
    return _table


def public_name(fn):
    """fn's public dotted name, or None when fn is not a public tracecomp function."""
    hit = table().get(id(fn))
    return hit[0] if hit is not None and hit[1] is fn else None
