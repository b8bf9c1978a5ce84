"""In-place kernels: an elementwise kernel that writes its value over the buffer of an
input it reads for the last time (memory.py asks, for the backends whose kernels load
every operand of an element before they store it: codegen/llvm's).

The memory plan keeps a kernel's output apart from its inputs: a value lives from its
kernel to the last kernel that reads it, both included. For an elementwise kernel that is
more than needed: element i of `relu(h + b)` reads only element i of h, so writing it over
h loses nothing once no later kernel reads h. torch's in-place ops (`relu_`) do the same
by hand. Measured on the bench MLP's whole training step at batch 512, the forward's
relus and the backward's masks (`where(r <= 0, 0, dr)`) each took a buffer of their own,
so at the step's peak the arena held r1, r2 and both of dr2 and dh2: 1.5 MB, against
torch's 1.0 MB step (benchmarks/peak_memory.py).

A kernel's value takes input x's buffer when

  - the kernel is elementwise, computes one value (no `stores`: each element of x is then
    loaded once, for the one value stored over it), and every member that depends on x is
    an elementwise op of the value's shape, x too has that shape (so no broadcast), and x
    is read through one operand only: element i of x is read only to compute element i
    (donation.same_index, the rule donated parameters follow; the kernel loads an element
    before storing it);
  - x lives in the arena (an intermediate, not an input, an output or a constant), and
    this kernel is the last to read it;
  - both are the same number of bytes, element for element (the same itemsize);
  - no Python step reads x (its result may be a view of x, which must not change under
    it) or the value (the pair may be placed in an output's buffer, which Python steps do
    not see), and neither is written by a chunk loop (passes/chunks.py: held, or written,
    a chunk at a time while the loop reads other chunks). A row loop's mask is the
    exception it was made for (passes/row_loops.py): it may take the buffer of its
    product's A, which it does not read (the loop is done with a block of A's rows when
    the mask writes them), or of an input it reads at the same index.

    %3 = relu(add(%1, %b))   ->  %3 in %1's buffer      (%1 read only here)
    %49 = where(gt(%7, 0), %45, 0)  ->  %49 in %45's buffer

Where it may take either of two inputs, it takes the one written last. Its lines are then
most likely still only in the cache of the core(s) that wrote them; the other input has
had longer to be read by kernels on both cores (a product split over threads reads its
shared operand on each), and a core that writes over lines another core holds copies of
waits ~110 ns a line for them (measured: codegen/llvm/runtime/parallel.py, rows_first).
The bench MLP's backward mask `where(r1 > 0, dX2, 0)` took r1's buffer, which both cores
had just read for dW2: 7.0 us for 64 KB; over dX2, which a split product had just
written, 1.5 us.

The value then lives as long as x's buffer does: memory.run places the pair as one. Where
the value is a graph output (compile(model)'s forward returns its relus, which the
backward reads), x goes the other way: it is laid out in the output's buffer, which holds
nothing else until the output is written, so the matmul before a saved relu needs no
arena bytes of its own.
"""
from .donation import same_index
from .fusion import ELEMENTWISE


def takers(groups, lives, alias, stored, python_reads, excluded=(), outputs=(),
           writable=None, untaken=()):
    """{value: the value whose buffer it takes} for `groups` in run order. lives: {arena
    value: [first step, last step]}; alias: {view: its base}; stored(group): whether the
    backend writes the group's value; python_reads: the buffers Python steps read;
    excluded: values that may not be taken (a chunk loop's); outputs: output values whose
    buffers may hold scratch values before they are written, which may take an arena
    value's place too (memory.py then lays that value out in the output's buffer).
    writable: {a row loop's consumer value: what it may take, in order} (ChunkLoop.
    writable): for those, the loop's own values are not excluded, and the first may be
    the product's A, which the kernel does not read but the loop reads a block of rows
    at a time before the kernel writes the same rows (passes/row_loops.py). untaken: values
    none may take, not even those."""
    writable = writable or {}
    taken = {}
    for k, g in enumerate(groups):
        value = g.root
        if (g.kind != ELEMENTWISE or g.stores or not stored(g)
                or value not in lives and value not in outputs
                or value in python_reads or value in excluded and value not in writable):
            continue
        if value in writable:
            candidates = writable[value]
        else:   # of two inputs it may take, the one written last: see the module docstring
            candidates = sorted(g.inputs, key=lambda x: -lives.get(alias.get(x, x), (0,))[0])
        for x in candidates:
            base = alias.get(x, x)
            read = x in g.inputs        # (a row loop's A is not: its rows are done with)
            if (base in lives and lives[base][1] == k and base not in python_reads
                    and base not in untaken
                    and (base not in excluded or value in writable)
                    and x.shape == value.shape and base.size == value.size
                    and base.dtype.itemsize == value.dtype.itemsize
                    and (not read or sum(alias.get(i, i) is base for i in g.inputs) == 1
                         and same_index(g, x, value.shape))):
                taken[value] = base
                break
    return taken
