"""torch.func's reverse-mode transforms: vjp, grad, grad_and_value and jacrev.

Each is autograd.grad on the eager tape inside one Level (level.py): inputs to
differentiate are fresh tensors, the graph is kept (create_graph) only when an outer
level or the user's own autograd needs it, so the transforms nest (grad(grad(f)),
jacrev(jacrev(f)), vmap(grad(f)), grad(vmap(f))). jacrev is torch's algorithm without
vmap: one vector-Jacobian product per output element (a one-hot cotangent each), stacked.
Arguments, pytrees (tuples, lists, dicts), has_aux and the error messages are torch's.
"""
import functools

from .. import grad_mode
from ..autograd.functional import _autograd_grad as grad_or_none
from ..composite import stack
from ..creation import eye, ones_like, zeros, zeros_like
from ..tensor import Tensor
from .level import Level
from .pytree import tree_flatten, tree_unflatten


# --- argnums (torch's checks and messages) ------------------------------------------------
def _wrap_argnum(argnum, num_args):
    if not isinstance(argnum, int) or isinstance(argnum, bool):
        raise RuntimeError(f"argnum must be int, got: {type(argnum)}")
    if -num_args <= argnum < num_args:
        return argnum % num_args
    raise RuntimeError(f"Got argnum={argnum}, but only {num_args} positional inputs")


def wrap_argnums(argnums, num_args):
    """argnums made non-negative: an int, or a non-empty tuple of distinct ints."""
    if isinstance(argnums, int) and not isinstance(argnums, bool):
        return _wrap_argnum(argnums, num_args)
    if not isinstance(argnums, tuple):
        raise RuntimeError(f"argnums must be int or Tuple[int, ...], got: {type(argnums)}")
    if not argnums:
        raise RuntimeError("argnums must be non-empty")
    if len(set(argnums)) != len(argnums):
        raise RuntimeError(f"argnums elements must be unique, got {argnums}")
    return tuple(_wrap_argnum(a, num_args) for a in argnums)


def diff_args(level, args, argnums):
    """(args with the differentiated ones replaced by fresh tensors, their flat leaves,
    their spec): what grad, vjp and jacrev differentiate with respect to."""
    picked = args[argnums] if isinstance(argnums, int) else tuple(args[i] for i in argnums)
    leaves, spec = tree_flatten(picked)
    fresh = [level.input(x) for x in leaves]
    new = tree_unflatten(fresh, spec)
    args = list(args)
    for i, value in ([(argnums, new)] if isinstance(argnums, int) else zip(argnums, new)):
        args[i] = value
    return tuple(args), fresh, spec


def call_at(func, args, kwargs, argnums, has_aux, api):
    """func run on fresh copies of the args at argnums, inside a new Level, with grad mode
    on: (level, the fresh leaves, their spec, the output, aux)."""
    level = Level()         # first: it notes whether the caller has grad mode on
    with grad_mode.enable_grad():
        args, fresh, spec = diff_args(level, args, wrap_argnums(argnums, len(args)))
        output, aux = split_aux(func(*args, **kwargs), has_aux, api)
    return level, fresh, spec, output, aux


def only_tensors(flat_out, api, call="f(*args)"):
    for o in flat_out:
        if not isinstance(o, Tensor):
            raise RuntimeError(f"{api}: expected {call} to return only tensors, got "
                               f"unsupported type {type(o)}")


def split_aux(output, has_aux, api):
    if not has_aux:
        return output, None
    if not (isinstance(output, tuple) and len(output) == 2):
        raise RuntimeError(f"{api}: output of function f should be a tuple: (output, aux) if "
                           f"has_aux is True")
    return output


def pullback(outputs, inputs, keep, reuse=True):
    """cotangents (one per output, None for a zero one) -> gradients (one per input, zeros
    where an input does not reach the outputs). With `reuse` (vjp_fn, jacrev) the graph is
    kept for the next call; grad calls it once and lets backward free it."""
    def vjp_of(cotangents):
        create = keep or any(c is not None and c.requires_grad for c in cotangents)
        with grad_mode.enable_grad():
            grads = grad_or_none([o if c is not None else None
                                  for o, c in zip(outputs, cotangents)],
                                 inputs, cotangents, retain_graph=reuse or create,
                                 create_graph=create)
        return [zeros_like(x) if g is None else g for g, x in zip(grads, inputs)]
    return vjp_of


