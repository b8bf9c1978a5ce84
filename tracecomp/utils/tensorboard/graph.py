"""tracecomp's graphs in TensorBoard's graph view: the GraphDef protobuf that
SummaryWriter.add_graph writes, as torch's add_graph writes the graph of torch.jit.trace.

The model is compiled (tracecomp.compile) and called once on the example input; then every
stage the compiler kept (`compiled.graphs`) becomes one top-level scope of ONE GraphDef:

    traced/...               what the tracer recorded
    forward/... backward/... the partitioner's split (backward: when parameters need grad)
    forward.optimized/...    each half after decomposition and simplification: what the
    backward.optimized/...   backend compiles

One GraphDef, not one per stage: TensorBoard shows one graph per run (a second graph event
in a run replaces the first), and a run per stage would add five runs to every other
dashboard's run list. As scopes, each stage is a box that opens in place, beside the others.

Inside a stage a node's name is its module path, then its op and its number in the stage's
IR text: `%3 = matmul(...)` of module enc.fc1 is `traced/enc/fc1/matmul_3`, so TensorBoard
groups the ops of a module into a box named after it. Graph inputs are named by what they
are (visualize.input_kind): a parameter or buffer sits in its module's box
(`traced/enc/fc1/weight`), user inputs in `input/`, the backward's saved values in `saved/`
and its incoming gradients in `grad/`; `output/<k>` nodes mark the results. Each node
carries its output shape (`_output_shapes`, which TensorBoard writes on the edges), its dtype,
its IR line (`ir`: op parameters and scalar operands) and its source line (`source`).
"""
import copy
import inspect

from tensorboard.compat.proto.attr_value_pb2 import AttrValue
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.compat.proto.types_pb2 import DataType
from tensorboard.compat.proto.versions_pb2 import VersionDef

from ...compiler.api import compile as compile_model
from ...grad_mode import enable_grad
from ...ir import format_node, format_source, node_names
from ...nn import Module
from ...symbolic import Sym
from ...visualize import input_kind

# the stages shown when add_graph is not told which: the traced graph, the two halves, and
# the two halves as compiled ("simplified" and "joint" are one step from these)
STAGES = ("traced", "forward", "backward", "forward.optimized", "backward.optimized")

# a graph input's kind (visualize.input_kind, with buffers told apart) -> its op
_INPUT_OP = {"parameter": "parameter", "buffer": "buffer", "user": "input",
             "saved": "saved", "cotangent": "cotangent"}

_DTYPES = {"float32": "DT_FLOAT", "float64": "DT_DOUBLE", "float16": "DT_HALF",
           "int64": "DT_INT64", "int32": "DT_INT32", "int16": "DT_INT16", "int8": "DT_INT8",
           "uint8": "DT_UINT8", "bool": "DT_BOOL"}

# the GraphDef version TensorBoard's own graphs carry (as torch writes it)
_PRODUCER = 22


def model_graph_def(model, input_to_model=None, stages=None, verbose=False):
    """The GraphDef of model's compiled stages for the example input(s): a Tensor (or a
    dict) is the one argument, a tuple or list holds the arguments. stages: names of
    `compiled.graphs` (default STAGES, those the compile made). verbose prints each stage's
    IR text."""
    module = getattr(model, "_orig_mod", model)     # compile(model) hands back a wrapper
    if not isinstance(module, Module):
        raise TypeError(f"add_graph: model must be an nn.Module (or tracecomp.compile of "
                        f"one), got {type(model).__name__}")
    graphs = _compiled_graphs(module, _arguments(input_to_model))
    if stages is None:
        stages = [s for s in STAGES if s in graphs]
    missing = [s for s in stages if s not in graphs]
    if missing:
        raise ValueError(f"add_graph: no stage {missing} in this compile; it made "
                         f"{list(graphs)}")
    parameters = {name for name, _ in module.named_parameters()}
    buffers = {name for name, _ in module.named_buffers()}
    user_inputs = set(inspect.signature(module.forward).parameters)
    nodes = []
    for stage in stages:
        if verbose:
            print(f"{stage}:\n{graphs[stage]}")
        nodes += stage_nodes(stage, graphs[stage], parameters, buffers, user_inputs)
    return GraphDef(node=nodes, versions=VersionDef(producer=_PRODUCER))


