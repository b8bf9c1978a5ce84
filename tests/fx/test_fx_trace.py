"""tracecomp.fx.symbolic_trace against torch.fx: node lists, printed graphs, generated code,
outputs, state_dict keys, concrete_args, the control-flow errors, leaf overrides and wrap."""
import copy
import math
import operator
import pickle
from math import sqrt

import pytest
import torch
from twins import node_list, torch_code, twin

import tracecomp as tc
import tracecomp.fx as fx

from helpers import assert_close, to_tc


def _flat(x):
    return tc.flatten(x, 1)


def _trace_both(name, *args):
    ours, ref = twin(name, *args)
    return fx.symbolic_trace(ours), torch.fx.symbolic_trace(ref), ours, ref


def test_mlp_nodes_code_and_outputs_match_torch():
    gm, ref_gm, ours, ref = _trace_both("MLP")
    assert node_list(gm) == node_list(ref_gm)
    assert [n.op for n in gm.graph.nodes] == ["placeholder", "call_method", "call_module",
                                              "call_module", "call_module", "call_function",
                                              "output"]
    x = torch.randn(3, 2, 4)
    assert_close(gm(to_tc(x)), ref_gm(x))
    assert_close(gm(to_tc(x)), ours(to_tc(x)))
    assert list(gm.state_dict()) == list(ref_gm.state_dict())


def test_cnn_with_residuals_matches_torch():
    gm, ref_gm, _, _ = _trace_both("CNN")
    assert node_list(gm) == node_list(ref_gm)
    # F.relu prints torch's defaulted inplace=False, which torch's dispatch adds
    assert torch_code(gm.code) == ref_gm.code.replace(", inplace = False", "")
    assert torch_code(str(gm.graph)) == str(ref_gm.graph).replace(
        ", kwargs = {inplace: False}", ", kwargs = {}")
    x = torch.randn(2, 3, 6, 6)
    out, width = gm(to_tc(x))
    ref_out, ref_width = ref_gm(x)
    assert_close(out, ref_out, rtol=1e-4, atol=1e-5)
    assert width == ref_width == 5
    assert list(gm.state_dict()) == list(ref_gm.state_dict())
    assert [n for n, _ in gm.named_modules()] == [n for n, _ in ref_gm.named_modules()]


def test_node_fields_users_and_printing():
    gm, ref_gm, _, _ = _trace_both("CNN")
    for n, r in zip(gm.graph.nodes, ref_gm.graph.nodes):
        assert [u.name for u in n.users] == [u.name for u in r.users]
        assert [a.name for a in n.all_input_nodes] == [a.name for a in r.all_input_nodes]
        stack, ref_stack = n.meta.get("nn_module_stack", {}), r.meta.get("nn_module_stack", {})
        assert [(k, p, t.__name__) for k, (p, t) in stack.items()] == \
            [(k, p, t.__name__) for k, (p, t) in ref_stack.items()], n.name
        assert torch_code(n.format_node()) == r.format_node().replace(
            ", kwargs = {inplace: False}", ", kwargs = {}")
    assert isinstance(next(iter(gm.graph.nodes)).meta, dict)
    assert "def forward(self, x):" in str(gm)


def test_concrete_args_specialize_and_guard():
    ours, ref = twin("Flagged")
    gm = fx.symbolic_trace(ours, concrete_args={"mode": "double"})
    ref_gm = torch.fx.symbolic_trace(ref, concrete_args={"mode": "double"})
    assert node_list(gm) == node_list(ref_gm)
    assert torch_code(gm.code) == ref_gm.code
    x = torch.randn(2, 4)
    assert_close(gm(to_tc(x), "double"), ref_gm(x, "double"))
    with pytest.raises(AssertionError, match="mode has been specialized to have value "
                                             "double but got another value"):
        gm(to_tc(x), "other")
    gm2 = fx.symbolic_trace(ours, concrete_args={"mode": "plain"})
    assert_close(gm2(to_tc(x), "plain"), ref(x, "plain"))
    # PH keeps an argument symbolic under its concrete-args name
    ph, ref_ph = fx.symbolic_trace(ours, concrete_args={"mode": "double", "scale": fx.PH}), \
        torch.fx.symbolic_trace(ref, concrete_args={"mode": "double", "scale": torch.fx.PH})
    assert node_list(ph) == node_list(ref_ph)
    assert torch_code(ph.code) == ref_ph.code


