"""Run one workload's contestants: build, check, calibrate, then time them interleaved.

1. Build each contestant and time its first call (which includes any compile). A contestant
   that raises is reported as `failed: <reason>` and the others go on.
2. Check: every contestant's first output (and, for training steps, its gradients) is
   compared with tracecomp eager's, within rtol 1e-4 (atol is rtol times the largest
   |value|, so entries near zero are judged on the tensor's scale). A mismatch is kept in
   the result and reported loudly.
3. Calibrate: the second call is timed (it may still compile: a whole compiled training
   step compiles again once the optimizer has state), then a round of one contestant is as
   many calls as fit in `round_s` (at least 1), from the third call's time.
4. Time: round by round, each contestant runs its calls, in an order rotated every round,
   so machine noise (another process, a CPU clock change) hits all of them alike. Before its
   turn a contestant waits `settle_s`, until the previous one's thread pools stop spinning:
   they share the cores, and one pool's spinning would be charged to the next contestant.
   The time per call of a round is the round's time over its call count; median and min are
   over rounds.
"""
import math
import statistics
import time
from dataclasses import dataclass, field

import numpy as np

RTOL = 1e-4
REFERENCE = "tracecomp eager"


@dataclass
class Result:
    name: str
    status: str = "ok"            # "ok", "failed: ...", "skipped: ..."
    check: str = ""               # "reference", "OK", "MISMATCH: ...", "" when not run
    max_err: float | None = None  # largest |difference| relative to the tensor's max |value|
    first_s: float | None = None  # build + first call (includes the compile)
    second_s: float | None = None  # the second call (a compiled step may compile again)
    median_s: float | None = None
    min_s: float | None = None
    calls_per_round: int = 0
    times_s: list = field(default_factory=list)
    compile_s: float | None = None    # first_s + second_s - 2 median_s, when compiled
    baseline: str | None = None
    break_even: int | None = None     # calls until the compile has paid for itself
    throughput: float | None = None   # in the workload's unit, from the median
    vs_eager: float | None = None     # median / tracecomp eager's median
    vs_torch_eager: float | None = None
    step_bytes: int | None = None     # heap one call uses, held memory included (peak.py)
    held_bytes: int | None = None     # of which compiled code keeps between calls
    memory_vs_torch: float | None = None
    memory_note: str = ""             # why step memory was not measured
    of_copy: float | None = None      # throughput / the host's copy bandwidth (copy_bytes)

    @property
    def ok(self):
        return self.status == "ok"


def to_numpy(value):
    """A private float64 copy of a tensor, array or number (compiled outputs may be reused);
    a tuple of them (a function's several results) becomes one flat array."""
    if isinstance(value, (tuple, list)):
        return np.concatenate([to_numpy(v).ravel() for v in value])
    if hasattr(value, "detach"):
        value = value.detach().cpu()        # from the GPU too
    if hasattr(value, "numpy"):
        value = value.numpy()
    return np.array(value, dtype=np.float64)


def snapshot(run, out):
    grads = run.grads() if run.grads else None
    return to_numpy(out), None if grads is None else [to_numpy(g) for g in grads]


def compare(got, ref):
    """(max error relative to the reference's largest |value|, ok) for two arrays."""
    if got.shape != ref.shape:
        return math.inf, False
    scale = float(np.max(np.abs(ref), initial=0.0)) or 1.0
    ok = np.allclose(got, ref, rtol=RTOL, atol=RTOL * scale, equal_nan=True)
    diff = np.abs(got - ref)
    err = float(np.max(np.where(np.isnan(diff), math.inf, diff), initial=0.0)) / scale
    return err, bool(ok)


def check(first, ref):
    """The check column for a contestant's (output, grads) against the reference's."""
    out, grads = first
    ref_out, ref_grads = ref
    err, ok = compare(out, ref_out)
    where = "output"
    if grads is not None and ref_grads is not None:
        if len(grads) != len(ref_grads):
            return math.inf, f"MISMATCH: {len(grads)} gradients, expected {len(ref_grads)}"
        for k, (g, r) in enumerate(zip(grads, ref_grads)):
            e, good = compare(g, r)
            if not good and ok:
                where = f"gradient {k} {list(r.shape)}"
            ok, err = ok and good, max(err, e)
    if ok:
        return err, "OK"
    return err, f"MISMATCH: {where} differs by {err:.2g} (rtol {RTOL:g})"


