"""The simplification passes: DCE, CSE, constant folding and algebra.

Each pass gets tiny before/after checks (which nodes go, which must stay), and one
property check over a table of traced functions: after the pass `verify` passes, the input
graph is untouched, the outputs keep their shapes and dtypes and their values on random
inputs, and every node keeps a source line of the original. Two golden IR texts pin the
printed result exactly.
"""
import inspect
import re

import numpy as np
import pytest

import tracecomp as tc
from tracecomp.codegen.interp import compile_graph
from tracecomp.errors import IRError
from tracecomp.ir import Graph, verify
from tracecomp.ops.registry import PRIMITIVES
from tracecomp.passes import algebra, constant_folding, cse, dce
from tracecomp.tracing.tracer import trace

PASSES = {"dce": dce.run, "cse": cse.run, "constant_folding": constant_folding.run,
          "algebra": algebra.run}


def pipeline(graph):
    """All four in a sensible order (the property must hold for the composition too)."""
    for run in (algebra.run, constant_folding.run, cse.run, dce.run):
        graph = run(graph)
    return graph


# --- helpers -----------------------------------------------------------------------------
def traced(fn, *shapes):
    """fn traced on example tensors; a shape tuple means float32, ("i", shape) int64."""
    return trace(fn, *[tc.zeros(s[1], dtype=tc.int64) if s[0] == "i" else tc.zeros(s)
                       for s in shapes])


def random_inputs(graph, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(-3, 4, n.shape).astype(n.dtype) if n.dtype.kind in "iub"
            else rng.standard_normal(n.shape).astype(n.dtype) for n in graph.inputs]


def ops(graph):
    """The ops of graph's computing nodes, in order (constants excluded)."""
    return [n.op for n in graph.nodes if n.op != "constant"]


def strip_comments(text):
    return re.sub(r"\s+# .*$", "", text, flags=re.MULTILINE)


def check_pass(run, graph, name):
    """run(graph) keeps the IR valid, the input graph intact, the outputs' types and
    values, and the source lines."""
    verify(graph)
    before = str(graph)
    out = run(graph)
    verify(out, context=name)
    verify(graph)
    assert str(graph) == before, f"{name} changed its input graph"
    assert not set(out.nodes) & set(graph.nodes), f"{name} shares nodes with its input"
    assert len(out.inputs) == len(graph.inputs) and len(out.outputs) == len(graph.outputs)
    for k, (o, w) in enumerate(zip(out.outputs, graph.outputs, strict=True)):
        assert (o.shape, o.dtype) == (w.shape, w.dtype), f"{name}: output {k} changed type"
    sources = {n.source for n in graph.nodes}
    assert all(n.source in sources for n in out.nodes), f"{name} invented a source line"
    args = random_inputs(graph)
    want, got = compile_graph(graph)(args), compile_graph(out)(args)
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6,
                                   err_msg=f"output {k} of {name}: ACTUAL after it, DESIRED before")
    return out


# --- the functions of the property check ---------------------------------------------------
def mlp(x, w1, b1, w2):
    h = (x @ w1 + b1).relu()
    return (h @ w2).sum(), h


def redundant(x, y):
    a = (x + y) * (y + x)
    return a + (x + y).exp() + (x * 2) * (x * 2), (x * 2).sum()


def transposes(x):
    return (x.permute(1, 2, 0).permute(2, 0, 1) + 1, x.transpose(0, 1).transpose(0, 1),
            x.permute(2, 1, 0).permute(1, 0, 2))


def reshapes(x):
    return x.reshape(3, 4).reshape(12).reshape(4, 3), x.reshape(12).reshape(2, 6) * 2


def units(x, i):
    return (x * 1 + 0, 1 * x - 0, (0 + x) / 1, x.neg().neg(), i + 0, i * 1.0,
            x * tc.ones(2, 1, 1), x - tc.zeros(4))


def expand_sums(x, y):
    return (x.expand(4, 3).sum(0), y.expand(2, 5, 3).sum(1, keepdim=True),
            y.expand(2, 5, 3).sum((0, 1)), x.expand(2, 3).sum(), x[None].expand(2, 3).sum(0))


def constants(x):
    c = tc.ones(3) * 2
    return x + c, x * tc.arange(3), (x + c).sum() + c.sum(), x * tc.full((3,), 1.0)


FUNCTIONS = {
    "mlp": (mlp, (4, 5), (5, 6), (6,), (6, 2)),
    "redundant": (redundant, (3,), (3,)),
    "transposes": (transposes, (2, 3, 4)),
    "reshapes": (reshapes, (2, 6)),
    "units": (units, (3, 4), ("i", (4,))),
    "expand_sums": (expand_sums, (3,), (2, 1, 3)),
    "constants": (constants, (3,)),
}


