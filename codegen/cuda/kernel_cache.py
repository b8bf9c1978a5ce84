"""CUDA kernels compiled from their source text and cached on disk, so that a second
process reuses the compiled code instead of compiling it again.

    kernel = kernel_cache.jit(cuda, "kernel3_mul", text)   # text: source.PREAMBLE + kernel

numba-cuda has a disk cache of its own, `cuda.jit(cache=True)` (numba/cuda/core/caching.py,
CUDACache in numba/cuda/dispatcher.py). It stores a kernel's compiled code in the
`__pycache__` folder beside the file that defines the function, and finds it again by
the file's (mtime, size), a sha256 of the function's bytecode, the argument types, the
GPU's compute capability and the CUDA runtime version, and numba-cuda's version. It needs
that file: for text exec'd under a made-up name it raises "cannot cache function
'kernel3_mul': no locator available for file '<kernel3_mul>'". So each kernel's text is
written once to `<cache folder>/cuda/k<digest>.py`, the digest a sha256 of the text and
numba's and numba-cuda's versions, compiled under that path, and jitted with cache=True.
The file is never rewritten while it holds the text: a rewrite would change its mtime,
and numba would then compile the kernel again.

Where: the llvm disk cache's folder, with its switches (codegen/llvm/runtime/
cache_folder.py): $TRACECOMP_CACHE_DIR, else $XDG_CACHE_HOME/tracecomp, else
~/.cache/tracecomp; a folder another user could write to is not used. TRACECOMP_CACHE=0
turns this cache off with the llvm one: the text is then compiled under `<name>` and
jitted uncached. numba's part moves to $NUMBA_CACHE_DIR when that is set (numba's rule).

Trust: only what the file holds is compared with the text; the code compiled is always
the text in hand, never the file's bytes. A file that differs (corrupt, truncated, not a
regular file) is replaced, and numba compiles again because its mtime changed. numba's
index files are pickles, which is why the folder must pass the llvm cache's trust check.
On numba's simulator (NUMBA_ENABLE_CUDASIM=1) cuda.jit ignores cache=True: the files are
written all the same, and nothing is compiled to cache.
"""
import functools
import hashlib
import os
import stat

from tracecomp.codegen.llvm.runtime import cache_folder
from tracecomp.debug_log import emit

from .compat import ieee_math, simulating

FORMAT_VERSION = 1
FOLDER = "cuda"     # inside the cache folder, beside the llvm cache's .tcobj entries


def jit(cuda, name, text):
    """The numba-cuda kernel `name` defined by the Python source `text`, through the disk
    cache when it is on."""
    return _jit(cuda, name, text, source_path(text))


# kernels made in this process, by their text: a graph compiled again (a training step
# whose optimizer now has state) or another graph with the same kernel reuses its compiled
# code instead of compiling it anew
@functools.lru_cache(maxsize=4096)
def _jit(cuda, name, text, path):
    namespace = {}
    exec(compile(text, path or f"<{name}>", "exec"), namespace)
    if simulating():            # the kernel body runs as Python there: IEEE math as CUDA's
        namespace["math"] = ieee_math()
    if path is None:
        return cuda.jit(namespace[name])
    return cuda.jit(namespace[name], cache=True)


def source_path(text):
    """The path of the file that holds `text`, written if it was missing or different; None
    when the cache is off or its folder cannot be used (each warned about once)."""
    top = cache_folder.trusted_folder()
    if top is None:
        return None
    folder = os.path.join(top, FOLDER)
    path = os.path.join(folder, f"k{digest(text)}.py")
    data = text.encode()
    if _read(path, len(data)) == data:
        emit(1, f"[tracecomp] cuda kernel source from the disk cache: {path}")
        return path
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        cache_folder.replace_atomically(path, data)     # a link there is replaced, not followed
    except OSError as exc:
        cache_folder.warn_once(folder, f"cannot write to the cache directory {folder} "
                                       f"({exc}); cuda kernels are not cached")
        return None
    emit(1, f"[tracecomp] cuda kernel source cached: {path}")
    return path


def digest(text):
    """The sha256 hex that names the file of `text`: everything but the GPU that decides
    the compiled code (numba keys on the GPU itself), length-prefixed field by field."""
    import numba
    import numba_cuda
    h = hashlib.sha256()
    for field in (str(FORMAT_VERSION), numba.__version__, numba_cuda.__version__, text):
        data = field.encode()
        h.update(len(data).to_bytes(8, "little") + data)
    return h.hexdigest()


def _read(path, limit):
    """The bytes of the regular file at `path` if it has at most `limit` of them, else None.
    Not cache_folder.open_entry: that touches the file's mtime for its LRU order, and
    numba treats a new mtime as a changed source."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) \
        | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError:         # missing, a symlink (ELOOP), a socket, ...: written anew
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        return cache_folder.read_at_most(fd, limit)
    finally:
        os.close(fd)
