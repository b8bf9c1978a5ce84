"""One fused group -> one LLVM function `void kernel(ptr in0, ..., ptr out)`.

Shapes are static, so every loop bound and stride is a constant. The kernel loops over
its iteration space (the root's shape; for a reduction, its input's shape) in C order, so
the innermost loop walks memory contiguously and vectorizes. The value of any member node
at a multi-index is emitted by `value()`, which maps the index through the node:

  - an external input (a buffer, C-contiguous) is loaded at its linear offset; dims of
    size 1 read index 0, which is how broadcasting costs nothing;
  - a movement op maps the index to its operand's index (permute: reorder; expand and
    broadcasting: 0 on stretched dims; slice: start + i * step; pad: i - low, with a
    select of the pad value outside; reshape: through the linear offset), so views are
    index arithmetic, never copies;
  - an elementwise op emits its rule (ops.py) on its operands' values, converted to the
    rule's compute type.

Values are memoized per (node, index) within one loop body. The walk from the root to
the loads is iterative (`value` keeps an explicit stack of the nodes waiting on an operand's
value), so a kernel of MAX_MEMBERS chained ops emits from any Python stack depth; an index
map that is a plain function (MOVEMENT: select.py, window.py) still calls `value` itself,
one nesting per such node.

Reductions are built on KernelBuilder in reductions.py.
"""
import math

import numpy as np
from llvmlite import ir

from tracecomp.codegen import index_maps, loop_dims
from tracecomp.codegen.kernel_facts import operand_dtypes
from tracecomp.ir import Node
from tracecomp.symbolic import RuntimeNumber, Sym, is_static

from ..runtime import host_cpu
from .index_ops import IndexOps
from .ops import BF16, BOOL, Emitter, ir_type, rule_for

I32, I64 = ir.IntType(32), ir.IntType(64)
PTR = ir.PointerType()


def c64(v):
    return ir.Constant(I64, int(v))


def contiguous_strides(shape):
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return strides[::-1]


def _freeze(b, value):
    """`freeze value`: the value itself (a load is never poison here). llvmlite's builder
    has no freeze, so the instruction is made and inserted as its own methods do."""
    instr = ir.instructions.Instruction(b.block, value.type, "freeze", [value])
    b._insert(instr)
    return instr


def kernel_type(group, ranged=False):
    """The LLVM type of a group's kernel: void(each input, the output, each store[, start,
    stop][, sizes, numbers]) (KernelBuilder), also what a graph declares for a kernel that
    another graph compiled (kernel_reuse.py)."""
    n = len(group.inputs) + 1 + len(group.stores)
    return ir.FunctionType(ir.VoidType(), [PTR] * n + [I64] * (2 if ranged else 0)
                           + [PTR, PTR] * group.sized)


