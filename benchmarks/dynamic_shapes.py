"""Dynamic shapes: what a new sequence length costs, and what a step costs after it.

    .venv/bin/python benchmarks/dynamic_shapes.py [--lengths 32,48,17,64,40,23,57,45]
                                                  [--batch 8] [--rounds 15]
                                                  [--cnn-batches 16,24,32]
                                                  [--only lm|cnn]

Trains `tracecomp.bench.workloads.causal_lm_module` (one causal transformer block, as
nanoGPT writes it) with `compile(model)`, an eager cross-entropy and AdamW, on batches whose
length changes, with the disk cache off (TRACECOMP_CACHE=0), so every compile is cold:

  - the first step at each length, compiled with `dynamic=True` (one dynamic graph from
    the first call), the default `dynamic=None` (the first length compiles for itself, the
    second makes the dynamic graph) and `dynamic=False` (each length compiles), and eagerly;
  - a steady step at the last length (not the first, which both compile for itself): the
    dynamic graph, the static graph, tracecomp eager and torch eager (when installed),
    medians of alternating rounds.

The four training runs start from the same weights and must give the same losses (rtol
1e-4), or the script fails.

Then a convolutional network's whole training step (conv-relu-pool-conv-relu-linear on
1x28x28 images, cross-entropy, backward and SGD inside one compiled function) over batches
of changing size: compiled with `dynamic=True` and `dynamic=False`, the compiles each made,
the first step at each batch, and the steady step at the last batch against the static
graph at that batch (medians of alternating rounds, each contestant's first step of a round
untimed: after eager's ~100 ms step the next contestant's first one ran cold, 1.4x -> 2x),
with the same loss check.
"""
import argparse
import os
import statistics
import sys
import time

os.environ["TRACECOMP_CACHE"] = "0"     # cold compiles; set before tracecomp reads it

import numpy as np  # noqa: E402

import tracecomp as tc  # noqa: E402
from tracecomp.bench.workloads import (  # noqa: E402
    causal_lm_module,
    init_weights,
    load_weights,
)

VOCAB = 96
MODES = {"dynamic": True, "default": None, "static": False, "eager": None}   # compile's dynamic=


def step_fn(lib, model, compiled):
    opt = lib.optim.AdamW(model.parameters(), 1e-3)
    cross_entropy = lib.nn.functional.cross_entropy

    def step(ids, target):
        loss = cross_entropy(compiled(ids).reshape(-1, VOCAB), target.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return step


def contestant(mode):
    tc.manual_seed(0)
    model = causal_lm_module(tc)
    compiled = model if mode == "eager" else tc.compile(model, dynamic=MODES[mode])
    return step_fn(tc, model, compiled), compiled


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", default="32,48,17,64,40,23,57,45")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--cnn-batches", default="16,24,32")
    parser.add_argument("--only", choices=("lm", "cnn"), help="one section of the two")
    opts = parser.parse_args()
    if opts.only != "lm":
        cnn_sizes = [int(b) for b in opts.cnn_batches.split(",")]
        if opts.only == "cnn":
            cnn_rows(cnn_sizes, opts.rounds)
            return
    lengths = [int(n) for n in opts.lengths.split(",")]
    if lengths[-1] == lengths[0]:
        parser.error("--lengths: the last length (the steady step's) must not be the first, "
                     "which every compiled contestant compiles for itself")
    rng = np.random.default_rng(0)
    batches = [(rng.integers(0, VOCAB, (opts.batch, n)), rng.integers(0, VOCAB, (opts.batch, n)))
               for n in lengths]
    firsts, losses, steps = {}, {}, {}
    for mode in MODES:
        step, compiled = contestant(mode)
        firsts[mode], losses[mode] = [], []
        for ids, target in batches:
            start = time.perf_counter()
            losses[mode].append(step(tc.tensor(ids), tc.tensor(target)))
            firsts[mode].append(time.perf_counter() - start)
        steps[mode] = step
        if mode != "eager":
            print(f"{mode}: {compiled._compiled.compiles} compiles for {len(set(lengths))} "
                  f"lengths", file=sys.stderr)
    for mode in ("dynamic", "default", "static"):
        if not np.allclose(losses[mode], losses["eager"], rtol=1e-4):
            sys.exit(f"{mode} losses {losses[mode]} differ from eager {losses['eager']}")

    print(f"## First step at each length (batch {opts.batch}; cold compiles)\n")
    print("| length | " + " | ".join(str(n) for n in lengths) + " |")
    print("|---|" + "--:|" * len(lengths))
    for mode in MODES:
        print(f"| {mode} | " + " | ".join(f"{1e3 * t:.0f} ms" for t in firsts[mode]) + " |")

    ids, target = batches[-1]
    runs = {mode: (lambda s=steps[mode]: s(tc.tensor(ids), tc.tensor(target))) for mode in steps}
    torch_step = _torch_step(ids, target)
    if torch_step:
        runs["torch eager"] = torch_step
    times = {mode: [] for mode in runs}
    for _ in range(opts.rounds):
        for mode, run in runs.items():
            run()       # untimed, as the CNN section's (the step after torch's ran cold)
            start = time.perf_counter()
            for _ in range(5):
                run()
            times[mode].append((time.perf_counter() - start) / 5)
    print(f"\n## Steady step at length {lengths[-1]} (median of {opts.rounds} rounds of 5)\n")
    print("| contestant | step | vs static |\n|---|--:|--:|")
    static = statistics.median(times["static"])
    for mode, ts in times.items():
        t = statistics.median(ts)
        print(f"| {mode} | {1e3 * t:.2f} ms | {t / static:.2f}x |")
    if opts.only is None:
        cnn_rows(cnn_sizes, opts.rounds)


