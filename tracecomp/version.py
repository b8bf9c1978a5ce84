"""tracecomp.version: torch.version's answers for a CPU-only build, and tracecomp's own.

Programs read `torch.version.cuda` (None: no CUDA build) to decide what to run; `tracecomp`
is this package's version (pyproject.toml's)."""
tracecomp = "0.1.0"
__version__ = tracecomp
cuda = None                 # no CUDA toolkit is linked; a registered backend uses numba's
hip = None
rocm = None
xpu = None
debug = False
git_version = "unknown"
