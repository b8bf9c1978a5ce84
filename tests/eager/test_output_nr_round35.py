"""Multi-output ops as torch records them: one node for all outputs (every output's grad_fn
is the same object, of torch's class) and output_nr numbering the outputs, for the ops
torch records so; and the rest (topk, max(dim), ...: one differentiable output) named as
torch names them. Gradients through the grouped outputs stay torch's."""
import numpy as np
import pytest
import torch

import tracecomp as tc

OPS = {
    "unbind": lambda L, x: x.unbind(), "unbind1": lambda L, x: x.unbind(1),
    "split": lambda L, x: x.split(1), "split3": lambda L, x: x.split(3),
    "split_sizes": lambda L, x: x.split([1, 2]), "chunk": lambda L, x: x.chunk(2),
    "chunk1": lambda L, x: x.chunk(1), "unsafe_split": lambda L, x: x.unsafe_split(1),
    "unsafe_chunk": lambda L, x: x.unsafe_chunk(2),
    "split_with_sizes": lambda L, x: L.split_with_sizes(x, [2, 1]),
    "tensor_split": lambda L, x: x.tensor_split(2), "hsplit": lambda L, x: x.hsplit(2),
    "aminmax": lambda L, x: L.aminmax(x, dim=1), "std_mean": lambda L, x: L.std_mean(x, 1),
    "var_mean": lambda L, x: L.var_mean(x, 1),
    "topk": lambda L, x: x.topk(2), "sort": lambda L, x: x.sort(), "max": lambda L, x: x.max(1),
    "min": lambda L, x: x.min(1), "kthvalue": lambda L, x: x.kthvalue(2, 1),
    "median": lambda L, x: x.median(1), "nanmedian": lambda L, x: x.nanmedian(1),
    "mode": lambda L, x: x.mode(1), "cummax": lambda L, x: x.cummax(1),
    "cummin": lambda L, x: x.cummin(1),
    "eigh": lambda L, x: L.linalg.eigh(x @ x.T + 4 * L.eye(3)),
    "qr": lambda L, x: L.linalg.qr(x), "svd": lambda L, x: L.linalg.svd(x[:, :3]),
    "slogdet": lambda L, x: L.linalg.slogdet(x[:, :3]),
}
# an op whose eigh/svd node torch makes from the expression's last op, not from x itself
MADE_OF = {"eigh", "svd", "slogdet"}


def _leaf(L):
    data = np.array([[0.3, -1.2, 2.0, 0.7], [1.5, 0.1, -0.4, 2.2], [-0.9, 0.8, 1.1, -2.5]])
    return L.tensor(data, requires_grad=True)


def _facts(L, name):
    outs = OPS[name](L, _leaf(L))
    first = outs[0].grad_fn
    return [(type(o.grad_fn).__name__, o.output_nr, o.grad_fn is first,
             [(type(f).__name__, nr) for f, nr in o.grad_fn.next_functions]
             if o.grad_fn is not None and name not in MADE_OF else None)
            for o in outs]


@pytest.mark.parametrize("name", OPS)
def test_grad_fn_and_output_nr_are_torchs(name):
    want, got = _facts(torch, name), _facts(tc, name)
    assert got == want, f"tracecomp={got} | torch={want}"


def test_next_functions_number_the_outputs_read():
    def graph(L):
        x = _leaf(L)
        rows = x.unbind()
        y = L.stack([rows[2], rows[0]]) + x.split([1, 2])[1].sum()
        return [(type(f).__name__, nr, [(type(g).__name__, k) for g, k in f.next_functions])
                for f, nr in y.grad_fn.next_functions[0][0].next_functions]
    assert graph(tc) == graph(torch)


@pytest.mark.parametrize("name", ["unbind", "split_sizes", "chunk", "aminmax", "std_mean"])
def test_gradients_through_grouped_outputs(name):
    grads = []
    for L in (torch, tc):
        x = _leaf(L)
        outs = OPS[name](L, x)
        sum(o.sum() * (k + 2) for k, o in enumerate(outs)).backward()
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12)


def test_gradient_edge_of_a_later_output():
    """get_gradient_edge(y1) is (the shared node, 1); grad() through it reaches y1's value."""
    got = []
    for L in (torch, tc):
        x = _leaf(L)
        rows = x.unbind()
        loss = (rows[1] * rows[1]).sum()
        edge = L.autograd.graph.get_gradient_edge(rows[1])
        got.append((edge.node is rows[0].grad_fn, edge.output_nr,
                    L.autograd.grad(loss, edge)[0].numpy().tolist()))
    assert got[1] == got[0]


def test_custom_function_outputs_share_one_node():
    got = []
    for L in (torch, tc):
        class Two(L.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2, x * 3

            @staticmethod
            def backward(ctx, ga, gb):
                return ga * 2 + gb * 3

        a, b = Two.apply(_leaf(L))
        got.append((type(a.grad_fn).__name__, a.grad_fn is b.grad_fn, a.output_nr, b.output_nr))
    assert got[1] == got[0]


def test_outputs_without_history_are_output_0():
    for L in (torch, tc):
        x = _leaf(L)
        with L.no_grad():
            rows = x.detach().unbind()
        assert [r.output_nr for r in rows] == [0, 0, 0] and rows[1].grad_fn is None
        assert x.output_nr == 0 and (x * 2).output_nr == 0


MULTI_VIEW_UPDATES = {
    "unbind": lambda b: b.unbind()[1].mul_(2), "split": lambda b: b.split(1)[0].add_(2),
    "chunk": lambda b: b.chunk(2, 1)[1].add_(2), "chunk_one": lambda b: b.chunk(1)[0].add_(2),
    "split_whole": lambda b: b.split(3)[0].add_(2),
    "split_sizes": lambda b: b.split([1, 1])[1].add_(2),
    "view_of_unbind": lambda b: b.unbind()[1][1:].add_(2),
}


@pytest.mark.parametrize("name", MULTI_VIEW_UPDATES)
def test_in_place_update_of_a_multi_view_output_is_torchs_error(name):
    got = []
    for L in (torch, tc):
        b = L.ones(2, 3, requires_grad=True) * 1
        with pytest.raises(RuntimeError) as error:
            MULTI_VIEW_UPDATES[name](b)
        got.append(str(error.value))
        assert type(b.grad_fn).__name__ == "MulBackward0"     # b's own node is untouched
    assert got[1] == got[0]


@pytest.mark.parametrize("name", ["unbind", "split", "chunk"])
def test_multi_view_outputs_may_change_without_autograd(name):
    got = []
    for L in (torch, tc):
        b = L.ones(2, 3, requires_grad=True) * 1
        with L.no_grad():
            MULTI_VIEW_UPDATES[name](b)
        c = L.ones(2, 3)
        MULTI_VIEW_UPDATES[name](c)
        got.append((b.detach().numpy().tolist(), c.numpy().tolist()))
    assert got[1] == got[0]


def test_node_hook_on_a_node_of_several_outputs_is_refused_by_name():
    x = _leaf(tc)
    rows = x.unbind()
    for fn in (rows[1].grad_fn.register_hook, rows[0].grad_fn.register_prehook):
        with pytest.raises(NotImplementedError, match="UnbindBackward0.register_"):
            fn(lambda *args: None)
    seen = []
    rows[1].register_hook(lambda g: seen.append(g.tolist()))     # a tensor hook works
    (rows[1] * 2).sum().backward()
    assert seen == [[2.0, 2.0, 2.0, 2.0]]
    one = x.chunk(1)[0]                 # one output: its node's hooks are its own
    one.grad_fn.register_hook(lambda grads_in, grads_out: None)
