"""tracecomp.codegen: backends that turn a Graph into something that runs.

Installed as `tracecomp.codegen` (the repository folder `codegen/` is mapped there by
pyproject's package-dir). Two backends, registered by name in registry.py: `interp` (the
reference: runs a graph node by node with the eager numpy impls) and `llvm` (native CPU
kernels through llvmlite). Each owns its lowering rules, keyed by primitive name, and hands
the backend-neutral passes a Target (passes/target.py) describing what it can compute.
index_maps.py holds what every kernel-emitting backend shares: the movement ops' index
arithmetic, written once against a small IndexOps interface each backend implements.
"""
