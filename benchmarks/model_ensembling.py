"""Model ensembling with torch.func: an ensemble of MLPs run as one vmapped call, tracecomp
against torch, in one process on the same weights and data.

    .venv/bin/python benchmarks/model_ensembling.py [--models 10] [--batch 64] [--runs 5]
                                                  [--threads 1] [--compiled]

The workload is the model-ensembling tutorial's: MLPs 784-128-128-10 on 28x28 inputs, their
states stacked with stack_module_state, functional_call vmapped over the models, with a
different minibatch per model (in_dims 0) and with one minibatch for all (in_dims None).
Each line is the median of --runs calls after a warm-up call, the calls taking turns
(per_sample_grads.medians_ms):

  torch vmap / tracecomp vmap   vmap(fmodel)(params, buffers, minibatches)
  torch loop / tracecomp loop   [model(minibatch) for model, minibatch in ...], stacked
  tracecomp compiled vmap       (--compiled) tracecomp.compile of the vmap: the batching
                                rules traced into one graph
"""
import argparse
import functools
import time

import numpy as np
import torch
from per_sample_grads import medians_ms

import tracecomp as tc


def mlp_class(lib):
    """The tutorial's MLP for lib (one class per library: stack_module_state wants one)."""
    nn, F = lib.nn, lib.nn.functional

    class SimpleMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.fc3 = nn.Linear(784, 128), nn.Linear(128, 128), \
                nn.Linear(128, 10)

        def forward(self, x):
            x = x.flatten(1)
            return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))
    return SimpleMLP


def workload(lib, models, minibatches, compiled=False):
    """{name: call} for lib: vmap and loop, per-model and shared minibatches (with
    compiled, tracecomp.compile of the two vmaps too, their first calls timed apart)."""
    params, buffers = lib.func.stack_module_state(models)
    base = models[0]

    def fmodel(params, buffers, x):
        return lib.func.functional_call(base, (params, buffers), (x,))
    one = minibatches[0]
    calls = {
        "vmap, a minibatch each": lambda: lib.vmap(fmodel)(params, buffers, minibatches),
        "loop, a minibatch each": lambda: lib.stack([m(b) for m, b in zip(models,
                                                                            minibatches)]),
        "vmap, one minibatch": lambda: lib.vmap(fmodel, in_dims=(0, 0, None))(params, buffers,
                                                                              one),
        "loop, one minibatch": lambda: lib.stack([m(one) for m in models]),
    }
    if compiled:
        for name, in_dims, x in (("a minibatch each", 0, minibatches),
                                 ("one minibatch", (0, 0, None), one)):
            run = lib.compile(lib.vmap(fmodel, in_dims=in_dims))
            start = time.perf_counter()
            run(params, buffers, x)
            print(f"  compiled vmap, {name}: first call {time.perf_counter() - start:.2f} s")
            calls[f"compiled vmap, {name}"] = functools.partial(run, params, buffers, x)
    return calls


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", type=int, default=10)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--compiled", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tc.set_num_threads(args.threads)
    torch.manual_seed(0)
    theirs_class, ours_class = mlp_class(torch), mlp_class(tc)
    theirs = [theirs_class() for _ in range(args.models)]
    ours = [ours_class() for _ in range(args.models)]
    for o, t in zip(ours, theirs):
        o.load_state_dict({k: tc.tensor(v.numpy()) for k, v in t.state_dict().items()})
    data = np.random.default_rng(0).standard_normal(
        (args.models, args.batch, 1, 28, 28)).astype(np.float32)
    with torch.no_grad(), tc.no_grad():
        t_calls = workload(torch, theirs, torch.tensor(data))
        o_calls = workload(tc, ours, tc.tensor(data), args.compiled)
        worst = max(float(np.abs(o_calls[k]().numpy() - t_calls[k.replace("compiled ", "")]()
                                 .numpy()).max()) for k in o_calls)
        calls = {f"torch {k}": f for k, f in t_calls.items()}
        calls.update({f"tracecomp {k}": f for k, f in o_calls.items()})
        times = medians_ms(calls, args.runs)
    print(f"model ensembling, {args.models} MLPs, minibatch {args.batch}, median of "
          f"{args.runs} (torch {torch.__version__}, {torch.get_num_threads()} threads)")
    for name, ms in times.items():
        print(f"  {name:46s} {ms:8.2f} ms")
    for k in t_calls:
        if k.startswith("vmap"):
            print(f"  tracecomp / torch, {k}: {times['tracecomp ' + k] / times['torch ' + k]:.2f}")
    print(f"  max |tracecomp - torch| over all predictions: {worst:.2e}")


if __name__ == "__main__":
    main()