def cnn_module(lib, weights):
    """conv(1->8)-relu-pool-conv(8->16)-relu-linear(16*14*14 -> 10), 3x3 convs, padding 1."""
    nn = lib.nn
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(16 * 14 * 14, 10))
    return load_weights(lib, model, weights)


def cnn_step(dynamic):
    """The CNN's whole step, compiled with `dynamic` (eager where it is "eager")."""
    model = cnn_module(tc, init_weights([(8, 1, 3, 3), (16, 8, 3, 3), (10, 16 * 14 * 14)]))
    opt = tc.optim.SGD(model.parameters(), 0.01)

    def step(x, y):
        loss = tc.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return step if dynamic == "eager" else tc.compile(step, dynamic=dynamic)


def cnn_rows(batch_sizes, rounds):
    """The CNN section (see the module docstring)."""
    rng = np.random.default_rng(1)
    batches = [(tc.tensor(rng.standard_normal((b, 1, 28, 28)).astype(np.float32)),
                tc.tensor(rng.integers(0, 10, b))) for b in batch_sizes]
    modes = {"dynamic": True, "static": False, "eager": "eager"}
    steps, firsts, losses = {}, {}, {}
    for mode, dynamic in modes.items():
        steps[mode] = step = cnn_step(dynamic)
        firsts[mode], losses[mode] = [], []
        for x, y in batches:
            start = time.perf_counter()
            losses[mode].append(step(x, y).item())
            firsts[mode].append(time.perf_counter() - start)
    for mode in ("dynamic", "static"):
        if not np.allclose(losses[mode], losses["eager"], rtol=1e-4):
            sys.exit(f"CNN {mode} losses {losses[mode]} differ from eager {losses['eager']}")
    print("\n## CNN whole training step (first step at each batch; cold compiles)\n")
    print("| batch | " + " | ".join(str(b) for b in batch_sizes) + " | compiles |")
    print("|---|" + "--:|" * (len(batch_sizes) + 1))
    for mode in modes:
        count = "" if mode == "eager" else steps[mode].compiles
        print(f"| {mode} | " + " | ".join(f"{1e3 * t:.0f} ms" for t in firsts[mode])
              + f" | {count} |")
    x, y = batches[-1]
    times = {mode: [] for mode in modes}
    for _ in range(rounds):
        for mode, step in steps.items():
            step(x, y)      # untimed: the step after another contestant's finds cold caches
            start = time.perf_counter()
            for _ in range(5):
                step(x, y)
            times[mode].append((time.perf_counter() - start) / 5)
    print(f"\n## CNN steady step at batch {batch_sizes[-1]} (median of {rounds} rounds of 5)\n")
    print("| contestant | step | vs static |\n|---|--:|--:|")
    static = statistics.median(times["static"])
    for mode, ts in times.items():
        t = statistics.median(ts)
        print(f"| {mode} | {1e3 * t:.2f} ms | {t / static:.2f}x |")


def _torch_step(ids, target):
    """The same step in torch eager, from the same initial weights; None without torch."""
    try:
        import torch
    except ImportError:
        return None
    tc.manual_seed(0)
    weights = causal_lm_module(tc).state_dict()
    model = causal_lm_module(torch)
    model.load_state_dict({k: torch.tensor(v.numpy()) for k, v in weights.items()})
    step = step_fn(torch, model, model)
    ids, target = torch.tensor(ids), torch.tensor(target)
    return lambda: step(ids, target)


if __name__ == "__main__":
    main()
