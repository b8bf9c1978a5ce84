"""The 'meta' device against torch: tensors with a shape and dtype but no data, ops on them
by shape inference, torch's errors for reading values, modules on meta (factory kwargs,
.to('meta'), to_empty, load_state_dict(assign=True)), and the torch.func ensembling
pattern (functional_call of a meta copy of a model under vmap)."""
import copy
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc
from tests.helpers import assert_close, to_tc


def _spec(t):
    """What a meta tensor has: shape, dtype name, device, requires_grad. (Not strides: a
    view on a device is a contiguous copy of its part here, device_array.py.)"""
    return (tuple(t.shape), str(t.dtype).split(".")[-1], str(t.device), t.requires_grad,
            t.is_meta)


def _both(fn):
    """fn(lib) on tracecomp and on torch; their results' specs must agree."""
    got, want = fn(tc), fn(torch)
    got, want = (got, want) if isinstance(got, tuple) else ((got,), (want,))
    for g, w in zip(got, want, strict=True):
        assert _spec(g) == _spec(w), f"tracecomp={_spec(g)} | torch={_spec(w)}"
        assert repr(g).replace("tracecomp.", "torch.") == repr(w)


def test_meta_tensors_made_every_way():
    _both(lambda lib: lib.empty(2, 3, device="meta"))
    _both(lambda lib: lib.randn(4, 5, device=lib.device("meta"), requires_grad=True))
    _both(lambda lib: lib.zeros(3, dtype=lib.int64, device="meta"))
    _both(lambda lib: lib.ones(0, device="meta"))
    _both(lambda lib: lib.empty(2, dtype=lib.complex64, device="meta"))
    _both(lambda lib: lib.arange(6, device="meta"))
    _both(lambda lib: lib.tensor([1.0, 2.0], device="meta"))
    _both(lambda lib: lib.ones(2, 3).to("meta"))
    _both(lambda lib: lib.ones(2, 3).to(lib.device("meta"), lib.float64))
    _both(lambda lib: lib.empty_like(lib.ones(2, 3), device="meta"))
    _both(lambda lib: lib.ones(2, 3, device="meta").new_zeros(4))

    def under_default(lib):
        with lib.device("meta"):
            return lib.randn(3, 2)
    _both(under_default)
    assert tc.device("meta") == tc.empty(1, device="meta:0").device
    assert not tc.ones(1).is_meta and tc.ones(1, device="meta").is_meta
    assert tc.empty(2, 3, 4, device="meta").stride() == (12, 4, 1)


def test_meta_creation_allocates_and_draws_nothing():
    """4 TB of float32 on meta, a model built under `with device('meta')` and nn.init on
    meta: no memory, and the random generator does not move (torch's does not either; not
    run here: torch's first meta normal_ takes seconds)."""
    tc.manual_seed(0)
    want = tc.rand(3)
    tc.manual_seed(0)
    huge = tc.randn(10 ** 6, 10 ** 6, device="meta")
    with tc.device("meta"):
        model = tc.nn.Sequential(tc.nn.Linear(4096, 4096), tc.nn.Linear(4096, 10))
    tc.nn.init.normal_(model[0].weight)
    assert huge.shape == (10 ** 6, 10 ** 6) and model[0].weight.is_meta
    assert tc.equal(tc.rand(3), want)


def test_meta_ops_infer_shapes_and_dtypes():
    def ops(lib):
        F = lib.nn.functional
        x = lib.randn(2, 3, 8, 8, device="meta", requires_grad=True)
        w = lib.randn(4, 3, 3, 3, device="meta")
        a = lib.randn(5, 7, device="meta")
        i = lib.zeros(5, dtype=lib.int64, device="meta")
        return (F.conv2d(x, w, padding=1), x.sum((2, 3)), a @ a.t(), F.softmax(a, 1),
                a.reshape(7, 5), a.transpose(0, 1), a[1:, ::2], lib.cat([a, a], 1),
                a + i[:, None], i * 2, i / 2, F.cross_entropy(a, i), a.max(1).values,
                a.max(1).indices, F.layer_norm(a, (7,)), a.unsqueeze(0).expand(3, 5, 7),
                a[i], a.to(lib.float16), lib.stack([a, a]), a.mean(), a.argmax())
    _both(ops)


