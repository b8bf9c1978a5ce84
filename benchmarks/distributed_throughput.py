"""Data-parallel training throughput on one machine, and a model of it over several.

    .venv/bin/python benchmarks/distributed_throughput.py [--batch 64] [--steps 30]
                                                          [--procs 1,2] [--json PATH]

What is measured (each process count is one `mpiexec -n P` job, every process with one
BLAS and one tracecomp thread, so that P processes use P cores):

  1. samples/s of a training step (zero_grad, forward, cross_entropy, backward, SGD with
     momentum 0.9) of the MLP (784-256-256-10) and LeNet (conv 6@5x5 pad 2, pool, conv
     16@5x5, pool, 400-120-84-10), wrapped in DistributedDataParallel, each rank on its own
     batch of --batch samples (weak scaling: P ranks train P * batch samples per step),
     eager and as one compiled step (`tracecomp.compile`, the all-reduce in the graph).
     With one process also the unwrapped model ("plain"), to show what DDP itself costs.
     samples/s = P * batch * steps / (wall time between two barriers).
  2. the time of one all_reduce (SUM, float32, tracecomp.distributed on a tensor) per
     message size, median of repeated calls, on 2 processes;
  3. overlap, on 2 processes: a compiled function that all-reduces 1 MiB and then, without
     reading the result, multiplies matrices for C (its time alone). Rank 1 joins the
     all-reduce D = C / 2 late (the stand-in for a slow network or a slower peer). With the
     all-reduce running beside the native code (passes/buckets.py,
     distributed/comm_thread.py), rank 0's call takes about C; a chain that reads the
     result first (which nothing can overlap) takes at least C + D = 1.5 C.

The model of multi-machine scaling, and its assumptions:

  - a step is compute, then gradient all-reduce, with no overlap. True of the eager path
    (the eager engine adds leaf gradients after its walk over the graph, so buckets start
    only then); the compiled step starts its first bucket before the first layer's weight
    gradient is computed and waits for the buckets only where the optimizer reads them, so
    the model is pessimistic for it by that product's time (~0.1 ms for the MLP);
  - compute time per rank does not depend on P (each rank has its own cores and its own
    batch): it is the measured 1-process DDP step time.
  - MPI's all-reduce of n bytes on P machines costs, for the large messages that matter,
    what a ring all-reduce costs: 2 (P - 1) alpha + 2 (P - 1) / P * n / beta, with alpha the
    per-message latency and beta the per-link bandwidth (MPICH picks recursive doubling for
    small messages, log2(P) alpha + log2(P) n / beta; the formula takes the smaller);
  - messages per step: one per bucket (first bucket 1 MiB, then 25 MiB: 2 for the MLP, 1
    for LeNet), eager and compiled alike (one bucket rule: distributed/bucketing.py);
  - two networks, by assumption (not measured here): 10 Gb/s Ethernet with TCP
    (alpha = 25 us, beta = 1.1 GB/s) and 100 Gb/s InfiniBand (alpha = 2 us, beta = 11 GB/s).
    The measured single-machine all-reduce (shared memory) gives alpha and beta of this
    machine for comparison;
  - the model ignores stragglers, contention with other jobs, and the reduction's own
    arithmetic (n / P floats added per step of the ring, ~1 ms per 100 MB).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

MODELS = ("mlp", "lenet")
SIZES = [2 ** k for k in range(10, 25, 2)]          # 1 KiB .. 16 MiB
NETWORKS = {"10GbE TCP": (25e-6, 1.1e9), "100Gb IB": (2e-6, 11e9)}
MACHINES = (2, 4, 8, 16, 32)
MESSAGES = {"mlp": 2, "lenet": 1}                   # buckets per step, eager and compiled


# --- what each rank runs -------------------------------------------------------------------
def build(name, nn):
    if name == "mlp":
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                             nn.Linear(256, 10))
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def train_step(model, opt, F):
    """The step, with model and opt in its closure (where tracecomp.compile finds them)."""
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def time_steps(step, x, y, steps, dist):
    for _ in range(3):                  # compiles (twice: the optimizer's state appears)
        step(x, y)
    dist.barrier()
    start = time.perf_counter()
    for _ in range(steps):
        step(x, y)
    dist.barrier()
    return time.perf_counter() - start


def worker(batch, steps):
    import numpy as np

    import tracecomp as tc
    import tracecomp.distributed as dist
    import tracecomp.nn.functional as F
    from tracecomp import nn
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    out = {"procs": world, "steps": {}, "allreduce": {}}
    for name in MODELS:
        tc.manual_seed(rank)
        shape = (batch, 784) if name == "mlp" else (batch, 1, 28, 28)
        x, y = tc.randn(*shape), tc.randint(0, 10, (batch,))
        kinds = ["eager", "compiled"] + (["plain eager", "plain compiled"] if world == 1 else [])
        for kind in kinds:
            tc.manual_seed(0)
            model = build(name, nn)
            if not kind.startswith("plain"):
                model = nn.parallel.DistributedDataParallel(model)
            step = train_step(model, tc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9),
                              F)
            if kind.endswith("compiled"):
                step = tc.compile(step)
            seconds = time_steps(step, x, y, steps, dist)
            out["steps"][f"{name} {kind}"] = world * batch * steps / seconds
    for size in SIZES:
        t = tc.tensor(np.ones(size // 4, np.float32))
        reps = max(5, min(200, (1 << 24) // size))
        times = []
        for _ in range(reps + 2):
            dist.barrier()
            start = time.perf_counter()
            dist.all_reduce(t)
            times.append(time.perf_counter() - start)
        out["allreduce"][size] = statistics.median(times[2:])
    if world == 2:
        out["overlap"] = overlap(tc, dist, rank)
    dist.destroy_process_group()
    if rank == 0:
        print("RESULT " + json.dumps(out), flush=True)


def overlap(tc, dist, rank, calls=40):
    """{compute, on time, late, late read first}: rank 0's median seconds of a compiled
    matrix chain alone, and of the same chain after starting a 1 MiB all-reduce, with rank
    1 on time and with rank 1 joining the all-reduce `compute` / 2 seconds late; the last
    with a chain that reads the all-reduce's result first (so it cannot overlap). A late
    rank 1 only sends: on a machine with one core per rank, its compute would take the
    core rank 0's message needs."""
    w, x = tc.randn(256, 256), tc.ones(1 << 18)

    def chain(w):
        h = w
        for _ in range(12):
            h = (h @ w) * 0.06
        return h.sum()

    def with_message(x, w):
        t = x * 2
        dist.all_reduce(t)                  # its result is read only at the end
        return chain(w) + t.sum()

    def read_first(x, w):                   # the chain reads the result: nothing overlaps
        t = x * 2
        dist.all_reduce(t)
        return chain(w + t.sum() * 0) + t.sum()

    def message_only(x, w):
        t = x * 2
        dist.all_reduce(t)
        return t.sum()
    alone = tc.compile(lambda x, w: chain(w) + (x * 2).sum())
    step, blocked = tc.compile(with_message), tc.compile(read_first)
    late_step = tc.compile(message_only)

    def median(fn, late=0.0):
        times = []
        for _ in range(calls + 3):
            dist.barrier()
            if rank == 1 and late:
                time.sleep(late)
            start = time.perf_counter()
            (late_step if rank == 1 and late else fn)(x, w)
            times.append(time.perf_counter() - start)
        return statistics.median(times[3:])
    compute = median(alone)
    return {"compute": compute, "on time": median(step), "late": median(step, compute / 2),
            "late, read first": median(blocked, compute / 2)}


