"""torch.library.custom_op (pytorch/tutorials' python_custom_ops): the same operators
defined in both libraries, called, differentiated, compiled and opchecked, against torch.
Operator names carry the library's name: torch's registry is process-wide."""
import warnings
from collections.abc import Sequence

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close


def define_crop(lib, name, with_autograd=True):
    """The tutorial's crop, with numpy standing for PIL (its kernel reads values)."""
    @lib.library.custom_op(f"{name}::crop", mutates_args=())
    def crop(pic: lib.Tensor, box: Sequence[int]) -> lib.Tensor:
        x0, y0, x1, y1 = box
        return lib.from_numpy(pic.numpy()[..., y0:y1, x0:x1] * 2.0)

    @crop.register_fake
    def _(pic, box):
        x0, y0, x1, y1 = box
        return pic.new_empty(pic.shape[0], y1 - y0, x1 - x0)

    def setup_context(ctx, inputs, output):
        ctx.pic_shape, ctx.box = inputs[0].shape, inputs[1]

    def backward(ctx, grad_output):
        result = grad_output.new_zeros(ctx.pic_shape)
        x0, y0, x1, y1 = ctx.box
        result[..., y0:y1, x0:x1] = grad_output * 2.0
        return result, None

    if with_autograd:
        crop.register_autograd(backward, setup_context=setup_context)
    return crop


def define_numpy_sin(lib, name):
    """The tutorial's mutating operator: writes sin(input) into output."""
    @lib.library.custom_op(f"{name}::numpy_sin", mutates_args={"output"}, device_types="cpu")
    def numpy_sin(input: lib.Tensor, output: lib.Tensor) -> None:
        np.sin(input.numpy(), out=output.numpy())
    return numpy_sin


def define_sin_ops(lib, name):
    """A differentiable numpy sin (setup_context saving the input) and a traceable one."""
    @lib.library.custom_op(f"{name}::mysin", mutates_args=())
    def mysin(x: lib.Tensor) -> lib.Tensor:
        return lib.from_numpy(np.sin(x.numpy()))

    mysin.register_autograd(lambda ctx, g: g * ctx.saved_tensors[0].cos(),
                            setup_context=lambda ctx, inputs, output:
                            ctx.save_for_backward(inputs[0]))

    @lib.library.custom_op(f"{name}::scaled_tanh", mutates_args=())
    def scaled_tanh(x: lib.Tensor, scale: float) -> lib.Tensor:
        return lib.tanh(x) * scale

    def backward(ctx, g):
        y, = ctx.saved_tensors
        return g * ctx.scale * (1 - y * y), None

    def setup_context(ctx, inputs, output):
        ctx.scale = inputs[1]
        ctx.save_for_backward(lib.tanh(inputs[0]))

    scaled_tanh.register_fake(lambda x, scale: lib.empty_like(x))
    scaled_tanh.register_autograd(backward, setup_context=setup_context)
    return mysin, scaled_tanh


@pytest.fixture(scope="module")
def ops():
    return {lib: (define_crop(lib, f"{lib.__name__}_r38"),
                  define_crop(lib, f"{lib.__name__}_r38_noad", with_autograd=False),
                  define_numpy_sin(lib, f"{lib.__name__}_r38"),
                  *define_sin_ops(lib, f"{lib.__name__}_r38"))
            for lib in (tc, torch)}


def test_crop_forward_and_gradient_match_torch(ops):
    pic = np.random.default_rng(0).standard_normal((3, 8, 8)).astype(np.float32)
    results = {}
    for lib in (tc, torch):
        x = lib.tensor(pic, requires_grad=True)
        y = ops[lib][0](x, (1, 2, 5, 6))
        (y * y).sum().backward()
        results[lib] = (y, x.grad, type(y.grad_fn).__name__.replace(lib.__name__, "NS"))
    assert_close(results[tc][0], results[torch][0])
    assert_close(results[tc][1], results[torch][1])
    assert results[tc][2] == results[torch][2]


def test_backward_without_a_formula_raises_torchs_error(ops):
    messages = {}
    for lib in (tc, torch):
        x = lib.ones(3, 4, 4, requires_grad=True)
        y = ops[lib][1](x, (0, 0, 2, 2))
        assert y.requires_grad
        with pytest.raises(RuntimeError) as info:
            y.sum().backward()
        messages[lib] = str(info.value).replace(f"{lib.__name__}_r38", "NS")
    assert messages[tc] == messages[torch]


def test_a_mutating_op_writes_its_output_and_returns_none(ops):
    values = {}
    for lib in (tc, torch):
        out = lib.empty(5)
        assert ops[lib][2](lib.linspace(-2, 2, 5), out) is None
        values[lib] = out
    assert_close(values[tc], values[torch])


def test_opcheck_reports_success_as_torch(ops):
    pic = np.random.default_rng(1).standard_normal((2, 6, 6)).astype(np.float32)
    for i, make_args in enumerate([lambda lib: (lib.tensor(pic, requires_grad=True), (1, 1, 4, 5)),
                                   lambda lib: (lib.tensor(pic), (0, 0, 6, 6))]):
        got = tc.library.opcheck(ops[tc][0], make_args(tc))
        want = torch.library.opcheck(ops[torch][0], make_args(torch))
        assert got == want, f"example {i}: tracecomp={got} | torch={want}"
    got = tc.library.opcheck(ops[tc][2], (tc.ones(3), tc.empty(3)))
    assert got == torch.library.opcheck(ops[torch][2], (torch.ones(3), torch.empty(3)))


