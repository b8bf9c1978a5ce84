"""The one error hierarchy of tracecomp.

Every error a user can see derives from TracecompError. Messages name the op, the
argument, the shapes and dtypes involved, what was expected and, where there is one, the
fix. Where torch raises a built-in type (RuntimeError, ValueError, IndexError) we derive
from it too, so `except RuntimeError` in code written for torch keeps working.

An error raised by a step of compiled code keeps the class the step raised (and the one eager
code raises for the same input): `compiled_error` makes it an instance of a cached class such
as `CompiledIndexError(TracecompError, IndexError)`, its message followed by the graph node
that failed and the user's source line.
"""


class TracecompError(Exception):
    """Base class of every error tracecomp raises on purpose."""


class ShapeError(TracecompError, RuntimeError):
    """An op got operands whose shapes do not fit together."""


class BatchSizeError(ShapeError, ValueError):
    """A loss's input and target hold different batch sizes: torch raises a ValueError
    there (`except ValueError` in the user's code must catch it)."""


class IndexBoundsError(TracecompError, RuntimeError):
    """An index tensor of gather/scatter holds a position outside its dim: torch raises a
    RuntimeError there (an IndexError is for indexing with [])."""


class DTypeError(TracecompError, RuntimeError):
    """An op got operands of a dtype it cannot take."""


class DTypeNotImplemented(TracecompError, NotImplementedError):
    """An op has no kernel for this dtype (torch: '"hypot_cpu" not implemented for 'Long'')."""


class AutogradError(TracecompError, RuntimeError):
    """backward() or grad() was asked for something the tape cannot give."""


class TraceError(TracecompError, RuntimeError):
    """Model code did something that cannot be recorded into a static graph."""


def _assert(condition, message):
    """torch._assert: Python's assert as a function, which symbolic tracing can record (the
    guards of tracecomp.fx's concrete_args are _assert nodes)."""
    if not condition:
        raise AssertionError(message)


class RandomnessError(TracecompError, RuntimeError):
    """A random op ran inside torch.func.vmap under randomness='error' (torch raises a
    RuntimeError)."""


class ConstraintViolationError(TracecompError, RuntimeError):
    """A dim marked dynamic with a range (torch._dynamo.mark_dynamic(t, d, min=, max=)) has
    a size outside it (torch.fx.experimental.symbolic_shapes.ConstraintViolationError)."""


class IRError(TracecompError, RuntimeError):
    """A graph broke one of the IR's invariants (raised by the verifier). A RuntimeError, as
    torch's compiler errors are."""


class LoweringError(TracecompError, RuntimeError):
    """A backend cannot lower a node (or does not exist). A RuntimeError, as torch's
    backend errors are."""


class SerializationError(TracecompError, ValueError):
    """A saved file is corrupt, truncated or not a tracecomp file."""


class DataError(TracecompError, ValueError):
    """A dataset file (e.g. MNIST IDX) is malformed."""


class ForeignTensorError(TypeError):
    """Another library's tensor where tracecomp takes its own (foreign_operand)."""


def foreign_operand(op, values):
    """A TypeError for the first of values that is another library's tensor (torchvision's
    ToTensor hands torch tensors to a tracecomp model), naming the op and the way to
    convert it; None when there is none."""
    for v in values:
        kind = type(v)
        if kind.__module__.split(".")[0] not in ("tracecomp", "numpy", "builtins") and \
                hasattr(v, "shape") and hasattr(v, "dtype"):
            return ForeignTensorError(
                f"{op}: got a {kind.__module__}.{kind.__qualname__} of shape "
                f"{list(v.shape)} ({v.dtype}), where tracecomp takes its own tensors (or "
                f"Python numbers): convert it first with tracecomp.as_tensor(x)")
    return None


