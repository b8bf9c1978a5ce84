"""Host contests that choose the code of compiled products, measured once and kept with the
compiled code:

    blas_wins(dtype)    # large pieces: True, the BLAS; False, the generated GEMM
    dots_win(dtype)     # A @ B^T pieces of few rows: True, dots.py; False, the generated
                        # GEMM with B^T packed

Small pieces of products (a training step's, at the batch sizes we meet) run faster in
generated code inside compiled graphs: each BLAS call pays its entry and the switch to one
thread around it (choice.py). Which generated code, and whether the BLAS wins large pieces,
depends on the host:

- blas: on znver3 (AVX2, OpenBLAS's Haswell kernels), one thread, GMAC/s generated / BLAS:
  512 x 512 x 128 42.0 / 44.9, 256 x 256 x 256 43.7 / 44.9, 512^3 41.6 / 46.8, 1024 x 1024 x
  256 41.9 / 46.3, while 128 x 256 x 256 ran 44.1 / 43.9; compiled, `tracecomp bench`'s 512^3
  and 1024^3 took 1.14x and 1.25x numpy's time. So a piece of LARGE_WORK multiply-adds or
  more goes to the BLAS where it wins on BLAS_PIECE.
- dots: A @ B^T (x @ W^T) as dot products along K against the GEMM's broadcast tiles over a
  packed B^T. One thread, float32 GFLOP/s dots / generated: znver4 64 x 784 x 128 94 / 62
  (choice.py has more); an Intel Xeon with AVX-512 and AMX (LLVM: rocketlake) 64 x 784 x
  256 99 / 146, 32 x 784 x 256 104 / 121, 64 x 256 x 256 103 / 134, 128 x 256 x 256 102 /
  160, 64 x 96 x 256 86 / 141, but 16 x 6400 x 150 80 / 74 and 6 x 50176 x 25 36 / 36 (a
  small result over a long K, which dots keeps on every host). So DOTS_PIECE decides.

Each contest runs once per process and host: ROUNDS alternating timings of each side on
one thread, the best of each compared. Its answer is kept in the disk cache's folder (keyed
by the contest, the host's CPU, its features, the BLAS library and this file), so later
processes read it instead; `tracecomp doctor` shows it. The dots contest builds both
libraries (~0.35 s, once per host), so it runs only where its answer can be kept: with the
cache off (TRACECOMP_CACHE=0), dots_win answers the default, True, without measuring.
"""
import ctypes
import hashlib
import json
import os
import threading
import time

import numpy as np

from ..runtime import cache, cache_folder, host_cpu
from . import blas

LARGE_WORK = 1 << 24        # multiply-adds of a thread's piece: the blas contest from here
BLAS_PIECE = (512, 512, 512)    # (m, k, n) timed: a large piece, ~3 ms on one core
DOTS_PIECE = (64, 512, 256)     # A @ B^T: a linear layer's batch piece, ~0.1 ms
ROUNDS = 9
# the first side's best time at most this share of the other's: the first wins. At 0.97
# on a 256 x 512 x 512 piece (~5 % apart here) the blas answer flipped in a run beside
# torch's threads; a near tie may go either way, which costs nothing
MARGIN = 1.0
FILE = "gemm_calibration.json"
_DEFAULTS = {"blas": False, "dots": True}   # answers without a contest: no BLAS; cache off

_answers = {}       # (contest, dtype) -> bool, this process's
_lock = threading.Lock()


def blas_wins(dtype):
    """Whether the BLAS computes large `dtype` products on this host (False without one)."""
    return _answer("blas", dtype)


def dots_win(dtype):
    """Whether dots.py computes `dtype` A @ B^T pieces of few rows on this host, rather than
    the generated GEMM (True, without measuring, where the cache is off)."""
    return _answer("dots", dtype)


def known(dtype, contest="blas"):
    """The contest's answer where this process or the cache folder has it, else None
    (without running the contest: `tracecomp doctor` shows it)."""
    with _lock:
        if (contest, dtype) in _answers:
            return _answers[contest, dtype]
        folder = cache_folder.folder_path()     # not made here where it is not there yet
        return _stored(contest, dtype) if folder and os.path.isdir(folder) else None


def _answer(contest, dtype):
    with _lock:
        if (contest, dtype) not in _answers:
            found = _stored(contest, dtype)
            if found is None:
                found = _CONTESTS[contest](dtype)
                _store(contest, dtype, found)
            _answers[contest, dtype] = found
        return _answers[contest, dtype]


def _key(contest, dtype):
    sym = blas.find_gemm(dtype)
    text = "\n".join([contest, dtype, host_cpu.name(), host_cpu.feature_string(),
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


def _stored(contest, dtype):
    path = _path()
    return None if path is None else _read(path).get(_key(contest, dtype))


def _store(contest, dtype, answer):
    path = _path()
    if path is None:
        return
    found = _read(path)
    found[_key(contest, dtype)] = answer
    try:    # another process may write it too: one whole file wins
        cache_folder.replace_atomically(path, json.dumps(found).encode())
    except OSError:
        pass


_I64, _P = ctypes.c_int64, ctypes.c_void_p
_GEMM_TYPE = ctypes.CFUNCTYPE(None, _I64, _I64, _I64, _P, _I64, _P, _I64, _P, _I64,
                              ctypes.c_int32)


def _shared(dtype, code, trans_b, m, k, n, a, b, c):
    """A call of gemm/shared.py's `code` on C[m, n] = A[m, k] @ op(B), B stored as given."""
    from . import shared
    fn = _GEMM_TYPE(shared.address(dtype, code, False, trans_b))
    ldb = k if trans_b else n
    return lambda: fn(m, n, k, a.ctypes.data, k, b.ctypes.data, ldb, c.ctypes.data, n, 0)


def _operands(dtype, m, k, n, trans_b):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    return a, b, np.empty((m, n), dtype)


def _blas_contest(dtype):
    """The BLAS against the generated GEMM on BLAS_PIECE (on one thread)."""
    if blas.find_gemm(dtype) is None:
        return _DEFAULTS["blas"]
    from ..runtime import parallel
    m, k, n = BLAS_PIECE
    a, b, c = _operands(dtype, m, k, n, False)
    parallel.serial_blas_begin()        # the BLAS on this thread alone, as in compiled calls
    try:
        return _first_wins(lambda: blas.gemm(a, b, out=c),
                           _shared(dtype, "generated", False, m, k, n, a, b, c))
    finally:
        parallel.serial_blas_end()


def _dots_contest(dtype):
    """dots against the generated GEMM (B^T packed) on DOTS_PIECE, where the answer can be
    kept (it builds both libraries)."""
    if _path() is None:
        return _DEFAULTS["dots"]
    m, k, n = DOTS_PIECE
    a, b, c = _operands(dtype, m, k, n, True)
    return _first_wins(_shared(dtype, "dots", True, m, k, n, a, b, c),
                       _shared(dtype, "generated", True, m, k, n, a, b, c))


def _first_wins(first, other):
    """Whether `first`'s best time of ROUNDS alternating runs is at most MARGIN x `other`'s:
    the fastest of each, as another process's time only ever adds to a round (medians
    flipped in runs beside a busy neighbour)."""
    times = {first: [], other: []}
    for run in times:
        run()       # warm: pages, packing buffers, the BLAS's first-call setup
    for r in range(ROUNDS):
        for run in (first, other) if r % 2 else (other, first):
            start = time.perf_counter()
            run()
            times[run].append(time.perf_counter() - start)
    return min(times[first]) <= MARGIN * min(times[other])


_CONTESTS = {"blas": _blas_contest, "dots": _dots_contest}