def test_meta_bad_shapes_raise_as_on_real_tensors():
    a, b = tc.zeros(2, 3, device="meta"), tc.zeros(4, 5, device="meta")
    with pytest.raises(RuntimeError):
        torch.zeros(2, 3, device="meta") @ torch.zeros(4, 5, device="meta")
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        a @ b
    with pytest.raises(RuntimeError):
        a + b


@pytest.mark.parametrize("read", [
    lambda t: t.item(), lambda t: t.sum().item(), lambda t: float(t.sum()),
    lambda t: bool(t.sum()), lambda t: t.numpy(), lambda t: t.tolist(), lambda t: t.cpu(),
    lambda t: t.to("cpu"), lambda t: t + t.new_ones(2, 3, device="cpu"),
    lambda t: t.new_ones(2, 3, device="cpu") + t,
])
def test_reading_values_raises_torchs_errors(read):
    with pytest.raises(Exception) as want:
        read(torch.ones(2, 3, device="meta"))
    with pytest.raises(type(want.value)) as got:
        read(tc.ones(2, 3, device="meta"))
    assert str(want.value).split(";")[0] in str(got.value)


def test_meta_gradients_are_meta():
    x = tc.randn(3, 4, device="meta", requires_grad=True)
    w = tc.randn(4, 2, device="meta", requires_grad=True)
    y = tc.tanh(x @ w).sum()
    assert repr(y).endswith("grad_fn=<SumBackward0>)")
    y.backward()
    assert x.grad.is_meta and x.grad.shape == x.shape and w.grad.shape == (4, 2)
    (gx,) = tc.autograd.grad((x * 2).sum(), x)
    assert gx.is_meta and gx.shape == (3, 4)


def test_copies_and_pickles_of_meta_tensors():
    import pickle
    model = tc.nn.Linear(3, 2, device="meta")
    for copied in (copy.deepcopy(model).weight, pickle.loads(pickle.dumps(model.weight)),
                   model.weight.clone(), model.weight.detach()):
        assert copied.is_meta and copied.shape == (2, 3)
    again = pickle.loads(pickle.dumps(model.weight))
    assert isinstance(again, tc.nn.Parameter) and again.requires_grad
    assert model.weight.data_ptr() == torch.empty(1, device="meta").data_ptr() == 0


def test_in_place_on_meta_keeps_it_meta():
    y = tc.zeros(3, device="meta")
    y.add_(1)
    y[0] = 5.0
    tc.nn.init.kaiming_uniform_(w := tc.empty(4, 3, device="meta"))
    assert y.is_meta and y.shape == (3,) and w.is_meta


def _layers(lib, **kw):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(3, 4, 3, **kw), nn.BatchNorm2d(4, **kw), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, 5, **kw), nn.LayerNorm(5, **kw))


@pytest.mark.parametrize("make", ["factory_kwargs", "device_block", "to_meta"])
def test_modules_on_meta(make):
    def build(lib):
        if make == "factory_kwargs":
            return _layers(lib, device=lib.device("meta"))
        if make == "device_block":
            with lib.device("meta"):
                return _layers(lib)
        return _layers(lib).to("meta")
    ours, ref = build(tc), build(torch)
    for (name, p), (_, q) in zip(ours.state_dict().items(), ref.state_dict().items(),
                                 strict=True):
        assert _spec(p) == _spec(q), name
    out, want = ours(tc.randn(2, 3, 8, 8, device="meta")), ref(torch.randn(2, 3, 8, 8,
                                                                             device="meta"))
    assert _spec(out) == _spec(want)


@pytest.mark.parametrize("layer", ["attention", "transformer", "lstm", "embedding"])
def test_layers_with_children_on_meta(layer):
    """device= reaches the submodules a layer builds itself (MultiheadAttention's
    out_proj, a transformer layer's parts)."""
    def build(lib):
        nn, kw = lib.nn, {"device": lib.device("meta")}
        x = lib.randn(2, 3, 8, device="meta")
        made = {"attention": lambda: (nn.MultiheadAttention(8, 2, batch_first=True, **kw),
                                      (x, x, x)),
                "transformer": lambda: (nn.TransformerEncoderLayer(8, 2, 16, batch_first=True,
                                                                   **kw), (x,)),
                "lstm": lambda: (nn.LSTM(8, 5, batch_first=True, **kw), (x,)),
                "embedding": lambda: (nn.Embedding(10, 4, **kw),
                                      (lib.zeros(2, 3, dtype=lib.int64, device="meta"),))}
        module, args = made[layer]()
        out = module(*args)
        return module, out[0] if isinstance(out, tuple) else out
    (ours, out), (ref, want) = build(tc), build(torch)
    for (name, p), (_, q) in zip(ours.state_dict().items(), ref.state_dict().items(),
                                 strict=True):
        assert _spec(p) == _spec(q), name
    assert _spec(out) == _spec(want)


