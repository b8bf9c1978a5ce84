"""compile(): training parity with eager (MLP, CNN with BatchNorm in train and eval, a
forward with Python control flow on shapes), the signature cache and its logged reasons,
TraceErrors that name the user's line, the explicit eager fallback, and the graphs and
pass log a user can look at."""
import dataclasses
import logging
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc
import tracecomp.nn.functional as F
from tracecomp import nn

from helpers import assert_close, compiled_step


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(12, 16), nn.Linear(16, 4)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4),
                                      nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3),
                                      nn.AvgPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.25), nn.Linear(6, 3))

    def forward(self, x):
        return self.head(self.features(x))


class ShapeControlFlow(nn.Module):
    """Python `if` and `for` on shapes and attributes: resolved at trace time."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(8, 8) for _ in range(3)])
        self.norm = nn.LayerNorm(8)

    def forward(self, x):
        for k, layer in enumerate(self.layers):
            h = layer(x)
            x = x + F.gelu(h) if x.shape[-1] == h.shape[-1] else h
            if k % 2 == 1:
                x = self.norm(x)
        if x.dim() == 2:
            x = x.mean(0, keepdim=True).expand(x.shape[0], -1) - x
        return x.sum(-1)


def _twins(build):
    tc.manual_seed(0)
    eager = build()
    twin = build()
    twin.load_state_dict(eager.state_dict())
    return eager, twin


def _train(model, data, loss_fn, steps, opt_cls, **opt):
    optimizer = opt_cls(model.parameters(), **opt)
    losses = []
    for step in range(steps):
        x, y = data[step % len(data)]
        tc.manual_seed(100 + step)     # the same dropout masks in both runs
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


PARITY = [
    ("mlp", MLP, lambda: [(tc.randn(8, 12), tc.randint(0, 4, (8,))) for _ in range(2)],
     F.cross_entropy, tc.optim.Adam, {"lr": 1e-2}),
    ("convnet", ConvNet, lambda: [(tc.randn(5, 1, 8, 8), tc.randint(0, 3, (5,)))],
     F.cross_entropy, tc.optim.SGD, {"lr": 0.05, "momentum": 0.9}),
    ("control_flow", ShapeControlFlow, lambda: [(tc.randn(6, 8), tc.randn(6))],
     F.mse_loss, tc.optim.AdamW, {"lr": 1e-2}),
    ("linear_mse", lambda: nn.Linear(3, 1), lambda: [(tc.randn(16, 3), tc.randn(16, 1))],
     nn.MSELoss(), tc.optim.SGD, {"lr": 0.1}),
]


@pytest.mark.parametrize("name,build,data,loss_fn,opt_cls,opt", PARITY,
                         ids=[p[0] for p in PARITY])
def test_training_matches_eager(name, build, data, loss_fn, opt_cls, opt, backend):
    eager, twin = _twins(build)
    compiled = tc.compile(twin, backend=backend)
    batches = data()
    want = _train(eager, batches, loss_fn, 5, opt_cls, **opt)
    got = _train(compiled, batches, loss_fn, 5, opt_cls, **opt)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for key, value in eager.state_dict().items():
        np.testing.assert_allclose(twin.state_dict()[key].numpy(), value.numpy(), rtol=1e-4,
                                   atol=1e-6, err_msg=key)
    # and in eval mode (BatchNorm's running statistics, no dropout), without grad
    eager.eval()
    compiled.eval()
    x = batches[0][0]
    with tc.no_grad():
        np.testing.assert_allclose(compiled(x).numpy(), eager(x).numpy(), rtol=1e-5,
                                   atol=1e-6)


def test_compiled_module_shares_parameters_and_state():
    model = MLP()
    compiled = tc.compile(model)
    # torch's keys: the model is the compiled module's child `_orig_mod`
    assert list(compiled.state_dict()) == ["_orig_mod." + k for k in model.state_dict()]
    assert all(a is b for a, b in zip(compiled.parameters(), model.parameters()))
    compiled.eval()
    assert not model.training
    with tc.no_grad():
        model.fc1.weight.zero_()
    x = tc.randn(2, 12)
    with tc.no_grad():
        np.testing.assert_allclose(compiled(x).numpy(), model(x).numpy(), rtol=1e-6)


def test_batchnorm_running_stats_are_written_back():
    eager, twin = _twins(lambda: nn.BatchNorm1d(5))
    compiled = tc.compile(twin)
    for _ in range(3):
        x = tc.randn(7, 5)
        eager(x)
        compiled(x)
    for key in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(getattr(twin, key).numpy(), getattr(eager, key).numpy(),
                                   rtol=1e-6, err_msg=key)


def test_decorated_function_and_forward_method():
    w = tc.randn(3, 3, requires_grad=True)

    @tc.compile
    def f(x, scale=2.0):
        return (x @ w).tanh() * scale

    x = tc.randn(4, 3)
    f(x).sum().backward()
    got = w.grad.numpy().copy()
    w.grad = None
    ((x @ w).tanh() * 2.0).sum().backward()
    np.testing.assert_allclose(got, w.grad.numpy(), rtol=1e-5)

    class Net(MLP):
        @tc.compile
        def forward(self, x):
            return super().forward(x) * 3

    net = Net()
    x = tc.randn(2, 12)
    with tc.no_grad():
        want = MLP.forward(net, x) * 3
        np.testing.assert_allclose(net(x).numpy(), want.numpy(), rtol=1e-6)


# --- cache and guards --------------------------------------------------------------------
def test_same_signature_compiles_once_and_new_batch_size_recompiles(caplog, monkeypatch):
    monkeypatch.setenv("TRACECOMP_DEBUG", "1")
    compiled = tc.compile(MLP())
    with caplog.at_level(logging.INFO, logger="tracecomp"):
        compiled(tc.randn(8, 12))
        compiled(tc.randn(8, 12))
        compiled(tc.randn(4, 12))
    assert compiled._compiled.compiles == 2
    messages = [r.getMessage() for r in caplog.records]
    assert sum("compiling" in m for m in messages) == 2
    assert any("cache hit" in m for m in messages)
    assert any("x dim 0: 8 -> 4" in m for m in messages), messages


def test_train_eval_and_grad_mode_switch_the_graph(caplog, monkeypatch):
    monkeypatch.setenv("TRACECOMP_DEBUG", "1")
    compiled = tc.compile(ConvNet())
    x = tc.randn(2, 1, 8, 8)
    with caplog.at_level(logging.INFO, logger="tracecomp"):
        compiled(x)
        assert "backward" in compiled.graphs
        compiled.eval()
        with tc.no_grad():
            compiled(x)
        assert "backward" not in compiled.graphs     # nothing needs a gradient: no backward
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "training of <root>: True -> False" in text
    assert "grad mode: on -> off" in text


def test_a_long_reason_is_cut_in_the_warning(monkeypatch):
    """a reason naming whole modules (a new model each call) is cut in the warning; the
    debug log has it all"""
    from tracecomp.compiler import trace_warnings
    monkeypatch.setattr(trace_warnings, "REASON_SHOWN", 12)
    compiled = tc.compile(lambda x: x * 2, recompile_limit=1)
    compiled(tc.ones(2))
    with pytest.warns(UserWarning, match=r"because x dim 0: 2 -.*\.\.\. \(TRACECOMP_DEBUG=1 "
                                         r"logs all of it\)"):
        compiled(tc.ones(3))


def test_a_number_argument_whose_value_is_read_warns_with_the_way_out():
    """A step counter the code branches on is a constant of each compile (it cannot be fed
    as an input: number_args.py): past the limit the warning names it and says what to
    do."""
    compiled = tc.compile(lambda x, step: x * 2 if step % 2 else x + step, recompile_limit=2)
    for step in (1, 2):
        compiled(tc.ones(2), step)
    with pytest.warns(UserWarning, match=r"because argument step: 2 -> 3\. A number "
                                         r"argument whose value the code reads .*"
                                         r"tracecomp\.tensor\(step\)"):
        out = compiled(tc.ones(2), 3)
    np.testing.assert_array_equal(out.numpy(), [2.0, 2.0])


def test_the_state_a_first_step_makes_is_summed_up(caplog, monkeypatch):
    """The second call of a whole step reads the optimizer state and .grad the first made:
    the reason counts them and names the first few, not every tensor's spec."""
    monkeypatch.setenv("TRACECOMP_DEBUG", "1")
    model = MLP()
    step = compiled_step(model, tc.optim.Adam(model.parameters(), lr=0.01))
    x, y = tc.randn(8, 12), tc.tensor([0, 1, 2, 3] * 2)
    with caplog.at_level(logging.INFO, logger="tracecomp"):
        step(x, y)
        step(x, y)
    reasons = [r.getMessage() for r in caplog.records if "compiling" in r.getMessage()]
    n = 4 * len(list(model.parameters()))      # step, exp_avg, exp_avg_sq and .grad of each
    assert reasons[1].endswith(f".step (llvm): {n} new tensors read: fc1.weight:step, "
                               f"fc1.weight:exp_avg, fc1.weight:exp_avg_sq, fc1.bias:step, "
                               f"..."), reasons