class KernelBuilder:
    """ranged: the function takes two more arguments, i64 start and stop, and runs only
    indices [start, stop) of dim 0 of its loops (0 <= start < stop <= the extent), so
    threads can share a kernel whose dim 0 iterations are independent.

    A group of a dynamic graph (group.sized) has Syms among its sizes and RuntimeNumbers
    among its operands (tracecomp/symbolic.py): its kernel takes two more arguments, the
    table of the sizes (ptr to i64, one per symbol) and the table of the numbers at them
    (ptr to doubles); every size reaches the IR through `int()`, every number through
    `scalar()`. A question about a size that the symbols decide raises Undecided (the
    caller, codegen/llvm/sized.py, then runs the group from numpy)."""

    def __init__(self, module, group, name, ranged=False):
        self.module, self.group = module, group
        self.members = set(group.nodes)
        n = len(group.inputs) + 1 + len(group.stores)
        self.fn = ir.Function(module, kernel_type(group, ranged), name=name)
        for arg in self.fn.args[:n]:
            arg.add_attribute("noalias")
        self.ptr = dict(zip(group.inputs, self.fn.args))
        self.out = self.fn.args[len(group.inputs)]
        # where the kernel stores its other values (elementwise groups' stores), in order
        self.store_ptrs = self.fn.args[len(group.inputs) + 1:n]
        self.range = tuple(self.fn.args[n:n + 2]) if ranged else None
        self.sizes, self.numbers = self.fn.args[-2:] if group.sized else (None, None)
        self.b = ir.IRBuilder(self.fn.append_basic_block("entry"))
        # the symbols' sizes, loaded first thing (so they dominate every use)
        self.symbols = [self.b.load(self.b.gep(self.sizes, [c64(k)], source_etype=I64),
                                    typ=I64) for k in range(group.symbols * group.sized)]
        self.e = Emitter(self.b, module)
        # integer arithmetic for the shared index maps
        self.ix = IndexOps(self.b, self.int if group.sized else None)
        self.memo = {}
        self.stack = []     # the frames value() keeps (see value)
        self.shapes = {}    # node -> the shape the kernel reads it in (coalesced loops)
        # An in-place kernel (passes/in_place.py) stores select(c, load p, x) back at p:
        # LLVM's x86 backend makes that a masked store of x, which costs ~13 cycles a vector
        # where masked stores are microcoded (AVX2 on AMD): the bench MLP's backward ReLU
        # mask, 64 x 256 in place, ran 6.8 us against 1.3 with the loads frozen (znver4,
        # TRACECOMP_CPU_FEATURES=-avx512f). A frozen load is no load to the pattern.
        self.freeze_loads = not host_cpu.native_masked_stores()

    # --- loops ------------------------------------------------------------------------------
    def loops(self, shape, body, plain=False, unmasked=None):
        """Nested counted loops over `shape` (C order); body(index list) emits one element.
        plain: LLVM may vectorize them but neither unroll nor interleave them
        (_plain_loop_id), unless the body calls mathlib (MATH_INTERLEAVE). unmasked: the
        loop at this position from the innermost (-1 the innermost, -2 the next) is
        neither unrolled nor vectorized with a masked tail (_unmasked_loop_id)."""
        if math.prod(shape) == 0:
            return
        b, index = self.b, []
        exits = []
        for d, extent in enumerate(shape):
            start, stop = self.range if d == 0 and self.range else (c64(0), self.int(extent))
            if extent == 1 and not (d == 0 and self.range):
                index.append(c64(0))
                continue
            i = loop_head(b, start)
            index.append(i)
            exits.append((i, stop))
        self.memo = {}
        calls = self.e.math_calls
        body(index)
        # a body with a transcendental is one long chain of dependent operations per vector:
        # interleaved, several vectors' chains overlap (see MATH_INTERLEAVE)
        # (not where the loop is short: the interleaved copies cost compile time and win
        # nothing there, MATH_INTERLEAVE_FROM)
        long = not all(isinstance(n, int) for n in shape) or \
            math.prod(shape) >= MATH_INTERLEAVE_FROM
        interleave = MATH_INTERLEAVE if self.e.math_calls > calls and long else 1
        for i, stop in reversed(exits):
            latch = loop_latch(b, i, stop)
            if plain:
                latch.set_metadata("llvm.loop", _plain_loop_id(self.module, interleave))
            elif unmasked is not None and len(exits) >= -unmasked and \
                    i is exits[unmasked][0]:
                latch.set_metadata("llvm.loop", _unmasked_loop_id(self.module))

    def finish(self):
        self.b.ret_void()
        return self.fn

    def int(self, v):
        """An i64 for size v: a constant, or a Sym's value at the kernel's sizes (emitted
        where the builder is; LLVM hoists it out of the loops)."""
        if not isinstance(v, Sym):
            return c64(v)
        out = None
        for powers, c in v.terms.items():
            term = c64(c)
            for k, e in enumerate(powers):
                for _ in range(e):
                    term = self.b.mul(term, self.symbols[k])
            out = term if out is None else self.b.add(out, term)
        return out

    # --- memory -------------------------------------------------------------------------
    def address(self, base, shape, index, dtype):
        offset = c64(0)
        for i, extent, stride in zip(index, shape, contiguous_strides(shape)):
            if extent != 1:
                offset = self.b.add(offset, self.b.mul(i, self.int(stride),
                                                       flags=["nuw", "nsw"]))
        return self.b.gep(base, [offset], inbounds=True, source_etype=ir_type(dtype, True))

    def load(self, base, shape, index, dtype):
        v = self.b.load(self.address(base, shape, index, dtype), typ=ir_type(dtype, True))
        if self.freeze_loads:
            v = _freeze(self.b, v)
        if np.dtype(dtype) == BF16:
            return self.e.load_bf16(v)
        return self.b.trunc(v, ir.IntType(1)) if np.dtype(dtype) == BOOL else v

    def store(self, value, base, shape, index, dtype):
        if np.dtype(dtype) == BOOL:
            value = self.b.zext(value, ir.IntType(8))
        elif np.dtype(dtype) == BF16:
            value = self.e.store_bf16(value)
        self.b.store(value, self.address(base, shape, index, dtype))

    # --- values -------------------------------------------------------------------------
    def value(self, node, index):
        """node's value at index (a list of i64 values), memoized per loop body.

        Iterative: a node whose value needs an operand's value first (an elementwise op, an
        index map of INDEX_MAPS) waits in a _Frame on an explicit stack while the operand is
        computed, so the length of the kernel's member chain never becomes Python
        recursion. One stack serves the builder; a plain index map (MOVEMENT) that calls
        value again works above the frames waiting below it.

        The IR is the recursive walk's, instruction for instruction: operands left to
        right, depth first. The memo keys an index by value where it is a constant (a
        size-1 dim's c64(0) is made afresh per read and freed after it: keyed by id, a
        later constant at the same address would hit another index's value) and by id
        where it is an instruction (the function holds it, so its id stays its own)."""
        stack = self.stack
        base = len(stack)
        got = self._lookup(node, index)
        while len(stack) > base:
            frame = stack[-1]
            if frame.rule is not None:
                got = self._resume(frame, got)
            elif got is None:       # a fresh index map's frame: ask for its operand
                got = self._lookup(frame.x, frame.index)
            else:                   # an index map's operand value is in
                stack.pop()
                got = self.memo[frame.key] = got if frame.then is None else frame.then(got)
        return got

    def _lookup(self, node, index):
        """node's value at index when it is at hand (memoized, loaded, computed by a plain
        index map); else None, with a fresh frame for node pushed on the stack."""
        key = (node, tuple(_index_key(i) for i in index))
        hit = self.memo.get(key)
        if hit is not None:
            return hit
        if node not in self.members:
            hit = self.memo[key] = self.load(self.ptr[node], self.shape(node), index,
                                             node.dtype)
            return hit
        index_map = INDEX_MAPS.get(node.op)
        if index_map is not None:
            x, src, then = index_map(self, node, index)
            if x is None:       # the map read a buffer itself
                self.memo[key] = src
                return src
            self.stack.append(_Frame(key, node, src, x=x, then=then))
            return None
        mapping = MOVEMENT.get(node.op)
        if mapping is not None:
            hit = self.memo[key] = mapping(self, node, index)
            return hit
        rule, dtype = rule_for(node)
        self.stack.append(_Frame(key, node, index, rule, dtype, operand_dtypes(node)))
        return None

    def _resume(self, frame, got):
        """Continue an elementwise frame, given `got`, the value of the operand it waited
        for (None when fresh): ask for its operands in order; when all are in, apply the
        rule, pop the frame and return the node's value (None while it waits again)."""
        node, operands = frame.node, frame.operands
        while True:
            if got is not None:
                operands.append(self.e.convert(got, frame.x.dtype, frame.want))
                got = None
            for x, want in frame.todo:
                if not isinstance(x, Node):
                    operands.append(self.scalar(x, want))
                    continue
                frame.x, frame.want = x, want
                got = self._lookup(x, _broadcast_index(frame.index, self.shape(node),
                                                       self.shape(x)))
                if got is None:         # x's frame is on the stack now
                    return None
                break
            else:
                break
        self.stack.pop()
        got = self.memo[frame.key] = operands[0] if node.op == "cast" else \
            frame.rule(self.e, operands, node, frame.dtype)
        return got

    def operand(self, x, index, shape, dtype):
        """Operand x of a node of `shape` at `index` (numpy broadcasting), as `dtype`."""
        if not isinstance(x, Node):
            return self.scalar(x, dtype)
        return self.e.convert(self.value(x, _broadcast_index(index, shape, x.shape)), x.dtype,
                              dtype)

    def scalar(self, x, dtype):
        """A Python number operand as dtype; a Sym one (a mean's count) from s, a
        RuntimeNumber from the numbers' table."""
        if isinstance(x, Sym):
            return self.e.convert(self.int(x), np.dtype(np.int64), dtype)
        if isinstance(x, RuntimeNumber):
            where = self.b.gep(self.numbers, [c64(x.index)], source_etype=ir.DoubleType())
            return self.e.convert(self.b.load(where, typ=ir.DoubleType()),
                                  np.dtype(np.float64), dtype)
        return self.e.const(x, dtype)

    def shape(self, node):
        return self.shapes.get(node, node.shape)


