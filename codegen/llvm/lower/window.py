"""Sliding windows on the llvm backend: unfold (im2col) as an index map, fold (col2im) as a
gather-sum kernel. The geometry is the primitives' (tracecomp/ops/conv.py): kernel (kh, kw),
dilation (dh, dw), padding (ph, pw), stride (sh, sw); columns are (N, C*kh*kw, L) with row
c*kh*kw + i*kw + j holding kernel tap (i, j) and column l = oy*ow + ox the output pixel.

unfold reads one input element (or the zero padding) per output element:

    cols[n, c*kh*kw + i*kw + j, oy*ow + ox] = x[n, c, oy*sh + i*dh - ph, ox*sw + j*dw - pw]

so it is a movement op like pad (kernels.MOVEMENT): fused into its consumer's index
arithmetic with its producers (the activation before a conv), never copied unless it is a
group's root. Bound checks are emitted only along padded dims (elsewhere the primitive's
output size keeps every read in range). As an index map it splits (r, l) into (c, i, j)
and (oy, ox) with divisions by constants, which leaves loads at non-affine addresses; so a
group rooted at an unfold (the im2col buffer a conv's matmul reads) gets `unfold_kernel`,
which loops over (n, c, i, j, oy, ox) directly: the store is contiguous and, with stride 1,
the load is affine in ox and LLVM vectorizes it (masked loads at the padded edges).

fold sums, into each output pixel, the (at most kh*kw) column entries whose window covers
it. `fold_kernel` loops over the OUTPUT (n, c, y, x) and, for each tap (i, j), reads the
one column entry that lands on (y, x), if any:

    oy = (y + ph - i*dh) / sh   (exact, in [0, oh)),   ox likewise,

adding the taps in (i, j) order from zero: the order of the numpy impl's `+=`, so results
are bit-identical. No accumulating stores, no atomics; each tap's read sits behind a branch
on its condition, so with stride 1 the address is affine in x and LLVM vectorizes the loop
with masked loads. Column values go through `KernelBuilder.value`, so a fused elementwise
producer (the gradient's multiply, a reshape) is computed right there, as a prologue.
"""
from tracecomp.ops.conv import out_size
from tracecomp.passes.fusion import chunk_major, tiles

from .. import target
from .kernels import MOVEMENT, KernelBuilder, c64, elementwise_kernel
from .ops import ir_type, is_float


def _geometry(params, h, w):
    """((kh, kw), (dh, dw), (ph, pw), (sh, sw)) and the output grid (oh, ow) over h x w."""
    geo = tuple(params[p] for p in ("kernel", "dilation", "padding", "stride"))
    grid = tuple(out_size(n, *(g[a] for g in geo)) for a, n in enumerate((h, w)))
    return geo, grid


def _split(b, v, inner):
    """Linear index v -> [v // prod(inner)] + v's C-order digits over `inner` (the outer
    digit needs no remainder: v is in range). Size-1 digits are the constant 0."""
    digits, step = [], 1
    for size in reversed(inner):
        q = b.udiv(v, c64(step)) if step > 1 else v
        digits.append(b.urem(q, c64(size)) if size > 1 else c64(0))
        step *= size
    return [b.udiv(v, c64(step)) if step > 1 else v] + digits[::-1]


def _all(b, conditions):
    """The i1 AND of conditions, None for an empty list (always true)."""
    out = None
    for c in conditions:
        out = c if out is None else b.and_(out, c)
    return out


def _row(b, ch, i, j, kernel):
    """The column row of channel ch's tap (i, j): ch*kh*kw + i*kw + j."""
    kh, kw = kernel
    return b.add(b.mul(ch, c64(kh * kw)), b.add(b.mul(i, c64(kw)), j))


