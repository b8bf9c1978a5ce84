"""The CUDA backend: a graph -> fused groups -> numba-cuda kernels -> a runner.

compile_graph(graph) fuses for the CUDA Target (source.supported says what one kernel
computes), writes a kernel for each group one computes (launches.launch_for: elementwise,
windows, reductions, scans, matmuls), compiles them all together (build.py: numba's
compile_ptx in worker processes, cubins cached on disk; on the simulator, or with
TRACECOMP_CUDA_LAUNCH=dispatcher, numba.cuda.jit one by one: kernel_cache.py), and returns
a runner that keeps every value on the device from kernel to kernel. What no kernel
computes yet (sorting, LAPACK, ...) runs as a host step with the numpy impls, its operands
copied to the host and its result back; the fusion log names each one ("a kernel of its
own (no native lowering)"). The runner takes and returns numpy arrays, as every backend's
does (codegen/registry.py); given a tensor's DeviceArray it leaves its results on the
device as DeviceArrays (tensors on 'cuda'), and `run.on_device` runs on numba device
arrays directly (eager ops, device.py).

Without a GPU, numba's simulator runs the same kernels when NUMBA_ENABLE_CUDASIM=1 is set
before numba is imported (slowly: a Python thread per GPU thread); tests/cuda does that.
"""
import numpy as np

from tracecomp.device_array import DeviceArray
from tracecomp.devices import device
from tracecomp.errors import LoweringError
from tracecomp.ir import CONSTANT, node_names
from tracecomp.passes import fusion
from tracecomp.passes.target import Target

from ..interp import execute
from . import buffers, build, cublas, kernel_cache, launcher, launches, ptx, source
from .compat import numba_cuda, quick_thread_switching, simulating

# multi_output: an elementwise kernel also stores the members read after it (source.py)
TARGET = Target("cuda", source.supported, multi_output=True)
THREADS, TILE = 256, 16     # per block: threads, and a matmul block's side (TILE x TILE)
SIM_THREADS, SIM_TILE = 32, 8   # on the simulator, where each thread is a Python thread
DEVICE = device("cuda", 0)      # where the kernels run (tensors live on cuda:0 only)


def compile_graph(graph, updates=None, hold_buffers=True):
    """A runner(arrays) -> arrays for graph, its kernels compiled for the GPU at hand.
    `updates` (registry.py) is not used: every output is a device array of its own.
    hold_buffers: whether the runner keeps device buffers between calls (buffers.py); an
    eager op's runner, one of thousands cached, does not."""
    cuda = _cuda()
    threads, tile = (SIM_THREADS, SIM_TILE) if simulating() else (THREADS, TILE)
    plan = fusion.run(graph, TARGET)
    names = node_names(graph)
    kept = _kept_between_calls(graph, plan.groups) if hold_buffers else set()
    pending = None if launcher.dispatcher_only() else []   # what build.py compiles together
    steps = [_step(cuda, group, k, threads, tile, names, kept, hold_buffers, pending)
             for k, group in enumerate(plan.groups)]
    if pending:
        loaded = build.load([kernel for _, kernel in pending], ptx.target_cc())
        for (run, _), code in zip(pending, loaded):
            run.attach(code)
    position = {n: k for k, n in enumerate(graph.inputs)}
    read = {x for g in plan.groups for x in g.inputs} | set(graph.outputs)
    unread = {k for k, n in enumerate(graph.inputs) if n not in read}

    def on_device(arrays):
        """The outputs as device arrays, from the inputs as device arrays (0-d ones as 1
        element): what tensors on 'cuda' hold, so nothing crosses to the host. Values
        inside and out are flat arrays of their node's size (a DeviceArray holds the
        shape; reshaping a numba array costs a new Python object)."""
        values = {n: arrays[position[n]] for n in graph.inputs}
        for step in steps:
            step(values)
        return [values[o] for o in graph.outputs]

    def run(arrays):
        """Numpy arrays in, numpy arrays out (every backend's runner); where any input is a
        tensor's DeviceArray (a tensor on 'cuda'), the outputs stay on the device too."""
        resident = any(type(a) is DeviceArray for a in arrays)
        outputs = on_device([a.array if type(a) is DeviceArray else
                             None if k in unread else to_device(cuda, a)
                             for k, a in enumerate(arrays)])
        if resident:
            return [DeviceArray(v, o.shape, o.dtype, DEVICE) for v, o in
                    zip(outputs, graph.outputs)]
        return [to_host(v, o) for v, o in zip(outputs, graph.outputs)]

    run.on_device = on_device
    run.host_steps = sum(getattr(step, "on_host", False) for step in steps)
    run.fusion_log = plan.log
    run.cuda_source = source.PREAMBLE + "".join(
        "\n\n" + step.source for step in steps if hasattr(step, "source"))
    run.cuda_ptx = ptx.GraphPTX(s.ptx_kernel for s in steps if hasattr(s, "ptx_kernel"))
    return run


