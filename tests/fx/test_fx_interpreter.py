"""fx.Interpreter (a profiling subclass, errors), fx.Transformer (rewriting calls) and
fx.passes.shape_prop.ShapeProp against torch.fx."""
import pytest
import torch
import torch.fx.passes.shape_prop as torch_shape_prop
from twins import node_list, torch_code, twin

import tracecomp as tc
import tracecomp.fx as fx
from tracecomp import sigmoid as tc_sigmoid
from tracecomp.fx.passes.shape_prop import ShapeProp, TensorMetadata

from helpers import assert_close, to_tc


def _counting(base):
    """An Interpreter subclass that counts node runs per op, as the profiling tutorial's
    ProfilingInterpreter times them (times are not comparable; counts are)."""
    class Counting(base):
        def __init__(self, gm):
            super().__init__(gm)
            self.ran = []

        def run_node(self, n):
            result = super().run_node(n)
            self.ran.append((n.op, n.name))
            return result
    return Counting


def test_interpreter_runs_the_graph_like_torch():
    ours, ref = twin("CNN")
    gm, ref_gm = fx.symbolic_trace(ours), torch.fx.symbolic_trace(ref)
    x = torch.randn(2, 3, 6, 6)
    interp, ref_interp = _counting(fx.Interpreter)(gm), _counting(torch.fx.Interpreter)(ref_gm)
    out, ref_out = interp.run(to_tc(x)), ref_interp.run(x)
    assert_close(out[0], ref_out[0], rtol=1e-4, atol=1e-5)
    assert out[1] == ref_out[1]
    assert interp.ran == ref_interp.ran
    assert interp.env == {} or all(n.op == "output" for n in interp.env)


def test_interpreter_error_names_the_node():
    def fn(lib):
        return lambda x, w: lib.matmul(x, w)

    gm = fx.symbolic_trace(fn(tc))
    with pytest.raises(tc.ShapeError, match="While executing %matmul"):
        fx.Interpreter(gm).run(tc.ones(2, 3), tc.ones(4, 5))
    with pytest.raises(RuntimeError, match="Expected positional argument for parameter w"):
        fx.Interpreter(gm).run(tc.ones(2, 3))


def _swap(base, lib):
    """The Transformer docs' example: sigmoid -> neg, and method relu -> sigmoid."""
    class Swap(base):
        def call_function(self, target, args, kwargs):
            if target == lib.add:
                return lib.sub(*args, **kwargs)
            return super().call_function(target, args, kwargs)

        def call_method(self, target, args, kwargs):
            if target == "relu":
                target = "sigmoid"
            return super().call_method(target, args, kwargs)
    return Swap


def test_transformer_rewrites_calls_like_torch():
    def fn(lib):
        def f(x, y):
            return lib.add(x, y).relu() * 2
        return f

    gm, ref_gm = fx.symbolic_trace(fn(tc)), torch.fx.symbolic_trace(fn(torch))
    new, ref_new = _swap(fx.Transformer, tc)(gm).transform(), \
        _swap(torch.fx.Transformer, torch)(ref_gm).transform()
    assert node_list(new) == node_list(ref_new)
    assert torch_code(new.code) == ref_new.code
    x, y = torch.randn(5), torch.randn(5)
    assert_close(new(to_tc(x), to_tc(y)), ref_new(x, y))
    # modules stay call_module nodes
    ours, ref = twin("MLP")
    t = fx.Transformer(fx.symbolic_trace(ours)).transform()
    ref_t = torch.fx.Transformer(torch.fx.symbolic_trace(ref)).transform()
    assert node_list(t) == node_list(ref_t)


def test_shape_prop_records_torch_metadata():
    ours, ref = twin("CNN")
    gm, ref_gm = fx.symbolic_trace(ours), torch.fx.symbolic_trace(ref)
    x = torch.randn(2, 3, 6, 6)
    ShapeProp(gm).propagate(to_tc(x))
    torch_shape_prop.ShapeProp(ref_gm).propagate(x)
    checked = 0
    for n, r in zip(gm.graph.nodes, ref_gm.graph.nodes):
        assert ("tensor_meta" in n.meta) == ("tensor_meta" in r.meta), n.name
        assert n.meta["type"].__name__ == r.meta["type"].__name__, n.name
        if "tensor_meta" not in r.meta:
            continue
        got, want = n.meta["tensor_meta"], r.meta["tensor_meta"]
        if isinstance(want, torch_shape_prop.TensorMetadata):
            got, want = (got,), (want,)
        for g, w in zip(got, want):
            if not isinstance(w, torch_shape_prop.TensorMetadata):
                assert g == w, n.name     # a non-tensor part of a result stays as it is
                continue
            assert isinstance(g, TensorMetadata)
            assert tuple(g.shape) == tuple(w.shape), n.name
            assert str(g.dtype).split(".")[-1] == str(w.dtype).split(".")[-1]
            assert g.requires_grad == w.requires_grad, n.name
            assert tuple(g.stride) == tuple(w.stride), n.name
            assert str(g.memory_format).split(".")[-1] == str(w.memory_format).split(".")[-1]
            checked += 1
    assert checked >= 20


class _ReluToSigmoid(fx.Transformer):
    """Calls a tracecomp function imported by name (tc_sigmoid) on Proxies."""

    def call_function(self, target, args, kwargs):
        if target == tc.relu:
            return tc_sigmoid(*args)
        return super().call_function(target, args, kwargs)


def test_transformer_records_functions_imported_by_name():
    gm = fx.symbolic_trace(lambda x: tc.relu(x) + 1)
    new = _ReluToSigmoid(gm).transform()
    assert [n.name for n in new.graph.nodes] == ["x", "sigmoid", "add", "output"]
    x = tc.tensor([-1.0, 0.5])
    assert tc.allclose(new(x), tc.sigmoid(x) + 1)