@pytest.mark.parametrize("fn", FUNCTIONS)
@pytest.mark.parametrize("name", [*PASSES, "pipeline"])
def test_pass_keeps_meaning(name, fn):
    f, *shapes = FUNCTIONS[fn]
    check_pass(PASSES.get(name, pipeline), traced(f, *shapes), f"{name} on {fn}")


def test_pipeline_shrinks_the_table():
    sizes = {}
    for fn, (f, *shapes) in FUNCTIONS.items():
        graph = traced(f, *shapes)
        sizes[fn] = (graph.op_count(), pipeline(graph).op_count())
    assert sizes["mlp"][0] == sizes["mlp"][1]           # nothing to simplify
    for fn in ("redundant", "transposes", "reshapes", "units", "expand_sums"):
        assert sizes[fn][1] < sizes[fn][0], (fn, sizes[fn])


# --- DCE -----------------------------------------------------------------------------------
def test_dce_drops_unused_nodes_but_not_draws():
    """An unused draw stays: it advances the generator, as it does eagerly."""
    def f(x, unused):
        x.exp()
        tc.rand(3)
        return -x
    out = check_pass(dce.run, traced(f, (3,), (2,)), "dce")
    assert ops(out) == ["uniform", "neg"]
    assert [n.name for n in out.inputs] == ["arg0", "arg1"]       # the signature stays


def test_a_draw_overwritten_in_place_leaves_compiled_draws_as_eager():
    """uvadlc's Langevin sampler: `noise = randn(...)` refilled by `noise.normal_()`. Eager
    draws both; compiled code dropped the first, so its noise was eager's randn numbers."""
    def f(x):
        noise = tc.randn(x.shape)
        noise.normal_(0, 0.005)
        return x + noise + tc.rand(x.shape)
    tc.manual_seed(1)
    want = f(tc.zeros(4))
    compiled = tc.compile(f)
    for _ in range(2):      # the first call, and a call of the compiled code
        tc.manual_seed(1)
        np.testing.assert_array_equal(compiled(tc.zeros(4)).numpy(), want.numpy())


def test_dce_keeps_used_draws_and_shared_operands():
    def f(x):
        e = x.exp()
        return e + tc.rand(3), e * 2
    graph = traced(f, (3,))
    assert ops(dce.run(graph)) == ops(graph) == ["exp", "uniform", "add", "mul"]


# --- CSE -----------------------------------------------------------------------------------
def test_cse_merges_commutative_repeats_in_one_sweep():
    def f(x, y):
        return (x + y).exp() * (y + x).exp()
    out = check_pass(cse.run, traced(f, (3,), (3,)), "cse")
    assert ops(out) == ["add", "exp", "mul"]
    assert out.nodes[-1].inputs[0] is out.nodes[-1].inputs[1]


def test_cse_compares_scalars_by_type_and_value():
    def f(x):
        return x * 1, x * 1.0, x * True, x * 1, x - 2, 2 - x
    out = check_pass(cse.run, traced(f, (3,)), "cse")
    assert ops(out) == ["mul", "mul", "mul", "sub", "sub"]   # only the second x * 1 goes


def test_cse_compares_params():
    out = check_pass(cse.run, traced(lambda x: (x.reshape(2, 3), x.reshape(3, 2),
                                                 x.reshape(2, 3)), (6,)), "cse")
    assert ops(out) == ["reshape", "reshape"]
    out = check_pass(cse.run, traced(lambda x: (x.sum(0), x.sum(1), x.sum(0),
                                                 x.sum(0, keepdim=True)), (2, 3)), "cse")
    assert ops(out) == ["reduce_sum"] * 3


def test_cse_never_merges_draws():
    out = cse.run(traced(lambda x: x + tc.rand(3) + tc.rand(3), (3,)))
    verify(out)
    assert ops(out).count("uniform") == 2


def test_cse_keeps_a_no_grad_copy_apart():
    def f(x, w):
        with tc.no_grad():
            a = x * w
        return a, x * w
    graph = trace(f, tc.zeros(3).requires_grad_(), tc.zeros(3))
    out = cse.run(graph)
    verify(out)
    assert ops(out) == ["mul", "mul"]
    assert [o.requires_grad for o in out.outputs] == [False, True]


