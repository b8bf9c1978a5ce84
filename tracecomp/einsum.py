"""einsum and tensordot, decomposed into permute / reshape / expand / reduce_sum / matmul,
so they differentiate through those primitives and compile natively (the batched matmul
takes its second operand as a transposed view, as attention's q @ k^T does).

einsum contracts left to right, two operands at a time: labels no later operand or the
output needs are summed first; the rest become a batched (batch, M, K) @ (batch, K, N)
matmul. Repeated labels in one operand take its diagonal; '...' and size-1 dims broadcast.
"""
import math

from .errors import ShapeError
from .ops import movement as mv
from .ops import reduce as rd
from .ops.linalg import matmul
from .tensor import Tensor


# --- parsing -------------------------------------------------------------------------------
def _parse(equation, operands):
    """(labels per operand, output labels): '...' becomes one label per broadcast dim
    (non-letters, so they sort first in the implicit output, as torch puts them)."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        which = "more" if len(operands) > len(terms) else "fewer"
        raise ValueError(f"einsum(): {which} operands were provided than specified in the "
                         f"equation")
    ell = 0
    for term, x in zip(terms, operands):
        letters = len(term.replace("...", ""))
        if "..." in term:
            ell = max(ell, x.ndim - letters)
        elif letters != x.ndim:
            raise ShapeError(f"einsum(): the number of subscripts in the equation ({letters}) "
                             f"does not match the number of dimensions ({x.ndim}) for operand "
                             f"{terms.index(term)}" + ("" if "..." in term else
                                                       " and no ellipsis was given"))
    dots = [chr(0x2460 + i) for i in range(ell)]    # placeholder labels for '...' dims
    labels = []
    for term, x in zip(terms, operands):
        if "..." in term:
            head, tail = term.split("...")
            k = x.ndim - len(head) - len(tail)
            labels.append(list(head) + dots[ell - k:] + list(tail))
        else:
            labels.append(list(term))
    for ls in labels:
        for ch in ls:
            if not (ch.isalpha() or ch in dots):
                raise ValueError(f"einsum(): invalid subscript given at index "
                                 f"{equation.index(ch)} in the equation string, subscripts "
                                 f"must be in [a-zA-Z]")
    if arrow:
        out = list(rhs.replace("...", "".join(dots)))
        seen = {ch for ls in labels for ch in ls}
        for ch in out:
            if ch not in seen:
                raise ValueError(f"einsum(): output subscript {ch} does not appear in the "
                                 f"equation for any input operand")
            if out.count(ch) > 1:
                raise ValueError(f"einsum(): output subscript {ch} appears more than once in "
                                 f"the output")
    else:
        counts = {}
        for ls in labels:
            for ch in ls:
                counts[ch] = counts.get(ch, 0) + 1
        out = dots + sorted(ch for ch, n in counts.items() if n == 1 and ch not in dots)
    return labels, out


# --- per-operand preparation ---------------------------------------------------------------
def _take_diagonals(x, labels):
    """Repeated labels in one operand (`ii`): keep their diagonal, once."""
    from .composite_shape import diagonal
    labels = list(labels)
    while len(set(labels)) != len(labels):
        ch = next(c for c in labels if labels.count(c) > 1)
        i = labels.index(ch)
        j = labels.index(ch, i + 1)
        x = diagonal(x, 0, i, j)                     # the diagonal becomes the last dim
        labels = [c for k, c in enumerate(labels) if k not in (i, j)] + [ch]
    return x, labels


def _sum_out(x, labels, keep):
    dims = tuple(i for i, ch in enumerate(labels) if ch not in keep)
    if not dims:
        return x, labels
    return rd.reduce_sum(x, dims), [ch for ch in labels if ch in keep]


def _arrange(x, labels, order, sizes):
    """x permuted to `order` (a list of its labels), size-1 dims expanded to `sizes`."""
    x = mv.permute(x, tuple(labels.index(ch) for ch in order))
    want = tuple(sizes[ch] for ch in order)
    return mv.expand(x, want) if tuple(x.shape) != want else x


def _contract(a, la, b, lb, keep, sizes):
    """a (labels la) times b (labels lb), summing the shared labels not in `keep`."""
    batch = [ch for ch in la if ch in lb and ch in keep]
    summed = [ch for ch in la if ch in lb and ch not in keep]
    m = [ch for ch in la if ch not in lb]
    n = [ch for ch in lb if ch not in la]
    if not summed:                  # nothing to sum: a broadcast product (fuses, no GEMM)
        a = mv.reshape(_arrange(a, la, batch + m, sizes),
                       tuple(sizes[ch] for ch in batch + m) + (1,) * len(n))
        b = mv.reshape(_arrange(b, lb, batch + n, sizes),
                       tuple(sizes[ch] for ch in batch) + (1,) * len(m) +
                       tuple(sizes[ch] for ch in n))
        return a * b, batch + m + n
    a = _arrange(a, la, batch + m + summed, sizes)
    b = _arrange(b, lb, batch + n + summed, sizes)
    nb = math.prod(sizes[ch] for ch in batch)
    nm, nn = math.prod(sizes[ch] for ch in m), math.prod(sizes[ch] for ch in n)
    k = math.prod(sizes[ch] for ch in summed)
    a3 = mv.reshape(a, (nb, nm, k))
    b3 = mv.reshape(b, (nb, nn, k))                 # used transposed: a view, no copy
    out = matmul(a3, mv.permute(b3, (0, 2, 1)))
    labels = batch + m + n
    return mv.reshape(out, tuple(sizes[ch] for ch in labels)), labels


def _sizes(operands, labels):
    sizes = {}
    for k, (x, ls) in enumerate(zip(operands, labels)):
        for ch, s in zip(ls, x.shape):
            seen = sizes.get(ch, 1)
            if s != 1 and seen != 1 and s != seen:
                raise ShapeError(f"einsum(): operands do not broadcast with remapped shapes "
                                 f"(original->remapped): subscript {ch!r} has size {s} for "
                                 f"operand {k} which does not broadcast with previously seen "
                                 f"size {seen}")
            sizes[ch] = s if seen == 1 else seen       # 1 broadcasts to any size, 0 too
    return sizes


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _sublist_equation(args):
    """einsum(op1, [0, 1], op2, [1, 2], [0, 2]): torch's sublist form, as an equation."""
    def term(sub):
        out = ""
        for v in sub:
            if v is Ellipsis:
                out += "..."
            elif isinstance(v, int) and 0 <= v < len(_LETTERS):
                out += _LETTERS[v]
            else:
                raise ValueError(f"einsum(): subscript in subscript list is not within the "
                                 f"valid range [0, 52), got {v}")
        return out
    pairs, out = (args[:-1], args[-1]) if len(args) % 2 else (args, None)
    equation = ",".join(term(s) for s in pairs[1::2])
    return (equation if out is None else equation + "->" + term(out)), list(pairs[0::2])


