"""The one table of op cases: eager-vs-torch tests now, traced/compiled tests later.

Each `OpCase` is declarative: a name, a function `fn(lib, *args)` written once that runs
with `lib` = tracecomp or torch (methods and operators make that natural), and a list of
input variants. A variant is a tuple of argument specs:
  - a shape tuple: a random floating tensor of the case's dtype, drawn from `domain`,
    differentiated when the case is differentiable,
  - `Int(shape, low, high)`: an int64 tensor (indices), never differentiated,
  - `Mask(shape)`: a bool tensor.
Runners build the same numbers for both libraries from a seed derived from the case name.
"""
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

SHAPES_UNARY = ((3, 4), (), (1,), (2, 0, 3), (2, 1, 3))
SHAPES_BINARY = (((3, 4), (3, 4)), ((3, 1), (1, 4)), ((4,), (2, 3, 4)), ((), (2, 3)),
                 ((2, 3), ()), ((0, 3), (1, 3)), ((2, 1, 3), (4, 1)))
SHAPES_INPLACE = (((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 3), ()), ((0, 3), (1, 3)),
                  ((2, 3, 4), (3, 1)))
SHAPES_REDUCE = ((3, 4), (2, 3, 4), (1, 5), (5,))


@dataclass(frozen=True)
class Int:
    """An int64 index tensor with values in [low, high), all different when `unique`."""
    shape: tuple
    low: int
    high: int
    unique: bool = False


@dataclass(frozen=True)
class Mask:
    """A bool tensor (about half True)."""
    shape: tuple


@dataclass(frozen=True)
class OpCase:
    name: str
    fn: Callable                  # fn(lib, *args) -> tensor or tuple/list of tensors
    variants: tuple               # each: a tuple of arg specs (shape tuple, Int, Mask)
    domain: str = "real"          # real, positive, unit (|x| < 1), nonzero, distinct, ties
    grad: bool = True             # differentiable w.r.t. its floating inputs
    dtypes: tuple = ("float32",)  # extra forward-only dtypes may follow the first
    fd: bool = True               # central differences are valid (no kink at the samples)
    rtol: float = 1e-5
    atol: float = 1e-6


def unary(name, fn, domain="real", shapes=SHAPES_UNARY, **kw):
    return OpCase(name, fn, tuple((s,) for s in shapes), domain, **kw)


def binary(name, fn, domain="real", shapes=SHAPES_BINARY, **kw):
    return OpCase(name, fn, tuple(shapes), domain, **kw)


# --- what differs between the two libraries: the few names torch keeps in submodules -------
def is_torch(lib):
    return lib.__name__ == "torch"


def pad(lib, x, config):
    """Pad without interior padding: torch's F.pad (last dim first) vs the pad primitive."""
    if is_torch(lib):
        flat = [v for lo_hi in reversed(config) for v in lo_hi]
        return lib.nn.functional.pad(x, flat)
    from tracecomp.ops.movement import pad as pad_p
    return pad_p(x, tuple((lo, hi, 0) for lo, hi in config))


def one_hot(lib, x, n):
    if is_torch(lib):
        return lib.nn.functional.one_hot(x, n)
    from tracecomp.composite import one_hot as one_hot_c
    return one_hot_c(x, n)


def _setitem(key):
    def fn(lib, x, v):
        y = x * 1
        y[key] = v
        return y
    return fn


def _setitem_int(lib, x, i, v):
    y = x * 1
    y[i] = v
    return y


def _inplace(op):
    def fn(lib, x, y):
        z = x * 1
        if op == "+":
            z += y
        elif op == "-":
            z -= y
        elif op == "*":
            z *= y
        else:
            z /= y
        return z
    return fn


def _index_iadd(lib, x, v):
    y = x * 1
    y[1:, 0] += v
    y[..., -1] *= 2
    return y


def _methods_inplace(lib, x, y):
    z = x * 1
    z.add_(y, alpha=2).mul_(y).sub_(x)
    return z.clamp_(-1, 1)


