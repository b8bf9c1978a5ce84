"""The backward running now (torch's graph task), for register_multi_grad_hook.

A multi-grad hook must know, when the first of its tensors' gradients arrives, how many of
the others this backward will compute (torch's _will_engine_execute_node) and which
backward it is in (torch's _current_graph_task_id). The engine opens a Task around each
backward()/grad() (begin/end); while any multi-grad hook exists (`watchers`), the task
records at its start which tape nodes and leaves the walk reaches: a node's operands and
edges are dropped as the walk frees it, so this cannot be asked later.

Which gradients "will be computed" is what our engine runs hooks for:
  - a non-leaf's: its node is reached (and, for grad()/backward(inputs=...), leads to one
    of the inputs),
  - a leaf's: backward() reaches it, or it is one of the inputs given.
"""
import threading

from ..tensor import Tensor

watchers = [0]      # multi-grad hooks registered and not removed (graph.py)
_local = threading.local()


class Task:
    """One backward()/grad() call."""

    __slots__ = ("nodes", "leaves", "grad", "__weakref__")

    def __init__(self, grad):
        self.nodes = self.leaves = None
        self.grad = grad        # autograd.grad(), which computes no leaf's .grad

    def will_compute(self, t):
        """Whether this backward computes t's gradient (runs t's hooks)."""
        if self.nodes is None:
            return False
        node = t._node
        if node is not None:
            return id(node) in self.nodes
        if self.grad:
            raise RuntimeError("A leaf node was passed to _will_engine_execute_node but we are "
                               "currently running autograd.grad(). This is currently not "
                               "supported.")
        return id(t) in self.leaves


def _stack():
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def current():
    stack = _stack()
    return stack[-1] if stack else None


def begin(grad=False):
    task = Task(grad)
    _stack().append(task)
    return task


def end():
    _stack().pop()


def record(task, starts, root_leaves, needed, capture_ids):
    """What the walk from `starts` (tape nodes; root_leaves: roots that are leaves) reaches:
    every node (those in `needed` when grad()/inputs= restricts it), and the leaves whose
    gradient goes to .grad (the given inputs instead, when there are some)."""
    if not watchers[0]:
        return
    nodes, leaves, stack = set(), set(root_leaves), list(starts)
    while stack:
        node = stack.pop()
        if id(node) in nodes:
            continue
        nodes.add(id(node))
        for a, e in zip(node.args or (), node.edges or ()):
            if e is not None:
                stack.append(e)
            elif isinstance(a, Tensor) and a._requires_grad and a._node is None:
                leaves.add(id(a))
    if needed is not None:
        nodes &= needed
    if capture_ids:
        leaves &= set(capture_ids)
    task.nodes, task.leaves = nodes, leaves
