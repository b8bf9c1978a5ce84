"""x.reshape(shape) of a non-contiguous x, as torch records it on the tape.

torch's reshape is a view when x's strides allow one and a copy otherwise, and its graph
says which: ReshapeAliasBackward0 for the view; UnsafeViewBackward0 over CloneBackward0 for
the copy (x.T.reshape(-1), x.T.flatten()). Our reshape primitive copies inside numpy when
it must, which the tape cannot see, so here the copy is made first, as its own `copy`
primitive (torch's CloneBackward0): the same one copy, and torch's two nodes.
composite.reshape sends only a non-contiguous x that requires grad here.
"""
from .grad_fn_names import renamed
from .ops import elementwise as ew
from .ops import movement as mv


def reshape_strided(x, shape):
    shape = mv.infer_shape("reshape", x.shape, shape)
    if tuple(x.shape) == shape:
        return mv.reshape(x, shape)     # x itself, as every same-shape reshape here
    try:
        x._data.reshape(shape, copy=False)
    except ValueError:                  # no view: numpy would copy
        copy = ew.clone(x)
        return renamed(mv.reshape(copy, shape), copy, "UnsafeViewBackward0")
    return renamed(mv.reshape(x, shape), x, "ReshapeAliasBackward0")
