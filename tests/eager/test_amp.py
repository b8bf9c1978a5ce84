"""Autocast and GradScaler vs torch's CPU build: what warns and disables itself, what raises
instead of silently differing, and GradScaler's real loss scaling on the CPU step for step."""
import copy
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close


def _warnings(fn):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        result = fn()
    # numpy's RuntimeWarnings on inf/nan arithmetic (a disabled scaler steps on inf grads)
    # are not what is compared here
    return result, [(w.category, str(w.message).replace("torch.", "").replace("tracecomp.", ""))
                    for w in record if w.category is not RuntimeWarning]


def _autocast_state(lib, *args, **kwargs):
    def run():
        with lib.autocast(*args, **kwargs) as ctx:
            return (lib.is_autocast_enabled(), lib.is_autocast_enabled("cuda"),
                    lib.is_autocast_enabled("cpu"), ctx._enabled)
    return run


@pytest.mark.parametrize("args,kwargs", [
    (("cuda",), {}), (("cuda",), {"dtype": "float16"}), (("cuda",), {"enabled": False}),
    (("cpu",), {"dtype": "float32"}), (("cpu",), {"dtype": "float64"}),
    (("cpu",), {"enabled": False}), (("mps",), {})], ids=str)
def test_autocast_warns_and_disables_itself_like_torch(args, kwargs):
    kw_tc = {k: getattr(tc, v) if k == "dtype" else v for k, v in kwargs.items()}
    kw_torch = {k: getattr(torch, v) if k == "dtype" else v for k, v in kwargs.items()}
    got = _warnings(_autocast_state(tc, *args, **kw_tc))
    want = _warnings(_autocast_state(torch, *args, **kw_torch))
    assert got == want
    assert not tc.is_autocast_enabled("cuda") and not tc.is_autocast_enabled("mps")


@pytest.mark.parametrize("kwargs", [{}, {"dtype": "bfloat16"}, {"dtype": "float16"}], ids=str)
def test_cpu_autocast_enters_and_sets_state_as_torch(kwargs):
    # what autocast('cpu') then computes: tests/bfloat16/test_autocast_cpu.py
    for lib in (tc, torch):
        kw = {k: getattr(lib, v) for k, v in kwargs.items()}
        with lib.autocast("cpu", **kw):
            state = (lib.is_autocast_enabled("cpu"), str(lib.get_autocast_dtype("cpu")))
        after = lib.is_autocast_enabled("cpu")
        if lib is tc:
            got = (state[0], state[1].replace("tracecomp.", "torch."), after)
    assert got == (state[0], state[1], after)


def test_autocast_as_a_decorator_and_the_deprecated_spellings():
    assert _warnings(lambda: tc.autocast("cuda")(lambda x: x + 1)(1)) == \
        _warnings(lambda: torch.autocast("cuda")(lambda x: x + 1)(1))
    for spell in (lambda lib: lib.cuda.amp.autocast(), lambda lib: lib.amp.autocast("cuda")):
        got, want = _warnings(lambda s=spell: s(tc)), _warnings(lambda s=spell: s(torch))
        assert got[1] == want[1]
    _, got = _warnings(lambda: tc.cpu.amp.autocast(enabled=False))
    _, want = _warnings(lambda: torch.cpu.amp.autocast(enabled=False))
    assert got == want
    with pytest.raises(ValueError, match="Expected `device_type` of type `str`"):
        tc.autocast(0)
    with pytest.raises(RuntimeError) as want_exc:
        torch.autocast("foo")
    with pytest.raises(RuntimeError, match=str(want_exc.value)):
        tc.autocast("foo")


def test_autocast_state_functions():
    assert tc.get_autocast_dtype("cuda") is tc.float16
    assert tc.get_autocast_dtype("cpu") is tc.bfloat16
    assert tc.amp.is_autocast_available("cuda") and tc.amp.is_autocast_available("cpu")
    assert tc.is_autocast_cache_enabled() == torch.is_autocast_cache_enabled()
    tc.set_autocast_dtype("cuda", tc.float32)
    try:
        assert tc.get_autocast_dtype("cuda") is tc.float32
        with pytest.warns(DeprecationWarning):
            assert tc.get_autocast_gpu_dtype() is tc.float32
    finally:
        tc.set_autocast_dtype("cuda", tc.float16)
    tc.set_autocast_enabled(True)          # the legacy form: CUDA, no tensor lives there
    assert tc.is_autocast_enabled()
    tc.set_autocast_enabled(False)
    assert not tc.is_autocast_enabled()


def test_custom_fwd_and_custom_bwd_record_the_autocast_state():
    class Ctx:
        pass

    @tc.amp.custom_fwd(device_type="cuda", cast_inputs=tc.float16)
    def fwd(ctx, x):
        return x * 2

    @tc.amp.custom_bwd(device_type="cuda")
    def bwd(ctx, g):
        return g, tc.is_autocast_enabled("cuda")

    ctx, x = Ctx(), tc.ones(2)
    assert fwd(ctx, x).dtype == tc.float32            # autocast off: inputs untouched
    assert ctx._fwd_used_autocast is False and ctx._dtype is tc.float16
    assert bwd(ctx, x)[1] is False


