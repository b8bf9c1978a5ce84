"""Eager training-step benchmark: tracecomp eager vs a hand-written numpy step vs torch eager.

Model: MLP 784-256-256-10, cross-entropy, SGD with momentum, batch 64. All contestants run
in this one process, interleaved round by round, so machine noise hits them alike; the
table shows median and min time per step and the ratios.

    python benchmarks/bench_eager.py [--batch 64] [--rounds 30] [--steps 20]
"""
import argparse
import statistics
import time

import numpy as np

import tracecomp

SIZES = (784, 256, 256, 10)
LR, MOMENTUM = 0.01, 0.9


def init_weights(seed=0):
    """Shared initial weights (torch's Linear init) as numpy float32 arrays."""
    rng = np.random.default_rng(seed)
    weights = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        bound = 1 / np.sqrt(fan_in)
        weights.append(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32))
        weights.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
    return weights


class NumpyStep:
    """The MLP step written by hand: the floor an eager framework's bookkeeping adds to."""

    def __init__(self, weights):
        self.w = [w.copy() for w in weights]
        self.buf = [np.zeros_like(w) for w in weights]

    def __call__(self, x, y):
        w1, b1, w2, b2, w3, b3 = self.w
        h1 = x @ w1.T + b1
        a1 = np.maximum(h1, 0)
        h2 = a1 @ w2.T + b2
        a2 = np.maximum(h2, 0)
        logits = a2 @ w3.T + b3
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        s = e.sum(axis=1, keepdims=True)
        n = len(y)
        loss = -(shifted[np.arange(n), y] - np.log(s[:, 0])).mean()
        d = e / s
        d[np.arange(n), y] -= 1
        d /= n
        grads = [None] * 6
        grads[4], grads[5] = d.T @ a2, d.sum(0)
        d = (d @ w3) * (h2 > 0)
        grads[2], grads[3] = d.T @ a1, d.sum(0)
        d = (d @ w2) * (h1 > 0)
        grads[0], grads[1] = d.T @ x, d.sum(0)
        for w, b, g in zip(self.w, self.buf, grads):
            b *= MOMENTUM
            b += g
            w -= LR * b
        return float(loss)


def framework_step(lib, weights):
    """The same step in torch-style code; `lib` is tracecomp or torch."""
    nn = lib.nn
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                          nn.Linear(256, 10))
    with lib.no_grad():
        for p, w in zip(model.parameters(), weights):
            p.copy_(lib.from_numpy(w.copy()))
    opt = lib.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()
    return step


def time_steps(step, args, steps):
    start = time.perf_counter()
    for _ in range(steps):
        step(*args)
    return (time.perf_counter() - start) / steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(1)
    x = rng.standard_normal((args.batch, 784)).astype(np.float32)
    y = rng.integers(0, 10, args.batch)
    weights = init_weights()
    contestants = {
        "numpy by hand": (NumpyStep(weights), (x, y)),
        "tracecomp eager": (framework_step(tracecomp, weights),
                            (tracecomp.from_numpy(x), tracecomp.from_numpy(y))),
    }
    try:
        import torch
        contestants["torch eager"] = (framework_step(torch, weights),
                                      (torch.from_numpy(x), torch.from_numpy(y)))
    except ImportError:
        print("(torch not installed: its column is skipped)")

    losses = {name: step(*a) for name, (step, a) in contestants.items()}
    times = {name: [] for name in contestants}
    for _ in range(args.rounds):
        for name, (step, a) in contestants.items():
            times[name].append(time_steps(step, a, args.steps))

    base = statistics.median(times["numpy by hand"])
    print(f"MLP 784-256-256-10 training step (SGD momentum), batch {args.batch}, "
          f"{args.rounds} rounds x {args.steps} steps\n")
    print("| contestant | median | min | vs numpy by hand | first loss |")
    print("|---|---|---|---|---|")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| {name} | {med * 1e3:.3f} ms | {min(ts) * 1e3:.3f} ms | {med / base:.2f}x | "
              f"{losses[name]:.5f} |")
    return times


if __name__ == "__main__":
    main()
