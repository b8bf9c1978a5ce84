"""What published recommendation and tabular programs needed that tracecomp lacked, found
by running them with their imports changed, eager and compiled (round 55), each reproduced
here against torch.

Programs run (weights copied from the torch model, data from one numpy generator; "agrees"
means eager, compile(model) and a compiled whole training step give torch's losses, outputs
and parameters after every step; where Adam or Adagrad turns a parameter's exactly-zero
gradient (a key bias before softmax) into lr-sized steps on float32 noise, SGD or float64
is the check):
- facebookresearch/dlrm dlrm_s_pytorch.py's DLRM_Net (sequential_forward: bottom and top
  MLPs with the program's numpy-drawn weights, nn.EmbeddingBag(mode="sum", sparse=True)
  with offsets and empty bags, learned weighted pooling through per_sample_weights =
  v_W_l[k].gather(0, indices), the "dot" interaction through bmm and Z[:, li, lj] with the
  program's own tril index lists, and "cat"), tricks/qr_embedding_bag.py (QREmbeddingBag,
  quotient/remainder tables through `(input / n).long()` and remainder, "mult") and
  tricks/md_embedding_bag.py (PrEmbeddingBag with a projection), BCELoss; SGD, Adagrad,
  SparseAdam and optim/rwsadagrad.py (the row-wise sparse Adagrad, which reads
  grad.is_sparse, coalesces and builds its updates with grad.new(indices, values, size)),
  LRPolicyScheduler (an _LRScheduler subclass reading _step_count and base_lrs):
  with sparse=False every mode agreed; the program's own sparse=True raised
  NotImplementedError (below). Now agrees with all four optimizers; in compiled code a
  lookup that needs a sparse gradient is a graph break.
- pmixer/SASRec.pytorch python/model.py and main.py's step (item and position
  nn.Embedding(padding_idx=0) with xavier_normal_ init and row 0 zeroed, `seqs *=` in place
  on a lookup, positions from numpy masked by `log_seqs != 0`, nn.MultiheadAttention with a
  boolean causal mask, post- and pre-norm, Conv1d point-wise FFN, BCEWithLogits on
  `logits[np.where(pos != 0)]`, the l2_emb term, Adam betas (0.9, 0.98); predict's
  matmul over candidate items): agree (in_proj_bias's key third moves by Adam on noise).
- lucidrains/tab-transformer-pytorch at 43ecec9 (before its x-mlps/hyper-connections
  dependencies; an einops stand-in): TabTransformer (categories_offset from F.pad + cumsum,
  shared category embedding repeated over the batch, continuous_mean_std normalisation,
  GEGLU, attention maps returned) and FTTransformer (NumericalEmbedder, cls token), cross
  entropy, AdamW: agree (float64 to 1e-9).
- yandex-research/rtdl-revisiting-models bin/ft_transformer.py with lib/deep.py (Tokenizer
  with category_offsets and uninitialised `Tensor(n, d)` weights, the [CLS] token, the last
  layer attending from [CLS] only, linformer key/value compression shared headwise,
  key-value and layerwise, reglu/geglu, pre- and post-norm, parameter groups without weight
  decay), with the program's RAdam and AdaBelief (deprecated addcmul_(value, t1, t2) and
  add_(alpha, t) overloads, with torch's warnings) and AdamW, SGD: agree (float64; RAdam
  updates in float32 through p.data.float(), one ulp of which differs after a few steps).
- yandex-research/rtdl-revisiting-models lib/node (NODE: DenseBlock of ODST trees with
  max_features, the sparsemax/sparsemoid and entmax15/entmoid15 autograd Functions,
  ModuleWithInit's data-aware init from np.percentile on the first batch, behind its own
  __call__), MSE, Adam: eager agrees; compile(model) with sparsemax raised RecursionError
  (below), and agrees after the fix (float64 to 1e-8). Sparsemax's `input -= max` shifts
  the selection logits, a parameter, in place under no_grad: a graph break, as in round 51.
- shenweichen/DeepCTR-Torch (tensorflow, tqdm and requests stand-ins): DIN, DIEN with GRU,
  AIGRU, AGRU and AUGRU (negative sampling's auxiliary loss, pack_padded_sequence and the
  attention GRU cells over PackedSequence batch sizes), MMOE, PLE, ONN, NFM, DCNMix, the
  input pipeline's `X[:, a:b].long()` lookups and varlen mean/sum pooling, Adagrad and SGD:
  agree; their boolean-mask indexing is a graph break in compiled code, as in torch.
- jaywonchung/BERT4Rec-VAE-Pytorch models/ and trainers/ (BERT4Rec: sinusoidal position
  embedding buffer, `(x > 0).unsqueeze(1).repeat(...)` attention mask with masked_fill
  -1e9, the tanh GELU, its own LayerNorm and sublayer connections, CrossEntropyLoss
  ignore_index=0 over (B*T, V), Adam with weight decay; VAE-CF: F.normalize, tanh
  encoder/decoder, `logits[inputs != 0] = -inf`, CE + beta * KLD; recalls_and_ndcgs_for_ks
  through argsort, gather and torch.Tensor([k])): agree, metrics included.
The gap: sparse=True of nn.EmbeddingBag (DLRM's default) raised NotImplementedError, and
nn.Embedding(sparse=True) gave a dense gradient, so code that reads the layout (DLRM's
row-wise Adagrad, SparseAdam, which refused every gradient) could not run or took the dense
path. Now the weight's gradient is torch's sparse COO tensor, entry for entry; the engine
accumulates it as torch does; SGD, Adagrad and SparseAdam take it with torch's updates,
LBFGS makes it dense as torch does, the others refuse it with torch's errors; sparse tensors
answer the legacy new(indices, values, size).
A second gap: a module whose class defines __call__ (NODE's ModuleWithInit) and whose
code breaks the graph recursed for ever: the eager run of its own __call__ reached
Module.__call__, which routed the module back to the split, which compiled it again.
Now that module's forward runs eagerly there, its submodules compiled on their own.
"""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

