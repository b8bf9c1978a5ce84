"""Per-sample gradients with torch.func: tracecomp's vmap(grad(...)) against torch's, in one
process on the same weights and data.

    .venv/bin/python benchmarks/per_sample_grads.py [--batch 64] [--runs 8] [--small]
                                                  [--threads 1] [--compiled]

The workload is the one of the per-sample-gradients tutorial: a CNN for 28x28 MNIST images
(conv 32@3x3, ReLU, conv 64@3x3, ReLU, max-pool 2, 9216-128 ReLU, 128-10, log-softmax; with
--small, conv 8 and 16 channels and a 2304-32-10 head), the NLL loss of one sample, its
gradient with respect to every parameter through functional_call, vmapped over the batch.
Each line is the median of --runs calls after one warm-up call, the four taking turns:

  torch vmap     torch.func.vmap(torch.func.grad(loss)): batching rules, one batched pass
  torch loop     one forward and autograd.grad per sample, stacked (the tutorial's baseline)
  tracecomp vmap tracecomp.func.vmap(tracecomp.func.grad(loss)): batching rules too
  tracecomp loop the same loop by hand in tracecomp
  tracecomp compiled (--compiled) tracecomp.compile of tracecomp's vmap(grad(loss)): the
                 batching rules traced into one graph, of a size that does not depend on
                 the batch (its first call, tracing and compiling, is printed apart; at
                 batch 64 with the tutorial's CNN, 7.5 s with TRACECOMP_CACHE=0 on a
                 loaded machine, 2026-12-06)

and the largest difference between tracecomp's and torch's per-sample gradients.
"""
import argparse
import statistics
import time

import numpy as np
import torch

import tracecomp as tc


def cnn(lib, small):
    nn, F = lib.nn, lib.nn.functional
    c1, c2, hidden = (8, 16, 32) if small else (32, 64, 128)

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, c1, 3), nn.Conv2d(c1, c2, 3)
            self.fc1, self.fc2 = nn.Linear(c2 * 144, hidden), nn.Linear(hidden, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
            return F.log_softmax(self.fc2(F.relu(self.fc1(lib.flatten(x, 1)))), dim=1)
    return CNN()


def workload(lib, model, data, targets):
    """(vmap(grad) call, per-sample loop call) for lib."""
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(params, sample, target):
        out = lib.func.functional_call(model, params, (sample.unsqueeze(0),))
        return lib.nn.functional.nll_loss(out, target.unsqueeze(0))
    per_sample = lib.func.vmap(lib.func.grad(loss), in_dims=(None, 0, 0))

    def loop():
        grads = [lib.autograd.grad(loss(dict(model.named_parameters()), data[i], targets[i]),
                                   list(model.parameters())) for i in range(len(data))]
        return [lib.stack(g) for g in zip(*grads)]
    return per_sample, params, loop


def medians_ms(calls, runs):
    """name -> median ms, the calls taking turns in each round, in an order rotated from
    round to round: on a shared machine a load that comes and goes then falls on all of
    them alike, and so does the cost of fresh memory (a call right after one that freed
    its ~600 MB of per-sample gradients reuses those pages; the first touch of new ones
    costs ~2 ms per MB here)."""
    times = {name: [] for name in calls}
    for fn in calls.values():
        fn()                                    # warm-up
    names = list(calls)
    for r in range(runs):
        for name in names[r % len(names):] + names[:r % len(names)]:
            fn = calls[name]
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1e3 for name, t in times.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--compiled", action="store_true")
    ap.add_argument("--threads", type=int, default=1,
                    help="threads for both libraries (1: steady numbers on a shared machine)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tc.set_num_threads(args.threads)
    torch.manual_seed(0)
    ref = cnn(torch, args.small)
    ours = cnn(tc, args.small)
    ours.load_state_dict({k: tc.tensor(v.numpy()) for k, v in ref.state_dict().items()})
    data = np.random.default_rng(0).standard_normal((args.batch, 1, 28, 28)).astype(np.float32)
    targets = np.random.default_rng(1).integers(0, 10, args.batch)
    data_t, targets_t = torch.tensor(data), torch.tensor(targets)
    data_o, targets_o = tc.tensor(data), tc.tensor(targets)
    t_fn, t_params, t_loop = workload(torch, ref, data_t, targets_t)
    o_fn, o_params, o_loop = workload(tc, ours, data_o, targets_o)
    t_vmap = lambda: t_fn(t_params, data_t, targets_t)  # noqa: E731
    o_vmap = lambda: o_fn(o_params, data_o, targets_o)  # noqa: E731
    worst = max(float(np.abs(a.numpy() - b.numpy()).max())
                for a, b in zip(o_vmap().values(), t_vmap().values()))
    print(f"per-sample gradients, batch {args.batch}, {'small' if args.small else 'tutorial'}"
          f" CNN, median of {args.runs} (torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads)")
    calls = {"torch vmap": t_vmap, "torch loop": t_loop, "tracecomp vmap": o_vmap,
             "tracecomp loop": o_loop}
    if args.compiled:
        compiled = tc.compile(o_fn)
        start = time.perf_counter()
        got = compiled(o_params, data_o, targets_o)
        first = time.perf_counter() - start
        off = max(float((got[k] - g).abs().max()) for k, g in o_vmap().items())
        print(f"  tracecomp compiled: first call {first:.1f} s, max |compiled - eager| {off:.2e}")
        calls["tracecomp compiled"] = lambda: compiled(o_params, data_o, targets_o)
    for name, ms in medians_ms(calls, args.runs).items():
        print(f"  {name:18s} {ms:9.1f} ms")
    print(f"  max |tracecomp - torch| over all per-sample gradients: {worst:.2e}")


if __name__ == "__main__":
    main()
