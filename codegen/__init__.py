"""tracecomp.codegen: backends that turn a Graph into something that runs.

Installed as `tracecomp.codegen` (the repository folder `codegen/` is mapped there by
pyproject's package-dir). Planned: `interp` (the reference backend: runs a graph node by node
with the eager numpy impls), `llvm` (native CPU kernels through llvmlite), `cuda` (NVIDIA GPU
kernels through numba-cuda). Lowering rules live in the backend that owns them, keyed by
primitive name.
"""