_RNG = np.random.default_rng(55)
_W = _RNG.standard_normal((10, 3))
_IDX = np.array([1, 2, 4, 5, 4, 3, 2, 9, 0])
_OFF = np.array([0, 4, 4, 7])
_PSW = np.linspace(0.5, 2.0, 9)

LOOKUPS = {
    "embedding_padding_2d": lambda lib, w: lib.nn.functional.embedding(
        lib.tensor(_IDX.reshape(3, 3)), w, padding_idx=4, sparse=True),
    "bag_sum_weighted": lambda lib, w: lib.nn.functional.embedding_bag(
        lib.tensor(_IDX), w, lib.tensor(_OFF), mode="sum", sparse=True,
        per_sample_weights=lib.tensor(_PSW)),
    "bag_mean_padding": lambda lib, w: lib.nn.functional.embedding_bag(
        lib.tensor(_IDX), w, lib.tensor(_OFF), mode="mean", sparse=True, padding_idx=2),
    "bag_2d": lambda lib, w: lib.nn.functional.embedding_bag(
        lib.tensor(_IDX.reshape(3, 3)), w, sparse=True),
    "bag_include_last_offset": lambda lib, w: lib.nn.functional.embedding_bag(
        lib.tensor(_IDX), w, lib.tensor(np.array([0, 4, 4, 7, 9])), mode="sum",
        sparse=True, include_last_offset=True),
}


def _two_backwards(lib, lookup):
    w = lib.tensor(_W, requires_grad=True)
    out = lookup(lib, w)
    (out * lib.arange(out.numel(), dtype=out.dtype).reshape(out.shape)).sum().backward()
    lookup(lib, w).sum().backward()
    return w.grad


@pytest.mark.parametrize("name", list(LOOKUPS))
def test_sparse_weight_gradient_is_torchs_coo_tensor(name):
    """Before: embedding gave a dense .grad and embedding_bag raised NotImplementedError.
    Two backwards append their entries (uncoalesced), as torch's engine does."""
    want, got = (_two_backwards(lib, LOOKUPS[name]) for lib in (torch, tc))
    assert got.is_sparse and got.is_coalesced() == want.is_coalesced()
    assert_close(got._indices(), want._indices(), what="indices")
    assert_close(got._values(), want._values(), what="values")


