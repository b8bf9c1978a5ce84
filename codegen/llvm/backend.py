"""The llvm backend: a graph -> fused groups -> one LLVM module of kernels -> a runner.

compile_graph(graph) runs the fusion pass (asking kernels.supported which nodes it can
lower), emits one function per elementwise or reduction group into one module, compiles
it once (or links it from the disk cache, cache.py), and returns a runner that executes
the groups in order:

  - kernel:   the native function, on C-contiguous buffers it allocates for its output,
  - matmul:   numpy.matmul on the operands (transposes absorbed as views, so the BLAS
              numpy links reads them transposed: no copies),
  - view:     a reshape of a contiguous buffer (no copy),
  - constant: the graph's array,
  - numpy:    any primitive without a native lowering runs its eager numpy impl; the
              fusion log names each one ("no native lowering"), so nothing is hidden.

The runner carries the fusion log, the LLVM IR (before and after optimization) and the
assembly, for `compiled.llvm_ir` / `.asm` and `tracecomp dump`.
"""
import ctypes
import itertools

import numpy as np

from tracecomp.errors import TracecompError
from tracecomp.ir import Node, format_node, node_names
from tracecomp.passes import fusion

from . import cache, engine
from .kernels import elementwise_kernel, reduce_kernel, supported
from .window import fold_kernel, unfold_kernel

_module_ids = itertools.count()
BUILDERS = {"elementwise": elementwise_kernel, "reduce": reduce_kernel, "fold": fold_kernel,
            "unfold": unfold_kernel}


class Runner:
    """runner(list of input arrays) -> list of output arrays."""

    def __init__(self, graph, plan, steps, library, names):
        self.graph, self.plan, self.steps, self.library = graph, plan, steps, library
        self.names = names
        self.fusion_log = plan.log
        self.llvm_ir = library.llvm_ir if library else ""

    @property
    def optimized_ir(self):
        # code linked from the disk cache has none until a dump asks: then it is recomputed
        return cache.optimized_ir(self.library) if self.library else ""

    @property
    def asm(self):
        # the Library makes its assembly from the optimized IR, so that must exist first
        return self.library.asm if self.optimized_ir else ""

    def __call__(self, arrays):
        env = {}
        for node, a in zip(self.graph.inputs, arrays):
            env[node] = contiguous(a)
        for step in self.steps:
            try:
                env[step.node] = step.run(env)
            except TracecompError:
                raise
            except Exception as exc:
                raise TracecompError(f"{type(exc).__name__}: {exc}\nWhile executing "
                                     f"{format_node(step.node, self.names)}") from exc
            for dead in step.free:
                del env[dead]
        return [env[o] for o in self.graph.outputs]


def contiguous(a):
    """a in C order (np.ascontiguousarray would turn a 0-d array into shape (1,))."""
    return a if a.flags.c_contiguous else a.copy(order="C")


class Step:
    __slots__ = ("node", "run", "free")

    def __init__(self, node, run):
        self.node, self.run, self.free = node, run, ()


def compile_graph(graph):
    plan = fusion.run(graph, supported)
    names = node_names(graph)
    module = engine.new_module(f"graph{next(_module_ids)}")
    kernel_names = {}
    for k, group in enumerate(plan.groups):
        if group.kind in BUILDERS:
            kernel_names[group.root] = f"kernel{k}_{group.root.op}"
            BUILDERS[group.kind](module, group, kernel_names[group.root])
    library = cache.compile_module(module, list(kernel_names.values())) if kernel_names \
        else None
    for group in plan.groups:           # which graph nodes each kernel computes, for dumps
        label = kernel_names.get(group.root, group.kind)
        plan.log.append(f"{label}: " + ", ".join(f"{names[n]} {n.op}" for n in group.nodes))
    steps = [_step(g, library, kernel_names) for g in plan.groups]
    _plan_frees(graph, plan, steps)
    return Runner(graph, plan, steps, library, names)


def _step(group, library, kernel_names):
    root = group.root
    if group.kind in BUILDERS:
        return Step(root, _native(library, kernel_names[root], group))
    if group.kind == "matmul":
        return Step(root, _matmul(group))
    if group.kind == "view":
        x, shape = root.inputs[0], root.shape
        return Step(root, lambda env: env[x].reshape(shape))
    if group.kind == "constant":
        value = contiguous(root.params["value"])
        return Step(root, lambda env: value)
    return Step(root, _numpy(root))


def _native(library, name, group):
    fn = library.cfunc(name, None, *([ctypes.c_void_p] * (len(group.inputs) + 1)))
    inputs, shape, dtype = group.inputs, group.root.shape, group.root.dtype

    def run(env):
        out = np.empty(shape, dtype)
        fn(*[env[i].ctypes.data for i in inputs], out.ctypes.data)
        return out
    return run


def _matmul(group):
    """matmul(a, b) where a or b may be transposes pulled into the group."""
    members = set(group.nodes)
    operands = []
    for x in group.root.inputs:
        if x in members:            # a transpose: read its input transposed, as a view
            src = x.inputs[0]
            operands.append(lambda env, src=src: np.swapaxes(env[src], -1, -2))
        else:
            operands.append(lambda env, x=x: env[x])
    a, b = operands
    return lambda env: np.matmul(a(env), b(env))


def _numpy(node):
    prim, params, dtype = node.prim, node.params, node.dtype
    operands = node.inputs

    def run(env):
        out = prim.impl(*[env[i] if isinstance(i, Node) else i for i in operands], **params)
        if type(out) is not np.ndarray or out.dtype != dtype:
            out = np.asarray(out, dtype=dtype)
        return contiguous(out)
    return run


def _plan_frees(graph, plan, steps):
    """Each value is dropped after the last step that reads it (graph outputs are kept)."""
    last = {}
    for k, group in enumerate(plan.groups):
        for x in group.inputs:
            last[x] = k
    keep = set(graph.outputs)
    for k, step in enumerate(steps):
        step.free = tuple(x for x in plan.groups[k].inputs if last[x] == k and x not in keep)