# Vector bodies interleaved in an elementwise loop that calls mathlib (tanh, exp, erf, ...).
# Not interleaved, such a loop is latency-bound: tanh's ~40 dependent instructions a vector
# fill the reorder buffer with a few iterations, which then also wait on their loads. On
# znver3 (AVX2, 2 threads, 4M float32 elements, x*a+b into the function, GB/s of the 4
# arrays, interleave 1 / 2 / 4 / 8, one process, alternating): gelu(tanh) 24.2 / 30.8 /
# 35.0 / 33.6, gelu(erf) 39.6 / 40.5 / 45.9 / 42.3, sigmoid 32.6 / 37.1 / 40.8 / 40.8, silu
# 31.2 / 33.8 / 39.9 / 38.5, tanh 38.3 / 41.0 / 44.7 / 39.7, exp 41.8 / 45.3 / 47.0 / 46.2;
# x*a+b alone 56.8 / 62.2 / 60.1 / 56.0 (memory-bound: it stays at 1). One thread, 1 / 4:
# gelu(tanh) 12.0 / 17.6, sigmoid 16.4 / 20.6, tanh 19.6 / 22.3.
MATH_INTERLEAVE = 4
# Elements from which such a loop is interleaved (one of a size only known at run time is).
# Below, it runs a few microseconds at most, and the 4 copies of its body cost LLVM time: the
# MLP training step's graph module (a 64 x 10 softmax's exp and log) compiled in 454 ms with
# them, 349 without (znver3).
MATH_INTERLEAVE_FROM = 8192


