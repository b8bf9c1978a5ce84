"""Whether the BLAS or the generated GEMM computes large products on this host, measured once
and kept with the compiled code.

Small pieces of products (a training step's, at the batch sizes we meet) run faster in the
generated GEMM inside compiled graphs: each BLAS call pays its entry and the switch to one
thread around it (choice.py). Large pieces are another matter, and hosts differ. On znver3
(AVX2, OpenBLAS's Haswell kernels), one thread, GMAC/s generated / BLAS: 512 x 512 x 128
42.0 / 44.9, 256 x 256 x 256 43.7 / 44.9, 512^3 41.6 / 46.8, 1024 x 1024 x 256 41.9 / 46.3,
while 128 x 256 x 256 ran 44.1 / 43.9; compiled, `tracecomp bench`'s 512^3 and 1024^3 took
1.14x and 1.25x numpy's time. So a product whose piece has LARGE_WORK multiply-adds or more
goes to the BLAS where the BLAS wins this contest:

    blas_wins(dtype)    # True: the BLAS's best time on PIECE was at most MARGIN x the generated
                        # GEMM's

The contest runs PIECE once per process and host, ROUNDS alternating timings of each on
one thread (~60 ms), and compares the best of each. Its answer is kept in the disk cache's
folder (keyed by the host's CPU, its features, the BLAS library and this file), so later
processes read it instead; `tracecomp doctor` shows it.
"""
import hashlib
import json
import os
import threading
import time

import numpy as np

from ..runtime import cache, cache_folder, host_cpu
from . import blas

LARGE_WORK = 1 << 24        # multiply-adds of a thread's piece: the contest decides from here
PIECE = (512, 512, 512)     # (m, k, n) timed: a large piece, ~3 ms on one core
ROUNDS = 9
# the BLAS's best time at most this share of the generated one's: the faster wins. At 0.97
# on a 256 x 512 x 512 piece (~5 % apart here) the answer flipped in a run beside torch's
# threads; a near tie may go either way, which costs nothing
MARGIN = 1.0
FILE = "gemm_calibration.json"

_answers = {}       # dtype -> bool, this process's
_lock = threading.Lock()


def blas_wins(dtype):
    """Whether the BLAS computes large `dtype` products on this host (False without one)."""
    with _lock:
        if dtype not in _answers:
            _answers[dtype] = _stored(dtype)
            if _answers[dtype] is None:
                _answers[dtype] = _contest(dtype)
                _store(dtype, _answers[dtype])
        return _answers[dtype]


def known(dtype):
    """blas_wins's answer where this process or the cache folder has it, else None (without
    running the contest: `tracecomp doctor` shows it)."""
    with _lock:
        if dtype in _answers:
            return _answers[dtype]
        folder = cache_folder.folder_path()     # not made here where it is not there yet
        return _stored(dtype) if folder and os.path.isdir(folder) else None


def _key(dtype):
    sym = blas.find_gemm(dtype)
    text = "\n".join([dtype, host_cpu.name(), host_cpu.feature_string(),
                      sym.path if sym else "", cache.files_fingerprint([__file__])])
    return hashlib.sha256(text.encode()).hexdigest()


def _path():
    folder = cache.cache_dir()
    return None if folder is None else os.path.join(folder, FILE)


def _read(path):
    try:
        with open(path) as f:
            found = json.load(f)
        return found if isinstance(found, dict) else {}
    except (OSError, ValueError):
        return {}


def _stored(dtype):
    path = _path()
    return None if path is None else _read(path).get(_key(dtype))


def _store(dtype, answer):
    path = _path()
    if path is None:
        return
    found = _read(path)
    found[_key(dtype)] = answer
    try:    # another process may write it too: one whole file wins
        cache_folder.replace_atomically(path, json.dumps(found).encode())
    except OSError:
        pass


def _contest(dtype):
    """Time PIECE in the generated GEMM and in the BLAS (on one thread), alternating."""
    if blas.find_gemm(dtype) is None:
        return False
    import ctypes

    from ..runtime import parallel
    from . import shared
    m, k, n = PIECE
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    c = np.empty((m, n), dtype)
    i64, p = ctypes.c_int64, ctypes.c_void_p
    generated = ctypes.CFUNCTYPE(None, i64, i64, i64, p, i64, p, i64, p, i64, ctypes.c_int32)(
        shared.address(dtype, "generated", False, False))

    def run_generated():
        generated(m, n, k, a.ctypes.data, k, b.ctypes.data, n, c.ctypes.data, n, 0)

    def run_blas():
        blas.gemm(a, b, out=c)
    parallel.serial_blas_begin()        # the BLAS on this thread alone, as in compiled calls
    try:
        times = {run_generated: [], run_blas: []}
        for run in times:
            run()       # warm: pages, packing buffers, the BLAS's first-call setup
        for r in range(ROUNDS):
            for run in (run_generated, run_blas) if r % 2 else (run_blas, run_generated):
                start = time.perf_counter()
                run()
                times[run].append(time.perf_counter() - start)
    finally:
        parallel.serial_blas_end()
    # the fastest of each: another process's time only ever adds to a round (medians
    # flipped in runs beside a busy neighbour)
    return min(times[run_blas]) <= MARGIN * min(times[run_generated])
