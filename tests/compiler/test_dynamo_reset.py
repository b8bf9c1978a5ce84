"""tracecomp._dynamo.reset (torch._dynamo.reset): every compiled function, module and fused
optimizer step drops its compiled versions and fast paths and compiles again on its next
call, with the same numbers, its compile count from zero; before anything compiled it
loads nothing."""
import subprocess
import sys

import numpy as np

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
