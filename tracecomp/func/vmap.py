"""torch.func.vmap (tracecomp.vmap): map a function over a dimension of its inputs.

Implementation: batching rules, as torch's. Each batched input goes into the function as a
batched tensor (batching_value.py: the whole batch, with the dim that is the batch noted),
so the function runs once; every primitive it calls runs on the whole batch through its
batching rule (batching.py, batching_rules.py), and each result leaves with its batch at
its out_dim. A primitive without a rule runs once per sample (logged at TRACECOMP_DEBUG=1,
counted in batching.FALLBACKS). Gradients flow both ways: grad inside vmap (per-sample
gradients) differentiates batched primitives with the same VJP rules, and grad of a vmap
differentiates through vmap's entry and exit. benchmarks/per_sample_grads.py (the per-
sample-gradients tutorial's CNN, batch 64, one thread, medians of 5 in three runs on a
loaded machine, 2026-12-06): tracecomp's vmap(grad) 0.50-0.84 s against torch.func's
0.79-1.01 s (the loop over the batch it replaced: 1.2-1.7 s); benchmarks/model_ensembling.py
(10 MLPs): within 5% of torch.func. Compiled (--compiled, TRACECOMP_CACHE=0, medians of
5 in one run on a loaded machine): first call 7.5 s (the per-sample loop it replaced took
minutes), then 0.77 s a step against torch.func's 1.02 s and tracecomp's eager vmap's
1.07 s. The traced graph of the small CNN's per-sample gradients has 119 nodes at batch 8
and at batch 64 (the loop's: 200 at batch 2, 752 at batch 8).

Inside tracecomp.compile vmap runs the same batching rules: the batching hook comes before
the tracer's in bind, so the primitives the rules call on the traced physical tensors are
recorded, and the graph holds the batched computation once, whatever the batch size (a
primitive without a rule is unrolled per sample, that primitive alone). Autograd inside the
vmapped code is the tape (so grad inside vmap is per sample, its VJPs recorded batched);
the graph's nodes keep requires_grad, so a gradient of the vmap's results is the graph
autodiff's. For a batch of size 0 vmap is a loop: the function runs once on zeros of a
sample's shape (inputs with in_dim None go in whole) for the outputs' shapes.

Semantics follow torch: in_dims/out_dims as an int, None or a prefix pytree of the
arguments/outputs, negative dims, kwargs passed unbatched, chunk_size (the batch run in
chunks of that many samples, the results joined), torch's errors for mismatched batch
sizes, bad dims, non-tensor outputs, .item() and data-dependent control flow inside, and
`randomness` (randomness.py, batching.py). An output with out_dim None must not depend on
a batched input.
"""
import functools

from .. import composite
from ..tensor import Tensor
from . import (
    batching,
    batching_custom,  # noqa: F401 (its rule joins the table)
)
from . import batching_value as bv
from . import randomness as rnd
from .pytree import broadcast_to_and_flatten, tree_flatten, tree_unflatten


def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """func mapped over dim `in_dims` of its inputs, results stacked along `out_dims`."""
    rnd.check_mode(randomness)
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. (got "
                         f"{chunk_size})")

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        _check_out_dims(out_dims, func)
        batch, flat_in_dims, flat_args, spec = _batched_inputs(in_dims, args, func)
        if batch == 0:
            outputs = _loop(func, flat_in_dims, flat_args, spec, kwargs, randomness)
            return _stack_outputs(outputs, out_dims, func)
        step = chunk_size or batch
        parts = []
        for start in range(0, batch, step):
            n = min(step, batch - start)
            chunk = [a if d is None or n == batch else a.narrow(d, start, n)
                     for a, d in zip(flat_args, flat_in_dims)]
            parts.append(_batched(func, n, flat_in_dims, chunk, spec, kwargs, out_dims,
                                  randomness))
        return parts[0] if len(parts) == 1 else _join_chunks(parts, out_dims, func)

    return wrapped


def _batched(func, batch, flat_in_dims, flat_args, spec, kwargs, out_dims, randomness):
    """One call of func on batched inputs (batching.py), its results unbatched."""
    name = name_of(func)
    level = batching.enter(batch, randomness)
    try:
        with rnd.Loop(randomness):
            inputs = [a if d is None else bv.enter(a, d, level.level)
                      for a, d in zip(flat_args, flat_in_dims)]
            outputs = func(*tree_unflatten(inputs, spec), **kwargs)
    finally:
        batching.leave(level, name)
    flat, out_spec, flat_dims = _output_dims(outputs, out_dims, name)
    return tree_unflatten([_unbatch(o, d, level.level, batch, name)
                           for o, d in zip(flat, flat_dims)], out_spec)


def _unbatch(out, out_dim, level, batch, name):
    batched_here = isinstance(out, Tensor) and bv.level_of(out._data) >= level
    if out_dim is None:
        if batched_here:
            raise ValueError(f"vmap({name}, ...): `{name}` can not return a BatchedTensor when "
                             f"out_dim is None")
        return out
    if not isinstance(out, Tensor):
        raise ValueError(f"vmap({name}, ...): `{name}` must only return Tensors, got type "
                         f"{type(out)}. Did you mean to set out_dims= to None for output?")
    rank = out.dim() + 1
    if not -rank <= out_dim < rank:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-rank}, "
                         f"{rank - 1}], but got {out_dim})")
    return bv.leave(out, level, out_dim % rank, batch)