def test_sparse_gradient_adds_to_a_dense_one_as_torch():
    """The table also used densely: the sum is dense, whichever comes first."""
    grads = []
    for lib in (torch, tc):
        w = lib.tensor(_W, requires_grad=True)
        (w[0] * 3).sum().backward()
        LOOKUPS["bag_sum_weighted"](lib, w).sum().backward()
        LOOKUPS["bag_2d"](lib, w).pow(2).sum().backward()
        grads.append(w.grad)
    assert not grads[1].is_sparse
    assert_close(grads[1], grads[0])


def test_scale_grad_by_freq_with_sparse_is_refused_at_backward_as_torch():
    for fn in (lambda lib, w: lib.nn.functional.embedding(
                   lib.tensor(_IDX), w, scale_grad_by_freq=True, sparse=True),
               lambda lib, w: lib.nn.functional.embedding_bag(
                   lib.tensor(_IDX), w, lib.tensor(_OFF), scale_grad_by_freq=True,
                   sparse=True)):
        for lib in (torch, tc):
            out = fn(lib, lib.tensor(_W, requires_grad=True))      # the forward runs
            with pytest.raises(RuntimeError, match="scale_grad_by_freq not supported with "
                                                   "sparse gradients"):
                out.sum().backward()


def test_legacy_new_on_a_sparse_tensor_builds_one():
    """DLRM's row-wise Adagrad: grad.new(indices, values, size), with the values' dtype."""
    made = []
    for lib in (torch, tc):
        g = lib.sparse_coo_tensor(lib.tensor([[1, 3, 1]]), lib.tensor(_W[:3]), (5, 3))
        row = g.new(g._indices(), g._values().float().mean(1), [5])
        empty = g.new(4, 2)
        assert row.is_sparse and row.dtype == lib.float32 and empty.is_sparse
        assert (empty.sparse_dim(), empty._nnz(), empty.dtype) == (2, 0, g.dtype)
        made.append(row.to_dense())
    assert_close(made[1], made[0])


# --- DLRM-style training: sparse bags, weighted pooling, dot interaction ----------------
def _dlrm_like(lib, weights):
    nn = lib.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.bags = nn.ModuleList(nn.EmbeddingBag(n, 4, mode="sum", sparse=True)
                                      for n in (10, 7))
            self.pool = nn.ParameterList(nn.Parameter(lib.ones(n)) for n in (10, 7))
            self.bottom = nn.Sequential(nn.Linear(5, 4), nn.ReLU())
            self.top = nn.Sequential(nn.Linear(7, 5), nn.ReLU(), nn.Linear(5, 1),
                                     nn.Sigmoid())

        def forward(self, dense, offsets, indices):
            x = self.bottom(dense)
            ly = [bag(i, o, per_sample_weights=w.gather(0, i))
                  for bag, w, o, i in zip(self.bags, self.pool, offsets, indices)]
            t = lib.cat([x] + ly, dim=1).view(x.shape[0], -1, 4)
            z = lib.bmm(t, t.transpose(1, 2))
            li = lib.tensor([i for i in range(3) for j in range(i)])
            lj = lib.tensor([j for i in range(3) for j in range(i)])
            return self.top(lib.cat([x, z[:, li, lj]], dim=1))

    net = Net()
    if weights is not None:
        net.load_state_dict({k: lib.tensor(v) for k, v in weights.items()})
    return net


def _weights():
    torch.manual_seed(55)
    return {k: v.detach().numpy().copy() for k, v in _dlrm_like(torch, None).state_dict().items()}


def _row_wise_adagrad(lib, params, lr=0.1, eps=1e-10):
    """DLRM's rwsadagrad for sparse gradients: one accumulator per row, the mean of the
    row's squared gradient (our own few lines; dense gradients take plain Adagrad)."""
    state = {}

    def step():
        with lib.no_grad():
            for p in params:
                if p.grad is None:
                    continue
                grad = p.grad
                if not grad.is_sparse:
                    acc = state.setdefault(id(p), lib.zeros_like(p))
                    acc.addcmul_(grad, grad)
                    p.addcdiv_(grad, acc.sqrt().add_(eps), value=-lr)
                    continue
                grad = grad.coalesce()
                at, values = grad._indices(), grad._values()
                acc = state.setdefault(id(p), lib.zeros(p.shape[0]))
                update = grad.new(at, values.pow(2).mean(dim=1), [p.shape[0]])
                acc.add_(update)
                std = acc.sparse_mask(update.coalesce())._values().sqrt_().add_(eps)
                p.add_(grad.new(at, values / std.view(-1, 1), grad.shape), alpha=-lr)
    return step


