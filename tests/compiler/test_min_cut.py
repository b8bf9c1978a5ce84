"""passes/min_cut.py against networkx's minimum_cut: the same cut value on random graphs
(the side returned may differ among equal cuts, so the value is what is compared, and that
the returned side is a cut of that value)."""
import math
import random

import networkx as nx
import pytest

from tracecomp.passes.min_cut import FlowGraph


def _random_graph(seed, n=30, p=0.15, with_inf=True):
    rng = random.Random(seed)
    edges = []
    for u in range(n):
        for v in range(n):
            if u != v and rng.random() < p:
                cap = math.inf if with_inf and rng.random() < 0.1 else rng.randint(0, 50)
                edges.append((u, v, cap))
    # source 0 and sink n - 1; no edge straight from one to the other
    return [(u, v, c) for u, v, c in edges if (u, v) != (0, n - 1)], n


def _cut_value(edges, side):
    return sum(c for u, v, c in edges if u in side and v not in side)


@pytest.mark.parametrize("seed", range(40))
def test_cut_value_matches_networkx(seed):
    edges, n = _random_graph(seed)
    reference = nx.DiGraph()
    reference.add_nodes_from(range(n))
    ours = FlowGraph()
    for node in range(n):
        ours.add_node(node)
    for u, v, c in edges:
        if reference.has_edge(u, v):        # networkx keeps one edge per pair: sum them
            reference[u][v]["capacity"] += c
        else:
            reference.add_edge(u, v, capacity=c)
        ours.add_edge(u, v, c)
    try:
        want, _ = nx.minimum_cut(reference, 0, n - 1)
    except nx.NetworkXUnbounded:
        with pytest.raises(ValueError, match="infinite capacity"):
            ours.source_side(0, n - 1)
        return
    side = ours.source_side(0, n - 1)
    assert 0 in side and n - 1 not in side
    assert _cut_value(edges, side) == want


def test_the_docstring_example():
    flow = FlowGraph()
    flow.add_edge("source", "a", 3)
    flow.add_edge("a", "sink", 2)
    assert flow.source_side("source", "sink") == {"source", "a"}


def test_a_path_of_infinite_capacity_is_refused():
    flow = FlowGraph()
    flow.add_edge("source", "a", math.inf)
    flow.add_edge("a", "sink", math.inf)
    with pytest.raises(ValueError, match="infinite capacity"):
        flow.source_side("source", "sink")


def test_an_unreachable_sink_is_a_cut_of_nothing():
    flow = FlowGraph()
    flow.add_edge("source", "a", 5)
    flow.add_node("sink")
    assert flow.source_side("source", "sink") == {"source", "a"}