def _plain_loop_id(module, interleave=1):
    """A loop's metadata telling LLVM not to unroll it, and to interleave its vector body
    `interleave` times (1: not at all).

    With constant trip counts LLVM unrolls elementwise loops into many copies that gain
    nothing (they are memory-bound): on znver3 the MLP training step compiled in 0.35 s
    instead of 0.68 s without them, and ran no slower. Reductions keep both, which give
    them several accumulators (unroll.disable alone stops the interleaving too: a 2048x2048
    row sum took 0.61 ms instead of 0.36), and so do window loops (convolution, pooling),
    whose short inner loops ran ~30 % faster unrolled. A loop ID refers to itself first
    (LLVM's rule) and is one node per loop."""
    options = [module.add_metadata([ir.MetaDataString(module, "llvm.loop.unroll.disable")]),
               module.add_metadata([ir.MetaDataString(module, "llvm.loop.interleave.count"),
                                    ir.Constant(I32, interleave)])]
    # the count makes the node unique (add_metadata returns an equal node it already has)
    loop_id = module.add_metadata(options + [ir.Constant(I64, len(module.metadata))])
    loop_id.operands = (loop_id, *loop_id.operands)
    return loop_id


def _unmasked_loop_id(module):
    """A loop's metadata: keep it a loop (no unrolling), and vectorize it, if at all,
    without a masked tail. Unrolled whole, a loop shorter than one vector (a pooled row of
    10 floats under AVX-512's 16 lanes) was packed into one masked vector whose loads and
    stores were gathers and scatters (window.py `_tiling_fold`)."""
    options = [module.add_metadata([ir.MetaDataString(module,
                                                      "llvm.loop.vectorize.predicate.enable"),
                                    ir.Constant(ir.IntType(1), 0)]),
               module.add_metadata([ir.MetaDataString(module, "llvm.loop.unroll.disable")])]
    loop_id = module.add_metadata(options + [ir.Constant(I64, len(module.metadata))])
    loop_id.operands = (loop_id, *loop_id.operands)
    return loop_id


def _index_key(i):
    """One index value in a memo key: a constant by its value, an instruction by id."""
    return (str(i.type), i.constant) if isinstance(i, ir.Constant) else id(i)


class _Frame:
    """A node waiting in KernelBuilder.value for an operand's value: an elementwise node
    (rule set: its operands so far, the (operand, dtype) pairs still to read, the operand x
    it waits for) or an index map's (rule None: x at index, then)."""

    __slots__ = ("dtype", "index", "key", "node", "operands", "rule", "then", "todo",
                 "want", "x")

    def __init__(self, key, node, index, rule=None, dtype=None, wants=None, x=None,
                 then=None):
        self.key, self.node, self.index, self.rule, self.dtype = key, node, index, rule, dtype
        self.x, self.then, self.want = x, then, None
        self.operands = [] if rule is not None else None
        self.todo = zip(node.inputs, wants) if rule is not None else None


