"""Run by test_collectives.py in 2 (or more) ranks: every collective, for every dtype
tracecomp holds and every ReduceOp, blocking and async, against numpy computing the same
reduction from every rank's operand (each rank can make every rank's operand: they come
from seeded generators). Any mismatch raises, which aborts the job (faults.py) with the
failing check in the output; rank 0 prints PASSED at the end."""
import numpy as np

import tracecomp as tc
import tracecomp.distributed as dist
from tracecomp.distributed import ReduceOp

DTYPES = ["float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"]
OPS = [ReduceOp.SUM, ReduceOp.AVG, ReduceOp.PRODUCT, ReduceOp.MIN, ReduceOp.MAX,
       ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR]
TOL = {"float16": 1e-3, "float32": 1e-6, "float64": 1e-12}


def value(r, dtype, shape=(3, 4)):
    """Rank r's operand (small integers: a product over the ranks fits in int8)."""
    rng = np.random.default_rng(100 + r)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype.startswith("float"):
        return (rng.standard_normal(shape) * 3).astype(dtype)
    return rng.integers(1, 4, shape).astype(dtype)


def reference(arrays, op, dtype):
    """numpy's reduction over the ranks, or (error type, message) where torch refuses."""
    stack = np.stack(arrays)
    floating = dtype.startswith("float")
    if op is ReduceOp.AVG and not floating:
        return RuntimeError, "can't be cast to the desired output type"
    if op in (ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR) and floating:
        return RuntimeError, "non-integral dtype"
    if dtype == "bool":         # numpy's sum/prod/min/max of bools, cast back to bool
        fold = {ReduceOp.SUM: np.any, ReduceOp.MAX: np.any, ReduceOp.BOR: np.any,
                ReduceOp.PRODUCT: np.all, ReduceOp.MIN: np.all, ReduceOp.BAND: np.all,
                ReduceOp.BXOR: np.logical_xor.reduce}[op]
        return fold(stack, axis=0)
    fold = {ReduceOp.SUM: lambda a: a.sum(0, dtype=dtype),
            ReduceOp.AVG: lambda a: a.sum(0, dtype=dtype) / np.array(len(a), dtype),
            ReduceOp.PRODUCT: lambda a: a.prod(0, dtype=dtype),
            ReduceOp.MIN: lambda a: a.min(0), ReduceOp.MAX: lambda a: a.max(0),
            ReduceOp.BAND: lambda a: np.bitwise_and.reduce(a, axis=0),
            ReduceOp.BOR: lambda a: np.bitwise_or.reduce(a, axis=0),
            ReduceOp.BXOR: lambda a: np.bitwise_xor.reduce(a, axis=0)}[op]
    return fold(stack).astype(dtype)


def same(got, want, what):
    got = got.numpy() if isinstance(got, tc.Tensor) else got
    assert got.dtype == want.dtype, f"{what}: dtype tracecomp={got.dtype} | numpy={want.dtype}"
    tol = TOL.get(str(want.dtype))
    if tol is None:
        assert np.array_equal(got, want), f"{what}: tracecomp={got} | numpy={want}"
    else:
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=what)


def raises(error, fn, what):
    kind, text = error
    try:
        fn()
    except kind as exc:
        assert text in str(exc), f"{what}: raised {exc!r}, expected {text!r}"
        return
    raise AssertionError(f"{what}: did not raise {kind.__name__}({text!r})")


def check_all_reduce(rank, world):
    for dtype in DTYPES:
        everyone = [value(r, dtype) for r in range(world)]
        for op in OPS:
            want = reference(everyone, op, dtype)
            for async_op in (False, True):
                what = f"all_reduce({dtype}, {op.name}, async_op={async_op})"
                t = tc.tensor(everyone[rank].copy())
                if isinstance(want, tuple):
                    raises(want, lambda t=t, op=op, a=async_op: dist.all_reduce(t, op, None, a),
                           what)
                    continue
                version = t._version
                work = dist.all_reduce(t, op=op, async_op=async_op)
                if async_op:
                    assert work.wait() is True and work.is_completed(), what
                    assert work.result()[0] is t, what
                else:
                    assert work is None, what
                same(t, want, what)
                assert t._version > version, f"{what}: the version counter did not move"


