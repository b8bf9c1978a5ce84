"""The schedule: the order a backend runs a graph's fused groups in, cut into segments.

    groups = hoisted(fusion_plan.groups, native)
    layout = plan(graph, fusion_plan, memory_plan, native, split)   # segments and slots

A *segment* is a maximal run of consecutive groups that native code computes (`native`
says which: the backend's kernels and its matmuls). A group without a native lowering (an
opaque numpy op: a LAPACK call, a scan, random draws, ...) is a Python step between
segments, so a graph with no such step is ONE native call. Views and constants are never
steps: a view is its base's buffer (memory.py), a constant is a pointer. A kernel large
enough to pay for threads (`split` gives its extent) is a step of its own, run over ranges
of dim 0.

Consecutive native steps (segments, splits, chunk loops, sums) make a *run*
(`Layout.runs`): the backend calls a run of two or more steps as one native function that
calls the steps' entries in order and hands the split ones to its thread pool itself, so a
call with no Python step in the middle crosses into native code once.

Slots number the buffers that native code reaches through a pointer table rather than at
an arena offset: constants, graph inputs, per-call output buffers and the results of Python
steps, in the order a runner fills them. Nothing here depends on the backend: the llvm
backend emits one entry function per native step (codegen/llvm/lower/entry.py).
"""

# plain classes, not dataclasses (passes/memory.py's MemoryPlan says why)
class Step:
    def __init__(self, kind, groups, name="", extent=0, loop=None):
        # "native" (a segment), "split" (one kernel over threads), "chunks" (a chunk loop
        # over threads: passes/chunks.py), "sum" (its partial sums added up, or those of a
        # product split along K), "python"
        self.kind = kind
        self.groups = groups    # a segment's groups in order; a chunk loop's; else the one
        self.name = name        # the entry function (native, split and chunks steps)
        # split: the extent of dim 0, divided among the threads; chunks: slots; a
        # product's sum: its blocks of K
        self.extent = extent
        self.loop = loop        # chunks and a chunk loop's sum: the ChunkLoop

    def __repr__(self):
        return f"Step({self.kind}, {self.name or self.groups[0].root.name})"


class Run:
    def __init__(self, name, steps):
        self.name = name        # the function that calls the steps' entries in order
        self.steps = steps      # two or more consecutive Steps, none a Python step


class Layout:
    def __init__(self, program, slots):
        self.program = program  # Steps, in order
        self.slots = slots      # slot k + 1 holds the pointer to slots[k]'s buffer (a base node)

    def python_results(self):
        return [s.groups[0].root for s in self.program if s.kind == "python"]

    def runs(self):
        """The Runs: each maximal stretch of two or more consecutive native steps."""
        stretches, current = [], []
        for step in self.program + [None]:
            if step is not None and step.kind != "python":
                current.append(step)
                continue
            if len(current) > 1:
                stretches.append(Run(f"run{len(stretches)}", current))
            current = []
        return stretches


def hoisted(groups, native):
    """groups with the Python steps that read only graph inputs and constants moved first
    (in their order; they depend on nothing computed), so the native groups around them
    make one segment, not two: cross_entropy's target guard (check_range) would otherwise
    split a training step's native code in two.

    Random draws share one generator, so their order is what each one draws: a draw moves
    first only while every draw before it does too. Two dropouts, the second's mask drawn
    from a constant and the first's from a computed shape, draw as the eager run draws."""
    early, kept_draw = set(), False
    for g in groups:
        if native(g) or g.kind in ("view", "constant"):
            continue
        draw = "random" in g.root.prim.tags if g.root.op != "input" else False
        if all(x.op in ("input", "constant") for x in g.inputs) and not (draw and kept_draw):
            early.add(id(g))
        elif draw:
            kept_draw = True
    return [g for g in groups if id(g) in early] + [g for g in groups if id(g) not in early]


def plan(graph, fusion_plan, memory_plan, native, split=lambda group: None, loops=()):
    """Segments of consecutive `native(group)` groups, and the slots their buffers need.

    A group for which `split(group)` gives an extent is a step of its own (kind "split"):
    its entry takes a range of dim 0 (parallel.py). So is each chunk loop (`loops`,
    passes/chunks.py: its groups are consecutive), kind "chunks": its entry takes a range
    of the loop's slots. A split product with partial products (its blocks of K after the
    first: `memory_plan.partials`) is followed by a step of kind "sum" that adds them in.

    Slots come in the order a runner fills them: constants (once), every graph input and
    every output buffer allocated per call (in one sweep per call, read by native code or
    not), then results of Python steps (as the steps run)."""
    program, run = [], None
    looped = {g.root: loop for loop in loops for g in loop.groups}
    for g in fusion_plan.groups:
        if g.kind in ("view", "constant"):
            continue
        loop = looped.get(g.root)
        if loop is not None:
            run = None
            if g is loop.groups[0]:
                program.append(Step("chunks", loop.groups, extent=loop.slots, loop=loop))
                if loop.summed is not None:     # the slots' partial sums added up
                    program.append(Step("sum", [loop.summed], loop=loop))
            continue
        n = native(g) and split(g)
        if n or not native(g):
            run = None
            program.append(Step("split", [g], extent=n) if n else Step("python", [g]))
            later = memory_plan.partials.get(g.root)
            if n and later is not None:
                program.append(Step("sum", [g], extent=later.count + 1))
        elif run is None:
            run = Step("native", [g])
            program.append(run)
        else:
            run.groups.append(g)
    entries = [s for s in program if s.kind != "python"]
    for k, s in enumerate(entries):
        s.name = f"entry{k}"
    needed = list(graph.inputs) + list(memory_plan.fresh)    # all: filled in one sweep
    for s in entries:
        for g in s.groups:
            for x in g.inputs + g.values():
                b = memory_plan.base(x)
                if b not in memory_plan.offsets and b not in memory_plan.hosted \
                        and b not in needed:
                    needed.append(b)
    results = Layout(program, []).python_results()
    fresh = set(memory_plan.fresh)
    order = {n: k for k, n in enumerate(graph.inputs + graph.nodes)}

    def rank(n):
        kind = 0 if n.op == "constant" else 1 if n.op == "input" else 2 if n in fresh \
            else 3 if n in results else None
        assert kind is not None, f"no buffer for {n}"
        return kind, order[n]
    return Layout(program, sorted(needed, key=rank))
