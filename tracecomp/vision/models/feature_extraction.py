"""torchvision.models.feature_extraction on tracecomp.fx: get_graph_node_names and
create_feature_extractor (a GraphModule that returns a dict of intermediate values).

Nodes are named by where they happen, torchvision's way: a leaf module call by its module
path ('layer1.0.conv1'), any other node by the path of the module whose forward made it
plus the node's own name ('layer1.0.add'), at the top level just the node's name ('x',
'flatten'). Repeats under one parent are numbered from 1 ('layer1.0.relu',
'layer1.0.relu_1'), whatever fx's own graph-wide numbering was. A query names a node or
any prefix ending at a '.': 'layer1' is the last node inside layer1.

The model is traced in train mode and in eval mode; the extractor holds both graphs and
switches with .train() / .eval(), as torchvision's does.
"""
import re
import warnings
from collections import OrderedDict

from ...fx import GraphModule, Tracer
from ...fx.graph_module import _assign_attr, _get_attr
from ...nn.module import Module
from ...user_code import user_stacklevel

__all__ = ["create_feature_extractor", "get_graph_node_names"]

_NUMBERED = re.compile(r"^(.+)_([0-9]+)$")


class LeafModuleAwareTracer(Tracer):
    """A Tracer that also keeps the module types in `leaf_modules` as single nodes."""

    def __init__(self, *args, leaf_modules=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.leaf_modules = tuple(leaf_modules)

    def is_leaf_module(self, m, module_qualname):
        return isinstance(m, self.leaf_modules) or super().is_leaf_module(m, module_qualname)


class NodePathTracer(LeafModuleAwareTracer):
    """Records each node's path name (see the module docstring) in `node_to_qualname`, in
    the order the nodes are made."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.current_module_qualname = ""
        self.node_to_qualname = OrderedDict()

    def call_module(self, m, forward, args, kwargs):
        outer = self.current_module_qualname
        try:
            path = self.path_of_module(m)
            self.current_module_qualname = path
            if not self.is_leaf_module(m, path):
                return forward(*args, **kwargs)
            return self.create_proxy("call_module", path, args, kwargs)
        finally:
            self.current_module_qualname = outer

    def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None,
                     proxy_factory_fn=None):
        proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr,
                                     proxy_factory_fn)
        self.node_to_qualname[proxy.node] = self._qualname(proxy.node)
        return proxy

    def _qualname(self, node):
        name = self.current_module_qualname
        if node.op != "call_module":
            name = f"{name}.{node.name}" if name else node.name
        numbered = _NUMBERED.match(name)
        base = numbered.group(1) if numbered else name
        # the latest earlier name of this base decides the number (fx's is graph-wide)
        for earlier in reversed(self.node_to_qualname.values()):
            if earlier == base:
                return f"{base}_1"
            m = _NUMBERED.match(earlier)
            if m and m.group(1) == base:
                return f"{base}_{int(m.group(2)) + 1}"
        return base


def _trace_names(model, tracer_kwargs, training):
    model.train(training)
    tracer = NodePathTracer(**tracer_kwargs)
    graph = tracer.trace(model)
    return tracer, graph


def _warn_if_modes_differ(train_names, eval_names):
    if train_names != eval_names:
        warnings.warn("The nodes obtained by tracing the model in train mode are different "
                      "to those obtained in eval mode. When choosing nodes for feature "
                      "extraction, you may need to specify output nodes for train and eval "
                      "mode separately.", stacklevel=user_stacklevel())


def get_graph_node_names(model, tracer_kwargs=None, suppress_diff_warning=False):
    """(train-mode names, eval-mode names) of model's nodes, in execution order."""
    was_training = model.training
    try:
        train = list(_trace_names(model, tracer_kwargs or {}, True)[0].node_to_qualname
                     .values())
        evals = list(_trace_names(model, tracer_kwargs or {}, False)[0].node_to_qualname
                     .values())
    finally:
        model.train(was_training)
    if not suppress_diff_warning:
        _warn_if_modes_differ(train, evals)
    return train, evals


class DualGraphModule(GraphModule):
    """A GraphModule with a train-mode and an eval-mode graph; train(mode) picks one."""

    def __init__(self, root, train_graph, eval_graph, class_name="GraphModule"):
        Module.__init__(self)
        type(self).__name__ = class_name
        self.train_graph, self.eval_graph = train_graph, eval_graph
        for g in (train_graph, eval_graph):
            for node in g.nodes:
                if node.op in ("get_attr", "call_module"):
                    _assign_attr(_get_attr(root, node.target), self, node.target)
        self.meta = {}
        self.training = True
        self.graph = train_graph

    def train(self, mode=True):
        if mode != self.training:
            self.graph = self.train_graph if mode else self.eval_graph
        return super().train(mode)


def _as_dict(nodes):
    if isinstance(nodes, (list, tuple)):
        return {str(n): str(n) for n in nodes}
    return {str(k): str(v) for k, v in nodes.items()}


def _extracting_graph(tracer, graph, wanted):
    """graph returning {output name: node} for the queries in `wanted`, the rest removed."""
    names = list(tracer.node_to_qualname.values())
    for query in wanted:
        if not any(n == query or n.startswith(query + ".") for n in names):
            raise ValueError(f"node: '{query}' is not present in model. Hint: use "
                             "`get_graph_node_names` to make sure the `return_nodes` you "
                             "specified are present. It may even be that you need to specify "
                             "`train_return_nodes` and `eval_return_nodes` separately.")
    for n in [n for n in graph.nodes if n.op == "output"]:
        graph.erase_node(n)
    pending, found = dict(wanted), OrderedDict()
    # the last node under a query's path is its value
    for node in reversed(list(graph.nodes)):
        path = tracer.node_to_qualname.get(node)
        if path is None:
            continue
        for query in list(pending):
            if ".".join(path.split(".")[:query.count(".") + 1]) == query:
                found[pending.pop(query)] = node
                break
    graph.output(OrderedDict(reversed(list(found.items()))))
    graph.eliminate_dead_code()
    return graph


def create_feature_extractor(model, return_nodes=None, train_return_nodes=None,
                             eval_return_nodes=None, tracer_kwargs=None,
                             suppress_diff_warning=False):
    """A DualGraphModule computing model's values at return_nodes (a list of node names, or
    {node name: output key}) and returning them as a dict; modules only the dropped part
    of the model used are left out."""
    if return_nodes is None and train_return_nodes is None and eval_return_nodes is None:
        raise ValueError("create_feature_extractor: give `return_nodes`, or "
                         "`train_return_nodes` and `eval_return_nodes` together")
    if (train_return_nodes is None) != (eval_return_nodes is None) or \
            (return_nodes is None) == (train_return_nodes is None):
        raise ValueError("create_feature_extractor: give either `return_nodes` or both "
                         "`train_return_nodes` and `eval_return_nodes`")
    if return_nodes is not None:
        train_return_nodes = eval_return_nodes = return_nodes
    was_training = model.training
    traced, graphs = {}, {}
    try:
        for mode, wanted in (("train", train_return_nodes), ("eval", eval_return_nodes)):
            tracer, graph = _trace_names(model, tracer_kwargs or {}, mode == "train")
            traced[mode] = tracer
            graphs[mode] = _extracting_graph(tracer, graph, _as_dict(wanted))
    finally:
        model.train(was_training)
    if not suppress_diff_warning:
        _warn_if_modes_differ(list(traced["train"].node_to_qualname.values()),
                              list(traced["eval"].node_to_qualname.values()))
    name = type(model).__name__
    extractor = DualGraphModule(model, graphs["train"], graphs["eval"], class_name=name)
    extractor.train(was_training)
    return extractor
