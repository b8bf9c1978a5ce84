"""Lowering: fused groups and the schedule into LLVM IR.

  ops.py         one rule per elementwise primitive (the Emitter and its helpers)
  mathlib.py     vectorizable exp, log, tanh, erf, ... written in IR
  kernels.py     elementwise kernels (KernelBuilder), the index maps of movement ops
  reductions.py  reduction kernels, on KernelBuilder
  select.py      index maps that select: argmax/argmin, gather, scatter_add
  window.py      unfold (im2col) and fold (col2im) kernels
  entry.py       one entry function per native segment of the schedule
"""
