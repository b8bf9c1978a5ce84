"""Matrix products: the BLAS found at run time, or code we generate.

  blas.py       the BLAS numpy/scipy ship (sgemm/dgemm through ctypes and by name from IR)
  generated.py  a register-tiled GEMM in IR, for hosts or dtypes without a BLAS
  dots.py       small products over a long inner dimension (a conv's weight gradient)
"""
