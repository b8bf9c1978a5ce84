"""The Tensor API vs torch: creation, conversion, attributes, dtype promotion and repr."""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]


def _name(dtype):
    return str(dtype).split(".")[-1]


# --- creation ------------------------------------------------------------------------------
@pytest.mark.parametrize("data", [[1, 2, 3], [1.0, 2.5], [[True, False]], 3, 2.5, True,
                                  [[1, 2.0]], [], np.arange(3, dtype=np.int32),
                                  np.ones((2, 2), np.float64)],
                         ids=["ints", "floats", "bools", "int", "float", "bool", "mixed",
                              "empty", "np_int32", "np_f64"])
def test_tensor_infers_dtype_like_torch(data):
    assert_close(tc.tensor(data), torch.tensor(data))


def test_tensor_copies_and_as_tensor_shares():
    a = np.zeros(3, np.float32)
    t, s = tc.tensor(a), tc.as_tensor(a)
    a[0] = 5
    assert float(t[0]) == 0 and float(s[0]) == 5
    assert tc.as_tensor([1, 2]).dtype == tc.int64
    assert tc.as_tensor(a, dtype=tc.float64).dtype == tc.float64


def test_from_numpy_shares_memory_both_ways():
    a = np.arange(4.0)
    t = tc.from_numpy(a)
    assert t.dtype == tc.float64
    a[1] = 10
    assert float(t[1]) == 10
    t[2] = -1
    assert a[2] == -1
    t.add_(1)
    assert a[0] == 1
    with pytest.raises(TypeError):
        tc.from_numpy([1, 2])


@pytest.mark.parametrize("name", ["zeros", "ones", "empty"])
def test_constant_creators(name):
    for args, kw in [((2, 3), {}), (((2, 3),), {}), (([4],), {"dtype": "int64"}), (([],), {})]:
        kw_tc = {k: getattr(tc, v) for k, v in kw.items()}
        kw_th = {k: getattr(torch, v) for k, v in kw.items()}
        got, want = getattr(tc, name)(*args, **kw_tc), getattr(torch, name)(*args, **kw_th)
        assert tuple(got.shape) == tuple(want.shape) and _name(got.dtype) == _name(want.dtype)
        if name != "empty":
            assert_close(got, want)


def test_full_and_likes():
    assert_close(tc.full((2, 3), 1.5), torch.full((2, 3), 1.5))
    assert_close(tc.full((2,), 7), torch.full((2,), 7))
    assert_close(tc.full((2,), True), torch.full((2,), True))
    x, tx = tc.ones(2, 3, dtype=tc.float64), torch.ones(2, 3, dtype=torch.float64)
    for name in ["zeros_like", "ones_like", "empty_like"]:
        got, want = getattr(tc, name)(x), getattr(torch, name)(tx)
        assert tuple(got.shape) == tuple(want.shape) and _name(got.dtype) == _name(want.dtype)
    assert_close(tc.full_like(x, 4), torch.full_like(tx, 4))
    assert tc.zeros_like(x, dtype=tc.int32).dtype == tc.int32
    assert tuple(tc.randn_like(x).shape) == (2, 3) and tc.rand_like(x).dtype == tc.float64


@pytest.mark.parametrize("args", [(5,), (2, 7), (1, 2, 0.25), (0.5, 3), (5, 0, -2), (3, 3),
                                  (-1.0, 1.0, 0.5), (0, 10, 3)], ids=str)
def test_arange(args):
    assert_close(tc.arange(*args), torch.arange(*args))


