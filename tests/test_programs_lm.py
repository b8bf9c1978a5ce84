"""What language-model programs written for torch need beyond single ops, each against torch.

The programs (pytorch/examples word_language_model; karpathy's makemore, ng-video-lecture
and nanoGPT) import torch.onnx for an optional export, name layer classes by torch's file
paths in torch.serialization.safe_globals, save a whole compiled model, run a forward with
and without parameter gradients (zero_grad between forward and backward, gradient
accumulation), and unroll recurrent cells or stacks of equal blocks into long graphs.
"""
import importlib
import inspect
import pkgutil
import re

import numpy as np
import pytest
import torch

import tracecomp as tc
import tracecomp.nn as nn
import tracecomp.nn.functional as F
from tracecomp.compiler.compiled_module import OptimizedModule

from helpers import assert_close, to_tc


# --- torch.onnx ---------------------------------------------------------------------------
def test_torch_onnx_imports_and_an_export_says_it_is_unsupported():
    import tracecomp.onnx
    assert tracecomp.onnx.is_in_onnx_export() is torch.onnx.is_in_onnx_export() is False
    with pytest.raises(NotImplementedError, match=r"torch\.onnx\.export is not supported.*"
                                                  r"SUPPORT\.md"):
        tc.onnx.export(nn.Linear(2, 2), (tc.ones(1, 2),), "model.onnx")
    assert not hasattr(tc.onnx, "export")       # hasattr answers as for any missing name
    with pytest.raises(AttributeError, match="has no attribute 'exprot'"):
        tc.onnx.exprot  # noqa: B018 - the attribute access is what raises


# --- torch.nn.modules.<file>.<Class> ------------------------------------------------------
def _torch_files():
    for info in pkgutil.iter_modules(torch.nn.modules.__path__):
        mod = importlib.import_module(f"torch.nn.modules.{info.name}")
        # the classes torch.nn exports from this file (torch.nn.modules._functions has an
        # autograd Function named SyncBatchNorm, which is not torch.nn.SyncBatchNorm)
        classes = [n for n, v in vars(mod).items()
                   if inspect.isclass(v) and v.__module__ == mod.__name__
                   and getattr(torch.nn, n, None) is v and hasattr(nn, n)]
        if classes:
            yield info.name, classes


@pytest.mark.parametrize("file,classes", list(_torch_files()))
def test_every_layer_class_is_at_torchs_file_path(file, classes):
    """safe_globals lists (word_language_model) and isinstance checks name these paths."""
    ours = importlib.import_module(f"tracecomp.nn.modules.{file}")
    for name in classes:
        assert getattr(ours, name) is getattr(nn, name), f"tracecomp.nn.modules.{file}.{name}"


def test_mha_out_proj_class_is_at_torchs_path_and_typos_stay_attribute_errors():
    from tracecomp.nn.modules.linear import NonDynamicallyQuantizableLinear
    assert type(nn.MultiheadAttention(4, 2).out_proj) is NonDynamicallyQuantizableLinear
    from tracecomp.nn.modules import activation
    assert activation.MultiheadAttention is nn.MultiheadAttention
    with pytest.raises(AttributeError, match="activation' has no attribute 'Relu'"):
        activation.Relu  # noqa: B018 - the attribute access is what raises


# --- saving a whole compiled model --------------------------------------------------------
class WordLM(nn.Module):
    """word_language_model's RNNModel, small: embedding, LSTM, decoder, log_softmax."""

    def __init__(self, ntoken, ninp, nhid, nlayers):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers)
        self.decoder = nn.Linear(nhid, ntoken)
        self.ntoken = ntoken

    def forward(self, input, hidden):
        output, hidden = self.rnn(self.encoder(input), hidden)
        decoded = self.decoder(output).view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden


def _torch_word_lm(m):
    ref = torch.nn.Module()
    ref.encoder = torch.nn.Embedding(m.ntoken, m.encoder.embedding_dim)
    ref.rnn = torch.nn.LSTM(m.rnn.input_size, m.rnn.hidden_size, m.rnn.num_layers)
    ref.decoder = torch.nn.Linear(m.rnn.hidden_size, m.ntoken)
    ref.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                         for k, v in m.state_dict().items()})

    def forward(input, hidden):
        output, hidden = ref.rnn(ref.encoder(input), hidden)
        decoded = ref.decoder(output).view(-1, m.ntoken)
        return torch.log_softmax(decoded, dim=1), hidden
    return ref, forward


def test_a_compiled_model_saved_whole_loads_compiled(tmp_path):
    tc.manual_seed(0)
    model = tc.compile(WordLM(11, 6, 5, 2))
    model.eval()
    path = tmp_path / "model.pt"
    with open(path, "wb") as f:
        tc.save(model, f)
    with tc.serialization.safe_globals([WordLM, nn.modules.rnn.LSTM]), open(path, "rb") as f:
        loaded = tc.load(f)
    assert isinstance(loaded, OptimizedModule) and type(loaded._orig_mod) is WordLM
    assert not loaded.training and not loaded.rnn.training
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2
        assert_close(v2, v.numpy(), what=k)
    x = tc.tensor([[1, 2], [3, 4], [5, 6]])
    hidden = (tc.zeros(2, 2, 5), tc.zeros(2, 2, 5))
    ref, forward = _torch_word_lm(model._orig_mod)
    want, _ = forward(torch.tensor(x.numpy()), tuple(torch.zeros(2, 2, 5) for _ in range(2)))
    got, _ = loaded(x, hidden)
    assert_close(got, want)
    assert loaded._compiled.compiles == 1


# --- one kernel per distinct definition ---------------------------------------------------
class Stack(nn.Module):
    """Equal residual blocks: their kernels repeat once per block."""

    def __init__(self, n, width):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(width, width) for _ in range(n))

    def forward(self, x):
        for layer in self.layers:
            x = x + 0.5 * tc.tanh(layer(x)) * tc.sigmoid(x)
        return x


