"""One native entry point per native segment of the schedule (passes/schedule.py): a
compiled call crosses into native code once per segment, not once per kernel.

    layout = schedule.plan(graph, fusion_plan, memory_plan, native)   # segments, slots
    names = emit(module, layout, memory_plan, kernel_names, gemm, cuts)   # `void entryJ(ptr)`

A split kernel (parallel.py) gets an entry of its own that takes a range of dim 0:
`void entryJ(ptr slots, i64 start, i64 stop)`; so does a large product, whose range is one
of blocks of C's rows or columns (parallel.gemm_split), each range one gemm; or of blocks
of K, the first block's partial product into C and the others' into a scratch value
(memory.PartialProducts), which a "sum" step (an entry of its own) then adds into C. A run of
consecutive steps (schedule.Layout.runs) gets `void runK(ptr slots, ptr pool, ptr pool_split,
i64 parts)`, which calls their entries and hands each split one to the native thread pool.

Every entry function takes, first, a pointer to the call's slot array:

    slot 0            the arena (intermediates sit at memory-plan offsets from it)
    slots 1..         one pointer per buffer that is not in the arena: constants, graph
                      inputs, per-call output buffers, results of Python steps

The slot numbering is shared by all the segments of a graph, so a runner fills one array
per call (a Python step's result is stored into its slot before the next segment runs).
The entry loads what its groups need and calls them in order:

    define void @entry0(ptr %slots) {
      %arena = load ptr, ptr %slots
      %x = load ptr, ptr (gep %slots, 3)                 ; a graph input
      %a0 = gep i8, ptr %arena, 0                        ; an intermediate
      call @scipy_cblas_sgemm64_(101, 111, 112, ...)     ; %a0 = x @ w1^T (a transpose read
      call @kernel1_relu(ptr %a0, ptr %b1, ptr %a1)      ;   by the BLAS, no copy)
      ...
    }

Kernels stay separate functions, called directly (LLVM may inline them; the dumps still
name each one). A matmul absorbs transposes of its operands as the BLAS trans flags, as
the per-kernel runner does with numpy views.
"""
import math

from llvmlite import ir

from tracecomp.passes.chunks import chunk_bytes

from ..gemm import first_calls
from ..gemm.blas import emit_gemm_call
from .kernels import c64, loop_head, loop_latch

PTR, I8, I64 = ir.PointerType(), ir.IntType(8), ir.IntType(64)


# An entry that calls more kernels than this is left unoptimized (optnone): it is a list of
# calls with constant pointer offsets, where optimization finds little, while LLVM's O2 on
# an unrolled RNN's ~10^4 calls took minutes (time_sequence_prediction over 300 steps: 98 s
# of a 208 s compile). The kernels it calls are optimized as usual.
OPTIMIZE_MAX_CALLS = 1000


