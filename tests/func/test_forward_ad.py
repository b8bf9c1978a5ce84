"""torch.autograd.forward_ad against torch: dual tensors through ops and modules, their
tangents (computed here by the double-VJP trick), custom Functions with jvp, gradcheck's
check_forward_ad, torch's errors, and compiled calls under a dual level (a graph break)."""
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc
from tests.helpers import assert_close, raised, to_tc

rng = np.random.default_rng(0)


def _pair(*shape):
    a = rng.standard_normal(shape)
    return torch.tensor(a), tc.tensor(a)


def _tangent_of(lib, f, primals, tangents):
    fw = lib.autograd.forward_ad
    with fw.dual_level():
        duals = [fw.make_dual(p, t) for p, t in zip(primals, tangents)]
        out = fw.unpack_dual(f(lib, *duals))
    return out.primal, out.tangent


FUNCTIONS = {
    "square_sum": lambda lib, x, y: x ** 2 + y ** 2,
    "linear_tanh": lambda lib, x, w: lib.tanh(lib.nn.functional.linear(x, w)),
    "softmax_matmul": lambda lib, x, w: lib.softmax(x @ w.t(), dim=1).log(),
    "layer_norm_gelu": lambda lib, x, w: lib.nn.functional.gelu(
        lib.nn.functional.layer_norm(x * w, (3,))),
    "reductions": lambda lib, x, w: (x.exp() * w).sum(1) / w.norm(),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_tangents_match_torch(name):
    f = FUNCTIONS[name]
    (tx, cx), (tw, cw), (vx, ux), (vw, uw) = _pair(4, 3), _pair(4, 3), _pair(4, 3), _pair(4, 3)
    p, t = _tangent_of(tc, f, (cx, cw), (ux, uw))
    tp, tt = _tangent_of(torch, f, (tx, tw), (vx, vw))
    assert_close(p, tp, what="primal")
    assert_close(t, tt, rtol=1e-6, atol=1e-9, what="tangent")


def test_dual_tensor_bookkeeping_as_torch():
    fw = tc.autograd.forward_ad
    primal, tangent = tc.randn(3, 3), tc.randn(3, 3)
    with fw.dual_level() as level:
        assert level == 0
        dual = fw.make_dual(primal, tangent)
        assert fw.unpack_dual(dual).tangent is tangent
        assert fw.unpack_dual(fw.make_dual(primal, tangent.T)).tangent is not tangent
        assert_close(fw.unpack_dual(fw.make_dual(primal, tangent.T)).tangent, tangent.T)
        unpacked = fw.unpack_dual(dual * 2)
        assert isinstance(unpacked, fw.UnpackedDualTensor) and isinstance(unpacked, tuple)
        assert unpacked._fields == ("primal", "tangent")
        assert fw.unpack_dual(unpacked.primal * 2).tangent is None     # the primal has none
        assert fw.unpack_dual(tc.ones(2) + 1).tangent is None
        assert fw.unpack_dual(dual.detach()).tangent is None
        assert_close(fw.unpack_dual((dual * 0).sum()).tangent, torch.tensor(0.0))
        out = dual * 3
    assert fw.unpack_dual(out).tangent is None          # the level is gone
    assert fw.unpack_dual(dual) == (dual, None)
    assert fw.enter_dual_level() == 0
    fw.exit_dual_level()


def test_dual_tensors_print_as_torchs():
    def printed(lib):
        fw = lib.autograd.forward_ad
        with fw.dual_level():
            d = fw.make_dual(lib.tensor([1.0, 2.0]), lib.tensor([1.0, 0.5]))
            w = lib.tensor([1.0, 2.0], requires_grad=True)
            e = fw.make_dual(w, lib.tensor([1.0, 0.5]))
            shown = [repr(t) for t in (d, d * 2, e.exp(), lib.ones(2))]
        return shown + [repr(d)]
    assert [s.replace("tracecomp", "torch") for s in printed(tc)] == printed(torch)


def test_reverse_mode_through_tangents():
    """A primal that requires grad: the tangent has history, so it can be backpropagated
    (torch's tangent has a grad_fn there too). Against the closed form in float64 (torch
    spends ~5 s on its first such call)."""
    fw = tc.autograd.forward_ad
    w0, v0 = rng.standard_normal(5), rng.standard_normal(5)
    w = tc.tensor(w0).requires_grad_()
    with fw.dual_level():
        y = fw.unpack_dual(fw.make_dual(w, tc.tensor(v0)).exp() * w.sin())
        assert y.tangent.grad_fn is not None
        (y.tangent.sum() + y.primal.sum()).backward()
    assert_close(y.tangent, np.exp(w0) * v0 * np.sin(w0), rtol=1e-12, atol=1e-12)
    # d/dw of exp(w) v sin(w) + exp(w) sin(w)
    want = np.exp(w0) * (np.sin(w0) + np.cos(w0)) * v0 + np.exp(w0) * (np.sin(w0) +
                                                                       np.cos(w0))
    assert_close(w.grad, want, rtol=1e-12, atol=1e-12)


def _linear_state(lib, ref):
    return {k: to_tc(v) if lib is tc else v.detach() for k, v in ref.state_dict().items()}


@pytest.mark.parametrize("how", ["setattr", "functional_call"])
def test_modules_with_dual_parameters(how):
    ref = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    x = torch.randn(6, 5)
    tangents = {k: torch.rand(v.shape) for k, v in ref.named_parameters()}

    def run(lib):
        fw = lib.autograd.forward_ad
        model = lib.nn.Sequential(lib.nn.Linear(5, 4), lib.nn.Tanh(), lib.nn.Linear(4, 2))
        model.load_state_dict(_linear_state(lib, ref))
        params = dict(model.named_parameters())
        conv = to_tc if lib is tc else (lambda t: t)
        with fw.dual_level():
            duals = {k: fw.make_dual(p, conv(tangents[k])) for k, p in params.items()}
            if how == "functional_call":
                out = lib.func.functional_call(model, duals, (conv(x),))
            else:
                for k, d in duals.items():
                    owner, name = model.get_submodule(k.rsplit(".", 1)[0]), k.rsplit(".")[-1]
                    delattr(owner, name)
                    setattr(owner, name, d)
                out = model(conv(x))
            return fw.unpack_dual(out).tangent
    assert_close(run(tc), run(torch), rtol=1e-5, atol=1e-6)


def _exp_function(lib, wrong=False):
    class Exp(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            result = lib.exp(x)
            ctx.save_for_forward(result)
            return result

        @staticmethod
        def jvp(ctx, gx):
            (result,) = ctx.saved_tensors
            return gx * result * (2 if wrong else 1)
    return Exp


def test_custom_function_jvp():
    (tp, cp), (tt, ct) = _pair(3, 3), _pair(3, 3)

    def run(lib, p, t):
        fw = lib.autograd.forward_ad
        with fw.dual_level():
            y = _exp_function(lib).apply(fw.make_dual(p.requires_grad_(), t))
            return fw.unpack_dual(y.sin()).tangent
    assert_close(run(tc, cp, ct), run(torch, tp, tt), rtol=1e-6, atol=1e-9)


def test_custom_function_without_jvp_is_torchs_error():
    def run(lib):
        class Square(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * x

            @staticmethod
            def backward(ctx, g):
                return g
        fw = lib.autograd.forward_ad
        with fw.dual_level():
            return raised(lib, lambda lib: Square.apply(fw.make_dual(lib.ones(2),
                                                                     lib.ones(2))))
    got, want = run(tc), run(torch)
    assert type(got) is type(want) and str(got) == str(want)


def test_gradcheck_checks_forward_ad():
    x = tc.tensor(rng.standard_normal((2, 3))).requires_grad_()
    kw = dict(check_forward_ad=True, check_backward_ad=False, check_undefined_grad=False,
              check_batched_grad=False)
    assert tc.autograd.gradcheck(_exp_function(tc).apply, (x,), **kw)
    assert tc.autograd.gradcheck(lambda a: (a.tanh() * a).sum(0), (x,), fast_mode=True,
                                 **kw)
    with pytest.raises(RuntimeError, match="forward mode AD"):   # GradcheckError
        tc.autograd.gradcheck(_exp_function(tc, wrong=True).apply, (x,), **kw)


@pytest.mark.parametrize("case", ["no_level", "size", "int_tangent", "int_primal", "level",
                                  "nested", "exit"])
def test_errors_as_torch(case):
    def attempt(lib):
        fw = lib.autograd.forward_ad
        calls = {
            "size": lambda: fw.make_dual(lib.ones(2), lib.ones(3)),
            "int_tangent": lambda: fw.make_dual(lib.ones(2), lib.ones(2, dtype=lib.int64)),
            "int_primal": lambda: fw.make_dual(lib.ones(2, dtype=lib.int64), lib.ones(2)),
            "level": lambda: fw.make_dual(lib.ones(2), lib.ones(2), level=3),
            "nested": fw.enter_dual_level,
        }
        if case == "no_level":
            return raised(lib, lambda lib: fw.make_dual(lib.ones(2), lib.ones(2)))
        if case == "exit":
            return raised(lib, lambda lib: fw.exit_dual_level())
        with fw.dual_level():
            return raised(lib, lambda lib: calls[case]())
    got, want = attempt(tc), attempt(torch)
    assert type(got) is type(want)
    assert str(got) == str(want).replace("torch.", "tracecomp.")


def test_no_grad_is_refused_not_a_missing_tangent():
    """torch computes tangents under no_grad; here they need the tape, so it is an error
    naming the call, never a silently missing tangent."""
    fw = tc.autograd.forward_ad
    with tc.no_grad(), fw.dual_level():
        with pytest.raises(NotImplementedError, match="make_dual: forward-mode AD under "
                                                      "no_grad"):
            fw.make_dual(tc.ones(2), tc.ones(2))
    with fw.dual_level():
        dual = fw.make_dual(tc.ones(2), tc.ones(2))
        with tc.no_grad(), pytest.raises(NotImplementedError, match="unpack_dual"):
            fw.unpack_dual(dual.exp())


def test_compiled_calls_under_a_dual_level_break_the_graph():
    fw = tc.autograd.forward_ad
    f = tc.compile(lambda x: tc.tanh(x) * x)
    strict = tc.compile(lambda x: tc.tanh(x) * x, fullgraph=True)
    x, v = tc.randn(4, dtype=tc.float64), tc.randn(4, dtype=tc.float64)
    f(x)                        # compiled once outside: the fast path must not serve duals
    with fw.dual_level():
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            t = fw.unpack_dual(f(fw.make_dual(x, v))).tangent
        assert any("dual_level" in str(w.message) for w in said)
        with pytest.raises(tc.errors.TraceError, match="dual_level"):
            strict(fw.make_dual(x, v))
    th = torch.tanh(torch.tensor(x.numpy()))
    assert_close(t, ((1 - th ** 2) * torch.tensor(x.numpy()) + th) * torch.tensor(v.numpy()))