def test_cse_constants_by_value_when_small_by_identity_when_large():
    g = Graph()
    x = g.add_input("x", (300,), np.float32)
    big = np.ones(300, np.float32)
    big.flags.writeable = False     # graphs keep read-only arrays as they are (no copy)
    consts = [g.add_constant(np.arange(3.0)), g.add_constant(np.arange(3.0)),
              g.add_constant(big), g.add_constant(big.copy()), g.add_constant(big)]
    g.outputs = [x, *consts]
    out = check_pass(cse.run, g, "cse")
    assert len(out.nodes) == 3
    assert out.outputs[1] is out.outputs[2] and out.outputs[3] is out.outputs[5]
    assert out.outputs[3] is not out.outputs[4]


# --- constant folding -------------------------------------------------------------------------
def _folding_graph():
    """x + (ones(3) * 2), and an int constant * 0.5 that promotes to float."""
    g = Graph()
    x = g.add_input("x", (3,), np.float32)
    c = g.add_constant(np.ones(3, np.float32))
    m = g.add("mul", (c, 2), {}, (3,), np.float32)
    k = g.add_constant(np.array([1, 2], np.int64))
    h = g.add("mul", (k, 0.5), {}, (2,), np.float32)
    g.outputs = [g.add("add", (x, m), {}, (3,), np.float32), h]
    return g


def test_constant_folding_chains_and_casts():
    out = check_pass(constant_folding.run, _folding_graph(), "constant_folding")
    assert ops(out) == ["add"]
    folded = out.outputs[0].inputs[1]
    np.testing.assert_array_equal(folded.params["value"], [2, 2, 2])
    assert out.outputs[1].params["value"].dtype == np.float32


def test_constant_folding_of_operandless_primitives():
    g = Graph()
    full = g.add("full", (), {"shape": (2,), "value": 3, "dtype": np.dtype(np.float32)},
                 (2,), np.float32)
    draw = g.add("uniform", (), {"shape": (2,), "dtype": np.dtype(np.float32)},
                 (2,), np.float32)
    g.outputs = [g.add("add", (full, draw), {}, (2,), np.float32)]
    verify(g)
    out = constant_folding.run(g)
    verify(out)
    assert [n.op for n in out.nodes] == ["constant", "uniform", "add"]


def test_constant_folding_leaves_large_results_and_failing_nodes():
    g = Graph()
    one = g.add_constant(np.ones((1, 1), np.float32))
    big = g.add("expand", (one,), {"shape": (300, 300)}, (300, 300), np.float32)
    ok = g.add("expand", (one,), {"shape": (200, 200)}, (200, 200), np.float32)
    bad = g.add("check_range", (g.add_constant(np.array([5])),),
                {"low": 0, "high": 3, "ignore": None, "message": "{value}",
                 "error": "IndexError"}, (1,), np.int64)
    g.outputs = [big, ok, bad]
    verify(g)
    out = constant_folding.run(g)
    verify(out)
    assert [n.op for n in out.nodes] == ["constant", "expand", "constant", "constant",
                                         "check_range"]
    assert out.outputs[1].params["value"].flags.c_contiguous


def test_traced_constant_expressions_arrive_folded():
    # the tracer runs tc.ones(3) * 2 eagerly, so only its result enters the graph
    graph = traced(constants, (3,))
    assert "full" not in ops(graph)
    assert constant_folding.run(graph).op_count() == graph.op_count()


# --- algebra ---------------------------------------------------------------------------------
ALGEBRA_CASES = [  # (function, shapes, ops left)
    (lambda x: x * 1 + 0, [(3,)], []),                               # x*1 -> x, x+0 -> x
    (lambda x: (1 * x - 0) / 1, [(3,)], []),                         # 1*x, x-0, x/1 -> x
    (lambda x: 0 + x.neg().neg(), [(3,)], []),                        # 0+x, --x -> x
    (lambda x: x * tc.ones(2, 3), [(3,)], ["mul"]),                  # broadcasts: stays
    (lambda i: i * 1.0, [("i", (3,))], ["mul"]),                     # promotes: stays
    (lambda i: i + 0, [("i", (3,))], []),                            # int stays int
    (lambda x: x.t().t(), [(2, 3)], []),                             # permutes cancel
    (lambda x: x.permute(1, 2, 0).permute(1, 2, 0), [(2, 3, 4)], ["permute"]),
    (lambda x: x.reshape(6).reshape(3, 2).reshape(1, 6), [(2, 3)], ["reshape"]),
    (lambda x: x.reshape(6).reshape(2, 3), [(2, 3)], []),            # back to x's shape
    (lambda x: x.expand(4, 3).sum(0), [(3,)], ["mul"]),              # sum(expand) -> x*4
    (lambda x: x.expand(2, 4, 3).sum((0, 1), keepdim=True), [(1, 3)], ["reshape", "mul"]),
    (lambda x: x.expand(4, 3).sum(1), [(4, 1)], ["reshape", "mul"]),  # grown dim summed
    (lambda x: x.expand(2, 4, 3).sum(1), [(4, 3)], ["expand", "reduce_sum"]),  # x's dim
    (lambda x: x.expand(2, 4, 3).sum(0), [(1, 3)], ["expand", "reduce_sum"]),  # dim 1 left
]