@pytest.mark.parametrize("runner", ["entry", "steps"])
def test_repeated_kernels_are_compiled_once_with_the_same_results(runner, monkeypatch):
    monkeypatch.setenv("TRACECOMP_LLVM_RUNNER", runner)
    tc.manual_seed(1)
    model = Stack(5, 7)
    ref = torch.nn.ModuleList(torch.nn.Linear(7, 7) for _ in range(5))
    ref.load_state_dict({f"{k[len('layers.'):]}": torch.from_numpy(v.numpy().copy())
                         for k, v in model.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((3, 7)).astype(np.float32)
    compiled = tc.compile(model)
    got = compiled(tc.tensor(x))
    got.sum().backward()
    want = torch.tensor(x)
    for layer in ref:
        want = want + 0.5 * torch.tanh(layer(want)) * torch.sigmoid(want)
    want.sum().backward()
    assert_close(got, want, what="output")
    for (name, p), q in zip(model.named_parameters(), ref.parameters()):
        assert_close(p.grad, q.grad, what=f"{name}.grad")
    for graph, log in compiled.fusion_log.items():
        labels = [line.split(":")[0] for line in log.splitlines()
                  if line.startswith("kernel")]
        assert len(set(labels)) < len(labels), f"{graph}: no kernel shared: {labels}"
        defined = len(re.findall(r'define (?:internal )?void @"kernel', compiled.llvm_ir[graph]))
        assert defined == len(set(labels)), f"{graph}: {defined} kernels defined"


# --- parameter gradients and the signature ------------------------------------------------
def _close_params(model, ref):
    for (name, p), q in zip(model.named_parameters(), ref.parameters()):
        assert_close(p, q, rtol=1e-5, atol=1e-6, what=name)


def test_a_forward_runs_with_and_without_grads_on_one_compile():
    """gpt.py: zero_grad(set_to_none=True) between forward and backward, so the forward
    sees gradients from the second step on; nanoGPT: gradient accumulation."""
    tc.manual_seed(2)
    model = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 3))
    ref = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.GELU(), torch.nn.Linear(8, 3))
    ref.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                         for k, v in model.state_dict().items()})
    compiled = tc.compile(model)
    opt = tc.optim.AdamW(model.parameters(), lr=1e-2)
    ref_opt = torch.optim.AdamW(ref.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    for _ in range(3):
        for _micro in range(2):
            x = rng.standard_normal((5, 4)).astype(np.float32)
            y = rng.integers(0, 3, 5)
            loss = F.cross_entropy(compiled(tc.tensor(x)), tc.tensor(y)) / 2
            ref_loss = torch.nn.functional.cross_entropy(ref(torch.tensor(x)),
                                                         torch.tensor(y)) / 2
            assert_close(loss, ref_loss, what="loss")
            loss.backward()
            ref_loss.backward()
        opt.step()
        ref_opt.step()
        opt.zero_grad(set_to_none=True)
        ref_opt.zero_grad(set_to_none=True)
    _close_params(model, ref)
    assert compiled._compiled.compiles == 1


def test_code_that_looks_at_grad_compiles_again_when_it_appears():
    @tc.compile
    def f(x, w):
        return x * w if w.grad is None else x * w.grad

    x, w = tc.tensor([1.0, 2.0, 3.0]), nn.Parameter(tc.ones(3))
    assert_close(f(x, w), np.array([1.0, 2.0, 3.0]))
    w.grad = tc.tensor([2.0, 0.0, -1.0])
    assert_close(f(x, w), np.array([2.0, 0.0, -3.0]))
    w.grad = tc.tensor([1.0, 1.0, 1.0])
    assert_close(f(x, w), np.array([1.0, 2.0, 3.0]))
    assert f.compiles == 2
    assert tc.Tensor.__dict__["grad"] is None       # a plain attribute again after tracing


def test_grad_of_a_tensor_in_a_dict_the_function_names_is_read_and_written_as_eagerly():
    """A parameter one element in: an input, its .grad too (bound_tensors.py)."""
    w = nn.Parameter(tc.ones(3))
    held = {"w": w}
    x = tc.tensor([1.0, 2.0, 3.0])

    def reads(x):
        return x * held["w"] if held["w"].grad is None else x * held["w"].grad

    def writes(x):
        loss = (x * held["w"]).sum()
        loss.backward()
        return loss

    assert_close(tc.compile(writes)(x), np.array(6.0))
    assert_close(w.grad, np.array([1.0, 2.0, 3.0]))
    assert_close(tc.compile(reads)(x), np.array([1.0, 4.0, 9.0]))


def test_grad_of_a_tensor_reached_deeper_is_a_trace_error_not_a_stale_value():
    w = nn.Parameter(tc.ones(3))
    held = {"inner": {"w": w}}      # two containers deep: no input (bound_tensors.py)
    x = tc.tensor([1.0, 2.0, 3.0])

    def reads(x):
        w = held["inner"]["w"]
        return x * w if w.grad is None else x * w.grad

    def writes(x):
        loss = (x * held["inner"]["w"]).sum()
        loss.backward()
        return loss

    for f in (tc.compile(reads, fullgraph=True), tc.compile(writes, fullgraph=True)):
        with pytest.raises(tc.errors.TraceError, match=r"\.grad of a tensor of shape \[3\] "
                                                       r"that it reaches from outside"):
            f(x)
        assert w.grad is None
    with pytest.warns(UserWarning, match="fallback='eager'"):
        assert_close(tc.compile(writes, fallback="eager")(x), np.array(6.0))
    assert_close(w.grad, np.array([1.0, 2.0, 3.0]))


def test_grad_of_a_closure_parameter_is_read_and_accumulated_as_eagerly():
    """A Parameter the function names itself is an input, its .grad too (torch.compile
    reads and writes a closure's .grad the same way)."""
    w = nn.Parameter(tc.ones(3))
    x = tc.tensor([1.0, 2.0, 3.0])

    def reads(x):
        return x * w if w.grad is None else x * w.grad

    def writes(x):
        loss = (x * w).sum()
        loss.backward()
        return loss

    compiled_reads, compiled_writes = tc.compile(reads), tc.compile(writes)
    assert_close(compiled_reads(x), np.array([1.0, 2.0, 3.0]))
    for k in range(1, 4):   # accumulating into w.grad, as eagerly
        assert_close(compiled_writes(x), np.array(6.0))
        assert_close(w.grad, k * np.array([1.0, 2.0, 3.0]))
    assert_close(compiled_reads(x), np.array([3.0, 12.0, 27.0]))


def test_a_compiled_step_with_backward_inside_still_accumulates_into_grad():
    tc.manual_seed(3)
    model = nn.Linear(3, 2)
    ref = torch.nn.Linear(3, 2)
    ref.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                         for k, v in model.state_dict().items()})

    @tc.compile
    def accumulate(x):
        loss = model(x).pow(2).sum()
        loss.backward()
        return loss

    x = np.arange(6, dtype=np.float32).reshape(2, 3) / 5
    for _ in range(3):          # the first call without .grad, then accumulating into it
        accumulate(tc.tensor(x))
        ref(torch.tensor(x)).pow(2).sum().backward()
        for p, q in zip(model.parameters(), ref.parameters()):
            assert_close(p.grad, q.grad, what="grad")