def emit(module, layout, memory_plan, kernel_names, gemm, cuts, profile=None):
    """Add one `void entryJ(ptr slots)` per native segment to module, and one
    `void entryJ(ptr slots, i64 start, i64 stop)` per split kernel (built ranged); returns
    their names. `gemm(group)` is what computes a product group: the BLAS symbol
    (blas.GemmSymbol) or the generated GEMM for its transposes, declared in the module
    (gemm/shared.py compiles it once per process). cuts: {product: (axis, width)}, how
    each split product is cut (parallel.gemm_split).

    profile: a list, to time every kernel and product (TRACECOMP_PROFILE=1): each call is
    bracketed by clock_gettime and adds its nanoseconds and 1 to a pair of int64 counters
    (atomically: a split kernel's pieces add theirs from every thread) in the array whose
    address is the slot after the layout's; the list gets each pair's group, in order."""
    slot = {n: k + 1 for k, n in enumerate(layout.slots)}
    counters = len(layout.slots) + 1
    names = []
    for step in layout.program:
        if step.kind == "python":
            continue
        ranged = step.kind in ("split", "chunks")
        fnty = ir.FunctionType(ir.VoidType(), [PTR] + [I64, I64] * ranged)
        fn = ir.Function(module, fnty, step.name)
        # a chunk loop is a loop of calls (its kernels, its gemm): optimizing it finds
        # nothing worth its compile time (ResNet-18's step has ~60 of them)
        if len(step.groups) > OPTIMIZE_MAX_CALLS or step.kind == "chunks":
            fn.attributes.add("noinline")       # optnone requires it
            fn.attributes.add("optnone")
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        pointer = _Pointers(b, fn.args[0], slot, memory_plan)
        for g in step.groups:
            if step.kind == "chunks" and g is not step.loop.product:
                continue        # the loop calls them (profiled as the product's time)
            start = clock_ns(b) if profile is not None else None
            if step.kind == "chunks":
                _chunk_loop(b, step.loop, pointer, kernel_names, gemm(g), fn.args[1:])
            elif step.kind == "sum" and step.loop is None:     # a product's blocks of K
                _sum_blocks(b, g.root, pointer, memory_plan.partials[g.root])
            elif step.kind == "sum":
                _sum_partials(b, step.loop, pointer)
            elif g.kind == "matmul":
                _matmul(b, g, pointer, gemm(g), fn.args[1:] if ranged else None,
                        cuts.get(g.root), memory_plan.partials.get(g.root))
            else:
                callee = module.get_global(kernel_names[g.root])
                b.call(callee, [pointer(x) for x in g.inputs + g.values()]
                       + list(fn.args[1:]))
            if start is not None:
                at = b.load(b.gep(fn.args[0], [c64(counters)], source_etype=PTR), typ=PTR)
                pair = b.gep(at, [c64(2 * len(profile))], source_etype=I64)
                b.atomic_rmw("add", pair, b.sub(clock_ns(b), start), "monotonic")
                b.atomic_rmw("add", b.gep(pair, [c64(1)], source_etype=I64), c64(1),
                             "monotonic")
                profile.append((step, g))
        b.ret_void()
        names.append(step.name)
    for run in layout.runs():
        _run_function(module, run)
        names.append(run.name)
    return names


# tc_pool_split(pool state, entry, slots, n, parts): the native pool's rule for cutting a
# split step (runtime/native_pool.py), which a run is handed at call time, not linked to
POOL_SPLIT = ir.FunctionType(ir.VoidType(), [PTR, PTR, PTR, I64, I64])
RUN_TYPE = ir.FunctionType(ir.VoidType(), [PTR, PTR, POOL_SPLIT.as_pointer(), I64])


def _run_function(module, run):
    """`void runK(ptr slots, ptr pool, ptr pool_split, i64 parts)`: the run's entries in
    order, each split step handed to `pool_split` with its extent (parts 1: the caller
    has no pool now, and the steps run whole)."""
    fn = ir.Function(module, RUN_TYPE, run.name)
    fn.attributes.add("noinline")       # a list of calls: nothing to optimize (optnone
    fn.attributes.add("optnone")        # requires noinline), and no entry inlined into it
    slots, pool, pool_split, parts = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    for step in run.steps:
        callee = module.get_global(step.name)
        if step.kind in ("split", "chunks"):
            b.call(pool_split, [pool, callee, slots, c64(step.extent), parts])
        else:
            b.call(callee, [slots])
    b.ret_void()