def test_control_flow_on_a_proxy_is_a_trace_error():
    def f(lib):
        def fn(x):
            if x.sum() > 0:
                return x
            return -x
        return fn

    with pytest.raises(torch.fx.proxy.TraceError) as want:
        torch.fx.symbolic_trace(f(torch))
    with pytest.raises(fx.proxy.TraceError) as got:
        fx.symbolic_trace(f(tc))
    assert str(got.value) == str(want.value)
    assert isinstance(got.value, ValueError) and isinstance(got.value, tc.TraceError)


def test_iteration_len_and_unpacking():
    def loop(x):
        return [y for y in x]

    with pytest.raises(fx.proxy.TraceError, match="Proxy object cannot be iterated"):
        fx.symbolic_trace(loop)
    with pytest.raises(RuntimeError, match="'len' is not supported in symbolic tracing"):
        fx.symbolic_trace(lambda x: len(x))

    def unpack(lib):
        def fn(x):
            a, b = lib.chunk(x, 2)
            return a * b * lib.numel(a)
        return fn

    gm, ref_gm = fx.symbolic_trace(unpack(tc)), torch.fx.symbolic_trace(unpack(torch))
    assert node_list(gm) == node_list(ref_gm)
    x = torch.randn(4, 3)
    assert_close(gm(to_tc(x)), ref_gm(x))


def test_is_leaf_module_override_traces_through_user_blocks():
    ours, ref = twin("CNN")

    class OurLeafy(fx.Tracer):
        def is_leaf_module(self, m, name):
            return name.startswith("layer.") or super().is_leaf_module(m, name)

    class RefLeafy(torch.fx.Tracer):
        def is_leaf_module(self, m, name):
            return name.startswith("layer.") or super().is_leaf_module(m, name)

    g = OurLeafy().trace(ours)
    ref_g = RefLeafy().trace(ref)
    gm, ref_gm = fx.GraphModule(ours, g), torch.fx.GraphModule(ref, ref_g)
    assert node_list(gm) == node_list(ref_gm)
    assert [n.target for n in gm.graph.nodes if n.op == "call_module"][3:5] == \
        ["layer.0", "layer.1"]
    x = torch.randn(1, 3, 5, 5)
    assert_close(gm(to_tc(x))[0], ref_gm(x)[0], rtol=1e-4, atol=1e-5)


def _scaled_norm(x):
    return x / math.sqrt(x.shape[-1])


fx.wrap("_scaled_norm")
torch.fx.wrap("_scaled_norm")


def test_wrap_records_a_call_function():
    def make(lib):
        def fn(x):
            return _scaled_norm(lib.relu(x)) + 1
        return fn

    gm, ref_gm = fx.symbolic_trace(make(tc)), torch.fx.symbolic_trace(make(torch))
    assert node_list(gm) == node_list(ref_gm)
    assert [n.target for n in gm.graph.nodes if n.op == "call_function"][1] is _scaled_norm
    x = torch.randn(2, 4)
    assert_close(gm(to_tc(x)), ref_gm(x))


