"""Memory formats (torch.channels_last and friends): the strides each op gives, the errors,
and models laid out channels-last giving torch's numbers eagerly and compiled."""
import pickle

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close, assert_trains_like_torch, to_tc, to_torch

FORMATS = ["contiguous_format", "channels_last", "channels_last_3d", "preserve_format"]


def _both(shape):
    x = torch.randn(*shape)
    return x, to_tc(x)


def _outcome(fn):
    try:
        return fn()
    except Exception as e:      # noqa: BLE001 - the exception is what is compared
        return type(e).__name__, str(e)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (2, 3, 4, 5, 6), (3, 4), (1, 3, 1, 1)])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("op", [
    lambda m, x, f: x.to(memory_format=f).stride(),
    lambda m, x, f: x.clone(memory_format=f).stride(),
    lambda m, x, f: m.clone(x, memory_format=f).stride(),
    lambda m, x, f: x.contiguous(memory_format=f).stride(),
    lambda m, x, f: x.is_contiguous(memory_format=f),
    lambda m, x, f: m.zeros_like(x, memory_format=f).stride(),
    lambda m, x, f: m.empty_like(x, memory_format=f).stride(),
    lambda m, x, f: m.full_like(x, 2.0, memory_format=f).stride(),
    lambda m, x, f: m.randn_like(x, memory_format=f).stride(),
    lambda m, x, f: m.randint_like(x, 5, memory_format=f).stride(),
], ids=["to", "clone", "torch.clone", "contiguous", "is_contiguous", "zeros_like",
        "empty_like", "full_like", "randn_like", "randint_like"])
def test_strides_and_errors_are_torchs(op, fmt, shape):
    x_torch, x_tc = _both(shape)
    assert _outcome(lambda: op(tc, x_tc, getattr(tc, fmt))) == \
        _outcome(lambda: op(torch, x_torch, getattr(torch, fmt)))


@pytest.mark.parametrize("permute", [(0, 1, 3, 2), (0, 2, 3, 1), (3, 2, 1, 0)])
def test_preserve_format_keeps_a_dense_inputs_order(permute):
    x = torch.randn(2, 3, 4, 5).permute(*permute)
    y = tc.tensor(np.ascontiguousarray(x.numpy().transpose(np.argsort(permute)))).permute(
        *permute)
    assert y.stride() == x.stride()
    for fn in (lambda m, t: t.clone(), lambda m, t: m.zeros_like(t),
               lambda m, t: m.empty_like(t), lambda m, t: m.rand_like(t)):
        assert fn(tc, y).stride() == fn(torch, x).stride()
    assert_close(y.clone(), x.clone())


def test_a_formatted_tensor_keeps_its_values_and_already_laid_out_ones_are_returned():
    x = torch.randn(2, 3, 4, 5)
    y = to_tc(x)
    cl = y.to(memory_format=tc.channels_last)
    assert_close(cl, x)
    assert cl.to(memory_format=tc.channels_last) is cl
    assert cl.contiguous(memory_format=tc.channels_last) is cl
    assert cl.contiguous().stride() == (60, 20, 5, 1) and cl.contiguous().is_contiguous()
    # elementwise results keep the layout, as torch's
    t_cl = x.to(memory_format=torch.channels_last)
    assert (cl + 1).stride() == (t_cl + 1).stride()
    assert tc.relu(cl).stride() == torch.relu(t_cl).stride()
    assert cl.reshape(2, 60).stride() == t_cl.reshape(2, 60).stride()


def test_view_of_a_channels_last_tensor_raises_as_torch():
    cl = tc.randn(2, 3, 4, 5).to(memory_format=tc.channels_last)
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        cl.view(2, 60)


def test_bad_formats_raise_torchs_errors():
    x = tc.randn(2, 3, 4, 5)
    with pytest.raises(TypeError, match="must be torch.memory_format, not str"):
        x.contiguous(memory_format="channels_last")
    with pytest.raises(RuntimeError, match="preserve memory format is unsupported"):
        x.permute(0, 1, 3, 2).contiguous(memory_format=tc.preserve_format)