def torch_own_function(func):
    """A TypeError when func is PyTorch's own (torch's handle_torch_function hands it to
    tracecomp.Tensor.__torch_function__ when a program mixes `import torch` with
    tracecomp's tensors: calling it back would recurse until RecursionError), naming it
    and tracecomp's function of the same name where there is one; None for any other."""
    owner = getattr(func, "__objclass__", None)     # a Tensor method: TensorBase.add
    module = getattr(owner if owner is not None else func, "__module__", None) or ""
    if module.split(".")[0] != "torch":
        return None
    name = getattr(func, "__name__", repr(func))
    theirs = f"torch.Tensor.{name}" if owner is not None else f"{module}.{name}"
    ours = "tracecomp" + theirs[len("torch"):]
    found = _resolve(ours)
    use = f"use {ours}" if found else "use tracecomp's functions"
    return ForeignTensorError(
        f"{theirs} is PyTorch's own function and was given a tracecomp Tensor: {use} "
        f"(`import tracecomp as torch`, `import tracecomp.nn.functional as F`), or convert "
        f"the tensor first with torch.from_numpy(x.numpy())")


def _resolve(path: str) -> bool:
    """Whether the dotted path names something importable (tracecomp.nn.functional.relu)."""
    import importlib
    parts = path.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        for attr in parts[k:]:
            obj = getattr(obj, attr, None)
            if obj is None:
                return False
        return True
    return False


def fmt_shape(shape) -> str:
    """Shapes in messages read like torch's: [4, 3]."""
    return "[" + ", ".join(str(d) for d in shape) + "]"


# --- errors raised inside compiled code ---------------------------------------------------
_COMPILED_CLASSES = {}


def compiled_error(exc, context, also=None):
    """exc, raised by a step of compiled code, as an exception of the same class (or the
    nearest builtin class above it) that is also a TracecompError, its message followed by
    `context` (the node and the user's line): `except IndexError` written for eager or
    torch code catches it, and so does `except TracecompError`. `also` (a builtin class,
    e.g. RuntimeError) is added to the bases when exc is not one already: the class eager
    code raises for the same failure."""
    message = f"{exc}\n{context}"
    cls = type(exc)
    if also is not None and issubclass(cls, also):
        also = None
    if issubclass(cls, TracecompError) and also is None:
        try:
            return cls(message)
        except Exception:       # a subclass with constructor arguments of its own
            pass
    for base in cls.__mro__:
        kind = _compiled_class(base, also) if issubclass(base, Exception) else None
        if kind is not None:
            try:
                out = kind(message)
            except Exception:   # e.g. UnicodeDecodeError's five required arguments
                continue
            # not a class whose str() reads fields of its own (a KeyError quotes its text)
            if str(out) in (message, repr(message)):
                return out
    if also is not None:
        return _compiled_class(also, None)(f"{cls.__name__}: {message}")
    return TracecompError(f"{cls.__name__}: {message}")


def _compiled_class(base, also):
    """The cached class deriving from TracecompError, `also` and base, e.g.
    `CompiledIndexError(TracecompError, IndexError)`; None if they cannot be mixed."""
    key = (base, also)
    if key in _COMPILED_CLASSES:
        return _COMPILED_CLASSES[key]
    if base is Exception or (issubclass(base, TracecompError) and also is None):
        kind = None             # nothing more specific to keep: a plain TracecompError
    else:
        bases = tuple(b for b in (TracecompError, also, base) if b is not None)
        name = base.__name__ if also is None else f"{base.__name__}{also.__name__}"
        try:
            kind = type(f"Compiled{name}", bases,
                        {"__module__": __name__, "__doc__": f"A {base.__name__} raised by "
                         f"compiled code (also a TracecompError)."})
        except TypeError:       # an instance lay-out conflict or an MRO that cannot be
            kind = None         # ordered: no common subclass
    return _COMPILED_CLASSES.setdefault(key, kind)     # threads racing here agree on one


# backward through a graph whose saved values were freed (autograd/engine.py), or reading a
# node's saved field then (saved_fields.py): torch's words
FREED = ("Trying to backward through the graph a second time (or directly access saved "
         "tensors after they have already been freed). Saved intermediate values of the graph "
         "are freed when you call .backward() or autograd.grad(). Specify retain_graph=True "
         "if you need to backward through the graph a second time or if you need to access "
         "saved tensors after calling backward.")