def einsum(equation, *operands):
    if isinstance(equation, Tensor):
        equation, operands = _sublist_equation((equation,) + operands)
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum(): must provide at least one operand")
    for x in operands:
        if not isinstance(x, Tensor):
            raise TypeError(f"einsum(): operands must be tensors, got {type(x).__name__}")
    labels, out = _parse(equation, operands)
    sizes = _sizes(operands, labels)
    xs = []
    for x, ls in zip(operands, labels):
        x, ls = _take_diagonals(x, ls)
        xs.append((x, ls))
    # sum away labels that no other operand and not the output use, then contract
    for i, (x, ls) in enumerate(xs):
        later = set(out).union(*[set(l2) for j, (_, l2) in enumerate(xs) if j != i])
        xs[i] = _sum_out(x, ls, later)
    acc, la = xs[0]
    for i in range(1, len(xs)):
        b, lb = xs[i]
        keep = set(out).union(*[set(l2) for _, l2 in xs[i + 1:]])
        acc, la = _sum_out(acc, la, keep | set(lb))
        b, lb = _sum_out(b, lb, keep | set(la))
        acc, la = _contract(acc, la, b, lb, keep, sizes)
    acc, la = _sum_out(acc, la, set(out))
    return _arrange(acc, la, out, sizes) if la != out else acc


# --- tensordot -----------------------------------------------------------------------------
def tensordot(a, b, dims=2, out=None):
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = dims
        da = [da] if isinstance(da, int) else list(da)
        db = [db] if isinstance(db, int) else list(db)
    if len(da) != len(db):
        raise RuntimeError("both dimension lists should have same length")
    da = [d % a.ndim for d in da]
    db = [d % b.ndim for d in db]
    for i, j in zip(da, db):
        # torch broadcasts a size-1 contracted dim: the other side is constant-weighted along
        # it, so summing that side first (keepdim) gives the same contraction over size 1
        if a.shape[i] == 1 and b.shape[j] != 1:
            b = rd.reduce_sum(b, (j,), keepdim=True)
        elif b.shape[j] == 1 and a.shape[i] != 1:
            a = rd.reduce_sum(a, (i,), keepdim=True)
        elif a.shape[i] != b.shape[j]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size "
                               f"{a.shape[i]} in dim {i} and second has size {b.shape[j]} in "
                               f"dim {j}")
    fa = [i for i in range(a.ndim) if i not in da]
    fb = [j for j in range(b.ndim) if j not in db]
    k = math.prod(a.shape[i] for i in da)
    a2 = mv.reshape(mv.permute(a, tuple(fa + da)), (math.prod(a.shape[i] for i in fa), k))
    b2 = mv.reshape(mv.permute(b, tuple(db + fb)), (k, math.prod(b.shape[j] for j in fb)))
    result = mv.reshape(matmul(a2, b2), tuple(a.shape[i] for i in fa) +
                        tuple(b.shape[j] for j in fb))
    if out is not None:
        from .torch_args import write_out
        return write_out(out, result, "tensordot")
    return result
