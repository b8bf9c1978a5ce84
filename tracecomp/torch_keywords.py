"""torch's keyword names for the tensor arguments of torch-level functions and Tensor methods.

Our ops name their parameters for their own code (`index_select(x, dim, index_)`,
`pow(a, b)`), where torch names them `input`, `index`, `exponent`, ... and programs pass
them by those names: `torch.index_select(input=feats, dim=0, index=rows)` (a GAT layer),
`x.pow(exponent=2)`, `torch.outer(input=a, vec2=b)`. `torch_named(fn, names)` makes `fn` take
torch's names as well: a keyword that is torch's name for the k-th argument becomes the k-th
positional argument while the ones before it are given, else it is passed under our name for
that position. A call with no keywords goes straight to `fn`.

TORCH_NAMES lists, per function, torch's names of its positional arguments in order (from
torch's signatures), for the functions whose own names differ; `install` wraps the torch
namespace's functions, and the Tensor methods that are the same function (torch's method
takes the same names, `self` in place of `input`, but where METHOD_NAMES says otherwise).
"""
import functools
import inspect

TORCH_NAMES = {
    "addbmm": ("input", "batch1", "batch2"), "addmm": ("input", "mat1", "mat2"),
    "addmv": ("input", "mat", "vec"), "addr": ("input", "vec1", "vec2"),
    "all": ("input",), "allclose": ("input", "other"), "amax": ("input",),
    "amin": ("input",), "aminmax": ("input",), "any": ("input",), "argmax": ("input",),
    "argmin": ("input",), "argsort": ("input",), "argwhere": ("input",),
    "baddbmm": ("input", "batch1", "batch2"), "broadcast_to": ("input", "shape"),
    "chunk": ("input",), "combinations": ("input",), "count_nonzero": ("input",),
    "clamp_min": ("input",), "cross": ("input", "other"), "cummax": ("input",),
    "cummin": ("input",),
    "cumprod": ("input",), "cumsum": ("input",), "deg2rad": ("input",), "diag": ("input",),
    "diag_embed": ("input",), "diagflat": ("input",), "diagonal": ("input",),
    "diff": ("input",), "digamma": ("input",), "dist": ("input", "other"),
    "dot": ("input", "tensor"), "empty_like": ("input",), "equal": ("input", "other"),
    "erfc": ("input",), "erfinv": ("input",), "exp2": ("input",), "flatten": ("input",),
    "flip": ("input",), "fliplr": ("input",), "flipud": ("input",),
    "float_power": ("input", "exponent"), "fmax": ("input", "other"),
    "fmin": ("input", "other"), "frac": ("input",), "full_like": ("input",),
    "gather": ("input",), "ger": ("input", "vec2"), "heaviside": ("input",), "i0": ("input",),
    "index_add": ("input",), "index_copy": ("input",),
    "index_select": ("input", "dim", "index"), "inner": ("input", "other"),
    "isclose": ("input", "other"), "kron": ("input", "other"), "kthvalue": ("input",),
    "lerp": ("input",), "lgamma": ("input",), "log10": ("input",), "log2": ("input",),
    "log_softmax": ("input",), "logaddexp": ("input", "other"),
    "logaddexp2": ("input", "other"), "logcumsumexp": ("input",), "logit": ("input",),
    "logsumexp": ("input",), "masked_fill": ("input",), "masked_select": ("input",),
    "matrix_power": ("input",), "max": ("input",), "median": ("input",), "min": ("input",),
    "mode": ("input",), "moveaxis": ("input",), "movedim": ("input",), "msort": ("input",),
    "mv": ("input", "vec"), "nan_to_num": ("input",), "nanmean": ("input",),
    "nanmedian": ("input",), "nansum": ("input",), "narrow": ("input",),
    "narrow_copy": ("input",), "nonzero": ("input",), "norm": ("input",), "numel": ("input",),
    "ones_like": ("input",), "outer": ("input", "vec2"), "permute": ("input", "dims"),
    "positive": ("input",), "pow": ("input", "exponent"), "prod": ("input",),
    "rad2deg": ("input",), "rand_like": ("input",), "randn_like": ("input",),
    "ravel": ("input",), "reciprocal": ("input",), "repeat_interleave": ("input",),
    "reshape": ("input", "shape"), "roll": ("input",), "scatter": ("input",),
    "scatter_add": ("input",), "select": ("input", "dim", "index"), "sgn": ("input",),
    "signbit": ("input",), "sinc": ("input",), "softmax": ("input",), "sort": ("input",),
    "split": ("tensor",), "square": ("input",), "squeeze": ("input",), "std": ("input",),
    "std_mean": ("input",), "swapaxes": ("input", "axis0", "axis1"), "swapdims": ("input",),
    "t": ("input",), "take": ("input", "index"), "take_along_dim": ("input",),
    "tile": ("input",), "topk": ("input",), "trace": ("input",), "transpose": ("input",),
    "tril": ("input",), "triu": ("input",), "unbind": ("input",), "unflatten": ("input",),
    "unsqueeze": ("input",), "var": ("input",), "var_mean": ("input",),
    "xlogy": ("input", "other"), "zeros_like": ("input",),
}
# the Tensor methods whose torch names differ from the function's past `self`:
# torch.split(tensor, split_size_or_sections) but x.split(split_size) (mamba-minimal's
# `x.split(split_size=[d, d], dim=-1)`)
METHOD_NAMES = {"split": ("self", "split_size")}


def torch_named(fn, names):
    """fn, also taking torch's `names` for its positional arguments as keywords."""
    spelled = []        # [our positional names, {torch's name: position}], on first use

    def spelling():
        if not spelled:     # not at import: reading ~140 signatures costs ~3 ms
            params = inspect.signature(fn).parameters.values()
            ours = [p.name for p in params
                    if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            spelled.extend([ours, {name: k for k, name in enumerate(names)
                                   if k >= len(ours) or ours[k] != name}])
        return spelled

    @functools.wraps(fn)
    def call(*args, **kw):
        if not kw:
            return fn(*args)
        ours, theirs = spelling()
        if theirs.keys().isdisjoint(kw):
            return fn(*args, **kw)
        args = list(args)
        while len(args) < len(names) and names[len(args)] in kw:   # the next positional one
            args.append(kw.pop(names[len(args)]))
        for name in theirs.keys() & kw.keys():
            k = theirs[name]
            if k < len(args):
                raise TypeError(f"{fn.__name__}() got multiple values for argument '{name}'")
            if k >= len(ours):      # an argument of *args (reshape's shape) after a gap
                raise TypeError(f"{fn.__name__}() takes '{name}' by keyword only after "
                                f"{', '.join(names[:k])}; pass it by position")
            kw[ours[k]] = kw.pop(name)
        return fn(*args, **kw)
    return call


def install(namespace, tensor_class):
    """Wrap the functions of `namespace` (tracecomp's globals) named in TORCH_NAMES, and the
    methods of `tensor_class` that are the same functions."""
    for name, names in TORCH_NAMES.items():
        fn = namespace.get(name)
        if fn is None:
            continue
        wrapped = torch_named(fn, names)
        # the method is the function, or what the function wraps to take out= (the method
        # takes no out=: torch's neither)
        method = tensor_class.__dict__.get(name)
        if method is fn or method is getattr(fn, "__wrapped__", None):
            setattr(tensor_class, name, torch_named(
                method, METHOD_NAMES.get(name, ("self",) + names[1:])))
        namespace[name] = wrapped