def _guarded(k, ok, compute, dtype):
    """compute() where ok holds, else 0: a branch, so the read inside may use an index that
    is out of range where ok fails (and LLVM turns it into a masked load)."""
    if ok is None:
        return compute()
    b, entry, outer = k.b, k.b.block, k.memo
    k.memo = dict(outer)            # values made inside the branch must not escape it
    with b.if_then(ok):
        v, end = compute(), b.block
    k.memo = outer
    phi = b.phi(ir_type(dtype))
    phi.add_incoming(v, end)
    phi.add_incoming(k.e.const(0, dtype), entry)
    return phi


# --- unfold --------------------------------------------------------------------------------
def _reads(k, node, i, j, oy, ox):
    """The input (y, x) that output pixel (oy, ox)'s tap (i, j) reads, and the conditions
    for it to be inside the input (only padded dims can leave it)."""
    b = k.b
    h, w = node.inputs[0].shape[2:]
    (_, dilation, padding, stride), _ = _geometry(node.params, h, w)
    pos, checks = [], []
    for o, tap, size, d, p, s in zip((oy, ox), (i, j), (h, w), dilation, padding, stride):
        at = b.add(b.mul(o, c64(s)), b.mul(tap, c64(d)))
        if p:
            at = b.sub(at, c64(p))
            checks += [b.icmp_signed(">=", at, c64(0)), b.icmp_signed("<", at, c64(size))]
        pos.append(at)
    return pos, checks


def _unfold(k, node, index):
    """cols[n, r, l] -> x[n, c, y, x] or the zero padding, as a select (like pad)."""
    x, b = node.inputs[0], k.b
    (kernel, *_), (_, ow) = _geometry(node.params, *x.shape[2:])
    ch, i, j = _split(b, index[1], kernel)
    oy, ox = _split(b, index[2], (ow,))
    (y, x_), checks = _reads(k, node, i, j, oy, ox)
    inside = _all(b, checks)
    if inside is None:
        return k.value(x, [index[0], ch, y, x_])
    v = k.value(x, [index[0], ch, b.select(inside, y, c64(0)), b.select(inside, x_, c64(0))])
    return b.select(inside, v, k.e.const(0, node.dtype))


MOVEMENT["unfold"] = _unfold


def _tiling_fold_at(k, node, index):
    """out[n, c, y, x] of a fold whose windows tile the output (fusion.moving_fold), fused
    into its consumer: the one column entry of window (y // kh, x // kw), tap (y % kh,
    x % kw), or 0 past the last window (rows and columns no window reaches). Added to zero
    as in fold_kernel (-0.0 becomes +0.0, like the numpy impl's `+=` into zeros)."""
    b, cols = k.b, node.inputs[0]
    kh, kw = node.params["kernel"]
    h, w = node.shape[2:]
    _, (oh, ow) = _geometry(node.params, h, w)
    n_, ch, y, x = index
    oy, i = b.udiv(y, c64(kh)), b.urem(y, c64(kh))
    ox, j = b.udiv(x, c64(kw)), b.urem(x, c64(kw))
    checks = [b.icmp_unsigned("<", oy, c64(oh))] if oh * kh < h else []
    checks += [b.icmp_unsigned("<", ox, c64(ow))] if ow * kw < w else []
    row = _row(b, ch, i, j, (kh, kw))
    at = b.add(b.mul(oy, c64(ow)), ox)
    inside = _all(b, checks)
    zero = k.e.const(0, node.dtype)
    add = b.fadd if is_float(node.dtype) else b.add
    if inside is None:
        return add(zero, k.value(cols, [n_, row, at]))
    v = k.value(cols, [n_, b.select(inside, row, c64(0)), b.select(inside, at, c64(0))])
    return b.select(inside, add(zero, v), zero)


MOVEMENT["fold"] = _tiling_fold_at


