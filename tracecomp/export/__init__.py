"""torch.export for tracecomp: a module traced once into tracecomp's IR graph, with its
signature, its tensors and the dims that may change, runnable (`ep.module()`), printable,
and saved to and loaded from a file.

    batch = tracecomp.export.Dim("batch", min=2, max=64)
    ep = tracecomp.export.export(model, (x,), dynamic_shapes={"x": {0: batch}})
    print(ep)                       # the graph, the signature, the range of `batch`
    out = ep.module()(x)            # runs the graph, compiled; any batch in [2, 64]
    tracecomp.export.save(ep, "model.pt2"); ep = tracecomp.export.load("model.pt2")

The graph is tracecomp's (one line per node), not torch.fx's; the file is tracecomp's own
(the graph as JSON and the tensors in tracecomp's checkpoint format), not torch's .pt2.
strict=True and strict=False trace alike: the code runs once with graph values as the
tensors, so Python control flow on sizes is resolved, and control flow on tensor values
is an error naming the line (capture.py).

Limits, each a clear error: at most four distinct Dims (compiler/dynamic.py MAX_SYMBOLS;
each costs export more traces, 2^n + n - 1 in all, capture.sample_steps); a float computed
from a dynamic size (BatchNorm's n / (n - 1) in training) makes the export static-only; a
forward that writes into its inputs; a graph holding a custom autograd.Function runs but
cannot be saved."""
import inspect

from ..nn.module import Module
from . import tree
from .capture import capture, members
from .dims import Dim, UserError, dims, input_dims
from .files import load, save
from .graph_signature import (
    ExportGraphSignature,
    InputKind,
    InputSpec,
    OutputKind,
    OutputSpec,
    TensorArgument,
)
from .program import ExportedProgram

__all__ = ["Dim", "ExportGraphSignature", "ExportedProgram", "InputKind", "InputSpec",
           "OutputKind", "OutputSpec", "TensorArgument", "UserError", "dims", "export",
           "load", "save"]


def export(mod, args, kwargs=None, *, dynamic_shapes=None, strict=False,
           preserve_module_call_signature=()):
    """torch.export.export: trace mod(*args, **kwargs) into an ExportedProgram."""
    if not isinstance(mod, Module):
        raise ValueError(f"Expected `mod` to be an instance of `torch.nn.Module`, got "
                         f"{type(mod)}.")
    if not isinstance(args, tuple):
        raise ValueError(f"Expected `args` to be a tuple, got {type(args)}")
    kwargs = dict(kwargs or {})
    if preserve_module_call_signature:
        raise NotImplementedError("torch.export: preserve_module_call_signature is not "
                                  "supported by tracecomp (export keeps no submodule calls)")
    marks = input_dims(mod.forward, args, kwargs, dynamic_shapes)
    user, in_spec = tree.flatten((args, kwargs))
    names = _user_names(mod.forward, args, kwargs)
    state = members(mod)
    graph, out_spec, mutated, symbols = capture(mod, in_spec, names, user, marks, state)
    return ExportedProgram(graph, state, in_spec, out_spec, mutated, symbols, names,
                           (args, kwargs))


# torch.export's names that tracecomp does not provide: Unsupported (NotImplementedError),
# not a bare AttributeError, as for every torch API tracecomp lacks (support.py)
_TORCH_ONLY = frozenset(("AdditionalInputs", "Constraint", "CustomDecompTable", "FlatArgsAdapter",
                         "ExportBackwardSignature", "ModuleCallEntry", "ModuleCallSignature",
                         "ShapesCollection", "UnflattenedModule", "default_decompositions",
                         "draft_export", "register_dataclass", "unflatten"))


def __getattr__(name):
    from ..support import unsupported
    if name in _TORCH_ONLY:
        raise unsupported(f"torch.export.{name}")
    raise AttributeError(f"module 'tracecomp.export' has no attribute {name!r}")


def _user_names(forward, args, kwargs):
    """Each tensor's name in the graph: its argument's name (`x`), with the path inside a
    nested argument (`xs_0`, `batch_mask`)."""
    try:
        params = [p.name for p in inspect.signature(forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = []
    for k, a in enumerate(args):
        base = params[k] if k < len(params) else f"args_{k}"
        names += _suffixed(base, a)
    for key, v in kwargs.items():
        names += _suffixed(key, v)
    return names


def _suffixed(base, value):
    _, spec = tree.flatten(value)
    return [p.replace("[", "_").replace("]", "").replace("'", "")
            for p in tree.leaf_paths(spec, base)]
