"""A minimum s-t cut (Dinic's max-flow), for the partitioner's choice of saved values.

networkx has one (`networkx.minimum_cut`), and the tests check this one against it; but
importing networkx takes ~0.12 s, which a compile that loads everything else from the disk
cache (~0.05 s) would pay first. The graphs here are small (the recomputable values near
what a backward reads), so a plain Dinic is quick: BFS levels, then blocking flows by a
depth-first search that keeps each node's current edge.

    flow = FlowGraph()
    flow.add_edge("source", "a", 3); flow.add_edge("a", "sink", 2)
    flow.source_side("source", "sink")   # {"source", "a"}: the cut is a -> sink, 2
"""
import math


class FlowGraph:
    """A directed graph with capacities (math.inf allowed) on hashable nodes."""

    def __init__(self):
        self.edges = {}     # node -> ids of the edges leaving it (residual twins included)
        self.head, self.capacity = [], []   # edge id -> its end, its residual capacity

    def add_node(self, node):
        self.edges.setdefault(node, [])

    def add_edge(self, tail, head, capacity):
        """An edge and its residual twin (id ^ 1), which starts empty."""
        for node, end, cap in ((tail, head, capacity), (head, tail, 0)):
            self.edges.setdefault(node, []).append(len(self.head))
            self.head.append(end)
            self.capacity.append(cap)

    def source_side(self, source, sink):
        """Saturate every source-sink path (a maximum flow), then return the nodes still
        reachable from source: the source side of a minimum cut. The capacities are left as
        the residual graph. A path of infinite capacity is a ValueError."""
        while True:
            level = self._levels(source)
            if sink not in level:
                return set(level)
            current = dict.fromkeys(level, 0)
            while self._augment(source, sink, level, current):
                pass

    def _levels(self, source):
        """BFS distance from source over edges with capacity left."""
        level, frontier = {source: 0}, [source]
        while frontier:
            following = []
            for node in frontier:
                for e in self.edges[node]:
                    end = self.head[e]
                    if self.capacity[e] > 0 and end not in level:
                        level[end] = level[node] + 1
                        following.append(end)
            frontier = following
        return level

    def _augment(self, source, sink, level, current):
        """Push flow along one path that climbs the levels; the amount (0: none left)."""
        path, edges = [source], []
        while path:
            node = path[-1]
            if node == sink:
                amount = min(self.capacity[e] for e in edges)
                if amount == math.inf:
                    raise ValueError("min_cut: a path of infinite capacity joins source and "
                                     "sink, so no finite cut exists")
                for e in edges:
                    self.capacity[e] -= amount
                    self.capacity[e ^ 1] += amount
                return amount
            out = self.edges[node]
            while current[node] < len(out):
                e = out[current[node]]
                end = self.head[e]
                if self.capacity[e] > 0 and level.get(end) == level[node] + 1:
                    path.append(end)
                    edges.append(e)
                    break
                current[node] += 1
            else:                   # a dead end: no path through it this round
                path.pop()
                level[node] = -1
                if edges:
                    edges.pop()
                    current[path[-1]] += 1
        return 0
