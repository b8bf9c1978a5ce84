"""Matrix products: the BLAS found at run time, or code we generate.

  blas.py       the BLAS numpy/scipy ship (sgemm/dgemm through ctypes and by name from IR)
  generated.py  a register-tiled GEMM in IR, with transposed operands read in place
  dots.py       A @ B^T as dot products along K (x @ W^T, a conv's weight gradient)
  choice.py     which of them computes a compiled product, by its shape and the host
  shared.py     the generated GEMMs and dots, compiled once per process
"""
