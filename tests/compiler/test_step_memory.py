"""What compiled code keeps between calls: one pool of arenas for every graph (the largest
graph's scratch memory, not the sum), gradient buffers reused in place once zero_grad()
has let go of them, and free output buffers that move to the artifact now running. None
of it may change a value anybody can see."""
import gc
import threading
import weakref

import numpy as np

import tracecomp as tc
from tracecomp import nn
from tracecomp.codegen.llvm.runtime import arenas, runner

from helpers import assert_close, compiled_step, native_runners, train_step


def _runners(compiled):
    cache = compiled.cache
    return [r for sig in cache.signatures() for r in native_runners(cache.get(sig))]


def _setup():
    tc.manual_seed(0)
    # the first weight's gradient (5 KB) is over a page: a runner keeps such buffers
    # (runner.SPARE_FROM; smaller ones are malloc's, anew each call)
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 5))
    opt = tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, opt, tc.randn(16, 20), tc.randint(0, 5, (16,))


def test_graphs_share_one_arena_the_size_of_the_largest():
    def gram(x):        # x @ x.T is kept in the arena for the second product
        return ((x @ x.T).relu() @ x).sum(0)

    small, large = tc.compile(gram), tc.compile(gram)
    a, b = tc.randn(8, 4), tc.randn(400, 4)
    gc.collect()            # runners of earlier tests that are gone let their arenas go
    arenas.release()
    small(a), large(b), small(a), large(b)
    peaks = [r.memory_plan.peak for f in (small, large) for r in _runners(f)]
    assert max(peaks) > 100 * min(peaks) > 0
    assert max(peaks) <= arenas.held_bytes() < max(peaks) + min(peaks)   # one, not both
    assert_close(small(a), gram(a), rtol=1e-5, atol=1e-5)
    assert_close(large(b), gram(b), rtol=1e-5, atol=1e-4)
    del large
    gc.collect()
    small(a)                # the large arena comes back from this call, and is let go
    assert arenas.held_bytes() < 4 * min(peaks) + 1024


def test_calls_from_two_threads_each_get_an_arena():
    f = tc.compile(lambda x: (x * 3).tanh() - x)
    g = tc.compile(lambda x: (x + 1).exp() * x)
    xs = [tc.randn(50_000) for _ in range(2)]
    f(xs[0]), g(xs[1])
    errors = []

    def run(fn, x, want):
        for _ in range(200):
            if not np.allclose(fn(x).numpy(), want, rtol=1e-5, atol=1e-6):
                errors.append(fn)
                return

    threads = [threading.Thread(target=run, args=(f, xs[0], ((xs[0] * 3).tanh() - xs[0]).numpy())),
               threading.Thread(target=run, args=(g, xs[1], ((xs[1] + 1).exp() * xs[1]).numpy()))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_gradients_are_computed_into_the_arrays_zero_grad_let_go():
    model, opt, x, y = _setup()
    step = compiled_step(model, opt)
    ref_model, ref_opt, _, _ = _setup()
    ref_step = train_step(ref_model, ref_opt)
    first = next(model.parameters())
    pointers = []
    for _ in range(4):
        step(x, y)
        ref_step(x, y)
        pointers.append(first.grad.data_ptr())
    assert len(set(pointers[1:])) == 1      # the same buffer from the second artifact on
    held = first.grad                       # someone keeps the old gradient now
    before = held.numpy().copy()
    x.mul_(2)
    step(x, y)
    ref_step(x, y)
    assert first.grad.data_ptr() != held.data_ptr()
    np.testing.assert_array_equal(held.numpy(), before)     # untouched
    for p, q in zip(model.parameters(), ref_model.parameters()):
        assert_close(p.grad, q.grad, what="gradient")
        assert_close(p, q, what="parameter")


def test_the_first_steps_buffers_move_to_the_artifact_that_runs_after_it():
    model, opt, x, y = _setup()
    step = compiled_step(model, opt)
    for _ in range(3):
        step(x, y)
    first, later = _runners(step)
    assert first.held_bytes() == 0          # its free gradient buffers were taken over
    assert step.compiles == 2


def test_a_whole_step_keeps_its_scratch_values_in_gradients_not_yet_written():
    def setup():
        tc.manual_seed(0)
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                              nn.Linear(256, 10))
        return model, tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    (model, opt), (ref_model, ref_opt) = setup(), setup()
    step, ref_step = compiled_step(model, opt), train_step(ref_model, ref_opt)
    x, y = tc.randn(64, 784), tc.randint(0, 10, (64,))
    for _ in range(3):
        assert_close(step(x, y), ref_step(x, y), what="loss")
    plan = _runners(step)[-1].memory_plan
    shapes = {tuple(p.shape) for p in model.parameters()}
    assert plan.hosted, "no value lives in an output's buffer"
    assert {tuple(out.shape) for out, _ in plan.hosted.values()} <= shapes
    # what stays in the arena is what is live while the first layer's weight gradient is
    # written: its input's gradient (64 x 256 floats), which that product reads
    assert plan.peak == 64 * 256 * 4
    for p, q in zip(model.parameters(), ref_model.parameters()):
        assert_close(p, q, what="parameter")


def test_gradients_zeroed_in_place_are_not_let_go():
    """zero_grad(set_to_none=False) writes zeros into the .grad tensors instead of dropping
    them: the call writes them in place, so they are not gradients it may let go (the
    second step, the first with gradients, failed on them before)."""
    import torch
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.ReLU(), torch.nn.Linear(32, 5))
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 5))
    model.load_state_dict({k: tc.from_numpy(v.detach().numpy().copy())
                           for k, v in ref.state_dict().items()})
    opt = tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    x, y = np.random.default_rng(0).standard_normal((16, 20)).astype(np.float32), \
        np.arange(16) % 5

    def step(lib, m, opt, x, y):
        opt.zero_grad(set_to_none=False)
        loss = lib.nn.functional.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        return loss
    ours = tc.compile(lambda x, y: step(tc, model, opt, x, y))
    for _ in range(4):
        got = ours(tc.from_numpy(x), tc.from_numpy(y))
        want = step(torch, ref, ref_opt, torch.from_numpy(x), torch.from_numpy(y))
        np.testing.assert_allclose(got.item(), want.item(), rtol=1e-5)
    for p, q in zip(model.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_a_small_gradient_keeps_its_buffer_and_a_small_result_does_not():
    """A whole step writes a bias's gradient (256 bytes) back into .grad, which holds it
    between steps: the runner reuses that buffer, however small (runner.keep_spares). The
    logits a compile(model) forward returns (640 bytes) are dropped by the eager loss
    within the step: a new array each call, as torch's, not a buffer held between steps."""
    model, opt, x, y = _setup()
    step = compiled_step(model, opt)
    bias = model[0].bias
    for _ in range(3):
        step(x, y)
        held = weakref.ref(bias.grad.numpy())
    assert bias.grad.nbytes < runner.SPARE_FROM
    step(x, y)
    assert bias.grad.numpy() is held()          # the same array object, reused
    forward = tc.compile(model)
    with tc.no_grad():
        out = forward(x)
        assert runner.SPARE_TINY < out.numpy().nbytes < runner.SPARE_FROM
        first = weakref.ref(out.numpy())
        del out
        assert first() is None                  # nothing kept it
