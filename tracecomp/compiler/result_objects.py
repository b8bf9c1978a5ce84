"""Objects a compiled call returns that hold tensors its graph computed: a policy network's
`Categorical(logits=self.head(x))`, sketch-rnn's decoder returning a mixture object of its
parameters. Flattening the call's result (signature.flatten) takes such an object's
attributes as fields, so each tensor among them is a graph output and the caller gets a
new object of the class with the computed tensors, as torch.compile reconstructs it.
Left whole (a static leaf, the same object every call), it would hand out the trace's
stand-ins, which hold no values.

Only results are taken apart this way, and only plain objects (not modules, optimizers,
classes or functions) with a traced tensor somewhere among their attributes."""
from ..ir import Node
from ..tensor import Tensor

# how deep into lists, dicts and other objects a traced tensor is looked for
_DEPTH = 4


def object_fields(x):
    """The attribute names of a plain object holding a traced tensor, or None."""
    from ..nn.modules.module import Module
    from ..optim.optimizer import Optimizer
    if isinstance(x, (type, Module, Optimizer)) or callable(x) or \
            not hasattr(x, "__dict__") or hasattr(type(x), "__slots__"):
        return None
    if not _holds_traced(vars(x), _DEPTH):
        return None
    return tuple(vars(x))


def _holds_traced(x, depth):
    if isinstance(x, Tensor):
        return isinstance(x._data, Node)
    if depth == 0:
        return False
    if isinstance(x, dict):
        return any(_holds_traced(v, depth - 1) for v in x.values())
    if isinstance(x, (list, tuple)):
        return any(_holds_traced(v, depth - 1) for v in x)
    if hasattr(x, "__dict__") and not isinstance(x, type) and not callable(x):
        return _holds_traced(vars(x), depth - 1)
    return False
