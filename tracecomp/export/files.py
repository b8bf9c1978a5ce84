"""torch.export.save / load: an exported program in one file, tracecomp's own format (not
torch's .pt2): a tracecomp checkpoint (serialization.py) holding the graph as JSON, the
module's tensors by state_dict name, the graph's constants, the input and output specs and
the dynamic dims. A program loaded runs as the one saved, with no Python code of the model.

The JSON graph lists inputs and nodes in order; an operand that is a node is {"n": k}, its
position among them; values are JSON where JSON has them and tagged objects where it does
not (tuples, dtypes, numpy scalars, arrays by index into the constants, the symbolic sizes
of a dynamic graph)."""
import json

import numpy as np

from ..dtypes import BF16
from ..errors import SerializationError
from ..ir import Graph, Node, verify
from ..symbolic import Domain, Sym
from ..tensor import Tensor
from . import tree

FORMAT = "tracecomp.export"
VERSION = 1


def save(ep, f, *, extra_files=None, opset_version=None, pickle_protocol=None):
    """Write ExportedProgram `ep` to a path or a binary file object."""
    from .. import serialization
    from .program import ExportedProgram
    if not isinstance(ep, ExportedProgram):
        raise TypeError(f"The 'ep' parameter must be an instance of 'ExportedProgram', got "
                        f"'{type(ep).__name__}' instead.")
    arrays = []
    graph = _encode_graph(ep.graph, arrays)
    meta = {"graph": graph,
            "state": [[kind, target, persistent] for kind, target, _, persistent in ep._state],
            "in_spec": ep._in_spec, "out_spec": ep._out_spec, "mutated": ep._mutated,
            "user_names": ep._user_names,
            "symbols": [[dim.__name__, dim.min, dim.max, places, low]
                        for dim, places, low in ep._symbols],
            "extra_files": dict(extra_files or {})}
    payload = {"format": FORMAT, "version": VERSION, "meta": json.dumps(meta),
               "state": [t for _, _, t, _ in ep._state],
               "constants": [Tensor._make(np.array(a)) for a in arrays],
               "examples": _examples(ep)}
    serialization.save(payload, f)


def load(f, *, extra_files=None, expected_opset_version=None):
    """Read what save() wrote; returns the ExportedProgram."""
    from .. import serialization
    from .dims import Dim
    from .program import ExportedProgram
    try:
        payload = serialization.load(f)
    except SerializationError as exc:
        raise SerializationError(f"torch.export.load: {exc}. tracecomp reads the exported "
                                 f"programs tracecomp.export.save writes; torch's .pt2 "
                                 f"archives hold FX graphs, which it does not read (export "
                                 f"the model with tracecomp instead)") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError("torch.export.load: the file is not an exported program written by "
                         "tracecomp.export.save")
    if payload["version"] != VERSION:
        raise ValueError(f"torch.export.load: file format version {payload['version']}, this "
                         f"tracecomp reads version {VERSION}")
    meta = json.loads(payload["meta"])
    arrays = [t.numpy() for t in payload["constants"]]
    graph = _decode_graph(meta["graph"], arrays)
    state = [(kind, target, t, persistent) for (kind, target, persistent), t in
             zip(meta["state"], payload["state"])]
    symbols = []
    for name, low, high, places, least in meta["symbols"]:
        dim = Dim(name, min=low, max=high)
        symbols.append((dim, [tuple(p) for p in places], least))
    if extra_files is not None:
        extra_files.update(meta["extra_files"])
    examples = payload["examples"]
    return ExportedProgram(graph, state, meta["in_spec"], meta["out_spec"], meta["mutated"],
                           symbols, meta["user_names"],
                           None if examples is None else tree.unflatten(meta["in_spec"], examples))


def _examples(ep):
    """The example inputs' tensors (their spec is the program's in_spec), or None."""
    if ep.example_inputs is None:
        return None
    return tree.flatten(ep.example_inputs)[0]


