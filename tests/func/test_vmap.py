"""torch.func.vmap against torch 2.13: in_dims/out_dims (ints, None, nested, negative),
kwargs, nesting, composition with grad, randomness modes, a zero-sized batch and torch's
errors for bad input."""
import collections

import pytest
import torch
from twin import both, randn

import tracecomp as tc


def test_in_dims_and_out_dims():
    def run(lib, x, y, z):
        f = lambda a, b: (a * b.sum(), a + b.mean())  # noqa: E731
        return (lib.vmap(f)(x, y),
                lib.vmap(f, in_dims=(1, None))(z, y),
                lib.vmap(f, in_dims=(-1, 0), out_dims=(1, -1))(z, y),
                lib.vmap(lambda a: a.T, in_dims=2)(z.unsqueeze(-1).expand(5, 4, 3)))
    both(run, randn(4, 5), randn(4, 3, seed=1), randn(5, 4, seed=2))


def test_nested_in_dims_pytree_and_kwargs():
    def run(lib, x, y, z):
        def f(d, pair, *, scale):
            return {"out": (d["a"] * pair[0] + d["b"]) * scale, "n": pair[1] @ pair[1]}
        return lib.vmap(f, in_dims=({"a": 0, "b": None}, (1, 0)))(
            {"a": x, "b": z}, (y.T, y), scale=2.0)
    both(run, randn(3, 4), randn(3, 4, seed=1), randn(4, seed=2))


def test_out_dims_none_and_unbatched_outputs():
    def run(lib, x, w):
        return lib.vmap(lambda a: (a * 2, w, 7), out_dims=(0, None, None))(x), \
            lib.vmap(lambda a: w)(x)       # an unbatched output is expanded along the batch
    both(run, randn(3, 2), randn(2, seed=1))


def test_nested_vmap_outer_product():
    both(lambda lib, x, y: lib.vmap(lib.vmap(lambda a, b: a * b, in_dims=(None, 0)),
                                    in_dims=(0, None))(x, y), randn(3), randn(4, seed=1))


def test_per_sample_grad_composition():
    def run(lib, w, x, t):
        loss = lambda w, x, t: ((x @ w).tanh() - t).pow(2).sum()  # noqa: E731
        return lib.vmap(lib.func.grad(loss), in_dims=(None, 0, 0))(w, x, t), \
            lib.func.grad(lambda w: lib.vmap(loss, in_dims=(None, 0, 0))(w, x, t).sum())(w)
    both(run, randn(3, 2), randn(5, 3, seed=1), randn(5, 2, seed=2))


def test_zero_sized_batch():
    both(lambda lib, x: lib.vmap(lambda a: (a.sum(), a * 2), out_dims=(0, 1))(x),
         randn(0, 3))


def test_in_place_on_slices_writes_through_as_torch():
    def run(lib, x):
        out = lib.vmap(lambda a: a.mul_(2).add_(1))(x)
        return out, x
    both(run, randn(3, 2))


def test_chunk_size_accepted():
    both(lambda lib, x: lib.vmap(lib.sin, chunk_size=2)(x), randn(5, 2))


def test_randomness_error_raises_like_torch():
    for lib in (torch, tc):
        with pytest.raises(RuntimeError, match="called random operation while in randomness "
                                               "error mode"):
            lib.vmap(lambda a, lib=lib: a + lib.rand(2))(lib.ones(3, 2))
        with pytest.raises(RuntimeError, match="randomness error mode"):
            lib.vmap(lambda a, lib=lib: lib.nn.functional.dropout(a, 0.5))(lib.ones(3, 2))
    assert tc.rand(1).shape == (1,)         # the generator is back after the error


def test_randomness_same_and_different():
    tc.manual_seed(0)
    same = tc.vmap(lambda a: a + tc.rand(4), randomness="same")(tc.zeros(3, 4))
    tc.manual_seed(0)
    one = tc.rand(4)
    assert (same == one).all(), "'same': every sample draws the first sample's numbers"
    after_same = tc.rand(4)
    tc.manual_seed(0)
    tc.rand(4)
    assert (after_same == tc.rand(4)).all(), "'same' advances the generator by one draw"
    tc.manual_seed(0)
    diff = tc.vmap(lambda a: a + tc.rand(4), randomness="different")(tc.zeros(3, 4))
    tc.manual_seed(0)
    assert (diff == tc.stack([tc.rand(4) for _ in range(3)])).all()


