"""CUDA tests run on numba's CUDA simulator (no GPU on CI machines). The variable must be
set before numba is first imported, which nothing outside tests/cuda does; subprocesses
that compile PTX for a real GPU target remove it again."""
import os

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
