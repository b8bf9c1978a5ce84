"""Which kernel a fused group gets on the GPU, and how it is launched.

    plan = launches.launch_for(group, "kernel3", threads=256, tile=16)
    plan.text, plan.blocks, plan.threads      # None: no kernel computes this group

Elementwise and window groups get a thread per element, reductions a block per result,
scans a thread per scanned line, products a tiled kernel, or for a few results over a
long K a block per result (source.py writes each kernel's text).
"""
from dataclasses import dataclass

import numpy as np

from .source import (
    CUM_ARG,
    SCAN,
    dots_source,
    kernel_source,
    matmul_source,
    reduce_source,
    scan_lines,
    scan_source,
    supported,
)

# a product of at most this many results over a K of at least DOTS_MIN_K: a block per
# result (dots_source) instead of a tile's block walking all of K
DOTS_MAX_RESULTS, DOTS_MIN_K = 4096, 1024


@dataclass(frozen=True)
class Launch:
    text: str           # the kernel's source (`def name(in0, .., out, ..)`)
    blocks: object      # the grid: an int or a (x, y, z) tuple
    threads: object     # per block: an int or a (x, y) tuple


def _fit(threads, work):
    """A block of at most `threads` threads and no more than `work` needs, a power of two
    (reductions combine in halves): a small tensor gets a small block, which costs the GPU
    nothing and numba's simulator (a Python thread per GPU thread) much less."""
    n = 1
    while n < min(threads, work):
        n *= 2
    return n


def launch_for(group, name, threads=128, tile=16):
    """The kernel of a group and how to launch it, or None for a kind no kernel computes:
    elementwise and window groups a thread per element, reductions a block of `threads`
    per output element, matmuls (tile x tile)-thread blocks over C and the batch, scans
    (groups of their own, "opaque" to fusion) a thread per scanned line."""
    root = group.root
    if group.kind in ("elementwise", "unfold", "fold"):
        threads = _fit(threads, root.size)
        return Launch(kernel_source(group, name), -(-root.size // threads), threads)
    if group.kind == "reduce":
        threads = _fit(threads, root.inputs[0].size // max(root.size, 1))
        return Launch(reduce_source(group, name, threads), root.size, threads)
    if group.kind == "opaque" and (root.op in SCAN or root.op in CUM_ARG) \
            and supported(root):
        lines = scan_lines(root)[-1]
        threads = _fit(threads, lines)
        return Launch(scan_source(group, name), -(-lines // threads), threads)
    if group.kind == "matmul":
        m, n = root.shape[-2:]
        kdim = root.inputs[0].shape[-1]
        if root.size <= DOTS_MAX_RESULTS and kdim >= DOTS_MIN_K:
            threads = _fit(threads, kdim)
            return Launch(dots_source(group, name, threads), root.size, threads)
        batch = int(np.prod(root.shape[:-2], dtype=np.int64))
        tile = _fit(tile, max(m, n))
        return Launch(matmul_source(group, name, tile), (-(-n // tile), -(-m // tile), batch),
                      (tile, tile))
    return None
