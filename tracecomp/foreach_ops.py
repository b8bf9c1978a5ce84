"""torch._foreach_*: one op over each tensor of a list (`torch._foreach_lerp_(emas, params,
0.1)`, `torch._foreach_mul_(params, 1 - lr * wd)`), out of place (a tuple of new tensors)
or in place (`_foreach_add_`, the list given back). Optimizers and EMA helpers written
for speed call them (lucidrains' ema-pytorch and lion-pytorch's foreach Lion).

torch fuses the list into few kernels; here each is the per-tensor op itself, so values,
dtypes, autograd and compiled code are those ops'. The other operand is, as torch takes
it, a list of tensors (paired), a number, a list of numbers, or one tensor (every pair).
"""
import numbers

from .tensor import Tensor

_UNARY = ("abs", "acos", "asin", "atan", "ceil", "cos", "cosh", "erf", "erfc", "exp",
          "expm1", "floor", "frac", "lgamma", "log", "log10", "log1p", "log2", "neg",
          "reciprocal", "round", "rsqrt", "sigmoid", "sign", "sin", "sinh", "sqrt", "tan",
          "tanh", "trunc")
_BINARY = ("add", "sub", "mul", "div", "maximum", "minimum", "pow", "clamp_min",
           "clamp_max")
# a number for maximum/minimum is a clamp, as torch's foreach kernels read it
_WITH_NUMBER = {"maximum": "clamp_min", "minimum": "clamp_max"}


def _tensors(xs, what="self"):
    xs = list(xs)
    if not xs:
        raise RuntimeError("Tensor list must have at least one tensor.")
    if not all(isinstance(x, Tensor) for x in xs):
        raise TypeError(f"_foreach ops take a list of tensors as {what}, got "
                        f"{[type(x).__name__ for x in xs]}")
    return xs


def _paired(xs, other):
    """other as one operand for each of xs: a list of tensors or numbers (as many), or a
    number or a tensor given to every one."""
    if isinstance(other, (list, tuple)):
        if len(other) != len(xs):
            if other and isinstance(other[0], Tensor):
                raise RuntimeError(f"Tensor lists must have the same number of tensors, "
                                   f"got {len(xs)} and {len(other)}")
            raise RuntimeError("Tensor list must have same number of elements as scalar "
                               "list.")
        return list(other)
    return [other] * len(xs)


def _scalars(xs, values):
    """addcmul/addcdiv's value: a number, a list of numbers, or a 1-d tensor of them."""
    if isinstance(values, Tensor):
        values = values.tolist()
    return _paired(xs, values)


def _unary(name):
    def out_of_place(self):
        return tuple(getattr(x, name)() for x in _tensors(self))

    def in_place(self):
        for x in _tensors(self):
            getattr(x, name + "_")()
        return self
    return out_of_place, in_place


def _binary(name):
    def apply(x, y, inplace, kwargs):
        op = _WITH_NUMBER.get(name, name) if isinstance(y, numbers.Number) else name
        return getattr(x, op + "_" if inplace else op)(y, **kwargs)

    def out_of_place(self, other, **kwargs):
        xs = _tensors(self)
        return tuple(apply(x, y, False, kwargs) for x, y in zip(xs, _paired(xs, other)))

    def in_place(self, other, **kwargs):
        xs = _tensors(self)
        for x, y in zip(xs, _paired(xs, other)):
            apply(x, y, True, kwargs)
        return self
    return out_of_place, in_place


def _pointwise(name):
    def out_of_place(self, tensor1, tensor2, value=1):
        xs = _tensors(self)
        return tuple(getattr(x, name)(a, b, value=v) for x, a, b, v in zip(
            xs, _paired(xs, tensor1), _paired(xs, tensor2), _scalars(xs, value)))

    def in_place(self, tensor1, tensor2, value=1):
        xs = _tensors(self)
        for x, a, b, v in zip(xs, _paired(xs, tensor1), _paired(xs, tensor2),
                              _scalars(xs, value)):
            getattr(x, name + "_")(a, b, value=v)
        return self
    return out_of_place, in_place


def _foreach_lerp(self, tensors1, weight):
    xs = _tensors(self)
    return tuple(x.lerp(e, w) for x, e, w in zip(xs, _paired(xs, tensors1),
                                                  _paired(xs, weight)))


def _foreach_lerp_(self, tensors1, weight):
    xs = _tensors(self)
    for x, e, w in zip(xs, _paired(xs, tensors1), _paired(xs, weight)):
        x.lerp_(e, w)
    return self


def _foreach_copy_(self, src, non_blocking=False):
    xs = _tensors(self)
    for x, s in zip(xs, _paired(xs, _tensors(src, "src"))):
        x.copy_(s, non_blocking=non_blocking)
    return self


def _foreach_zero_(self):
    for x in _tensors(self):
        x.zero_()
    return self


def _foreach_clone(self, *, memory_format=None):
    kwargs = {} if memory_format is None else {"memory_format": memory_format}
    return tuple(x.clone(**kwargs) for x in _tensors(self))


def _foreach_norm(self, ord=2, dtype=None):  # noqa: A002 - torch's name
    from .linalg import vector_norm
    return tuple(vector_norm(x, ord, dtype=dtype) for x in _tensors(self))


def _foreach_max(self):
    return tuple(x.max() for x in _tensors(self))


def _rpow(base, x):
    return base ** x


_MADE = {"_foreach_lerp": _foreach_lerp, "_foreach_lerp_": _foreach_lerp_,
         "_foreach_copy_": _foreach_copy_, "_foreach_zero_": _foreach_zero_,
         "_foreach_clone": _foreach_clone, "_foreach_norm": _foreach_norm,
         "_foreach_max": _foreach_max}
for _name in _UNARY:
    _MADE[f"_foreach_{_name}"], _MADE[f"_foreach_{_name}_"] = _unary(_name)
for _name in _BINARY:
    _MADE[f"_foreach_{_name}"], _MADE[f"_foreach_{_name}_"] = _binary(_name)
for _name in ("addcmul", "addcdiv"):
    _MADE[f"_foreach_{_name}"], _MADE[f"_foreach_{_name}_"] = _pointwise(_name)

_list_pow = _MADE["_foreach_pow"]


def _foreach_pow(self, exponent):
    """_foreach_pow(tensors, exponent), or _foreach_pow(number, tensors): number ** each."""
    if isinstance(self, numbers.Number):
        return tuple(_rpow(self, x) for x in _tensors(exponent, "exponent"))
    return _list_pow(self, exponent)


_MADE["_foreach_pow"] = _foreach_pow
for _name, _fn in _MADE.items():
    _fn.__name__ = _fn.__qualname__ = _name
globals().update(_MADE)
__all__ = sorted(_MADE)