@pytest.mark.parametrize("args", [(-10.0, 10.0, 0.01), (0, 1e4, 0.77), (1.0, 0.0, -0.013)],
                         ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_arange_with_a_float_step_does_not_drift(args, dtype):
    """start + k * step is worked out in float64, as torch does, then rounded: numpy's
    float32 arange extrapolates its first two float32 values (d2l's gd plot's x axis was
    off by 4.6e-4). torch's last bits depend on its vector width: one rounding apart."""
    got = tc.arange(*args, dtype=getattr(tc, dtype))
    want = torch.arange(*args, dtype=getattr(torch, dtype))
    scale = float(want.abs().max())
    assert_close(got, want, rtol=0, atol=scale * np.finfo(dtype).eps)


def test_arange_dtype_argument():
    assert_close(tc.arange(4, dtype=tc.float32), torch.arange(4, dtype=torch.float32))


@pytest.mark.parametrize("args", [(0, 1, 5), (-2, 2, 1), (1, 0, 4), (0, 10, 0)], ids=str)
def test_linspace(args):
    assert_close(tc.linspace(*args), torch.linspace(*args))


def test_eye():
    assert_close(tc.eye(3), torch.eye(3))
    assert_close(tc.eye(2, 4), torch.eye(2, 4))
    assert_close(tc.eye(3, dtype=tc.int64), torch.eye(3, dtype=torch.int64))


def test_random_creators_shapes_dtypes_ranges():
    r = tc.rand(1000)
    assert r.dtype == tc.float32 and 0 <= float(r.min()) and float(r.max()) < 1
    n = tc.randn(2, 500, dtype=tc.float64)
    assert n.dtype == tc.float64 and tuple(n.shape) == (2, 500)
    assert abs(float(n.mean())) < 0.2 and 0.8 < float(n.std()) < 1.2
    i = tc.randint(3, 7, (4, 50))
    assert i.dtype == tc.int64 and int(i.min()) >= 3 and int(i.max()) < 7
    assert tc.randint(5, (3,)).shape == (3,)
    assert sorted(tc.randperm(6).tolist()) == list(range(6))


def test_manual_seed_determinism():
    tc.manual_seed(123)
    a = (tc.rand(3), tc.randn(3), tc.randint(0, 100, (3,)))
    tc.manual_seed(123)
    b = (tc.rand(3), tc.randn(3), tc.randint(0, 100, (3,)))
    for x, y in zip(a, b):
        assert x.tolist() == y.tolist()
    g = tc.Generator().manual_seed(7)
    c = tc.rand(4, generator=g)
    assert c.tolist() == tc.rand(4, generator=tc.Generator().manual_seed(7)).tolist()
    assert c.tolist() != tc.rand(4, generator=g).tolist()


# --- leaving the tensor world, attributes ----------------------------------------------------
def test_numpy_item_tolist():
    t = tc.tensor([[1.5, 2.0], [3.0, 4.0]])
    assert isinstance(t.numpy(), np.ndarray) and t.numpy().dtype == np.float32
    assert t.tolist() == torch.tensor([[1.5, 2.0], [3.0, 4.0]]).tolist()
    assert tc.tensor(3).item() == 3 and isinstance(tc.tensor(3).item(), int)
    assert isinstance(tc.tensor([2.5]).item(), float)
    assert tc.tensor(True).item() is True
    assert tc.tensor(7).tolist() == 7
    with pytest.raises(RuntimeError, match="cannot be converted to Scalar"):
        t.item()
    with pytest.raises(RuntimeError, match="Use tensor.detach\\(\\).numpy\\(\\)"):
        tc.tensor([1.0], requires_grad=True).numpy()


def test_shape_size_dim_numel_dtype_device():
    t, tt = tc.zeros(2, 3, 4), torch.zeros(2, 3, 4)
    assert t.shape == tt.shape and t.size() == tt.size()
    assert t.size(1) == 3 and t.size(-1) == 4
    assert t.dim() == 3 and t.ndim == 3 and t.numel() == 24 and len(t) == 2
    assert repr(t.shape) == "tracecomp.Size([2, 3, 4])"
    assert t.dtype == tc.float32 and t.dtype is tc.float
    assert t.device == tc.device("cpu") and str(t.device) == "cpu"
    assert (t.device == "cpu") == (tt.device == "cpu")      # torch: a device is not a str
    assert t.is_floating_point() and not tc.zeros(2, dtype=tc.int64).is_floating_point()
    assert t.stride() == tt.stride() and t.permute(2, 0, 1).stride() == \
        tt.permute(2, 0, 1).stride()
    with pytest.raises(IndexError, match="Dimension out of range"):
        t.size(3)


@pytest.mark.parametrize("expr", ["s[2:]", "s[::-1]", "s[1]", "s + (1,)", "(1,) + s", "s + s",
                                  "s * 2", "2 * s"])
def test_size_slices_sums_and_repeats_are_sizes_as_torchs(expr):
    """labml_nn's LayerNorm(x.shape[2:]) asserts `isinstance(normalized_shape, torch.Size)`."""
    got = eval(expr, {"s": tc.zeros(2, 3, 4).shape})       # noqa: S307 - a fixed table
    want = eval(expr, {"s": torch.zeros(2, 3, 4).shape})    # noqa: S307
    assert type(got).__name__ == type(want).__name__ and tuple_or_int(got) == tuple_or_int(want)
    with pytest.raises(TypeError):
        tc.zeros(2).shape + [1]         # torch: can only concatenate tuple


def tuple_or_int(v):
    return v if isinstance(v, int) else tuple(v)


def test_to_cpu_float_long_and_friends():
    t = tc.tensor([1.7, -2.2])
    assert t.to(tc.int64).tolist() == torch.tensor([1.7, -2.2]).to(torch.int64).tolist()
    assert t.to("cpu") is t and t.cpu() is t
    assert t.to(tc.float32) is t
    assert t.to(tc.float32, copy=True) is not t
    assert t.to(tc.zeros(1, dtype=tc.float64)).dtype == tc.float64
    assert t.to("cpu", tc.float16).dtype == tc.float16
    assert t.double().dtype == tc.float64 and t.long().dtype == tc.int64
    assert t.int().dtype == tc.int32 and t.bool().dtype == tc.bool
    assert tc.tensor([1, 2]).float().dtype == tc.float32
    assert t.half().dtype == tc.float16
    with pytest.raises(AssertionError, match="Torch not compiled with CUDA enabled"):
        t.to("cuda")


def test_cast_gradient_flows_back_in_source_dtype():
    x = tc.tensor([1.0, 2.0], requires_grad=True)
    (x.double() * 3).sum().backward()
    assert x.grad.dtype == tc.float32 and x.grad.tolist() == [3.0, 3.0]


def test_clone_data_T():
    x = tc.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    c = x.clone()
    assert c.grad_fn is not None and c.numpy(force=True) is not x.numpy(force=True)
    c.sum().backward()
    assert x.grad.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    d = x.data
    assert not d.requires_grad and d.is_leaf
    d[0, 0] = 9.0                        # .data shares storage
    assert float(x[0, 0]) == 9.0
    assert x.T.tolist() == [[9.0, 3.0], [2.0, 4.0]]


def test_contiguous():
    x = tc.arange(6.0).reshape(2, 3)
    assert x.is_contiguous() and x.contiguous() is x
    t = x.t()
    assert not t.is_contiguous() and t.contiguous().is_contiguous()
    assert t.contiguous().tolist() == t.tolist()


# --- dtype promotion -------------------------------------------------------------------------
def _make(lib, dtype, shape):
    return lib.ones(shape, dtype=getattr(lib, dtype))


@pytest.mark.parametrize("a", DTYPES)
@pytest.mark.parametrize("b", DTYPES)
def test_promotion_tensor_tensor(a, b):
    for sa, sb in [((2,), (2,)), ((2,), ()), ((), (2,)), ((), ())]:
        want = _make(torch, a, sa) + _make(torch, b, sb) if "bool" not in (a, b) or a == b \
            else torch.add(_make(torch, a, sa), _make(torch, b, sb))
        got = _make(tc, a, sa) + _make(tc, b, sb)
        assert _name(got.dtype) == _name(want.dtype), \
            f"{a}{list(sa)} + {b}{list(sb)}: tracecomp={got.dtype} | torch={want.dtype}"


@pytest.mark.parametrize("a", DTYPES)
@pytest.mark.parametrize("scalar", [True, 2, 2.5], ids=["bool", "int", "float"])
@pytest.mark.parametrize("op", ["add", "mul", "div", "lt"])
def test_promotion_tensor_scalar(a, scalar, op):
    for shape in [(2,), ()]:
        x, tx = _make(tc, a, shape), _make(torch, a, shape)
        want = getattr(torch, op)(tx, scalar)
        got = getattr(x, op)(scalar)
        assert _name(got.dtype) == _name(want.dtype), \
            f"{a}{list(shape)}.{op}({scalar!r}): tracecomp={got.dtype} | torch={want.dtype}"


@pytest.mark.parametrize("a", ["int64", "float32", "float16", "bool"])
@pytest.mark.parametrize("op", ["exp", "sqrt", "mean", "sum", "neg", "abs", "sigmoid"])
def test_unary_result_dtypes(a, op):
    x, tx = _make(tc, a, (3,)), _make(torch, a, (3,))
    try:
        want = getattr(tx, op)()
    except NotImplementedError:
        pytest.skip(f"torch has no {op} kernel for {a}")
    except RuntimeError:
        with pytest.raises(RuntimeError):
            getattr(x, op)()
        return
    assert_close(getattr(x, op)(), want)


def test_reverse_scalar_ops_dtypes():
    i = tc.tensor([1, 2])
    assert (2 - i).dtype == tc.int64 and (1.5 * i).dtype == tc.float32
    assert (1 / i).dtype == tc.float32 and (2 ** i).dtype == tc.int64
    assert (2.0 ** i).dtype == tc.float32


# --- repr ------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda lib: lib.tensor([1.0, 2.5]),
    lambda lib: lib.tensor([1, 2, 3]),
    lambda lib: lib.tensor([True, False]),
    lambda lib: lib.tensor(3.0),
    lambda lib: lib.tensor([[1.0, 2.0], [3.0, 4.0]]),
    lambda lib: lib.tensor([1.0, 2.0], dtype=lib.float64),
    lambda lib: lib.tensor([1.0, 2.0], requires_grad=True),
    lambda lib: lib.zeros(0),
    lambda lib: lib.tensor([float("nan"), -0.0, float("inf"), -float("inf")]),
    lambda lib: lib.tensor(_CORPUS["scaled"]),
    lambda lib: lib.tensor(_CORPUS["long"]),
    lambda lib: lib.tensor(_CORPUS["wide"]),
    lambda lib: lib.tensor(_CORPUS["f16"]),
    lambda lib: lib.tensor(_CORPUS["ints"]),
    lambda lib: lib.tensor([1e-10, 1.0]),
    lambda lib: lib.tensor([1e20, 1.0]),
    lambda lib: lib.zeros(0, 3),
    lambda lib: lib.tensor([0.1, 0.25], dtype=lib.float64, requires_grad=True) * 2,
], ids=["float", "int", "bool", "0d", "2d", "f64", "requires_grad", "empty", "nan_inf_negzero",
        "scaled", "summarized", "wide_rows", "f16", "int32_summarized", "tiny", "huge",
        "empty_2d", "grad_fn"])
