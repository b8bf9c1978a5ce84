"""tracecomp.passes: Graph -> Graph transformations, one file and one public function each.

Installed as `tracecomp.passes` (the repository folder `passes/` is mapped there by
pyproject's package-dir). Planned, in pipeline order: autodiff (forward graph -> forward and
backward graphs), partition (what the backward saves vs recomputes), simplify (DCE, CSE,
constant folding, algebra), fusion (kernels), memory (buffer planning). Passes import the IR
and the primitive registry only, never a backend.
"""