ERRORS = [
    ("in_dims type", lambda lib: lib.vmap(lib.sin, in_dims=[0])(lib.ones(2)),
     "expected `in_dims` to be int or a (potentially nested) tuple matching the structure of "
     "inputs, got: <class 'list'>."),
    ("in_dims structure", lambda lib: lib.vmap(lib.sin, in_dims=(0, 0))(lib.ones(2)),
     "in_dims is not compatible with the structure of `inputs`"),
    ("in_dim out of range", lambda lib: lib.vmap(lib.sin, in_dims=2)(lib.ones(2, 3)),
     "Got in_dim=2 for some input, but that input is a Tensor of dimensionality 2 so "
     "expected in_dim to satisfy -2 <= in_dim < 2."),
    ("in_dim for a number", lambda lib: lib.vmap(lambda a, b: a * b)(lib.ones(2), 3.0),
     "Got in_dim=0 for an input but the input is of type <class 'float'>. We cannot vmap "
     "over non-Tensor arguments"),
    ("in_dim not an int", lambda lib: lib.vmap(lib.sin, in_dims=(1.5,))(lib.ones(2)),
     "Got in_dim=1.5 for an input but in_dim must be either an integer dimension or None."),
    ("batch sizes", lambda lib: lib.vmap(lib.add)(lib.ones(2), lib.ones(3)),
     "vmap: Expected all tensors to have the same size in the mapped dimension, got sizes "
     "[2, 3] for the mapped dimension"),
    ("nothing to map", lambda lib: lib.vmap(lib.sin, in_dims=(None,))(lib.ones(2)),
     "vmap: Expected at least one Tensor to vmap over"),
    ("no inputs", lambda lib: lib.vmap(lambda: lib.ones(1))(), "got no inputs"),
    ("non-tensor output", lambda lib: lib.vmap(lambda a: 1.0)(lib.ones(2)),
     "`<lambda>` must only return Tensors, got type <class 'float'>. Did you mean to set "
     "out_dims= to None for output?"),
    ("batched output with out_dim None", lambda lib: lib.vmap(lambda a: a, out_dims=None)(
        lib.arange(3.0)), "`<lambda>` can not return a BatchedTensor when out_dim is None"),
    ("out_dims structure", lambda lib: lib.vmap(lambda a: (a, a), out_dims=(0, 0, 0))(
        lib.ones(2)), "out_dims is not compatible with the structure of `outputs`"),
    ("out_dims type", lambda lib: lib.vmap(lib.sin, out_dims="x")(lib.ones(2)),
     "`out_dims` must be an int, None or a python collection of ints"),
    ("chunk_size", lambda lib: lib.vmap(lib.sin, chunk_size=0), "chunk_size should be None or "
     "greater than 0. (got 0)"),
]


@pytest.mark.parametrize("case", ERRORS, ids=[c[0] for c in ERRORS])
def test_errors_match_torch(case):
    _, call, text = case
    for lib in (torch, tc):
        with pytest.raises(ValueError) as info:
            call(lib)
        assert text in str(info.value), f"{lib.__name__}: {info.value}"


def test_bad_randomness_mode():
    for lib in (torch, tc):
        with pytest.raises(RuntimeError, match="Only allowed values for randomness are"):
            lib.vmap(lib.sin, randomness="sometimes")(lib.ones(2))


def _message(lib, call):
    with pytest.raises(ValueError) as info:
        call(lib)
    return str(info.value)


def test_structure_errors_print_torchs_tree_specs():
    pair = collections.namedtuple("pair", "a b")
    calls = [
        lambda lib: lib.vmap(lambda *a: a[0], in_dims=((0, {"a": 0}),))(
            (lib.ones(2), {"a": lib.ones(2), "b": [lib.ones(2), None]})),
        lambda lib: lib.vmap(lambda p: p.a, in_dims=(0, 0))(pair(lib.ones(2), lib.ones(2))),
        lambda lib: lib.vmap(lambda x: (x, x), out_dims=(0, [0]))(lib.ones(2)),
    ]
    for call in calls:
        assert _message(tc, call) == _message(torch, call)


def test_dict_in_dims_match_by_position_as_torch():
    both(lambda lib, x, y: lib.vmap(lambda d: d["a"] * 10 + d["b"],
                                    in_dims=({"b": 1, "a": 0},))({"a": x, "b": y}),
         randn(2, 3), randn(3, 2, seed=1))
