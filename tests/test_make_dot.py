"""tracecomp.viz.make_dot against torchviz's make_dot: the same model built in torch and in
tracecomp, with the same parameter names, must give the same picture. Pictures are
compared as graphs: the multiset of node statements (label and colour, ids left out) and
the multiset of edges with each end replaced by its node's label."""
import re
from collections import Counter

import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp import viz
from tracecomp.visualize import to_dot

graphviz = pytest.importorskip("graphviz")
torchviz = pytest.importorskip("torchviz")
pytestmark = pytest.mark.filterwarnings("ignore:distutils Version classes:DeprecationWarning")

_NODE = re.compile(r'\t("[^"]*"|\S+) \[(.*)\]\n?', re.DOTALL)
_EDGE = re.compile(r'\t("[^"]*"|\S+) -> ("[^"]*"|\S+)(?: \[(.*)\])?\n?', re.DOTALL)


def structure(dot):
    """(nodes, edges) of a Digraph's body as multisets, ids replaced by node labels."""
    labels, nodes, edges = {}, Counter(), []
    for line in dot.body:
        edge = _EDGE.fullmatch(line)
        if edge:
            edges.append(edge.groups())
            continue
        node = _NODE.fullmatch(line)
        assert node, f"not a node or an edge: {line!r}"
        labels[node.group(1)] = node.group(2)
        nodes[node.group(2)] += 1
    return nodes, Counter((labels[a], labels[b], attrs) for a, b, attrs in edges)


def _same_picture(got, want):
    got_nodes, got_edges = structure(got)
    want_nodes, want_edges = structure(want)
    assert got_nodes == want_nodes, \
        f"nodes: tracecomp-only={got_nodes - want_nodes} | torch-only={want_nodes - got_nodes}"
    assert got_edges == want_edges, \
        f"edges: tracecomp-only={got_edges - want_edges} | torch-only={want_edges - got_edges}"
    assert got.graph_attr == want.graph_attr and got.node_attr == want.node_attr


def _models():
    """The same MLP (weights and all) in torch and tracecomp."""
    torch.manual_seed(0)
    want = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    got = tc.nn.Sequential(tc.nn.Linear(4, 5), tc.nn.ReLU(), tc.nn.Linear(5, 3))
    got.load_state_dict({k: tc.tensor(v.detach().numpy()) for k, v in want.state_dict().items()})
    return got, want


X = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)


def test_an_mlp_with_nn_linear_is_drawn_as_torchviz_draws_it():
    got_model, want_model = _models()
    got_loss = tc.nn.functional.cross_entropy(got_model(tc.tensor(X)), tc.tensor([0, 2]))
    want_loss = torch.nn.functional.cross_entropy(want_model(torch.tensor(X)),
                                                  torch.tensor([0, 2]))
    _same_picture(viz.make_dot(got_loss, params=dict(got_model.named_parameters())),
                  torchviz.make_dot(want_loss, params=dict(want_model.named_parameters())))


def _manual_mlp(lib, params):
    """An MLP whose every op is one torch node in both libraries."""
    x, y = lib.tensor(X), lib.tensor([0, 2])
    h = lib.relu(x @ params["w1"] + params["b1"])
    return lib.nn.functional.cross_entropy(h @ params["w2"] + params["b2"], y)


def _params(lib):
    rng = np.random.default_rng(1)
    shapes = {"w1": (4, 5), "b1": (5,), "w2": (5, 3), "b2": (3,)}
    return {k: lib.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True)
            for k, s in shapes.items()}


def test_a_hand_written_mlp_is_drawn_as_torchviz_draws_it():
    got, want = _params(tc), _params(torch)
    _same_picture(viz.make_dot(_manual_mlp(tc, got), params=got),
                  torchviz.make_dot(_manual_mlp(torch, want), params=want))


def test_several_outputs_a_view_and_unnamed_leaves_are_drawn_as_torchviz_draws_them():
    pictures = []
    for lib, make_dot in ((tc, viz.make_dot), (torch, torchviz.make_dot)):
        p = _params(lib)
        hidden = (lib.tensor(X) @ p["w1"]).tanh()
        flat = hidden.view(-1)                      # a view: its base is drawn too
        pictures.append(make_dot((flat, (hidden * p["b1"]).sum())))
    _same_picture(*pictures)


def test_show_attrs_tabulates_a_nodes_params_as_torchviz_does():
    x = tc.ones(2, 3, requires_grad=True)
    dot = viz.make_dot(x.sum(1), show_attrs=True, max_attr_chars=4)
    label = "SumBackward1\n-------------\ndims   : (1,)\nkeepdim: F..."
    assert any(label in line for line in dot.body), dot.source
    # torchviz's table of a torch node's `_saved_*` fields, for the same attributes
    fake = type("SumBackward1", (), {"_saved_dims": (1,), "_saved_keepdim": False})()
    assert torchviz.dot.get_fn_name(fake, True, 4) == label


def test_show_saved_draws_a_nodes_tensor_operands_in_orange():
    x = tc.ones(2, 3, requires_grad=True)
    nodes, edges = structure(viz.make_dot(x.exp() * 2, show_saved=True))
    assert nodes['label="arg0\n (2, 3)" fillcolor=orange'] == 2       # exp's and mul's
    assert edges[("label=MulBackward0", 'label="arg0\n (2, 3)" fillcolor=orange',
                  "dir=none")] == 1


def test_a_deep_graph_is_walked_without_recursion():
    x = tc.ones(1, requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0
    nodes, edges = structure(viz.make_dot(y))
    assert nodes["label=MulBackward0"] == 3000 and sum(edges.values()) == 3002


def test_an_ir_graph_becomes_a_digraph_with_visualizes_statements():
    compiled = tc.compile(lambda x: (x * 2).sin().sum())
    compiled(tc.ones(3, requires_grad=True)).backward()
    graph = compiled.graphs["backward"]
    dot = viz.make_dot(graph)
    assert isinstance(dot, graphviz.Digraph)
    text = to_dot(graph)
    # the same statements; only the header's name is quoted where graphviz quotes it
    assert dot.source.splitlines()[1:] == text.splitlines()[1:]
    assert dot.source.splitlines()[0] == f"digraph {graph.name} {{"


def test_without_graphviz_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "graphviz", None)
    with pytest.raises(ImportError, match="pip install graphviz"):
        viz.make_dot(tc.ones(1, requires_grad=True) * 2)
