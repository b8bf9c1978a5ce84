"""torch.autograd.graph: saved-tensors hooks and the autograd graph's node types.

    saved_tensors_hooks(pack_hook, unpack_hook)  what the tape saves for backward goes
                                   through pack_hook when recorded and unpack_hook when
                                   backward reads it (the tape's side: saved_hooks.py)
    save_on_cpu(pin_memory=False)  hooks that keep saved tensors on the CPU and move them
                                   back to their device for backward
    disable_saved_tensors_hooks(error_message)   pushing hooks raises RuntimeError(msg)
    Node, GradientEdge, get_gradient_edge        what `t.grad_fn` is, and where t's
                                   gradient is computed (its node, or its AccumulateGrad)
    increment_version(tensor)      tell autograd a tensor changed in place behind its back
    register_multi_grad_hook(tensors, fn, mode="all"|"any")   one hook over the gradients
                                   of several tensors, per backward (graph_task.py)

    allow_mutation_on_saved_tensors()   saved tensors may change in place inside it;
                                   backward reads their saved values (mutation_on_saved.py)

Compiled code does not run saved tensors through hooks: entering saved_tensors_hooks
while a compiled call is traced is a TraceError (a graph break: the call runs eagerly),
and a compiled call made under hooks runs eagerly too (compiler/driver.py).
"""
import abc
import contextlib
import threading
import weakref
from typing import NamedTuple

from .. import context, saved_hooks
from ..dispatch import TapeNode
from ..errors import TraceError
from ..grad_fn_names import AccumulateGrad, accumulate_grad
from ..tensor import Tensor
from . import graph_task
from .mutation_on_saved import allow_mutation_on_saved_tensors  # noqa: F401


class Node(abc.ABC):
    """The abstract class of autograd graph nodes: `isinstance(t.grad_fn, Node)` is True
    for every op's node and for a leaf's AccumulateGrad, as in torch."""

    @abc.abstractmethod
    def name(self) -> str:
        """The node's name, e.g. MulBackward0."""

    @property
    @abc.abstractmethod
    def next_functions(self):
        """((node, output_nr), ...) per input of the op."""

    @abc.abstractmethod
    def register_hook(self, fn):
        """fn(grad_inputs, grad_outputs) once the node's backward has run."""

    @abc.abstractmethod
    def register_prehook(self, fn):
        """fn(grad_outputs) before the node's backward runs."""


Node.register(TapeNode)
Node.register(AccumulateGrad)


class GradientEdge(NamedTuple):
    """Where a tensor's gradient is computed: its node and which of its outputs it is."""

    node: object
    output_nr: int
    ownership_token: object = None


def get_gradient_edge(tensor):
    """The GradientEdge of tensor: its grad_fn, or its AccumulateGrad for a leaf."""
    if not tensor.requires_grad:
        raise RuntimeError("It is not possible to get the gradient edge for a Tensor that "
                           "does not require gradients")
    node = tensor.grad_fn
    if node is None:
        return GradientEdge(accumulate_grad(tensor), 0)
    # an output of a multi-output call (x.unbind(), a custom Function's) is its node's
    # output number output_nr (output_groups.py)
    return GradientEdge(node, tensor.output_nr)


def increment_version(tensor):
    """Bump the version of tensor (or of each tensor of an iterable) as an in-place op
    would: a backward that saved its old values then refuses to run."""
    for t in (tensor,) if isinstance(tensor, Tensor) else tensor:
        t._vc[0] += 1


class saved_tensors_hooks:
    """Context manager: while active, each tensor saved for backward is packed with
    pack_hook(tensor) -> any object, and backward reads unpack_hook(that object), which
    must return a Tensor of the saved one's values."""

    def __init__(self, pack_hook, unpack_hook):
        self.pack_hook = pack_hook
        self.unpack_hook = unpack_hook

    def __enter__(self):
        if context.current() is not None:
            raise TraceError(saved_hooks.NOT_COMPILED)
        saved_hooks.push(self.pack_hook, self.unpack_hook)

    def __exit__(self, *args):
        saved_hooks.pop()


class save_on_cpu(saved_tensors_hooks):
    """saved_tensors_hooks keeping each saved tensor on the CPU (a copy of a tensor on a
    device; a CPU tensor as itself), moved back to its device for backward. pin_memory
    is accepted as torch's; pinned memory is plain memory here."""

    def __init__(self, pin_memory=False, device_type="cuda"):
        def pack_to_cpu(tensor):
            return (tensor.device, tensor.cpu())

        def unpack_from_cpu(packed):
            device, tensor = packed
            return tensor.to(device, non_blocking=pin_memory)

        super().__init__(pack_to_cpu, unpack_from_cpu)


@contextlib.contextmanager
def disable_saved_tensors_hooks(error_message):
    """Within it, using saved tensors hooks (entering saved_tensors_hooks, or this while
    hooks are active) raises RuntimeError(error_message)."""
    if saved_hooks.current() is not None:
        raise RuntimeError(error_message)
    held = saved_hooks.set_disabled(error_message)
    try:
        yield
    finally:
        saved_hooks.set_disabled(held)





class _MultiHandle:
    """register_multi_grad_hook's handle: remove() takes every tensor's hook away."""

    def __init__(self, handles):
        self.handles = handles
        self.removed = False

    def remove(self):
        for handle in self.handles:
            handle.remove()
        if not self.removed:
            self.removed = True
            graph_task.watchers[0] -= 1

    def __enter__(self):
        return self

    def __exit__(self, *args):
        self.remove()


def register_multi_grad_hook(tensors, fn, *, mode="all"):
    """mode "all": fn(grads) once per backward, when every tensor of `tensors` whose
    gradient that backward computes has it (None for the others); "any": fn(grad) once per
    backward, with the first of them to arrive. Returns a handle whose remove() undoes it."""
    modes = ("all", "any")
    if mode not in modes:
        raise ValueError(f"Expects mode to be one of {modes} but got {mode}")
    tensors = list(tensors)
    lock = threading.Lock()
    graph_task.watchers[0] += 1
    if mode == "all":
        pending = weakref.WeakKeyDictionary()   # task -> [gradients so far, how many left]

        def hook_for(k):
            def hook(grad):
                task = _running_task()
                with lock:
                    state = pending.get(task)
                    if state is None:
                        expected = sum(task.will_compute(t) for t in tensors)
                        state = pending[task] = [[None] * len(tensors), expected]
                    state[0][k] = grad
                    state[1] -= 1
                    done = state[1] <= 0
                    if done:
                        del pending[task]
                if done:
                    fn(state[0])
            return hook

        handles = [t.register_hook(hook_for(k)) for k, t in enumerate(tensors)]
    else:
        ran = weakref.WeakKeyDictionary()

        def hook(grad):
            task = _running_task()
            with lock:
                first = task not in ran
                ran[task] = True
            if first:
                fn(grad)

        handles = [t.register_hook(hook) for t in tensors if t.requires_grad]
    return _MultiHandle(handles)


def _running_task():
    task = graph_task.current()
    if task is None:
        raise RuntimeError("expected this hook to be called inside a backward call")
    return task