def _join_chunks(parts, out_dims, func):
    """chunk_size's pieces, each a whole call's results, joined along their out_dims."""
    flat, spec, flat_dims = _output_dims(parts[0], out_dims, name_of(func))
    columns = zip(*(tree_flatten(p)[0] for p in parts))
    return tree_unflatten([col[0] if d is None else composite.cat(col, d)
                           for col, d in zip(columns, flat_dims)], spec)


def _loop(func, flat_in_dims, flat_args, spec, kwargs, randomness):
    """An empty batch: func once, on zeros of a sample's shape (only the outputs' shapes
    are used), as a list of the one output."""
    sample = [a if d is None else _empty_sample(a, d) for a, d in zip(flat_args, flat_in_dims)]
    with rnd.Loop(randomness) as loop:
        loop.sample()
        return [func(*tree_unflatten(sample, spec), **kwargs)]


def name_of(func):
    if hasattr(func, "__name__"):
        return func.__name__
    if isinstance(func, functools.partial):
        return f"functools.partial({name_of(func.func)}, ...)"
    return repr(func)


def _empty_sample(arg, dim):
    """One sample of a 0-sized batch: zeros of a slice's shape."""
    shape = tuple(arg.shape[:dim]) + tuple(arg.shape[dim + 1:])
    return arg.new_zeros(shape)


# --- inputs -------------------------------------------------------------------------------
def _batched_inputs(in_dims, args, func):
    """(batch size, in_dim per leaf (non-negative or None), leaves, spec), torch's checks."""
    name = name_of(func)
    if not isinstance(in_dims, (int, tuple)):
        raise ValueError(f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): expected `in_dims` "
                         f"to be int or a (potentially nested) tuple matching the structure "
                         f"of inputs, got: {type(in_dims)}.")
    if not args:
        raise ValueError(f"vmap({name})(<inputs>): got no inputs. Maybe you forgot to add "
                         f"inputs, or you are trying to vmap over a function with no inputs. "
                         f"The latter is unsupported.")
    flat_args, spec = tree_flatten(args)
    flat_in_dims = broadcast_to_and_flatten(in_dims, spec)
    if flat_in_dims is None:
        raise ValueError(f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): in_dims is not "
                         f"compatible with the structure of `inputs`. in_dims has structure "
                         f"{tree_flatten(in_dims)[1]} but inputs has structure {spec}.")
    where = f"vmap({name}, in_dims={in_dims}, ...)(<inputs>)"
    for i, (arg, d) in enumerate(zip(flat_args, flat_in_dims)):
        if d is None:
            continue
        if not isinstance(d, int) or isinstance(d, bool):
            raise ValueError(f"{where}: Got in_dim={d} for an input but in_dim must be either "
                             f"an integer dimension or None.")
        if not isinstance(arg, Tensor):
            raise ValueError(f"{where}: Got in_dim={d} for an input but the input is of type "
                             f"{type(arg)}. We cannot vmap over non-Tensor arguments, please "
                             f"use None as the respective in_dim")
        n = arg.dim()
        if not -n <= d < n:
            raise ValueError(f"{where}: Got in_dim={d} for some input, but that input is a "
                             f"Tensor of dimensionality {n} so expected in_dim to satisfy "
                             f"-{n} <= in_dim < {n}.")
        flat_in_dims[i] = d % n
    sizes = [a.shape[d] for a, d in zip(flat_args, flat_in_dims) if d is not None]
    if not sizes:
        raise ValueError("vmap: Expected at least one Tensor to vmap over")
    if any(s != sizes[0] for s in sizes):
        raise ValueError(f"vmap: Expected all tensors to have the same size in the mapped "
                         f"dimension, got sizes {sizes} for the mapped dimension")
    return sizes[0], flat_in_dims, flat_args, spec


# --- outputs ------------------------------------------------------------------------------
def _check_out_dims(out_dims, func):
    bad = [d for d in tree_flatten(out_dims)[0]
           if d is not None and (not isinstance(d, int) or isinstance(d, bool))]
    if bad:
        raise ValueError(f"vmap({name_of(func)}, ..., out_dims={out_dims}): `out_dims` must be "
                         f"an int, None or a python collection of ints representing where in "
                         f"the outputs the vmapped dimension should appear.")


def _output_dims(output, out_dims, name):
    """(output's leaves, its structure, the out_dim of each leaf), with torch's check."""
    flat, spec = tree_flatten(output)
    if isinstance(output, Tensor):      # torch's edge case: a tuple of one dim fits too
        flat_dims = list(out_dims) if isinstance(out_dims, tuple) and len(out_dims) == 1 \
            else [out_dims] if not isinstance(out_dims, tuple) else None
    else:
        flat_dims = broadcast_to_and_flatten(out_dims, spec)
    if flat_dims is None:
        raise ValueError(f"vmap({name}, ..., out_dims={out_dims})(<inputs>): out_dims is not "
                         f"compatible with the structure of `outputs`. out_dims has structure "
                         f"{tree_flatten(out_dims)[1]} but outputs has structure {spec}.")
    return flat, spec, flat_dims


def _stack_outputs(outputs, out_dims, func):
    """The outputs of an empty batch's one call, each with a 0-sized batch dim at its
    out_dim."""
    name = name_of(func)
    flat, spec, flat_dims = _output_dims(outputs[0], out_dims, name)
    return tree_unflatten([_stack_one(v, d, name) for v, d in zip(flat, flat_dims)], spec)


def _stack_one(first, out_dim, name):
    if out_dim is None:
        return first
    if not isinstance(first, Tensor):
        raise ValueError(f"vmap({name}, ...): `{name}` must only return Tensors, got type "
                         f"{type(first)}. Did you mean to set out_dims= to None for output?")
    return first.unsqueeze(out_dim).narrow(out_dim, 0, 0)