# --- the driver: one mpiexec job per process count, then the report --------------------------
def run_job(procs, batch, steps):
    from tracecomp.distributed.mpi_launch import find_mpiexec
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", TRACECOMP_THREADS="1")
    cmd = [find_mpiexec(), "-n", str(procs), sys.executable, os.path.abspath(__file__),
           "--worker", "--batch", str(batch), "--steps", str(steps)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}"
                         f"{done.stderr}")
    return json.loads(lines[0][len("RESULT "):])


def allreduce_model(nbytes, machines, alpha, beta):
    """Seconds for one all-reduce of nbytes over `machines` (ring or recursive doubling)."""
    if machines == 1:
        return 0.0
    ring = 2 * (machines - 1) * alpha + 2 * (machines - 1) / machines * nbytes / beta
    rounds = (machines - 1).bit_length()
    doubling = rounds * alpha + rounds * nbytes / beta
    return min(ring, doubling)


def fit_alpha_beta(measured):
    """alpha (s) and beta (B/s) of t = alpha + n / beta, least squares on the relative
    error (weights 1/t^2), so the small messages, which decide alpha, count as much as the
    large ones."""
    xs, ys = [int(n) for n in measured], list(measured.values())
    ws = [1 / y ** 2 for y in ys]
    sw, sx, sy = sum(ws), sum(w * x for w, x in zip(ws, xs)), sum(w * y for w, y in zip(ws, ys))
    sxx = sum(w * x * x for w, x in zip(ws, xs))
    sxy = sum(w * x * y for w, x, y in zip(ws, xs, ys))
    slope = (sw * sxy - sx * sy) / (sw * sxx - sx * sx)
    return max((sy - slope * sx) / sw, 0.0), 1 / slope if slope > 0 else float("inf")


