"""One level of a differentiating transform (grad, vjp, jacrev, jvp, ...) on the eager tape.

functorch gives every transform a level so that nested transforms do not see each other's
perturbations. On one tape the same comes from two rules:
  - inputs: the transform differentiates with respect to fresh tensors made here: a
    detached leaf, or, when the caller's tensor already requires grad (an outer level, or
    the user's own autograd), a view of it, so the outer graph still runs through it.
    autograd.grad with respect to that fresh tensor counts only the paths through it,
    never a path through a tensor the function closed over (torch.func's answer for
    `grad(lambda x: grad(lambda y: x * y)(x))`).
  - outputs: results keep their graph (they are computed with create_graph) only when the
    function's history reaches a tensor that requires grad outside this level; otherwise
    they leave detached, as torch.func's do.
"""
from .. import grad_mode
from ..dispatch import TapeNode
from ..ir import Node
from ..tensor import Tensor
from .pytree import tree_flatten, tree_map


class Level:
    """Fresh inputs in, results out (see the module docstring)."""

    def __init__(self):
        self.enabled = grad_mode.is_grad_enabled()     # under no_grad nothing keeps a graph
        self.fresh = set()
        self.keep = False

    def input(self, x):
        if not isinstance(x, Tensor):
            raise ValueError(f"Thing passed to transform API must be Tensor, got {type(x)}")
        if self.enabled and x.requires_grad:
            t = x.clone()
        else:   # a leaf of its own: while traced, its graph value ends the walk too
            t = x.detach().requires_grad_()
            t._transform_input = True   # a backward outside the level gives it no .grad
            self.fresh.add(id(t._data))
        self.fresh.add(id(t))
        return t

    def track(self, outputs):
        """Decide, from the function's outputs, whether results keep their graph."""
        self.keep = self.enabled and any(_reaches_outside(t, self.fresh)
                                         for t in tree_flatten(outputs)[0]
                                         if isinstance(t, Tensor))
        return self.keep

    def output(self, tree, vectors=()):
        """tree with its tensors as they leave the level. `vectors` are the cotangents or
        tangents a result is linear in (vjp_fn's, jvp's): when one requires grad the
        result keeps its graph to it, as torch's does."""
        if self.keep or self.enabled and any(v.requires_grad for v in vectors):
            return tree
        return tree_map(lambda t: t.detach() if isinstance(t, Tensor) else t, tree)


def _reaches_outside(t, fresh):
    """Whether t's history reaches a tensor that requires grad other than the fresh ones:
    a walk over the tape from t, stopping at this level's inputs."""
    if not t.requires_grad:
        return False
    if isinstance(t._data, Node):       # traced (compiled code): the graph has the history
        return _graph_reaches_outside(t._data, fresh)
    if t._node is None:
        return id(t) not in fresh
    stack, seen = [t._node], set()
    while stack:
        node = stack.pop()
        if not isinstance(node, TapeNode) or node.args is None:
            return True     # traced, or freed by a backward: assume it does
        for a, e in zip(node.args, node.edges):
            if not isinstance(a, Tensor) or not a._requires_grad:
                continue
            if e is None:
                if id(a) not in fresh:
                    return True
            elif id(e) not in seen:
                seen.add(id(e))
                stack.append(e)
    return False


def _graph_reaches_outside(value, fresh):
    """_reaches_outside for a traced value: whether its graph draws its requires_grad from
    something other than this level's fresh inputs: a value that requires grad while none
    of its inputs does, nor is a fresh one, is where it comes from (a graph input such as
    a parameter, or an outer level's fresh input, which shares its argument's node)."""
    stack, seen = [value], {id(value)}
    while stack:
        node = stack.pop()
        upstream = False
        for i in node.inputs:
            if not isinstance(i, Node):
                continue
            if id(i) in fresh:
                upstream = True
            elif i.requires_grad:
                upstream = True
                if id(i) not in seen:
                    seen.add(id(i))
                    stack.append(i)
        if node.requires_grad and not upstream and id(node) not in fresh:
            return True
    return False
