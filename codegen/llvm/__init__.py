"""tracecomp.codegen.llvm: the native CPU backend, built with llvmlite.

`engine` parses, verifies, optimizes and JIT-compiles LLVM modules for the host CPU and
keeps the compiled code alive (`Library`); `mathlib` adds vectorizable transcendental
functions (exp, log, tanh, sigmoid, erf, expm1, log1p) to a module, so elementwise loops
that use them still vectorize instead of calling scalar libm.
"""