# --- the graph as JSON ----------------------------------------------------------------------
def _encode_graph(graph, arrays):
    lows = _domain_lows(graph)
    index = {n: k for k, n in enumerate(graph.inputs + graph.nodes)}

    def value(v, where):
        return _encode(v, arrays, where)

    inputs = [{"name": n.name, "shape": value(n.shape, n.name), "dtype": n.dtype.name,
               "rg": n.requires_grad, "params": value(n.params, n.name)} for n in graph.inputs]
    nodes = []
    for n in graph.nodes:
        where = f"{n.op} node"
        nodes.append({"op": n.op, "shape": value(n.shape, where), "dtype": n.dtype.name,
                      "rg": n.requires_grad, "params": value(n.params, where),
                      "inputs": [{"n": index[i]} if isinstance(i, Node) else value(i, where)
                                 for i in n.inputs],
                      "source": list(n.source) if n.source else None})
    return {"name": graph.name, "lows": lows, "inputs": inputs, "nodes": nodes,
            "outputs": [index[o] for o in graph.outputs]}


def _domain_lows(graph):
    for n in graph.inputs + graph.nodes:
        for d in n.shape:
            if type(d) is Sym:
                return list(d.domain.lows)
    return None


def _encode(v, arrays, where):
    if isinstance(v, np.ndarray):
        arrays.append(v)
        return {"array": len(arrays) - 1}
    if isinstance(v, np.dtype):
        return {"dtype": v.name}
    if isinstance(v, type) and issubclass(v, np.generic):
        return {"scalar_type": np.dtype(v).name}
    if isinstance(v, np.generic):
        return {"np": v.dtype.name, "v": _encode(v.item(), arrays, where)}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, complex):
        return {"complex": [v.real, v.imag]}
    if isinstance(v, tuple):
        return {"tuple": [_encode(x, arrays, where) for x in v]}
    if isinstance(v, list):
        return [_encode(x, arrays, where) for x in v]
    if isinstance(v, dict):
        return {"dict": [[_encode(k, arrays, where), _encode(x, arrays, where)]
                         for k, x in v.items()]}
    if isinstance(v, Sym):
        return {"sym": [[list(p), c] for p, c in v.terms.items()]}
    if isinstance(v, slice):
        return {"slice": [_encode(x, arrays, where) for x in (v.start, v.stop, v.step)]}
    if v is Ellipsis:
        return {"ellipsis": True}
    raise NotImplementedError(f"torch.export.save: the {where} holds a {type(v).__name__} "
                              f"({v!r}), which tracecomp's exported-program file cannot hold")


def _dtype(name):
    return BF16 if name == BF16.name else np.dtype(name)


def _decoder(arrays, domain):
    def decode(v):
        if isinstance(v, list):
            return [decode(x) for x in v]
        if not isinstance(v, dict):
            return v
        (tag, body), = v.items() if len(v) == 1 else (("np", v),)
        if tag == "np":
            return _dtype(body["np"]).type(decode(body["v"]))
        return {"array": lambda: arrays[body],
                "dtype": lambda: _dtype(body),
                "scalar_type": lambda: _dtype(body).type,
                "complex": lambda: complex(*body),
                "tuple": lambda: tuple(decode(x) for x in body),
                "dict": lambda: {decode(k): decode(x) for k, x in body},
                "sym": lambda: Sym.make({tuple(p): c for p, c in body}, domain),
                "slice": lambda: slice(*(decode(x) for x in body)),
                "ellipsis": lambda: Ellipsis}[tag]()
    return decode


def _decode_graph(data, arrays):
    domain = Domain(data["lows"]) if data["lows"] is not None else None
    decode = _decoder(arrays, domain)
    graph = Graph(data["name"])
    every = []
    for n in data["inputs"]:
        node = graph.add_input(n["name"], decode(n["shape"]), _dtype(n["dtype"]), n["rg"])
        node.params = decode(n["params"])
        every.append(node)
    for n in data["nodes"]:
        inputs = [every[i["n"]] if isinstance(i, dict) and set(i) == {"n"} else decode(i)
                  for i in n["inputs"]]
        node = Node(n["op"], inputs, decode(n["params"]), decode(n["shape"]),
                    _dtype(n["dtype"]), n["rg"], tuple(n["source"]) if n["source"] else None)
        graph.nodes.append(node)
        every.append(node)
    graph.outputs = [every[k] for k in data["outputs"]]
    verify(graph, "torch.export.load")
    return graph