def check_layouts(rank, world):
    """Strided views, 0-d and empty tensors reduce in place like contiguous ones."""
    base = tc.tensor(value(rank, "float64", (4, 6)))
    view = base.t()[::2]                           # a strided view of base
    want = reference([value(r, "float64", (4, 6)).T[::2] for r in range(world)],
                     ReduceOp.SUM, "float64")
    dist.all_reduce(view)
    same(view, want, "all_reduce of a strided view")
    same(base.t()[::2], want, "all_reduce of a view writes into its base")
    scalar = tc.tensor(float(rank + 1))
    dist.all_reduce(scalar, op=ReduceOp.MAX)
    assert scalar.item() == world, "all_reduce of a 0-d tensor"
    empty = tc.zeros(0, 3)
    dist.all_reduce(empty)
    assert tuple(empty.shape) == (0, 3)


def check_broadcast_and_gather(rank, world):
    for dtype in DTYPES:
        everyone = [value(r, dtype) for r in range(world)]
        for src in range(world):
            t = tc.tensor(everyone[rank].copy())
            dist.broadcast(t, src=src)
            same(t, everyone[src], f"broadcast({dtype}, src={src})")
        outs = [tc.tensor(np.zeros((3, 4), dtype)) for _ in range(world)]
        work = dist.all_gather(outs, tc.tensor(everyone[rank]), async_op=True)
        work.wait()
        for r in range(world):
            same(outs[r], everyone[r], f"all_gather({dtype})[{r}]")
        flat = tc.tensor(np.zeros((3 * world, 4), dtype))
        dist.all_gather_into_tensor(flat, tc.tensor(everyone[rank]))
        same(flat, np.concatenate(everyone), f"all_gather_into_tensor({dtype})")
    raises((RuntimeError, "invalid root rank"), lambda: dist.broadcast(tc.zeros(2), world),
           "broadcast from a rank that does not exist")
    raises((RuntimeError, "one tensor per rank"),
           lambda: dist.all_gather([tc.zeros(2)] * (world + 1), tc.zeros(2)),
           "all_gather into a list of the wrong length")


def check_reduce_scatter(rank, world):
    for dtype in DTYPES:
        # rank r's input list: one block per destination rank d
        blocks = [[value(10 * r + d, dtype, (5,)) for d in range(world)] for r in range(world)]
        for op in (ReduceOp.SUM, ReduceOp.AVG, ReduceOp.MAX):
            want = reference([blocks[r][rank] for r in range(world)], op, dtype)
            what = f"reduce_scatter({dtype}, {op.name})"
            out = tc.tensor(np.zeros(5, dtype))
            inputs = [tc.tensor(b) for b in blocks[rank]]
            if isinstance(want, tuple):
                raises(want, lambda o=out, i=inputs, op=op: dist.reduce_scatter(o, i, op), what)
                continue
            dist.reduce_scatter(out, inputs, op=op)
            same(out, want, what)
            out = tc.tensor(np.zeros(5, dtype))
            dist.reduce_scatter_tensor(out, tc.tensor(np.concatenate(blocks[rank])), op=op)
            same(out, want, what.replace("reduce_scatter", "reduce_scatter_tensor"))


def check_reduce(rank, world):
    everyone = [value(r, "float32") for r in range(world)]
    dst = world - 1
    t = tc.tensor(everyone[rank].copy())
    dist.reduce(t, dst=dst, op=ReduceOp.SUM)
    want = reference(everyone, ReduceOp.SUM, "float32") if rank == dst else everyone[rank]
    same(t, want, f"reduce(dst={dst}) on rank {rank}")


def check_compiled_all_reduce(rank, world):
    """dist.all_reduce inside tracecomp.compile is an `all_reduce` node of the graph."""
    def normalized(x):
        total = x.sum().reshape(1)
        dist.all_reduce(total)
        return x / total

    everyone = [value(r, "float32") for r in range(world)]
    want = everyone[rank] / np.sum([e.sum() for e in everyone], dtype=np.float32)
    for backend in ("llvm", "interp"):
        compiled = tc.compile(normalized, backend=backend)
        for _ in range(2):                      # traced, then the cached artifact
            got = compiled(tc.tensor(everyone[rank]))
            same(got, want.astype(np.float32), f"all_reduce inside tracecomp.compile ({backend})")
        text = "\n".join(str(g) for g in compiled.graphs.values())
        assert "all_reduce(" in text, f"no all_reduce node in the compiled graphs:\n{text}"


