"""Editing FX graphs (retarget, insert, replace uses, erase, dead code, copies, lint) and
recompiling: the same edits on torch.fx and tracecomp.fx give the same graphs and outputs."""
import operator

import pytest
import torch
from twins import node_list, torch_code, twin

import tracecomp as tc
import tracecomp.fx as fx

from helpers import assert_close, to_tc


def _both(fn_of_lib):
    return fx.symbolic_trace(fn_of_lib(tc)), torch.fx.symbolic_trace(fn_of_lib(torch))


def _adds(lib):
    def fn(x, y):
        return lib.add(x, y) + lib.add(y, x).sigmoid()
    return fn


def test_retarget_add_to_mul():
    ours, ref = _both(_adds)
    for lib, gm in ((tc, ours), (torch, ref)):
        for node in gm.graph.nodes:
            if node.op == "call_function" and node.target == lib.add:
                node.target = lib.mul
        gm.recompile()
    assert torch_code(ours.code) == ref.code
    x, y = torch.randn(3), torch.randn(3)
    assert_close(ours(to_tc(x), to_tc(y)), ref(x, y))
    assert_close(ours(to_tc(x), to_tc(y)), to_tc(x * y + (y * x).sigmoid()))


def _insert_relu_after_each_add(gm, lib):
    graph = gm.graph
    for node in list(graph.nodes):
        if node.op == "call_function" and node.target is operator.add:
            with graph.inserting_after(node):
                new = graph.call_function(lib.relu, (node,))
            node.replace_all_uses_with(new, delete_user_cb=lambda user, new=new: user is not new)
    graph.lint()
    gm.recompile()


def test_insert_after_replace_uses_and_recompile():
    ours, ref = twin("CNN")
    gm, ref_gm = fx.symbolic_trace(ours), torch.fx.symbolic_trace(ref)
    _insert_relu_after_each_add(gm, tc)
    _insert_relu_after_each_add(ref_gm, torch)
    assert node_list(gm) == node_list(ref_gm)
    x = torch.randn(2, 3, 5, 5)
    assert_close(gm(to_tc(x))[0], ref_gm(x)[0], rtol=1e-4, atol=1e-5)


def test_inserting_after_puts_each_new_node_right_after_the_anchor_as_torch():
    def one(lib):
        return lambda x: x.relu()

    for lib, gm in zip((tc, torch), _both(one)):
        x = next(iter(gm.graph.nodes))
        with gm.graph.inserting_after(x):
            a = gm.graph.call_function(lib.neg, (x,))
            gm.graph.call_function(lib.abs, (a,))
        names = [n.name for n in gm.graph.nodes]
        assert names == ["x", "abs_1", "neg", "relu", "output"], lib
        with pytest.raises(RuntimeError, match="used before it has been defined"):
            gm.graph.lint()


def test_erase_dead_code_and_errors():
    def fn(lib):
        def f(x):
            unused = lib.exp(x)     # noqa: F841
            y = x * 2
            return y.sum()
        return f

    ours, ref = _both(fn)
    for gm in (ours, ref):
        mul = next(n for n in gm.graph.nodes if n.name == "mul")
        with pytest.raises(RuntimeError, match="Tried to erase Node mul but it still had 1 "
                                               "users in the graph"):
            gm.graph.erase_node(mul)
        assert gm.graph.eliminate_dead_code()
        gm.recompile()
    assert node_list(ours) == node_list(ref)
    assert "exp" not in ours.code
    x = torch.randn(4)
    assert_close(ours(to_tc(x)), ref(x))


def test_build_a_graph_by_hand_and_copy_it():
    def build(lib, mod):
        g = mod.Graph()
        x = g.placeholder("x")
        w = g.get_attr("weight")
        mm = g.call_function(lib.matmul, (x, w))
        r = g.call_method("clamp", (mm,), {"min": 0.0})
        g.output((r, mm))
        return g

    ref_w = torch.randn(3, 2)
    ref_root = torch.nn.Module()
    ref_root.weight = torch.nn.Parameter(ref_w)
    root = tc.nn.Module()
    root.weight = tc.nn.Parameter(to_tc(ref_w))
    g, ref_g = build(tc, fx), build(torch, torch.fx)
    assert torch_code(str(g)) == str(ref_g)
    gm, ref_gm = fx.GraphModule(root, g), torch.fx.GraphModule(ref_root, ref_g)
    assert torch_code(gm.code) == ref_gm.code
    x = torch.randn(4, 3)
    for a, b in zip(gm(to_tc(x)), ref_gm(x)):
        assert_close(a, b)
    # graph_copy with a value map, as passes that splice graphs do
    g2 = fx.Graph()
    x2 = g2.placeholder("inp")
    out = g2.graph_copy(g, {next(iter(g.nodes)): x2})
    g2.output(out[0])
    g2.lint()
    assert [n.name for n in g2.nodes] == ["inp", "weight", "matmul", "clamp", "output"]


def test_lint_names_what_broke():
    g = fx.Graph()
    x = g.placeholder("x")
    other = fx.Graph().placeholder("y")
    n = g.call_function(tc.relu, (other,))
    with pytest.raises(RuntimeError, match="does not belong to this Graph"):
        g.lint()
    n.args = (x,)
    g.output(n)
    g.lint()
    g.owning_module = tc.nn.Module()
    with g.inserting_before(n):
        g.get_attr("missing.weight")
    with pytest.raises(RuntimeError, match="references nonexistent attribute missing"):
        g.lint()


def test_node_copy_and_replace_input():
    def fn(lib):
        return lambda x, y: lib.sub(x, y)

    for lib, gm in zip((tc, torch), _both(fn)):
        x, y, sub, out = gm.graph.nodes
        sub.replace_input_with(y, x)
        assert sub.args == (x, x) and not y.users
        with gm.graph.inserting_before(out):
            twin_sub = gm.graph.node_copy(sub)
        assert twin_sub.name == "sub_1" and twin_sub.args == (x, x)
        out.args = ((sub, twin_sub),)
        gm.recompile()
        a = lib.ones(2)
        r = gm(a, a)
        assert float(r[0].sum()) == 0.0 and float(r[1].sum()) == 0.0


def test_in_place_operators_print_as_statements_like_torch():
    codes = {}
    for lib in (tc, torch):
        g = lib.fx.Graph()
        a = g.placeholder("a")
        g.call_function(operator.setitem, (a, 0, 1.0))
        g.output(g.call_function(operator.iadd, (a, 2)))
        gm = lib.fx.GraphModule(lib.nn.Module(), g)
        codes[lib] = gm.code
        assert [float(v) for v in gm(lib.zeros(2))] == [3.0, 2.0]
    assert codes[tc] == codes[torch]


def test_generated_code_globals_never_shadow_values():
    g = fx.Graph()
    a = g.placeholder("operator_abs")        # the global operator.abs would take
    b = g.placeholder("tracecomp")           # reserved: the node becomes tracecomp_1
    total = g.call_function(tc.add, (g.call_function(operator.abs, (a,)), b))
    g.output(total)
    gm = fx.GraphModule(tc.nn.Module(), g)
    assert [n.name for n in g.nodes][:2] == ["operator_abs", "tracecomp_1"]
    assert float(gm(tc.tensor([-2.0]), tc.tensor([1.0]))) == 3.0
