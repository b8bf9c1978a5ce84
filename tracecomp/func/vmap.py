"""torch.func.vmap (tracecomp.vmap): map a function over a dimension of its inputs.

Implementation: a loop. Each batched input is unbound along its in_dim, the function runs
once per sample on the slices (inputs with in_dim None go in whole), and each output is
stacked along its out_dim. For a pure function that is torch's result exactly; it is what
torch itself does for an op without a batching rule (with a performance warning). The cost
is B calls of the function instead of one call on batched operands: per-sample Python and
per-op overhead times the batch size. benchmarks/per_sample_grads.py (the per-sample-
gradients tutorial's CNN, batch 64, one thread, 2026-12-06): tracecomp's vmap(grad) 8.2 s,
about its own loop of autograd.grad calls (7.2 s), against torch.func's 2.2 s (torch's own
loop 3.5 s). Gradients flow through the slices and the stack, so vmap composes with grad,
jacrev and itself, in any order. Inside tracecomp.compile the loop unrolls into the graph
(one copy of the function per sample; the compiled call then runs without the per-op
Python overhead).

Semantics follow torch: in_dims/out_dims as an int, None or a prefix pytree of the
arguments/outputs, negative dims, kwargs passed unbatched, chunk_size (accepted; the loop
already runs one sample at a time), torch's errors for mismatched batch sizes, bad dims
and non-tensor outputs, and `randomness` (randomness.py). One difference: an output with
out_dim None must be the same for every sample; torch decides that by whether the output
depends on a batched input, the loop by comparing the samples' values. And the numbers are
torch's to float32 rounding, not bit for bit a batched computation's: one sample's x @ W.T
rounds differently from the batch's matmul (OpenBLAS sums a row and a block apart), so
`allclose(vmap(jacrev(f))(x), jacrev(lambda x: f(x).sum(0))(x).movedim(1, 0))` with the
default atol=1e-8, which torch's batching rules make exact, can fail where tanh saturates.
"""
import functools

from .. import composite, context
from ..tensor import Tensor
from . import batching
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
        if batch == 0 or context.current() is not None:
            outputs = _loop(func, batch, flat_in_dims, flat_args, spec, kwargs, randomness)
            return _stack_outputs(outputs, out_dims, func, batch)
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


def _loop(func, batch, flat_in_dims, flat_args, spec, kwargs, randomness):
    """The per-sample loop (while tracing for tracecomp.compile, and for an empty batch):
    func once per sample on the slices, the outputs as a list."""
    columns = [None if d is None else a.unbind(d) if batch else _empty_sample(a, d)
               for a, d in zip(flat_args, flat_in_dims)]
    outputs = []
    with rnd.Loop(randomness) as loop:
        for i in range(max(batch, 1)):          # a 0-sized batch: one call for shapes
            loop.sample()
            sample = [a if c is None else c[i] for a, c in zip(flat_args, columns)]
            outputs.append(func(*tree_unflatten(sample, spec), **kwargs))
    return outputs


def name_of(func):
    if hasattr(func, "__name__"):
        return func.__name__
    if isinstance(func, functools.partial):
        return f"functools.partial({name_of(func.func)}, ...)"
    return repr(func)


def _empty_sample(arg, dim):
    """One sample of a 0-sized batch: zeros of a slice's shape (only the shapes are used)."""
    shape = tuple(arg.shape[:dim]) + tuple(arg.shape[dim + 1:])
    return [arg.new_zeros(shape)]


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


def _stack_outputs(outputs, out_dims, func, batch):
    name = name_of(func)
    _, spec, flat_dims = _output_dims(outputs[0], out_dims, name)
    samples = [tree_flatten(o) for o in outputs]
    for _, s in samples[1:]:
        if s != spec:
            raise ValueError(f"vmap({name}, ...): `{name}` returned outputs of different "
                             f"structures for different samples: {spec} and {s}; vmap needs "
                             f"one structure for the whole batch.")
    columns = list(zip(*(leaves for leaves, _ in samples)))
    return tree_unflatten([_stack_one(col, d, name, batch) for col, d in zip(columns, flat_dims)],
                          spec)


def _stack_one(values, out_dim, name, batch):
    first = values[0]
    if out_dim is None:
        if isinstance(first, Tensor) and any(
                not (v is first or composite.equal(v, first)) for v in values[1:]):
            raise ValueError(f"vmap({name}, ...): `{name}` can not return a BatchedTensor when "
                             f"out_dim is None")
        return first
    if not isinstance(first, Tensor):
        raise ValueError(f"vmap({name}, ...): `{name}` must only return Tensors, got type "
                         f"{type(first)}. Did you mean to set out_dims= to None for output?")
    if batch == 0:
        return first.unsqueeze(out_dim).narrow(out_dim, 0, 0)
    return composite.stack(values, out_dim)



