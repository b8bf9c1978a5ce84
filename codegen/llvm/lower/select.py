"""Index-selecting ops as index maps: argmax/argmin over a short dim, gather by indices that
are in range (how max pooling picks its element, and cross_entropy its target's
log-probability), the scatter_add that sends the gradient back through such a gather, and
a row lookup `x[idx]` by in-range indices (an embedding: its indices' guard runs before
the graph when they are an input, codegen/llvm/input_guards.py).

argmax/argmin at an output index is an unrolled compare chain over the reduced dim (up to
MAX_UNROLL elements: pooling windows), with numpy's rules: the first maximum wins, and a NaN
counts as the maximum (the first NaN wins). gather reads x where its index operand says;
it is lowered only when every index provably lies inside x's dim (passes/ranges.py: an
argmax/argmin over the same dim, a class target that a check_range guard has checked) --
any other gather keeps its numpy impl, which checks its indices (a native load cannot).
"""
from llvmlite import ir

from tracecomp.codegen.kernel_facts import (
    INDEX_DTYPES,
    gather_gradient,
    indexes_in_range,
    row_lookup,
    rows_in_range,
)
from tracecomp.passes import ranges

from .kernels import MOVEMENT, SUPPORT, c64, rule_for_dtype
from .ops import is_float

MAX_UNROLL = 64
I64 = ir.IntType(64)


def _index_value(k, idx, at):
    """idx's element at `at`, as an i64."""
    return k.e.convert(k.value(idx, at), idx.dtype, INDEX_DTYPES[0])


def _arg_extremum(greater):
    def index_map(k, node, index):
        x, dim, keep = node.inputs[0], node.params["dim"], node.params["keepdim"]
        b = k.b
        at = list(index) if keep else list(index[:dim]) + [None] + list(index[dim:])
        best, best_i = None, c64(0)
        for j in range(x.shape[dim]):
            at[dim] = c64(j)
            v = k.value(x, list(at))
            if best is None:
                best = v
                continue
            if is_float(x.dtype):
                beats = b.fcmp_ordered(">" if greater else "<", v, best)
                nan_first = b.and_(b.fcmp_unordered("uno", v, v),
                                   b.fcmp_ordered("ord", best, best))
                take = b.or_(beats, nan_first)
            else:
                take = b.icmp_signed(">" if greater else "<", v, best)
            best = b.select(take, v, best)
            best_i = b.select(take, c64(j), best_i)
        return best_i
    return index_map


def _gather(k, node, index):
    x, idx, dim = node.inputs[0], node.inputs[1], node.params["dim"]
    j = _index_value(k, idx, list(index))
    src = list(index)
    src[dim] = j
    return k.value(x, src)


def _row_lookup(k, node, index):
    """x[idx]: out[i..., j...] = x[idx[i...], j...], a negative index counting from the
    end (numpy's and torch's)."""
    x, idx = node.inputs[0], node.inputs[1]
    row = _index_value(k, idx, list(index[:idx.ndim]))
    if ranges.bounds(idx)[0] < 0:
        b = k.b
        row = b.select(b.icmp_signed("<", row, c64(0)), b.add(row, c64(x.shape[0])), row)
    return k.value(x, [row] + list(index[idx.ndim:]))


def _scatter_add(k, node, index):
    """scatter_add(base, dim, index, src) where index holds one argmax per window (size 1
    along dim): out[..., j, ...] = base[..., j, ...] + (src[..., 0, ...] if index[..., 0,
    ...] == j else 0) -- a compare, not a store through the index."""
    base, idx, src = node.inputs[:3]
    dim = node.params["dim"]
    b = k.b
    at_window = list(index)
    at_window[dim] = c64(0)
    hit = b.icmp_signed("==", _index_value(k, idx, list(at_window)), index[dim])
    total = k.operand(base, index, node.shape, node.dtype)
    add = b.fadd if is_float(node.dtype) else b.add
    picked = k.operand(src, at_window, node.shape, node.dtype)
    return add(total, b.select(hit, picked, k.e.const(0, node.dtype)))


def _arg_supported(node):
    dim = node.params["dim"]
    return dim is not None and 0 < node.inputs[0].shape[dim] <= MAX_UNROLL \
        and rule_for_dtype(node.inputs[0].dtype)


def _gather_supported(node):
    """Only indices that are in range by construction: an argmax/argmin over this dim."""
    x, idx, dim = node.inputs[0], node.inputs[1], node.params["dim"]
    return indexes_in_range(idx, dim, x) and rule_for_dtype(node.dtype)


def _row_lookup_supported(node):
    """A row lookup (kernel_facts.row_lookup) whose indices are rows by construction
    (checked before the graph when they are an input: input_guards.py); other advanced
    indexing keeps numpy's impl, which checks."""
    return row_lookup(node) and rows_in_range(node) and rule_for_dtype(node.dtype)


def _scatter_add_supported(node):
    return gather_gradient(node) and rule_for_dtype(node.dtype)


MOVEMENT.update(argmax=_arg_extremum(True), argmin=_arg_extremum(False), gather=_gather,
                scatter_add=_scatter_add, index=_row_lookup)
SUPPORT.update(argmax=_arg_supported, argmin=_arg_supported, gather=_gather_supported,
               scatter_add=_scatter_add_supported, index=_row_lookup_supported)
