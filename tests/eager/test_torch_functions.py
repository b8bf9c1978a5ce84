"""torch-namespace spellings the tutorials use, against torch 2.13: the in-place functions
(torch.sin_(x)), the torch.functional module, factories writing into out=
(torch.rand(2, 2, out=c)), and a .grad that is not a tensor."""
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc
import tracecomp.functional as TCF

from helpers import assert_close


@pytest.mark.parametrize("name,args", [("sin_", ()), ("relu_", ()), ("abs_", ()),
                                       ("clamp_", (-0.5, 0.5)), ("exp_", ()),
                                       ("sigmoid_", ())])
def test_in_place_functions_are_the_methods(name, args):
    data = np.array([-1.5, 0.25, 2.0], np.float32)
    ours, theirs = tc.tensor(data), torch.tensor(data)
    assert getattr(tc, name)(ours, *args) is ours
    getattr(torch, name)(theirs, *args)
    assert_close(ours, theirs)


def test_an_unknown_in_place_name_is_still_missing():
    with pytest.raises(AttributeError):
        tc.not_a_function_   # noqa: B018
    with pytest.raises(NotImplementedError, match="not supported by tracecomp"):
        tc.resize_as_sparse_  # noqa: B018 - torch has it (for sparse tensors), tracecomp not


def test_torch_functional_module():
    import torch.functional as TF
    assert sorted(TCF.__all__) == sorted(TF.__all__)
    assert_close(TCF.einsum("i,i->", tc.ones(3), tc.arange(3.0)),
                 TF.einsum("i,i->", torch.ones(3), torch.arange(3.0)))
    for ours, theirs in zip(TCF.split(tc.arange(5), 2), TF.split(torch.arange(5), 2)):
        assert_close(ours, theirs)
    assert_close(TCF.norm(tc.ones(4)), TF.norm(torch.ones(4)))


