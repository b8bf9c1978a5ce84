"""nn.utils.parametrizations.orthogonal against torch 2.13: the weight each map makes
(matrix_exp, cayley, householder; with and without the trivialization's base), the
gradient reaching the unconstrained tensor, three SGD steps, state_dict keys, assignment,
errors, and a compiled forward giving eager's numbers."""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close


def _twins(shape, orthogonal_map, use_trivialization):
    torch.manual_seed(0)
    ref = torch.nn.Linear(shape[1], shape[0])
    mod = tc.nn.Linear(shape[1], shape[0])
    mod.load_state_dict({k: tc.tensor(v.detach().numpy().copy())
                         for k, v in ref.state_dict().items()})
    for lib, m in ((torch, ref), (tc, mod)):
        lib.nn.utils.parametrizations.orthogonal(m, orthogonal_map=orthogonal_map,
                                                 use_trivialization=use_trivialization)
    return mod, ref


CASES = [((4, 4), None, True), ((4, 4), "cayley", True), ((4, 4), "householder", True),
         ((4, 4), "householder", False), ((5, 3), "householder", False),
         ((3, 5), "householder", False), ((4, 4), "matrix_exp", True)]


@pytest.mark.parametrize("shape,orthogonal_map,trivial", CASES)
def test_orthogonal_trains_as_torch(shape, orthogonal_map, trivial):
    mod, ref = _twins(shape, orthogonal_map, trivial)
    assert sorted(mod.state_dict()) == sorted(ref.state_dict())
    assert_close(mod.weight, ref.weight, 1e-5, 1e-6, what="initial weight")
    x = np.random.default_rng(0).standard_normal((6, shape[1])).astype(np.float32)
    opt, ref_opt = tc.optim.SGD(mod.parameters(), lr=0.1), torch.optim.SGD(ref.parameters(),
                                                                          lr=0.1)
    for _ in range(3):
        for lib, m, o in ((tc, mod, opt), (torch, ref, ref_opt)):
            o.zero_grad()
            m(lib.tensor(x)).pow(2).sum().backward()
            o.step()
        assert_close(mod.parametrizations.weight.original.grad,
                     ref.parametrizations.weight.original.grad, 1e-4, 1e-5, what="gradient")
    assert_close(mod.weight, ref.weight, 1e-4, 1e-5, what="weight after 3 steps")
    w = mod.weight.detach().numpy()
    small = min(shape)
    gram = w.T @ w if shape[0] >= shape[1] else w @ w.T
    assert_close(gram, np.eye(small, dtype=np.float32), 1e-5, 1e-5, what="orthonormality")


def test_a_tall_weight_with_a_base_is_orthonormal():
    # the base completes the columns with random ones: tracecomp's generator, not torch's
    mod, ref = _twins((5, 3), "matrix_exp", True)
    assert_close(mod.weight, ref.weight, 1e-5, 1e-6, what="initial weight")
    base = mod.parametrizations.weight[0].base.numpy()
    assert_close(base.T @ base, np.eye(5, dtype=np.float32), 1e-5, 1e-5, what="base")


def test_assigning_an_orthogonal_matrix_keeps_it():
    mod, ref = _twins((4, 4), "householder", False)
    q = torch.linalg.qr(torch.randn(4, 4)).Q
    ref.weight = q
    mod.weight = tc.tensor(q.numpy())
    assert_close(mod.weight, ref.weight, 1e-5, 1e-6, what="assigned weight")


def test_errors_match_torch():
    for lib in (tc, torch):
        with pytest.raises(ValueError, match='orthogonal_map has to be one of'):
            lib.nn.utils.parametrizations.orthogonal(lib.nn.Linear(3, 3), orthogonal_map="qr")
        with pytest.raises(ValueError, match="Expected a matrix or batch of matrices. Got a "
                                             "tensor of 1 dimensions."):
            lib.nn.utils.parametrizations.orthogonal(lib.nn.Linear(3, 3), "bias")
        m = lib.nn.utils.parametrizations.orthogonal(lib.nn.Linear(3, 3),
                                                     use_trivialization=False)
        with pytest.raises(NotImplementedError, match="use_trivialization=False"):
            m.weight = lib.eye(3)


def test_compiled_forward_gives_eagers_numbers():
    mod, _ = _twins((4, 4), None, True)
    x = tc.tensor(np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32))
    assert_close(tc.compile(mod, fullgraph=True)(x), mod(x), 0, 0, what="compiled")
