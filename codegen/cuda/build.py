"""A graph's CUDA kernels compiled to GPU code all at once, in worker processes, cached on
disk, and loaded for launching.

    loaded = build.load(kernels, cc)    # [ptx.Kernel] -> [Loaded], in the same order
    launcher.Launcher(None, blocks, threads, shapes).attach(loaded[0])

Why (an H200 machine, 2026-12-04): numba-cuda's dispatcher compiles a kernel at its first
launch, one kernel after another: ~30-150 ms of Python typing and lowering, NVVM, then
~50 ms of linking (ptxas). A training step has 36 (MLP) to 64 (LeNet) kernels, and its
first call took 5.9 s and 19.7 s. The kernels do not depend on one another, so:

- Compiling: each kernel missing from the cache goes through numba.cuda.compile_ptx (the
  dispatcher's own typing and lowering, for the C-contiguous array arguments our kernels
  take) and is linked to a cubin by nvJitLink, in worker processes forked from this one:
  one per CPU this process may run on, at most MAX_WORKERS, the longest texts first; in
  this process when one worker would do. A worker never touches the GPU: compile_ptx and
  nvJitLink need none, and a CUDA context does not survive a fork. Where nvJitLink cannot
  be loaded, the worker hands back the PTX and the driver compiles it at load (seen: a
  venv whose nvidia-nvjitlink lists libnvJitLink.so.13 but lacks the file).
- The disk cache: each kernel's cubin (or PTX) is `<cache folder>/cuda/kernels/<sha256>.tck`,
  the digest over the kernel's text and argument types, the GPU generation and numba's
  and numba-cuda's versions. A later process loads it and compiles nothing (numba's part,
  the most of it, for PTX). The folder's size is bounded as the llvm cache's is
  (TRACECOMP_CACHE_MAX_MB, least recently used first).
- Loading: cuda.core's ObjectCode.get_kernel, by the entry name the PTX declares.

TRACECOMP_CUDA_LAUNCH=dispatcher compiles and launches through numba's dispatcher instead,
one kernel at a time with numba's own disk cache (kernel_cache.py), as on the simulator.
"""
import functools
import gc
import hashlib
import multiprocessing
import os
import re
import warnings
from dataclasses import dataclass

from tracecomp.codegen.llvm.runtime import cache_folder
from tracecomp.debug_log import emit
from tracecomp.errors import LoweringError

from . import ptx

MAX_WORKERS = 16
FORMAT = b"tracecomp cuda kernel 1\n"   # then "<kind> <entry>", a newline, the code
KINDS = ("cubin", "ptx")
SUFFIX = ".tck"
LIMIT = 64 << 20                    # bytes: far above any kernel's code
_ENTRY = re.compile(r"\.entry\s+([\w$]+)\s*\(")


@dataclass(frozen=True)
class Built:
    entry: str      # the kernel's (mangled) name in its module
    kind: str       # "cubin", or "ptx" where no nvJitLink linked it
    code: bytes


@dataclass(frozen=True)
class Loaded:
    handle: object  # a cuda.core Kernel: what cuda.core.launch takes
    code: object    # its ObjectCode, kept alive with it


def load(kernels, cc):
    """Each ptx.Kernel loaded for the GPU of compute capability `cc`: from the disk cache
    where it is there, the others compiled together (compile_all) and cached."""
    paths = [_path(k, cc) for k in kernels]
    built = [_read(path) for path in paths]
    missing = [k for k, b in enumerate(built) if b is None]
    if missing:
        for k, b in zip(missing, compile_all([kernels[k] for k in missing], cc)):
            built[k] = b
            if paths[k] is not None:
                _write(paths[k], b)
    return [_load(b, k.name) for b, k in zip(built, kernels)]


def compile_all(kernels, cc):
    """A Built for each ptx.Kernel, in order, compiled by worker processes where more than
    one CPU can share the work."""
    jobs = sorted(range(len(kernels)), key=lambda k: -len(kernels[k].text))
    workers = _workers(len(jobs))
    pool = _forked_pool(workers) if workers >= 2 else None
    if pool is None:
        done = [compile_one(kernels[k], cc) for k in jobs]
    else:
        with pool:
            done = pool.starmap(compile_one, [(kernels[k], cc) for k in jobs], chunksize=1)
    out = [None] * len(kernels)
    for k, b in zip(jobs, done):
        out[k] = b
    return out


