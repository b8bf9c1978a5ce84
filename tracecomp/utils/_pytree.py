"""torch.utils._pytree: the pytree helpers programs import (tree_map over nested outputs,
tree_flatten to walk a batch), on the pytrees torch.func uses (func/pytree.py): tuples,
lists, dicts and namedtuples are nodes, everything else a leaf."""
from ..func.pytree import LEAF, TreeSpec, tree_flatten, tree_unflatten

__all__ = ["LeafSpec", "TreeSpec", "tree_all", "tree_any", "tree_flatten", "tree_leaves",
           "tree_map", "tree_map_only", "tree_structure", "tree_unflatten"]

LeafSpec = type(LEAF)


def _no_is_leaf(is_leaf, name):
    if is_leaf is not None:
        raise NotImplementedError(f"torch.utils._pytree.{name}(is_leaf=...) is not supported "
                                  f"by tracecomp yet: flatten the subtrees you mean as leaves "
                                  f"yourself, or map over the whole tree")


def tree_leaves(tree, is_leaf=None):
    _no_is_leaf(is_leaf, "tree_leaves")
    return tree_flatten(tree)[0]


def tree_structure(tree, is_leaf=None):
    _no_is_leaf(is_leaf, "tree_structure")
    return tree_flatten(tree)[1]


def tree_map(func, tree, *rests, is_leaf=None):
    """func over the leaves of tree (and the matching leaves of rests, same structure)."""
    _no_is_leaf(is_leaf, "tree_map")
    leaves, spec = tree_flatten(tree)
    others = []
    for rest in rests:
        rest_leaves, rest_spec = tree_flatten(rest)
        if rest_spec != spec:
            raise ValueError(f"tree_map: every tree must have the structure of the first, "
                             f"{spec}; got {rest_spec}")
        others.append(rest_leaves)
    return tree_unflatten([func(*xs) for xs in zip(leaves, *others)], spec)


def tree_map_only(type_or_types, func, tree, is_leaf=None):
    """func over the leaves that are instances of type_or_types; the others kept."""
    return tree_map(lambda x: func(x) if isinstance(x, type_or_types) else x, tree,
                    is_leaf=is_leaf)


def tree_any(pred, tree, is_leaf=None):
    return any(map(pred, tree_leaves(tree, is_leaf)))


def tree_all(pred, tree, is_leaf=None):
    return all(map(pred, tree_leaves(tree, is_leaf)))