def _broadcast_index(index, shape, x_shape):
    """The index into an operand of x_shape (numpy-broadcast to `shape`) of the element at
    `index`."""
    return index_maps.broadcast(_CONSTANTS, index, shape, x_shape)


_CONSTANTS = IndexOps(None)     # enough where a map only needs constants (broadcast)


# --- movement ops as index maps (codegen/index_maps.py), in the kernel's terms --------------
def _permute(k, node, index):
    return node.inputs[0], index_maps.permute(k.ix, index, node.params["dims"]), None


def _expand(k, node, index):
    x = node.inputs[0]
    return x, _broadcast_index(index, node.shape, x.shape), None


def _slice(k, node, index):
    p = node.params
    return node.inputs[0], index_maps.slice_(k.ix, index, p["starts"], p["steps"]), None


def _reshape(k, node, index):
    x = node.inputs[0]
    if x not in k.members:      # a stored buffer is C-contiguous: read it in the new shape
        return None, k.load(k.ptr[x], node.shape, index, x.dtype), None
    return x, index_maps.reshape(k.ix, index, node.shape, x.shape), None


def _pad(k, node, index):
    """The pad value where the output element lands on no input element."""
    x = node.inputs[0]
    src, inside = index_maps.pad(k.ix, index, x.shape, node.params["config"])
    fill = k.e.const(node.params["value"], node.dtype)
    return x, src, lambda v: k.b.select(inside, v, fill)


def _flip(k, node, index):
    return node.inputs[0], index_maps.flip(k.ix, index, node.shape, node.params["dims"]), None


# concat reads every piece at each output element and keeps one with a select chain, so a
# concat of many pieces (an unrolled RNN's outputs) stays a numpy step
MAX_PIECES = 8


def _concat(k, node, index):
    d = node.params["dim"]
    value = None
    for piece, at, starts in index_maps.concat(k.ix, index, d,
                                               [x.shape[d] for x in node.inputs]):
        x = node.inputs[piece]
        v = k.e.convert(k.value(x, at), x.dtype, node.dtype)
        value = v if value is None else k.b.select(starts, v, value)
    return value


def _concat_supported(node):
    pieces = [x for x in node.inputs if x.shape[node.params["dim"]]]
    return 0 < len(pieces) <= MAX_PIECES and node.size > 0 and rule_for_dtype(node.dtype) \
        and all(rule_for_dtype(x.dtype) for x in pieces)


# op -> index map(k, node, index) -> (operand, operand's index, then): node's value at index
# is then(operand's value there), or that value when then is None; operand None: the index
# is the value itself (read from a buffer). KernelBuilder.value walks these without
# recursing.
INDEX_MAPS = {"permute": _permute, "expand": _expand, "slice": _slice, "reshape": _reshape,
              "pad": _pad, "flip": _flip}
# op -> index map(k, node, index) -> node's value at index, calling k.value for what it reads
# (one nesting per such node): window.py adds unfold (im2col), select.py argmax and gather.
MOVEMENT = {"concat": _concat}
SUPPORT = {"concat": _concat_supported}     # op -> predicate, for index maps that only some
#                                             nodes may use (concat here, select.py's)


# --- kernels ----------------------------------------------------------------------------------
def elementwise_kernel(module, group, name, ranged=False):
    k = KernelBuilder(module, group, name, ranged)
    shape = _coalesced(k, group, ranged)
    loops = _short_tail_merged(shape, keep_first=ranged)

    def body(idx):
        if len(loops) < len(shape):       # split the merged index back into the dims
            tail = shape[len(loops) - 1:]
            idx = list(idx[:-1]) + _digits(k, idx[-1], tail)
        # every value of this index before any store: a store may go over an input it
        # reads (passes/donation.py), so each element is loaded before it is overwritten
        values = [(k.value(v, idx), ptr, v.dtype) for v, ptr in
                  zip(group.values(), [k.out, *k.store_ptrs])]
        for value, ptr, dtype in values:
            k.store(value, ptr, shape, idx, dtype)
    k.loops(loops, body, plain=True)
    return k.finish()


def loop_head(b, start):
    """Open a counted loop at the builder's position: its counter, from start (the body
    runs at least once); loop_latch closes it."""
    head = b.append_basic_block("loop")
    pre = b.block
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64)
    i.add_incoming(start, pre)
    return i


