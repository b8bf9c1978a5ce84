"""Saved-tensors hooks: the eager tape's side of torch.autograd.graph.saved_tensors_hooks.

While a (pack_hook, unpack_hook) pair is pushed, every tensor a new tape node saves for its
backward goes through pack_hook as the node is recorded, and the node keeps what it
returned (any Python object) instead of a version-checked reference; backward hands the
VJP rule unpack_hook(packed) in its place. As torch:
  - which tensors are "saved" is the primitive's `saves` (registry.py): exp saves its
    output, mul each operand the other's gradient needs, add nothing;
  - pack_hook runs under no_grad and sees the tensor itself (`packed is x` for an input,
    the result tensor `y` for a saved output); modifying it in place is refused;
  - unpack_hook must return a Tensor; its values are used with the saved tensor's history
    (the gradient still flows to where the original came from);
  - a packed tensor is not version-checked (torch cannot see through the hooks);
  - only the innermost pair applies; the stack is per thread;
  - disable_saved_tensors_hooks(msg) makes pushing a pair raise RuntimeError(msg).
`grad_fn._saved_self` and its kin read a packed tensor through unpack_hook too
(saved_fields.py). A custom autograd.Function packs what its ctx.save_for_backward saved,
once per call (pack_tensors, from function.py), not its marker nodes' operands; compiled
calls under hooks run eagerly (NOT_COMPILED).

Memory: a tape node holds all its operands (saved or not: dispatch.TapeNode) and its
output, so packing frees neither (torch holds only what pack_hook returned).

`active` is one process-wide count of the pairs pushed on any thread, so recording a node
costs one list read while nobody uses hooks.
"""
import contextlib
import threading

from . import grad_mode
from .ops.registry import OPERANDS
from .tensor import Tensor

active = [0]
_local = threading.local()
# While allow_mutation_on_saved_tensors is in force (autograd/mutation_on_saved.py): its
# before_write(x), which the in-place ops call before writing into x; else None (one list
# read per in-place op)
writing = [None]

PACK_MODIFIED = ("A saved tensor pack hook is modifying its input in place. Tensors provided "
                 "as input to pack hook cannot be modified by in-place operations as this can "
                 "lead to unexpected side-effects. Please open an issue if you need to perform "
                 "in-place operations on the input to a pack hook.")

NOT_COMPILED = ("torch.autograd.graph.saved_tensors_hooks: compiled code does not pass its "
                "saved tensors through pack/unpack hooks (a compiled call keeps its own "
                "residuals for backward); without fullgraph=True the call runs eagerly")


def _stack():
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def current():
    """The innermost (pack_hook, unpack_hook) pair of this thread, or None."""
    if not active[0]:
        return None
    stack = _stack()
    return stack[-1] if stack else None


@contextlib.contextmanager
def unhooked():
    """Nothing saved inside reaches a pack hook: checkpoint's own runs of its function
    (its forward pass, its recomputation), which torch packs with checkpoint's own hooks,
    innermost, so the user's never see those activations."""
    if not active[0]:
        yield
        return
    stack = _stack()
    stack.append(None)      # current() answers None while it is on top
    active[0] += 1
    try:
        yield
    finally:
        stack.pop()
        active[0] -= 1


def disabled_message():
    return getattr(_local, "disabled", None)


def set_disabled(message):
    """Refuse pushing hooks (with message) from now on, or allow it again (None); the
    previous setting is returned, to restore."""
    held = disabled_message()
    _local.disabled = message
    return held


def push(pack_hook, unpack_hook):
    message = disabled_message()
    if message is not None:
        raise RuntimeError(message)
    _stack().append((pack_hook, unpack_hook))
    active[0] += 1


def pop():
    _stack().pop()
    active[0] -= 1


def pack(node, out):
    """Record time (bind, once the result tensor `out` exists): run what node saves
    through the current pack hook."""
    hooks = current()
    if hooks is None or "grouped" in node.prim.tags:
        return
    pack_hook = hooks[0]
    reads, args = node.prim.reads, node.args
    packed = {}
    with grad_mode.no_grad():
        for k in declared(node.prim.saves, len(args)):
            if k == "out":
                if reads("out", node):
                    packed["out"] = _pack_one(pack_hook, out)
            elif k not in packed and isinstance(args[k], Tensor) and reads(k, node):
                packed[k] = _pack_one(pack_hook, args[k])
    if packed:
        node.saved = (hooks[1], packed)


def declared(saves, n):
    """The positions (and "out") a primitive's `saves` names, in the order it names them:
    the order pack_hook sees them (mul and matmul declare the second operand first, as
    torch's MulBackward0 and MmBackward0 save `other` and `mat2` first)."""
    for entry in saves:
        if entry == OPERANDS:
            yield from range(n)
        elif isinstance(entry, slice):
            yield from range(n)[entry]
        elif isinstance(entry, tuple):
            yield entry[0]
        else:
            yield entry


def pack_tensors(hooks, tensors):
    """A custom Function's saved tensors (None kept) through pack_hook, at the end of its
    forward: (unpack_hook, what pack_hook returned for each)."""
    with grad_mode.no_grad():
        return hooks[1], [None if t is None else _pack_one(hooks[0], t) for t in tensors]


def unpack_tensors(packed, originals):
    """What a custom Function's backward reads as ctx.saved_tensors: unpack_hook's values
    with the history of the tensors saved (originals, as the call holds them)."""
    unpack_hook, held = packed
    return tuple(None if t is None else _with_history(_unpacked(unpack_hook, h), t, t._node)
                 for h, t in zip(held, originals))


def _unpacked(unpack_hook, held):
    value = unpack_hook(held)
    if not isinstance(value, Tensor):
        raise TypeError(f"Output of saved tensor unpack_hook expected to be a Tensor but got "
                        f"result of type {type(value).__name__}")
    return value


def _pack_one(pack_hook, t):
    version = t._vc[0]
    packed = pack_hook(t)
    if t._vc[0] != version:
        raise RuntimeError(PACK_MODIFIED)
    return packed


def unpack(node, args, out):
    """Backward time: the operands and output node's VJP reads, each packed one replaced by
    unpack_hook(packed), carrying the original's history (its producer, or the node for
    the output) so a create_graph backward differentiates through it as through the
    original."""
    unpack_hook, packed = node.saved
    args = list(args)
    for k, held in packed.items():
        value = _unpacked(unpack_hook, held)
        if k == "out":
            out = Tensor._make(value._data, True, node, node.out_vc)
        else:
            args[k] = _with_history(value, args[k], node.edges[k])
    return args, out


def unpack_one(node, k):
    """node's packed entry k unpacked, for grad_fn._saved_*: a new tensor (as torch's)
    with unpack_hook's values and the saved tensor's history."""
    value = _unpacked(node.saved[0], node.saved[1][k])
    if k == "out":
        return Tensor._make(value._data, True, node, node.out_vc)
    original = node.args[k]
    return Tensor._make(value._data, original._requires_grad, node.edges[k], original._vc)


def _with_history(value, original, producer):
    if value._data is original._data:
        return original
    if producer is None and original._requires_grad and grad_mode.state.enabled:
        # a leaf, in a create_graph backward, which must reach the leaf itself: the values
        # come through an identity op of it (torch's unpacked tensor shares the leaf's
        # gradient accumulator); add saves nothing, so its values may be swapped
        through = original + 0
        through._data = through._node.out_data = value._data
        return through
    return Tensor._make(value._data, original._requires_grad, producer, original._vc)
