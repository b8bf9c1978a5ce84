"""torch.func.functionalize: func run so that its in-place updates touch no memory its
caller can see until it returns.

torch's functionalize rewrites every in-place op as its out-of-place form and, when func
returns, copies the new values of the inputs func updated back into them; what the caller
observes is: the same results, the same updates of the inputs (applied at the end), and
results that share no memory with the inputs (returning x, or a view of x, hands back a
new tensor). That observable behaviour is what this gives, eagerly and under the other
transforms (grad, vmap) and tracecomp.compile: func runs on differentiable copies (clone)
of the tensor arguments, its results are computed from those, and each argument whose
copy was updated in place (its version counter moved, views included) takes the copy's
values with copy_ at the end. With remove='mutations_and_views' torch's views become
copies too, so no two results share memory: each result that is a view is returned as a
copy of itself.
"""
import functools

from ..tensor import Tensor
from .pytree import tree_flatten, tree_unflatten

_REMOVE = ("mutations", "mutations_and_views")


def functionalize(func, *, remove="mutations"):
    """func, with the inputs' in-place updates applied when it returns and results that
    share no memory with the inputs (module docstring)."""
    if remove not in _REMOVE:
        raise RuntimeError(
            f"functionalize(f, remove='mutations'): received invalid argument for "
            f"remove={remove}. Valid options are:\n     remove='mutations': all inplace and "
            f"out= operators will be removed from the program, and replaced with their "
            f"out-of-place equivalents.\n     remove='mutations_and_views': In addition to "
            f"the above, all aliasing operators {{view}} will be replaced with their "
            f"non-aliasing counterparts, {{view}}_copy.\n")

    @functools.wraps(func)
    def functionalized(*args, **kwargs):
        leaves, spec = tree_flatten((args, kwargs))
        copies = [x.clone() if isinstance(x, Tensor) else x for x in leaves]
        before = [x._vc[0] if isinstance(x, Tensor) else None for x in copies]
        args, kwargs = tree_unflatten(copies, spec)
        out = func(*args, **kwargs)
        for original, copy, version in zip(leaves, copies, before):
            if isinstance(copy, Tensor) and copy._vc[0] != version:
                original.copy_(copy)        # the update func made, applied at the end
        if remove == "mutations_and_views":
            results, out_spec = tree_flatten(out)
            out = tree_unflatten([r.clone() if isinstance(r, Tensor) and r._view is not None
                                  else r for r in results], out_spec)
        return out
    return functionalized
