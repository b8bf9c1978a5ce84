"""The PTX of a compiled graph's CUDA kernels, for `tracecomp dump --backend cuda`.

    run.cuda_ptx = GraphPTX([Kernel(name, text, arg_types(group)), ...])  # compile_graph
    str(run.cuda_ptx)       # every kernel's PTX module, one after another (compiled once)

numba.cuda.compile_ptx compiles a kernel for the argument types it is launched with
(arg_types: what backend._step passes) and a GPU generation: the GPU's own when one is
present, else sm_90. It needs NVVM (pip's CUDA wheels), not a GPU. Under numba's simulator
(NUMBA_ENABLE_CUDASIM=1) numba.cuda.compile_ptx is None, so there a child Python without
that variable compiles them (the jobs as JSON on its stdin, the PTX as JSON on its
stdout). Nothing is compiled until the text is asked for: the first kernel costs about
0.4 s, a child process 1-2 s more, and only a dump reads the PTX.
"""
import json
import os
import subprocess
import sys
from dataclasses import dataclass

from tracecomp.errors import LoweringError

from .compat import numba_cuda, simulating

DEFAULT_CC = (9, 0)     # H100 / H200: the target when there is no GPU to ask
CHILD = "from tracecomp.codegen.cuda.ptx import _child; _child()"


@dataclass(frozen=True)
class Kernel:
    name: str       # the kernel's function name in `text`
    text: str       # its source, without source.PREAMBLE
    args: tuple     # (dtype name, ndim) per argument, as arg_types gives them


def arg_types(group):
    """(dtype name, ndim) of each argument backend._step launches group's kernel with: the
    group's inputs as C-contiguous device arrays of their own shapes (a 0-d value as a
    1-element array), then the flat 1-d outputs of the root and its stores."""
    return tuple((x.dtype.name, max(x.ndim, 1)) for x in group.inputs) \
        + tuple((v.dtype.name, 1) for v in group.values())


class GraphPTX:
    """One graph's kernels as PTX text, compiled on first use: str() gives each kernel's
    module under a `// kernel: ...` line. False when the graph has no kernel."""

    def __init__(self, kernels):
        self.kernels = list(kernels)
        self._text = None

    def __bool__(self):
        return bool(self.kernels)

    def __str__(self):
        if self._text is None:
            cc = target_cc()
            modules = compile_all(self.kernels, cc)
            self._text = "\n".join(
                f"// kernel {k.name}({', '.join(f'{d}[{n}d]' for d, n in k.args)}), "
                f"sm_{cc[0]}{cc[1]}\n{ptx}" for k, ptx in zip(self.kernels, modules))
        return self._text


def target_cc():
    """The compute capability to compile for: the GPU's when numba-cuda sees one."""
    if not simulating():
        cuda = numba_cuda()
        if cuda.is_available():
            return tuple(cuda.get_current_device().compute_capability)
    return DEFAULT_CC


def compile_all(kernels, cc):
    """The PTX module of each Kernel for compute capability `cc`; LoweringError when NVVM
    cannot compile them (the message carries its error)."""
    if not simulating():
        return _compile_here(kernels, cc)
    jobs = {"cc": list(cc), "kernels": [[k.name, k.text, k.args] for k in kernels]}
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    try:
        run = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(jobs),
                             capture_output=True, text=True, env=env, timeout=600)
    except subprocess.TimeoutExpired as exc:
        raise LoweringError(f"compiling {len(kernels)} CUDA kernels to PTX took over "
                            f"{exc.timeout} s") from exc
    if run.returncode != 0:
        raise LoweringError(f"compiling CUDA kernels to PTX failed (in a child process "
                            f"without NUMBA_ENABLE_CUDASIM, since numba's simulator has no "
                            f"compile_ptx):\n{run.stderr[-3000:]}")
    return json.loads(run.stdout)


def _compile_here(kernels, cc):
    return [compile_one(k, cc) for k in kernels]


def compile_one(kernel, cc):
    """The PTX module of one Kernel, compiled in this process (not on the simulator):
    numba's typing and lowering for C-contiguous array arguments, then NVVM."""
    import numpy as np
    from numba import from_dtype, types

    from .source import PREAMBLE
    cuda = numba_cuda()
    namespace = {}
    exec(compile(PREAMBLE + kernel.text, f"<{kernel.name}>", "exec"), namespace)
    sig = tuple(types.Array(from_dtype(np.dtype(d)), n, "C") for d, n in kernel.args)
    try:
        ptx, _ = cuda.compile_ptx(namespace[kernel.name], sig, cc=cc)
    except Exception as exc:    # numba's typing and NVVM errors have no common base
        raise LoweringError(f"numba-cuda could not compile {kernel.name} to PTX for "
                            f"sm_{cc[0]}{cc[1]}: {type(exc).__name__}: {exc}") from exc
    return ptx


def _child():
    """The child process of compile_all: jobs on stdin, a JSON list of PTX on stdout."""
    jobs = json.load(sys.stdin)
    kernels = [Kernel(name, text, tuple(map(tuple, args)))
               for name, text, args in jobs["kernels"]]
    json.dump(_compile_here(kernels, tuple(jobs["cc"])), sys.stdout)
