"""In-place updates (passes/donation.py): a compiled step writes the new parameters,
momentum buffers and running statistics over the old arrays, as torch's in-place optimizer
does, where nothing can tell; where something could (a kernel reading the input at another
index, another input sharing the array), it computes into a buffer of its own. Either way
the values are eager's (and torch's)."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp import nn

from helpers import assert_close, compiled_step, to_tc


def _runner(compiled):
    """The forward runner of the artifact a compiled function ran last."""
    return getattr(compiled, "_compiled", compiled).last.run_forward


def _pair():
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 4))
    for p, q in zip(model.parameters(), ref.parameters()):
        with tc.no_grad():
            p.copy_(to_tc(q))
    return ref, model


def test_whole_step_updates_parameters_and_momentum_in_place_like_torch():
    ref, model = _pair()
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9)
    opt = tc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    step = compiled_step(model, opt)
    x, y = torch.randn(8, 12), torch.randint(0, 4, (8,))
    views = [p.detach() for p in model.parameters()]   # share the parameters' memory
    ref_views = [p.detach() for p in ref.parameters()]
    for _ in range(4):
        ref_opt.zero_grad()
        torch.nn.functional.cross_entropy(ref(x), y).backward()
        ref_opt.step()
        step(to_tc(x), to_tc(y))
    runner = _runner(step)
    assert len(runner.donated) == 8         # 4 parameters and their 4 momentum buffers
    assert all("in place" in line for line in runner.donation_log)
    for p, q, v, w in zip(model.parameters(), ref.parameters(), views, ref_views):
        assert_close(p, q, what="parameter")
        assert_close(v, w, what="a view taken before the steps")    # saw every update
        assert_close(opt.state[p]["momentum_buffer"], ref_opt.state[q]["momentum_buffer"])
    assert "written over input" in step.memory_log


def test_batchnorm_running_statistics_are_updated_in_place():
    torch.manual_seed(1)
    ref = torch.nn.BatchNorm1d(6)
    bn = nn.BatchNorm1d(6)
    compiled = tc.compile(bn)
    mean = bn.running_mean
    array = mean.numpy()
    for _ in range(3):
        x = torch.randn(10, 6)
        want, got = ref(x), compiled(to_tc(x))
        assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert bn.running_mean is mean and bn.running_mean.numpy() is array
    assert_close(array, ref.running_mean, what="running_mean")
    assert_close(bn.running_var, ref.running_var, what="running_var")
    assert _runner(compiled).donated


def test_an_update_that_reads_other_elements_is_not_written_in_place():
    def shift(x):
        x.copy_(x.flip(0) + x.sum())     # element i reads element n-1-i: in place would clash
        return x.sum() * 2               # (x * 2 would store the update in its own kernel,
        #                                   which reads the flip from a buffer of its own)

    x = tc.arange(6.0)
    want = shift(tc.arange(6.0))
    compiled = tc.compile(shift)
    got = compiled(x)
    assert_close(got, want)
    assert_close(x, tc.arange(6.0).flip(0) + 15.0)
    assert _runner(compiled).donated == {}
    assert "another index" in "\n".join(_runner(compiled).donation_log)


def test_an_input_sharing_the_updated_array_is_read_before_it_changes():
    """y views x: x's update computed over x's array would read y's elements that it has
    already overwritten (element i reads y[n-1-i]), so such a call computes x's update into
    an array of its own, as numpy (eager) does for overlapping operands."""
    def f(x, y):
        x.add_(y.flip(0))
        return x.sum()

    n = 4096        # long enough to run as a loop, not all loads first
    compiled = tc.compile(f)
    assert compiled(tc.arange(float(n)), tc.arange(float(n))).item() == (n - 1) * n
    assert _runner(compiled).donated
    for fn in (f, compiled):
        x = tc.arange(float(n))
        fn(x, x.view(n))
        assert_close(x, np.full(n, n - 1.0), what=getattr(fn, "__name__", "compiled"))


@pytest.mark.parametrize("non_contiguous", [False, True])
def test_an_updated_input_that_is_not_contiguous_still_gets_its_update(non_contiguous):
    def bump(x):
        x.mul_(3)
        return x.sum()

    base = tc.arange(12.0).reshape(3, 4)
    x = base.t() if non_contiguous else base.clone()
    want = x.numpy() * 3
    got = tc.compile(bump)(x)
    assert_close(x, want)
    assert got.item() == pytest.approx(float(want.sum()))


def test_an_updated_input_that_views_a_larger_array():
    """An input whose array is a view of another (a row block of a larger tensor) next to
    ones that are not: its update reaches the larger tensor, the others are donated."""
    def bump(x, y, z):
        x.add_(y)
        z.mul_(2)
        return x.sum() + z.sum()

    compiled = tc.compile(bump)
    for fn in (bump, compiled, compiled):
        big = tc.arange(24.0).reshape(6, 4)
        x, y, z = big[1:3], tc.ones(2, 4), tc.arange(8.0).reshape(2, 4)
        got = fn(x, y, z)
        want = np.arange(24.0).reshape(6, 4)
        want[1:3] += 1
        assert_close(big, want)
        assert_close(z, np.arange(8.0).reshape(2, 4) * 2)
        assert got.item() == pytest.approx(float(want[1:3].sum() + 56.0))
