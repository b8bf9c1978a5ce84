"""The rest of tracecomp.fx's surface: module paths, print_tabular, Proxy over a hand-made
graph, has_side_effect, and that tracing leaves tracecomp's functions as they were."""
import numpy as np
import pytest
import torch
from twins import twin

import tracecomp as tc
import tracecomp.fx as fx
import tracecomp.nn.functional as F

from helpers import assert_close, to_tc


def test_module_paths_like_torch():
    import tracecomp.fx.passes.shape_prop as shape_prop
    assert tc.fx.passes.shape_prop is shape_prop
    assert tc.fx.experimental.optimization.fuse is not None
    for name in ("Graph", "GraphModule", "Interpreter", "Node", "PH", "Proxy", "Tracer",
                 "Transformer", "has_side_effect", "map_arg", "replace_pattern",
                 "symbolic_trace", "wrap"):
        assert hasattr(torch.fx, name) and hasattr(tc.fx, name), name


def test_print_tabular_lists_every_node(capsys):
    gm = fx.symbolic_trace(twin("MLP")[0])
    gm.graph.print_tabular()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["opcode", "name", "target", "args", "kwargs"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    rows = [line.split()[:3] for line in lines[2:]]
    assert rows == [[n.op, n.name, str(n.target) if n.op != "call_function" else
                     "tracecomp.nn.functional.log_softmax"] for n in gm.graph.nodes]


def test_proxy_over_a_hand_made_graph_records_methods_and_operators():
    made = {}
    for lib in (tc, torch):
        graph = lib.fx.Graph()
        x = lib.fx.Proxy(graph.placeholder("x"))
        y = (x.relu() * 2 + 1).sum(dim=0)
        graph.output(y.node)
        made[lib] = lib.fx.GraphModule(lib.nn.Module(), graph)
        assert [n.name for n in graph.nodes] == ["x", "relu", "mul", "add", "sum_1",
                                                 "output"], lib
    a = torch.randn(3, 2)
    assert made[tc].code.replace("tracecomp.", "torch.") == made[torch].code
    assert_close(made[tc](to_tc(a)), made[torch](a))


def _log(x):
    return x


def test_has_side_effect_keeps_unread_calls():
    g = fx.Graph()
    x = g.placeholder("x")
    g.call_function(_log, (x,))
    g.output(x)
    assert g.eliminate_dead_code() and len(g.nodes) == 2
    fx.has_side_effect(_log)
    g.call_function(_log, (x,))
    assert not g.eliminate_dead_code() and len(g.nodes) == 3


def test_tracing_restores_what_it_patched_even_on_error():
    before = (tc.add, F.relu, tc.Tensor.__add__, tc.nn.Module.__call__,
              tc.nn.Module.__getattr__)

    def bad(x):
        return x if x.sum() > 0 else -x

    with pytest.raises(fx.proxy.TraceError):
        fx.symbolic_trace(bad)
    fx.symbolic_trace(twin("CNN")[0])
    after = (tc.add, F.relu, tc.Tensor.__add__, tc.nn.Module.__call__,
             tc.nn.Module.__getattr__)
    assert all(a is b for a, b in zip(before, after))
    assert "__add__" not in tc.Tensor.__dict__ or tc.Tensor.__dict__["__add__"] is before[2]


def test_custom_tracer_call_module_override():
    calls = []

    class Recording(fx.Tracer):
        def call_module(self, m, forward, args, kwargs):
            calls.append(self.path_of_module(m))
            return super().call_module(m, forward, args, kwargs)

    ours, ref = twin("MLP")
    g = Recording().trace(ours)
    assert calls == ["fc1", "act", "fc2"]
    x = torch.randn(2, 8)
    assert_close(fx.GraphModule(ours, g)(to_tc(x)), ref(x))


def test_functions_record_proxies_outside_a_trace():
    """pytorch/examples' proxy_based_graph_creation: functions called on the Proxies of a
    hand-made graph record nodes through __torch_function__ (a Proxy inside a list, a
    keyword argument, an alias's own name), as torch's do."""
    got = []
    for lib in (torch, tc):
        graph = lib.fx.Graph()
        x = lib.fx.Proxy(graph.placeholder("x"))
        y = lib.relu(x)
        z = lib.softmax(lib.arctan(y), dim=0)
        w = lib.cat([z, x])
        v = lib.add(w, other=lib.neg(w), alpha=2)
        graph.output(v.node)
        gm = lib.fx.GraphModule(lib.nn.Module(), graph)
        got.append((str(graph).replace(lib.__name__, "LIB"),
                    gm(lib.tensor([-1.0, 2.0])).tolist()))
    assert got[1][0] == got[0][0]
    np.testing.assert_allclose(got[1][1], got[0][1], rtol=1e-6)


def test_hand_made_graph_prints_public_names_before_any_trace():
    import subprocess
    import sys
    code = ("import tracecomp as tc, tracecomp.fx as fx\n"
            "g = fx.Graph()\n"
            "g.output(g.call_function(tc.nn.functional.relu, (g.placeholder('x'),)))\n"
            "print(g)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "call_function[target=tracecomp.nn.functional.relu]" in out