# --- the table -------------------------------------------------------------------------
CASES = [
    # unary math
    unary("exp", lambda lib, x: lib.exp(x)),
    unary("log", lambda lib, x: lib.log(x), "positive"),
    unary("sqrt", lambda lib, x: lib.sqrt(x), "positive"),
    unary("rsqrt", lambda lib, x: lib.rsqrt(x), "positive"),
    unary("abs", lambda lib, x: lib.abs(x), "nonzero", dtypes=("float32", "int64")),
    unary("neg", lambda lib, x: lib.neg(x), dtypes=("float32", "int64")),
    unary("neg_op", lambda lib, x: -x),
    unary("sign", lambda lib, x: lib.sign(x), "nonzero"),
    unary("sin", lambda lib, x: lib.sin(x)),
    unary("cos", lambda lib, x: lib.cos(x)),
    unary("tanh", lambda lib, x: lib.tanh(x)),
    unary("sigmoid", lambda lib, x: lib.sigmoid(x)),
    unary("relu", lambda lib, x: lib.relu(x), "nonzero", dtypes=("float32", "int64")),
    unary("erf", lambda lib, x: lib.erf(x)),
    unary("log1p", lambda lib, x: lib.log1p(x), "positive"),
    unary("expm1", lambda lib, x: lib.expm1(x)),
    unary("floor", lambda lib, x: x.floor(), "nonzero", fd=False),
    unary("square", lambda lib, x: lib.square(x)),
    unary("reciprocal", lambda lib, x: x.reciprocal(), "nonzero"),
    unary("exp_int", lambda lib, x: lib.exp(x.long()), grad=False),
    unary("clamp", lambda lib, x: lib.clamp(x, -0.5, 0.5)),
    unary("clamp_min", lambda lib, x: x.clamp(min=0.1)),
    unary("clip_max", lambda lib, x: lib.clip(x, max=0.2)),
    # boundaries: ties land exactly on min/max, where torch passes the gradient through
    unary("clamp_boundary", lambda lib, x: lib.clamp(x, -1.0, 1.0), "ties", fd=False),
    binary("clamp_tensor", lambda lib, x, lo: lib.clamp(x, min=lo), shapes=(((3, 4), (4,)),)),
    # binary arithmetic and operators
    binary("add", lambda lib, a, b: a + b, dtypes=("float32", "int64")),
    binary("sub", lambda lib, a, b: a - b),
    binary("mul", lambda lib, a, b: a * b, dtypes=("float32", "int64")),
    binary("div", lambda lib, a, b: a / b, "nonzero", dtypes=("float32", "int64")),
    binary("add_alpha", lambda lib, a, b: lib.add(a, b, alpha=3)),
    binary("sub_alpha", lambda lib, a, b: a.sub(b, alpha=2)),
    unary("scalar_ops", lambda lib, x: (2 - x) * 3 + x / 4 - 1 / (x * x + 1)),
    unary("rsub_rdiv", lambda lib, x: 1.5 / x - 2, "nonzero"),
    unary("pow_scalar", lambda lib, x: x ** 3),
    unary("pow_half", lambda lib, x: x ** 0.5, "positive"),
    unary("pow_zero", lambda lib, x: lib.pow(x, 0)),
    unary("pow_neg", lambda lib, x: x ** -2, "nonzero"),
    unary("rpow", lambda lib, x: 2 ** x),
    binary("pow_tensor", lambda lib, a, b: a ** b, "positive"),
    binary("maximum", lambda lib, a, b: lib.maximum(a, b), "distinct"),
    binary("minimum", lambda lib, a, b: lib.minimum(a, b), "distinct"),
    binary("maximum_ties", lambda lib, a, b: lib.maximum(a, b), "ties", fd=False),
    binary("minimum_ties", lambda lib, a, b: lib.minimum(a, b), "ties", fd=False),
    binary("max_binary", lambda lib, a, b: lib.max(a, b), "distinct"),
    binary("remainder", lambda lib, a, b: a % b, "positive", fd=False),
    binary("floor_divide", lambda lib, a, b: a // b, "positive", grad=False),
    OpCase("where", lambda lib, c, a, b: lib.where(c, a, b),
           ((Mask((3, 4)), (3, 4), (3, 4)), (Mask((3, 1)), (1, 4), (3, 4)),
            (Mask((2, 3)), (), (2, 3)), (Mask((0, 2)), (0, 2), (2,)))),
    OpCase("where_scalar", lambda lib, c, a: lib.where(c, a, 0.5),
           ((Mask((3, 4)), (3, 4)), (Mask((2, 3)), (3,)))),
    OpCase("masked_fill", lambda lib, x, m: x.masked_fill(m, -2.0),
           (((3, 4), Mask((3, 4))), ((3, 4), Mask((4,))), ((2, 0), Mask((2, 0))))),
    OpCase("lerp_addcmul", lambda lib, a, b, c: lib.addcmul(lib.lerp(a, b, 0.3), b, c,
                                                            value=0.5),
           (((3, 4), (3, 4), (4,)),)),
    # comparisons and logical ops (forward only)
    binary("eq", lambda lib, a, b: a == b, "ties", grad=False, dtypes=("float32", "int64")),
    binary("ne", lambda lib, a, b: a != b, "ties", grad=False),
    binary("lt", lambda lib, a, b: a < b, "ties", grad=False, dtypes=("float32", "int64")),
    binary("le", lambda lib, a, b: lib.le(a, b), "ties", grad=False),
    binary("gt", lambda lib, a, b: a.gt(b), "ties", grad=False),
    binary("ge", lambda lib, a, b: a >= b, "ties", grad=False),
    unary("cmp_scalar", lambda lib, x: (x > 0) & (x <= 0.5) | (x == 1.0), "ties", grad=False),
    binary("logical", lambda lib, a, b: lib.logical_xor(lib.logical_and(a > 0, b > 0),
                                                        lib.logical_or(a < 0, ~(b < 0))),
           "ties", grad=False),
    unary("logical_not", lambda lib, x: lib.logical_not(x), "ties", grad=False),
    # bitwise ops on integers (on bools they are the logical ops)
    binary("bitwise", lambda lib, a, b: (a ^ b) + (a & b) - ~a + (a | 3) + (5 ^ b),
           shapes=((Int((3, 4), 0, 64), Int((3, 4), 0, 64)),
                   (Int((3, 1), 0, 64), Int((1, 4), 0, 64))), grad=False),
    binary("bitwise_fns", lambda lib, a, b: lib.bitwise_xor(lib.bitwise_and(a, b),
                                                            lib.bitwise_or(a, lib.bitwise_not(b))),
           shapes=((Int((2, 5), -9, 9), Int((2, 5), -9, 9)),), grad=False),
    # shifts, with counts outside [0, 64) (torch: 0, or the sign's fill)
    binary("bit_shifts", lambda lib, a, b: (a << b) + (a >> b) * 3 - (5 << b) + (a >> 2)
           + (1000 >> b) + lib.bitwise_left_shift(a, 1) - a.bitwise_right_shift(b),
           shapes=((Int((3, 4), -300, 300), Int((3, 4), -3, 70)),
                   (Int((3, 1), -300, 300), Int((1, 4), 60, 66))), grad=False),
    # in place
    binary("iadd", _inplace("+"), shapes=SHAPES_INPLACE),
    binary("isub", _inplace("-"), shapes=SHAPES_INPLACE),
    binary("imul", _inplace("*"), shapes=SHAPES_INPLACE),
    binary("idiv", _inplace("/"), "nonzero", shapes=SHAPES_INPLACE),
    binary("inplace_methods", _methods_inplace, "distinct",
           shapes=(((3, 4), (3, 4)), ((3, 4), (1, 4))), fd=False),
    # reductions
    unary("sum_all", lambda lib, x: x.sum(), shapes=SHAPES_UNARY),
    unary("sum_dim", lambda lib, x: x.sum(-1), shapes=SHAPES_REDUCE),
    unary("sum_dims_keep", lambda lib, x: lib.sum(x, (0, 1), keepdim=True),
          shapes=((3, 4), (2, 3, 4), (2, 0, 3))),
    unary("sum_int", lambda lib, x: (x * 10).long().sum(0), grad=False),
    unary("mean_all", lambda lib, x: x.mean(), shapes=((3, 4), (), (2, 3, 4))),
    unary("mean_dim", lambda lib, x: lib.mean(x, dim=(0, -1), keepdim=True),
          shapes=((3, 4), (2, 3, 4))),
    unary("mean_empty", lambda lib, x: x.mean(0), shapes=((0, 3),), grad=False),
    unary("var_all", lambda lib, x: x.var(), shapes=SHAPES_REDUCE, rtol=1e-4),
    unary("var_biased", lambda lib, x: x.var(1, unbiased=False), shapes=((3, 4), (2, 3, 4))),
    unary("var_correction", lambda lib, x: lib.var(x, dim=(0, 1), correction=2, keepdim=True),
          shapes=((3, 4), (2, 3, 4)), rtol=1e-4),
    unary("std_dim", lambda lib, x: x.std(0, keepdim=True), shapes=((3, 4), (2, 3, 4))),
    unary("std_unbiased_false", lambda lib, x: lib.std(x, unbiased=False),
          shapes=((3, 4), (7,))),
    unary("max_all", lambda lib, x: x.max(), "distinct", shapes=SHAPES_REDUCE + ((),)),
    unary("min_all", lambda lib, x: lib.min(x), "distinct", shapes=SHAPES_REDUCE),
    unary("max_dim", lambda lib, x: tuple(x.max(1)), "distinct", shapes=((3, 4), (2, 3, 4))),
    unary("min_dim_keep", lambda lib, x: tuple(lib.min(x, -1, keepdim=True)), "distinct",
          shapes=((3, 4), (2, 3, 4), (5,))),
    unary("max_values", lambda lib, x: x.max(dim=0).values * 2, "distinct",
          shapes=((3, 4), (1, 4))),
    unary("argmax", lambda lib, x: x.argmax(), "distinct", grad=False,
          shapes=((3, 4), (), (1,), (2, 1, 3)), dtypes=("float32", "int64")),
    unary("argmax_dim", lambda lib, x: lib.argmax(x, 1), "distinct", grad=False,
          shapes=((3, 4), (2, 3, 4))),
    unary("argmin_keep", lambda lib, x: x.argmin(dim=-1, keepdim=True), "distinct",
          grad=False, shapes=((3, 4), (2, 3, 4))),
    unary("amax", lambda lib, x: x.amax(-1), "distinct", shapes=SHAPES_REDUCE),
    unary("amax_ties", lambda lib, x: lib.amax(x, (0, 1)), "ties", fd=False,
          shapes=((3, 4), (2, 3, 4))),
    unary("amin_ties", lambda lib, x: x.amin(1, keepdim=True), "ties", fd=False,
          shapes=((3, 4), (2, 3, 4))),
    unary("max_ties", lambda lib, x: x.max(), "ties", fd=False, shapes=((3, 4),)),
    unary("max_dim_ties", lambda lib, x: tuple(x.max(-1)), "ties", fd=False,
          shapes=((3, 4), (2, 3, 5))),
    unary("min_dim_ties", lambda lib, x: tuple(lib.min(x, 0)), "ties", fd=False,
          shapes=((3, 4),)),
    unary("argmax_ties", lambda lib, x: (x.argmax(1), x.argmin()), "ties", grad=False,
          shapes=((3, 4), (6, 5))),
    unary("var_single", lambda lib, x: x.var(0), shapes=((1, 4),), grad=False),
    unary("softmax_neg_inf", lambda lib, x: lib.softmax(x.masked_fill(x < -1, float("-inf")), 1),
          "ties", shapes=((4, 5),), fd=False),
    unary("logsumexp_neg_inf", lambda lib, x: lib.logsumexp(x - x.amax() - 1e30 * 1e30, 1),
          shapes=((3, 4),), grad=False),
    unary("logsumexp", lambda lib, x: lib.logsumexp(x, 1), shapes=((3, 4), (2, 3, 4))),
    unary("logsumexp_keep", lambda lib, x: x.logsumexp((0, 1), keepdim=True),
          shapes=((3, 4), (2, 3, 4))),
    unary("softmax", lambda lib, x: lib.softmax(x, -1), shapes=((3, 4), (2, 3, 4), (5,))),
    unary("softmax_dim0", lambda lib, x: x.softmax(0), shapes=((3, 4),)),
    unary("log_softmax", lambda lib, x: lib.log_softmax(x, 1), shapes=((3, 4), (2, 3, 4))),
    unary("norm", lambda lib, x: x.norm(), "nonzero", shapes=((3, 4),)),
    unary("all_any", lambda lib, x: (lib.all(x > -1), (x > 0).any(1)), "ties", grad=False,
          shapes=((3, 4),)),
    # matmul family
    binary("matmul_2d", lambda lib, a, b: a @ b, shapes=(((3, 4), (4, 5)), ((1, 4), (4, 1)))),
    binary("matmul_1d", lambda lib, a, b: lib.matmul(a, b),
           shapes=(((4,), (4,)), ((4,), (4, 5)), ((3, 4), (4,)), ((2, 3, 4), (4,)),
                   ((4,), (2, 4, 5)))),
    binary("matmul_batched", lambda lib, a, b: a @ b,
           shapes=(((2, 3, 4), (2, 4, 5)), ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)),
                   ((2, 1, 3, 4), (3, 4, 2)), ((0, 3, 4), (4, 2)))),
    binary("mm", lambda lib, a, b: lib.mm(a, b), shapes=(((3, 4), (4, 5)),)),
    binary("mm_t", lambda lib, a, b: a.mm(b.t()), shapes=(((3, 4), (5, 4)),)),
    binary("bmm", lambda lib, a, b: lib.bmm(a, b), shapes=(((2, 3, 4), (2, 4, 5)),)),
    binary("dot", lambda lib, a, b: lib.dot(a, b), shapes=(((4,), (4,)),)),
    # movement
    unary("view", lambda lib, x: x.view(4, -1), shapes=((2, 3, 4), (4,), (4, 0))),
    unary("view_tuple", lambda lib, x: x.view((-1,)), shapes=((2, 3, 4), ())),
    unary("reshape", lambda lib, x: lib.reshape(x, (3, -1, 2)), shapes=((2, 3, 4), (6, 2))),
    unary("reshape_0d", lambda lib, x: x.reshape(()), shapes=((1,), (1, 1))),
    unary("flatten", lambda lib, x: lib.flatten(x), shapes=((2, 3, 4), (), (5,))),
    unary("flatten_range", lambda lib, x: x.flatten(1, 2), shapes=((2, 3, 4, 5),)),
    unary("unflatten", lambda lib, x: x.unflatten(1, (2, -1)), shapes=((3, 4), (2, 6, 1))),
    unary("squeeze", lambda lib, x: x.squeeze(), shapes=((1, 3, 1, 4), (1,), (3, 4))),
    unary("squeeze_dim", lambda lib, x: lib.squeeze(x, 1), shapes=((3, 1, 4), (3, 4))),
    unary("squeeze_dims", lambda lib, x: x.squeeze((0, 2)), shapes=((1, 3, 1, 4),)),
    unary("unsqueeze", lambda lib, x: x.unsqueeze(-1), shapes=((3, 4), ())),
    unary("unsqueeze0", lambda lib, x: lib.unsqueeze(x, 0), shapes=((3, 4), (0,))),
    unary("permute", lambda lib, x: x.permute(2, 0, 1), shapes=((2, 3, 4),)),
    unary("permute_neg", lambda lib, x: lib.permute(x, (-1, 0, 1)), shapes=((2, 3, 4),)),
    unary("transpose", lambda lib, x: x.transpose(0, -1), shapes=((2, 3, 4), (3, 4))),
    unary("t", lambda lib, x: x.t(), shapes=((3, 4), (3,))),
    unary("T", lambda lib, x: x.T, shapes=((3, 4),)),
    unary("mT", lambda lib, x: x.mT, shapes=((2, 3, 4),)),
    unary("movedim", lambda lib, x: lib.movedim(x, 0, -1), shapes=((2, 3, 4),)),
    unary("expand", lambda lib, x: x.expand(2, 3, 4), shapes=((3, 1), (1,), (), (3, 4))),
    unary("expand_neg1", lambda lib, x: x.expand(5, -1, -1), shapes=((1, 3, 4),)),
    binary("expand_as", lambda lib, a, b: a.expand_as(b) * b, shapes=(((3, 1), (2, 3, 4)),)),
    unary("contiguous", lambda lib, x: x.t().contiguous() * 2, shapes=((3, 4),)),
    unary("repeat", lambda lib, x: x.repeat(2, 1, 3), shapes=((3, 4),)),
    OpCase("cat", lambda lib, a, b, c: lib.cat([a, b, c], 1),
           (((2, 3), (2, 1), (2, 0)), ((2, 3, 4), (2, 2, 4), (2, 1, 4)))),
    OpCase("cat_neg_dim", lambda lib, a, b: lib.cat((a, b), dim=-1),
           (((2, 3), (2, 4)), ((0, 3), (0, 1)))),
    OpCase("cat_empty_1d", lambda lib, a, b: lib.cat([a, b]), (((3, 4), (0,)),)),
    OpCase("stack", lambda lib, a, b: lib.stack([a, b]), (((3, 4), (3, 4)), ((), ()))),
    OpCase("stack_dim", lambda lib, a, b: lib.stack((a, b), dim=-1),
           (((3, 4), (3, 4)), ((2,), (2,)))),
    unary("split", lambda lib, x: x.split(2, 1), shapes=((3, 5), (3, 4))),
    unary("split_sizes", lambda lib, x: lib.split(x, [1, 3], 0), shapes=((4, 2),)),
    unary("chunk", lambda lib, x: x.chunk(3, -1), shapes=((2, 7), (2, 6), (2, 2))),
    unary("unbind", lambda lib, x: x.unbind(1), shapes=((3, 4),)),
    unary("narrow", lambda lib, x: x.narrow(1, 1, 2), shapes=((3, 4),)),
    unary("tril_triu", lambda lib, x: lib.tril(x) + x.triu(1) * 2, shapes=((3, 4), (4, 4))),
    unary("pad", lambda lib, x: pad(lib, x, ((1, 2), (0, 1))), shapes=((3, 4), (0, 2))),
    unary("pad_crop", lambda lib, x: pad(lib, x, ((-1, 0), (2, -1))), shapes=((3, 4),)),
    # indexing and gather
    OpCase("gather", lambda lib, x, i: x.gather(1, i),
           (((3, 4), Int((3, 2), 0, 4)), ((3, 4), Int((2, 4), 0, 4)),
            ((2, 3, 4), Int((2, 3, 1), 0, 3)))),
    OpCase("gather_dim0", lambda lib, x, i: lib.gather(x, 0, i),
           (((3, 4), Int((5, 4), 0, 3)),)),
    OpCase("one_hot", lambda lib, i: one_hot(lib, i, 5),
           ((Int((3, 4), 0, 5),), (Int((6,), 0, 5),)), grad=False),
    unary("index_int", lambda lib, x: x[1], shapes=((3, 4), (3,))),
    unary("index_neg", lambda lib, x: x[-1, -2], shapes=((3, 4),)),
    unary("index_slices", lambda lib, x: x[1:, ::2], shapes=((3, 4), (5, 7))),
    unary("index_step_neg", lambda lib, x: x[-3:-1, 1::3], shapes=((3, 4), (5, 7))),
    unary("index_empty_slice", lambda lib, x: x[2:1], shapes=((3, 4),)),
    unary("index_none", lambda lib, x: x[None, :, None], shapes=((3, 4),)),
    unary("index_ellipsis", lambda lib, x: x[..., 1], shapes=((2, 3, 4), (4,))),
    unary("index_ellipsis_mix", lambda lib, x: x[0, ..., None, 1:], shapes=((2, 3, 4),)),
    unary("index_list", lambda lib, x: x[[0, 2, 2]], shapes=((3, 4),)),
    OpCase("index_tensor", lambda lib, x, i: x[i], (((5, 3), Int((4,), -5, 5)),
                                                    ((5,), Int((2, 3), 0, 5)))),
    OpCase("index_tensor_2d", lambda lib, x, i, j: x[i, j],
           (((4, 5), Int((3,), 0, 4), Int((3,), 0, 5)),
            ((4, 5, 2), Int((2, 1), 0, 4), Int((3,), 0, 5)))),
    OpCase("index_combo", lambda lib, x, i: x[i, :, 1:3], (((4, 3, 5), Int((2,), 0, 4)),)),
    OpCase("index_none_ellipsis", lambda lib, x, i: x[None, ..., i],
           (((2, 3, 4), Int((3,), 0, 4)),)),
    OpCase("index_mid", lambda lib, x, i: x[:, i], (((3, 4, 2), Int((2, 2), 0, 4)),)),
    OpCase("index_separated", lambda lib, x, i: x[i, :, i], (((3, 2, 3), Int((2,), 0, 3)),)),
    OpCase("index_mask", lambda lib, x, m: x[m], (((3, 4), Mask((3, 4))), ((3, 4), Mask((3,))))),
    OpCase("index_mask_combo", lambda lib, x, m: x[m, 1:], (((3, 4), Mask((3,))),)),
    unary("index_mask_values", lambda lib, x: x[x > 0], shapes=((3, 4),)),
    OpCase("setitem_basic", _setitem((1, slice(None, None, 2))), (((3, 4), (2,)), ((3, 4), ()))),
    OpCase("setitem_broadcast", _setitem((slice(0, 2),)), (((3, 4), (4,)), ((3, 4), (1, 4)))),
    OpCase("setitem_ellipsis", _setitem((Ellipsis, 0)), (((2, 3, 4), (3,)),)),
    # unique indices: with repeats, which write wins is unspecified (and not differentiable)
    OpCase("setitem_index", _setitem_int, (((5, 3), Int((2,), 0, 5, True), (2, 3)),
                                           ((5, 3), Int((2,), -5, 0, True), (3,)))),
    OpCase("setitem_mask", _setitem_int, (((3, 4), Mask((3, 4)), ()),)),
    # forward only: an in-place op on a view of a tensor that requires grad is refused
    # (torch rebases the base's history; the eager tape does not yet)
    OpCase("setitem_iadd", _index_iadd, (((3, 4), (2,)), ((3, 4), ())), grad=False),
    unary("setitem_scalar", lambda lib, x: _setitem((0, 1))(lib, x, 7.0), shapes=((3, 4),)),
    # index forms torch accepts: ranges, sequences in tuples, numpy indices, 0-d tensors, bools
    unary("index_range", lambda lib, x: x[range(3)] + x[range(2, -1, -1)], shapes=((3, 4),)),
    unary("index_range_pair", lambda lib, x: x[range(3), [0, 1, 3]], shapes=((3, 4),)),
    unary("index_range_slice", lambda lib, x: x[1:, range(0, 4, 2)], shapes=((3, 4),)),
    OpCase("setitem_range", lambda lib, x, i: _setitem_int(lib, x, (range(3), i), 1.0),
           (((3, 4), Int((3,), 0, 4)),)),
    unary("index_bool_list", lambda lib, x: x[[True, False, True]], shapes=((3, 4),)),
    unary("index_tuple_of_lists", lambda lib, x: x[([0, 2], (1, 3))] * x[(0, 2),][:, 0],
          shapes=((3, 4),)),
    unary("index_numpy", lambda lib, x: x[np.array([2, 0])][:, 1] + x[np.array([[0], [2]]),
                                                                       np.array([1, 3])][0],
          shapes=((3, 4),)),
    unary("index_0d_tensor", lambda lib, x: x[lib.tensor(1)] * x[lib.tensor(2), lib.tensor(-1)],
          shapes=((3, 4),)),
    unary("index_np_int", lambda lib, x: x[np.int64(1), np.int64(1):np.int64(3)],
          shapes=((3, 4),)),
    unary("index_bool_scalar", lambda lib, x: x[True] + x[None, 1, True], shapes=((3, 4),)),
    unary("index_false", lambda lib, x: x[False, 0], shapes=((3, 4),)),
    unary("index_tensor_bounds", lambda lib, x: x[lib.tensor(1):lib.tensor(3), :lib.tensor(2)],
          shapes=((3, 4),)),
    # --- elementwise math (issue 9) ---
    unary("tan", lambda lib, x: lib.tan(x * 0.7), dtypes=("float32", "int64")),
    unary("sinh", lambda lib, x: lib.sinh(x), dtypes=("float32", "int64")),
    unary("cosh", lambda lib, x: x.cosh()),
    unary("asin", lambda lib, x: lib.asin(x), "unit"),
    unary("acos", lambda lib, x: x.acos(), "unit"),
    unary("atan", lambda lib, x: lib.atan(x), dtypes=("float32", "int64")),
    unary("asinh", lambda lib, x: lib.asinh(x * 3)),
    unary("acosh", lambda lib, x: lib.acosh(x + 1), "positive"),
    unary("atanh", lambda lib, x: x.atanh(), "unit"),
    unary("arc_aliases", lambda lib, x: lib.arcsin(x) + x.arccos() + lib.arctan(x)
          + x.arcsinh() + lib.arctanh(x), "unit"),
    binary("atan2", lambda lib, a, b: lib.atan2(a, b), "nonzero"),
    binary("arctan2", lambda lib, a, b: a.arctan2(b), "nonzero", shapes=(((3, 4), (4,)),)),
    binary("hypot", lambda lib, a, b: lib.hypot(a, b), "nonzero"),
    binary("copysign", lambda lib, a, b: lib.copysign(a, b), "nonzero"),
    unary("copysign_scalar", lambda lib, x: x.copysign(-1.0) + lib.copysign(x, 2),
          "nonzero"),
    binary("fmod", lambda lib, a, b: lib.fmod(a, b), "nonzero", fd=False,
           dtypes=("float32", "int64")),
    unary("fmod_scalar", lambda lib, x: lib.fmod(x * 3, 2.0) + x.fmod(-0.7), fd=False,
          dtypes=("float32", "int64")),
    unary("erfc", lambda lib, x: lib.erfc(x * 2), dtypes=("float32", "int64")),
    unary("erfinv", lambda lib, x: lib.erfinv(x), "unit"),
    unary("lgamma", lambda lib, x: x.lgamma(), "positive"),
    unary("digamma", lambda lib, x: lib.digamma(x), "positive", rtol=1e-4),
    unary("i0", lambda lib, x: lib.i0(x * 6) + x.i0() + lib.special.i0(x),
          dtypes=("float32", "int64")),
    unary("i1", lambda lib, x: lib.special.i1(x * 6), dtypes=("float32", "int64")),
    unary("i0_inplace", lambda lib, x: (x * 3).i0_(), fd=False),
    unary("polygamma", lambda lib, x: lib.polygamma(1, x) + x.polygamma(2), "positive",
          rtol=1e-4),
    unary("log2", lambda lib, x: lib.log2(x), "positive", dtypes=("float32", "int64")),
    unary("log10", lambda lib, x: x.log10(), "positive"),
    unary("exp2", lambda lib, x: lib.exp2(x * 3), dtypes=("float32", "int64")),
    unary("sgn_frac", lambda lib, x: x.sgn() + lib.frac(x * 3), "nonzero", fd=False),
    binary("logaddexp", lambda lib, a, b: lib.logaddexp(a * 5, b)),
    binary("logaddexp2", lambda lib, a, b: a.logaddexp2(b * 5)),
    binary("xlogy", lambda lib, a, b: lib.xlogy(a, b), "positive"),
    unary("xlogy_zero", lambda lib, x: lib.xlogy(lib.relu(x), x.abs() + 0.5), "nonzero"),
    unary("xlogy_scalar", lambda lib, x: lib.xlogy(2.0, x) + x.xlogy(3.0), "positive"),
    unary("logit", lambda lib, x: lib.logit(x * 0.5 + 0.5), "unit"),
    unary("logit_eps", lambda lib, x: x.logit(eps=0.2), "unit", fd=False),
    unary("deg_rad", lambda lib, x: lib.deg2rad(x) + x.rad2deg(), dtypes=("float32", "int64")),
    unary("heaviside", lambda lib, x: lib.heaviside(x, lib.tensor(0.5)), "ties", grad=False),
    unary("nan_to_num", lambda lib, x: lib.nan_to_num(lib.log(x), nan=0.5, posinf=2.0,
                                                      neginf=-3.0) + x.nan_to_num(),
          "ties", fd=False),
    unary("nan_to_num_default", lambda lib, x: lib.nan_to_num(lib.log(x)), "ties", grad=False),
    unary("clamp_min_max", lambda lib, x: lib.clamp_min(x, -0.5) + x.clamp_max(0.3),
          fd=False),
    binary("float_power", lambda lib, a, b: lib.float_power(a, b), "positive"),
    unary("float_power_scalar", lambda lib, x: lib.float_power(x, 2) + lib.float_power(2, x),
          dtypes=("float32", "int64")),
    binary("fmax", lambda lib, a, b: lib.fmax(a, b), "ties", fd=False,
           dtypes=("float32", "int64")),
    binary("fmin", lambda lib, a, b: a.fmin(b), "ties", fd=False),
    binary("fmax_nan", lambda lib, a, b: lib.fmax(lib.log(a), b), "ties", fd=False),
    binary("isclose", lambda lib, a, b: lib.isclose(a, b, rtol=0.1, atol=0.5), "ties",
           grad=False, dtypes=("float32", "int64")),
    unary("isclose_nan", lambda lib, x: lib.isclose(lib.log(x), lib.log(x) + 0,
                                                    equal_nan=True), "ties", grad=False),
    unary("sinc", lambda lib, x: lib.sinc(x)),
    unary("sinc_zero", lambda lib, x: x.sinc(), "ties", fd=False),
    unary("positive_signbit", lambda lib, x: (lib.positive(x) * 2, lib.signbit(x)), "ties",
          fd=False),
    unary("inplace_math", lambda lib, x: (x * 1).sinh_().atan_().clamp_min_(-0.5).fmod_(0.7)
          .exp2_(), fd=False),
    binary("inplace_binary_math", lambda lib, a, b: ((a * 1).deg2rad_().atan2_(b).hypot_(b),
                                                      (a * 1).copysign_(b)), "nonzero",
           shapes=(((3, 4), (3, 4)), ((3, 4), (4,))), fd=False),
    OpCase("meshgrid", lambda lib, a, b: lib.meshgrid(a, b, indexing="ij"),
           (((3,), (4,)), ((), (2,)), ((0,), (3,)))),
    OpCase("meshgrid_xy", lambda lib, a, b, c: lib.meshgrid([a, b, c], indexing="xy"),
           (((3,), (4,), (2,)),)),
    # --- reductions, scans, sorting, shape and index ops (issue 9) ---
    *__import__("op_table_shape").CASES,        # tests/op_table_shape.py
    # --- nn.functional (issue 9) ---
    OpCase("F_sdpa", lambda lib, q, k, v: lib.nn.functional.scaled_dot_product_attention(
        q, k, v), (((2, 3, 4), (2, 5, 4), (2, 5, 3)), ((4, 2), (3, 2), (3, 5)))),
    OpCase("F_sdpa_causal", lambda lib, q, k, v: lib.nn.functional.scaled_dot_product_attention(
        q, k, v, is_causal=True, scale=0.7), (((2, 4, 3), (2, 5, 3), (2, 5, 2)),)),
    OpCase("F_sdpa_bool_mask", lambda lib, q, k, v, m:
           lib.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m),
           (((1, 2, 4, 3), (1, 2, 5, 3), (1, 2, 5, 2), Mask((4, 5))),)),
    OpCase("F_sdpa_float_mask", lambda lib, q, k, v, m:
           lib.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m),
           (((2, 4, 3), (2, 5, 3), (2, 5, 2), (4, 5)),)),
    OpCase("F_sdpa_gqa", lambda lib, q, k, v: lib.nn.functional.scaled_dot_product_attention(
        q, k, v, enable_gqa=True), (((1, 4, 3, 2), (1, 2, 5, 2), (1, 2, 5, 3)),)),
    OpCase("F_conv1d", lambda lib, x, w, b: lib.nn.functional.conv1d(x, w, b, 2, 1, 1, 1),
           (((2, 3, 7), (4, 3, 3), (4,)), ((3, 7), (4, 3, 3), (4,)))),
    OpCase("F_conv1d_groups", lambda lib, x, w: lib.nn.functional.conv1d(
        x, w, groups=2, dilation=2, padding="same"), (((2, 4, 7), (6, 2, 3)),)),
    OpCase("F_conv_transpose2d", lambda lib, x, w, b: lib.nn.functional.conv_transpose2d(
        x, w, b, stride=2, padding=1, output_padding=1),
        (((2, 4, 3, 3), (4, 3, 3, 3), (3,)), ((4, 3, 2), (4, 3, 2, 3), (3,)))),
    OpCase("F_conv_transpose2d_groups", lambda lib, x, w: lib.nn.functional.conv_transpose2d(
        x, w, groups=2, dilation=(1, 2), stride=(1, 2)), (((1, 4, 3, 3), (4, 2, 2, 3)),)),
    OpCase("F_conv_transpose1d", lambda lib, x, w: lib.nn.functional.conv_transpose1d(
        x, w, stride=3, padding=2, output_padding=1), (((2, 4, 5), (4, 2, 4)),)),
    unary("F_interp_nearest", lambda lib, x: lib.nn.functional.interpolate(
        x, scale_factor=1.7), shapes=((2, 3, 4, 5), (2, 3, 5), (1, 2, 3, 4, 2))),
    unary("F_interp_nearest_exact", lambda lib, x: lib.nn.functional.interpolate(
        x, size=(3, 7), mode="nearest-exact"), shapes=((1, 2, 4, 5),)),
    unary("F_interp_nearest_exact_5d", lambda lib, x: lib.nn.functional.interpolate(
        x, size=(3, 7, 2), mode="nearest-exact"), shapes=((1, 2, 4, 5, 3),)),
    unary("F_interp_trilinear", lambda lib, x: lib.nn.functional.interpolate(
        x, scale_factor=(1.5, 0.6, 2), mode="trilinear"), shapes=((1, 2, 3, 5, 2),)),
    unary("F_interp_trilinear_ac", lambda lib, x: lib.nn.functional.interpolate(
        x, size=(4, 3, 5), mode="trilinear", align_corners=True), shapes=((2, 1, 3, 4, 2),)),
    unary("F_interp_bilinear", lambda lib, x: lib.nn.functional.interpolate(
        x, scale_factor=(1.5, 0.6), mode="bilinear"), shapes=((1, 2, 4, 5),)),
    unary("F_interp_bilinear_ac", lambda lib, x: lib.nn.functional.interpolate(
        x, size=(7, 3), mode="bilinear", align_corners=True), shapes=((1, 2, 4, 5),)),
    unary("F_interp_bicubic", lambda lib, x: lib.nn.functional.interpolate(
        x, scale_factor=2, mode="bicubic"), shapes=((1, 2, 3, 4),)),
    unary("F_interp_linear", lambda lib, x: lib.nn.functional.interpolate(
        x, size=7, mode="linear"), shapes=((2, 3, 5),)),
    unary("F_interp_area", lambda lib, x: lib.nn.functional.interpolate(
        x, size=(2, 3), mode="area"), shapes=((1, 2, 4, 5),)),
    unary("F_pixel_shuffle", lambda lib, x: lib.nn.functional.pixel_unshuffle(
        lib.nn.functional.pixel_shuffle(x, 2) * x.sum(), 2), shapes=((2, 8, 2, 3),)),
    OpCase("F_group_norm", lambda lib, x, w, b: lib.nn.functional.group_norm(x, 2, w, b),
           (((3, 4, 5), (4,), (4,)), ((2, 6, 2, 2), (6,), (6,)))),
    OpCase("F_instance_norm", lambda lib, x, w, b: lib.nn.functional.instance_norm(
        x, weight=w, bias=b), (((3, 4, 5), (4,), (4,)),)),
    OpCase("F_rms_norm", lambda lib, x, w: lib.nn.functional.rms_norm(x, (3, 4), w),
           (((2, 3, 4), (3, 4)),)),
    unary("F_local_response_norm", lambda lib, x: lib.nn.functional.local_response_norm(
        x, 3, alpha=0.1), shapes=((2, 5, 4), (2, 4, 3, 2))),
    unary("F_hardsigmoid_hardswish", lambda lib, x: lib.nn.functional.hardsigmoid(x * 1.5)
          + lib.nn.functional.hardswish(x * 1.5), "ties", fd=False),
    unary("F_hardswish", lambda lib, x: lib.nn.functional.hardswish(x * 3)),
    unary("F_celu_selu", lambda lib, x: lib.nn.functional.celu(x, 0.7)
          + lib.nn.functional.selu(x), "nonzero"),
    unary("F_glu", lambda lib, x: lib.nn.functional.glu(x, 1), shapes=((3, 4), (2, 6, 2))),
    unary("F_softmin", lambda lib, x: lib.nn.functional.softmin(x, dim=1),
          shapes=((3, 4), (2, 3, 4))),
    unary("F_shrink", lambda lib, x: lib.nn.functional.softshrink(x * 0.25, 0.5)
          + lib.nn.functional.hardshrink(x * 0.25, 0.25) + lib.nn.functional.tanhshrink(x),
          "ties", fd=False),
    unary("F_threshold", lambda lib, x: lib.nn.functional.threshold(x, 0.1, -2.0),
          "nonzero"),
    unary("F_relu6_hardtanh", lambda lib, x: lib.nn.functional.relu6(x * 3)
          + lib.nn.functional.hardtanh(x, -0.5, 1.0), "ties", fd=False),
    unary("F_mish_logsigmoid_softsign", lambda lib, x: lib.nn.functional.mish(x)
          + lib.nn.functional.logsigmoid(x) * lib.nn.functional.softsign(x)),
    OpCase("F_prelu", lambda lib, x, w: lib.nn.functional.prelu(x, w),
           (((3, 4, 2), (4,)), ((3, 4), (1,)), ((5,), (1,))), "nonzero"),
    unary("F_softmax2d", lambda lib, x: lib.nn.Softmax2d()(x),
          shapes=((2, 3, 2, 2), (3, 2, 2))),
    unary("F_max_pool1d", lambda lib, x: lib.nn.functional.max_pool1d(
        x, 3, 2, 1, ceil_mode=True), "distinct", shapes=((2, 3, 8), (3, 7))),
    unary("F_avg_pool1d", lambda lib, x: lib.nn.functional.avg_pool1d(
        x, 3, 2, 1, count_include_pad=False), shapes=((2, 3, 8),)),
    *__import__("op_table_nn_more").CASES,       # tests/op_table_nn_more.py: 3-D, ctc_loss
    unary("F_adaptive_pool1d", lambda lib, x: lib.nn.functional.adaptive_avg_pool1d(x, 3)
          + lib.nn.functional.adaptive_max_pool1d(x, 3), "distinct", shapes=((2, 3, 7),)),
    unary("F_adaptive_max_pool2d", lambda lib, x: lib.nn.functional.adaptive_max_pool2d(
        x, (2, 3)), "distinct", shapes=((2, 3, 5, 7),)),
    unary("F_pad_modes", lambda lib, x: lib.nn.functional.pad(x, (2, 1), mode="reflect")
          .sum(-1) + lib.nn.functional.pad(x, (1, 3), mode="replicate").sum(-1)
          + lib.nn.functional.pad(x, (3, 0), mode="circular").sum(-1), shapes=((2, 3, 4),)),
    OpCase("F_bilinear", lambda lib, a, b, w, c: lib.nn.functional.bilinear(a, b, w, c),
           (((4, 3), (4, 2), (5, 3, 2), (5,)), ((2, 3, 3), (2, 3, 2), (4, 3, 2), (4,)))),
    OpCase("F_cosine_embedding_loss", lambda lib, a, b, t:
           lib.nn.functional.cosine_embedding_loss(a, b, (t * 2 - 1).float(), margin=0.1),
           (((4, 3), (4, 3), Int((4,), 0, 2)),)),
    OpCase("F_margin_ranking_loss", lambda lib, a, b, t:
           lib.nn.functional.margin_ranking_loss(a, b, (t * 2 - 1).float(), margin=0.2),
           (((6,), (6,), Int((6,), 0, 2)),), fd=False),
    OpCase("F_hinge_soft_margin_loss", lambda lib, x, t:
           lib.nn.functional.hinge_embedding_loss(x, (t * 2 - 1).float(), reduction="sum")
           + lib.nn.functional.soft_margin_loss(x, (t * 2 - 1).float()),
           (((3, 4), Int((3, 4), 0, 2)),), fd=False),
    OpCase("F_multilabel_soft_margin_loss", lambda lib, x, t, w:
           lib.nn.functional.multilabel_soft_margin_loss(x, t.float(), w),
           (((3, 4), Mask((3, 4)), (4,)),)),
    OpCase("F_multi_margin_loss", lambda lib, x, t:
           lib.nn.functional.multi_margin_loss(x, t, p=2, margin=0.8,
                                               weight=lib.tensor([0.5, 1.0, 2.0, 0.3],
                                                                 device=x.device))
           + lib.nn.functional.multi_margin_loss(x, t, reduction="sum"),
           (((3, 4), Int((3,), 0, 4)),), "distinct", fd=False),
    OpCase("F_triplet_margin_loss", lambda lib, a, p, n:
           lib.nn.functional.triplet_margin_loss(a, p, n, margin=2.0, swap=True),
           (((4, 3), (4, 3), (4, 3)),), fd=False),
    OpCase("F_poisson_nll_loss", lambda lib, x, t:
           lib.nn.functional.poisson_nll_loss(x, t.float())
           + lib.nn.functional.poisson_nll_loss(x.abs() + 0.5, t.float(), log_input=False,
                                                full=True), (((3, 4), Int((3, 4), 0, 5)),),
           "nonzero"),
    OpCase("F_gaussian_nll_loss", lambda lib, x, t, v:
           lib.nn.functional.gaussian_nll_loss(x, t, v.abs() + 0.1, full=True)
           + lib.nn.functional.gaussian_nll_loss(x, t, v[:, :1].abs() + 0.1,
                                                 reduction="sum"),
           (((3, 4), (3, 4), (3, 4)),), "nonzero"),
    # --- in-place updates of views, with gradients (issue 9, programs A) ---
    OpCase("setitem_iadd_grad", _index_iadd, (((3, 4), (2,)), ((3, 4), ()))),
    OpCase("inplace_conv_leaky_relu", lambda lib, x, w: lib.nn.functional.leaky_relu(
        lib.nn.functional.conv2d(x, w, stride=2, padding=1), 0.2, inplace=True),
           (((2, 3, 6, 6), (4, 3, 4, 4)),), "distinct"),
    OpCase("inplace_view_relu", lambda lib, x: (x * 2).view(3, 2, 2)[1:].relu_(),
           (((3, 4),),), "distinct"),
]