def clock_ns(b):
    """CLOCK_MONOTONIC now, in nanoseconds (libc's clock_gettime: ~20 ns through the vDSO)."""
    module = b.module
    fn = module.globals.get("clock_gettime") or ir.Function(
        module, ir.FunctionType(ir.IntType(32), [ir.IntType(32), PTR]), "clock_gettime")
    here = b.block
    b.position_at_start(b.function.entry_basic_block)     # allocas first, as LLVM wants
    ts = b.alloca(ir.ArrayType(I64, 2))
    b.position_at_end(here)
    b.call(fn, [ir.Constant(ir.IntType(32), 1), ts])        # 1: CLOCK_MONOTONIC on Linux
    sec = b.load(b.gep(ts, [c64(0), c64(0)], source_etype=ir.ArrayType(I64, 2)), typ=I64)
    nsec = b.load(b.gep(ts, [c64(0), c64(1)], source_etype=ir.ArrayType(I64, 2)), typ=I64)
    return b.add(b.mul(sec, c64(1_000_000_000)), nsec)


class _Pointers:
    """node -> the IR pointer to its buffer: the arena plus its offset, an output's buffer
    plus its offset (memory.MemoryPlan.hosted), or its slot."""

    def __init__(self, builder, slots, slot, memory_plan):
        self.b, self.slots, self.slot, self.mem = builder, slots, slot, memory_plan
        self.arena = builder.load(slots, typ=PTR, name="arena")
        self.cache = {}

    def __call__(self, node):
        base = self.mem.base(node)
        hit = self.cache.get(base)
        if hit is None:
            b = self.b
            if base in self.mem.offsets:
                hit = b.gep(self.arena, [c64(self.mem.offsets[base])], inbounds=True,
                            source_etype=I8)
            elif base in self.mem.hosted:       # in an output's buffer, not yet written
                host, offset = self.mem.hosted[base]
                hit = b.gep(self(host), [c64(offset)], inbounds=True, source_etype=I8)
            else:
                where = b.gep(self.slots, [c64(self.slot[base])], inbounds=True,
                              source_etype=PTR)
                hit = b.load(where, typ=PTR)
            self.cache[base] = hit
        return hit


def matmul_operands(group):
    """[(stored node, transposed?)] for a 2-D matmul group's two operands: a transpose in
    the group is read as its input with the BLAS trans flag."""
    members = set(group.nodes)
    return [(x.inputs[0], True) if x in members else (x, False) for x in group.root.inputs]


def _matmul(b, group, pointer, sym, blocks=None, cut=None, partials=None):
    """One gemm, or for a batched matmul a loop of gemms over the flattened batch (an
    operand without batch dims is shared by every item: its batch stride is 0). blocks:
    (start, stop), the range of the blocks this call computes, of C or of K as `cut`
    (parallel.gemm_split's answer) says; blocks of K after the first go to `partials`
    (memory.PartialProducts)."""
    (a, trans_a), (w, trans_b) = matmul_operands(group)
    root = group.root
    m, n = root.shape[-2:]
    k = a.shape[-2] if trans_a else a.shape[-1]
    batch = math.prod(root.shape[:-2])
    if m == 0 or n == 0 or batch == 0:
        return
    out = pointer(root)
    if k == 0:              # an empty sum: zeros (BLAS is not asked to decide)
        fnty = ir.FunctionType(ir.VoidType(), [PTR, I8, I64, ir.IntType(1)])
        memset = b.module.declare_intrinsic("llvm.memset", [PTR, I64], fnty)
        b.call(memset, [out, ir.Constant(I8, 0), c64(batch * m * n * root.dtype.itemsize),
                        ir.Constant(ir.IntType(1), 0)])
        return
    size = root.dtype.itemsize
    # row-major leading dimension: the stored row length, at least 1 (BLAS rejects 0)
    lda, ldw = c64(max(1, a.shape[-1])), c64(max(1, w.shape[-1]))
    pa, pw = pointer(a), pointer(w)
    if blocks is not None:
        after = pointer(partials) if partials is not None else None
        _gemm_blocks(b, cut, sym, blocks, (m, n, k, size), (pa, lda, trans_a),
                     (pw, ldw, trans_b), (out, after))
        return
    if batch == 1:
        product_call(b, sym, c64(m), c64(n), c64(k), pa, lda, pw, ldw, out, c64(n), trans_a,
                     trans_b)
        return
    strides = [c64(math.prod(x.shape[-2:]) * size if x.ndim > 2 else 0) for x in (a, w)]
    i = loop_head(b, c64(0))

    def at(base, stride):
        return b.gep(base, [b.mul(i, stride)], inbounds=True, source_etype=I8)
    product_call(b, sym, c64(m), c64(n), c64(k), at(pa, strides[0]), lda, at(pw, strides[1]), ldw,
                 at(out, c64(m * n * size)), c64(n), trans_a, trans_b)
    loop_latch(b, i, c64(batch))


