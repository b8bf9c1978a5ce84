"""Run one fuzz program three ways (torch 2.13, tracecomp eager, tracecomp compiled) and
list every difference: output shapes, dtypes, values, requires_grad, errors, and the
gradients of the inputs under a random-weighted sum of the outputs.

`compare(program, arrays, weight_seed, steps)` returns a list of problem lines (empty when
all three agree). `sweep` is the long local run: it draws programs without hypothesis, keeps
going after a failure and cuts each failing program down to the steps one output needs.

Tolerances: float32 values rtol 1e-4 with atol 1e-5 times the output's largest magnitude
(sums and differences of larger intermediates round to that scale); gradients ten times
looser, growing with the chain length; float64-only programs much tighter.
"""
import sys
import time
import warnings

import numpy as np
import torch
from fuzz_graphs import RandomDraw, draw_program, only_outputs

import tracecomp as tc

from helpers import assert_close

BUILTIN_ERRORS = (IndexError, ValueError, TypeError, NotImplementedError, RuntimeError)


def _error_class(err):
    """The builtin class a user would catch: torch's own errors subclass these."""
    return next((c for c in BUILTIN_ERRORS if isinstance(err, c)), type(err))


def _tensors(lib, arrays):
    return [lib.tensor(a.copy(), requires_grad=a.dtype.kind == "f") for a in arrays]


def _run(lib, fn, arrays):
    """(outputs, inputs) or the exception raised."""
    inputs = _tensors(lib, arrays)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = fn(*inputs)
    except Exception as err:  # noqa: BLE001 - every failure is compared with torch's
        return err
    return list(out), inputs


def _backward(lib, outs, inputs, weights):
    """Input grads after backward of sum(w_i * out_i), or the exception raised."""
    loss = None
    for o, w in zip(outs, weights):
        if w is not None:
            term = (o * lib.tensor(w)).sum()
            loss = term if loss is None else loss + term
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loss.backward()
    except Exception as err:  # noqa: BLE001
        return err
    return [i.grad for i in inputs]


def _tolerances(float64_only, steps):
    if not float64_only:
        return (1e-4, 1e-5), (1e-4 * (6 + steps), 1e-4)
    return (1e-7, 1e-9), (1e-7 * (6 + steps), 1e-8)


def _close(got, want, rtol, atol_scale, what):
    w = np.asarray(want.detach().numpy())
    finite = np.abs(w[np.isfinite(w)]) if w.dtype.kind == "f" else np.abs(w)
    scale = max(1.0, float(finite.max())) if finite.size else 1.0
    try:
        assert_close(got, want, rtol, atol_scale * scale, what=what)
    except AssertionError as err:
        return str(err)
    return None


def _outputs_problems(mode, got, want, vtol):
    if isinstance(got, Exception):
        return [f"{mode} error: {type(got).__name__}: {_short(got)} | torch returned"]
    outs, _ = got
    if len(outs) != len(want):
        return [f"{mode}: {len(outs)} outputs | torch={len(want)}"]
    problems = []
    for i, (g, w) in enumerate(zip(outs, want)):
        msg = _close(g, w, *vtol, what=f"{mode} value of output {i}")
        if msg is None and g.requires_grad != w.requires_grad:
            msg = (f"{mode} output {i} requires_grad: tracecomp={g.requires_grad} | "
                   f"torch={w.requires_grad}")
        if msg:
            problems.append(msg)
    return problems


def _grad_problems(mode, got_grads, want_grads, gtol):
    if isinstance(got_grads, Exception):
        return [f"{mode} backward error: {type(got_grads).__name__}: {_short(got_grads)}"]
    problems = []
    for i, (g, w) in enumerate(zip(got_grads, want_grads)):
        if w is None and g is not None:
            problems.append(f"{mode} grad of x{i}: tracecomp={_short(g)} | torch=None")
        elif w is not None and g is None:
            problems.append(f"{mode} grad of x{i}: tracecomp=None | torch={_short(w)}")
        elif w is not None:
            msg = _close(g, w, *gtol, what=f"{mode} grad of x{i}")
            if msg:
                problems.append(msg)
    return problems


def _short(x, n=300):
    s = " ".join(str(x).split())
    return s if len(s) <= n else s[:n] + "..."


def compare(program, arrays, weight_seed=0, steps=8, float64_only=False):
    """Problems found running `program(lib, *inputs)` with torch, tracecomp eager and
    tracecomp compiled on `arrays`: an empty list when all three agree. `float64_only`
    (no float32 value anywhere in the program) tightens the tolerances."""
    compiled = tc.compile(lambda *args: program(tc, *args))
    runs = {"eager": _run(tc, lambda *a: program(tc, *a), arrays), "compiled": _run(tc, compiled,
                                                                                   arrays)}
    ref = _torch_answers(program, arrays, weight_seed)
    if isinstance(ref, Exception):
        return _error_problems(runs, ref)
    want, weights, want_grads = ref
    vtol, gtol = _tolerances(float64_only, steps)
    problems = []
    for mode, got in runs.items():
        problems += _outputs_problems(mode, got, want, vtol)
    if not problems and want_grads is not None and not isinstance(want_grads, Exception):
        for mode, (outs, inputs) in runs.items():
            problems += _grad_problems(mode, _backward(tc, outs, inputs, weights), want_grads,
                                       gtol)
    if any(" differs at " in p for p in problems) and _ill_conditioned(
            program, arrays, weight_seed, ref, vtol, gtol):
        # torch's own answer moves beyond the tolerance when the inputs move by a few ulps:
        # rounding differences inside the program (a sum's order) are amplified as much
        problems = [p for p in problems if " differs at " not in p]
    return problems


