"""tracecomp.compiler.set_stance (torch.compiler.set_stance, compiler/stance.py): as a
function, context manager and decorator; force_eager, eager_on_recompile,
fail_on_recompile and eager_then_compile as torch's recipe shows them, for functions,
modules and optimizers' compiled updates; no change inside compiled code."""
import numpy as np
import pytest

import tracecomp as tc
from tracecomp.compiler import fused_step, stance


@pytest.fixture(autouse=True)
def default_stance():
    yield
    stance.current = "default"      # a failed test must not leave its stance behind


def _branchy():
    @tc.compile
    def f(x):
        return x + 1 if tc.compiler.is_compiling() else x - 1
    return f


def test_force_eager_as_a_function_a_context_manager_and_a_decorator():
    f, x = _branchy(), tc.zeros(2)
    assert f(x).tolist() == [1.0, 1.0]          # compiled
    with tc.compiler.set_stance("force_eager"):
        assert f(x).tolist() == [-1.0, -1.0]    # its Python, eagerly
    assert f(x).tolist() == [1.0, 1.0]

    @tc.compiler.set_stance("force_eager")
    def eager(x):
        return f(x)
    assert stance.current == "default"          # a decorator sets it only while it runs
    assert eager(x).tolist() == [-1.0, -1.0] and f(x).tolist() == [1.0, 1.0]
    tc.compiler.set_stance("force_eager")
    assert f(x).tolist() == [-1.0, -1.0]
    tc.compiler.set_stance("default")
    assert f(x).tolist() == [1.0, 1.0] and f.compiles == 1


def test_force_eager_runs_modules_and_optimizer_steps_uncompiled():
    model = tc.nn.Linear(3, 2)
    compiled = tc.compile(model)
    opt = tc.optim.SGD(model.parameters(), lr=0.1)
    x = tc.randn(4, 3)
    with tc.compiler.set_stance("force_eager"):
        for _ in range(2):
            opt.zero_grad()
            compiled(x).sum().backward()
            opt.step()
    assert compiled._compiled.compiles == 0 and opt not in fused_step._STEPS
    want = model(x)
    np.testing.assert_allclose(compiled(x).detach().numpy(), want.detach().numpy(),
                               rtol=1e-6)


def test_fail_on_recompile_raises_on_a_miss_and_serves_what_is_compiled():
    f = tc.compile(lambda x: tc.relu(x))
    f(tc.randn(3))
    with tc.compiler.set_stance("fail_on_recompile"):
        f(tc.randn(3))
        with pytest.raises(RuntimeError, match=r"Detected recompile when torch.compile "
                                               r"stance is 'fail_on_recompile'.*x dim 0: 3 "
                                               r"-> 4"):
            f(tc.randn(4))
    assert f.compiles == 1


def test_eager_on_recompile_runs_a_miss_eagerly_and_compiles_nothing():
    f, three, four = _branchy(), tc.zeros(3), tc.zeros(4)
    assert f(three).tolist() == [1.0] * 3
    with tc.compiler.set_stance("eager_on_recompile"):
        assert f(three).tolist() == [1.0] * 3       # compiled for this shape already
        assert f(four).tolist() == [-1.0] * 4       # would compile: eagerly
        assert f(four).tolist() == [-1.0] * 4       # and again: nothing was cached
    assert f.compiles == 1
    assert f(four).tolist() == [1.0] * 4 and f.compiles == 2


@pytest.mark.parametrize("name", ["eager_then_compile", "aot_eager_then_compile"])
def test_eager_then_compile_runs_each_functions_first_call_eagerly(name):
    f, x = _branchy(), tc.zeros(2)
    with tc.compiler.set_stance(name):
        assert f(x).tolist() == [-1.0, -1.0] and f.compiles == 0
        assert f(x).tolist() == [1.0, 1.0] and f.compiles == 1


def test_the_stance_cannot_change_inside_compiled_code():
    @tc.compile
    def inside(x):
        with tc.compiler.set_stance("force_eager"):
            return x + 1

    @tc.compiler.set_stance("force_eager")
    def decorated(x):
        return x + 1
    for f in (inside, tc.compile(lambda x: decorated(x))):
        with pytest.raises(RuntimeError, match="attempted to set_stance in a torch.compile "
                                               "region"):
            f(tc.zeros(2))
    assert stance.current == "default"


def test_bad_stances_and_options_are_torchs_errors():
    with pytest.raises(RuntimeError, match="invalid torch.compile stance 'bogus'"):
        tc.compiler.set_stance("bogus")
    with pytest.raises(RuntimeError, match="non-default stance cannot have force_backend"):
        tc.compiler.set_stance("force_eager", force_backend="eager")
    tc.compiler.set_stance("default", skip_guard_eval_unsafe=True)     # checks stay on
    assert stance.current == "default"
