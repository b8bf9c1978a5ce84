"""Movement ops as index maps, written once for every backend.

An index map says where an output element of a movement op comes from: given the output
index (one integer per dim, in whatever form the backend computes integers), it gives the
operand's index. A kernel folds the map into its own index arithmetic, so the moved tensor
is never stored. The arithmetic goes through an `IndexOps` object the backend supplies:

    ix.const(n)                              an integer constant
    ix.add(a, b), ix.sub(a, b), ix.mul(a, b)
    ix.div(a, b), ix.rem(a, b)               of a >= 0 (any value where a < 0: callers
                                             only use it where a >= 0 is also checked)
    ix.lt(a, b), ix.ge(a, b), ix.eq(a, b)    comparisons, giving conditions
    ix.and_(p, q)                            both conditions
    ix.select(p, a, b)                       a where p holds, else b

The llvm backend's IndexOps emits IR (codegen/llvm/lower/index_ops.py); PYTHON evaluates
with Python ints, which is how the tests check every map against numpy, and how a backend
that prints source (a CUDA kernel's Python) would print expressions.
"""
import math

from tracecomp.ops.conv import out_size


class PythonIndexOps:
    """IndexOps on Python ints: the maps evaluated for one index at a time."""

    def const(self, n):
        return int(n)

    def add(self, a, b):
        return a + b

    def sub(self, a, b):
        return a - b

    def mul(self, a, b):
        return a * b

    def div(self, a, b):
        return a // b

    def rem(self, a, b):
        return a % b

    def lt(self, a, b):
        return a < b

    def ge(self, a, b):
        return a >= b

    def eq(self, a, b):
        return a == b

    def and_(self, p, q):
        return p and q

    def select(self, p, a, b):
        return a if p else b


PYTHON = PythonIndexOps()


def broadcast(ix, index, shape, x_shape):
    """The index into an operand of `x_shape` (numpy-broadcast to `shape`) of the element
    at `index`."""
    lead = len(shape) - len(x_shape)
    return [ix.const(0) if n == 1 else i for i, n in zip(index[lead:], x_shape)]


def permute(ix, index, dims):
    src = [None] * len(dims)
    for d, i in zip(dims, index):
        src[d] = i
    return src


def slice_(ix, index, starts, steps):
    return [ix.add(ix.const(a), ix.mul(i, ix.const(s))) if (a, s) != (0, 1) else i
            for i, a, s in zip(index, starts, steps)]


def flip(ix, index, shape, dims):
    """Position i along a reversed dim reads position n - 1 - i."""
    dims = set(dims)
    return [ix.sub(ix.const(n - 1), i) if d in dims else i
            for d, (i, n) in enumerate(zip(index, shape))]


def pad(ix, index, x_shape, config):
    """(operand index, inside): output position o reads input (o - low) / (interior + 1)
    where that lands on an input element (`inside`), else the pad value. The operand index
    is 0 outside, so a load there is always valid."""
    inside, src = None, []
    for i, n, (lo, _, interior) in zip(index, x_shape, config):
        p = ix.sub(i, ix.const(lo))
        step = interior + 1
        q = ix.div(p, ix.const(step)) if step > 1 else p
        ok = ix.and_(ix.ge(p, ix.const(0)), ix.lt(q, ix.const(n)))
        if step > 1:
            ok = ix.and_(ok, ix.eq(ix.rem(p, ix.const(step)), ix.const(0)))
        inside = ok if inside is None else ix.and_(inside, ok)
        src.append(ix.select(ok, q, ix.const(0)))
    return src, inside


