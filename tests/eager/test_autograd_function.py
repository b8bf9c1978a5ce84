"""Custom autograd.Functions against torch: the user's backward is the gradient, eagerly, in a
compiled module (its backward graph holds the user's backward ops) and in a compiled
training step with loss.backward() inside, on both backends; ctx's features; torch's errors."""
import inspect

import pytest
import torch

import tracecomp as tc

from helpers import assert_close, mean_square_step, to_tc, to_torch

LIBS = {"tc": tc, "torch": torch}


def functions(lib):
    """The same custom Functions written against `lib` (tracecomp or torch)."""

    class RoundSTE(lib.autograd.Function):
        """Straight-through estimator: round forward, identity backward."""

        @staticmethod
        def forward(ctx, x):
            return x.round()

        @staticmethod
        def backward(ctx, g):
            return g

    class ClipGrad(lib.autograd.Function):
        """x * scale whose backward clips the gradient (not the forward's derivative)."""

        @staticmethod
        def forward(ctx, x, scale, limit):
            ctx.scale, ctx.limit = scale, limit
            return x * scale

        @staticmethod
        def backward(ctx, g):
            return (g * ctx.scale).clamp(-ctx.limit, ctx.limit), None, None

    class Split(lib.autograd.Function):
        """Two outputs; backward runs once with both gradients and clips nonlinearly; it
        reads a tensor kept on ctx, and saved ones of every kind: an input, an
        intermediate and an output."""

        @staticmethod
        def forward(ctx, x, w):
            t, s = x.tanh(), x.sin()
            ctx.w = w
            ctx.save_for_backward(x, s, t)
            return x * w, t

        @staticmethod
        def backward(ctx, ga, gb):
            x, s, t = ctx.saved_tensors
            gx = ga * ctx.w + gb * (1 - t ** 2) + 0.1 * s * ga
            gw = (ga * x).clamp(-0.02, 0.02)
            return gx.clamp(-0.1, 0.1), gw

    return RoundSTE, ClipGrad, Split


def net(lib):
    RoundSTE, ClipGrad, Split = functions(lib)

    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = lib.nn.Linear(6, 8), lib.nn.Linear(8, 3)
            self.w = lib.nn.Parameter(lib.ones(8) * 0.5)

        def forward(self, x):
            h = RoundSTE.apply(self.fc1(x) * 2) / 2
            a, b = Split.apply(h, self.w.expand(x.shape[0], 8))
            return self.fc2(ClipGrad.apply(a + b, 3.0, 0.05))

    return Net()


def twins():
    """A tracecomp Net and a torch Net with the same weights, and an input for both."""
    tc.manual_seed(0)
    model, ref = net(tc), net(torch)
    ref.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                         for k, v in model.state_dict().items()})
    x = tc.randn(5, 6) * 2
    return model, ref, x, to_torch(x)


def assert_grads(model, ref):
    for (name, p), q in zip(model.named_parameters(), ref.parameters()):
        assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6, what=f"{name}.grad")


# --- eager -----------------------------------------------------------------------------------
def test_custom_backward_is_the_gradient_eagerly():
    model, ref, x, tx = twins()
    model(x).pow(2).sum().backward()
    ref(tx).pow(2).sum().backward()
    assert_grads(model, ref)


def test_compiled_module_uses_the_users_backward(backend):
    model, ref, x, tx = twins()
    compiled = tc.compile(model, backend=backend)
    out = compiled(x)
    want = ref(tx)
    assert_close(out, want, rtol=1e-5, atol=1e-6)
    out.pow(2).sum().backward()
    want.pow(2).sum().backward()
    assert_grads(model, ref)
    # the backward graph holds the user's backward ops, on the user's lines
    RoundSTE, ClipGrad, Split = functions(tc)
    lines, start = inspect.getsourcelines(functions)
    clip_line = start + next(k for k, s in enumerate(lines) if ".clamp(-ctx.limit" in s)
    backward = compiled.graphs["backward.optimized"]
    assert any(n.source and n.source[1] == clip_line for n in backward.nodes), backward
    for graph in ("forward.optimized", "backward.optimized"):
        assert "custom_vjp" not in str(compiled.graphs[graph])      # markers are gone
    assert "custom_vjp" in str(compiled.graphs["traced"])