def test_recompile_limit_warns_with_the_reason():
    compiled = tc.compile(lambda x: x * 2, recompile_limit=2)
    for n in (1, 2):
        compiled(tc.randn(n))
    with pytest.warns(UserWarning, match=r"recompiled 3 times .*x dim 0: 2 -> 3"):
        compiled(tc.randn(3))


def test_a_scheduler_stepped_every_call_names_the_hyperparameters_and_the_way_out():
    """A whole step compiles in the hyperparameters its optimizer cannot feed as inputs
    (RMSprop feeds lr, not momentum): a scheduler that changes one every call compiles
    every call. The warning says which changed, old -> new, and what to do; the steps keep
    torch's numbers meanwhile."""
    import torch

    def setup(lib):
        lib.manual_seed(0)
        model = lib.nn.Linear(4, 3)
        opt = lib.optim.RMSprop(model.parameters(), lr=0.01, momentum=0.9)
        return model, opt, lib.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=20)
    (model, opt, sched), (ref, ref_opt, ref_sched) = setup(tc), setup(torch)
    with torch.no_grad():
        for p, q in zip(model.parameters(), ref.parameters()):
            p.data = tc.from_numpy(q.detach().numpy().copy())

    def step(x):
        opt.zero_grad()
        loss = (model(x) ** 2).sum()
        loss.backward()
        opt.step()
        return loss
    compiled = tc.compile(step, recompile_limit=2)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    with pytest.warns(UserWarning, match=r"because optimizer 0 group 0 settings momentum "
                                         r"0\.\d+ -> 0\.\d+\. .*compile the model alone"):
        for _ in range(5):
            got = compiled(tc.from_numpy(x))
            sched.step()
            ref_opt.zero_grad()
            want = (ref(torch.from_numpy(x)) ** 2).sum()
            want.backward()
            ref_opt.step()
            ref_sched.step()
            np.testing.assert_allclose(got.item(), want.item(), rtol=1e-5)