# --- GradScaler ---------------------------------------------------------------------------------
def _model(lib):
    torch.manual_seed(0)
    ref = torch.nn.Linear(3, 2)
    if lib is torch:
        return ref
    mod = tc.nn.Linear(3, 2)
    mod.load_state_dict({k: tc.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    return mod


def _run_scaler(lib, make, steps=6, poison=(2,)):
    """A short training loop with a scaler; at the steps in `poison` a gradient is inf."""
    model = _model(lib)
    opt = lib.optim.SGD(model.parameters(), lr=0.1)
    scaler = make(lib)
    x = lib.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3))
    trace = []
    for i in range(steps):
        opt.zero_grad()
        loss = model(x).pow(2).mean()
        scaled = scaler.scale(loss)
        scaled.backward()
        if i in poison:
            with lib.no_grad():
                model.weight.grad[0, 0] = float("inf")
        if i == 1:
            scaler.unscale_(opt)
            lib.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        trace.append((scaled.item(), scaler.step(opt), scaler.get_scale()))
        scaler.update()
        trace.append(scaler.get_scale())
    return model, scaler, trace


@pytest.mark.parametrize("make", [
    lambda L: L.amp.GradScaler("cpu", init_scale=8.0, growth_interval=2),
    lambda L: L.amp.GradScaler("cpu"),
    lambda L: L.amp.GradScaler("cpu", init_scale=2.0 ** 100, growth_factor=2.0 ** 14,
                             growth_interval=1),
    lambda L: L.amp.GradScaler("cuda"),
    lambda L: L.cuda.amp.GradScaler(),
    lambda L: L.amp.GradScaler("cpu", enabled=False)],
    ids=["cpu_growth", "cpu_default", "cpu_overflowing_growth", "cuda", "cuda_amp",
         "disabled"])
def test_grad_scaler_training_loop_matches_torch(make):
    (model, scaler, trace), got_warnings = _warnings(lambda: _run_scaler(tc, make))
    (ref, ref_scaler, ref_trace), want_warnings = _warnings(lambda: _run_scaler(torch, make))
    assert got_warnings == want_warnings
    assert len(trace) == len(ref_trace)
    for got, want in zip(trace, ref_trace):
        got, want = np.array(got, dtype=float), np.array(want, dtype=float)   # None: nan
        assert np.allclose(got, want, rtol=1e-6, equal_nan=True), f"tracecomp={got} | " \
                                                                   f"torch={want}"
    assert scaler.state_dict() == ref_scaler.state_dict()
    assert scaler.is_enabled() == ref_scaler.is_enabled()
    for k, v in model.state_dict().items():
        assert_close(v, ref.state_dict()[k], what=k)


@pytest.mark.parametrize("call", ["step", "update", "unscale_"])
def test_grad_scaler_misuse_raises_as_torch(call):
    for lib in (tc, torch):
        model = _model(lib)
        opt = lib.optim.SGD(model.parameters(), lr=0.1)
        with pytest.raises(AssertionError, match=f"Attempted {call} but _scale is None"):
            getattr(lib.amp.GradScaler("cpu"), call)(*(() if call == "update" else (opt,)))


def test_grad_scaler_stage_errors():
    for lib in (tc, torch):
        model = _model(lib)
        opt = lib.optim.SGD(model.parameters(), lr=0.1)
        scaler = lib.amp.GradScaler("cpu")
        scaler.scale(model(lib.ones(1, 3)).sum()).backward()
        scaler.unscale_(opt)
        with pytest.raises(RuntimeError, match="unscale_\\(\\) has already been called"):
            scaler.unscale_(opt)
        scaler.step(opt)
        with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
            scaler.step(opt)
        with pytest.raises(RuntimeError, match="Closure use is not currently supported"):
            scaler.step(opt, closure=lambda: 0)
        with pytest.raises(ValueError, match="outputs must be a Tensor"):
            scaler.scale(1.0)
        scaler.update(new_scale=4.0)
        assert scaler.get_scale() == 4.0
        with pytest.raises(AssertionError, match="new_scale should be a float"):
            scaler.update(new_scale=lib.ones(2))


def test_grad_scaler_scales_nested_outputs_and_refuses_fp16_grads():
    s, ts = tc.amp.GradScaler("cpu"), torch.amp.GradScaler("cpu")
    got = s.scale([tc.ones(1), (tc.ones(1, dtype=tc.float64) * 2,)])
    want = ts.scale([torch.ones(1), (torch.ones(1, dtype=torch.float64) * 2,)])
    assert_close(got[0], want[0]) and assert_close(got[1][0], want[1][0])
    assert got[1][0].dtype == tc.float64
    p = tc.nn.Parameter(tc.ones(2, dtype=tc.float16))
    p.grad = tc.ones(2, dtype=tc.float16)
    opt = tc.optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="Attempting to unscale FP16 gradients."):
        s.unscale_(opt)


def test_grad_scaler_state_dict_round_trip_and_copy():
    s = tc.amp.GradScaler("cpu", init_scale=16.0, growth_interval=3)
    s.scale(tc.ones(1))
    state = s.state_dict()
    t = tc.amp.GradScaler("cpu")
    t.load_state_dict(state)
    assert t.state_dict() == state == torch.amp.GradScaler("cpu", init_scale=16.0,
                                                           growth_interval=3).state_dict()
    assert copy.deepcopy(s).state_dict() == state
    disabled = tc.amp.GradScaler("cpu", enabled=False)
    assert disabled.state_dict() == {} and disabled.get_scale() == 1.0
    disabled.load_state_dict(state)                 # a no-op, as torch
    with pytest.raises(RuntimeError, match="The source state dict is empty"):
        t.load_state_dict({})