def test_compiled_training_step_with_custom_functions(backend):
    model, ref, x, tx = twins()
    opt = tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)

    step = tc.compile(mean_square_step(model, opt), backend=backend)

    for i in range(3):
        ref_opt.zero_grad()
        want = ref(tx).pow(2).mean()
        want.backward()
        ref_opt.step()
        assert step(x).item() == pytest.approx(want.item(), rel=1e-5, abs=1e-6), f"step {i}"
    assert_grads(model, ref)
    for (name, p), q in zip(model.named_parameters(), ref.parameters()):
        assert_close(p, q, rtol=1e-4, atol=1e-6, what=name)
    assert "custom_vjp" not in str(step.graphs["simplified"])


def test_compiled_call_with_two_outputs_runs_a_nonlinear_backward_once(backend):
    """Both outputs of a compiled call feed the loss: the compiled backward must see both
    cotangents at once (summing one run per output would clip each part separately)."""
    grads = {}
    for name, lib in LIBS.items():
        _, _, Split = functions(lib)
        x = lib.tensor([0.9, -0.4, 0.3], requires_grad=True)
        w = lib.tensor([1.5, 2.0, -1.0], requires_grad=True)
        f = tc.compile(Split.apply, backend=backend) if lib is tc else Split.apply
        a, b = f(x, w)
        (a * 3 + b * 2).sum().backward()
        grads[name] = (x.grad, w.grad)
    assert_close(grads["tc"][0], grads["torch"][0])
    assert_close(grads["tc"][1], grads["torch"][1])


def test_marker_kept_for_a_non_differentiable_result_still_runs(backend):
    RoundSTE, _, _ = functions(tc)
    x = tc.randn(4, 5, requires_grad=True)
    f = tc.compile(lambda x: RoundSTE.apply(x * 3).argmax(1), backend=backend)
    assert_close(f(x), RoundSTE.apply(x * 3).argmax(1))