@pytest.mark.parametrize("how", ["factory_kwargs", "device_block"])
def test_lazy_modules_materialize_on_meta(how):
    def run(lib):
        def made():
            kw = {"device": "meta"} if how == "factory_kwargs" else {}
            return lib.nn.Sequential(lib.nn.LazyConv2d(4, 3, **kw), lib.nn.Flatten(),
                                     lib.nn.LazyLinear(5, **kw))
        if how == "device_block":
            with lib.device("meta"):
                model = made()
        else:
            model = made()
        out = model(lib.randn(2, 3, 6, 6, device="meta"))
        return model, out
    (ours, out), (ref, want) = run(tc), run(torch)
    for (name, p), (_, q) in zip(ours.state_dict().items(), ref.state_dict().items(),
                                 strict=True):
        assert _spec(p) == _spec(q), name
    assert _spec(out) == _spec(want)


def test_to_empty_then_reset_or_load_gives_torchs_values():
    ref = _layers(torch).eval()
    state = {k: to_tc(v) for k, v in ref.state_dict().items()}
    x = torch.randn(2, 3, 8, 8)
    ours = _layers(tc, device="meta").eval()
    ours.to_empty(device="cpu")
    assert all(not p.is_meta for p in ours.parameters())
    for m in ours.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    assert_close(ours[1].running_var, torch.ones(4))     # reset_parameters' values
    ours.load_state_dict(state)
    assert_close(ours(to_tc(x)), ref(x), rtol=1e-4, atol=1e-5)


def test_load_state_dict_into_meta_module():
    ref = torch.nn.Linear(3, 2)
    state = {k: to_tc(v) for k, v in ref.state_dict().items()}
    ours = tc.nn.Linear(3, 2, device="meta")
    with pytest.warns(UserWarning, match="which is a no-op"):
        ours.load_state_dict(state)
    assert ours.weight.is_meta
    ours.load_state_dict(state, assign=True)
    assert isinstance(ours.weight, tc.nn.Parameter) and ours.weight.requires_grad
    x = torch.randn(4, 3)
    assert_close(ours(to_tc(x)), ref(x))


def test_ensembling_with_a_meta_base_model_under_vmap():
    """The torch.func tutorial's pattern: stack the models' states, run a meta copy of one
    model through functional_call under vmap; values and gradients as torch's."""
    def run(lib, models, x):
        params, buffers = lib.func.stack_module_state(models)
        base = copy.deepcopy(models[0]).to("meta")

        def fmodel(params, buffers, x):
            return lib.func.functional_call(base, (params, buffers), (x,))
        out = lib.vmap(fmodel)(params, buffers, x)
        same = lib.vmap(fmodel, in_dims=(0, 0, None))(params, buffers, x[0])
        out.square().sum().backward()
        return out, same, params["0.weight"].grad

    refs = [torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
            for _ in range(3)]
    ours = [tc.nn.Sequential(tc.nn.Linear(6, 5), tc.nn.ReLU(), tc.nn.Linear(5, 3))
            for _ in range(3)]
    for o, r in zip(ours, refs):
        o.load_state_dict({k: to_tc(v) for k, v in r.state_dict().items()})
    x = torch.randn(3, 4, 6)
    for g, w in zip(run(tc, ours, to_tc(x)), run(torch, refs, x)):
        assert_close(g, w, rtol=1e-4, atol=1e-5)


def test_compiled_meta_call_is_a_graph_break():
    f = tc.compile(lambda x: (x * 2).sum(1), fullgraph=True)
    with pytest.raises(tc.errors.TraceError, match="meta tensors"):
        f(tc.randn(2, 3, device="meta"))
    g = tc.compile(lambda x: (x * 2).sum(1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = g(tc.randn(2, 3, device="meta"))
    assert out.is_meta and out.shape == (2,)
    assert np.array_equal(g(tc.ones(2, 3)).numpy(), [6.0, 6.0])