def test_tensor_constants_and_buffers_become_get_attr():
    def make(lib):
        class M(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.register_buffer("shift", lib.arange(4.0))
                self.table = lib.ones(4) * 3

            def forward(self, x):
                return (x + self.shift) * self.table + lib.tensor([1.0, 2.0, 3.0, 4.0])
        return M()

    gm, ref_gm = fx.symbolic_trace(make(tc)), torch.fx.symbolic_trace(make(torch))
    assert node_list(gm) == node_list(ref_gm)
    assert list(gm.state_dict()) == list(ref_gm.state_dict())
    x = torch.randn(2, 4)
    assert_close(gm(to_tc(x)), ref_gm(x))


def test_graph_module_from_root_and_graph_copies_only_what_the_graph_uses():
    gm, ref_gm, ours, ref = _trace_both("MLP")
    again = fx.GraphModule(ours, gm.graph, "Again")
    ref_again = torch.fx.GraphModule(ref, ref_gm.graph, "Again")
    assert type(again).__name__ == type(ref_again).__name__ == "Again"
    assert list(again.state_dict()) == list(ref_again.state_dict())
    from_dict = fx.GraphModule({"fc1": ours.fc1, "act": ours.act, "fc2": ours.fc2},
                               gm.graph)
    x = torch.randn(2, 8)
    assert_close(from_dict(to_tc(x)), ref(x))
    with pytest.raises(RuntimeError, match="referenced target fc2"):
        fx.GraphModule({"fc1": ours.fc1, "act": ours.act}, gm.graph)


def test_deepcopy_pickle_and_compile():
    gm, ref_gm, _, _ = _trace_both("CNN")
    x = torch.randn(2, 3, 6, 6)
    want = ref_gm(x)[0]
    dup = copy.deepcopy(gm)
    assert type(dup) is not type(gm) and dup.code == gm.code
    assert dup.head.weight is not gm.head.weight
    back = pickle.loads(pickle.dumps(gm))
    assert node_list(back) == node_list(gm)
    assert list(back.state_dict()) == list(gm.state_dict())
    flat = fx.symbolic_trace(_flat).graph            # tracecomp.flatten is a wrapper
    assert [n.target for n in pickle.loads(pickle.dumps(flat)).nodes][1] is tc.flatten
    for m in (dup, back):
        assert_close(m(to_tc(x))[0], want, rtol=1e-4, atol=1e-5)
    # a copy's forward is its own: editing its graph leaves the original's alone
    mul = next(n for n in dup.graph.nodes if n.name == "mul")
    mul.target = operator.add
    dup.recompile()
    assert "mul = head + scale" in dup.code and "mul = head * scale" in gm.code
    assert_close(gm(to_tc(x))[0], want, rtol=1e-4, atol=1e-5)
    compiled = tc.compile(gm)
    assert_close(compiled(to_tc(x))[0], want, rtol=1e-4, atol=1e-5)


def test_real_tensors_meeting_proxies():
    def make(lib):
        class M(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.register_buffer("table", lib.arange(12.0).reshape(4, 3))

            def forward(self, x, i):
                picked = self.table[i]                  # tensor indexed by a Proxy
                return self.table.sum(0).add(x) - picked, 2 * self.table.mean() < x
        return M()

    gm, ref_gm = fx.symbolic_trace(make(tc)), torch.fx.symbolic_trace(make(torch))
    assert node_list(gm) == node_list(ref_gm)
    x, i = torch.randn(3), torch.tensor([1, 3])
    for a, b in zip(gm(to_tc(x), to_tc(i)), ref_gm(x, i)):
        assert_close(a, b)


def test_autowrapped_math_and_constant_parameter_shapes():
    def make(lib):
        class M(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.w = lib.nn.Parameter(lib.ones(3, 4))

            def forward(self, x):
                if self.w.shape[0] == 3:        # needs param_shapes_constant
                    x = x @ self.w
                return x / sqrt(x.size(1))     # sqrt of a Proxy: a math.sqrt node
        return M()

    for lib_fx, m in ((fx, make(tc)), (torch.fx, make(torch))):
        with pytest.raises(lib_fx.proxy.TraceError):
            lib_fx.Tracer().trace(m)
    g = fx.Tracer(param_shapes_constant=True).trace(make(tc))
    ref_g = torch.fx.Tracer(param_shapes_constant=True).trace(make(torch))
    ours, ref = fx.GraphModule(make(tc), g), torch.fx.GraphModule(make(torch), ref_g)
    assert node_list(ours) == node_list(ref)
    # both start with a wrap("math_sqrt") line that keeps sqrt a leaf when retraced
    assert torch_code(ours.code) == ref.code
    x = torch.randn(2, 3)
    assert_close(ours(to_tc(x)), ref(x))
    back = pickle.loads(pickle.dumps(ours))
    assert node_list(back) == node_list(ours)
    assert_close(back(to_tc(x)), ref(x))


def test_builtin_named_and_variadic_arguments_like_torch():
    def make(lib):
        class M(lib.nn.Module):
            def forward(self, input, *args, scale=2, **kw):
                return input.sum() + args[0] * scale + kw["bias"]
        return M()

    gm, ref_gm = fx.symbolic_trace(make(tc)), torch.fx.symbolic_trace(make(torch))
    assert node_list(gm) == node_list(ref_gm)
    assert torch_code(gm.code) == ref_gm.code
    # as in torch, keyword-only arguments become positional ones before *args
    x, a, b = torch.ones(2), torch.ones(1), torch.full((1,), 5.0)
    assert_close(gm(to_tc(x), 3, to_tc(a), bias=to_tc(b)), ref_gm(x, 3, a, bias=b))
    back = pickle.loads(pickle.dumps(gm))
    assert node_list(back) == node_list(gm)