def test_formats_are_named_and_pickle_to_themselves():
    for name in FORMATS:
        fmt = getattr(tc, name)
        assert repr(fmt) == repr(getattr(torch, name)) == f"torch.{name}"
        assert isinstance(fmt, tc.memory_format)
        assert pickle.loads(pickle.dumps(fmt)) is fmt


def test_gradients_flow_through_a_format_change():
    x = torch.randn(2, 3, 4, 5, requires_grad=True)
    y = to_tc(x)
    for fmt_t, fmt_c in [(torch.channels_last, tc.channels_last),
                         (torch.contiguous_format, tc.contiguous_format)]:
        (x.to(memory_format=fmt_t) * torch.arange(5.0)).sum().backward()
        (y.to(memory_format=fmt_c) * tc.arange(5.0)).sum().backward()
    assert_close(y.grad, x.grad)


def _model(lib, conv3d=False):
    conv = lib.nn.Conv3d(3, 4, 3, padding=1) if conv3d else lib.nn.Conv2d(3, 4, 3, padding=1)
    norm = lib.nn.BatchNorm3d(4) if conv3d else lib.nn.BatchNorm2d(4)
    return lib.nn.Sequential(conv, norm, lib.nn.ReLU())


@pytest.mark.parametrize("dims,fmt", [(2, "channels_last"), (3, "channels_last_3d"),
                                      (3, "channels_last")])
def test_module_to_lays_out_four_and_five_dim_parameters_as_torch(dims, fmt):
    torch.manual_seed(0)
    ref = _model(torch, conv3d=dims == 3)
    ours = _model(tc, conv3d=dims == 3)
    got = _outcome(lambda: ours.to(memory_format=getattr(tc, fmt)))
    want = _outcome(lambda: ref.to(memory_format=getattr(torch, fmt)))
    if isinstance(want, tuple):
        assert got == want
        return
    assert [p.stride() for p in ours.parameters()] == [p.stride() for p in ref.parameters()]


class _Net:
    """A small CNN in either library with torch's weights."""

    @staticmethod
    def build(lib):
        return lib.nn.Sequential(
            lib.nn.Conv2d(3, 8, 3, padding=1), lib.nn.BatchNorm2d(8), lib.nn.ReLU(),
            lib.nn.MaxPool2d(2), lib.nn.Conv2d(8, 8, 3, stride=2), lib.nn.ReLU(),
            lib.nn.AdaptiveAvgPool2d(1), lib.nn.Flatten(), lib.nn.Linear(8, 4))


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_a_channels_last_cnn_trains_as_torchs(compiled):
    torch.manual_seed(0)
    ref = _Net.build(torch)
    ours = _Net.build(tc)
    ours.load_state_dict({k: to_tc(v) for k, v in ref.state_dict().items()})
    ref = ref.to(memory_format=torch.channels_last)
    ours = ours.to(memory_format=tc.channels_last)
    run = tc.compile(ours) if compiled else ours
    opts = (torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9),
            tc.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9))
    batches = [(torch.randn(4, 3, 16, 16).to(memory_format=torch.channels_last),
                torch.randint(0, 4, (4,))) for _ in range(3)]

    def loss_of(lib, model, batch):
        x, target = batch
        return lib.nn.functional.cross_entropy(
            model(x.contiguous(memory_format=lib.channels_last)), target)
    assert_trains_like_torch(ref, run, ours, opts, batches, loss_of)


def test_compiled_code_changes_formats_with_eagers_values():
    def f(x):
        y = (x * 2).contiguous(memory_format=tc.channels_last)
        z = y.to(memory_format=tc.contiguous_format) + tc.zeros_like(y, memory_format=tc.
                                                                     channels_last)
        return z.clone(memory_format=tc.channels_last).sum(dim=(2, 3))

    x = tc.randn(2, 3, 4, 5).to(memory_format=tc.channels_last)
    assert_close(tc.compile(f, fullgraph=True)(x), f(x))
    assert_close(f(x), to_torch(x).mul(2).sum(dim=(2, 3)))


def test_compiled_code_checks_a_formats_rank():
    def f(x):
        return x.contiguous(memory_format=tc.channels_last) + 1

    with pytest.raises(RuntimeError, match="required rank 4 tensor to use channels_last"):
        tc.compile(f, fullgraph=True)(tc.randn(3, 4))
