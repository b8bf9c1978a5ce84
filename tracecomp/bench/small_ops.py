"""The `small-ops` workloads: eager code on tiny tensors, where the time is the framework's
per-op Python overhead (dispatch, bookkeeping, tensor objects), not arithmetic.

The first two are the batch sampling of Karpathy's bigram and nanoGPT scripts,

    x = torch.stack([data[i:i + block] for i in ix])
    y = torch.stack([data[i + 1:i + block + 1] for i in ix])

(iterating `ix` makes 0-d tensors, `i + block` adds to one, `data[i:j]` slices with them,
`stack` joins the rows), over a 1-D int64 tensor of a million tokens. The scripts draw `ix`
with `torch.randint` on every call; here it is drawn once and passed in, because the two
libraries' random streams differ and every contestant's result is checked against tracecomp
eager's. The others are the small ops of real models: an embedding-style gather `table[idx]`,
a 16x16 matmul + relu + sum with its backward, and an elementwise chain on 16x16 tensors; and
`x + 1` on one float, where a compiled call's time is its overhead.

The bigram workloads have no compiled contestants: their slice bounds come from the data
(`i` is a tensor), which a compiled graph cannot have.
"""
import functools

import numpy as np

from .workloads import Contestant, Run, Workload, torch_compile, torch_or_none

TOKENS = 1_000_000
VOCAB = 65     # the tiny-shakespeare character set of the bigram script
GATHER = (VOCAB, 32, (32, 8))   # table rows, row width, index shape
SMALL = 16


def _bigram(lib, block):
    stack = lib.stack

    def get_batch(data, ix):
        x = stack([data[i:i + block] for i in ix])
        y = stack([data[i + 1:i + block + 1] for i in ix])
        return x, y
    return get_batch


def _bigram_numpy(data, ix, block):
    x = np.stack([data[i:i + block] for i in ix])
    y = np.stack([data[i + 1:i + block + 1] for i in ix])
    return x, y


def _gather(lib):
    return lambda table, idx: table[idx]


def _matmul_relu_sum(lib):
    return lambda x, w: (x @ w).relu().sum()


def _matmul_relu_sum_numpy(x, w):
    """(loss, d loss / d w) of sum(relu(x @ w)), by hand."""
    h = x @ w
    return np.maximum(h, 0).sum(), x.T @ (h > 0).astype(x.dtype)


def _add_one(lib):
    return lambda x: x + 1.0


def _chain(lib):
    return lambda x, y: ((x * y + 1.0).tanh() * x - y).sigmoid()


def _chain_numpy(x, y):
    return 1 / (1 + np.exp(-(np.tanh(x * y + np.float32(1)) * x - y)))


def _framework_run(lib, build, arrays, compile_fn=None, backward=False):
    """A Run of `build(lib)` on the inputs. With `backward`, the last input is a weight that
    requires grad: each call clears its .grad, runs forward (compiled, with compile_fn) and
    backward, and returns the loss; the check compares the weight's gradient too."""
    inputs = [lib.from_numpy(a.copy()) for a in arrays]
    fn = build(lib)
    fn = compile_fn(fn) if compile_fn else fn
    if not backward:
        return Run(lambda: fn(*inputs))
    w = inputs[-1].requires_grad_(True)

    def step():
        w.grad = None
        loss = fn(*inputs)
        loss.backward()
        return loss
    return Run(step, lambda: [w.grad])


def _numpy_run(fn, arrays, backward=False):
    if not backward:
        return Run(lambda: fn(*arrays))
    grads = []

    def step():
        loss, gw = fn(*arrays)
        grads[:] = [gw]
        return loss
    return Run(step, lambda: grads)


def _contestants(opts, build, arrays, numpy_fn, backward=False, not_traceable=""):
    """tracecomp eager, compiled (unless `not_traceable` says why not), numpy by hand, torch
    eager and torch.compile; numpy_fn=None: no numpy version."""
    import tracecomp
    make = functools.partial(_framework_run, build=build, arrays=arrays, backward=backward)
    eager = "tracecomp eager"
    out = [Contestant(eager, functools.partial(make, tracecomp))]
    for backend in opts.backends:
        compile_fn = functools.partial(tracecomp.compile, backend=backend)
        out.append(Contestant(f"tracecomp {backend}", None if not_traceable else
                              functools.partial(make, tracecomp, compile_fn=compile_fn),
                              eager, skipped=not_traceable))
    out.append(Contestant("numpy by hand", numpy_fn and functools.partial(
        _numpy_run, numpy_fn, arrays, backward), skipped="" if numpy_fn else "n/a"))
    torch = torch_or_none()
    if torch is None:
        return out + [Contestant(n, None, skipped="torch not installed")
                      for n in ("torch eager", "torch.compile")]
    out.append(Contestant("torch eager", functools.partial(make, torch)))
    why = not_traceable or ("" if opts.torch_compile else "--no-torch-compile")
    out.append(Contestant("torch.compile", None if why else functools.partial(
        make, torch, compile_fn=functools.partial(torch_compile, torch)), "torch eager",
        skipped=why))
    return out


def _workload(key, title, build, note=""):
    return Workload(key, "small-ops", title, build, note=note)


def workloads(opts):
    """The small-ops workloads, in report order."""
    rng = np.random.default_rng(4)
    data = rng.integers(0, VOCAB, TOKENS).astype(np.int64)
    out = []
    for block, batch in ((8, 32), (256, 64)):
        ix = rng.integers(0, TOKENS - block, batch).astype(np.int64)
        build = functools.partial(_contestants, opts, functools.partial(_bigram, block=block),
                                  (data, ix), functools.partial(_bigram_numpy, block=block),
                                  not_traceable="data-dependent slice bounds")
        out.append(_workload(
            f"bigram_batch_b{batch}_t{block}",
            f"bigram batch sampling (stack of data[i:i+{block}] for i in ix), batch {batch}",
            build, f"ix is an input here, drawn once; each call makes {2 * batch} slices, "
            f"{3 * batch} 0-d adds and 2 stacks of {batch} rows"))
    rows, width, idx_shape = GATHER
    table = rng.standard_normal((rows, width)).astype(np.float32)
    idx = rng.integers(0, rows, idx_shape).astype(np.int64)
    out.append(_workload("gather_embedding", f"gather table[idx], table {rows}x{width}, idx "
                         f"{'x'.join(map(str, idx_shape))}",
                         functools.partial(_contestants, opts, _gather, (table, idx),
                                           lambda t, i: t[i])))
    x, w = (rng.standard_normal((SMALL, SMALL)).astype(np.float32) for _ in range(2))
    out.append(_workload("matmul_relu_sum_backward",
                         f"(x @ w).relu().sum() and backward, {SMALL}x{SMALL} float32",
                         functools.partial(_contestants, opts, _matmul_relu_sum, (x, w),
                                           _matmul_relu_sum_numpy, backward=True),
                         "a call clears w.grad, runs forward and backward"))
    one = np.ones(1, np.float32)
    out.append(_workload("call_overhead", "x + 1 on one float32: a call's own cost",
                         functools.partial(_contestants, opts, _add_one, (one,),
                                           lambda a: a + np.float32(1)),
                         "the arithmetic is one add; a compiled call's time here is the "
                         "Python of its guards, argument passing and result wrapping"))
    out.append(_workload("elementwise_chain",
                         f"sigmoid(tanh(x*y+1)*x-y), {SMALL}x{SMALL} float32",
                         functools.partial(_contestants, opts, _chain, (x, w), _chain_numpy)))
    return out