def _forked_pool(workers):
    """A pool of `workers` processes forked from this one; None where none can be forked (a
    process limit, a sandbox: the same kernels then compile here, one after another).
    Python warns that forking a threaded process (CUDA's, numba's threads) may deadlock a
    child that takes a lock one of them held: the child here only compiles. The objects of
    this process are frozen while it forks (gc.freeze), so that no child collects one of
    them, a device buffer's finalizer calling into a CUDA the child cannot use."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        gc.freeze()
        try:
            return multiprocessing.get_context("fork").Pool(workers)
        except OSError as exc:
            emit(1, f"[tracecomp] cuda kernels compiled in this process: cannot fork "
                    f"compile workers ({exc})")
            return None
        finally:
            gc.unfreeze()


def compile_one(kernel, cc):
    """One kernel's Built: PTX from numba, a cubin from nvJitLink where it is installed."""
    text = ptx.compile_one(kernel, cc)
    entry = _ENTRY.search(text)
    if entry is None:
        raise LoweringError(f"numba-cuda's PTX for {kernel.name} declares no kernel entry")
    cubin = _link(text.encode(), kernel.name, cc)
    return Built(entry.group(1), "ptx", text.encode()) if cubin is None else \
        Built(entry.group(1), "cubin", cubin)


@functools.cache
def nvjitlink():
    """cuda.bindings' nvjitlink module where its library loads here, else None (the driver
    then compiles the PTX at load). Looked for once a process."""
    try:
        from cuda.bindings import nvjitlink as module
        module.destroy(module.create(1, ["-arch=sm_90"]))
    except Exception:   # noqa: BLE001  (no module, or its library missing)
        return None
    return module


def _link(data, name, cc):
    """The cubin nvJitLink makes of PTX `data`; None where nvJitLink cannot be loaded."""
    linker = nvjitlink()
    if linker is None:
        return None
    handle = linker.create(1, [f"-arch=sm_{cc[0]}{cc[1]}"])
    try:
        linker.add_data(handle, linker.InputType.PTX, data, len(data), name)
        linker.complete(handle)
        cubin = bytearray(linker.get_linked_cubin_size(handle))
        linker.get_linked_cubin(handle, cubin)
        return bytes(cubin)
    except linker.nvJitLinkError as exc:
        raise LoweringError(f"nvJitLink could not link {name} for sm_{cc[0]}{cc[1]}: {exc}: "
                            f"{_error_log(linker, handle)}") from exc
    finally:
        linker.destroy(handle)


def _error_log(linker, handle):
    try:
        log = bytearray(linker.get_error_log_size(handle))
        linker.get_error_log(handle, log)
        return log.decode(errors="replace").strip()
    except linker.nvJitLinkError:
        return "(no error log)"


def _workers(jobs):
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:      # not on Linux
        cpus = os.cpu_count() or 1
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(jobs, cpus, MAX_WORKERS))


def _load(built, name):
    from cuda.core import ObjectCode
    make = ObjectCode.from_cubin if built.kind == "cubin" else ObjectCode.from_ptx
    code = make(built.code, name=name)
    return Loaded(code.get_kernel(built.entry), code)


def _path(kernel, cc):
    """Where kernel's code is cached; None when the cache is off or unusable."""
    top = cache_folder.trusted_folder()
    if top is None:
        return None
    import numba
    import numba_cuda
    h = hashlib.sha256()
    for field in (FORMAT.decode(), numba.__version__, numba_cuda.__version__, f"{cc}",
                  repr(kernel.args), kernel.name, kernel.text):
        data = field.encode()
        h.update(len(data).to_bytes(8, "little") + data)
    return os.path.join(top, "cuda", "kernels", h.hexdigest() + SUFFIX)


def _read(path):
    """The Built cached at `path`, or None: missing, or not a whole entry of ours (which
    the write after compiling replaces)."""
    if path is None:
        return None
    try:
        with cache_folder.open_entry(path, LIMIT) as opened:
            data = None if opened is None else cache_folder.read_at_most(opened.fd, LIMIT)
    except (OSError, cache_folder.NotAnEntry, cache_folder.Untrusted):
        return None
    if data is None or not data.startswith(FORMAT):
        return None
    head, _, code = data[len(FORMAT):].partition(b"\n")
    kind, _, entry = head.decode(errors="replace").partition(" ")
    if kind not in KINDS or not entry or not code:
        return None
    emit(1, f"[tracecomp] cuda kernel ({kind}) from the disk cache: {path}")
    return Built(entry, kind, code)


def _write(path, built):
    folder = os.path.dirname(path)
    data = FORMAT + f"{built.kind} {built.entry}\n".encode() + built.code
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        cache_folder.replace_atomically(path, data)
    except OSError as exc:
        cache_folder.warn_once(folder, f"cannot write to the cache directory {folder} "
                                       f"({exc}); cuda kernels are not cached")
        return
    cache_folder.evict_after_write(folder, cache_folder.max_bytes(), path, len(data), SUFFIX)