def _chunk_loop(b, loop, pointer, kernel_names, sym, pieces):
    """A chunk loop (passes/chunks.py) over slots [start, stop): slot s computes chunks
    [s*J/S, (s+1)*J/S) one at a time, with scratch chunks of its own for the operands the
    loop's makers compute (their kernels ranged over the chunk) and for the product's output
    where a consumer reads it (its kernel ranged over the chunk's samples). A scratch chunk
    stands at the chunk's place in the whole value: the kernels are given its address
    minus j chunks, so chunk j's elements land in it."""
    product, consumer = loop.product, loop.consumer
    root = product.root
    (a, trans_a), (w, trans_b) = matmul_operands(product)
    m, n = root.shape[-2:]
    k = a.shape[-2] if trans_a else a.shape[-1]
    size, chunks, slots = root.dtype.itemsize, loop.chunks, loop.slots
    if loop.rows:       # a row loop (passes/row_loops.py): chunk j is C's rows j*rows..
        m = loop.rows
    item = m * n * size
    mem = pointer.mem
    # every pointer is loaded up front, in the entry block, which dominates the loops
    args = {g.root: [pointer(x) for x in g.inputs + g.values()] for g in loop.groups
            if g is not product}
    operands = [(x, pointer(x), c64(max(1, x.shape[-1]))) for x in (a, w)]
    out = pointer(root)
    made = {g.root: (pointer(g.root), chunk_bytes(g.root)) for g in loop.makers}

    def at(base, offset):
        return b.gep(base, [offset], source_etype=I8)       # not inbounds: may point before

    def run(group, value, scratch, shift, start, stop):
        """The group's kernel over [start, stop), reading or writing `value` in scratch
        moved back by `shift` bytes (chunk j's offset in the whole value)."""
        values = [at(scratch, b.neg(shift)) if mem.base(x) is value else p
                  for x, p in zip(group.inputs + group.values(), args[group.root])]
        b.call(b.module.get_global(kernel_names[group.root]), values + [start, stop])

    s = loop_head(b, pieces[0])
    lo = b.udiv(b.mul(s, c64(chunks)), c64(slots))
    hi = b.udiv(b.mul(b.add(s, c64(1)), c64(chunks)), c64(slots))
    own = {v: at(base, b.mul(s, c64(nbytes))) for v, (base, nbytes) in made.items()}
    # a consumer reads chunk j from the slot's scratch chunk; a sum's partial is the slot's
    staged = at(out, b.mul(s, c64(item))) \
        if (consumer is not None or loop.summed) and not loop.whole else None
    j = loop_head(b, lo)
    for g in loop.makers:
        run(g, g.root, own[g.root], b.mul(j, c64(made[g.root][1])), j, b.add(j, c64(1)))
    ptrs = []
    for x, base, ld in operands:
        if mem.base(x) in own:
            ptrs.append((own[mem.base(x)], ld))
        else:
            stride = math.prod(x.shape[-2:]) * size if x.ndim > 2 else 0
            if loop.rows and x is a:        # A's block of rows (read as stored)
                stride = m * x.shape[-1] * size
            ptrs.append((at(base, b.mul(j, c64(stride))), ld))
    target = staged if staged is not None else at(out, b.mul(j, c64(item)))
    adds = b.icmp_unsigned("!=", j, lo) if loop.summed is not None else None
    per = m if loop.rows else (consumer.root.shape[0] // chunks if consumer else 0)
    first = b.mul(j, c64(per))
    stop = b.add(first, c64(per))
    rows = c64(m)
    if loop.rows and root.shape[0] % m:     # the last block has fewer rows
        stop = b.select(b.icmp_unsigned(">", stop, c64(root.shape[0])),
                        c64(root.shape[0]), stop)
        rows = b.sub(stop, first)
    product_call(b, sym, rows, c64(n), c64(k), *ptrs[0], *ptrs[1], target, c64(n), trans_a, trans_b,
                 adds)
    if consumer is not None:        # (a fused loop's: the product's own buffer, as it is)
        run(consumer, root, out if loop.whole else staged,
            c64(0) if loop.whole else b.mul(j, c64(item)), first, stop)
    loop_latch(b, j, hi)
    loop_latch(b, s, pieces[1])


def _sum_partials(b, loop, pointer):
    """The sum's value = the loop's slots' partial sums (in the product's buffer, one item
    each) added in slot order, by one helper per module and dtype (a vectorized loop
    compiled once, not once per sum)."""
    total = loop.summed.root
    b.call(_partials_helper(b.module, total.dtype), [
        pointer(total), pointer(loop.product.root), c64(total.size), c64(loop.slots), c64(1)])


def _sum_blocks(b, value, pointer, partials):
    """value += its product's later blocks of K (`partials`, memory.PartialProducts), in
    order: a product split along K (parallel.k_first) wrote its first block into value."""
    b.call(_partials_helper(b.module, value.dtype), [
        pointer(value), pointer(partials), c64(value.size), c64(partials.count), c64(0)])


def _partials_helper(module, dtype):
    """`void tc_sum_partials_T(ptr out, ptr partials, i64 n, i64 slots, i64 first)`: out[i]
    += partials[s*n + i] for s from `first` up to `slots`, in order, after out = partials[0]
    where first is 1 (n >= 1)."""
    ty = ir.FloatType() if dtype.itemsize == 4 else ir.DoubleType()
    name = f"tc_sum_partials_{'f32' if dtype.itemsize == 4 else 'f64'}"
    fn = module.globals.get(name)
    if fn is not None:
        return fn
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, PTR, I64, I64, I64]), name)
    fn.linkage = "internal"
    fn.attributes.add("noinline")
    out, partials, n, slots, first = fn.args
    # the value and its partial products lie in separate buffers (memory.py): without
    # noalias LLVM vectorized the sum twice, behind a runtime overlap check, and took
    # 30 ms to compile it instead of 15 (znver4)
    out.add_attribute("noalias")
    partials.add_attribute("noalias")
    b = ir.IRBuilder(fn.append_basic_block("entry"))

    def element(base, i):
        return b.gep(base, [i], source_etype=ty)
    with b.if_then(b.icmp_unsigned("!=", first, c64(0))):
        i = loop_head(b, c64(0))
        b.store(b.load(element(partials, i), typ=ty), element(out, i))
        loop_latch(b, i, n)
    with b.if_then(b.icmp_unsigned("<", first, slots)):
        s = loop_head(b, first)
        part = b.gep(partials, [b.mul(s, n)], source_etype=ty)
        i = loop_head(b, c64(0))
        b.store(b.fadd(b.load(element(out, i), typ=ty), b.load(element(part, i), typ=ty)),
                element(out, i))
        loop_latch(b, i, n)
        loop_latch(b, s, slots)
    b.ret_void()
    return fn