def test_repr_matches_torch(make):
    for show in (repr, str):
        got = show(make(tc)).replace("tracecomp.", "torch.")
        assert got == show(make(torch)), f"tracecomp={got} | torch={show(make(torch))}"


_rng = np.random.default_rng(0)
_CORPUS = {"scaled": _rng.standard_normal((3, 4)).astype(np.float32) * 1e6,
           "long": _rng.standard_normal(2000).astype(np.float32),
           "wide": _rng.standard_normal((30, 40)),
           "f16": _rng.standard_normal((2, 3, 4)).astype(np.float16),
           "ints": _rng.integers(-5, 5, 1200).astype(np.int32)}


def test_printoptions_apply_as_torchs():
    x = np.linspace(-1, 1, 7, dtype=np.float32) / 3
    for opts in ({"precision": 2}, {"sci_mode": True}, {"threshold": 5, "edgeitems": 2},
                 {"linewidth": 30}):
        with tc.printoptions(**opts):
            got = repr(tc.tensor(x))
        with torch._tensor_str.printoptions(**opts):
            want = repr(torch.tensor(x))
        assert got == want, (opts, got, want)


def test_repr_grad_fn():
    x = tc.tensor([1.0], requires_grad=True)
    assert "grad_fn=<MulBackward0>" in repr(x * 2)


