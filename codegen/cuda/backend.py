"""The CUDA backend: a graph -> fused groups -> numba-cuda kernels -> a runner.

compile_graph(graph) fuses for the CUDA Target (source.supported says what one kernel
computes), turns each elementwise and reduce group into a kernel (source.py) compiled by
numba.cuda.jit, and returns a runner that keeps every value on the device from kernel to
kernel. What no kernel computes yet (matmul, convolution windows, scans, LAPACK, ...)
runs as a host step with the numpy impls, its operands copied to the host and its result
back; the fusion log names each one ("a kernel of its own (no native lowering)"). The
runner takes and returns numpy arrays, as every backend's does (codegen/registry.py).

Without a GPU, numba's simulator runs the same kernels when NUMBA_ENABLE_CUDASIM=1 is set
before numba is imported (slowly: a Python thread per GPU thread); tests/cuda does that.
"""
import numpy as np

from tracecomp.errors import LoweringError
from tracecomp.ir import CONSTANT, node_names
from tracecomp.passes import fusion
from tracecomp.passes.target import Target

from ..interp import execute
from . import source
from .compat import numba_cuda, simulating

TARGET = Target("cuda", source.supported)
THREADS = 256           # per block: elementwise kernels, and a reduction's block
SIM_THREADS = 32        # on the simulator, where each thread is a Python thread


def compile_graph(graph):
    """A runner(arrays) -> arrays for graph, its kernels compiled for the GPU at hand."""
    cuda = _cuda()
    threads = SIM_THREADS if simulating() else THREADS
    plan = fusion.run(graph, TARGET)
    names = node_names(graph)
    steps = [_step(cuda, group, k, threads, names) for k, group in enumerate(plan.groups)]
    position = {n: k for k, n in enumerate(graph.inputs)}

    def run(arrays):
        values = {n: _to_device(cuda, arrays[position[n]]) for n in graph.inputs}
        for step in steps:
            step(values)
        return [_to_host(values[o], o) for o in graph.outputs]

    run.fusion_log = plan.log
    run.cuda_source = source.PREAMBLE + "".join(
        "\n\n" + step.source for step in steps if hasattr(step, "source"))
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


def _to_device(cuda, array):
    """A device copy, 0-d values as 1-element arrays (what the kernels index)."""
    array = np.ascontiguousarray(array)
    return cuda.to_device(array.reshape(array.shape or (1,)))


def _to_host(value, node):
    return value.copy_to_host().reshape(node.shape)


def _step(cuda, group, k, threads, names):
    """The function that computes group's root into `values` (device arrays)."""
    root = group.root
    if group.kind == "constant":
        return lambda values: values.__setitem__(root, _to_device(cuda, root.params["value"]))
    if group.kind == "view":          # a reshape of a stored value: the same buffer
        return lambda values: values.__setitem__(
            root, values[root.inputs[0]].reshape(root.shape or (1,)))
    if group.kind in ("elementwise", "unfold", "fold", "reduce", "matmul"):
        name = f"kernel{k}_{root.op}"
        tile = 8 if threads == SIM_THREADS else 16          # a matmul block: tile x tile
        text = source.reduce_source(group, name, threads) if group.kind == "reduce" \
            else source.matmul_source(group, name, tile) if group.kind == "matmul" \
            else source.kernel_source(group, name)      # a thread per element
        namespace = {}
        exec(compile(source.PREAMBLE + text, f"<{name}>", "exec"), namespace)
        kernel = cuda.jit(namespace[name])
        if group.kind == "matmul":
            m, n = root.shape[-2:]
            batch = int(np.prod(root.shape[:-2], dtype=np.int64))
            blocks, per_block = (-(-n // tile), -(-m // tile), batch), (tile, tile)
        else:
            blocks = root.size if group.kind == "reduce" else -(-root.size // threads)
            per_block = threads

        def launch(values):
            out = cuda.device_array(root.size, root.dtype)
            if root.size:
                kernel[blocks, per_block](*[values[x] for x in group.inputs], out)
            values[root] = out.reshape(root.shape or (1,))
        launch.source = text
        return launch
    return _host_step(cuda, group, names)


def _host_step(cuda, group, names):
    """The group's nodes with their numpy impls on the host, as the reference backend runs
    them; the operands come over from the device and the root goes back."""
    def run(values):
        env = {x: values[x].copy_to_host().reshape(x.shape) if x.op != CONSTANT
               else x.params["value"] for x in group.inputs}
        for node in group.nodes:
            env[node] = execute(node, env, names)
        values[group.root] = _to_device(cuda, env[group.root])
    return run
