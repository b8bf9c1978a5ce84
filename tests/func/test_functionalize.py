"""torch.func.functionalize and replace_all_batch_norm_modules_ against torch: results,
the inputs' in-place updates (applied at the end), results that share no memory with the
inputs, composition with grad and vmap, compiled calls, torch's error for a bad `remove`;
batch norms without running statistics, in eval and under vmap."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tests.helpers import assert_close, raised, to_tc

rng = np.random.default_rng(0)


def _updates(x, w):
    """In-place updates of an input through a view, of an intermediate, of a kwarg."""
    y = x.view(-1)
    y.add_(1)
    z = x * 2
    z.mul_(w)
    w.sub_(0.5)
    return y, z, x


@pytest.mark.parametrize("remove", ["mutations", "mutations_and_views"])
def test_results_updates_and_no_aliasing_as_torch(remove):
    x0, w0 = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    runs = {}
    for lib in (tc, torch):
        x, w = lib.tensor(x0), lib.tensor(w0)
        outs = lib.func.functionalize(lambda x, *, w: _updates(x, w), remove=remove)(x, w=w)
        assert outs[2] is not x
        outs[0].add_(100.0)         # the results share no memory with x
        outs[2].add_(100.0)
        runs[lib] = (*outs, x, w)
    for got, want in zip(runs[tc], runs[torch]):
        assert_close(got, want)


def test_composes_with_grad_and_vmap_as_torch():
    def loss(lib):
        def f(x):
            y = x.clone()
            y.mul_(y)
            y[1:].add_(x[:-1])      # through a view of the intermediate
            return (y.sin() * x).sum()
        return f
    x0 = rng.standard_normal(4)
    got = tc.func.grad(tc.func.functionalize(loss(tc)))(tc.tensor(x0))
    want = torch.func.grad(torch.func.functionalize(loss(torch)))(torch.tensor(x0))
    assert_close(got, want)

    def bump(a):
        a.add_(1)
        return a.sum()
    b, tb = tc.zeros(2, 3), torch.zeros(2, 3)
    assert_close(tc.func.vmap(tc.func.functionalize(bump))(b),
                 torch.func.vmap(torch.func.functionalize(bump))(tb))
    assert_close(b, tb)             # the batch's in-place update reached the input


def test_compiled_functionalize_matches_eager():
    x0, w0 = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    f = tc.func.functionalize(_updates)
    eager_in = [tc.tensor(x0), tc.tensor(w0)]
    compiled_in = [tc.tensor(x0), tc.tensor(w0)]
    want = f(*eager_in)
    got = tc.compile(f)(*compiled_in)
    for g, w in zip((*got, *compiled_in), (*want, *eager_in)):
        assert_close(g, w)


def test_bad_remove_is_torchs_error():
    errors = [raised(lib, lambda lib: lib.func.functionalize(abs, remove="views"))
              for lib in (tc, torch)]
    assert type(errors[0]) is type(errors[1]) and str(errors[0]) == str(errors[1])


def _bn_model(lib):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(12, 4), nn.BatchNorm1d(4))


def test_replace_all_batch_norm_modules_as_torch():
    ref = _bn_model(torch)
    ours = _bn_model(tc)
    ours.load_state_dict({k: to_tc(v) for k, v in ref.state_dict().items()})
    assert tc.func.replace_all_batch_norm_modules_(ours) is ours
    torch.func.replace_all_batch_norm_modules_(ref)
    assert list(ours.state_dict()) == list(ref.state_dict())
    for m in (ours[1], ours[5]):
        assert m.running_mean is None and m.running_var is None
        assert m.num_batches_tracked is None and not m.track_running_stats
    x = torch.randn(5, 2, 4, 4)
    ours.eval(), ref.eval()         # eval now normalizes with the batch's statistics
    assert_close(ours(to_tc(x)), ref(x), rtol=1e-4, atol=1e-5)

    # per-model batches through one stacked state (vmap), as the ensembling recipe does
    def run(lib, model, xs):
        params, buffers = lib.func.stack_module_state([model, model])
        return lib.vmap(lambda p, b, x: lib.func.functional_call(model, (p, b), (x,)))(
            params, buffers, xs)
    xs = torch.randn(2, 5, 2, 4, 4)
    assert_close(run(tc, ours, to_tc(xs)), run(torch, ref, xs), rtol=1e-4, atol=1e-5)