def _torch_answers(program, arrays, weight_seed):
    """torch's outputs, the loss weights and the input grads (None: nothing to
    differentiate, an exception: torch cannot), or the exception the program raised."""
    ref = _run(torch, lambda *a: program(torch, *a), arrays)
    if isinstance(ref, Exception):
        return ref
    want, inputs = ref
    rng = np.random.default_rng(weight_seed)
    weights = [rng.standard_normal(tuple(w.shape)).astype(str(w.dtype).split(".")[-1])
               if w.requires_grad else None for w in want]
    if all(w is None for w in weights):
        return want, weights, None
    return want, weights, _backward(torch, want, inputs, weights)


def _error_problems(runs, ref):
    want_class = _error_class(ref)
    problems = []
    for mode, got in runs.items():
        if not isinstance(got, Exception):
            problems.append(f"{mode} returned | torch raised {type(ref).__name__}: "
                            f"{_short(ref)}")
        elif not isinstance(got, want_class):
            problems.append(f"{mode} error class: tracecomp={type(got).__name__}: "
                            f"{_short(got)} | torch={want_class.__name__}: {_short(ref)}")
    return problems


def _nudged_inputs(arrays):
    """Inputs moved by a few ulps, three ways: each non-integer element by 4 ulps up or
    down at random (integer-valued elements put values on kinks and ties on purpose, so
    they stay), and every element scaled by 1 + 4 eps or 1 - 4 eps (ties and zeros stay,
    but a value that is 0 only up to rounding, like an off-diagonal of vh.mT @ vh, gets
    other rounding: a comparison or relu on it flips)."""
    rng = np.random.default_rng(1)
    nudged = []
    for a in arrays:
        if a.dtype.kind == "f":
            step = 4 * np.finfo(a.dtype).eps * rng.choice([-1.0, 1.0], a.shape)
            a = np.where(a == np.round(a), a, a * (1 + step)).astype(a.dtype)
        nudged.append(a)
    yield nudged
    for sign in (1, -1):
        yield [(a * (1 + sign * 4 * np.finfo(a.dtype).eps)).astype(a.dtype)
               if a.dtype.kind == "f" else a for a in arrays]


def _ill_conditioned(program, arrays, weight_seed, ref, vtol, gtol):
    """Whether torch disagrees with itself when the inputs move by a few ulps."""
    for nudged in _nudged_inputs(arrays):
        other = _torch_answers(program, nudged, weight_seed)
        if isinstance(other, Exception):
            return True
        pairs = [(o, w, vtol) for o, w in zip(other[0], ref[0])]
        if isinstance(ref[2], list) and isinstance(other[2], list):
            pairs += [(o, w, gtol) for o, w in zip(other[2], ref[2]) if o is not None
                      and w is not None]
        if any(_close(o, w, *tol, what="nudged") for o, w, tol in pairs):
            return True
    return False


def check(program):
    """compare() for a fuzz_graphs.Program.

    A compiled graph keeps only what its outputs need (and every guard, passes/dce.py):
    a step that no output needs and that raises (svd of a NaN matrix) raises eagerly and
    in torch, while the compiled program returns. That is by design when the program cut
    to its outputs' steps runs without the error in torch."""
    problems = compare(program.function(), list(program.inputs), program.weight_seed,
                       len(program.steps), program.float64_only())
    dead = [p for p in problems if p.startswith("compiled returned | torch raised")]
    if dead:
        live = only_outputs(program, list(program.outputs))
        if len(live.steps) < len(program.steps) and not isinstance(
                _run(torch, lambda *a: live.function()(torch, *a), list(program.inputs)),
                Exception):
            problems = [p for p in problems if p not in dead]
    return problems


def _crashed(program):
    try:
        return check(program)
    except Exception as err:  # noqa: BLE001 - a crash of the harness is a finding too
        return [f"harness error: {type(err).__name__}: {_short(err)}"]


def shrink(program, problems):
    """The smallest cut of `program` to one output that still fails the same way (same
    mode and kind of problem as the first one)."""
    kind = _kind(problems[0])
    best, best_problems = program, problems
    made = [v for s in program.steps for v in s.outs]
    for name in made:
        cut = only_outputs(program, [name])
        if len(cut.steps) >= len(best.steps):
            continue
        found = _crashed(cut)
        if found and _kind(found[0]) == kind:
            best, best_problems = cut, found
    return best, best_problems


def _kind(problem):
    return " ".join(problem.split(":")[0].split()[:3])


def sweep(n, seed=0, out=sys.stdout):
    """Draw and check `n` programs; print each failure, shrunk, with its repro."""
    start, failures, checked = time.time(), [], 0
    for i in range(n):
        program = draw_program(RandomDraw(seed * 1_000_003 + i))
        if program is None:
            continue
        checked += 1
        problems = _crashed(program)
        if problems:
            small, small_problems = shrink(program, problems)
            failures.append((i, small, small_problems))
            print(f"### case {i}: {len(small_problems)} problem(s)\n" +
                  "\n".join(small_problems) + "\n" + small.repro() + "\n", file=out, flush=True)
        if (i + 1) % 100 == 0:
            print(f"# {i + 1} drawn, {checked} checked, {len(failures)} failing, "
                  f"{time.time() - start:.0f} s", file=out, flush=True)
    print(f"# done: {checked} programs checked, {len(failures)} failing", file=out, flush=True)
    return failures


if __name__ == "__main__":
    # python tests/reliability/fuzz_compare.py N [SEED]: the long run without hypothesis
    sweep(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 0)