def _gemm_blocks(b, cut, sym, blocks, mnk, a, w, out):
    """Rows (axis 0) or columns (axis 1) [start*width, min(stop*width, side)) of C = A @ W,
    as one gemm on the operands' matching rows or columns (row-major, so a row block of a
    stored operand starts `ld` elements per row in, a column block one element per column
    in, and the transposed flag swaps which is which). Along K (axis 2), block j's partial
    product, op(A)'s columns and op(W)'s rows of the block, goes to C for block 0, else to
    item j - 1 of `partials` (out is (C, partials)): a "sum" step adds them up after."""
    axis, width = cut
    m, n, k, size = mnk
    (pa, lda, trans_a), (pw, ldw, trans_b) = a, w
    out, partials = out

    def offset(base, elements):
        return b.gep(base, [b.mul(elements, c64(size))], inbounds=True, source_etype=I8)

    def span(start, stop):      # [start*width, min(stop*width, side)): (lo, count)
        side = c64((m, n, k)[axis])
        lo, hi = b.mul(start, c64(width)), b.mul(stop, c64(width))
        return lo, b.sub(b.select(b.icmp_unsigned(">", hi, side), side, hi), lo)
    if axis == 2:       # blocks of K, one gemm each
        j = loop_head(b, blocks[0])
        lo, count = span(j, b.add(j, c64(1)))
        later = b.gep(partials, [b.mul(b.sub(j, c64(1)), c64(m * n * size))],
                      source_etype=I8)      # (not inbounds: unused, below, for block 0)
        into = b.select(b.icmp_unsigned("==", j, c64(0)), out, later)
        product_call(b, sym, c64(m), c64(n), count, offset(pa, b.mul(lo, lda) if trans_a else lo),
                     lda, offset(pw, lo if trans_b else b.mul(lo, ldw)), ldw, into, c64(n),
                     trans_a, trans_b)
        loop_latch(b, j, blocks[1])
        return
    lo, count = span(*blocks)
    if axis == 0:       # rows of C: rows of op(A)
        pa = offset(pa, lo if trans_a else b.mul(lo, lda))
        product_call(b, sym, count, c64(n), c64(k), pa, lda, pw, ldw,
                     offset(out, b.mul(lo, c64(n))), c64(n), trans_a, trans_b)
    else:               # columns of C: columns of op(W)
        pw = offset(pw, b.mul(lo, ldw) if trans_b else lo)
        product_call(b, sym, c64(m), count, c64(k), pa, lda, pw, ldw, offset(out, lo), c64(n),
                     trans_a, trans_b)


