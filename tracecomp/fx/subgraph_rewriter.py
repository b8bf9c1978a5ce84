"""replace_pattern (torch.fx.replace_pattern): find every occurrence of a pattern graph in a
GraphModule and splice a replacement graph in its place.

Pattern and replacement are functions (or GraphModules) with the same arguments; they are
traced. A match maps each pattern node to a graph node: a pattern placeholder matches any
value; any other node matches a node of the same op and target whose arguments match
pairwise (nodes recursively, literals by equality). Nodes inside a match other than its
outputs may have no users outside it (else removing them would break those users).
Matches are taken in graph order and may not overlap; they are replaced in that order, so
new nodes get torch's names.
"""
from typing import NamedTuple

from .node import Node, map_arg


class Match(NamedTuple):
    anchor: Node        # the pattern's output node the match was found from
    nodes_map: dict     # pattern node -> graph node


def _graph_of(f):
    from .graph_module import GraphModule
    from .tracer import symbolic_trace
    return f if isinstance(f, GraphModule) else symbolic_trace(f)


def _outputs(graph):
    out = next(n for n in graph.nodes if n.op == "output")
    found = []
    map_arg(out.args[0], found.append)
    return out.args[0], found


def _match_node(pn, gn, m):
    if pn in m:
        return m[pn] is gn
    if pn.op == "placeholder":
        m[pn] = gn
        return True
    if pn.op != gn.op or (pn.op != "get_attr" and pn.target != gn.target):
        return False
    m[pn] = gn
    if not (_match_arg(pn.args, gn.args, m) and _match_arg(pn.kwargs, gn.kwargs, m)):
        del m[pn]
        return False
    return True


def _match_arg(pa, ga, m):
    if isinstance(pa, Node):
        return isinstance(ga, Node) and _match_node(pa, ga, m)
    if isinstance(pa, (tuple, list)):
        return type(pa) is type(ga) and len(pa) == len(ga) and \
            all(_match_arg(a, b, m) for a, b in zip(pa, ga))
    if isinstance(pa, dict):
        return isinstance(ga, dict) and pa.keys() == ga.keys() and \
            all(_match_arg(pa[k], ga[k], m) for k in pa)
    return not isinstance(ga, Node) and type(pa) is type(ga) and pa == ga


def _contained(m, anchors):
    """No value computed inside the match, other than its outputs, escapes it."""
    inside = {gn for pn, gn in m.items() if pn.op != "placeholder"}
    for pn, gn in m.items():
        if pn.op == "placeholder" or pn in anchors:
            continue
        if any(u not in inside for u in gn.users):
            return False
    return True


def _find_matches(graph, pattern_graph):
    _, anchors = _outputs(pattern_graph)
    matches, taken = [], set()
    for gn in list(graph.nodes):
        m = {}
        if not _match_node(anchors[0], gn, m):
            continue
        if not all(_match_rest(a, graph, m) for a in anchors[1:]) or \
                not _contained(m, set(anchors)):
            continue
        body = {g for p, g in m.items() if p.op != "placeholder"}
        if body & taken:
            continue
        taken |= body
        matches.append(Match(anchors[0], m))
    return matches


def _match_rest(anchor, graph, m):
    if anchor in m:
        return True
    for gn in graph.nodes:
        trial = dict(m)
        if _match_node(anchor, gn, trial):
            m.update(trial)
            return True
    return False


def _copy_owned(gm, replacement):
    """Submodules and attributes the replacement reads that gm lacks come along."""
    from .graph_module import _assign_attr, _get_attr
    for node in replacement.graph.nodes:
        if node.op in ("call_module", "get_attr"):
            try:
                _get_attr(gm, node.target)
            except AttributeError:
                _assign_attr(_get_attr(replacement, node.target), gm, node.target)


def replace_pattern(gm, pattern, replacement):
    """Replace every match of pattern in gm.graph by replacement; returns the matches."""
    pattern_gm, replacement_gm = _graph_of(pattern), _graph_of(replacement)
    p_inputs = [n for n in pattern_gm.graph.nodes if n.op == "placeholder"]
    r_inputs = [n for n in replacement_gm.graph.nodes if n.op == "placeholder"]
    if len(p_inputs) != len(r_inputs):
        raise ValueError(f"replace_pattern: the pattern takes {len(p_inputs)} inputs and the "
                         f"replacement {len(r_inputs)}; they must take the same ones")
    _, anchors = _outputs(pattern_gm.graph)
    graph = gm.graph
    matches = _find_matches(graph, pattern_gm.graph)
    _copy_owned(gm, replacement_gm)
    for match in matches:
        m = match.nodes_map
        val_map = {r: m[p] for p, r in zip(p_inputs, r_inputs) if p in m}
        # the replacement goes just before the first reader of the match's outputs (torch's
        # placement), so it follows every value it reads
        order = {n: i for i, n in enumerate(graph.nodes)}
        body = {g for p, g in m.items() if p.op != "placeholder"}
        readers = [u for a in anchors for u in m[a].users if u not in body]
        with graph.inserting_before(min(readers, key=order.__getitem__)):
            result = graph.graph_copy(replacement_gm.graph, val_map)
        new_outputs = []
        map_arg(result, new_outputs.append)
        for old_anchor, new in zip(anchors, new_outputs):
            m[old_anchor].replace_all_uses_with(new)
        for p in reversed(list(pattern_gm.graph.nodes)):
            if p.op not in ("placeholder", "output") and p in m and not m[p].users:
                graph.erase_node(m[p])
    gm.recompile()
    return matches