def test_opcheck_catches_a_missing_fake_and_an_undeclared_mutation():
    for lib in (tc, torch):
        @lib.library.custom_op(f"{lib.__name__}_r38::no_fake", mutates_args=())
        def no_fake(x: lib.Tensor) -> lib.Tensor:
            return x * 2

        @lib.library.custom_op(f"{lib.__name__}_r38::sneaky", mutates_args=())
        def sneaky(x: lib.Tensor) -> lib.Tensor:
            x.add_(1)
            return x.clone()

        with pytest.raises(Exception, match="test_faketensor failed with There was no fake "
                                            "impl registered"):
            lib.library.opcheck(no_fake, (lib.ones(2),))
        with pytest.raises(Exception, match="test_schema failed with Argument x is not "
                                            "defined as mutable but was mutated"):
            lib.library.opcheck(sneaky, (lib.ones(2),))
        result = lib.library.opcheck(sneaky, (lib.ones(2),), raise_exception=False)
        assert isinstance(result["test_schema"], Exception)


def test_definition_errors_match_torch():
    for lib in (tc, torch):
        with pytest.raises(ValueError, match="Parameter x must have a type annotation"):
            lib.library.custom_op(f"{lib.__name__}_r38::bare", mutates_args=())(lambda x: x)

        @lib.library.custom_op(f"{lib.__name__}_r38::same", mutates_args=())
        def same(x: lib.Tensor) -> lib.Tensor:
            return x
        with pytest.raises(RuntimeError, match="must not also be an input to this custom "
                                               "operator"):
            same(lib.ones(2))


def _train(lib, mysin, scaled_tanh, traceable_only, compiled, w0, xs):
    """SGD steps of a Linear through the sin ops; the losses and the final weight."""
    lin = lib.nn.Linear(6, 4, bias=False)
    with lib.no_grad():
        lin.weight.copy_(lib.tensor(w0))
    opt = lib.optim.SGD(lin.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        y = scaled_tanh(lin(x), 1.5)
        loss = y.sum() if traceable_only else mysin(y).pow(2).sum()
        loss.backward()
        opt.step()
        return loss
    if compiled:
        step = tc.compile(step, fullgraph=traceable_only)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        losses = [step(lib.tensor(x)).item() for x in xs]
    return np.array(losses), lin.weight.detach().numpy().copy()


@pytest.mark.parametrize("traceable_only", [False, True])
def test_custom_ops_in_a_compiled_training_step_give_torchs_numbers(ops, traceable_only):
    """A model calling both sin ops, its step compiled (the numpy one a graph break, as the
    warning says), and compile(fullgraph=True) over the traceable one alone."""
    rng = np.random.default_rng(2)
    w0 = rng.standard_normal((4, 6)).astype(np.float32)
    xs = rng.standard_normal((3, 5, 6)).astype(np.float32)
    want = _train(torch, *ops[torch][3:], traceable_only, False, w0, xs)
    for compiled in (False, True):
        got = _train(tc, *ops[tc][3:], traceable_only, compiled, w0, xs)
        assert_close(got[0], want[0], what=f"losses (compiled={compiled})")
        assert_close(got[1], want[1], what=f"weight (compiled={compiled})")


def test_a_traceable_mutating_op_updates_the_callers_tensor_when_compiled():
    """Its kernel writes `out` with a tensor op: compiled, the write must reach the
    caller's tensor (an argument of the compiled function, or one made inside it)."""
    x = np.array([0.1, 0.2, 0.3], dtype=np.float32)
    results = {}
    for lib in (tc, torch):
        @lib.library.custom_op(f"{lib.__name__}_r38::sin_into", mutates_args={"out"})
        def sin_into(x: lib.Tensor, out: lib.Tensor) -> None:
            out.copy_(x.sin())

        def into_argument(x, out, sin_into=sin_into):
            sin_into(x, out)
            return out + 1

        def into_local(x, lib=lib, sin_into=sin_into):
            out = lib.zeros(3)
            sin_into(x, out)
            return out * 2
        if lib is tc:
            into_argument = tc.compile(into_argument, fullgraph=True)
            into_local = tc.compile(into_local, fullgraph=True)
        out = lib.zeros(3)
        results[lib] = (into_argument(lib.tensor(x), out), out, into_local(lib.tensor(x)))
    for got, want in zip(results[tc], results[torch]):
        assert_close(got, want)


def test_registrations_by_name_and_a_cpu_kernel_as_torch():
    """torch.library.register_fake / register_autograd / register_kernel given the
    operator's name: the cpu kernel replaces the function on cpu inputs."""
    x = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    results = {}
    for lib in (tc, torch):
        name = f"{lib.__name__}_r38::double_it"

        @lib.library.custom_op(name, mutates_args=())
        def double_it(x: lib.Tensor) -> lib.Tensor:
            return x * 2

        @lib.library.register_fake(name)
        def _(x):
            return x.new_empty(x.shape)

        lib.library.register_kernel(name, "cpu", lambda x: x * 3)
        lib.library.register_autograd(name, lambda ctx, g: g * 3)
        t = lib.tensor(x, requires_grad=True)
        y = double_it(t)
        y.sum().backward()
        results[lib] = (y, t.grad, lib.library.opcheck(double_it, (lib.tensor(x),)))
    assert_close(results[tc][0], results[torch][0])
    assert_close(results[tc][1], results[torch][1])
    assert results[tc][2] == results[torch][2]