def _cuda():
    try:
        cuda = numba_cuda()
    except ImportError as exc:
        raise LoweringError("backend='cuda' needs numba-cuda: pip install 'tracecomp[cuda]' "
                            f"({exc})") from exc
    if not simulating() and not cuda.is_available():
        raise LoweringError("backend='cuda' found no CUDA GPU here (numba-cuda sees no "
                            "driver or device). Run on a machine with an NVIDIA GPU, or set "
                            "NUMBA_ENABLE_CUDASIM=1 before importing tracecomp to run the "
                            "kernels on numba's simulator (slow; for testing)")
    return cuda


def to_device(cuda, array):
    """A device copy, 0-d values as 1-element arrays (what the kernels index)."""
    array = np.ascontiguousarray(array)
    return cuda.to_device(array.reshape(array.shape or (1,)))


def to_host(value, node):
    return value.copy_to_host().reshape(node.shape)


def _flat(array):
    return array if array.ndim == 1 else array.reshape(array.size)


def _kept_between_calls(graph, groups):
    """The kernel results that never leave a call (no output is one or a view of one):
    each gets one buffer, made at the first call and written again by every later one
    (calls run in order on the GPU's stream, so no call reads another's)."""
    base = {}
    for group in groups:
        root = group.root
        base[root] = base.get(root.inputs[0], root.inputs[0]) if _aliases_input(group) \
            else root
    leaving = {base.get(o, o) for o in graph.outputs}
    return {v for g in groups if g.kind not in ("view", "constant")
            for v in g.values()} - leaving


def _aliases_input(group):
    """Whether the group's root is its first input's buffer: a view, or a guard (a check on
    the host that passes its operand on unchanged)."""
    return group.kind == "view" or (group.kind != "constant" and len(group.nodes) == 1
                                    and "guard" in group.root.prim.tags)


def _step(cuda, group, k, threads, tile, names, kept=frozenset(), hold=True, pending=None):
    """The function that computes group's root (and its stores) into `values` (flat device
    arrays), each into a buffer of its own (buffers.py: those in `kept` stay inside the
    call, the others are outputs'). Its kernel is compiled by numba's dispatcher, or where
    `pending` is a list, appended there as (Launcher, ptx.Kernel) for build.py."""
    root = group.root
    if group.kind == "constant":     # copied to the device once: kernels never write into
        value = _flat(to_device(cuda, root.params["value"]))          # their inputs
        return lambda values: values.__setitem__(root, value)
    if group.kind == "view":          # a reshape of a stored value: the same flat buffer
        return lambda values: values.__setitem__(root, values[root.inputs[0]])
    name = f"kernel{k}_{root.op}"
    blas = cublas.product(group)
    plan = launches.launch_for(group, name, threads, tile) if blas is None else None
    if blas is None and plan is None:
        return _host_step(cuda, group, names)
    written = group.values()
    results = [buffers.Kept(cuda, v.size, v.dtype) if v in kept else
               buffers.Spares(cuda, v.size, v.dtype, reuse=hold) for v in written]
    if blas is not None:
        return _cublas_step(blas, root, results[0], name)
    shapes = [x.shape for x in group.inputs] + [(v.size,) for v in written]
    kernel = ptx.Kernel(name, plan.text, ptx.arg_types(group))
    if pending is None:
        jitted = kernel_cache.jit(cuda, name, source.PREAMBLE + plan.text)
        run = launcher.Launcher(jitted, plan.blocks, plan.threads, shapes)
    else:
        run = launcher.Launcher(None, plan.blocks, plan.threads, shapes)
        pending.append((run, kernel))
    if simulating():
        run = _switching_quickly(run)
    inputs, size = group.inputs, root.size

    def launch(values):
        outs = [result() for result in results]
        if size:
            run([values[x] for x in inputs] + outs)
        for v, out in zip(written, outs):
            values[v] = out
    launch.source = plan.text
    launch.ptx_kernel = kernel
    return launch


def _cublas_step(blas, root, result, name):
    def launch(values):
        out = result()
        if root.size:
            blas(values, out)
        values[root] = out
    launch.source = f"# {name}: {root.op} by cuBLAS (CuPy; codegen/cuda/cublas.py)\n"
    return launch


def _switching_quickly(run):
    def launch(arrays):
        with quick_thread_switching():
            run(arrays)
    return launch


def _host_step(cuda, group, names):
    """The group's nodes with their numpy impls on the host, as the reference backend runs
    them; the operands come over from the device and the root goes back. A guard's root
    is its checked operand unchanged: that stays where it is."""
    root = group.root
    guard = _aliases_input(group)

    def run(values):
        env = {x: values[x].copy_to_host().reshape(x.shape) if x.op != CONSTANT
               else x.params["value"] for x in group.inputs}
        for node in group.nodes:
            env[node] = execute(node, env, names)
        values[root] = values[root.inputs[0]] if guard else \
            _flat(to_device(cuda, env[root]))
    run.on_host = True
    return run