def unfold_kernel(module, group, name, ranged=False):
    """A group rooted at an unfold, or at a permute of one (a conv's columns laid out
    (C*kh*kw, N, L) for one product over the batch): loop over (n), (c, i, j), (oy, ox) in
    the root's order of those three dims, its memory order, so the store is contiguous
    and each read is affine in ox (module docstring). Ranged (split over threads), the
    first loop is the root's dim 0: (c, i, j) then loop as one, over C*kh*kw rows."""
    root = group.root
    chunked = chunk_major(root)
    unfold = root if root.op == "unfold" else root.inputs[0].inputs[0] if chunked \
        else root.inputs[0]
    if unfold not in group.nodes:       # the columns are stored anyway: copy the permute
        return elementwise_kernel(module, group, name, ranged)
    k = KernelBuilder(module, group, name, ranged)
    x = unfold.inputs[0]
    n, c, h, w = x.shape
    ((kh, kw), *_), (oh, ow) = _geometry(unfold.params, h, w)
    dims = root.params["dims"] if root is not unfold else (0, 1, 2)
    if chunked:
        return _chunk_major_kernel(k, root, unfold, (kh, kw), (oh, ow))

    spans = [(0,), (1, 2, 3), (4, 5)]      # unfold dim -> its loops over (n, c, i, j, oy, ox)
    order = [a for d in dims for a in spans[d]]
    if root is unfold and tiles(unfold):
        # windows that tile the input (pooling): loop (n, c, oy, i, ox, j), so each tap's row
        # is stored contiguously along ox from strided reads of one input row. In the order
        # above LLVM vectorized across oy, with gathers and scatters: LeNet's first pool
        # (bias add and relu fused in) took 228 us that way, 82 us this way.
        order = [0, 1, 4, 2, 5, 3]
    extents = (n, c, kh, kw, oh, ow)
    rows_first = ranged and order[:3] == [1, 2, 3]

    def body(looped):
        b = k.b
        if rows_first:      # one loop over the rows r = (c, i, j): its digits
            looped = _split(b, looped[0], (kh, kw)) + list(looped[1:])
        n_, ch, i, j, oy, ox = (looped[order.index(a)] for a in range(6))
        (y, x_), checks = _reads(k, unfold, i, j, oy, ox)
        v = _guarded(k, _all(b, checks), lambda: k.value(x, [n_, ch, y, x_]), root.dtype)
        row = _row(b, ch, i, j, (kh, kw))
        at = [n_, row, b.add(b.mul(oy, c64(ow)), ox)]
        k.store(v, k.out, root.shape, [at[d] for d in dims], root.dtype)

    loops = [extents[a] for a in order]
    k.loops([c * kh * kw] + loops[3:] if rows_first else loops, body)
    return k.finish()


def _chunk_major_kernel(k, root, unfold, kernel, grid):
    """conv2d's chunk-major columns (J, K, c, L) (fusion.chunk_major): loops over chunk j,
    then (ch, i, j), then sample s of the chunk, then (oy, ox): the root's memory order, so
    the store is contiguous and, with stride 1, the read affine in ox. Ranged, the chunk
    loop is the range (entry.py's chunk loops compute one chunk at a time)."""
    x = unfold.inputs[0]
    (kh, kw), (oh, ow) = kernel, grid
    chunks, per = root.inputs[0].shape[:2]

    def body(looped):
        b = k.b
        j_, ch, i, j, s, oy, ox = looped
        n_ = b.add(b.mul(j_, c64(per)), s)
        (y, x_), checks = _reads(k, unfold, i, j, oy, ox)
        v = _guarded(k, _all(b, checks), lambda: k.value(x, [n_, ch, y, x_]), root.dtype)
        row = _row(b, ch, i, j, (kh, kw))
        k.store(v, k.out, root.shape, [j_, row, s, b.add(b.mul(oy, c64(ow)), ox)], root.dtype)

    k.loops([chunks, x.shape[1], kh, kw, per, oh, ow], body)
    return k.finish()