def test_tensor_grad_is_a_plain_attribute_again_after_a_failed_trace():
    @tc.compile
    def broken(x):
        raise ValueError("in the user's code")

    with pytest.raises(ValueError, match="user's code"):
        broken(tc.ones(2))
    assert tc.Tensor.__dict__["grad"] is None
    t = tc.ones(2)
    t.grad = tc.zeros(2)
    assert "grad" in vars(t)


# --- a word-level LM trained as word_language_model trains it -----------------------------
@pytest.mark.parametrize("compiled", [False, True])
def test_word_lm_training_matches_torch(compiled):
    """Hidden state detached between batches, clip_grad_norm_, and the manual SGD update
    `p.data.add_(p.grad, alpha=-lr)`, three batches, against torch number for number."""
    tc.manual_seed(4)
    model = WordLM(13, 6, 5, 2)
    ref, ref_forward = _torch_word_lm(model)
    run = tc.compile(model) if compiled else model
    data = np.random.default_rng(1).integers(0, 13, (13, 3))
    hidden = (tc.zeros(2, 3, 5), tc.zeros(2, 3, 5))
    ref_hidden = (torch.zeros(2, 3, 5), torch.zeros(2, 3, 5))
    for i in range(0, 12, 4):
        x, y = data[i:i + 4], data[i + 1:i + 5].reshape(-1)
        model.zero_grad()
        ref.zero_grad()
        hidden = tuple(h.detach() for h in hidden)
        ref_hidden = tuple(h.detach() for h in ref_hidden)
        out, hidden = run(tc.tensor(x), hidden)
        ref_out, ref_hidden = ref_forward(torch.tensor(x), ref_hidden)
        loss = nn.NLLLoss()(out, tc.tensor(y))
        ref_loss = torch.nn.NLLLoss()(ref_out, torch.tensor(y))
        assert_close(loss, ref_loss, what=f"loss at batch {i // 4}")
        loss.backward()
        ref_loss.backward()
        tc.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.25)
        for p, q in zip(model.parameters(), ref.parameters()):
            p.data.add_(p.grad, alpha=-20)
            q.data.add_(q.grad, alpha=-20)
    _close_params(model, ref)
    assert_close(hidden[0], to_tc(ref_hidden[0]), what="hidden state")
    if compiled:
        assert run._compiled.compiles == 1
