"""Which loop dims of an elementwise kernel can be one loop (loop coalescing).

A kernel loops over its root's shape, one counted loop per dim. Where every operand walks
two neighbouring dims the same way (both along its own memory, or both broadcast), the two
loops are one loop over their product: a (10, 256) update of a weight by its momentum is a
2560-long loop instead of 10 loops of 256. The values are the same element for element;
what changes is LLVM's work: with constant trip counts it fully unrolls small nests, so the
(10, 256) kernel grew to 130 KB of optimized IR and 75 ms of compile time, the flat one to
a tenth of that (znver3). numpy's iterator merges dims the same way.

    merged_shapes((10, 256), [(10, 256), (10, 256)])  -> ((2560,), [(2560,), (2560,)])
    merged_shapes((64, 256), [(64, 256), (256,)])      -> ((64, 256), [(64, 256), (1, 256)])

Dims of extent 1 in the root fit any pattern. `keep_first` keeps dim 0 a loop of its own,
for kernels whose dim-0 range is split over threads.
"""
import math


def merged_shapes(root_shape, shapes, keep_first=False):
    """(root's merged shape, each of `shapes` merged alike), every shape numpy-broadcastable
    to root_shape; each result has the root's merged rank (broadcast dims as 1)."""
    n = len(root_shape)
    aligned = [(1,) * (n - len(s)) + tuple(s) for s in shapes]
    runs = []       # lists of adjacent root dims that become one loop
    for d in range(n):
        last = runs[-1] if runs else None
        if last is not None and not (keep_first and last[0] == 0) and \
                all(_fits(root_shape, a, last, d) for a in aligned):
            last.append(d)
        else:
            runs.append([d])
    root = tuple(math.prod(root_shape[d] for d in run) for run in runs)
    return root, [tuple(math.prod(a[d] for d in run) for run in runs) for a in aligned]


def _fits(root_shape, a, run, d):
    """Whether operand shape `a` walks dim d as it walks the dims of `run`: all along its
    memory or all broadcast, counting only the dims the root does not have at extent 1."""
    walks = {a[k] != 1 for k in run + [d] if root_shape[k] != 1}
    return len(walks) <= 1