def _arguments(input_to_model):
    if input_to_model is None:
        return ()
    if isinstance(input_to_model, (tuple, list)):
        return tuple(input_to_model)
    return (input_to_model,)


def _compiled_graphs(module, args):
    """compile(copy of module)(*args).graphs, in eval mode with grad enabled. Eval mode as
    torch's add_graph traces: logging must not update a batch norm's running statistics.
    A copy, because compiling marks a module's parameters as read by compiled code, which
    would switch its optimizers to the compiled update (compiler/fused_step.py): logging
    must not change how an eager model trains. Grad enabled, so that the backward stages
    exist even when add_graph is called under no_grad."""
    clone = copy.deepcopy(module)
    clone.eval()
    compiled = compile_model(clone)
    with enable_grad():
        compiled(*args)
    return compiled.graphs


def stage_nodes(stage, graph, parameters=(), buffers=(), user_inputs=()):
    """graph's NodeDefs, named under the scope `stage` (see the module's docstring).
    parameters, buffers: the module's names for them; user_inputs: forward's argument
    names (they settle what visualize.input_kind cannot tell from a name alone)."""
    names = node_names(graph)
    named = {}                      # Node -> its name in the GraphDef
    defs = []
    for n in graph.inputs:
        kind = input_kind(n.name, parameters, user_inputs)
        if kind == "parameter" and n.name in buffers:
            kind = "buffer"
        named[n] = _join(stage, *_input_path(n.name, kind))
        defs.append(_node_def(named[n], _INPUT_OP[kind], [], n, f"{names[n]}: {n.spec()}"))
    for n in graph.nodes:
        module = n.source[2] if n.source else ""
        named[n] = _join(stage, module.replace(".", "/"), f"{n.op}_{names[n][1:]}")
        where = format_source(n.source)
        defs.append(_node_def(named[n], n.op, [named[i] for i in n.node_inputs()], n,
                              format_node(n, names), where))
    for k, n in enumerate(graph.outputs):
        defs.append(_node_def(_join(stage, "output", str(k)), "output", [named[n]], n,
                              f"output {k}: {names[n]}"))
    return defs


def _input_path(name, kind):
    """(scope, leaf) of a graph input: a parameter in its module's box, the rest in a box
    of their kind, named by what follows the compiler's prefix (`saved.3` -> saved/3)."""
    if kind in ("parameter", "buffer"):
        module, _, leaf = name.rpartition(".")
        return module.replace(".", "/"), leaf
    if kind == "user":
        return "input", name
    prefix, _, rest = name.partition(".")           # "saved.fc1.bias", "grad.0"
    return {"saved": "saved", "cotangent": "grad"}[kind], rest or prefix


def _join(*parts):
    return "/".join(p for p in parts if p)


def _node_def(name, op, inputs, node, ir_line, source=""):
    attr = {"_output_shapes": AttrValue(list=AttrValue.ListValue(shape=[_shape(node.shape)])),
            "dtype": AttrValue(type=DataType.Value(_DTYPES.get(node.dtype.name, "DT_INVALID"))),
            "ir": AttrValue(s=ir_line.encode("utf-8"))}
    if source:
        attr["source"] = AttrValue(s=source.encode("utf-8"))
    return NodeDef(name=name, op=op, input=inputs, attr=attr)


def _shape(shape):
    # a dynamic graph's symbolic dims (symbolic.Sym) are unknown sizes to TensorBoard: -1
    return TensorShapeProto(dim=[TensorShapeProto.Dim(size=-1 if type(d) is Sym else d)
                                 for d in shape])
