"""One torch node for the several outputs of one call: `y.grad_fn` and `y.output_nr`.

torch records x.unbind(), x.split(2), x.chunk(3), torch.aminmax(x, dim=0), ... as one node
(UnbindBackward0, SplitBackward0, ...) whose outputs are numbered 0..n-1: every output's
grad_fn is that same object and its output_nr says which output it is. Our tape records
one node per output (each output is its own primitive call, a slice of x), which keeps
bind and backward as they are; `group()` makes them look like torch's one node:

  - each member node takes the group's class (torch's name) and x as its one input;
  - the first output's node is the group's head, what every output's grad_fn returns;
  - MEMBER maps a later member to (head, its output number), weakly (a member lives as
    long as its tensor or a node that read it); MEMBERS maps the head to its members.

A custom Function's outputs are a group of their own (the custom_vjp primitive's tag
"grouped", autograd/custom_vjp.py): its members come from the call (`tape_members()`), its
output numbers from the node's `index` param. `head`, `output_nr` and `member` answer both.
A hook registered on the head (y.grad_fn.register_hook) sees the head's output only where
torch's sees all of the node's: the members' backwards stay separate.
"""
import weakref

from .dispatch import TapeNode, current_node
from .tensor import Tensor

MEMBER = weakref.WeakKeyDictionary()    # later member node -> (head node, output number)
MEMBERS = weakref.WeakKeyDictionary()   # head node -> [weakref to member k]


def group(outs, cls, x):
    """Make the tape nodes of outs (the outputs, in order, of one call on x) one torch
    node of class cls (grad_fn_names gives it); returns outs. Nothing happens where the
    outputs have no tape node (grad off, tracing)."""
    nodes = [o._node for o in outs]
    if not nodes or not all(isinstance(n, TapeNode) for n in nodes) or any(
            o is x for o in outs):      # (x itself: its own node is not the group's)
        if cls.multi_view:
            _note_traced_views(outs, cls)
        return outs
    inputs = (weakref.ref(x) if isinstance(x, Tensor) and x._requires_grad else None,)
    head = nodes[0]
    for k, node in enumerate(nodes):
        node.__class__ = cls
        node.inputs = inputs
        if k:
            MEMBER[node] = (head, k)
    MEMBERS[head] = [weakref.ref(n) for n in nodes]
    return outs


def _note_traced_views(outs, cls):
    """While tracing, views of one call (unbind, split) have no tape node to carry their
    class: the trace keeps it, to refuse their recorded in-place update as torch does
    (tracing/view_writes.py)."""
    from . import context
    trace = context.current()
    if trace is not None:
        for k, o in enumerate(outs):
            trace.multi_views[id(o)] = (o, k, cls.__name__)


def _custom(node):
    return "grouped" in node.prim.tags


def head(node):
    """The node torch's grad_fn is for a tape node: its group's head."""
    if not isinstance(node, TapeNode):
        return node
    if node.group_member:       # (a class attribute: most nodes answer here)
        hit = MEMBER.get(node)
        return node if hit is None else hit[0]
    if _custom(node):
        members = node.params["call"].tape_members()
        return next((m for m in members if m is not None), node)
    return node


def output_nr(node):
    """Which output of its torch node a tape node's output is."""
    if not isinstance(node, TapeNode):
        return 0
    if node.group_member:
        hit = MEMBER.get(node)
        return 0 if hit is None else hit[1]
    return node.params["index"] if _custom(node) else 0


def member(node, k):
    """The tape node of output k of the torch node whose head is `node` (None when that
    output is gone)."""
    if not isinstance(node, TapeNode):
        return node
    if _custom(node):
        return node.params["call"].tape_members()[k]
    refs = MEMBERS.get(node)
    if refs is None:
        return node if k == 0 else None
    return refs[k]()


def grad_fn(x):
    """Tensor.grad_fn: x's node (brought up to date, dispatch.current_node), as its group's
    head."""
    return head(current_node(x))


def tensor_output_nr(x):
    """Tensor.output_nr."""
    return output_nr(current_node(x))
