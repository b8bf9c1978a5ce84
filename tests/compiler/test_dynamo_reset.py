"""tracecomp._dynamo.reset (torch._dynamo.reset): every compiled function, module and fused
optimizer step drops its compiled versions and fast paths and compiles again on its next
call, with the same numbers, its compile count from zero; before anything compiled it
loads nothing."""
import subprocess
import sys

import numpy as np
import pytest

import tracecomp as tc
from tracecomp.compiler import fused_step


def test_functions_modules_and_fused_steps_compile_again():
    f = tc.compile(lambda x: x * 3 - 1)
    model = tc.nn.Sequential(tc.nn.Linear(4, 3), tc.nn.ReLU())
    compiled = tc.compile(model)
    opt = tc.optim.SGD(model.parameters(), lr=0.1)
    x = tc.randn(2, 4)

    def run():
        out = f(x)
        opt.zero_grad()
        compiled(x).sum().backward()
        opt.step()
        with tc.no_grad():
            inference = compiled(x)
        return out, inference
    for _ in range(3):
        before = run()
    counts = (f.compiles, compiled._compiled.compiles, fused_step._STEPS[opt].compiled.compiles)
    assert f._fast is not None and compiled._fast is not None      # the fast paths held
    assert fused_step._STEPS[opt].repeat is not None
    tc._dynamo.reset()
    assert f.compiles == 0 and compiled._compiled.compiles == 0
    assert f._fast is None and compiled._fast is None and opt not in fused_step._STEPS
    after = run()
    assert (f.compiles, compiled._compiled.compiles,
            fused_step._STEPS[opt].compiled.compiles) == counts    # each compiled again
    np.testing.assert_allclose(after[0].numpy(), before[0].numpy())


def test_reset_before_any_compile_loads_nothing():
    code = ("import sys, tracecomp as tc\n"
            "tc._dynamo.reset()\n"
            "print('tracecomp.compiler.driver' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


@pytest.fixture
def dynamo_config():
    """torch._dynamo.config, put back as it was after the test."""
    saved = dict(tc._dynamo.config._values)
    yield tc._dynamo.config
    tc._dynamo.config._values.clear()
    tc._dynamo.config._values.update(saved)


def test_suppress_errors_makes_later_compiles_run_a_failed_trace_eagerly(dynamo_config):
    """torch._dynamo.config.suppress_errors = True: compile() without fallback= falls back
    to eager, with fallback='eager''s warning (was an AttributeError on `config`)."""
    def f(x):
        return x * 2 if x.sum().item() > 0 else x
    with pytest.raises(tc.TraceError):
        tc.compile(f, fullgraph=True)(tc.ones(2))
    dynamo_config.suppress_errors = True
    with pytest.warns(UserWarning, match="fallback='eager'"):
        assert tc.compile(f)(tc.ones(2)).tolist() == [2.0, 2.0]


def test_cache_size_limit_is_the_recompile_limit_and_other_options_say_they_do_nothing(
        dynamo_config):
    assert dynamo_config.cache_size_limit == dynamo_config.recompile_limit == 8
    dynamo_config.cache_size_limit = 1
    f = tc.compile(lambda x, k: x * k)
    f(tc.ones(2), 2)
    with pytest.warns(UserWarning, match="recompiled 2 times \\(limit 1\\)"):
        f(tc.ones(2), 3)
    with pytest.warns(UserWarning, match="config.capture_scalar_outputs has no effect"):
        dynamo_config.capture_scalar_outputs = True
    with pytest.raises(AttributeError, match="no option 'no_such_option'"):
        dynamo_config.no_such_option  # noqa: B018