def reshape(ix, index, shape, x_shape):
    """Dims are matched in groups whose sizes multiply to the same number (a split like
    24 -> 6 x 4, or a merge): only within a group is the index linearized and split again,
    so most reshapes cost an add and a multiply, not a divide per dim."""
    src = []
    for out_dims, in_dims in reshape_groups(shape, x_shape):
        linear = None
        for d in out_dims:
            linear = index[d] if linear is None else \
                ix.add(ix.mul(linear, ix.const(shape[d])), index[d])
        if linear is None:
            linear = ix.const(0)
        if len(in_dims) == 1:
            src.append(linear)
            continue
        sizes = [x_shape[d] for d in in_dims]
        for d, stride in zip(in_dims, _contiguous_strides(sizes)):
            q = ix.div(linear, ix.const(stride)) if stride != 1 else linear
            src.append(ix.rem(q, ix.const(x_shape[d])) if d != in_dims[0] else q)
    return src


def reshape_groups(out_shape, in_shape):
    """[(output dims, input dims)] with equal products, in order, covering both shapes
    (size-1 dims join the group before them, or the first)."""
    groups, i, j = [], 0, 0
    while i < len(out_shape) or j < len(in_shape):
        outs, ins = [i] if i < len(out_shape) else [], [j] if j < len(in_shape) else []
        po = out_shape[i] if outs else 1
        pi = in_shape[j] if ins else 1
        i, j = i + len(outs), j + len(ins)
        while po != pi or (i < len(out_shape) and out_shape[i] == 1) \
                or (j < len(in_shape) and in_shape[j] == 1):
            if (po <= pi or j >= len(in_shape)) and i < len(out_shape):
                po *= out_shape[i]
                outs.append(i)
                i += 1
            elif j < len(in_shape):
                pi *= in_shape[j]
                ins.append(j)
                j += 1
            else:
                break
        groups.append((outs, ins))
    return groups


def concat(ix, index, dim, piece_sizes):
    """[(piece number, index into the piece, starts here)] for the non-empty pieces: each
    piece is read at the position less its offset along dim, clamped into the piece so
    every read is valid; the element is the last piece whose `starts here` holds (a select
    chain in that order)."""
    out, start = [], 0
    for k, n in enumerate(piece_sizes):
        if n == 0:
            continue
        local = ix.sub(index[dim], ix.const(start)) if start else index[dim]
        local = ix.select(ix.lt(local, ix.const(0)), ix.const(0), local)
        local = ix.select(ix.lt(ix.const(n - 1), local), ix.const(n - 1), local)
        at = list(index)
        at[dim] = local
        out.append((k, at, ix.ge(index[dim], ix.const(start))))
        start += n
    return out


def unfold(ix, index, x_shape, kernel, dilation, padding, stride):
    """(operand index, inside) of im2col: column element (n, r, p) with r = (c, i, j) over
    (C, kh, kw) and p = (y, x) over the output pixels reads input pixel (n, c, y*sh + i*dh
    - ph, x*sw + j*dw - pw) where that lies inside the image, else the padding's zero."""
    n, r, p = index
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = kernel, dilation, padding, stride
    h, w = x_shape[2:]
    ow = out_size(w, kw, dw, pw, sw)
    c, i, j = ix.div(r, ix.const(kh * kw)), ix.rem(ix.div(r, ix.const(kw)), ix.const(kh)), \
        ix.rem(r, ix.const(kw))
    y, x = ix.div(p, ix.const(ow)), ix.rem(p, ix.const(ow))
    row = ix.sub(ix.add(ix.mul(y, ix.const(sh)), ix.mul(i, ix.const(dh))), ix.const(ph))
    col = ix.sub(ix.add(ix.mul(x, ix.const(sw)), ix.mul(j, ix.const(dw))), ix.const(pw))
    inside = ix.and_(ix.and_(ix.ge(row, ix.const(0)), ix.lt(row, ix.const(h))),
                     ix.and_(ix.ge(col, ix.const(0)), ix.lt(col, ix.const(w))))
    zero = ix.const(0)
    return [n, c, ix.select(inside, row, zero), ix.select(inside, col, zero)], inside


def _contiguous_strides(shape):
    return [math.prod(shape[k + 1:]) for k in range(len(shape))]
