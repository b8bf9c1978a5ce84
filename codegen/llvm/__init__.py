"""tracecomp.codegen.llvm: the native CPU backend, built with llvmlite, in three layers.

  backend.py   compile_graph: fusion and scheduling for the host's Target, kernels, runner
  target.py    the host CPU as the passes see it (vector width, what lowers, op costs)
  lower/       fused groups and the schedule into LLVM IR (rules, math library, kernels)
  gemm/        matrix products: the run-time BLAS, a generated GEMM, small long-K products
  runtime/     the JIT engine, the disk cache, runners and worker threads
  lowering_bug.py   an internal failure reported as a bug, with the stage it happened in
"""
