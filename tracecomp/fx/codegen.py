"""Python source for an FX graph: the `forward` a GraphModule runs (and `gm.code` shows).

One line per node, in torch.fx's layout: `add = x + y;  x = None`. Operators print as
operators, `getattr(x, 'shape')` as `x.shape`, tracecomp functions by their public dotted
name (`tracecomp.nn.functional.relu`), other callables and constants that have no literal
form as globals of the generated code. After the node that reads a value last, the value is
set to None (`;  x = None`), as torch does, so a long forward frees what it no longer needs.
"""
import builtins
import importlib
import math
import operator
from dataclasses import dataclass

from ..dtypes import DType
from ..tensor import device
from .names import Namespace
from .node import Node, qualified_name

# operator targets that print as Python syntax: {} holds the operands in order
_BINARY = {"add": "+", "sub": "-", "mul": "*", "truediv": "/", "floordiv": "//",
           "mod": "%", "pow": "**", "matmul": "@", "and_": "&", "or_": "|", "xor": "^",
           "lshift": "<<", "rshift": ">>", "eq": "==", "ne": "!=", "lt": "<", "le": "<=",
           "gt": ">", "ge": ">=", "is_": "is", "is_not": "is not"}
_UNARY = {"neg": "-", "pos": "+", "invert": "~", "not_": "not "}
SYNTAX = {getattr(operator, k): "{} " + v + " {}" for k, v in _BINARY.items()}
SYNTAX.update({getattr(operator, k): v + "{}" for k, v in _UNARY.items()})
# in-place operators (in hand-made or rewritten graphs) print as statements; the node's
# value is then the first operand
_AUGMENTED = {"iadd": "+=", "isub": "-=", "imul": "*=", "itruediv": "/=", "ifloordiv": "//=",
              "imod": "%=", "ipow": "**=", "imatmul": "@=", "iand": "&=", "ior": "|=",
              "ixor": "^=", "ilshift": "<<=", "irshift": ">>="}
STATEMENTS = {getattr(operator, k): "{} " + v + " {}" for k, v in _AUGMENTED.items()}
STATEMENTS[operator.setitem] = "{}[{}] = {}"


@dataclass
class PythonCode:
    """What Graph.python_code returns: the source and the globals it must run with."""
    src: str
    globals: dict


# names the generated code reads as globals whatever the graph holds
_CODE_GLOBALS = ("self", "tracecomp", "inf", "nan", "device")


class _Globals:
    """The globals the generated code reads, each under a unique name."""

    def __init__(self, taken):
        """taken: the names the code's own variables use (a global must not shadow one)."""
        self.values = {}
        self.wrapped = {}       # names of fx.wrap/autowrap functions called, in order
        self._names = Namespace()
        for reserved in (*_CODE_GLOBALS, *taken):
            self._names.create_name(reserved)

    def add(self, hint, obj):
        for name, value in self.values.items():
            if value is obj:
                return name
        name = self._names.create_name(hint, obj)
        self.values[name] = obj
        return name

    def module(self, dotted):
        """The root of a dotted name (`tracecomp` of tracecomp.nn.functional.relu) made
        importable in the generated code."""
        root = dotted.split(".")[0]
        self.values[root] = importlib.import_module(root)
        return dotted


def _attr_path(root, target):
    """self.layer1.conv, with getattr for parts that are not identifiers (Sequential's 0)."""
    text = root
    for part in target.split("."):
        text = f"{text}.{part}" if part.isidentifier() else f'getattr({text}, "{part}")'
    return text


def _value(v, g):
    """Source text for one argument value."""
    if isinstance(v, Node):
        return v.name
    if isinstance(v, tuple):
        inner = ", ".join(_value(x, g) for x in v)
        if hasattr(v, "_fields"):     # a namedtuple: rebuilt by its type
            return f"{g.add(type(v).__name__, type(v))}({inner})"
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    if isinstance(v, list):
        return "[" + ", ".join(_value(x, g) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_value(k, g)}: {_value(x, g)}" for k, x in v.items()) + "}"
    if isinstance(v, slice):
        return f"slice({_value(v.start, g)}, {_value(v.stop, g)}, {_value(v.step, g)})"
    if isinstance(v, float) and not math.isfinite(v):
        name = "nan" if math.isnan(v) else "inf"
        g.values[name] = getattr(math, name)
        return name if v > 0 or math.isnan(v) else f"-{name}"
    if v is None or v is Ellipsis or isinstance(v, (bool, int, float, complex, str, bytes)):
        return repr(v)
    if isinstance(v, DType):
        return g.module(repr(v))
    if isinstance(v, device):
        g.values["device"] = device
        return repr(v)
    # anything else rides along as a global of the generated code
    return g.add(getattr(v, "__name__", None) or f"_{type(v).__name__.lower()}_constant", v)