def _optimizer(lib, net, name):
    if name == "rowwise_adagrad":
        return _row_wise_adagrad(lib, list(net.parameters()))
    if name == "sparse_adam":
        sparse = lib.optim.SparseAdam(list(net.bags.parameters()), lr=0.05)
        rest = lib.optim.SGD([p for n, p in net.named_parameters()
                              if not n.startswith("bags")], lr=0.1)
        return lambda: (sparse.step(), rest.step())
    return getattr(lib.optim, name)(net.parameters(), lr=0.1).step


def _dlrm_batches(steps=3, batch=5):
    rng = np.random.default_rng(7)
    out = []
    for _ in range(steps):
        offsets, indices = [], []
        for n in (10, 7):
            sizes = rng.integers(0, 4, batch)       # empty bags included
            offsets.append(np.concatenate([[0], np.cumsum(sizes)[:-1]]))
            indices.append(rng.integers(0, n, sizes.sum()))
        out.append((rng.standard_normal((batch, 5)).astype(np.float32), offsets, indices,
                    rng.integers(0, 2, (batch, 1)).astype(np.float32)))
    return out


@pytest.mark.parametrize("opt", ["SGD", "Adagrad", "sparse_adam", "rowwise_adagrad"])
@pytest.mark.parametrize("mode", ["eager", "compiled_step"])
def test_dlrm_style_training_with_sparse_bags_follows_torch(opt, mode):
    """Before: EmbeddingBag(sparse=True) raised NotImplementedError; SparseAdam refused
    every gradient. In a compiled step the sparse lookups are a graph break."""
    weights = _weights()
    ref, ours = _dlrm_like(torch, weights), _dlrm_like(tc, weights)
    steps = []
    for lib, net in ((torch, ref), (tc, ours)):
        update = _optimizer(lib, net, opt)

        def step(dense, offsets, indices, target, lib=lib, net=net, update=update):
            for p in net.parameters():
                p.grad = None
            loss = lib.nn.functional.binary_cross_entropy(net(dense, offsets, indices),
                                                          target)
            loss.backward()
            grad_is_sparse = net.bags[0].weight.grad.is_sparse
            update()
            return loss, grad_is_sparse
        steps.append(tc.compile(step) if lib is tc and mode == "compiled_step" else step)
    for dense, offsets, indices, target in _dlrm_batches():
        runs = [fn(lib.tensor(dense), [lib.tensor(o) for o in offsets],
                   [lib.tensor(i) for i in indices], lib.tensor(target))
                for lib, fn in zip((torch, tc), steps)]
        (want, want_sparse), (got, got_sparse) = runs
        assert got_sparse == want_sparse is True
        assert_close(got, want, rtol=1e-5)
    for (name, p), q in zip(ours.named_parameters(), ref.parameters()):
        assert_close(p, q, rtol=1e-5, atol=1e-6, what=name)


def test_compiled_inference_with_sparse_bags_compiles_without_a_break():
    """No gradient, nothing sparse: the lookup is the plain one and compiles."""
    weights = _weights()
    ref, ours = _dlrm_like(torch, weights), tc.compile(_dlrm_like(tc, weights), fullgraph=True)
    dense, offsets, indices, _ = _dlrm_batches(1)[0]
    with torch.no_grad():
        want = ref(torch.tensor(dense), [torch.tensor(o) for o in offsets],
                   [torch.tensor(i) for i in indices])
    with tc.no_grad():
        got = ours(tc.tensor(dense), [tc.tensor(o) for o in offsets],
                   [tc.tensor(i) for i in indices])
    assert_close(got, want)


def test_export_of_a_sparse_embedding_is_the_plain_lookup():
    """An exported graph has no backward: sparse=True changes nothing there (it was a
    TraceError while the lookup refused every trace that needs grad)."""
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Embedding(10, 3, sparse=True), torch.nn.Linear(3, 2))
    ours = tc.nn.Sequential(tc.nn.Embedding(10, 3, sparse=True), tc.nn.Linear(3, 2))
    ours.load_state_dict({k: tc.tensor(v.detach().numpy()) for k, v in
                          ref.state_dict().items()})
    x = _IDX.reshape(3, 3)
    want = torch.export.export(ref, (torch.tensor(x),)).module()(torch.tensor(x))
    got = tc.export.export(ours, (tc.tensor(x),)).module()(tc.tensor(x))
    assert_close(got, want)


