"""Tensors compiled code stores outside itself that are leaves (compiler/kept_values.py):
a Parameter it makes (`nn.Parameter(y)`, a data-dependent init) or a tensor it detaches
and marks requires_grad, whose .grad its own backward fills; and a parameter of a module
it stores (`d["w"] = model.weight`). Each call stores what an eager call stores: a leaf
of its own class with this call's gradient (they were stored as plain tensors without
.grad), the parameter itself (a copy of its values was)."""
import numpy as np
import torch

import tracecomp as tc


def _made_leaves(lib, compiled):
    w = lib.nn.Parameter(lib.tensor([1.0, 2.0]))
    kept = {}

    def f(x):
        y = w * x
        p = lib.nn.Parameter(y * 2)
        q = (y * 3).detach().requires_grad_()
        kept["p"], kept["q"] = p, q
        (p * y + q * q).sum().backward()
        return y
    f = tc.compile(f, fullgraph=True) if compiled else f
    out = []
    for i in range(3):
        w.grad = None
        f(lib.tensor([3.0, 4.0]) + i)
        p, q = kept["p"], kept["q"]
        out.append((type(p).__name__, p.is_leaf, p.requires_grad, p.detach().numpy().copy(),
                    p.grad.numpy().copy(), q.requires_grad, q.grad.numpy().copy(),
                    w.grad.numpy().copy()))
    return out


def test_a_leaf_made_inside_gets_its_grad_each_call_as_torchs():
    want = _made_leaves(torch, False)
    for got in (_made_leaves(tc, False), _made_leaves(tc, True)):
        for g, t in zip(got, want):
            assert g[:3] == t[:3] and g[5] == t[5]
            for a, b in zip(g[3:5] + g[6:], t[3:5] + t[6:]):
                np.testing.assert_allclose(a, b)


def test_each_call_stores_a_leaf_of_its_own():
    kept = []

    @tc.compile(fullgraph=True)
    def f(x):
        p = tc.nn.Parameter(x * 2)
        kept.append(p)
        p.sum().backward()
        return x
    for i in range(3):
        f(tc.ones(2) * i)
    assert len({id(p) for p in kept}) == 3
    assert [p.tolist() for p in kept] == [[0.0, 0.0], [2.0, 2.0], [4.0, 4.0]]
    assert all(p.grad.tolist() == [1.0, 1.0] for p in kept)


def test_a_stored_module_parameter_is_the_parameter_itself():
    lin = tc.nn.Linear(2, 2)
    held = {}

    @tc.compile(fullgraph=True)
    def f(x):
        held["w"] = lin.weight
        return lin(x)
    for _ in range(2):
        f(tc.ones(1, 2))
        assert held["w"] is lin.weight