# --- vjp ----------------------------------------------------------------------------------
def vjp(func, *primals, has_aux=False):
    """(func(*primals), vjp_fn[, aux]): vjp_fn(cotangents) gives one gradient per primal."""
    level, flat_in, in_spec, output, aux = call_at(
        func, primals, {}, tuple(range(len(primals))), has_aux, "vjp(f, *primals)")
    flat_out, out_spec = tree_flatten(output)
    only_tensors(flat_out, "vjp(f, *primals)", "f(*primals)")
    for o in flat_out:
        if not (o.is_floating_point() or o.is_complex()):
            raise RuntimeError(f"vjp(f, ...): All outputs of f must be floating-point or "
                               f"complex Tensors, got Tensor with dtype {o.dtype}")
    keep = level.track(output)
    grads_of = pullback(flat_out, flat_in, keep)

    def vjp_fn(cotangents):
        flat_cot, cot_spec = tree_flatten(cotangents)
        if cot_spec != out_spec:
            raise RuntimeError(f"Expected pytree structure of cotangents to be the same as "
                               f"pytree structure of outputs to the function. cotangents: "
                               f"{cot_spec}, primal output: {out_spec}")
        for c, o in zip(flat_cot, flat_out):
            if not isinstance(c, Tensor):
                raise RuntimeError(f"vjp_fn(cotangents): expected cotangents to contain only "
                                   f"Tensors, got {type(c)}")
            if tuple(c.shape) != tuple(o.shape):
                raise RuntimeError(f"vjp_fn: Mismatch in shape: grad_output has a shape of "
                                   f"{c.shape} and output has a shape of {o.shape}.")
        return level.output(tree_unflatten(grads_of(flat_cot), in_spec), flat_cot)

    result = (level.output(output), vjp_fn)
    return result + (level.output(aux),) if has_aux else result


# --- grad ---------------------------------------------------------------------------------
def grad_and_value(func, argnums=0, has_aux=False):
    """A function returning (gradient of func's scalar output, that output)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        api = "grad_and_value(f)(*args)"
        level, fresh, spec, output, aux = call_at(func, args, kwargs, argnums, has_aux, api)
        if not isinstance(output, Tensor):
            raise RuntimeError(f"{api}: Expected f(*args) to return a Tensor, got "
                               f"{type(output)}")
        if output.dim() != 0:
            raise RuntimeError(f"{api}: Expected f(*args) to return a scalar Tensor, got "
                               f"tensor with {output.dim()} dims. Maybe you wanted to use "
                               f"the vjp or jacrev APIs instead?")
        keep = level.track((output, aux))
        grads = pullback([output], fresh, keep, reuse=False)([ones_like(output)])
        value = output if aux is None else (output, aux)
        return level.output((tree_unflatten(grads, spec), value))
    return wrapper


def grad(func, argnums=0, has_aux=False):
    """The gradient of func's scalar output with respect to the args at argnums."""
    inner = grad_and_value(func, argnums, has_aux)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        gradients, value = inner(*args, **kwargs)
        return (gradients, value[1]) if has_aux else gradients
    return wrapper


# --- jacrev -------------------------------------------------------------------------------
def jacrev(func, argnums=0, *, has_aux=False, chunk_size=None, _preallocate_and_copy=False):
    """The Jacobian of func with respect to the args at argnums, one VJP per output element.
    Each output leaf becomes the structure of the differentiated args, with leaves of shape
    output.shape + input.shape. chunk_size is accepted (the VJPs run one at a time)."""
    if chunk_size is not None and not (isinstance(chunk_size, int) and chunk_size > 0):
        raise ValueError("jacrev: `chunk_size` should be greater than 0.")

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        api = "jacrev(f, ...)(*args)"
        level, fresh, spec, output, aux = call_at(func, args, kwargs, argnums, has_aux, api)
        flat_out, out_spec = tree_flatten(output)
        only_tensors(flat_out, api)
        keep = level.track((output, aux))
        grads_of = pullback(flat_out, fresh, keep)
        blocks = [_rows(grads_of, k, out, fresh, spec) for k, out in enumerate(flat_out)]
        jac = level.output(tree_unflatten(blocks, out_spec))
        return (jac, level.output(aux)) if has_aux else jac
    return wrapper


def _rows(grads_of, k, out, inputs, spec):
    """The Jacobian of output k: one VJP per element of it, each a row of every block."""
    n = out.numel()
    basis = eye(n, dtype=out.dtype).reshape((n,) + tuple(out.shape))
    rows = [grads_of([None] * k + [basis[j]]) for j in range(n)]
    blocks = [stack([r[i] for r in rows]).reshape(tuple(out.shape) + tuple(x.shape)) if n
              else zeros(tuple(out.shape) + tuple(x.shape), dtype=x.dtype)
              for i, x in enumerate(inputs)]
    return tree_unflatten(blocks, spec)