@pytest.mark.parametrize("name,kw", [("Adam", {}), ("AdamW", {}), ("RMSprop", {}),
                                     ("NAdam", {}), ("Adagrad", {"weight_decay": 0.1})])
def test_optimizers_without_a_sparse_update_refuse_one_as_torch(name, kw):
    errors = []
    for lib in (torch, tc):
        bag = lib.nn.EmbeddingBag(10, 3, mode="sum", sparse=True)
        opt = getattr(lib.optim, name)(bag.parameters(), lr=0.1, **kw)
        bag(lib.tensor(_IDX), lib.tensor(_OFF)).sum().backward()
        with pytest.raises(RuntimeError) as err:
            opt.step()
        errors.append(str(err.value))
    assert errors[1] == errors[0]


# --- rtdl's NODE: a module that defines __call__ (data-aware init) and breaks -------------
def _with_init(lib):
    class WithInit(lib.nn.Module):
        """Like NODE's ModuleWithInit: __call__ initialises from the first batch, then
        calls super().__call__; forward updates a parameter in place under no_grad (NODE's
        sparsemax shifts its input, the selection logits), a graph break in compile(model)."""

        def __init__(self):
            super().__init__()
            self.lin = lib.nn.Linear(3, 4)
            self.logits = lib.nn.Parameter(lib.tensor(_W[:4, :2].astype(np.float32)))
            self.ready = False

        def __call__(self, *args, **kwargs):
            if not self.ready:
                with lib.no_grad():
                    self.lin.bias.copy_(-self.lin(args[0]).mean(0))
                self.ready = True
            return super().__call__(*args, **kwargs)

        def forward(self, x):
            with lib.no_grad():
                self.logits -= self.logits.max(0, keepdim=True)[0]
            return self.lin(x) @ self.logits.softmax(0)
    return WithInit


def _train_with_init(lib, weights, wrap, x):
    net = lib.nn.Sequential(_with_init(lib)(), lib.nn.Tanh())
    net.load_state_dict({k: lib.tensor(v) for k, v in weights.items()})
    call = net
    if lib is tc and wrap == "model":
        inner = tc.compile(net[0])
        call = lambda t: net[1](inner(t))       # noqa: E731
    elif lib is tc:
        call = tc.compile(net)
    opt = lib.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        out = call(lib.tensor(x))
        out.pow(2).sum().backward()
        opt.step()
    return out, dict(net.named_parameters())


@pytest.mark.parametrize("wrap", ["model", "inside"])
def test_a_breaking_module_with_its_own_call_runs_eagerly_once(wrap):
    """Before: the eager run of the module's own __call__ routed its Module.__call__ back
    to the split, which compiled the module again and broke again: RecursionError."""
    x = _RNG.standard_normal((5, 3)).astype(np.float32)
    torch.manual_seed(0)
    weights = {k: v.detach().numpy().copy() for k, v in
               torch.nn.Sequential(_with_init(torch)(), torch.nn.Tanh()).state_dict().items()}
    (want, want_p), (got, got_p) = (_train_with_init(lib, weights, wrap, x)
                                    for lib in (torch, tc))
    assert_close(got, want)
    for name, p in got_p.items():
        assert_close(p, want_p[name], what=name)


def test_lbfgs_flattens_a_sparse_gradient_as_torch():
    """torch's LBFGS makes a sparse .grad dense (it raised NotImplementedError: reshape of
    a sparse tensor)."""
    weights = []
    for lib in (torch, tc):
        bag = lib.nn.EmbeddingBag(10, 3, mode="sum", sparse=True)
        with lib.no_grad():
            bag.weight.copy_(lib.tensor(_W.astype(np.float32) / 4))
        opt = lib.optim.LBFGS(bag.parameters(), lr=0.5, max_iter=3)

        def closure(bag=bag, opt=opt, lib=lib):
            opt.zero_grad()
            loss = bag(lib.tensor(_IDX), lib.tensor(_OFF)).pow(2).sum()
            loss.backward()
            return loss
        opt.step(closure)
        weights.append(bag.weight)
    assert_close(weights[1], weights[0])