def loop_latch(b, i, stop):
    """Close loop_head's loop: count i up, back while below stop; the builder continues
    after the loop. Returns the latch branch (for loop metadata)."""
    nxt = b.add(i, c64(1), flags=["nuw", "nsw"])
    i.add_incoming(nxt, b.block)
    done = b.append_basic_block("done")
    latch = b.cbranch(b.icmp_unsigned("<", nxt, stop), i.parent, done)
    b.position_at_end(done)
    return latch


def _coalesced(k, group, ranged):
    """The loop shape of an elementwise group, its dims merged where every member and
    operand allows (codegen/loop_dims.py); k reads each node in its merged shape. Groups
    with a movement op keep the root's shape: their index maps are written per dim."""
    root = group.root
    if any(n.op in INDEX_MAPS or n.op in MOVEMENT for n in group.nodes):
        return root.shape
    nodes = list(dict.fromkeys(group.nodes + group.inputs))
    shape, merged = loop_dims.merged_shapes(root.shape, [n.shape for n in nodes], ranged)
    k.shapes = dict(zip(nodes, merged))
    return shape


# The innermost length below which _short_tail_merged merges dims: a heuristic threshold,
# not a correctness condition. 16 is an AVX-512 float32 vector, and it stays 16 on AVX2 by
# measurement. On znver3 an elementwise kernel took, with 16 vs 8: 128x64x14 53 vs 67 us;
# 64x16x10x10, 256x12x12 and 512x9x9 within noise (min of 7x200, 3 runs each).
VECTOR = 16


def _short_tail_merged(shape, keep_first=False):
    """shape with its last dims merged while the innermost is shorter than a vector: a
    (64, 16, 10, 10) kernel loops over (64, 16, 100), so LLVM vectorizes a 100-long loop
    instead of a 10-long one (which it vectorized across the outer loop, with gathers: 0.9
    ns per element instead of ~0.1). The merged index is split back with divisions by
    constants, which instcombine cancels where the members merge the dims again (a reshape
    of the same buffer)."""
    shape = list(shape)
    # a dynamic size counts as long: it is at least 2, and likely more than a vector
    while len(shape) > 1 + keep_first and is_static(shape[-1]) and shape[-1] < VECTOR:
        shape[-2:] = [shape[-2] * shape[-1]]
    return tuple(shape)


def _digits(k, v, sizes):
    """Linear index v over `sizes` (C order) -> one index per dim."""
    b, out = k.b, []
    for size in reversed(sizes[1:]):
        out.append(b.urem(v, k.int(size)) if size > 1 else c64(0))
        v = b.udiv(v, k.int(size)) if size > 1 else v
    return [v] + out[::-1]


REDUCE_INIT = {"reduce_sum": 0.0, "reduce_max": -np.inf, "reduce_min": np.inf,
               "reduce_prod": 1.0}


def supported(node):
    """Whether a kernel can compute node (the fusion pass asks, per node)."""
    if node.op in ("input", "constant"):
        return True
    if node.op in SUPPORT:
        return SUPPORT[node.op](node)
    if node.op == "fold":             # window.fold_kernel: a gather-sum, no atomics
        return rule_for_dtype(node.dtype)
    if node.op in MOVEMENT or node.op in INDEX_MAPS:
        return node.dtype in (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64),
                              np.dtype(np.int32), BOOL, BF16)
    if node.op in REDUCE_INIT:
        return node.dtype != BOOL and node.inputs[0].dtype == node.dtype \
            and rule_for_dtype(node.dtype)
    if node.op == "matmul":
        return _gemm_shaped(node) and node.dtype in (np.dtype(np.float32),
                                                     np.dtype(np.float64)) \
            and all(i.dtype == node.dtype for i in node.inputs)
    if "elementwise" in node.prim.tags:
        return rule_for(node) is not None
    return False


def _gemm_shaped(node):
    """A matmul the entry can run as gemms: 2-D, or batched where each operand has either
    the output's batch dims or none (one matrix shared by every item)."""
    if node.ndim < 2 or any(i.ndim < 2 for i in node.inputs):
        return False
    batch = tuple(node.shape[:-2])
    return all(i.ndim == 2 or tuple(i.shape[:-2]) == batch for i in node.inputs)


def rule_for_dtype(dtype):
    return np.dtype(dtype) in (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64),
                               np.dtype(np.int32))
