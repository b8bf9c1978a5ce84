"""Sparse tensors kept as state, against torch 2.13: in-place ops (mul_, add_, zero_,
copy_) replace a sparse tensor's contents as torch's do and refuse dense results; a sparse
buffer loads through load_state_dict, round-trips through tracecomp.save/load, and is
read as a constant by a compiled module."""
import io

import pytest
import torch

import tracecomp as tc

from helpers import assert_close

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _adj(lib, idx=((0, 1, 2), (1, 0, 2)), vals=(1.0, 2.0, 3.0)):
    return lib.sparse_coo_tensor(lib.tensor(list(idx)), lib.tensor(list(vals)), (3, 3))


def test_in_place_ops_are_torchs():
    dense = []
    for lib in (torch, tc):
        s = _adj(lib).clone()
        s.mul_(3)
        s.add_(_adj(lib))
        s.div_(2)
        dense.append((s.to_dense(), s._nnz()))
        z = _adj(lib).clone().zero_()
        assert z._nnz() == 0 and float(z.to_dense().abs().sum()) == 0.0
        c = _adj(lib).clone().copy_(_adj(lib, vals=(7.0, 8.0, 9.0)))
        dense.append((c.to_dense(), c._nnz()))
    assert_close(dense[2][0], dense[0][0])
    assert dense[2][1] == dense[0][1]
    assert_close(dense[3][0], dense[1][0])
    s = _adj(tc)
    with pytest.raises(RuntimeError, match="between dense and sparse"):
        s.copy_(tc.ones(3, 3))
    with pytest.raises(NotImplementedError, match="sparse_coo"):
        s.fill_(1.0)
    with pytest.raises(NotImplementedError, match="sparse_coo"):
        s.exp_()
    leaf = _adj(tc).requires_grad_()
    with pytest.raises(RuntimeError, match="leaf Variable"):
        leaf.mul_(2)


def test_sparse_buffer_loads_and_saves():
    source, target = tc.nn.Linear(3, 3), tc.nn.Linear(3, 3)
    source.register_buffer("adj", _adj(tc))
    target.register_buffer("adj", _adj(tc, ((0,), (0,)), (5.0,)))
    target.load_state_dict(source.state_dict())
    assert_close(target.adj.to_dense(), _adj(torch).to_dense())
    buffer = io.BytesIO()
    tc.save({"coo": _adj(tc).coalesce(), "csr": _adj(tc).to_sparse_csr(),
             "state": source.state_dict()}, buffer)
    buffer.seek(0)
    loaded = tc.load(buffer)
    assert loaded["coo"].layout is tc.sparse_coo and loaded["coo"].is_coalesced()
    assert loaded["csr"].layout is tc.sparse_csr
    for key in ("coo", "csr"):
        assert_close(loaded[key].to_dense(), _adj(torch).to_dense())
    assert_close(loaded["state"]["adj"].to_dense(), _adj(torch).to_dense())


def test_compiled_module_reads_a_sparse_buffer():
    class Propagate(tc.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = tc.nn.Linear(3, 2)
            self.register_buffer("adj", _adj(tc))

        def forward(self, x):
            return tc.spmm(self.adj, self.lin(x))

    model = Propagate()
    x = tc.arange(9.0).reshape(3, 3)
    want = model(x)
    got = tc.compile(model, fullgraph=True)(x)
    assert_close(got, want)
    got.sum().backward()
    grad = model.lin.weight.grad.clone()
    model.lin.weight.grad = None
    want.sum().backward()
    assert_close(grad, model.lin.weight.grad)


def test_copies_and_detaching():
    import copy
    model = tc.nn.Linear(3, 3)
    model.register_buffer("adj", _adj(tc))
    twin = copy.deepcopy(model)
    assert twin.adj.layout is tc.sparse_coo and twin.adj._values() is not model.adj._values()
    assert_close(twin.adj.to_dense(), _adj(torch).to_dense())
    leaf = _adj(tc).requires_grad_()
    assert copy.deepcopy(leaf).requires_grad and copy.deepcopy(leaf).is_leaf
    assert not leaf.data.requires_grad and leaf.data.layout is tc.sparse_coo
    leaf.detach_()
    assert not leaf.requires_grad and not (leaf * 2).requires_grad
    target = _adj(tc)
    target.data = _adj(tc, ((0,), (0,)), (9.0,))
    assert_close(target.to_dense(), _adj(torch, ((0,), (0,)), (9.0,)).to_dense())


class _Holder:
    pass


def test_compiled_code_sees_a_constant_sparse_tensor_change():
    """A sparse tensor compiled code reads from outside (a global, a module's buffer or
    attribute, a plain object's attribute, a list) is a constant whose rebinding and
    in-place updates are checked on every call: the result is always the current one."""
    x = tc.ones(3, 1)
    holder = _Holder()
    holder.adj, holder.items = _adj(tc), [_adj(tc)]

    class Propagate(tc.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("adj", _adj(tc))
            self.extra = _adj(tc)

        def forward(self, x):
            return tc.spmm(self.adj, x) + tc.spmm(self.extra, x) + \
                tc.spmm(holder.adj, x) + tc.spmm(holder.items[0], x)

    model = Propagate()
    compiled = tc.compile(model, fullgraph=True)
    changes = [
        lambda: setattr(model, "adj", _adj(tc, vals=(5.0, 6.0, 7.0))),
        lambda: model.adj.mul_(3),
        lambda: setattr(model, "extra", _adj(tc, vals=(1.0, 1.0, 1.0))),
        lambda: model.extra.zero_(),
        lambda: setattr(holder, "adj", _adj(tc, vals=(2.0, 2.0, 2.0))),
        lambda: holder.items[0].copy_(_adj(tc, vals=(4.0, 0.0, 1.0))),
        lambda: holder.adj._values().mul_(2),
    ]
    assert_close(compiled(x), model(x))
    for change in changes:
        change()
        assert_close(compiled(x), model(x))
