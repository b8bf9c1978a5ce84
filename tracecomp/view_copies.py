"""torch's `*_copy` functions (torch.permute_copy, view_copy, split_copy, ...): the view op of
the same name, whose results are fresh row-major tensors instead of views (what functional
graphs use in place of aliasing). One table: each name, the view op it copies, and the
name torch gives its backward node (<view's node>_copy, e.g. PermuteBackward0_copy). Every
one takes out= as torch's do. Also torch.detach, the function form of Tensor.detach.
"""
from . import composite as C
from . import composite_shape as S
from .grad_fn_names import named
from .grad_mode import refuse_complex_grad
from .ops import elementwise as ew
from .ops.complex import view_as_complex, view_as_real
from .ops.public import public
from .tensor import Tensor
from .torch_args import with_out


def _slice(input, dim=0, start=None, end=None, step=1):  # noqa: A002
    """torch.slice_copy's view: input[start:end:step] along dim."""
    key = [slice(None)] * input.ndim
    key[dim] = slice(start, end, step)
    return input[tuple(key)]


def _expand(input, size, *, implicit=False):  # noqa: A002
    return input.expand(size)


def _as_complex(input):  # noqa: A002
    """torch has no derivative for view_as_complex_copy (its words)."""
    refuse_complex_grad("view_as_complex_copy", input.dtype.to_complex(), input)
    return view_as_complex(input)


def _squeeze_node(input, dim=None):  # noqa: A002
    """torch's three squeeze overloads: all dims, one dim, a tuple of dims."""
    number = 0 if dim is None else 2 if isinstance(dim, (tuple, list)) else 1
    return f"SqueezeBackward{number}_copy"


# name -> (the view op, torch's backward node name of the copy, or a function of the
# arguments that gives it)
VIEWS = {
    "alias_copy": (lambda input: input, "AliasBackward0_copy"),
    "detach_copy": (lambda input: input.detach(), None),
    "diagonal_copy": (S.diagonal, "DiagonalBackward0_copy"),
    "expand_copy": (_expand, "ExpandBackward0_copy"),
    "permute_copy": (C.permute, "PermuteBackward0_copy"),
    "select_copy": (S.select, "SelectBackward0_copy"),
    "slice_copy": (_slice, "SliceBackward0_copy"),
    "split_copy": (C.split, "SplitBackward0_copy"),
    "split_with_sizes_copy": (C.split, "SplitWithSizesBackward0_copy"),
    "squeeze_copy": (C.squeeze, _squeeze_node),
    "t_copy": (C.t, "TBackward0_copy"),
    "transpose_copy": (C.transpose, "TransposeBackward0_copy"),
    "unbind_copy": (C.unbind, "UnbindBackward0_copy"),
    "unfold_copy": (lambda input, dimension, size, step: input.unfold(dimension, size, step),
                    "UnfoldBackward0_copy"),
    "unsqueeze_copy": (C.unsqueeze, "UnsqueezeBackward0_copy"),
    "view_as_complex_copy": (_as_complex, None),
    "view_as_real_copy": (view_as_real, "ViewAsRealBackward0_copy"),
    "view_copy": (lambda input, size: input.view(size), "ViewBackward0_copy"),
}


def _copied(name, view, node):
    def copy(input, *args, **kwargs):  # noqa: A002
        result = view(input, *args, **kwargs)
        name = node(input, *args, **kwargs) if callable(node) else node

        def fresh(part):
            out = ew.contiguous_copy(part)
            return named(out, name, (input,)) if name is not None else out
        if isinstance(result, Tensor):
            return fresh(result)
        return tuple(fresh(part) for part in result)
    copy.__name__ = copy.__qualname__ = name
    copy.__doc__ = f"torch.{name}: {name[:-5]}'s result as new row-major tensors."
    return copy


for _name, (_view, _node) in VIEWS.items():
    public("torch")(with_out(_copied(_name, _view, _node), _name))


@public("torch")
def detach(input):  # noqa: A002
    return input.detach()
