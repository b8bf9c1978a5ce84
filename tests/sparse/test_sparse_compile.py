"""Sparse tensors under tracecomp.compile: a two-layer GCN in pygcn's style (a normalized
sparse adjacency, torch.spmm, Adam, nll_loss) trains for 5 steps with torch's losses, eager
and compiled with fullgraph=True, its adjacency passed as an argument (COO or CSR) or held
as a constant; an op that needs a traced argument's index values is a TraceError (a graph
break, which runs it eagerly with the same result); sparse results come back out."""
import math
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _graph(n=10, features=5, seed=0):
    r = np.random.default_rng(seed)
    a = (r.random((n, n)) < 0.3).astype(np.float32)
    a = np.maximum(a, a.T) + np.eye(n, dtype=np.float32)
    a /= a.sum(1, keepdims=True)                    # pygcn's row normalization
    row, col = np.nonzero(a)
    return (np.vstack((row, col)).astype(np.int64), a[row, col], (n, n),
            r.standard_normal((n, features)).astype(np.float32), r.integers(0, 3, n))


GRAPH = _graph()


def _gcn(lib):
    nn, F = lib.nn, lib.nn.functional

    class GraphConvolution(nn.Module):
        def __init__(self, n_in, n_out):
            super().__init__()
            self.weight = nn.Parameter(lib.FloatTensor(n_in, n_out))
            self.bias = nn.Parameter(lib.FloatTensor(n_out))
            bound = 1.0 / math.sqrt(n_out)
            self.weight.data.uniform_(-bound, bound)
            self.bias.data.uniform_(-bound, bound)

        def forward(self, x, adj):
            return lib.spmm(adj, lib.mm(x, self.weight)) + self.bias

    class GCN(nn.Module):
        def __init__(self):
            super().__init__()
            self.gc1, self.gc2 = GraphConvolution(5, 8), GraphConvolution(8, 3)

        def forward(self, x, adj):
            x = F.dropout(F.relu(self.gc1(x, adj)), 0.0, training=self.training)
            return F.log_softmax(self.gc2(x, adj), dim=1)

    return GCN()


def _losses(lib, mode):
    idx, vals, shape, feats, labels = GRAPH
    torch.manual_seed(0)
    model = _gcn(torch)
    if lib is tc:   # torch's initial weights
        model, ref = _gcn(tc), model
        model.load_state_dict({k: tc.tensor(v.detach().numpy())
                               for k, v in ref.state_dict().items()})
    adj = lib.sparse.FloatTensor(lib.from_numpy(idx), lib.from_numpy(vals), lib.Size(shape))
    if mode == "csr":
        adj = adj.to_sparse_csr()
    x, y = lib.from_numpy(feats), lib.from_numpy(labels)
    opt = lib.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    forward = model
    if mode == "module":
        forward = tc.compile(model, fullgraph=True)
    elif mode == "constant":
        forward = tc.compile(lambda x, _: model(x, adj), fullgraph=True)

    def step(x, adj):
        opt.zero_grad()
        loss = lib.nn.functional.nll_loss(forward(x, adj), y)
        loss.backward()
        opt.step()
        return loss

    if mode in ("step", "csr"):
        step = tc.compile(step, fullgraph=True)
    return [float(step(x, adj)) for _ in range(5)]


with warnings.catch_warnings():     # torch's deprecation note for sparse.FloatTensor
    warnings.simplefilter("ignore")
    WANT = _losses(torch, None)


@pytest.mark.parametrize("mode", ["eager", "module", "constant", "step", "csr"])
def test_gcn_trains_as_torch(mode):
    got = _losses(tc, mode)
    np.testing.assert_allclose(got, WANT, rtol=2e-6, atol=2e-6,
                               err_msg=f"tracecomp={got} | torch={WANT}")


def _attention(s, scores):
    """A GAT-style step: a softmax over each node's neighbours, then aggregation."""
    weighted = s * 1.0
    logits = tc.sparse_coo_tensor(weighted._indices(), weighted._values() * scores,
                                  weighted.shape)
    return tc.sparse.mm(tc.sparse.softmax(logits, 1), tc.ones(s.shape[1], 2))


def test_op_needing_index_values_breaks_the_graph():
    """softmax groups entries by index: with the adjacency a traced argument that is a
    TraceError naming the op under fullgraph=True, and a graph break (eager, same values)
    otherwise; held as a constant it compiles."""
    idx, vals, shape, _, _ = GRAPH
    adj = tc.sparse_coo_tensor(tc.tensor(idx), tc.tensor(vals), shape).coalesce()
    scores = tc.tensor(np.linspace(-1, 1, len(vals)).astype(np.float32))
    want = _attention(adj, scores)
    with pytest.raises(tc.TraceError, match="coalesce|softmax"):
        tc.compile(_attention, fullgraph=True)(adj, scores)
    assert_close(tc.compile(_attention)(adj, scores), want)
    constant = tc.compile(lambda scores: _attention(adj, scores), fullgraph=True)
    assert_close(constant(scores), want, rtol=1e-5)
    ta = torch.sparse_coo_tensor(torch.tensor(idx), torch.tensor(vals), shape).coalesce()
    logits = torch.sparse_coo_tensor(ta.indices(), ta.values() * torch.tensor(scores.numpy()),
                                     shape)
    assert_close(want, torch.sparse.mm(torch.sparse.softmax(logits, 1), torch.ones(10, 2)),
                 rtol=1e-5)


def test_sparse_result_comes_back_from_compiled_code():
    idx, vals, shape, feats, _ = GRAPH
    adj = tc.sparse_coo_tensor(tc.tensor(idx), tc.tensor(vals), shape)
    w = tc.tensor(feats[:, :1].copy(), requires_grad=True)

    def scale(adj, w):
        return adj * w.sum(), tc.spmm(adj, w)

    out, dense = tc.compile(scale, fullgraph=True)(adj, w)
    want_out, want_dense = scale(adj, w)
    assert out.layout is tc.sparse_coo and tuple(out.shape) == shape
    assert_close(out.to_dense(), want_out.to_dense())
    assert_close(dense, want_dense)
    dense.sum().backward()
    assert_close(w.grad, adj.to_dense().sum(0).reshape(-1, 1))     # adj^T @ ones


TRACED_OPS = {
    "to_dense": lambda s, d: s.to_dense() + d,
    "sum": lambda s, d: tc.sparse.sum(s) * d,
    "mul_dense": lambda s, d: (s * d).to_dense(),
    "dense_at_sparse": lambda s, d: d.t() @ s,
    "addmm": lambda s, d: tc.addmm(d[:, :2], s, d.t()),
}


@pytest.mark.parametrize("name", sorted(TRACED_OPS))
def test_ops_on_a_sparse_argument_compile(name):
    """Ops that need no index values trace with the indices as an input: compiled ==
    eager, gradients too."""
    s = tc.sparse_coo_tensor(tc.tensor([[0, 1, 1], [2, 0, 2]]),
                             tc.tensor([3.0, 4.0, 5.0], requires_grad=True), (2, 3))
    d = tc.arange(6.0).reshape(2, 3).requires_grad_()
    want = TRACED_OPS[name](s, d)
    want.pow(2).sum().backward()
    grads = s._values().grad.clone(), d.grad.clone()
    s._values().grad = d.grad = None
    got = tc.compile(TRACED_OPS[name], fullgraph=True)(s, d)
    assert_close(got, want)
    got.pow(2).sum().backward()
    assert_close(s._values().grad, grads[0])
    assert_close(d.grad, grads[1])
