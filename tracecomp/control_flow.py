"""torch.cond and torch.while_loop (torch._higher_order_ops): data-dependent branching and
looping as functions, run here as the Python `if` and `while` they stand for
(control_flow_scan.py has scan and map, on the tree helpers and purity checks here).

torch compiles each call (both branches, or the loop body) into a graph; tracecomp runs
the branch or body the predicate picks, eagerly, so autograd records it as any other code.
Under tracecomp.compile a tensor predicate's truth is a graph break, as any `if` on tensor
values (tracing/asserts.py): the function runs eagerly and the modules it calls compiled,
with the numbers of eager (torch.compile keeps both branches in one graph). What torch
checks on each call is checked here: the predicate is a bool or one element, the operands
are tensors in tuples/lists/dicts, a branch or body neither mutates its inputs nor returns
one of them (or a view of one), a loop's condition is a bool or a 0-d bool tensor and its
body returns as many tensors and ints as it carries. The branch not taken is not run, so
a branch whose outputs would not match the other's (structure, shape, dtype), which torch
finds by tracing both, is not found here.
"""
import numpy as np

from .func.pytree import tree_flatten, tree_unflatten
from .tensor import Tensor


def _leaves(tree):
    """The leaves of a pytree (tuples, lists, dicts, namedtuples), in torch's order."""
    return tree_flatten(tree)[0]


def _same_memory(a, b):
    if a is b:
        return True
    da, db = a._data, b._data
    return type(da) is np.ndarray and type(db) is np.ndarray and np.shares_memory(da, db)


def _run_pure(op, fn, args):
    """fn(*args), refusing what torch's higher-order ops refuse: a tensor input updated in
    place, or handed back (itself or a view) as an output."""
    inputs = [t for t in _leaves(args) if isinstance(t, Tensor)]
    versions = [t._version for t in inputs]
    out = fn(*args)
    if any(t._version != v for t, v in zip(inputs, versions)):
        raise RuntimeError(f"{op}: Higher order ops do not support input mutation: a branch "
                           f"or body updated one of its tensor inputs in place; compute a new "
                           f"tensor instead (x + 1, not x.add_(1))")
    for o in _leaves(out):
        if isinstance(o, Tensor) and any(_same_memory(o, t) for t in inputs):
            raise RuntimeError(f"{op}: Higher order ops do not support aliasing: an output "
                               f"is one of the inputs or a view of one; return "
                               f"x.clone() instead of x")
    return out


def cond(pred, true_fn, false_fn, operands=()):
    """true_fn(*operands) if pred else false_fn(*operands), as torch.cond."""
    if isinstance(pred, (bool, int, float)):
        # torch's eager case for a Python constant: the branch runs with no checks
        return true_fn(*operands) if pred else false_fn(*operands)
    if not isinstance(pred, Tensor):
        raise RuntimeError(f"Expected pred to be bool or tensor, but got {pred}.")
    if pred.numel() != 1:
        raise RuntimeError(f"Expected pred to be bool or single-element tensor, but got "
                           f"{pred}.")
    if not callable(true_fn) or not callable(false_fn):
        raise RuntimeError("Expect both branches to be callable.")
    if not isinstance(operands, (tuple, list)) or \
            not all(isinstance(t, Tensor) for t in _leaves(operands)):
        raise RuntimeError("Expect operands to be a tuple of possibly nested dict/list/tuple "
                           f"that only consists of tensor leaves, but got {operands}.")
    return _run_pure("torch.cond", true_fn if bool(pred) else false_fn, tuple(operands))


def _loop_condition(pred):
    if isinstance(pred, bool) or (isinstance(pred, Tensor) and pred.ndim == 0
                                  and pred.dtype.name == "bool"):
        return bool(pred)
    raise RuntimeError(f"cond_fn must return a boolean scalar tensor or a boolean but got "
                       f"{pred}")


def while_loop(cond_fn, body_fn, carried_inputs):
    """Run body_fn(*carried) while cond_fn(*carried) holds; the last carried values, as
    torch.while_loop (a loop that never runs returns clones of its inputs)."""
    if not callable(cond_fn) or not callable(body_fn):
        raise RuntimeError("Expect cond_fn and body_fn to be callable.")
    if not isinstance(carried_inputs, (tuple, list)):
        raise RuntimeError(f"carried_inputs must be a tuple or list but got "
                           f"{type(carried_inputs)}")
    if not all(isinstance(t, (Tensor, int)) for t in _leaves(carried_inputs)):
        raise RuntimeError("Expect carried_inputs to be a tuple of possibly nested "
                           "dict/list/tuple that onlyconsists of tensor or int leaves, but "
                           f"got {carried_inputs}.")
    carried = tuple(carried_inputs)
    if not _loop_condition(cond_fn(*carried)):
        return tuple(v.clone() if isinstance(v, Tensor) else v for v in carried)
    count = len(_leaves(carried))
    while True:
        out = _run_pure("torch.while_loop", body_fn, carried)
        # torch flattens what the body returns and hands the leaves back in the carried
        # inputs' structure; the last return comes back as the body built it
        leaves = _leaves(out)
        if len(leaves) != count:
            raise RuntimeError(f"torch.while_loop: body_fn should return the same number of "
                               f"elements as carried_inputs, got {len(leaves)} vs {count}")
        carried = _refill(carried, iter(leaves))
        if not _loop_condition(cond_fn(*carried)):
            return out


def _refill(template, leaves):
    """template's pytree structure with `leaves` (an iterable, in order) at its leaves."""
    return tree_unflatten(leaves, tree_flatten(template)[1])
