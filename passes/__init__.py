"""tracecomp.passes: Graph -> Graph transformations and the plans made from a graph, one
file and one public entry each.

Installed as `tracecomp.passes` (the repository folder `passes/` is mapped there by
pyproject's package-dir). In pipeline order: autodiff (forward graph -> forward and
backward graphs), partition (what the backward saves), the simplify passes (dce, cse,
constant_folding, algebra on rewrite's rules; ranges gives value ranges), fusion (kernels,
for the backend's Target: target.py), memory (buffers in one arena) and schedule (segments
of native groups, and host steps). Passes import the IR and the primitive registry only,
never a backend.
"""