# --- trace errors and the explicit fallback ----------------------------------------------
def test_item_inside_compiled_code_computes_in_the_graph():
    """x * x.sum().item(): the number is a graph value (test_item_numbers.py); a use of its
    value while tracing is a TraceError naming the line, tested there"""
    def f(x):
        scale = x.sum().item()
        return x * scale

    x = tc.randn(3)
    assert_close(tc.compile(f)(x), f(x))


def test_data_dependent_if_names_the_line():
    def f(x):
        if x.sum() > 0:
            return x
        return -x

    with pytest.raises(tc.TraceError, match=r"if x.sum\(\) > 0:"):
        tc.compile(f, fullgraph=True)(tc.randn(3))


def test_numpy_and_tolist_are_trace_errors():
    for fn in (lambda x: x.numpy(), lambda x: x.tolist()):
        with pytest.raises(tc.TraceError):
            tc.compile(fn, fullgraph=True)(tc.randn(3))


def test_fallback_eager_is_explicit_and_logged(caplog):
    def f(x):
        return x * 2 if x.sum() > 0 else x

    compiled = tc.compile(f, fallback="eager")
    x = tc.ones(3)
    with caplog.at_level(logging.WARNING, logger="tracecomp"), \
            pytest.warns(UserWarning, match="running .* eagerly"):
        out = compiled(x)
    assert out.tolist() == [2.0, 2.0, 2.0]
    assert any("fallback='eager'" in r.getMessage() for r in caplog.records)