@pytest.mark.parametrize("call", [
    "L.rand(2, 2, out=o)", "L.zeros(3, 3, out=o)", "L.ones(4, out=o)",
    "L.full((2,), 7.0, out=o)", "L.eye(2, out=o)", "L.linspace(0, 1, 3, out=o)",
    "L.arange(3, out=o)", "L.randn(5, out=o)", "L.empty(2, out=o)"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_factories_write_into_out_as_torch(call, dtype):
    """out's dtype unless dtype= says otherwise, resized to the result without a warning"""
    def run(lib):
        o = lib.zeros(3, dtype=getattr(lib, dtype))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result = eval(call, {"L": lib, "o": o})
        assert result is o
        return o
    ours, theirs = run(tc), run(torch)
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    assert tuple(ours.shape) == tuple(theirs.shape)
    if "rand" not in call and "empty" not in call:
        assert_close(ours, theirs)


def test_a_grad_that_is_no_tensor_is_named_at_backward():
    """torch refuses `w.grad = 0.` as it is assigned; ours at the next backward, in its
    words (an AttributeError from inside the engine before)"""
    w = tc.ones(2, requires_grad=True)
    w.grad = 0.0
    with pytest.raises(TypeError, match="assigned grad expected to be a Tensor or None but "
                                        "got grad of type float"):
        (w * 2).sum().backward()
    w.grad = None
    (w * 2).sum().backward()
    assert_close(w.grad, torch.full((2,), 2.0))


@pytest.mark.parametrize("expr", [
    "L.matmul(input=x, other=y)", "L.add(input=x, other=y, alpha=2)", "L.mul(input=x, other=y)",
    "L.sum(input=x)", "L.exp(input=x)", "L.mean(input=x)", "L.clamp(input=x, min=1.5)",
    "x.add(other=y)", "x.matmul(other=y)", "L.sub(x, other=y)", "L.div(input=x, other=y)",
    "L.mm(input=x[None], mat2=y[:, None])", "L.maximum(input=x, other=y)",
    "L.abs(input=-x)"])
def test_torchs_keyword_names(expr):
    """torch's parameter names, input= and other= (the polynomial tutorial's
    torch.matmul(input=..., other=...))"""
    def run(lib):
        return eval(expr, {"L": lib, "x": lib.tensor([1.0, 2.0]), "y": lib.tensor([3.0, 4.0])})
    assert_close(run(tc), run(torch))


@pytest.mark.parametrize("expr", [
    "L.index_select(input=x2, index=i, dim=0)", "x2.index_select(0, index=i)",
    "L.gather(input=x2, dim=1, index=i2)", "L.pow(input=x, exponent=2)", "x.pow(exponent=3)",
    "L.outer(input=x, vec2=y)", "L.addmm(input=x2, mat1=x2, mat2=x2.T, beta=0.5)",
    "L.select(x2, 0, index=1)", "x2.take(index=i)", "L.transpose(input=x2, dim0=0, dim1=1)",
    "L.softmax(input=x2, dim=1)", "L.reshape(input=x2, shape=(1, 4))",
    "L.permute(x2, dims=(1, 0))", "L.flatten(input=x2)", "L.masked_fill(input=x, mask=x > 1,"
    " value=0.0)", "L.split(tensor=x2, split_size_or_sections=1, dim=1)[1]",
    "L.lerp(input=x, end=y, weight=0.25)", "L.norm(input=x2, dim=1)", "L.clamp_min(input=x, "
    "min=1.5)", "L.dot(input=x, tensor=y)", "L.swapaxes(x2, axis0=0, axis1=1)"])
def test_torchs_keyword_names_for_every_argument(expr):
    """torch's names for the other arguments too (a GAT layer's
    torch.index_select(input=feats, index=rows, dim=0); x.pow(exponent=2))."""
    def run(lib):
        return eval(expr, {"L": lib, "x": lib.tensor([1.0, 2.0]), "y": lib.tensor([3.0, 4.0]),
                           "x2": lib.tensor([[1.0, 2.0], [3.0, 5.0]]),
                           "i": lib.tensor([1, 0]), "i2": lib.tensor([[1, 0], [0, 0]])})
    assert_close(run(tc), run(torch))


def test_a_torch_keyword_given_twice_is_refused_as_torch_refuses_it():
    x, i = tc.ones(2, 2), tc.tensor([0])
    with pytest.raises(TypeError, match="multiple values for argument 'index'"):
        tc.index_select(x, 0, i, index=i)


def test_cross_without_dim_warns_as_torch():
    a, b = tc.ones(2, 3), tc.tensor([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])
    with pytest.warns(UserWarning, match="torch.cross without specifying the dim arg"):
        got = tc.cross(a, b)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_close(tc.cross(a, b, dim=1), got)
    assert_close(got, torch.cross(torch.ones(2, 3), torch.tensor([[1.0, 2.0, 3.0],
                                                                   [0.0, 1.0, 0.0]]), dim=1))


def test_torchs_math_constants():
    """torch.inf, torch.pi, torch.e, torch.nan (every LLMs-from-scratch model masks with
    -torch.inf; its GELU uses torch.pi): they were Unsupported."""
    for name in ("inf", "pi", "e"):
        assert getattr(tc, name) == getattr(torch, name)
    assert np.isnan(tc.nan)


@pytest.mark.parametrize("fn", ["triu", "tril"])
@pytest.mark.parametrize("dtype", ["bool", "int32", "float64"])
def test_triu_tril_keep_the_dtype(fn, dtype):
    """triu of a bool mask stays bool, as torch's: it came back int64, so x[~mask] indexed
    rows by position (silently) and masked_fill refused it."""
    data = np.ones((3, 4), dtype=dtype)
    got = getattr(tc, fn)(tc.tensor(data), 1)
    want = getattr(torch, fn)(torch.tensor(data), 1)
    assert str(got.dtype)[10:] == str(want.dtype)[6:]
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert getattr(tc.tensor(data), fn)().dtype == got.dtype
