"""Bad input gets torch's exception type and torch's words (plus the op and the shapes).

Each case runs under torch first, so the expected text is checked against torch 2.13
itself, and then under tracecomp, which must raise the same exception class with the
same text.
"""
import re

import numpy as np
import pytest
import torch

import tracecomp as tc


def _x(lib, *shape):
    return lib.ones(*shape)


def _setitem(lib):
    x = _x(lib, 3, 4)
    x[0] = lib.ones(5)


def _iadd(lib):
    x = _x(lib, 3, 1)
    x += _x(lib, 1, 4)


def _leaf_inplace(lib):
    x = lib.ones(2, requires_grad=True)
    x.add_(1)


def _backward_twice(lib):
    x = lib.ones(2, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    y.backward()


# (id, fn(lib), exception class, text both messages contain)
CASES = [
    ("matmul", lambda lib: _x(lib, 4, 3) @ _x(lib, 5, 2), RuntimeError,
     "mat1 and mat2 shapes cannot be multiplied (4x3 and 5x2)"),
    ("mm", lambda lib: lib.mm(_x(lib, 2, 3), _x(lib, 2, 3)), RuntimeError,
     "mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)"),
    ("matmul_0d", lambda lib: lib.matmul(lib.tensor(1.0), _x(lib, 2)), RuntimeError,
     "at least 1"),
    ("broadcast", lambda lib: _x(lib, 2, 3) + _x(lib, 2, 4), RuntimeError,
     "The size of tensor a (3) must match the size of tensor b (4) at non-singleton "
     "dimension 1"),
    ("broadcast_3d", lambda lib: _x(lib, 5, 2, 3) * _x(lib, 4, 1, 3), RuntimeError,
     "The size of tensor a (5) must match the size of tensor b (4) at non-singleton "
     "dimension 0"),
    ("reshape", lambda lib: _x(lib, 2, 3).reshape(4, 2), RuntimeError,
     "shape '[4, 2]' is invalid for input of size 6"),
    ("view_infer", lambda lib: _x(lib, 2, 3).view(4, -1), RuntimeError,
     "shape '[4, -1]' is invalid for input of size 6"),
    ("view_two_infer", lambda lib: _x(lib, 2, 3).view(-1, -1), RuntimeError,
     "only one dimension can be inferred"),
    ("cat", lambda lib: lib.cat([_x(lib, 2, 3), _x(lib, 3, 4)]), RuntimeError,
     "Sizes of tensors must match except in dimension 0"),
    ("cat_ndim", lambda lib: lib.cat([_x(lib, 2, 3), _x(lib, 3)]), RuntimeError,
     "Tensors must have same number of dimensions: got 2 and 1"),
    ("stack", lambda lib: lib.stack([_x(lib, 2, 3), _x(lib, 3, 2)]), RuntimeError,
     "stack expects each tensor to be equal size"),
    ("index_int", lambda lib: _x(lib, 3, 4)[5], IndexError,
     "index 5 is out of bounds for dimension 0 with size 3"),
    ("index_int_dim1", lambda lib: _x(lib, 3, 4)[:, -5], IndexError,
     "index -5 is out of bounds for dimension 1 with size 4"),
    ("index_tensor", lambda lib: _x(lib, 3, 4)[lib.tensor([0, 7])], IndexError,
     "index 7 is out of bounds for dimension 0 with size 3"),
    ("conv2d_of_an_array", lambda lib: lib.nn.Conv2d(1, 2, 3)(np.ones((1, 1, 4, 4),
                                                                   np.float32)),
     TypeError, "conv2d()"),
    ("index_tensors_broadcast", lambda lib: _x(lib, 6, 27)[lib.arange(5), lib.arange(6)],
     IndexError, "shape mismatch: indexing tensors could not be broadcast together with "
     "shapes [5], [6]"),
    ("too_many_indices", lambda lib: _x(lib, 3, 4)[0, 0, 0], IndexError,
     "too many indices for tensor of dimension 2"),
    ("mask_shape", lambda lib: _x(lib, 3, 4)[lib.tensor([True, False])], IndexError,
     "The shape of the mask [2] at index 0 does not match the shape of the indexed tensor "
     "[3, 4] at index 0"),
    ("float_index", lambda lib: _x(lib, 3)[lib.tensor([0.0])], IndexError,
     "tensors used as indices must be long, int"),
    ("setitem_shape", _setitem, RuntimeError, "expanded size of the tensor"),
    ("inplace_broadcast", _iadd, RuntimeError, "doesn't match the broadcast shape"),
    ("sum_dim", lambda lib: _x(lib, 3, 4).sum(2), IndexError,
     "Dimension out of range (expected to be in range of [-2, 1], but got 2)"),
    ("softmax_dim", lambda lib: lib.softmax(_x(lib, 3, 4), -3), IndexError,
     "Dimension out of range (expected to be in range of [-2, 1], but got -3)"),
    ("size_dim", lambda lib: _x(lib, 3, 4).size(2), IndexError, "Dimension out of range"),
    ("unsqueeze_dim", lambda lib: _x(lib, 3, 4).unsqueeze(4), IndexError,
     "Dimension out of range (expected to be in range of [-3, 2], but got 4)"),
    ("transpose_dim", lambda lib: _x(lib, 3, 4).transpose(0, 2), IndexError,
     "Dimension out of range"),
    ("expand", lambda lib: _x(lib, 3, 1).expand(2, 4), RuntimeError,
     "expanded size of the tensor"),
    ("permute", lambda lib: _x(lib, 3, 4).permute(0, 1, 2), RuntimeError,
     "number of dimensions in the tensor input does not match the length of the desired "
     "ordering of dimensions"),
    ("split_sizes", lambda lib: _x(lib, 5, 2).split([2, 2]), RuntimeError,
     "split_with_sizes expects split_sizes to sum exactly to 5"),
    ("chunk_zero", lambda lib: _x(lib, 4).chunk(0), RuntimeError,
     "chunk expects `chunks` to be greater than 0, got: 0"),
    ("flatten", lambda lib: _x(lib, 2, 3, 4).flatten(2, 1), RuntimeError,
     "start_dim cannot come after end_dim"),
    ("bmm_batch", lambda lib: lib.bmm(_x(lib, 2, 3, 4), _x(lib, 3, 4, 5)), RuntimeError,
     "Expected size for first two dimensions of batch2 tensor to be: [2, 4] but got: [3, 4]"),
    ("bmm_inner", lambda lib: lib.bmm(_x(lib, 2, 3, 4), _x(lib, 2, 5, 5)), RuntimeError,
     "Expected size for first two dimensions of batch2 tensor to be: [2, 4] but got: [2, 5]"),
    ("matmul_3d_2d", lambda lib: _x(lib, 2, 4, 3) @ _x(lib, 5, 2), RuntimeError,
     "mat1 and mat2 shapes cannot be multiplied (8x3 and 5x2)"),
    ("one_hot_large", lambda lib: lib.nn.functional.one_hot(lib.tensor([0, 5]), 3),
     RuntimeError, "Class values must be smaller than num_classes"),
    ("one_hot_negative", lambda lib: lib.nn.functional.one_hot(lib.tensor([-1, 0]), 3),
     RuntimeError, "Class values must be non-negative"),
    ("mean_int", lambda lib: lib.tensor([1, 2]).mean(), RuntimeError,
     "mean(): could not infer output dtype"),
    ("masked_fill_mask", lambda lib: _x(lib, 2).masked_fill(lib.tensor([1, 0]), 0.0),
     RuntimeError, "only supports boolean masks, but got mask with dtype"),
    ("gather_bounds", lambda lib: _x(lib, 3, 4).gather(1, lib.tensor([[5]])), RuntimeError,
     "index 5 is out of bounds for dimension 1 with size 4"),
    ("gather_ndim", lambda lib: _x(lib, 3, 4).gather(1, lib.tensor([5])), RuntimeError,
     "Index tensor must have the same number of dimensions as input tensor"),
    ("item", lambda lib: _x(lib, 2, 3).item(), RuntimeError,
     "a Tensor with 6 elements cannot be converted to Scalar"),
    ("int_requires_grad", lambda lib: lib.tensor([1, 2]).requires_grad_(), RuntimeError,
     "only Tensors of floating point dtype can require gradients"),
    ("backward_nonscalar", lambda lib: (lib.ones(2, requires_grad=True) * 2).backward(),
     RuntimeError, "grad can be implicitly created only for scalar outputs"),
    ("backward_no_grad", lambda lib: lib.ones(2).sum().backward(), RuntimeError,
     "element 0 of tensors does not require grad and does not have a grad_fn"),
    ("backward_twice", _backward_twice, RuntimeError,
     "Trying to backward through the graph a second time"),
    ("leaf_inplace", _leaf_inplace, RuntimeError,
     "a leaf Variable that requires grad is being used in an in-place operation."),
    ("numpy_requires_grad", lambda lib: lib.ones(2, requires_grad=True).numpy(), RuntimeError,
     "Can't call numpy() on Tensor that requires grad"),
    ("arange_step", lambda lib: lib.arange(0, 5, 0), RuntimeError, "step must be nonzero"),
    ("clamp_none", lambda lib: lib.clamp(_x(lib, 2)), RuntimeError,
     "At least one of 'min' or 'max' must not be None"),
    ("div_rounding", lambda lib: _x(lib, 2).div(2, rounding_mode="round"), RuntimeError,
     "div expected rounding_mode to be one of None, 'trunc', or 'floor'"),
    # a float size (pytorch-cifar's ShuffleNet computes `out_planes / 4` under Python 3)
    # is refused, not truncated
    ("zeros_float_size", lambda lib: lib.zeros(2.0), TypeError,
     "argument 'size' (position 1) must be tuple of ints"),
    ("empty_float_size", lambda lib: lib.empty((2.0, 3)), TypeError,
     "argument 'size' (position 1) must be tuple of ints, but found element of type float "
     "at pos 0"),
    ("conv2d_float_channels", lambda lib: lib.nn.Conv2d(24, 44.0, 1), TypeError,
     "empty(): argument 'size' (position 1) must be tuple of ints, but found element of "
     "type float at pos 0"),
    ("linear_float_features", lambda lib: lib.nn.Linear(3, 2.0), TypeError,
     "must be tuple of ints, but found element of type float at pos 0"),
]


@pytest.mark.parametrize("fn,exc,text", [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_error_matches_torch(fn, exc, text):
    with pytest.raises(exc, match=re.escape(text)):
        fn(torch)
    with pytest.raises(exc) as info:
        fn(tc)
    assert text in str(info.value), f"tracecomp={info.value} | torch text={text!r}"


def test_error_names_op_and_shapes():
    with pytest.raises(RuntimeError) as info:
        tc.ones(2, 3) + tc.ones(2, 4)
    assert "add" in str(info.value) and "[2, 3]" in str(info.value)
    with pytest.raises(RuntimeError) as info:
        tc.ones(2, 3).reshape(4, 2)
    assert "reshape" in str(info.value) and "[2, 3]" in str(info.value)


def test_errors_are_tracecomp_errors():
    with pytest.raises(tc.ShapeError):
        tc.ones(4, 3) @ tc.ones(5, 2)
    with pytest.raises(tc.TracecompError):
        tc.cat([tc.ones(2, 3), tc.ones(3, 4)])


FOREIGN = {     # a call given a torch tensor, and the same call after the named conversion
    "linear": ("tc.nn.Linear(3, 2)({x})", "torch.ones(1, 3)"),
    "conv in a sequential": ("tc.nn.Sequential(tc.nn.Conv2d(1, 1, 3))({x})",
                             "torch.ones(1, 1, 4, 4)"),
    "add": ("tc.ones(3) + {x}", "torch.ones(3)"),
    "relu": ("tc.relu({x})", "torch.ones(3)"),
}


@pytest.mark.parametrize("call, x", FOREIGN.values(), ids=list(FOREIGN))
def test_a_torch_tensor_given_to_tracecomp_is_named(call, x):
    """torchvision's ToTensor hands torch tensors to a tracecomp model: the error names the
    op, the tensor and the conversion (it was numpy's `Cannot interpret 'torch.float32' as
    a data type`), and the conversion it names works."""
    with pytest.raises(TypeError, match=r"got a torch\.Tensor of shape \[.*\] \(torch\.float32"
                                        r"\), where tracecomp takes its own tensors.*"
                                        r"tracecomp\.as_tensor\(x\)"):
        eval(call.format(x=x))
    assert isinstance(eval(call.format(x=f"tc.as_tensor({x})")), tc.Tensor)
