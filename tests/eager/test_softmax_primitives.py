"""softmax and log_softmax, one primitive each (tracecomp/ops/softmax.py): torch's values
and gradients, one tape node, an eager impl that is its parts (`softmax.softmax_parts`,
`log_softmax_parts`) op for op, torch's refusal of integer input."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.errors import DTypeNotImplemented
from tracecomp.ops import softmax

from helpers import assert_close, to_tc, to_torch

rng = np.random.default_rng(7)
OPS = ["softmax", "log_softmax"]
PARTS = {"softmax": softmax.softmax_parts, "log_softmax": softmax.log_softmax_parts}

CASES = {                           # name: (array, dim)
    "rows": (rng.standard_normal((5, 7)), 1),
    "columns": (rng.standard_normal((5, 7)), 0),
    "last_of_4d": (rng.standard_normal((2, 3, 4, 5)), -1),
    "middle_of_3d": (rng.standard_normal((3, 6, 2)), 1),
    "large_values": (rng.standard_normal((4, 9)) * 1e4, 1),      # exp would overflow
    "vector": (rng.standard_normal(11), 0),
    "scalar": (np.array(1.5), 0),
    "one_class": (rng.standard_normal((6, 1)), 1),
    "infinities": (np.array([[-np.inf, -np.inf, 0.0], [-np.inf, 1.0, 2.0],
                             [np.inf, 0.0, 1.0]]), 1),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", OPS)
def test_values_and_gradient_are_torchs(op, case, dtype):
    a, dim = CASES[case]
    x = tc.tensor(a.astype(dtype), requires_grad=True)
    xt = to_torch(x)
    y, yt = getattr(tc, op)(x, dim), getattr(torch, op)(xt, dim)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert_close(y, yt, rtol=rtol, atol=rtol)
    g = rng.standard_normal(a.shape).astype(dtype)
    y.backward(tc.tensor(g))
    yt.backward(torch.from_numpy(g))
    assert_close(x.grad, xt.grad, rtol=rtol, atol=rtol, what="gradient")


@pytest.mark.parametrize("op", OPS)
def test_second_derivative_is_torchs(op):
    a = rng.standard_normal((3, 5))
    x = tc.tensor(a, requires_grad=True)
    xt = to_torch(x)
    w = rng.standard_normal((3, 5))
    results = []
    for lib, t in ((tc, x), (torch, xt)):
        y = (getattr(lib, op)(t, 1) * lib.tensor(w)).sum()
        (g,) = lib.autograd.grad(y, t, create_graph=True)
        (gg,) = lib.autograd.grad((g * g).sum(), t)
        results.append(gg)
    assert_close(*results, rtol=1e-10, atol=1e-12, what="second derivative")


@pytest.mark.parametrize("op", OPS)
def test_one_tape_node_and_the_parts_to_the_bit(op):
    """Eagerly one node (the composite recorded five or six); its numpy impl computes what
    its parts compute through the primitives, bit for bit. (Not float16: torch's kernel
    computes it in float32 and rounds once, where the parts round each.)"""
    for a, dim in CASES.values():
        for dtype in (np.float32, np.float64):
            x = tc.tensor(a.astype(dtype))
            got = getattr(tc, op)(x, dim).numpy()
            want = PARTS[op](x, dim).numpy()
            assert got.dtype == want.dtype == dtype
            np.testing.assert_array_equal(got, want)
    x = tc.randn(4, 3, requires_grad=True)
    y = getattr(tc, op)(x, 1)
    assert y.grad_fn.name() == {"softmax": "SoftmaxBackward0",
                                "log_softmax": "LogSoftmaxBackward0"}[op]
    ((leaf, _),) = y.grad_fn.next_functions                  # the leaf itself, next
    assert leaf.name() == "torch::autograd::AccumulateGrad" and leaf.variable is x


@pytest.mark.parametrize("op", OPS)
def test_empty_tensors_keep_their_shape(op):
    for shape, dim in (((0, 3), 1), ((2, 0), 1), ((0,), 0)):
        x = tc.zeros(*shape, requires_grad=True)
        y = getattr(tc, op)(x, dim)
        assert tuple(y.shape) == shape and y.dtype == tc.float32
        y.sum().backward()
        assert tuple(x.grad.shape) == shape


@pytest.mark.parametrize("op", OPS)
def test_integer_input_is_refused_as_torch_does_unless_a_dtype_casts_it(op):
    i = tc.tensor([1, 2, 3])
    with pytest.raises(DTypeNotImplemented, match=rf"^{op}: .*'Long'.*float"):
        getattr(tc, op)(i, 0)
    with pytest.raises(NotImplementedError):
        getattr(torch, op)(to_torch(i), 0)
    got = getattr(tc, op)(i, 0, dtype=tc.float32)
    assert_close(got, getattr(torch, op)(to_torch(i), 0, dtype=torch.float32))


@pytest.mark.parametrize("op", OPS)
def test_dim_out_of_range_names_the_op(op):
    with pytest.raises(IndexError, match=rf"^{op}: Dimension out of range"):
        getattr(tc, op)(tc.zeros(2, 3), 2)


def test_cross_entropy_after_it_is_torchs_on_every_reduction():
    """nll_loss skips its squeeze and negation on the usual batch (no weight, nothing
    ignored): the same values and gradients as torch for every reduction and input rank."""
    for shape, target_shape in (((8, 5), (8,)), ((3, 4, 2, 2), (3, 2, 2)), ((0, 4), (0,))):
        for reduction in ("mean", "sum", "none"):
            a = rng.standard_normal(shape).astype(np.float32)
            t = rng.integers(0, shape[1], target_shape)
            xt = torch.tensor(a, requires_grad=True)
            x = to_tc(xt)
            got = tc.nn.functional.cross_entropy(x, tc.tensor(t), reduction=reduction)
            want = torch.nn.functional.cross_entropy(xt, torch.tensor(t), reduction=reduction)
            assert_close(got, want, what=f"{shape} {reduction}")
            if got.numel():
                got.sum().backward()
                want.sum().backward()
                assert_close(x.grad, xt.grad, what=f"{shape} {reduction} gradient")


@pytest.mark.parametrize("shape", [(64, 10), (16, 32), (512, 3), (15, 10), (64, 33)])
def test_short_rows_take_their_maximum_down_the_columns_with_the_same_numbers(shape):
    """softmax._maximum reduces a transposed copy of short rows (ops/softmax.py): the
    same maximum, so log_softmax and softmax are torch's and the generic reduction's to
    the bit, NaN, infinities and signed zeros included."""
    a = rng.standard_normal(shape).astype(np.float32)
    a[0, 0], a[1, -1], a[2, :] = np.nan, np.inf, -0.0
    a[3, :2] = (-np.inf, np.inf)
    np.testing.assert_array_equal(softmax._maximum(a, 1),
                                  np.maximum.reduce(a, axis=1, keepdims=True))
    with np.errstate(invalid="ignore"):
        got = tc.log_softmax(tc.tensor(a), 1).numpy()
        want = torch.log_softmax(torch.tensor(a), 1).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
