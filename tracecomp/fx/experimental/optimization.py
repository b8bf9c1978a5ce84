"""torch.fx.experimental.optimization's fuse: fold each BatchNorm that directly follows a
Conv1d/2d/3d or Linear (and is its only user) into that layer's weights, on a traced copy
of the model; plus the helpers the FX conv-bn fusion tutorial is built from."""
import copy

from ...nn import modules as nn_modules
from ...nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval
from ..graph_module import GraphModule
from ..tracer import symbolic_trace

# (layer, norm) pairs that fold, and the fusion each uses
_PATTERNS = ((nn_modules.Conv1d, nn_modules.BatchNorm1d, fuse_conv_bn_eval),
             (nn_modules.Conv2d, nn_modules.BatchNorm2d, fuse_conv_bn_eval),
             (nn_modules.Conv3d, nn_modules.BatchNorm3d, fuse_conv_bn_eval),
             (nn_modules.Linear, nn_modules.BatchNorm1d, fuse_linear_bn_eval))


def _parent_name(target):
    """'layer1.0.conv1' -> ('layer1.0', 'conv1')."""
    *parent, name = target.rsplit(".", 1)
    return (parent[0] if parent else ""), name


def matches_module_pattern(pattern, node, modules):
    """Whether node and the node feeding it are call_module nodes of pattern's types
    (pattern: (first type, second type))."""
    if len(node.args) == 0:
        return False
    for expected, current in zip(pattern, (node.args[0], node)):
        if not hasattr(current, "op") or current.op != "call_module" or \
                not isinstance(current.target, str) or current.target not in modules or \
                type(modules[current.target]) is not expected:
            return False
    return True


def replace_node_module(node, modules, new_module):
    """Install new_module where node's call_module target points (and in `modules`)."""
    parent_name, name = _parent_name(node.target)
    modules[node.target] = new_module
    setattr(modules[parent_name], name, new_module)


def fuse(model, inplace=False, no_trace=False):
    """A GraphModule computing model's eval-mode function with batch norms folded away."""
    if not inplace:
        model = copy.deepcopy(model)
    fx_model = model if no_trace else symbolic_trace(model)
    modules = dict(fx_model.named_modules())
    new_graph = copy.deepcopy(fx_model.graph)
    for first, norm, fold in _PATTERNS:
        for node in new_graph.nodes:
            if not matches_module_pattern((first, norm), node, modules) or \
                    len(node.args[0].users) > 1:
                continue
            bn = modules[node.target]
            if not bn.track_running_stats:
                continue
            replace_node_module(node.args[0], modules, fold(modules[node.args[0].target], bn))
            node.replace_all_uses_with(node.args[0])
            new_graph.erase_node(node)
    return GraphModule(fx_model, new_graph)