def product_call(b, sym, m, n, k, a, lda, w, ldw, out, ldc, trans_a, trans_b, acc=None):
    """C = op(A) @ op(W) through the BLAS symbol, through a function of the generated
    GEMM's signature (gemm/generated.py, gemm/dots.py) for this product's transposes, or,
    for a first_calls.Tiered, through its slot: the BLAS while the slot is null.
    acc: an i1 value, true where the product adds to C instead (None: never)."""
    args = (m, n, k, a, lda, w, ldw, out, ldc)
    if isinstance(sym, first_calls.Tiered):
        fn = first_calls.load(b, sym)
        with b.if_else(b.icmp_unsigned("==", fn, ir.Constant(fn.type, None))) as (blas, own):
            with blas:
                product_call(b, sym.blas, *args, trans_a, trans_b, acc)
            with own:
                _call(b, fn, args, acc)
    elif isinstance(sym, ir.Function):
        _call(b, sym, args, acc)
    elif acc is None:
        emit_gemm_call(b, sym, *args, trans_a, trans_b)
    else:
        fp = ir.FloatType() if sym.dtype == "float32" else ir.DoubleType()
        beta = b.select(acc, ir.Constant(fp, 1.0), ir.Constant(fp, 0.0))
        emit_gemm_call(b, sym, *args, trans_a, trans_b, beta=beta)


def _call(b, fn, args, acc):
    """A call of the generated GEMM's signature: the args, then acc as an i32 flag."""
    flag = ir.Constant(ir.IntType(32), 0) if acc is None else b.zext(acc, ir.IntType(32))
    b.call(fn, [*args, flag])