# --- fold ----------------------------------------------------------------------------------
def _source(k, pos, tap, extent, d, p, s, grid):
    """The window index o with o*s + tap*d - p == pos, and the conditions for it to exist,
    statically pruned over pos in [0, extent). Where they fail the index is garbage: it is
    read only behind a branch on them."""
    b = k.b
    lo, hi = p - tap * d, extent - 1 + p - tap * d        # the range of t = pos + p - tap*d
    t = b.add(pos, c64(lo)) if lo else pos
    checks = []
    if lo < 0:
        checks.append(b.icmp_signed(">=", t, c64(0)))
    if s > 1:
        checks.append(b.icmp_signed("==", b.srem(t, c64(s)), c64(0)))
        t = b.sdiv(t, c64(s))
    if hi // s >= grid:
        checks.append(b.icmp_signed("<", t, c64(grid)))
    return t, checks


def fold_kernel(module, group, name, ranged=False):
    """out[n, c, y, x] = the sum over taps (i, j) covering (y, x) of their column entry.
    Ranged (split over threads), for images [start, stop)."""
    k = KernelBuilder(module, group, name, ranged)
    root = group.root
    cols, dtype = root.inputs[0], root.dtype
    _, _, h, w = root.shape
    ((kh, kw), (dh, dw), (ph, pw), (sh, sw)), (oh, ow) = _geometry(root.params, h, w)
    b = k.b
    add = b.fadd if is_float(dtype) else b.add
    if tiles(root) and (h, w) == (oh * sh, ow * sw):
        return _tiling_fold(k, root, cols, add)

    def body(idx):
        n, c, y, x = idx
        acc = k.e.const(0, dtype)
        across = [_source(k, x, j, w, dw, pw, sw, ow) for j in range(kw)]
        for i in range(kh):
            oy, ok_y = _source(k, y, i, h, dh, ph, sh, oh)
            for j, (ox, ok_x) in enumerate(across):
                row = b.add(b.mul(c, c64(kh * kw)), c64(i * kw + j))
                col = b.add(b.mul(oy, c64(ow)), ox)
                acc = add(acc, _guarded(k, _all(b, ok_y + ok_x),
                                        lambda row=row, col=col: k.value(cols, [n, row, col]),
                                        dtype))
        k.store(acc, k.out, root.shape, idx, dtype)

    k.loops(root.shape, body)
    return k.finish()


def _tiling_fold(k, root, cols, add):
    """Windows that tile the output exactly (stride == kernel, no padding or dilation:
    a max-pool's backward): each output pixel is one column entry. Loop over (n, c, oy, i,
    ox, j), y = oy*kh + i and x = ox*kw + j, so reads and stores are affine in ox and the
    loop vectorizes; no tap search, no division. The entry is added to zero as in the
    general kernel (so -0.0 becomes +0.0, like the numpy impl's `+=` into zeros)."""
    n, c, h, w = root.shape
    (kh, kw), (oh, ow) = root.params["kernel"], (h // root.params["kernel"][0],
                                                w // root.params["kernel"][1])
    b = k.b

    def body(idx):
        n_, ch, oy, i, ox, j = idx
        row = _row(b, ch, i, j, (kh, kw))
        v = k.value(cols, [n_, row, b.add(b.mul(oy, c64(ow)), ox)])
        y, x = b.add(b.mul(oy, c64(kh)), i), b.add(b.mul(ox, c64(kw)), j)
        k.store(add(k.e.const(0, root.dtype), v), k.out, root.shape, [n_, ch, y, x],
                root.dtype)

    # A row of pooled outputs shorter than one vector (LeNet's second pool: 10 floats under
    # AVX-512's 16 lanes): LLVM unrolled the ox loop whole and packed the row into one
    # masked vector, whose loads and stores became gathers and scatters. Kept a loop there,
    # vectorized without a masked tail. TRACECOMP_PROFILE on the LeNet step (znver4, 2 runs
    # each): that pool's backward 290-310 -> 115-140 us; the first pool's (rows of 28, a
    # full vector and more) ran slower as a loop (396 -> 517-627 us), so it stays unrolled,
    # as does everything on the AVX2 path (8 lanes: 60-80 us there).
    lanes = target.host().vector_bytes // root.dtype.itemsize
    short = lanes >= 16 and ow * kw < lanes
    k.loops((n, c, oh, kh, ow, kw), body, unmasked=-2 if short else None)
    return k.finish()