def test_deepcopy_of_leaf_copies_storage_and_grad_like_torch():
    import copy
    x = tc.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    y = copy.deepcopy(x)
    assert y is not x and y.requires_grad and y.is_leaf
    assert y.grad.tolist() == [3.0, 3.0] and y.grad is not x.grad
    y.data.mul_(0)
    assert x.tolist() == [1.0, 2.0]
    with pytest.raises(RuntimeError, match="Only Tensors created explicitly by the user"):
        copy.deepcopy(x * 2)


def test_inf_and_nan_results_are_silent_as_in_torch_and_user_numpy_still_warns():
    import subprocess
    import sys
    code = ("import numpy as np, tracecomp as tc\n"
            "assert tc.log(tc.zeros(2)).tolist() == [float('-inf')] * 2\n"
            "(tc.zeros(1) / tc.zeros(1), tc.tensor([1e38]) * 10)\n"
            "try:\n    np.log(np.zeros(1))\nexcept RuntimeWarning:\n    print('warned')\n")
    out = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", code],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "warned"


def test_pickle_and_copy_as_torch():
    """pickle (DataLoader workers, multiprocessing) and copy.copy (matplotlib copies what
    it plots) behave as torch's: values, dtype, requires_grad, Parameter kept, no history;
    copy.copy shares memory"""
    import copy
    import pickle
    for lib in (torch, tc):
        w = lib.ones(2, requires_grad=True)
        y = w * 2
        for x in (lib.arange(6.0).reshape(2, 3)[:, 1:], lib.tensor([1, 2], dtype=lib.int32),
                  lib.tensor(True), w, y):
            back = pickle.loads(pickle.dumps(x))
            assert back.dtype == x.dtype and back.requires_grad == x.requires_grad
            assert back.is_leaf and back.grad_fn is None
            assert (back.detach() == x.detach()).all()
        p = pickle.loads(pickle.dumps(lib.nn.Parameter(lib.ones(2))))
        assert type(p).__name__ == "Parameter" and p.requires_grad
        assert type(copy.copy(lib.nn.Parameter(lib.ones(2)))).__name__ == "Parameter"
        t = lib.arange(3.0)
        c = copy.copy(t)
        c[0] = 9
        assert t[0].item() == 9 and c is not t
        cy = copy.copy(y)
        assert cy.requires_grad and cy.grad_fn is None
    f = tc.compile(lambda x: copy.copy(x * 2))
    with pytest.raises(TypeError, match="inside compiled code cannot be copied"):
        f(tc.ones(2))