def check_compiled_all_gather(rank, world):
    """dist.all_gather (MoCo v3's concat_all_gather: a list made by ones_like, under
    no_grad, then cat) and all_gather_into_tensor inside tracecomp.compile are one
    `all_gather` node each; the gradient of the compiled loss flows through the local
    operand only (the gathered rows are constants to autograd, as torch's)."""
    def contrastive(q, k):
        with tc.no_grad():
            rows = [tc.ones_like(k) for _ in range(dist.get_world_size())]
            dist.all_gather(rows, k)
            keys = tc.cat(rows, dim=0)
        logits = q @ keys.T
        labels = tc.arange(q.shape[0]) + q.shape[0] * dist.get_rank()
        return tc.nn.functional.cross_entropy(logits, labels)

    def stacked(x):
        out = tc.empty(world * x.shape[0], x.shape[1])
        dist.all_gather_into_tensor(out, x * 2)
        return out

    qs = [value(r, "float32") for r in range(world)]
    ks = [value(r + world, "float32") for r in range(world)]
    want_loss = tc.nn.functional.cross_entropy(
        tc.tensor(qs[rank]) @ tc.tensor(np.concatenate(ks)).T,
        tc.arange(3) + 3 * rank)
    for backend in ("llvm", "interp"):
        compiled = tc.compile(contrastive, backend=backend)
        for _ in range(2):                      # traced, then the cached artifact
            q = tc.tensor(qs[rank], requires_grad=True)
            loss = compiled(q, tc.tensor(ks[rank]))
            loss.backward()
            want_q = tc.tensor(qs[rank], requires_grad=True)
            tc.nn.functional.cross_entropy(want_q @ tc.tensor(np.concatenate(ks)).T,
                                           tc.arange(3) + 3 * rank).backward()
            same(loss.detach(), want_loss.numpy(), f"compiled all_gather loss ({backend})")
            same(q.grad, want_q.grad.numpy(), f"compiled all_gather gradient ({backend})")
        text = "\n".join(str(g) for g in compiled.graphs.values())
        assert "all_gather(" in text, f"no all_gather node in the compiled graphs:\n{text}"
        got = tc.compile(stacked, backend=backend)(tc.tensor(qs[rank]))
        same(got, np.concatenate(qs) * 2, f"compiled all_gather_into_tensor ({backend})")


def check_overlapped_all_reduce(rank, world):
    """All-reduces with a large product between them and their first reader are started
    before the product and waited for after it (passes/buckets.py, on the communication
    thread): two kinds in flight at once, the same values as numpy, call after call."""
    def f(x, w):
        mean, top = x * 2, x - 1
        dist.all_reduce(mean, op=ReduceOp.AVG)
        dist.all_reduce(top, op=ReduceOp.MAX)
        return mean + (w @ w).sum(), top

    everyone = [value(r, "float32") for r in range(world)]
    w = np.full((128, 128), 0.01, np.float32)       # 2**21 multiply-adds: worth overlapping
    want_mean = np.mean([e * 2 for e in everyone], axis=0) + (w @ w).sum()
    want_top = np.max([e - 1 for e in everyone], axis=0)
    for backend in ("llvm", "interp"):
        compiled = tc.compile(f, backend=backend)
        for k in range(3):
            mean, top = compiled(tc.tensor(everyone[rank]), tc.tensor(w))
            np.testing.assert_allclose(mean.numpy(), want_mean, rtol=1e-5,
                                       err_msg=f"overlapped AVG ({backend}, call {k})")
            same(top, want_top, f"overlapped MAX ({backend}, call {k})")
        text = str(compiled.graphs["forward.optimized"])
        assert text.count("all_reduce_start(") == 2 == text.count("all_reduce_wait("), text
        assert text.rindex("all_reduce_start(") < text.index("matmul(") < \
            text.index("all_reduce_wait("), f"the product is not between start and wait:\n{text}"


def main():
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    assert dist.is_initialized() and dist.get_backend() == "mpi"
    raises((ValueError, "twice"), lambda: dist.init_process_group("mpi"), "a second init")
    check_all_reduce(rank, world)
    check_layouts(rank, world)
    check_broadcast_and_gather(rank, world)
    check_reduce_scatter(rank, world)
    check_reduce(rank, world)
    check_compiled_all_reduce(rank, world)
    check_compiled_all_gather(rank, world)
    check_overlapped_all_reduce(rank, world)
    dist.barrier()
    dist.barrier(async_op=True).wait()
    dist.destroy_process_group()
    assert not dist.is_initialized()
    if rank == 0:
        print(f"collectives: PASSED on {world} ranks")


if __name__ == "__main__":
    main()
