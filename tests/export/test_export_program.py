"""torch.export: an exported module's outputs and gradients against eager and torch, its
signature, printing, dynamic dims (two batch sizes, one compile), guards, and the errors
export raises for data-dependent branches and specialized dynamic dims."""
import io

import numpy as np
import pytest
import torch

import tracecomp as tc
from tests.helpers import assert_close, to_tc


def make_pair(seed=0):
    """The same little model in torch and tracecomp, sharing weights."""
    class Net:
        @staticmethod
        def build(ns):
            class M(ns.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = ns.nn.Linear(4, 3)
                    self.register_buffer("scale", ns.ones(3) * 2)

                def forward(self, x, shift=None):
                    y = ns.relu(self.fc(x)).softmax(-1) * self.scale
                    return y if shift is None else (y + shift, y.sum(0))
            return M()
    torch.manual_seed(seed)
    tm = Net.build(torch)
    mm = Net.build(tc)
    mm.load_state_dict({k: to_tc(v) for k, v in tm.state_dict().items()})
    return tm, mm


def test_static_export_matches_eager_and_torch_with_gradients():
    tm, mm = make_pair()
    x = torch.randn(5, 4)
    shift = torch.randn(5, 3)
    tep = torch.export.export(tm, (x,), {"shift": shift})
    ep = tc.export.export(mm, (to_tc(x),), {"shift": to_tc(shift)})
    mod = ep.module()
    xs = to_tc(x).requires_grad_()
    out, total = mod(xs, shift=to_tc(shift))
    tx = x.clone().requires_grad_()
    tout, ttotal = tep.module()(tx, shift=shift)
    assert_close(out, tout)
    assert_close(total, ttotal)
    eager, _ = mm(to_tc(x), shift=to_tc(shift))
    assert_close(out, eager, rtol=0, atol=1e-6)
    (out.sum() * 3 + (total ** 2).sum()).backward()
    (tout.sum() * 3 + (ttotal ** 2).sum()).backward()
    assert_close(xs.grad, tx.grad)
    assert_close(mod.fc.weight.grad, tm.fc.weight.grad, what="fc.weight.grad")
    # the exported module holds the model's own tensors, as torch's does
    assert mod.fc.weight is mm.fc.weight and ep.state_dict["fc.weight"] is mm.fc.weight
    assert sorted(mod.state_dict()) == sorted(tep.module().state_dict())


def test_same_shape_calls_do_not_retrace(monkeypatch):
    from tracecomp.compiler import driver
    _, mm = make_pair()
    mod = tc.export.export(mm, (tc.randn(5, 4),)).module()
    traces = []
    build = driver.build        # the compiler's trace of a call
    monkeypatch.setattr(driver, "build", lambda *a: traces.append(1) or build(*a))
    x = tc.randn(5, 4)
    outs = [mod(x) for _ in range(3)]
    assert len(traces) == 1     # traced once, then the compiled code runs
    assert_close(outs[2], mm(x), rtol=0, atol=1e-6)


def test_signature_state_and_printing():
    tm, mm = make_pair()
    x = torch.randn(5, 4)
    tep = torch.export.export(tm, (x,))
    ep = tc.export.export(mm, (to_tc(x),))
    sig, tsig = ep.graph_signature, tep.graph_signature
    assert [(s.kind.name, s.arg.name, s.target, s.persistent) for s in sig.input_specs] == \
        [(s.kind.name, s.arg.name, s.target, s.persistent) for s in tsig.input_specs]
    assert [s.kind.name for s in sig.output_specs] == ["USER_OUTPUT"]
    assert sig.parameters == tsig.parameters and sig.buffers == tsig.buffers
    assert sig.user_inputs == tsig.user_inputs == ("x",)
    assert sig.inputs_to_parameters == tsig.inputs_to_parameters
    assert list(ep.state_dict) == list(tep.state_dict)
    assert [n for n, _ in ep.named_parameters()] == [n for n, _ in tep.named_parameters()]
    assert len(list(ep.parameters())) == 2 and len(list(ep.buffers())) == 1
    assert ep.example_inputs[0][0].shape == (5, 4)
    text = str(ep)
    for piece in ("ExportedProgram:", "%x: f32[5,4]", "p_fc_weight: PARAMETER target='fc.weight'",
                  "b_scale: BUFFER target='scale' persistent=True", "softmax(", "return ("):
        assert piece in text, piece
    assert "matmul(" in str(ep.graph) and "softmax(" in ep.graph_module.print_readable(False)
    assert "relu(" in str(ep.graph_module)
    flat = ep.graph_module(*ep.state_dict.values(), to_tc(x))      # the flat inputs
    assert_close(flat[0], tep.module()(x))
    with pytest.raises(RuntimeError, match="Unable to call ExportedProgram directly"):
        ep(to_tc(x))
    with pytest.raises(ValueError, match="Expected `mod` to be an instance of"):
        tc.export.export(lambda v: v, (to_tc(x),))


def test_dynamic_batch_two_sizes_one_compile_and_guards():
    tm, mm = make_pair()
    batch = tc.export.Dim("batch", min=2, max=64)
    ep = tc.export.export(mm, (tc.randn(5, 4),), dynamic_shapes={"x": {0: batch}})
    assert "%x: f32[s,4]" in str(ep) and "Range constraints: {s: VR[2, 64]}" in str(ep)
    assert {k: (v.lower, v.upper) for k, v in ep.range_constraints.items()} == {"s": (2, 64)}
    mod = ep.module()
    for n in (5, 9, 3):
        x = torch.randn(n, 4)
        assert_close(mod(to_tc(x)), tm(x))
    assert ep._compiled.compiles == 1       # one dynamic graph serves every batch
    for bad, why in ((tc.randn(7, 5), r"x.size\(\)\[1\] == 4"),
                     (tc.randn(1, 4), r"x.size\(\)\[0\] >= 2"),
                     (tc.randn(70, 4), r"x.size\(\)\[0\] <= 64"),
                     (tc.randn(7, 4, 1), r"x.dim\(\) == 2"),
                     (tc.randn(7, 4).double(), r"x.dtype == float32")):
        with pytest.raises(AssertionError, match="Guard failed: " + why):
            mod(bad)
    with pytest.raises(ValueError, match="exported input tree spec"):
        mod(tc.randn(5, 4), tc.randn(5, 3), 1)
    # torch's own guard text, for the static dim
    tep = torch.export.export(tm, (torch.randn(5, 4),),
                              dynamic_shapes={"x": {0: torch.export.Dim("batch", max=64)}})
    with pytest.raises(AssertionError, match=r"Guard failed: x.size\(\)\[1\] == 4"):
        tep.module()(torch.randn(7, 5))


def test_batchnorm_buffers_update_as_torch():
    torch.manual_seed(1)
    tnet = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    net = tc.nn.Sequential(tc.nn.Linear(4, 3), tc.nn.BatchNorm1d(3))
    net.load_state_dict({k: to_tc(v) for k, v in tnet.state_dict().items()})
    x = torch.randn(6, 4)
    ep = tc.export.export(net, (to_tc(x),))
    assert ep.graph_signature.buffers_to_mutate == {
        next(s.arg.name for s in ep.graph_signature.output_specs
             if s.target == t): t
        for t in ("1.running_mean", "1.running_var", "1.num_batches_tracked")}
    tmod = torch.export.export(tnet, (x,)).module()
    mod = ep.module()
    for _ in range(2):
        assert_close(mod(to_tc(x)), tmod(x), rtol=1e-4, atol=1e-5)
    assert_close(net[1].running_var, tnet[1].running_var)
    # the graph holds training mode's batch statistics: switching modes is refused, as torch
    with pytest.raises(NotImplementedError, match=r"Calling eval\(\) is not supported yet."):
        mod.eval()
    # two calls, two batches (torch 2.13's export itself also adds to its count while tracing)
    assert int(net[1].num_batches_tracked) == 2


def test_save_load_round_trip_dynamic():
    tm, mm = make_pair()
    batch = tc.export.Dim("batch", min=2)
    ep = tc.export.export(mm, (tc.randn(4, 4),), dynamic_shapes=({0: batch},))
    f = io.BytesIO()
    tc.export.save(ep, f)
    f.seek(0)
    loaded = tc.export.load(f)
    assert str(loaded.graph) == str(ep.graph)
    x = tc.randn(6, 4)
    assert_close(loaded.module()(x), ep.module()(x), rtol=0, atol=0)
    assert_close(loaded.module()(x), tm(torch.from_numpy(np.array(x.numpy()))))
    with pytest.raises(AssertionError, match="Guard failed"):
        loaded.module()(tc.randn(1, 4))
    assert_close(loaded.example_inputs[0][0], ep.example_inputs[0][0], rtol=0, atol=0)
    with pytest.raises(ValueError, match="not an exported program"):
        tc.export.load(io.BytesIO(_saved({"a": tc.ones(2)})))
    # torch's .pt2 (an FX graph) is refused by name, not misread
    pt2 = io.BytesIO()
    torch.export.save(torch.export.export(torch.nn.Linear(2, 2), (torch.randn(3, 2),)), pt2)
    pt2.seek(0)
    with pytest.raises(ValueError, match=r"torch's .pt2 archives hold FX graphs"):
        tc.export.load(pt2)


def _saved(obj):
    f = io.BytesIO()
    tc.save(obj, f)
    return f.getvalue()


def test_run_decompositions_keeps_values_and_gradients():
    _, mm = make_pair()
    ep = tc.export.export(mm, (tc.randn(5, 4),))
    dec = ep.run_decompositions()
    assert "softmax(" not in str(dec.graph) and "exp(" in str(dec.graph)
    assert "detach" not in str(dec.graph)
    x = tc.randn(5, 4)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    assert_close(dec.module()(a), ep.module()(b), rtol=1e-6)
    (dec.module()(a) ** 2).sum().backward()
    (ep.module()(b) ** 2).sum().backward()
    assert_close(a.grad, b.grad, rtol=1e-5)


def test_export_errors_as_torch():
    class Branchy(tc.nn.Module):
        def forward(self, x):
            if x.sum() > 0:
                return x
            return -x

    with pytest.raises(RuntimeError, match=r"(?s)test_export_program.py:\d+.*if x.sum\(\) > 0"):
        tc.export.export(Branchy(), (tc.randn(3),))

    class WritesInput(tc.nn.Module):
        def forward(self, x):
            x.add_(1)
            return x * 2

    with pytest.raises(NotImplementedError, match="updates its input x in place"):
        tc.export.export(WritesInput(), (tc.randn(3),))

    class Fixed(tc.nn.Module):
        def forward(self, x):
            return x.view(5, 4) * 2

    batch = tc.export.Dim("batch")
    with pytest.raises(tc.export.UserError, match=r"Constraints violated \(batch\)"):
        tc.export.export(Fixed(), (tc.randn(5, 4),), dynamic_shapes={"x": {0: batch}})
    with pytest.raises(RuntimeError, match=r"top-level keys must be the arg names \['x'\]"):
        tc.export.export(Fixed(), (tc.randn(5, 4),), dynamic_shapes={"y": {0: batch}})
    with pytest.raises(AssertionError, match="inconsistent min=5, max=2"):
        tc.export.Dim("n", min=5, max=2)
    assert repr(tc.export.Dim("n", min=3, max=10)) == repr(torch.export.Dim("n", min=3, max=10))
    assert repr(tc.export.Dim("b")) == repr(torch.export.Dim("b"))

    class Matmul(tc.nn.Module):
        def forward(self, x, y):
            return x @ y

    a, inner, c = tc.export.dims("a", "inner", "c")
    three = tc.export.export(Matmul(), (tc.randn(4, 8), tc.randn(8, 2)),
                             dynamic_shapes={"x": {0: a, 1: inner}, "y": {0: inner, 1: c}})
    x, y = torch.randn(3, 5), torch.randn(5, 7)       # three Dims: three symbols
    assert_close(three.module()(to_tc(x), to_tc(y)), x @ y, rtol=1e-5)
    with pytest.raises(AssertionError, match=r"Guard failed: y.size\(\)\[0\] == 5"):
        three.module()(to_tc(x), tc.randn(6, 7))      # inner is one size in x and y
    # BatchNorm's unbiased n / (n - 1) at a dynamic batch: a float of the size, refused
    with pytest.raises(NotImplementedError, match="uses a float that depends on a dynamic"):
        tc.export.export(tc.nn.BatchNorm1d(3), (tc.randn(5, 3),),
                         dynamic_shapes={"input": {0: a}})
    # Dim.AUTO: dynamic where the code leaves the size free, static where it fixes it
    auto = tc.export.Dim.AUTO
    free = tc.export.export(Matmul(), (tc.randn(4, 8), tc.randn(8, 2)),
                            dynamic_shapes=({0: auto}, None))
    assert "%x: f32[s,8]" in str(free.graph)
    fixed = tc.export.export(Fixed(), (tc.randn(5, 4),), dynamic_shapes=({0: auto},))
    assert "%x: f32[5,4]" in str(fixed.graph)


def test_two_dims_batch_and_length_one_compile_also_inside_compile():
    class Attend(tc.nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = tc.nn.Linear(4, 8)

        def forward(self, x, mask):
            h = self.proj(x)
            scores = (h @ h.transpose(1, 2)).masked_fill(mask[:, None, :] == 0, -1e9)
            return (scores.softmax(-1) @ h).mean(1)

    model = Attend()
    B, T = tc.export.Dim("B", max=32), tc.export.Dim("T", max=16)
    ep = tc.export.export(model, (tc.randn(3, 5, 4), tc.ones(3, 5)),
                          dynamic_shapes={"x": {0: B, 1: T}, "mask": {0: B, 1: T}})
    assert "%x: f32[s0,s1,4]" in str(ep.graph)
    mod = ep.module()
    for b, t in ((3, 5), (4, 7), (2, 3)):
        x, mask = tc.randn(b, t, 4), (tc.rand(b, t) > 0.3).float()
        assert_close(mod(x, mask), model(x, mask), atol=1e-6)
        assert not hasattr(x, "_dynamo_dynamic_indices")    # the marks were undone
    assert ep._compiled.compiles == 1
    with pytest.raises(AssertionError, match=r"mask.size\(\)\[1\] == 5 \(got 6"):
        mod(tc.randn(3, 5, 4), tc.ones(3, 6))
    outer = tc.compile(lambda x, mask: mod(x, mask) * 2, fullgraph=True)
    x, mask = tc.randn(2, 6, 4), tc.ones(2, 6)
    assert_close(outer(x, mask), model(x, mask) * 2, atol=1e-6)


def test_unsupported_names_and_unsavable_graphs():
    with pytest.raises(NotImplementedError, match="torch.export.unflatten is not supported"):
        tc.export.unflatten  # noqa: B018

    class Square(tc.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return 2 * x * g

    class UsesFunction(tc.nn.Module):
        def forward(self, x):
            return Square.apply(x) + 1

    x = tc.randn(3, requires_grad=True)
    ep = tc.export.export(UsesFunction(), (x,))
    ep.module()(x).sum().backward()     # the custom backward runs
    assert_close(x.grad, 2 * x.detach(), rtol=1e-6)
    with pytest.raises(NotImplementedError, match="custom_vjp node holds a"):
        tc.export.save(ep, io.BytesIO())
