"""The compile driver: from `tracecomp.compile(fn_or_module)` to a cached, native callable.

  api.py         tracecomp.compile, Module.compile, torch._dynamo.reset: the wrappers
  driver.py      the compiled call: the signature cache, trace -> pipeline -> backend
  signature.py   what a call's arguments are (shapes, dtypes, flags) and why a call missed
  placement.py   which backend a call runs on: compile()'s, or its tensors' device's
  dynamic.py     dynamic shapes: one graph for every size of a dim that changes
  pipeline.py    the passes a traced graph goes through, each recorded in the pass log
  state.py       optimizer state and .grad in whole compiled training steps
  attributes.py  module attributes a compiled call assigns
  bridge.py      a compiled forward as one node of the eager autograd tape
  fused_step.py  optimizer.step() as one compiled call, for compiled models' parameters

`tracecomp.compile` is api.compile; the passes are in tracecomp.passes and the
backends in tracecomp.codegen.

This package is also torch.compiler's namespace (torch_api.py): compile, reset,
is_compiling, disable, list_backends, allow_in_graph, assume_constant_result and
set_stance (stance.py). Importing it
loads none of the modules above: they load on first use.
"""
from .torch_api import (  # noqa: F401  (torch.compiler's names)
    allow_in_graph,
    assume_constant_result,
    compile,
    disable,
    is_compiling,
    is_dynamo_compiling,
    list_backends,
    reset,
    set_stance,
)