def _failure(exc):
    lines = str(exc).strip().splitlines()
    reason = f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    return f"failed: {reason[:160]}"


def _time_calls(call, n):
    start = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - start) / n


def run_workload(workload, rounds, round_s, log=print, settle_s=0.0):
    """Results (one per contestant, in order) for one workload."""
    results, live, firsts = [], {}, {}
    for c in workload.contestants():
        res = Result(c.name, baseline=c.baseline)
        results.append(res)
        if c.make is None:
            res.status = f"skipped: {c.skipped}"
            continue
        log(f"  {c.name}: first call{' (compiles)' if c.baseline else ''} ...")
        try:
            start = time.perf_counter()
            run = c.make()
            out = run.call()
            res.first_s = time.perf_counter() - start
            firsts[c.name] = snapshot(run, out)
        except Exception as exc:    # noqa: BLE001 - a contestant's failure is a result
            res.status = _failure(exc)
            continue
        live[c.name] = (run, res)

    ref = firsts.get(REFERENCE)
    for name, (_, res) in live.items():
        if name == REFERENCE:
            res.check, res.max_err = "reference", 0.0
        elif ref is None:
            res.check = "no reference"
        else:
            res.max_err, res.check = check(firsts[name], ref)

    for name, (run, res) in list(live.items()):
        try:       # the second call can still compile (new optimizer state, a guard)
            res.second_s = _time_calls(run.call, 1)
            res.calls_per_round = max(1, min(10_000, round(round_s / _time_calls(run.call, 1))))
        except Exception as exc:    # noqa: BLE001
            res.status = _failure(exc)
            del live[name]
    order = list(live)
    copy, copies = _copy_call(workload.copy_bytes, round_s, workload.copy_device), []
    for r in range(rounds):
        k = r % len(order) if order else 0
        for name in order[k:] + order[:k]:
            run, res = live[name]
            if not res.ok:
                continue
            time.sleep(settle_s)
            try:
                res.times_s.append(_time_calls(run.call, res.calls_per_round))
            except Exception as exc:    # noqa: BLE001
                res.status = _failure(exc)
        if copy is not None:        # the bandwidth reference, in the same rounds
            time.sleep(settle_s)
            copies.append(_time_calls(*copy))
    if copies:
        workload.copy_gbs = 2 * workload.copy_bytes / statistics.median(copies) / 1e9
    summarize(workload, results)
    return results


def _copy_call(nbytes, round_s, device="cpu"):
    """(call, calls per round) of copying nbytes into another array, or None: numpy's copy
    on the CPU, the driver's device-to-device copy on a GPU (waited for)."""
    if not nbytes:
        return None
    src = np.random.default_rng(0).integers(0, 255, nbytes, dtype=np.uint8)
    if device == "cpu":
        dst = np.empty_like(src)

        def call():
            np.copyto(dst, src)
    else:
        from tracecomp.codegen.cuda.compat import numba_cuda
        cuda = numba_cuda()
        src = cuda.to_device(src)
        dst = cuda.device_array_like(src)

        def call():
            dst.copy_to_device(src)
            cuda.synchronize()
    call()
    return call, max(1, min(10_000, round(round_s / _time_calls(call, 1))))


def summarize(workload, results):
    """Median, min, throughput, ratios, compile time and break-even from the raw times."""
    by_name = {r.name: r for r in results}
    for r in results:
        if r.ok and r.times_s:
            r.median_s, r.min_s = statistics.median(r.times_s), min(r.times_s)
            if workload.unit:
                r.throughput = workload.work / r.median_s / 1e9
            if workload.unit == "GB/s" and workload.copy_gbs:
                r.of_copy = r.throughput / workload.copy_gbs
    for r in results:
        if r.median_s is None:
            continue
        for attr, other in (("vs_eager", "tracecomp eager"), ("vs_torch_eager", "torch eager")):
            base = by_name.get(other)
            if base is not None and base.median_s:
                setattr(r, attr, r.median_s / base.median_s)
        if r.baseline is None:
            continue
        r.compile_s = max(0.0, r.first_s + (r.second_s or r.median_s) - 2 * r.median_s)
        base = by_name.get(r.baseline)
        if base is not None and base.median_s and r.median_s < base.median_s:
            r.break_even = math.ceil(r.compile_s / (base.median_s - r.median_s))