def test_fallback_eager_says_a_repeated_failure_once():
    """hunkim's rnn classification calls .numpy() in its forward: every new batch shape
    traces again and fails alike; the fallback says so once, not once per shape with a
    recompile warning on top, and each call still runs eagerly."""
    def f(x, lengths):
        n = int(lengths.numpy().max())
        return x[:, :n].sum()

    compiled = tc.compile(f, fallback="eager", recompile_limit=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for length in range(3, 9):
            out = compiled(tc.ones(2, length), tc.full((2,), length - 1))
            assert out.item() == 2.0 * (length - 1)
    assert len(caught) == 1 and "fallback='eager'" in str(caught[0].message)


def test_out_of_range_target_fails_inside_compiled_code():
    compiled = tc.compile(lambda logits, y: F.cross_entropy(logits, y))
    compiled(tc.randn(3, 4), tc.tensor([0, 1, 2]))
    with pytest.raises(Exception, match="Target 9 is out of bounds"):
        compiled(tc.randn(3, 4), tc.tensor([0, 9, 2]))


# --- seeing inside -------------------------------------------------------------------------
def test_graphs_and_pass_log():
    compiled = tc.compile(MLP())
    compiled(tc.randn(4, 12)).sum().backward()
    graphs = compiled.graphs
    for stage in ("traced", "forward", "backward", "forward.optimized", "backward.optimized"):
        assert stage in graphs
    text = str(graphs["traced"])
    assert "matmul(%x" in text and "fc1" in text
    assert graphs["backward"].inputs[-1].name == "grad.0"
    log_ = compiled.pass_log
    assert {r.name for r in log_} >= {"dce", "cse", "constant_folding", "algebra"}
    assert all(r.nodes_after <= r.nodes_before for r in log_ if r.name == "dce")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tc.ir.verify(graphs["forward.optimized"])


def test_pass_log_has_every_pipeline_stage_in_order(monkeypatch):
    """trace -> simplify -> autodiff -> partition -> simplify (forward, backward) ->
    the llvm backend's fusion, memory, schedule, kernels and LLVM compile, per graph (the
    kernels are emitted once the disk cache missed: here it is off)."""
    monkeypatch.setenv("TRACECOMP_CACHE", "0")
    compiled = tc.compile(MLP())
    compiled(tc.randn(4, 12)).sum().backward()
    log_ = [(r.name, r.graph) for r in compiled.pass_log]
    stages = [name for name, _ in log_]
    assert stages[0] == "trace" and stages.index("autodiff") < stages.index("partition")
    backend = ["fusion", "memory", "schedule", "llvm kernels", "llvm compile"]
    for graph in ("forward", "backward"):
        assert [n for n, g in log_ if g == graph and n in backend] == backend, log_
    fusion = next(r for r in compiled.pass_log if r.name == "fusion")
    assert 0 < fusion.nodes_after <= fusion.nodes_before      # nodes -> fused groups
    assert all(r.seconds >= 0 for r in compiled.pass_log)


def test_outputs_never_alias_inputs_constants_or_each_other():
    x, y = tc.randn(3), tc.randn(3)
    a = tc.compile(lambda x: x * 1)(x)          # simplified to the input itself
    a.add_(1)
    assert not np.allclose(a.numpy(), x.numpy())
    s, t = tc.compile(lambda x, y: (x + y, y + x))(x, y)   # CSE merges the two
    s.mul_(0)
    assert np.allclose(t.numpy(), (x + y).numpy())
    c = tc.compile(lambda x: tc.ones(3) * 2)(x)  # a constant of the graph
    c.add_(1)
    assert tc.compile(lambda x: tc.ones(3) * 2)(x).tolist() == [2.0, 2.0, 2.0]


def test_closure_parameter_used_through_eager_ops_gets_its_gradient():
    layer = nn.Linear(3, 2)
    w = tc.randn(3, 2, requires_grad=True)

    def f(x):
        return F.linear(x, w.t()) + layer(x)

    x = tc.randn(4, 3)
    tc.compile(f)(x).sum().backward()
    got = w.grad.numpy().copy(), layer.weight.grad.numpy().copy()
    w.grad = layer.weight.grad = None
    f(x).sum().backward()
    np.testing.assert_allclose(got[0], w.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(got[1], layer.weight.grad.numpy(), rtol=1e-6)


def test_debug_levels_4_to_6_show_the_generated_code(caplog, monkeypatch):
    monkeypatch.setenv("TRACECOMP_DEBUG", "6")
    with caplog.at_level(logging.INFO, logger="tracecomp"):
        tc.compile(lambda x: (x * 2).relu(), backend="llvm")(tc.randn(4))
    text = "\n".join(r.getMessage() for r in caplog.records)
    for what in ("llvm_ir of the forward graph", "optimized_ir of the forward graph",
                 "asm of the forward graph"):
        assert what in text
    assert "define" in text


def test_one_value_returned_twice_sums_both_cotangents(backend):
    """CSE (or the user) can make two outputs one graph value: each still takes its own
    cotangent, and the gradient is their sum, as eagerly."""
    x, y = tc.randn(3, requires_grad=True), tc.randn(3, requires_grad=True)
    a, b = tc.compile(lambda t: (t * 2, t * 2), backend=backend)(x)
    (a.sum() + 2 * b.sum()).backward()
    c, d = y * 2, y * 2
    (c.sum() + 2 * d.sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy())


def test_temporaries_made_inside_compiled_code_may_be_updated_in_place(backend):
    """`out = zeros(...); out[t] = h` (an RNN collecting its steps), `y = zeros(n); y += x`:
    a tensor made inside the traced code is the code's own, unlike a tensor from outside."""
    def f(x):
        out = tc.zeros(3, 4)
        for t in range(3):
            out[t] = x * t
        acc = x.new_zeros(4)
        acc += out.sum(0)
        return acc.view(2, 2) * 2
    x = tc.randn(4)
    np.testing.assert_allclose(tc.compile(f, backend=backend)(x).numpy(), f(x).numpy(),
                               rtol=1e-6)


def test_temporaries_updated_through_their_rows_and_columns(backend):
    """pytorch/examples' mass_spring: `forces = zeros_like(p); forces[i] += f` (Python reads
    the row, updates it and writes it back) and `forces[:, 1] -= g` update a temporary
    through views, then a row is overwritten; values and gradients are torch's."""
    def energy(lib, p):
        forces = lib.zeros_like(p)
        for i, j in ((0, 1), (1, 2)):
            d = p[j] - p[i]
            forces[i] += d * 2
            forces[j] -= d
        forces[:, 1] -= 9.81
        moved = p + forces * 0.1
        moved[0] = p[0]
        return (moved * moved).sum()

    start = np.array([[0.0, 0.0], [1.0, 0.5], [2.0, -1.0]], dtype=np.float32)
    want_p = torch.tensor(start, requires_grad=True)
    want = energy(torch, want_p)
    want.backward()
    p = tc.tensor(start, requires_grad=True)
    got = tc.compile(lambda q: energy(tc, q), backend=backend)(p)
    got.backward()
    np.testing.assert_allclose(got.item(), want.item(), rtol=1e-6)
    np.testing.assert_allclose(p.grad.numpy(), want_p.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_a_global_the_function_names_updated_through_a_view_is_written_back():
    """A tensor the function names itself is an input, so an update in place reaches it."""
    buf = tc.zeros(3)

    def f(x):
        buf.view(-1).add_(x)
        return x * 1
    compiled = tc.compile(f)
    compiled(tc.ones(3))
    compiled(tc.full((3,), 2.0))
    np.testing.assert_array_equal(buf.numpy(), [3.0, 3.0, 3.0])


def test_in_place_samplers_draw_afresh_on_every_compiled_call(backend):
    """A dropout written by hand (timm's drop_path: `x.new_empty(shape).bernoulli_(p)`) must
    not freeze its mask at trace time; it draws from the same generator as eagerly."""
    def drop(x):
        keep = x.new_empty(x.shape[0], 1).bernoulli_(0.5)
        return x * keep / 0.5 + tc.empty(x.shape).normal_(0.0, 0.1) * 0
    compiled = tc.compile(drop, backend=backend)
    x = tc.ones(64, 3)
    masks = [compiled(x)[:, 0].numpy().copy() for _ in range(4)]
    assert len({m.tobytes() for m in masks}) > 1, "the mask was baked in at trace time"
    assert set(np.unique(np.concatenate(masks))) <= {0.0, 2.0}
    tc.manual_seed(7)
    want = drop(x)
    tc.manual_seed(7)
    np.testing.assert_array_equal(compiled(x).numpy(), want.numpy())


def test_draws_run_in_program_order_whatever_their_inputs(backend):
    """Two dropouts draw from one generator, so the order they run in is what each draws: the
    second's mask (a small literal constant of 0.5s) must not run before the first's (a large
    one, broadcast from a scalar) when the llvm schedule moves steps on constants first."""
    def f(x, y):
        return tc.nn.functional.dropout(x, 0.5), tc.nn.functional.dropout(y, 0.5)
    x, y = tc.ones(300, 300), tc.ones(10, 10)
    tc.manual_seed(3)
    want = f(x, y)
    tc.manual_seed(3)
    for got, w in zip(tc.compile(f, backend=backend)(x, y), want):
        np.testing.assert_array_equal(got.numpy(), w.numpy())


def test_module_compile_in_place_works_before_the_compiler_was_imported():
    """torch's nn.Module.compile(): on a fresh `import tracecomp`, whose compiler loads on
    first use, the method exists, returns None, and the module's calls then run compiled
    with eager's numbers; its state_dict keys are unchanged."""
    import subprocess
    import sys
    code = (
        "import sys, numpy as np, tracecomp as tc\n"
        "assert 'tracecomp.compiler.driver' not in sys.modules\n"
        "tc.manual_seed(0)\n"
        "m = tc.nn.Sequential(tc.nn.Linear(4, 3), tc.nn.ReLU())\n"
        "x = tc.randn(2, 4)\n"
        "want = m(x).detach().numpy()\n"
        "assert m.compile() is None\n"
        "got = m(x)\n"
        "assert type(m.__dict__['_compiled_call']).__name__ == 'OptimizedModule'\n"
        "np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-6)\n"
        "assert list(m.state_dict()) == ['0.weight', '0.bias']\n"
        "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.stdout.strip() == "ok", out.stderr


@dataclasses.dataclass
class _Batch:
    x: tc.Tensor
    y: tc.Tensor
    name: str = "train"


def test_a_dataclass_or_namespace_batch_is_keyed_by_its_fields():
    """`loss(batch)` with a new batch object each call (a dataclass, a SimpleNamespace, a
    torchtext Batch's role): one compile, not one per object (it was keyed by identity),
    and the fields' gradients and a returned record are eager's."""
    import types
    model = nn.Linear(4, 2)

    def loss(b):
        return ((model(b.x) - b.y) ** 2).mean(), types.SimpleNamespace(scaled=b.x * 2,
                                                                       name=b.name)
    compiled = tc.compile(loss, recompile_limit=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # a recompile past the limit would warn
        for _ in range(4):
            x = tc.randn(3, 4, requires_grad=True)
            batch = _Batch(x, tc.randn(3, 2))
            got, record = compiled(batch)
            got.backward()
            x_ref = x.detach().clone().requires_grad_()
            want, _ = loss(_Batch(x_ref, batch.y))
            want.backward()
            assert_close(got, want, rtol=1e-5, atol=1e-6)
            assert_close(x.grad, x_ref.grad, rtol=1e-5, atol=1e-6)
            assert record.name == "train" and tuple(record.scaled.shape) == (3, 4)
    namespace = types.SimpleNamespace(x=tc.ones(3, 4), y=tc.ones(3, 2), name="ns")
    with pytest.warns(UserWarning, match="recompiled"):     # another record type, name
        assert compiled(namespace)[1].name == "ns"