def _call_args(args, kwargs, g):
    parts = [_value(a, g) for a in args]
    parts += [f"{k} = {_value(v, g)}" for k, v in kwargs.items()]
    return ", ".join(parts)


def _function_call(node, g):
    fn, args, kwargs = node.target, node.args, node.kwargs
    if fn in SYNTAX and not kwargs and len(args) == SYNTAX[fn].count("{}"):
        return SYNTAX[fn].format(*(_value(a, g) for a in args))
    if fn is getattr and len(args) == 2 and not kwargs and isinstance(args[1], str) \
            and args[1].isidentifier():
        return f"{_value(args[0], g)}.{args[1]}"
    if fn is operator.getitem and len(args) == 2 and not kwargs:
        return f"{_value(args[0], g)}[{_value(args[1], g)}]"
    qual = qualified_name(fn)
    if qual.startswith("tracecomp."):
        name = g.module(qual)
    elif qual.startswith("builtins.") and getattr(builtins, fn.__name__, None) is fn:
        name = fn.__name__
    else:
        name = g.add(qual.replace(".", "_"), fn)
    if node.meta.get("is_wrapped"):
        g.wrapped[name] = None
    return f"{name}({_call_args(args, kwargs, g)})"


def _signature(placeholders, g):
    """forward's parameters, named by the placeholders' targets (the user's argument
    names), and the `name = target` lines for placeholders whose node name differs
    (`input_1 = input`: a node may not shadow a builtin)."""
    parts, aliases = ["self"], []
    for p in placeholders:
        raw = p.target.lstrip("*")
        if raw in _CODE_GLOBALS:     # an argument named `tracecomp` would hide the module
            raw = p.name
        if p.target.startswith("*"):
            parts.append(p.target[:len(p.target) - len(p.target.lstrip("*"))] + raw)
        elif p.args:
            parts.append(f"{raw} = {_value(p.args[0], g)}")
        else:
            parts.append(raw)
        if p.name != raw:
            aliases.append(f"{p.name} = {raw}")
    return ", ".join(parts), aliases


def _last_uses(nodes):
    """For each node, the values whose last read it is (then dropped), in torch's order."""
    seen, drops = set(), {n: [] for n in nodes}
    for n in reversed(nodes):
        for inp in n.all_input_nodes:
            if inp not in seen:
                seen.add(inp)
                drops[n].append(inp)
    return drops


def _statement(node, root_module, g):
    """The line that computes node (without the trailing drops)."""
    if node.op == "output":
        return f"return {_value(node.args[0], g)}"
    if node.op == "get_attr":
        return f"{node.name} = {_attr_path(root_module, node.target)}"
    if node.op == "call_module":
        return (f"{node.name} = {_attr_path(root_module, node.target)}"
                f"({_call_args(node.args, node.kwargs, g)})")
    if node.op == "call_method":
        obj, *rest = node.args
        return f"{node.name} = {_value(obj, g)}.{node.target}({_call_args(rest, node.kwargs, g)})"
    form = STATEMENTS.get(node.target)
    if form is not None and not node.kwargs and len(node.args) == form.count("{}"):
        return form.format(*(_value(a, g) for a in node.args)) + \
            f";  {node.name} = {_value(node.args[0], g)}"
    return f"{node.name} = {_function_call(node, g)}"


def python_code(graph, root_module="self"):
    """The PythonCode of graph's forward, reading attributes and submodules of root_module."""
    nodes = list(graph.nodes)
    g = _Globals([n.name for n in nodes] + [n.target.lstrip("*") for n in nodes
                                            if n.op == "placeholder"])
    drops = _last_uses(nodes)
    sig, body = _signature([n for n in nodes if n.op == "placeholder"], g)
    for node in nodes:
        if node.op == "placeholder":
            continue
        line = _statement(node, root_module, g)
        dead = list(drops[node]) if node.op != "output" else []
        if not node.users and node.op != "output":
            dead.append(node)
        if dead:
            line += ";  " + " = ".join(d.name for d in dead) + " = None"
        body.append(line)
    if not body or not body[-1].startswith("return"):
        body.append("pass")
    # torch's header: re-register the wrapped functions the code calls, so tracing the
    # generated forward again keeps them leaves
    wraps = "\n".join(f'{g.module("tracecomp.fx._symbolic_trace.wrap")}("{name}")'
                      for name in g.wrapped)
    src = "\n" + wraps + "\n\ndef forward(" + sig + "):\n" + \
        "".join(f"    {b}\n" for b in body) + "    "
    return PythonCode(src, g.values)