def report(results, batch):
    from tracecomp import nn
    one = next(r for r in results if r["procs"] == 1)
    print(f"## Training steps, samples/s (batch {batch} per process, 1 thread per process)\n")
    procs = [r["procs"] for r in results]
    print("| step | " + " | ".join(f"{p} proc" for p in procs) + " | speed-up |")
    print("|---|" + "---|" * (len(procs) + 1))
    for key in one["steps"]:
        row = [r["steps"].get(key) for r in results]
        cells = [f"{v:,.0f}" if v else "-" for v in row]
        gain = f"{row[-1] / row[0]:.2f}x" if row[-1] and row[0] and len(row) > 1 else "-"
        print(f"| {key} | " + " | ".join(cells) + f" | {gain} |")
    two = next((r for r in results if r["procs"] == 2), None)
    if two is None:
        return
    print("\n## all_reduce (SUM, float32) on 2 processes, this machine\n")
    print("| bytes | time | GB/s (n / t) |")
    print("|---|---|---|")
    for size, t in two["allreduce"].items():
        print(f"| {int(size):,} | {t * 1e6:,.1f} us | {int(size) / t / 1e9:.2f} |")
    if "overlap" in two:
        o = two["overlap"]
        print(f"\n## Overlap (2 processes): a compiled call that starts a 1 MiB all-reduce "
              f"and computes C = {o['compute'] * 1e3:.2f} ms without reading it\n")
        print("| rank 1 | rank 0's call | the chain reading the result first |")
        print("|---|---|---|")
        print(f"| on time | {o['on time'] * 1e3:.2f} ms | |")
        print(f"| joins C / 2 late | {o['late'] * 1e3:.2f} ms | "
              f"{o['late, read first'] * 1e3:.2f} ms (at least 1.5 C = "
              f"{1.5e3 * o['compute']:.2f} ms) |")
    alpha, beta = fit_alpha_beta(two["allreduce"])
    print(f"\nfit t = alpha + n / beta: alpha = {alpha * 1e6:.1f} us, beta = "
          f"{beta / 1e9:.2f} GB/s (shared memory)")
    print("\n## Model: samples/s on M machines (one rank each; assumptions in the docstring)\n")
    print("| step | network | " + " | ".join(f"M={m}" for m in MACHINES) + " |")
    print("|---|---|" + "---|" * len(MACHINES))
    for name in MODELS:
        nbytes = 4 * sum(p.numel() for p in build(name, nn).parameters())
        for kind in ("eager", "compiled"):
            compute = batch / one["steps"][f"{name} {kind}"]
            n_msg = MESSAGES[name]
            for net, (a, b) in NETWORKS.items():
                cells = []
                for m in MACHINES:
                    comm = n_msg * allreduce_model(nbytes / n_msg, m, a, b)
                    cells.append(f"{m * batch / (compute + comm):,.0f}")
                print(f"| {name} {kind} ({nbytes / 1e6:.2f} MB of gradients) | {net} | "
                      + " | ".join(cells) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64, help="samples per process per step")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per measurement")
    parser.add_argument("--procs", default="1,2", help="process counts (default 1,2)")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.batch, args.steps)
    results = [run_job(int(p), args.batch, args.steps) for p in args.procs.split(",")]
    report(results, args.batch)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
