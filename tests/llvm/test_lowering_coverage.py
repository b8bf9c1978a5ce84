"""Which primitives the llvm backend computes natively, and which it leaves to numpy host
steps (issue 11: a forgotten lowering silently became a numpy step, and no test said so).

Every op-table case (tests/op_table.py) is traced, and its joint forward/backward graph
is built (no LLVM compile: this takes about a second) and fused for the host's llvm Target,
as the backend does. A node is native when its group is a kernel (or a BLAS call, or a
view), not a numpy host step ("opaque": no native lowering, or not fusible as any kernel
kind, which is how flip and concat stayed numpy steps while kernels.supported said yes).
A primitive whose float nodes never lower must be in
HOST_ONLY with its reason. A primitive that lowers only for some shapes must be in
PARTIAL. Each list must be exact: a primitive that gains a lowering fails the test until
its entry goes.
"""
import collections
import warnings

import numpy as np

import tracecomp as tc
import tracecomp.codegen.llvm.backend  # noqa: F401 - registers every lowering (select, window)
from tracecomp.codegen.llvm.target import host
from tracecomp.ir import CONSTANT, INPUT
from tracecomp.passes import autodiff, decompose, fusion
from tracecomp.tracing.tracer import trace

from op_table import CASES, differentiable_args, make_inputs

_LAPACK = "a LAPACK factorization: numpy's LAPACK call is the right tool on the host"
_SCAN = "a scan along one dim (sequential): no kernel written yet"
_CTC = "the alpha/beta recursion over time, in numpy float64 (ops/ctc.py): no kernel written yet"
HOST_ONLY = {
    "cumsum": _SCAN, "cumprod": _SCAN, "logcumsumexp": _SCAN,
    "ctc_loss": _CTC, "ctc_loss_backward": _CTC,
    "index_put": "advanced-index writes (with accumulate): no kernel written yet",
    "scatter_reduce": "scatter with amax/amin/prod/mean: no kernel written yet",
    "polygamma": "the series for polygamma(n, x) is not in mathlib",
    "linalg_adjugate": _LAPACK, "linalg_cholesky": _LAPACK, "linalg_det": _LAPACK,
    "linalg_eigh_values": _LAPACK, "linalg_eigh_vectors": _LAPACK, "linalg_inv": _LAPACK,
    "linalg_logabsdet": _LAPACK, "linalg_pinv": _LAPACK, "linalg_qr_q": _LAPACK,
    "linalg_qr_r": _LAPACK, "linalg_slogdet_sign": _LAPACK, "linalg_solve": _LAPACK,
    "linalg_svd_s": _LAPACK, "linalg_svd_u": _LAPACK, "linalg_svd_vh": _LAPACK,
    "linalg_solve_triangular": _LAPACK, "linalg_lu_factor": _LAPACK, "cholesky_solve": _LAPACK,
    "linalg_matrix_exp": "scipy's Pade approximant with scaling and squaring (a data-dependent "
                         "number of squarings)",
}
PARTIAL = {
    "concat": "up to kernels.MAX_PIECES pieces (each output element reads every piece)",
    "matmul": "2-D, or batched with each operand's batch the output's or none (gemm calls)",
    "gather": "kernels.SUPPORT's conditions on the index (select.py)",
    "scatter_add": "kernels.SUPPORT's conditions on the index (select.py)",
    "index": "a row lookup x[idx] by indices proven rows of x (an embedding's checked "
             "indices, select.py); other advanced indexing is numpy's",
}


HOST_STEPS = ("opaque", "batched_matmul")      # group kinds the backend runs with numpy


def _graphs():
    """The traced graph of every op-table case variant, and its joint graph when it has
    gradients."""
    for case in CASES:
        for k in range(len(case.variants)):
            arrays = make_inputs(case, k, np.float32)
            grads = set(differentiable_args(case, k))
            xs = [tc.tensor(a, requires_grad=i in grads and a.dtype.kind == "f")
                  for i, a in enumerate(arrays)]

            def fn(*args, case=case):
                out = case.fn(tc, *args)
                outs = out if isinstance(out, (tuple, list)) else (out,)
                return tuple(o for o in outs if isinstance(o, tc.Tensor))
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    graph = trace(fn, *xs)
            except tc.errors.TracecompError:
                continue            # data-dependent shapes: refused by tracing on purpose
            yield graph
            if any(o.requires_grad for o in graph.outputs):
                yield autodiff.run(graph).graph


def test_every_primitive_lowers_or_is_listed_with_a_reason():
    float_nodes, native = collections.Counter(), collections.Counter()
    for graph in _graphs():
        # as compiled code hands it over: compound primitives (log_softmax) in their parts
        for group in fusion.run(decompose.run(graph), host()).groups:
            # a matmul's absorbed transposes are views (trans flags), whoever multiplies
            members = [group.root] if "matmul" in group.kind else group.nodes
            for node in members:
                if node.op not in (CONSTANT, INPUT) and node.dtype.kind == "f":
                    float_nodes[node.op] += 1
                    native[node.op] += group.kind not in HOST_STEPS
    never = {op for op in float_nodes if native[op] == 0}
    some = {op for op in float_nodes if 0 < native[op] < float_nodes[op]}
    assert never == set(HOST_ONLY), (
        f"lower natively but listed: {sorted(set(HOST_ONLY) - never)}; "
        f"never lower, not listed: {sorted(never - set(HOST_ONLY))}")
    assert some == set(PARTIAL), (
        f"listed as partial but not: {sorted(set(PARTIAL) - some)}; "
        f"partial, not listed: {sorted(some - set(PARTIAL))}")
    assert all(HOST_ONLY.values()) and all(PARTIAL.values())
    assert len(float_nodes) > 60          # the op table reaches most primitives