@pytest.mark.parametrize("case", range(len(ALGEBRA_CASES)))
def test_algebra_rules(case):
    fn, shapes, left = ALGEBRA_CASES[case]
    out = check_pass(algebra.run, traced(fn, *shapes), "algebra")
    assert ops(out) == left, str(out)


def test_algebra_cast_to_the_same_dtype():
    g = Graph()
    x = g.add_input("x", (3,), np.float32)
    same = g.add("cast", (x,), {"dtype": np.dtype(np.float32)}, (3,), np.float32)
    wide = g.add("cast", (same,), {"dtype": np.dtype(np.float64)}, (3,), np.float64)
    g.outputs = [same, wide]
    out = check_pass(algebra.run, g, "algebra")
    assert ops(out) == ["cast"] and out.outputs[0] is out.inputs[0]


def test_algebra_keeps_a_no_grad_identity():
    def f(x):
        with tc.no_grad():
            return x * 1
    graph = trace(f, tc.zeros(3).requires_grad_())
    out = algebra.run(graph)
    assert ops(out) == ["mul"] and not out.outputs[0].requires_grad


def test_every_rule_names_a_primitive():
    assert set(algebra.RULES) <= set(PRIMITIVES)


# --- golden IR ---------------------------------------------------------------------------------
def docstring_example(x):
    y = x.permute(1, 0).permute(1, 0) * 1
    return y.expand(4, 2, 3).sum(0)


def test_golden_algebra_with_source_lines():
    out = algebra.run(trace(docstring_example, tc.zeros(2, 3), names=["x"]))
    line = inspect.getsourcelines(docstring_example)[1] + 2
    assert str(out) == (f"graph(%x: f32[2,3]) {{\n"
                        f"  %0: f32[2,3] = mul(%x, 4)   # test_passes.py:{line}\n"
                        f"  return (%0)\n"
                        f"}}")


def test_golden_cse_then_dce():
    def f(x, y):
        t = x * 3
        return (x + y) * (y + x), t.sum() + (x * 3).sum()
    out = dce.run(cse.run(trace(f, tc.zeros(3), tc.zeros(3), names=["x", "y"])))
    assert strip_comments(str(out)) == """\
graph(%x: f32[3], %y: f32[3]) {
  %0: f32[3] = mul(%x, 3)
  %1: f32[3] = add(%x, %y)
  %2: f32[3] = mul(%1, %1)
  %3: f32[] = reduce_sum(%0, dims=(0,), keepdim=False)
  %4: f32[] = add(%3, %3)
  return (%2, %4)
}"""


# --- robustness ------------------------------------------------------------------------------
def test_deep_chains_do_not_recurse():
    g = Graph()
    value = g.add_input("x", (2,), np.float32)
    for _ in range(5000):
        value = g.add("neg", (value,), {}, (2,), np.float32)
    g.outputs = [g.add("exp", (value,), {}, (2,), np.float32)]
    out = check_pass(pipeline, g, "pipeline on 5000 negs")
    assert ops(out) == ["exp"]


def test_a_failing_rule_names_the_pass_and_the_node(monkeypatch):
    def boom(node, _):
        raise ValueError("rule bug")
    monkeypatch.setitem(algebra.RULES, "neg", (boom,))
    with pytest.raises(IRError, match=r"algebra: ValueError: rule bug\nwhile rewriting "
                                      r"%0: f32\[3\] = neg\(%arg0\)   # test_passes.py:\d+"):
        algebra.run(traced(lambda x: -x, (3,)))


def test_verifier_rejects_gradients_where_none_can_flow():
    g = Graph()
    x = g.add_input("x", (3,), np.float32, requires_grad=True)
    bad = g.add("gt", (x, 0.0), {}, (3,), np.bool_, requires_grad=True)
    g.outputs = [bad]
    with pytest.raises(IRError, match="requires grad but has no gradient"):
        verify(g)