BY_NAME = {c.name: c for c in CASES}
assert len(BY_NAME) == len(CASES), "op case names must be unique"


# --- building inputs ----------------------------------------------------------------------
def _seed(name, k):
    return (sum(ord(ch) * 31 ** i for i, ch in enumerate(name)) + 7919 * k) % (2 ** 32)


def sample(domain, shape, rng):
    """Float64 values for one input; `distinct` values are far apart (no ties, no kinks),
    `ties` are small integers (many ties, values on clamp boundaries)."""
    if domain == "ties":
        return np.asarray(rng.integers(-2, 3, size=shape), dtype=np.float64)
    if domain == "distinct":
        n = int(np.prod(shape))
        return (rng.permutation(n).reshape(shape) * 0.37 - n * 0.15 +
                rng.uniform(-0.05, 0.05, shape))
    x = rng.uniform(-2, 2, shape)
    if domain == "positive":
        return rng.uniform(0.5, 2.5, shape)
    if domain == "unit":
        return x * 0.45
    if domain == "nonzero":
        return np.where(np.abs(x) < 0.2, np.sign(x + 1e-9) * 0.4, x)
    return x


def make_inputs(case, k, dtype):
    """Numpy arrays for variant k of `case`: floats as `dtype`, indices int64, masks bool."""
    rng = np.random.default_rng(_seed(case.name, k))
    out = []
    for spec in case.variants[k]:
        if isinstance(spec, Int) and spec.unique:
            n = int(np.prod(spec.shape))
            out.append((rng.permutation(spec.high - spec.low)[:n] + spec.low)
                       .reshape(spec.shape).astype(np.int64))
        elif isinstance(spec, Int):
            out.append(rng.integers(spec.low, spec.high, size=spec.shape).astype(np.int64))
        elif isinstance(spec, Mask):
            out.append(rng.random(spec.shape) < 0.5)
        else:
            out.append(sample(case.domain, spec, rng).astype(dtype))
    return out


def differentiable_args(case, k):
    """Positions of the args that take gradients in variant k."""
    if not case.grad:
        return ()
    return tuple(i for i, s in enumerate(case.variants[k]) if isinstance(s, tuple))


def variant_id(case, k):
    """The test id of variant k: the case name and its argument shapes."""
    specs = case.variants[k]
    shapes = ",".join("x".join(map(str, s.shape if isinstance(s, (Int, Mask)) else s)) or "0d"
                      for s in specs)
    return f"{case.name}[{shapes}]"


def outputs(out):
    """A case's result as a list of tensors."""
    return list(out) if isinstance(out, (tuple, list)) else [out]