def test_backward_runs_once_with_every_output_gradient():
    calls = {name: [] for name in LIBS}

    def run(name, lib):
        class Two(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2, x * 3, 7          # a non-tensor output too

            @staticmethod
            def backward(ctx, ga, gb, gc):
                calls[name].append((ga is None, gb is None, gc))
                return (ga * 2 + gb * 3).clamp(-1, 1)

        x = lib.tensor([0.1, 0.5, -0.2], requires_grad=True)
        a, b, c = Two.apply(x)
        (a * a + b * 10).sum().backward()
        assert c == 7
        got = x.grad.clone()
        a, b, c = Two.apply(x)
        a.sum().backward()                      # b's gradient is materialized as zeros
        return got

    assert_close(run("tc", tc), run("torch", torch))
    assert calls["tc"] == calls["torch"] == [(False, False, None)] * 2


def test_set_materialize_grads_false_passes_none():
    seen = []

    class F(tc.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, ga, gb):
            seen.append(gb)
            return ga * 2

    x = tc.tensor([1.0, 2.0], requires_grad=True)
    F.apply(x)[0].sum().backward()
    assert seen == [None] and x.grad.tolist() == [2.0, 2.0]


def test_save_for_backward_needs_input_grad_and_non_tensor_args():
    results = {}

    def run(name, lib):
        class Scale(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x, y, k):
                ctx.save_for_backward(x, y, None)
                ctx.k = k
                return x * y * k

            @staticmethod
            def backward(ctx, g):
                x, y, nothing = ctx.saved_tensors
                assert nothing is None
                results.setdefault(name, []).append(ctx.needs_input_grad)
                return g * y * ctx.k if ctx.needs_input_grad[0] else None, g * x, None

        x = lib.tensor([1.5, -2.0], requires_grad=True)
        y = lib.tensor([3.0, 0.5])
        Scale.apply(x, y, 4.0).sum().backward()
        results[name + ".grad"] = x.grad

    for name, lib in LIBS.items():
        run(name, lib)
    assert results["tc"] == results["torch"] == [(True, False, False)]
    assert_close(results["tc.grad"], results["torch.grad"])


def test_setup_context_style_and_vjp_name():
    for lib in (tc, torch):
        class Mul(lib.autograd.Function):
            @staticmethod
            def forward(x, k):
                return x * k

            @staticmethod
            def setup_context(ctx, inputs, output):
                ctx.k = inputs[1]
                ctx.save_for_backward(output)

            @staticmethod
            def vjp(ctx, g):
                (out,) = ctx.saved_tensors
                return g * ctx.k + out * 0, None

        x = lib.tensor([1.0, 2.0], requires_grad=True)
        Mul.apply(x, 3.0).sum().backward()
        assert x.grad.tolist() == [3.0, 3.0]


def test_mark_non_differentiable_and_integer_outputs():
    seen = {}

    def run(name, lib):
        class Max(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                v, i = x.max(0)
                ctx.mark_non_differentiable(i)
                ctx.save_for_backward(i)
                ctx.n = x.shape[0]
                return v, i

            @staticmethod
            def backward(ctx, gv, gi):
                (i,) = ctx.saved_tensors
                seen[name] = gi
                onehot = (lib.arange(ctx.n) == i).to(gv.dtype)
                return onehot * gv

        x = lib.tensor([0.3, 2.0, -1.0], requires_grad=True)
        v, i = Max.apply(x)
        assert not i.requires_grad and v.requires_grad
        (v * 5).backward()
        seen[name + ".grad"] = x.grad

    for name, lib in LIBS.items():
        run(name, lib)
    assert_close(seen["tc"], seen["torch"])
    assert_close(seen["tc.grad"], seen["torch.grad"])


def test_mark_dirty_in_place_forward():
    grads = {}
    for name, lib in LIBS.items():
        class Double_(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                x.mul_(2)
                ctx.mark_dirty(x)
                return x

            @staticmethod
            def backward(ctx, g):
                return g * 3             # deliberately not 2

        leaf = lib.tensor([1.0, -2.0, 0.5], requires_grad=True)
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
            Double_.apply(leaf)
        a = leaf * 1
        b = Double_.apply(a)
        assert b is a and a.grad_fn is not None
        (b * b).sum().backward()
        grads[name] = leaf.grad
    assert_close(grads["tc"], grads["torch"])


def test_mark_dirty_compiled(backend):
    class AddOne_(tc.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.add_(1)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 0.5

    def f(x):
        h = x * 2
        AddOne_.apply(h)
        return (h * h).sum()

    x = tc.tensor([1.0, -2.0, 0.5], requires_grad=True)
    f(x).backward()
    want = x.grad
    x.grad = None
    tc.compile(f, backend=backend)(x).backward()
    assert_close(x.grad, want)


def test_output_that_is_an_input_is_a_view_of_it():
    class Same(tc.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 5

    base = tc.tensor([1.0, 2.0], requires_grad=True)
    x = base * 1
    y = Same.apply(x)
    assert y is not x and y.grad_fn is not None
    assert y._vc is x._vc                  # torch: a view shares the version counter
    y.sum().backward()
    assert base.grad.tolist() == [5.0, 5.0]


def test_hooks_and_retain_grad_on_outputs():
    _, _, Split = functions(tc)
    x = tc.tensor([0.2, -0.4], requires_grad=True)
    w = tc.tensor([1.5, 2.0], requires_grad=True)
    a, b = Split.apply(x, w)
    a.retain_grad()
    b.register_hook(lambda g: g * 0)
    (a * 3 + b).sum().backward()
    assert a.grad.tolist() == [3.0, 3.0]
    _, _, tSplit = functions(torch)
    tx, tw = to_torch(x.detach(), True), to_torch(w.detach(), True)
    ta, tb = tSplit.apply(tx, tw)
    tb.register_hook(lambda g: g * 0)
    (ta * 3 + tb).sum().backward()
    assert_close(x.grad, tx.grad)
    assert_close(w.grad, tw.grad)


def test_double_backward_through_a_saved_output():
    got = {}
    for name, lib in LIBS.items():
        class Exp(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                r = x.exp()
                ctx.save_for_backward(r)
                return r

            @staticmethod
            def backward(ctx, g):
                (r,) = ctx.saved_tensors
                return g * r

        x = lib.tensor([0.3, -1.0, 1.2], requires_grad=True)
        (g,) = lib.autograd.grad((Exp.apply(x) * x).sum(), x, create_graph=True)
        (g2,) = lib.autograd.grad(g.sum(), x)
        got[name] = (g, g2)
    assert_close(got["tc"][0], got["torch"][0])
    assert_close(got["tc"][1], got["torch"][1])
    x = tc.tensor([0.3, -1.0], dtype=tc.float64, requires_grad=True)
    assert tc.autograd.gradgradcheck(lambda t: Exp.apply(t) * t, (x,))


def test_once_differentiable():
    class Square(tc.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @tc.autograd.function.once_differentiable
        def backward(ctx, g):
            assert not tc.is_grad_enabled()
            (x,) = ctx.saved_tensors
            return 2 * x * g

    x = tc.tensor([1.0, 3.0], requires_grad=True)
    (g,) = tc.autograd.grad(Square.apply(x).sum(), x)
    assert g.tolist() == [2.0, 6.0] and not g.requires_grad
    (g,) = tc.autograd.grad(Square.apply(x), x, tc.ones(2, requires_grad=True),
                            create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice a function that was marked "
                                           "with @once_differentiable"):
        g.sum().backward()


# --- torch's errors --------------------------------------------------------------------------
def _error(lib, backward, forward=lambda ctx, x, k: x * k, args=None):
    F = type("Bad", (lib.autograd.Function,), {"forward": staticmethod(forward),
                                                "backward": staticmethod(backward)})
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(Exception) as info:
        F.apply(*(args(x) if args else (x, 2))).sum().backward()
    return type(info.value), str(info.value)


@pytest.mark.parametrize("backward", [
    lambda ctx, g: g,                       # one gradient for two inputs
    lambda ctx, g: (g, g),                  # a gradient for the non-tensor input
    lambda ctx, g: (g[:2], None),           # a gradient of the wrong shape
    lambda ctx, g: (g.reshape(3, 1), None),  # not a broadcast of the input's shape
    lambda ctx, g: (3, None),               # not a tensor
    lambda ctx, g: (g, None, g),            # an extra gradient that is not None
], ids=["count", "non_tensor_input", "shape", "not_expandable", "type", "extra"])
def test_backward_result_errors_match_torch(backward):
    got_type, got = _error(tc, backward)
    want_type, want = _error(torch, backward)
    assert issubclass(got_type, RuntimeError) and issubclass(want_type, RuntimeError)
    assert got.replace("Bad", "X") == want.replace("Bad", "X")


def test_broadcastable_gradient_is_summed_like_torch():
    got = _grad(tc, lambda ctx, g: (g.expand(4, 3), None))
    want = _grad(torch, lambda ctx, g: (g.expand(4, 3), None))
    assert_close(got, want)


def _grad(lib, backward):
    F = type("Sum", (lib.autograd.Function,), {"forward": staticmethod(lambda c, x, k: x * k),
                                                "backward": staticmethod(backward)})
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    F.apply(x, 2).sum().backward()
    return x.grad


def test_saved_tensor_modified_in_place_and_second_backward():
    class Keep(tc.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * 2

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x

    x = tc.tensor([1.0, 2.0], requires_grad=True)
    a = x * 1
    y = Keep.apply(a).sum()
    a.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()
    y = Keep.apply(x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second"):
        y.backward()


def test_missing_backward_and_bad_saves():
    class NoBackward(tc.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

    class SavesInt(tc.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(3)
            return x

    x = tc.tensor([1.0], requires_grad=True)
    with pytest.raises(NotImplementedError, match="You must implement either the backward"):
        NoBackward.apply(x).sum().backward()
    with pytest.raises(TypeError, match="save_for_backward can only save variables, but "
                                        "argument 0 is of type int"):
        SavesInt.apply(x)
    with pytest.warns(DeprecationWarning, match="should not be instantiated"):
        legacy = NoBackward()
    with pytest.raises(RuntimeError, match="Legacy autograd function"):
        legacy(x)


def test_no_input_requires_grad_gives_plain_outputs():
    RoundSTE, _, _ = functions(tc)
    y = RoundSTE.apply(tc.tensor([0.4, 1.6]))
    assert not y.requires_grad and y.grad_fn is None and y.tolist() == [0.0, 2.0]
    with tc.no_grad():
        assert not RoundSTE.apply(tc.tensor([0.4], requires_grad=True)).requires_grad
    assert to_tc(torch.ones(1)).tolist() == [1.0]
