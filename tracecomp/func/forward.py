"""torch.func's forward-mode transforms: jvp, linearize, jacfwd and hessian.

tracecomp has no forward-mode AD (no dual numbers), so a Jacobian-vector product is the
double-VJP trick: with u a fresh cotangent, g(u) = u^T J is linear in u, and the VJP of g
along a tangent t is (J^T)^T t = J t. One backward builds g with its graph (create_graph),
then each JVP is one more backward through it. The numbers are forward mode's; the cost is
about two backwards per product instead of one forward, and f's VJP rules must themselves
be differentiable (tracecomp's are: they are written with public ops). jacfwd is one JVP
per input element (a one-hot tangent each); hessian is jacfwd(jacrev(f)), as torch's.
"""
import functools

from .. import grad_mode
from ..autograd.functional import JACFWD, double_backward
from ..autograd.functional import _autograd_grad as grad_or_none
from ..composite import stack
from ..creation import eye, zeros, zeros_like
from ..tensor import Tensor
from . import randomness as rnd
from .pytree import tree_flatten, tree_unflatten
from .reverse import call_at, jacrev, only_tensors

JVP = "jvp(f, primals, tangents)"


def _push_forward(outputs, inputs, keep):
    """tangents (one per input, None for a zero one) -> J t (one per output), by the
    double-VJP trick (autograd.functional.double_backward)."""
    live = [o for o in outputs if o.requires_grad]
    with grad_mode.enable_grad():
        us, vjps = double_backward(live, inputs) if live else ((), [None] * len(inputs))

    def jvp_of(tangents):
        create = keep or any(t is not None and t.requires_grad for t in tangents)
        with grad_mode.enable_grad():
            found = grad_or_none([g if t is not None else None for g, t in zip(vjps, tangents)],
                                 us, tangents, retain_graph=True, create_graph=create) \
                if us else ()
        by_output = dict(zip(map(id, live), found))
        return [zeros_like(o) if by_output.get(id(o)) is None else by_output[id(o)]
                for o in outputs]
    return jvp_of


def _linearized(func, primals, has_aux, api):
    """(level, output, aux, the spec of the outputs, jvp_of) for func at primals."""
    level, fresh, _, output, aux = call_at(func, primals, {}, tuple(range(len(primals))),
                                           has_aux, api)
    flat_out, out_spec = tree_flatten(output)
    only_tensors(flat_out, api)
    keep = level.track((output, aux))
    jvp_of = _push_forward(flat_out, fresh, keep)
    return level, output, aux, out_spec, jvp_of


def _check_primals(primals, tangents):
    if not isinstance(primals, tuple):
        raise RuntimeError(f"{JVP}: Expected primals to be a tuple. E.g. it should be valid to "
                           f"call f(*primals).")
    flat_p, p_spec = tree_flatten(primals)
    flat_t, t_spec = tree_flatten(tangents)
    if p_spec != t_spec:
        raise RuntimeError(f"{JVP}: Expected primals and tangents to have the same python "
                           f"structure. For example, if primals is a tuple of 3 tensors, "
                           f"tangents also must be. Got primals with structure {p_spec} and "
                           f"tangents with structure {t_spec}")
    for p, t in zip(flat_p, flat_t):
        if not isinstance(p, Tensor) or not isinstance(t, Tensor):
            bad = p if not isinstance(p, Tensor) else t
            raise RuntimeError(f"{JVP}: Expected primals and tangents to only contain Tensors, "
                               f"got {type(bad)}")
        if tuple(p.shape) != tuple(t.shape):
            raise RuntimeError(f"{JVP}: Expected primals and tangents to have the same shape, "
                               f"got a primal of shape {list(p.shape)} and a tangent of shape "
                               f"{list(t.shape)}")
    return flat_t


def jvp(func, primals, tangents, *, strict=False, has_aux=False):
    """(func(*primals), J tangents[, aux]), by the double-VJP trick (module docstring)."""
    flat_t = _check_primals(primals, tangents)
    level, output, aux, out_spec, jvp_of = _linearized(func, primals, has_aux, JVP)
    if strict and not all(o.requires_grad for o in tree_flatten(output)[0]):
        raise RuntimeError(f"{JVP[:-1]}, strict=True): The output of f is independent of the "
                           f"inputs. This is not allowed with strict=True.")
    result = (level.output(output),
              level.output(tree_unflatten(jvp_of(flat_t), out_spec), flat_t))
    return result + (level.output(aux),) if has_aux else result


def linearize(func, *primals):
    """(func(*primals), jvp_fn): jvp_fn(*tangents) is J tangents at primals."""
    level, output, _, out_spec, jvp_of = _linearized(func, primals, False,
                                                     "linearize(func, *primals)")

    def jvp_fn(*tangents):
        flat_t = _check_primals(primals, tangents)
        return level.output(tree_unflatten(jvp_of(flat_t), out_spec), flat_t)
    return level.output(output), jvp_fn


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error"):
    """The Jacobian of func with respect to the args at argnums, one JVP per input element;
    the same structure as jacrev's. func runs once (the JVPs reuse its graph), so random
    ops in it raise under randomness='error', and otherwise draw once for all columns."""
    rnd.check_mode(randomness)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        api = "jacfwd(f, ...)(*args)"
        with rnd.Loop("error" if randomness == "error" else "different"):
            level, fresh, spec, output, aux = call_at(func, args, kwargs, argnums, has_aux, api)
        flat_out, out_spec = tree_flatten(output)
        only_tensors(flat_out, api)
        keep = level.track((output, aux))
        jvp_of = _push_forward(flat_out, fresh, keep)
        columns = [_columns(jvp_of, i, x, len(fresh), flat_out) for i, x in enumerate(fresh)]
        blocks = [tree_unflatten([columns[i][k] for i in range(len(fresh))], spec)
                  for k in range(len(flat_out))]
        jac = level.output(tree_unflatten(blocks, out_spec))
        return (jac, level.output(aux)) if has_aux else jac
    return wrapper


def _columns(jvp_of, i, x, n_inputs, outputs):
    """d outputs / d input i: one JVP per element of it; a block per output, of shape
    output.shape + x.shape."""
    n = x.numel()
    basis = eye(n, dtype=x.dtype).reshape((n,) + tuple(x.shape))
    cols = [jvp_of([basis[j] if m == i else None for m in range(n_inputs)]) for j in range(n)]
    return [stack([c[k] for c in cols], -1).reshape(tuple(o.shape) + tuple(x.shape)) if n
            else zeros(tuple(o.shape) + tuple(x.shape), dtype=o.dtype)
            for k, o in enumerate(outputs)]


def hessian(func, argnums=0):
    """The Hessian of a scalar func: jacfwd(jacrev(func)), as torch computes it."""
    return jacfwd(jacrev(func, argnums), argnums)


JACFWD.append(jacfwd)     # autograd.functional.jacobian(strategy='forward-mode')
