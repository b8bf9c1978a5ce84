"""log_softmax, one primitive (tracecomp/ops/softmax.py): torch's values and gradients, one
tape node, an eager impl that is its parts (`softmax.parts`) op for op, torch's refusal of
integer input."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.errors import DTypeNotImplemented
from tracecomp.ops import softmax

from helpers import assert_close, to_tc, to_torch

rng = np.random.default_rng(7)

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
def test_values_and_gradient_are_torchs(case, dtype):
    a, dim = CASES[case]
    x = tc.tensor(a.astype(dtype), requires_grad=True)
    xt = to_torch(x)
    y, yt = tc.log_softmax(x, dim), torch.log_softmax(xt, dim)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert_close(y, yt, rtol=rtol, atol=rtol)
    g = rng.standard_normal(a.shape).astype(dtype)
    y.backward(tc.tensor(g))
    yt.backward(torch.from_numpy(g))
    assert_close(x.grad, xt.grad, rtol=rtol, atol=rtol, what="gradient")


def test_second_derivative_is_torchs():
    a = rng.standard_normal((3, 5))
    x = tc.tensor(a, requires_grad=True)
    xt = to_torch(x)
    w = rng.standard_normal((3, 5))
    results = []
    for lib, t in ((tc, x), (torch, xt)):
        y = (lib.log_softmax(t, 1) * lib.tensor(w)).sum()
        (g,) = lib.autograd.grad(y, t, create_graph=True)
        (gg,) = lib.autograd.grad((g * g).sum(), t)
        results.append(gg)
    assert_close(*results, rtol=1e-10, atol=1e-12, what="second derivative")


def test_one_tape_node_and_the_parts_to_the_bit():
    """Eagerly one node (the composite recorded six); its numpy impl computes what its parts
    compute through the primitives, bit for bit."""
    for a, dim in CASES.values():
        for dtype in (np.float16, np.float32, np.float64):
            x = tc.tensor(a.astype(dtype))
            got = tc.log_softmax(x, dim).numpy()
            want = softmax.parts(x, dim).numpy()
            assert got.dtype == want.dtype == dtype
            np.testing.assert_array_equal(got, want)
    x = tc.randn(4, 3, requires_grad=True)
    y = tc.log_softmax(x, 1)
    assert y.grad_fn.name() == "LogSoftmaxBackward"
    assert y.grad_fn.next_functions == ((x.grad_fn, 0),)     # the leaf itself, next


def test_empty_tensors_keep_their_shape():
    for shape, dim in (((0, 3), 1), ((2, 0), 1), ((0,), 0)):
        x = tc.zeros(*shape, requires_grad=True)
        y = tc.log_softmax(x, dim)
        assert tuple(y.shape) == shape and y.dtype == tc.float32
        y.sum().backward()
        assert tuple(x.grad.shape) == shape


def test_integer_input_is_refused_as_torch_does_unless_a_dtype_casts_it():
    i = tc.tensor([1, 2, 3])
    with pytest.raises(DTypeNotImplemented, match=r"log_softmax.*'Long'.*float"):
        tc.log_softmax(i, 0)
    with pytest.raises(NotImplementedError):
        torch.log_softmax(to_torch(i), 0)
    got = tc.log_softmax(i, 0, dtype=tc.float32)
    assert_close(got, torch.log_softmax(to_torch(i), 0, dtype=torch.float32))


def test_dim_out_of_range_names_the_op():
    with pytest.raises(IndexError, match=r"log_softmax.*Dimension out of range"):
        tc.log_softmax(tc.zeros(2, 3), 2)


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