@pytest.mark.parametrize("expr", ["L.max(t, 1)", "t.min(0)", "L.sort(t[0])", "t.topk(1)",
                                  "L.aminmax(t)", "L.linalg.svd(L.eye(2))", "L.svd(L.eye(2))",
                                  "L.median(t, 1)", "L.cummax(t, 0)"])
def test_return_types_print_and_name_as_torch(expr):
    """torch.return_types: the class is the op's own (isinstance with it works), and it
    prints one field a line as torch's (tutorials print torch.max(t, 1))"""
    def run(lib):
        t = lib.tensor([[1.0, 3.0], [4.0, 2.0]])
        return eval(expr, {"L": lib, "t": t})
    got, want = run(tc), run(torch)
    assert type(got).__name__ == type(want).__name__
    assert isinstance(got, getattr(tc.return_types, type(got).__name__))
    assert repr(got) == repr(want).replace("torch.", "tracecomp.")


def test_a_zero_dim_integer_tensor_index_is_an_int():
    """x[t] with t = tensor(3) is x[3], as torch reads it: a view (writes reach x), a
    SelectBackward0 node, and x[t] += r in place (makemore part 4's dC[ix] += ...); it took
    the advanced-indexing path at 20x the cost."""
    import torch
    for lib in (tc, torch):
        x = lib.zeros(5, 3)
        x[lib.tensor(1)].fill_(7.0)
        x[lib.tensor(2)] += lib.ones(3)
        assert x[1].tolist() == [7.0] * 3 and x[2].tolist() == [1.0] * 3
        w = lib.ones(5, 3, requires_grad=True)
        assert type(w[lib.tensor(4)].grad_fn).__name__ == "SelectBackward0"
        w[lib.tensor(4)].sum().backward()
        assert w.grad.sum().item() == 3.0


def test_numpy_functions_on_a_tensor_give_a_tensor_as_torchs_do():
    """np.clip(t, 0, 1) (udacity's denoising autoencoder) gave an ndarray, which conv2d
    then refused; ufuncs and numpy scalars meet a tensor as torch's: tensors back, bool
    results as uint8, and np.float32(0.5) * loss keeps its history."""
    import torch
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    cases = {"clip": lambda t: np.clip(t, 0.0, 1.0), "exp": np.exp, "abs": np.abs,
             "maximum": lambda t: np.maximum(t, 0), "round": np.round,
             "transpose": np.transpose, "reshape": lambda t: np.reshape(t, (-1,)),
             "cumsum": np.cumsum, "isnan": np.isnan, "sign": np.sign}
    for name, f in cases.items():
        want, got = f(torch.tensor(x)), f(tc.tensor(x))
        assert isinstance(got, tc.Tensor), name
        assert str(got.dtype).split(".")[1] == str(want.dtype).split(".")[1], name
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, err_msg=name)
    w = tc.ones(2, requires_grad=True)
    scaled = np.float32(0.5) * w
    assert isinstance(scaled, tc.Tensor) and scaled.grad_fn is not None
    scaled.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [0.5, 0.5])


def test_tensor_new_the_legacy_constructor():
    import torch
    for lib in (tc, torch):
        x = lib.ones(2, dtype=lib.float64)
        assert tuple(x.new(2, 3).shape) == (2, 3) and x.new(2, 3).dtype == lib.float64
        assert x.new([1, 2]).tolist() == [1.0, 2.0]
        assert x.new((2, 3)).tolist() == [2.0, 3.0]          # a tuple is data
        assert tuple(x.new(lib.Size([2, 3])).shape) == (2, 3)    # a Size is a shape
        assert tuple(x.new().shape) == (0,)
        assert x.new(4, 5).zero_().sum().item() == 0.0
        y = lib.tensor([5.0], dtype=lib.float64)
        alias = x.new(y)
        alias[0] = 7.0
        assert alias is not y and y.item() == 7.0       # y's memory
        with pytest.raises(TypeError):
            x.new(lib.tensor([5, 6]))
