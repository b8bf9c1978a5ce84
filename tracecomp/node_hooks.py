"""Hooks on a tape node: torch's Node.register_prehook and Node.register_hook.

    h = y.grad_fn.register_prehook(lambda grad_outputs: ...)         # None or new ones
    h = y.grad_fn.register_hook(lambda grad_inputs, grad_outputs: ...)  # None or new inputs'

grad_outputs is (the gradient of the node's output,); grad_inputs holds one gradient per
input torch's node lists (its next_functions, grad_fn_names.py), None where that input
takes none. What a hook returns replaces them before they go on. The outputs of one custom
Function (or compiled) call are one node to torch and one node per output here: a hook on
any of them is the call's, seeing every output's gradient and the call's inputs'. A node that names
several primitives (ConvolutionBackward0 over a product and a bias add, AddmmBackward0
over permute, matmul and add) has its inputs' gradients only once all of them have run:
the engine runs those in a walk of their own that stops at the inputs
(autograd/engine.py, _step_hooked), calls the hooks, and hands on what they return.

The outputs of x.unbind(), x.split(), ... are one node to torch too (output_groups.py), whose
hooks would see every output's gradient; ours are a node each, so a hook on that node is
refused with NotImplementedError (a hook on an output tensor works). So is a post-hook on
F.cross_entropy's one node, which torch records as two (grad_fn_names.CHAINS): its
grad_inputs would be the logits' gradient, not the log-probabilities'.

Module.register_backward_hook (torch's deprecated, non-full module hook) is a hook on the
grad_fn of the module's first output tensor, as torch's is (nn/backward_hooks.py).
"""
from collections import OrderedDict

from .grad_fn_names import CHAINS, chain_hook_refused
from .utils.hooks import RemovableHandle


class NodeHooks:
    """A node's hooks, in registration order: `pre` see grad_outputs, `post` grad_inputs."""

    __slots__ = ("post", "pre")

    def __init__(self):
        # OrderedDicts: RemovableHandle holds its table weakly, which a dict cannot be
        self.pre, self.post = OrderedDict(), OrderedDict()

    def before(self, grads_out):
        """The gradients of the node's outputs (a tuple), after the pre-hooks."""
        for hook in list(self.pre.values()):
            new = hook(grads_out)
            if new is not None:
                grads_out = _checked(hook, new, len(grads_out))
        return grads_out

    def after(self, grads_in, grads_out):
        """The gradients of the node's inputs, after the hooks."""
        for hook in list(self.post.values()):
            new = hook(grads_in, grads_out)
            if new is not None:
                grads_in = _checked(hook, new, len(grads_in))
        return grads_in


def _checked(hook, new, size):
    new = tuple(new) if isinstance(new, (tuple, list)) else (new,)
    if len(new) != size:
        name = getattr(hook, "__name__", type(hook).__name__)
        raise RuntimeError(f"hook '{name}' has returned an incorrect number of values (got "
                           f"{len(new)}, but expected {size})")
    return new


def register(node, hook, pre):
    """Add `hook` to node's pre-hooks (pre=True) or hooks; returns its handle."""
    if node.group_member and _several(node):
        kind = "register_prehook" if pre else "register_hook"
        raise NotImplementedError(
            f"{node.name()}.{kind}: this node stands for several outputs of one call "
            f"(x.unbind(), x.split(), ...), which tracecomp records as one tape node each, "
            f"so a hook here would see only some of them; register a hook on the output "
            f"tensors instead (y.register_hook)")
    if not pre and node.prim.name in CHAINS:     # its grad_inputs are the chain's inputs'
        raise NotImplementedError(chain_hook_refused(node, node.name(), "register_hook"))
    if node.fn_hooks is None:
        node.fn_hooks = NodeHooks()
    table = node.fn_hooks.pre if pre else node.fn_hooks.post
    handle = RemovableHandle(table)
    table[handle.id] = hook
    return handle


def _several(node):
    from .output_groups import MEMBER, MEMBERS
    return node in MEMBER or len(MEMBERS.get(node, ())) > 1
