"""Elementwise and reduction kernels for the CUDA backend (codegen/cuda/source.py), checked
without a GPU.

Each program is traced and fused for a CUDA Target; its elementwise and reduce groups
become numba-cuda kernels' source. Under numba's CUDA simulator (set for this folder by its
conftest) the kernel runs and must give tracecomp's eager answer; in a subprocess without
the simulator, every kernel must compile to PTX for sm_90, so code that only the
simulator accepts cannot pass. The numpy >= 2.5 shim (compat.py) is checked in a
subprocess whose numpy has no row_stack.
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tracecomp as tc
import tracecomp.nn.functional as F
from tracecomp.codegen.cuda import launches, ptx, source
from tracecomp.codegen.cuda.backend import SIM_THREADS, SIM_TILE
from tracecomp.codegen.cuda.compat import numba_cuda
from tracecomp.dispatch import bind
from tracecomp.ops import elementwise, scan
from tracecomp.passes import decompose, fusion
from tracecomp.passes.target import Target
from tracecomp.tracing.tracer import trace

CUDA = Target("cuda (simulated)", source.supported, matmul_transposes=False, multi_output=True)
rng = np.random.default_rng(0)


def _f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


_MIN64 = np.iinfo(np.int64).min
_DIVISION = (np.array([5.5, -5.5, 5.5, -5.5, 0.0, -0.0, 3.0, -3.0, np.inf, -np.inf, np.nan, 1.0,
                       -7.0, 1e30, 2.0, 0.0, 6.0, -6.0, 0.0, 7.5], np.float32),
             np.array([2.0, 2.0, -2.0, -2.0, 3.0, 3.0, 0.0, -0.0, 2.0, 2.0, 1.0, np.inf,
                       np.inf, 1e-30, -0.0, -3.0, 3.0, 3.0, 0.0, np.nan], np.float32))


# name -> (fn, example arrays): elementwise kernels, with movement ops folded in
def _momentum_step(buf, grad, param):
    buf = buf * 0.9 + grad
    shared = (grad * 2).exp()
    return buf, param - 0.1 * buf, shared.sum(0), shared.amax(1)


PROGRAMS = {
    "gelu_tanh": (lambda x, a, b: F.gelu(x * a + b, approximate="tanh"),
                  (_f32(3, 5), _f32(5), _f32(3, 1))),
    "softplus_parts": (lambda x: tc.log1p(tc.exp(-x.abs())) + x.relu() - x.sigmoid(),
                       (_f32(4, 4),)),
    "where_compare": (lambda x, y: tc.where(x > y, x * 2, y - 1) + (x != y).float(),
                      (_f32(2, 3), _f32(3))),
    "movement": (lambda x: x.t().reshape(4, 3).flip(0)[1:] * 2
                 + F.pad(x, (1, 0))[:, :3].reshape(3, 3), (_f32(3, 4),)),
    "concat_exp": (lambda x: tc.cat([x, x * 2], 1).exp().sqrt(), (_f32(2, 3),)),
    "casts": (lambda x: (x > 0).float() * x + x.double().float() + x.tanh().erf(),
              (_f32(5),)),
    "float64": (lambda x, y: (x ** 2 + y.expm1()).rsqrt(),
                (np.abs(_f32(3, 2)).astype(np.float64) + 1, _f32(3, 2).astype(np.float64))),
    "integers": (lambda i, j: (i * j - i).abs() + (i < j).long(),
                 (rng.integers(-5, 5, (3, 4)), rng.integers(-5, 5, (4,)))),
    "scalar_root": (lambda x: (x * 3 + 1).sum() * 0 + x[1, 2].cos(), (_f32(2, 3),)),
    "bitwise": (lambda i, j, k: ((i ^ j) + (i & 6) - ~j + (i | j), (k & 12) ^ ~k),
                (rng.integers(-40, 40, (3, 4)), rng.integers(-40, 40, (4,)),
                 rng.integers(-40, 40, (5,)).astype(np.int32))),
    # shift counts outside [0, bits): 0 for <<, the sign's fill for >>; int32 wraps
    "shifts": (lambda i, j, k: ((i << j) + (i >> j) - (3 << j), (k << 30) + (k >> (k % 40))),
               (rng.integers(-40, 40, (3, 4)), rng.integers(-3, 70, (4,)),
                rng.integers(-40, 40, (6,)).astype(np.int32))),
    # NaN, signed zeros and infinities: torch's rules, element by element
    "special_values": (lambda x, y: (tc.maximum(x, y), tc.minimum(x, y), x.sign(), x.relu(),
                                     -x, tc.logical_xor(x.isnan(), y.isinf())),
                       (np.array([np.nan, -0.0, 0.0, 2.5, -1.5, np.inf, 3.0], np.float32),
                        np.array([1.0, 0.0, -0.0, np.nan, -np.inf, 0.5, -3.5], np.float32))),
    "sum_rows": (lambda x: (x * 2 + 1).sum(1), (_f32(3, 70),)),
    "mean_keepdim": (lambda x: x.exp().mean((0, 2), keepdim=True) - 1, (_f32(2, 3, 5),)),
    "amax_nan": (lambda x: (x.amax(0), x.amin(1)),
                 (np.array([[1.0, np.nan, -2.0], [3.0, 0.5, -np.inf]], np.float32),)),
    "prod_all": (lambda x: (x * 0.5 + 1).prod(), (_f32(2, 4),)),
    "softmax": (lambda x: F.softmax(x, 1), (_f32(4, 6),)),
    "int_sum": (lambda i: (i * 3).sum(0) + i.amax(1).sum(), (rng.integers(-9, 9, (5, 4)),)),
    "float64_sum": (lambda x: x.sum(), (_f32(40).astype(np.float64),)),
    "argmax": (lambda x: ((x * 2 - 1).abs().argmax(1), x.argmin(0, keepdim=True),
                          x.argmax(), (x + 1).argmin(1) * 2),
               (np.array([[1.0, 3.0, 3.0, -1.0], [np.nan, 2.0, np.nan, 5.0],
                          [0.5, -0.5, 0.5, -0.5]], np.float32),)),
    "max_pool_backward": (lambda x: (x.gather(1, x.argmax(1, keepdim=True)) * 3,
                                      tc.zeros_like(x).scatter_add(1, x.argmax(1, keepdim=True),
                                                                   x.amax(1, keepdim=True))),
                          (_f32(4, 5),)),
    "cross_entropy": (lambda x, y: F.cross_entropy(x, y), (_f32(6, 4), rng.integers(0, 4, 6))),
    "linear_relu": (lambda x, w, b: (x @ w.t() + b).relu() @ w, (_f32(5, 7), _f32(9, 7),
                                                                 _f32(9))),
    # one kernel stores a member read after it too (an SGD momentum step's buffer and
    # parameter), and a value read by two later kernels
    "stored_members": (lambda b, g, p: _momentum_step(b, g, p),
                       (_f32(4, 6), _f32(4, 6), _f32(4, 6))),
    # few results over a long K: a block per result (a conv's weight gradient); positive
    # terms, so that float32 BLAS's own rounding stays within the comparison's 2e-6
    "matmul_long_k": (lambda a, b, c: (a @ b, c.t() @ b, c.t().unsqueeze(0).expand(2, 3, 1100)
                                        @ b),
                      tuple(np.abs(_f32(*shape)) for shape in [(3, 1100), (1100, 2),
                                                                (1100, 3)])),
    "matmul_transposed": (lambda a, b: (a.t() @ b.t(), a @ a.t()), (_f32(10, 3), _f32(12, 10))),
    "matmul_float64": (lambda a, b: a @ b, (_f32(4, 17).astype(np.float64),
                                            _f32(17, 2).astype(np.float64))),
    "conv_pool": (lambda x, w: F.max_pool2d(F.conv2d(x, w, padding=1).relu(), 2)
                  + F.avg_pool2d(x.sum(1, keepdim=True), 2, 1, padding=1)[..., :2, :2],
                  (_f32(1, 2, 4, 4), _f32(2, 2, 3, 3))),
    "fold_bmm": (lambda cols, a, b: (F.fold(cols, (5, 4), (2, 2), stride=(1, 2)),
                                     a @ b, a.transpose(1, 2) @ a),
                 (_f32(2, 12, 8), _f32(3, 4, 5), _f32(3, 5, 2))),
    "argmax_int": (lambda i: (i.argmax(0), i.argmin()), (rng.integers(-3, 3, (4, 5)),)),
    # (inside each function's domain: the simulator runs Python's math, which raises where
    # CUDA returns NaN)
    "rounding": (lambda x: (x.floor(), x.ceil(), x.trunc(), x.round(), (x * 1e7).floor()),
                 (np.array([np.nan, -0.0, 0.0, 0.3, -0.3, 2.5, -2.5, 3.5, -1.5, np.inf, -np.inf,
                            1.0e8, -7.0, 0.49999997], np.float32),)),
    "rounding64": (lambda x: (x.floor(), x.ceil(), x.trunc(), x.round()),
                   (np.array([-0.7, 0.5, 1.5, -2.5, 4.5e15, -0.0, 2.0 ** 60], np.float64),)),
    "trigonometry": (lambda x, y: (tc.atan2(x, y) + tc.hypot(x, y) + x.tan().atan()
                                   + (x.tanh() * 0.9).asin() + tc.fmod(x, y) + x.lgamma()
                                   + tc.copysign(x, y) + x.erfc()),
                     (_f32(6), _f32(6))),
    "more_elementwise": (lambda x, y: ((x * 0.9).acos() + x.sin().asinh() + x.sinh() * x.cosh()
                                       + (x.abs() + 1).acosh() + (x.tanh() * 0.9).atanh(),
                                       tc.eq(x, y), x >= y, x <= y, x.clone(),
                                       bind(elementwise.detach_p, x) * 2,
                                       tc.logical_or(x > 0, y > 0) & tc.logical_not(x > y)),
                         (_f32(6).clip(-1, 1), _f32(6))),
    # torch's remainder and floor_divide: the divisor's sign, zeros, infinities, NaN, x // 0
    "division": (lambda a, b: (a % b, a // b, tc.fmod(a, b), a % 0.75, a // -1.5, -3.0 % b),
                 _DIVISION),
    "division64": (lambda a, b: (a % b, a // b), tuple(x.astype(np.float64) for x in _DIVISION)),
    # integers: floor division, and INT_MIN // -1 wraps to INT_MIN as numpy's does
    "integer_division": (lambda i, j, k, m: (i % j, i // j, i // -3, i % 4, k % m, k // m),
                         (np.array([_MIN64, _MIN64, 7, -7, 0, 5, 7, -7, 6]),
                          np.array([-1, 3, -2, 2, -3, 1, 2, -2, -3]),
                          np.array([-2 ** 31, 7, -7, 0, 5], np.int32),
                          np.array([-1, -2, 2, -3, 1], np.int32))),
    # a thread per scanned line; NaN, infinities and signed zeros as numpy's accumulate
    "scans": (lambda x: (x.cumsum(1), x.cumprod(0), tc.logcumsumexp(x, 1), tc.logcumsumexp(x, 0),
                         scan.cumsum(x, 1, reverse=True), *tc.cummax(x, 1), *tc.cummin(x, 0)),
              (np.array([[1.0, np.nan, 3.0, -1.0], [2.0, 2.0, -np.inf, np.inf],
                         [-0.0, 0.0, -0.0, 5.0]], np.float32),)),
    "integer_scans": (lambda i, m: (i.cumsum(2), i.cumprod(1), scan.cumsum(i, 1, reverse=True),
                                    m.cumsum(0), i.int().cumsum(0), tc.cummax(i, 1)[1],
                                    tc.cummin(i.int(), 2)[1], (i * 1.5).double().cumsum(1)),
                      (rng.integers(-3, 3, (2, 3, 4)), np.array([True, False, True]))),
    "scan_0d": (lambda x: (x.cumsum(0), tc.cummax(x, 0)[1]), (np.array(2.5, np.float32),)),
}




def _kernels(fn, arrays, threads=SIM_THREADS, tile=SIM_TILE):
    """[(group, name, launches.Launch)] of the program's groups that kernels compute, from
    the graph as compiled code hands it to a backend (compound primitives in their parts)."""
    graph = decompose.run(trace(fn, *[tc.tensor(a) for a in arrays]))
    out = []
    for k, g in enumerate(fusion.run(graph, CUDA).groups):
        plan = launches.launch_for(g, f"kernel{k}", threads, tile)
        if plan is not None:
            out.append((g, f"kernel{k}", plan))
    return graph, out


def _compile(name, text):
    namespace = {}
    exec(compile(source.PREAMBLE + text, f"<{name}>", "exec"), namespace)
    return namespace[name]


def _run(group, kernel, plan, values):
    """The kernel on the simulator: the group's root and stores from its inputs' values."""
    cuda = numba_cuda()
    # copies: the simulator writes every argument back, a constant's read-only array too
    args = [np.array(values[x]).reshape(np.shape(values[x]) or (1,)) for x in group.inputs]
    outs = [np.zeros(v.size, v.dtype) for v in group.values()]
    cuda.jit(kernel)[plan.blocks, plan.threads](*args, *outs)
    return {v: out.reshape(v.shape) for v, out in zip(group.values(), outs)}


@pytest.mark.parametrize("name", PROGRAMS)
def test_kernel_gives_the_eager_answer_on_the_simulator(name):
    fn, arrays = PROGRAMS[name]
    graph, kernels = _kernels(fn, arrays)
    assert kernels, "no elementwise kernel"
    values = dict(zip(graph.inputs, arrays))
    values.update({n: n.params["value"] for n in graph.nodes if n.op == "constant"})
    for node in graph.nodes:            # what no kernel computes: numpy, as eagerly
        if node not in values and not any(node is g.root for g, *_ in kernels) \
                and all(i in values for i in node.node_inputs()):
            args = [values[i] if isinstance(i, tc.ir.Node) else i for i in node.inputs]
            values[node] = node.prim.impl(*args, **node.params)
        for group, kname, plan in kernels:
            if group.root not in values and all(x in values for x in group.inputs):
                values.update(_run(group, _compile(kname, plan.text), plan, values))
    assert all(out in values for out in graph.outputs)
    wants = fn(*[tc.tensor(a) for a in arrays])
    for out, want in zip(graph.outputs, wants if isinstance(wants, tuple) else (wants,)):
        got, want = np.asarray(values[out]), want.numpy()
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6, err_msg=name)
        # signed zeros and infinities; not NaNs, whose sign bit is the hardware's (an x86
        # NaN made from numbers has it set, a CUDA one not)
        number = ~np.isnan(want)
        np.testing.assert_array_equal(np.signbit(got[number]), np.signbit(want[number]),
                                      err_msg=name)


def test_every_kernel_compiles_to_ptx_for_sm90(tmp_path):
    """Real CUDA, not only what the simulator runs: NVVM compiles each kernel to PTX. Two
    processes take every other kernel, side by side: pytest only waits on them, and the
    ~130 kernels take ~14 s of NVVM after a ~2 s import (a second core otherwise idles)."""
    jobs = []
    for name, (fn, arrays) in PROGRAMS.items():
        _, kernels = _kernels(fn, arrays, threads=128)
        for group, kname, plan in kernels:
            args = [list(arg) for arg in ptx.arg_types(group)]     # as the backend launches
            jobs.append({"program": name, "name": kname, "source": plan.text, "args": args})
    halves = [tmp_path / "jobs0.json", tmp_path / "jobs1.json"]
    for k, path in enumerate(halves):
        path.write_text(json.dumps(jobs[k::2]))
    script = textwrap.dedent("""
        import json, sys
        import numpy as np
        from numba import from_dtype, types
        from tracecomp.codegen.cuda import source
        from tracecomp.codegen.cuda.compat import numba_cuda
        cuda = numba_cuda()
        done = []
        for job in json.load(open(sys.argv[1])):
            namespace = {}
            exec(source.PREAMBLE + job["source"], namespace)
            sig = tuple(types.Array(from_dtype(np.dtype(d)), n, "C") for d, n in job["args"])
            ptx, _ = cuda.compile_ptx(namespace[job["name"]], sig, cc=(9, 0))
            assert ".target sm_90" in ptx and ".entry" in ptx, job["program"]
            done.append(job["program"])
        print(json.dumps(done))
    """)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    children = [subprocess.Popen([sys.executable, "-c", script, str(path)], env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for path in halves]
    done = []
    try:
        for child in children:
            out, err = child.communicate(timeout=600)
            assert child.returncode == 0, err[-3000:]
            done += json.loads(out.strip().splitlines()[-1])
    finally:
        for child in children:      # one failed or hung: the other is not left running
            if child.poll() is None:
                child.kill()
                child.wait()
    assert len(done) == len(jobs)


def test_numba_cuda_imports_where_numpy_has_no_row_stack():
    """numpy 2.5 removed row_stack, which numba-cuda 0.30.4 overloads on import: the shim
    adds a stand-in only for that import, and numpy is as installed after."""
    script = textwrap.dedent("""
        import numpy as np
        import tracecomp
        if hasattr(np, "row_stack"):         # as numpy >= 2.5 has it
            np.__all__ = [n for n in np.__all__ if n != "row_stack"]
            del np.row_stack
        from tracecomp.codegen.cuda.compat import numba_cuda
        cuda = numba_cuda()
        import math
        from numba import float32, types
        def k(x, out):
            i = cuda.grid(1)
            if i < out.shape[0]:
                out[i] = math.exp(x[i])
        ptx, _ = cuda.compile_ptx(k, (float32[:], float32[:]), cc=(9, 0))
        print(".entry" in ptx, hasattr(np, "row_stack"))
    """)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split() == ["True", "False"]


def test_every_rule_runs_in_a_sample():
    """Each op a kernel computes is in some program above, so the simulator and PTX tests
    check its rule."""
    computed = {n.op for fn, arrays in PROGRAMS.values() for g, *_ in _kernels(fn, arrays)[1]
                for n in g.nodes}
    missing = (set(source.RULES) | set(source.SCAN) | set(source.CUM_ARG)) - computed
    assert not missing, f"no program computes {sorted(missing)} in a kernel: add one"


def test_unsupported_nodes_stay_out_of_cuda_kernels():
    """An op without a CUDA rule is not fused into a kernel (float -> int casts, whose
    out-of-range results C leaves undefined, among them)."""
    graph = trace(lambda x: (x * 1e10).long() + 1, tc.tensor(_f32(3)))
    kinds = {n.op: g.kind for g in fusion.run(graph, CUDA).groups for n in g.nodes}
    assert kinds["cast"] == "opaque" and kinds["mul"] == "elementwise"
