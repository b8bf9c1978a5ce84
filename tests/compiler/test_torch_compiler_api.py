"""torch.compiler's functions (tracecomp.compiler, compiler/torch_api.py) and torch's
backend names for tracecomp.compile, against torch's semantics."""
import subprocess
import sys

import numpy as np
import pytest

import tracecomp as tc
from tracecomp.errors import LoweringError


def _backend(compiled):
    return compiled.cache.signatures()[0].as_dict()["backend"]


def test_is_compiling_is_true_only_while_compiled_code_is_traced():
    @tc.compile
    def f(x):
        return x * (3 if tc.compiler.is_compiling() else 2)
    assert not tc.compiler.is_compiling()
    assert f(tc.ones(2)).tolist() == [3.0, 3.0]       # the traced branch, as torch.compile
    assert tc.compiler.is_dynamo_compiling() is False


@pytest.mark.parametrize("name, runs", [("inductor", "llvm"), ("eager", "interp"),
                                        ("aot_eager", "interp"), ("llvm", "llvm")])
def test_torchs_backend_names_run_as_their_counterpart(name, runs):
    f = tc.compile(lambda x: x * 2 + 1, backend=name)
    np.testing.assert_array_equal(f(tc.ones(3)).numpy(), [3.0, 3.0, 3.0])
    assert _backend(f) == runs


def test_a_backend_function_and_an_unknown_name_are_refused():
    with pytest.raises(TypeError, match=r"backend='my_backend' is a function.*FX graphs.*"
                                        r"Give a name: aot_eager, cuda, eager, inductor"):
        def my_backend(gm, example_inputs):
            return gm
        tc.compile(lambda x: x, backend=my_backend)
    with pytest.raises(LoweringError, match="unknown backend 'tvm'"):
        tc.compile(lambda x: x, backend="tvm")


def test_list_backends_leaves_the_debug_ones_out_by_default():
    assert tc.compiler.list_backends() == ["cuda", "inductor", "llvm"]
    assert tc.compiler.list_backends(exclude_tags=None) == [
        "aot_eager", "cuda", "eager", "inductor", "interp", "llvm"]


def test_a_disabled_function_runs_eagerly_when_compiled_and_is_traced_when_called():
    @tc.compiler.disable
    def shift(x):
        return x + 10

    @tc.compiler.disable(reason="logging")
    def scale(x):
        return x * 2
    assert tc.compile(shift) is shift and tc.compile(scale) is scale
    assert shift(tc.ones(1)).item() == 11 and scale.__name__ == "scale"
    f = tc.compile(lambda x: scale(shift(x)) - 1)
    assert f(tc.ones(2)).tolist() == [21.0, 21.0]


def test_allow_in_graph_and_assume_constant_result_keep_the_numbers():
    def norm(x):
        return x / x.sum()
    for mark in (tc.compiler.allow_in_graph, tc.compiler.assume_constant_result):
        marked = mark(norm)
        f = tc.compile(lambda x, marked=marked: marked(x) * 4)
        for x in (tc.ones(4), tc.arange(1.0, 5.0)):       # a result that changes is seen
            np.testing.assert_allclose(f(x).numpy(), (norm(x) * 4).numpy(), rtol=1e-6)


def test_reset_and_compile_are_tracecomps():
    f = tc.compiler.compile(lambda x: x - 1)
    f(tc.ones(1))
    tc.compiler.reset()
    assert f.compiles == 0
    f(tc.ones(1))
    assert f.compiles == 1


def test_the_namespace_is_reachable_after_import_tracecomp_and_loads_no_compiler():
    code = ("import sys, tracecomp\n"
            "print(tracecomp.compiler.is_compiling(), "
            "'tracecomp.compiler.driver' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["False", "False"], out.stderr
