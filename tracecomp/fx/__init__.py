"""tracecomp.fx: torch.fx's program capture and transformation on tracecomp modules.

`symbolic_trace(model)` runs forward on Proxies and returns a GraphModule: an nn.Module
with an editable `graph` (placeholder / get_attr / call_function / call_method /
call_module / output nodes) and Python `code` generated from it. This is a Python-level
representation for inspecting and rewriting programs, separate from the compiler's IR
(tracecomp.ir): a GraphModule is an ordinary Module, so tracecomp.compile compiles it
like any other.

Layout: node.py (Node), graph.py (Graph), names.py (node naming), public_names.py
(tracecomp.add's printed name), codegen.py (forward's source), table.py (print_tabular),
graph_module.py, proxy.py, patching.py (what tracing swaps in: tracecomp has no
__torch_function__), tracer.py (Tracer, symbolic_trace, wrap), interpreter.py
(Interpreter, Transformer), subgraph_rewriter.py (replace_pattern), passes/shape_prop.py,
experimental/optimization.py (conv-bn fusion). torchvision's feature extraction on top of
it is tracecomp.vision.models.feature_extraction.
"""
from .graph import Graph
from .graph_module import GraphModule
from .interpreter import Interpreter, Transformer
from . import experimental, passes  # noqa: F401  (torch.fx.passes.shape_prop by attribute)
from . import _symbolic_trace  # noqa: F401  (generated code calls its wrap)
from .node import Node, has_side_effect, map_arg
from .proxy import Proxy
from .subgraph_rewriter import replace_pattern
from .tracer import PH, Tracer, symbolic_trace, wrap

__all__ = ["Graph", "GraphModule", "Interpreter", "Node", "PH", "Proxy", "Tracer",
           "Transformer", "has_side_effect", "map_arg", "replace_pattern", "symbolic_trace", "wrap"]
