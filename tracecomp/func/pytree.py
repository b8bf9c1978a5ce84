"""Pytrees for torch.func: flatten nested tuples, lists, dicts and namedtuples of values
into a list of leaves and a spec that rebuilds them, as torch.utils._pytree does.

Containers are nodes (a dict's children in insertion order, as torch's); everything else,
None included, is a leaf. `broadcast_to_and_flatten` reads vmap's in_dims/out_dims: a
prefix of the tree whose int (or None) at a node stands for every leaf below it.
Specs print as torch's do, so vmap's structure errors read the same.
"""
from collections import OrderedDict


class TreeSpec:
    """The shape of a pytree: a node's type, its context (dict keys or the namedtuple
    class) and its children's specs; LEAF for a leaf. Prints as torch's TreeSpec does."""

    __slots__ = ("type", "context", "children")

    def __init__(self, kind, context, children):
        self.type = kind
        self.context = context
        self.children = children

    @property
    def num_leaves(self):
        return sum(c.num_leaves for c in self.children)

    def is_leaf(self):
        return False

    def __eq__(self, other):
        return isinstance(other, TreeSpec) and not other.is_leaf() and \
            (self.type, self.context, self.children) == (other.type, other.context,
                                                         other.children)

    def __repr__(self, indent=0):
        name = "namedtuple" if _is_namedtuple(self.type) else self.type.__name__
        sep = ",\n" + " " * (indent + 2)
        inner = sep.join(c.__repr__(indent + 2) for c in self.children)
        return f"TreeSpec({name}, {self.context}, [{inner}])"


class _Leaf(TreeSpec):
    num_leaves = 1

    def __init__(self):
        super().__init__(None, None, [])

    def is_leaf(self):
        return True

    def __eq__(self, other):
        return isinstance(other, _Leaf)

    def __repr__(self, indent=0):
        return "*"


LEAF = _Leaf()


def _is_namedtuple(kind):
    return isinstance(kind, type) and issubclass(kind, tuple) and hasattr(kind, "_fields")


def _node_of(tree):
    """(children, context) for a container; None for a leaf."""
    kind = type(tree)
    if kind in (tuple, list):
        return list(tree), None
    if kind in (dict, OrderedDict):
        return list(tree.values()), list(tree.keys())
    if _is_namedtuple(kind):
        return list(tree), kind
    return None


def tree_flatten(tree):
    """(leaves, spec) of a pytree."""
    leaves = []
    return leaves, _flatten_into(tree, leaves)


def _flatten_into(tree, leaves):
    node = _node_of(tree)
    if node is None:
        leaves.append(tree)
        return LEAF
    children, context = node
    return TreeSpec(type(tree), context, [_flatten_into(c, leaves) for c in children])


def tree_unflatten(leaves, spec):
    """The pytree of `spec` with `leaves` at its leaves, in order."""
    it = iter(leaves)
    return _build(spec, it)


def _build(spec, it):
    if spec.is_leaf():
        return next(it)
    children = [_build(c, it) for c in spec.children]
    if spec.type in (dict, OrderedDict):
        return spec.type(zip(spec.context, children))
    if _is_namedtuple(spec.type):
        return spec.type(*children)
    return spec.type(children)


def tree_map(fn, tree):
    leaves, spec = tree_flatten(tree)
    return tree_unflatten([fn(x) for x in leaves], spec)


def broadcast_to_and_flatten(prefix, spec):
    """One value per leaf of `spec` from a prefix tree of it (an int or None covers all
    leaves below it); None when `prefix` does not match the structure of `spec`."""
    out = []
    return out if _broadcast(prefix, spec, out) else None


def _broadcast(prefix, spec, out):
    node = _node_of(prefix)
    if node is None:                    # one value for the whole subtree
        out.extend([prefix] * spec.num_leaves)
        return True
    children, _ = node
    if spec.is_leaf() or type(prefix) is not spec.type or len(children) != len(spec.children):
        return False
    # a dict prefix is matched by position, not by key, as torch's _broadcast_to_and_flatten
    # does ({'b': 1, 'a': 0} against {'a': x, 'b': y} gives a 1, b 0)
    return all(_broadcast(c, s, out) for c, s in zip(children, spec.children))
