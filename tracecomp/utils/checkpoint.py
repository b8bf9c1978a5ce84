"""torch.utils.checkpoint: activation checkpointing (trade compute for memory).

`checkpoint(fn, *args, use_reentrant=...)` returns fn(*args) without keeping fn's inner
activations for backward; backward runs fn again (with the RNG state of the forward, so
dropout draws the same masks) and differentiates that recomputation.

Eagerly, both of torch's variants are here:
  use_reentrant=True   torch's CheckpointFunction, as torch writes it: fn runs under no_grad,
                       backward recomputes and calls autograd.backward inside backward. Its
                       limits are torch's: an output needs an input that requires grad
                       (otherwise a warning and no gradients, parameters' included); no
                       keyword arguments. (torch also refuses autograd.grad through it; we
                       compute it.)
  use_reentrant=False  fn runs once with grad on to find which tensors from outside the call
                       the outputs depend on (arguments and closed-over parameters alike),
                       then that graph is dropped: the outputs hang off one custom Function
                       whose backward recomputes fn and takes autograd.grad of it. So
                       autograd.grad, keyword arguments, parameters with non-grad inputs and
                       nested outputs work, as in torch. The inner activations of *one*
                       checkpointed call are alive while it runs (torch drops them at once);
                       across calls memory is that of checkpointing.

Inside compiled code (tracing), checkpoint(fn, *args) is a plain call of fn: the graph
autodiff's partitioner already decides which forward values the backward saves and which it
recomputes, so there is nothing left for checkpoint to do there.
"""
import contextlib
import warnings

from .. import context, dispatch, grad_mode, saved_hooks
from ..autograd import Function
from ..autograd import backward as autograd_backward
from ..autograd import grad as autograd_grad
from ..random import fork_rng, get_rng_state, set_rng_state
from ..tensor import Tensor
from ..user_code import user_stacklevel
from ._pytree import tree_leaves

_DETERMINISM_CHECKS = ("default", "none")


class CheckpointError(RuntimeError):
    """The recomputation did not reproduce the forward (torch's CheckpointError)."""


def noop_context_fn():
    return contextlib.nullcontext(), contextlib.nullcontext()


def detach_variable(inputs):
    """The tensors of a tuple detached, keeping requires_grad (torch's helper)."""
    if not isinstance(inputs, tuple):
        raise RuntimeError(f"Only tuple of tensors is supported. Got Unsupported input type: "
                           f"{type(inputs).__name__}")
    return tuple(_detach(x) for x in inputs)


def _detach(x):
    if not isinstance(x, Tensor):
        return x
    d = x.detach()
    d.requires_grad = x.requires_grad
    return d


def get_device_states(*args):
    """The device indices of the CUDA tensors in args (nested containers too; one entry per
    tensor, as torch lists them) and each one's RNG state: what a recomputation restores so
    it draws as the forward did (performer-pytorch's reversible layers). CPU tensors give
    ([], []): tracecomp's one generator is get_rng_state's."""
    from .. import cuda
    ids = [t.get_device() for t in tree_leaves(args)
           if isinstance(t, Tensor) and t.device.type not in ("cpu", "meta")]
    states = []
    for index in ids:
        with cuda.device(index):
            states.append(cuda.get_rng_state())
    return ids, states


def set_device_states(devices, states, *, device_type=None):
    """Restore the RNG states get_device_states returned, device by device."""
    from .. import cuda
    if device_type == "meta":
        return
    for index, state in zip(devices, states):
        with cuda.device(index):
            cuda.set_rng_state(state)


def check_backward_validity(inputs):
    if not any(x.requires_grad for x in inputs if isinstance(x, Tensor)):
        warnings.warn("None of the inputs have requires_grad=True. Gradients will be None",
                      stacklevel=user_stacklevel())


# --- use_reentrant=True: torch's CheckpointFunction -------------------------------------
class CheckpointFunction(Function):
    @staticmethod
    def forward(ctx, run_function, preserve_rng_state, *args):
        check_backward_validity(args)
        ctx.run_function = run_function
        ctx.preserve_rng_state = preserve_rng_state
        if preserve_rng_state:
            ctx.fwd_cpu_state = get_rng_state()
        ctx.inputs = [None if isinstance(a, Tensor) else a for a in args]
        ctx.tensor_indices = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        ctx.save_for_backward(*(a for a in args if isinstance(a, Tensor)))
        with grad_mode.no_grad():
            return run_function(*args)

    @staticmethod
    def backward(ctx, *grads):
        inputs = list(ctx.inputs)
        for i, t in zip(ctx.tensor_indices, ctx.saved_tensors):
            inputs[i] = t
        with fork_rng(enabled=ctx.preserve_rng_state):
            if ctx.preserve_rng_state:
                set_rng_state(ctx.fwd_cpu_state)
            detached = detach_variable(tuple(inputs))
            with grad_mode.enable_grad():
                outputs = ctx.run_function(*detached)
        outputs = (outputs,) if isinstance(outputs, Tensor) else outputs
        pairs = [(y, g) for y, g in zip(outputs, grads)
                 if isinstance(y, Tensor) and y.requires_grad]
        if not pairs:
            raise RuntimeError("none of output has requires_grad=True, this checkpoint() is "
                               "not necessary")
        autograd_backward([y for y, _ in pairs], [g for _, g in pairs])
        return (None, None) + tuple(x.grad if isinstance(x, Tensor) else None
                                    for x in detached)


# --- use_reentrant=False ------------------------------------------------------------------
def _flatten(obj):
    """(tensor leaves, rebuild(leaves) -> obj) over tuples, lists and dicts."""
    if isinstance(obj, Tensor):
        return [obj], lambda leaves: leaves[0]
    if isinstance(obj, (tuple, list, dict)):
        items = list(obj.values()) if isinstance(obj, dict) else list(obj)
        parts = [_flatten(x) for x in items]
        sizes = [len(p[0]) for p in parts]

        def rebuild(leaves):
            out, at = [], 0
            for (_, sub), n in zip(parts, sizes):
                out.append(sub(leaves[at:at + n]))
                at += n
            if isinstance(obj, dict):
                return type(obj)(zip(obj.keys(), out))
            return type(obj)(*out) if hasattr(obj, "_fields") else type(obj)(out)
        return [t for p in parts for t in p[0]], rebuild
    return [], lambda leaves: obj


def _outside_inputs(outputs, first_seq):
    """The tensors that require grad, made before the call (leaves, or tape nodes numbered
    below first_seq), that `outputs` were computed from: the call's real inputs."""
    found, seen, stack = {}, set(), []

    def visit(t):
        if not isinstance(t, Tensor) or not t._requires_grad:
            return
        if t._node is not None and t._node.seq >= first_seq:
            stack.append(t._node)
        else:
            found.setdefault(id(t), t)
    for y in outputs:
        visit(y)
    while stack:
        node = stack.pop()
        if id(node) not in seen and node.args is not None:
            seen.add(id(node))
            for a in node.args:
                visit(a)
    return list(found.values())


def _metadata(ys):
    return [(tuple(y.shape), y.dtype) for y in ys]


class _Recomputed(Function):
    """Outputs of a checkpointed call whose backward recomputes it (see module docstring).
    The call's real inputs come in as *operands; `run` holds everything else."""

    @staticmethod
    def forward(ctx, run, outputs, *operands):
        ctx.run = run
        return tuple(y.detach() for y in outputs)

    @staticmethod
    def backward(ctx, *grads):
        return (None, None) + ctx.run.gradients(grads)


class _Run:
    """One checkpointed call: what its backward needs to run it again."""

    def __init__(self, function, args, kwargs, rng, recompute_ctx, meta, operands, made):
        self.function, self.args, self.kwargs = function, args, kwargs
        self.rng, self.recompute_ctx = rng, recompute_ctx
        self.meta = meta                            # outputs' (shape, dtype); None: no check
        self.operands = operands
        self.made = made                            # which outputs are recomputed

    def gradients(self, grads):
        """d(outputs)/d(operands) through a recomputation of the call."""
        # Recompute from detached arguments, so the walk stops at them; but for a gradient
        # with a graph (create_graph=True) from the arguments themselves, so that graph
        # reaches the caller's tensors.
        higher = grad_mode.is_grad_enabled()
        detached = self.args if higher else tuple(_detach(a) for a in self.args)
        by_arg = {id(a): d for a, d in zip(self.args, detached) if isinstance(a, Tensor)}
        with fork_rng(enabled=self.rng is not None):
            if self.rng is not None:
                set_rng_state(self.rng)
            with grad_mode.enable_grad(), self.recompute_ctx, saved_hooks.unhooked():
                outs, _ = _flatten(self.function(*detached, **self.kwargs))
        if self.meta is not None and _metadata(outs) != self.meta:
            raise CheckpointError(
                f"torch.utils.checkpoint: Recomputed values for the following tensors have "
                f"different metadata than during the forward pass.\nsaved metadata: "
                f"{self.meta}\nrecomputed metadata: {_metadata(outs)}")
        targets = [by_arg.get(id(t), t) for t in self.operands]
        outs = [outs[k] for k in self.made]
        pairs = [(y, g) for y, g in zip(outs, grads) if y.requires_grad and g is not None]
        if not pairs:
            return (None,) * len(targets)
        # a closed-over non-leaf leads the walk into the caller's graph, and a gradient with
        # a graph (higher) runs through the recomputed one later: keep those graphs
        keep = higher or any(t._node is not None for t in targets)
        return autograd_grad([y for y, _ in pairs], targets, [g for _, g in pairs],
                             retain_graph=keep, create_graph=higher,
                             allow_unused=True)


def _checkpoint_without_reentrant(function, preserve, context_fn, determinism_check, args,
                                  kwargs):
    forward_ctx, recompute_ctx = context_fn()
    first_seq = next(dispatch._sequence)            # tape nodes from here on are the call's
    rng = get_rng_state() if preserve else None
    with forward_ctx, saved_hooks.unhooked():     # this graph is dropped: nothing to pack
        out = function(*args, **kwargs)
    outs, rebuild = _flatten(out)
    # outputs made inside the call get recomputed; others (an argument returned as it is,
    # a tensor from outside) are returned unchanged, as torch returns them
    made = [k for k, y in enumerate(outs) if y._requires_grad and y._node is not None and
            y._node.seq >= first_seq]
    inner = [outs[k] for k in made]
    operands = _outside_inputs(inner, first_seq) if grad_mode.is_grad_enabled() else []
    if not operands:
        return out                                  # nothing to differentiate: no graph
    meta = _metadata(outs) if determinism_check == "default" else None
    run = _Run(function, args, kwargs, rng, recompute_ctx, meta, operands, made)
    recomputed = dict(zip(made, _Recomputed.apply(run, inner, *operands)))
    return rebuild([recomputed.get(k, y) for k, y in enumerate(outs)])


# --- the public functions -----------------------------------------------------------------
def checkpoint(function, *args, use_reentrant=None, context_fn=noop_context_fn,
               determinism_check="default", debug=False, early_stop=True, **kwargs):
    """function(*args, **kwargs), recomputed in backward instead of storing its
    activations (see the module docstring)."""
    if use_reentrant is None:
        warnings.warn("torch.utils.checkpoint: the use_reentrant parameter should be passed "
                      "explicitly. Starting in PyTorch 2.9, calling checkpoint without "
                      "use_reentrant will raise an exception. use_reentrant=False is "
                      "recommended, but if you need to preserve the current default behavior, "
                      "you can pass use_reentrant=True. Refer to docs for more details on the "
                      "differences between the two variants.", stacklevel=user_stacklevel())
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs and use_reentrant:
        raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))
    if use_reentrant and (context_fn is not noop_context_fn or debug is not False):
        raise ValueError("Passing `context_fn` or `debug` is only supported when "
                         "use_reentrant=False.")
    if not use_reentrant and determinism_check not in _DETERMINISM_CHECKS:
        raise ValueError(f"determinism_check should be one of {list(_DETERMINISM_CHECKS)}, "
                         f"but got {determinism_check}")
    if context.current() is not None:                # compiled: the partitioner decides
        return function(*args, **kwargs)
    if use_reentrant:
        return CheckpointFunction.apply(function, preserve, *args)
    return _checkpoint_without_reentrant(function, preserve, context_fn, determinism_check,
                                         args, kwargs)


def checkpoint_sequential(functions, segments, input, use_reentrant=None,  # noqa: A002
                          **kwargs):
    """Run a Sequential (or a list of modules/functions) in `segments` chunks, checkpointing
    every chunk but the last."""
    if use_reentrant is None:
        warnings.warn("torch.utils.checkpoint.checkpoint_sequential: the use_reentrant "
                      "parameter should be passed explicitly. In version 2.9 we will raise an "
                      "exception if use_reentrant is not passed. use_reentrant=False is "
                      "recommended, but if you need to preserve the current default behavior, "
                      "you can pass use_reentrant=True. Refer to docs for more details on the "
                      "differences between the two variants.", stacklevel=user_stacklevel())
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))

    def run_function(start, end, functions):
        def forward(x):
            for j in range(start, end + 1):
                x = functions[j](x)
            return x
        return forward

    from ..nn import Sequential
    if isinstance(functions, Sequential):
        functions = list(functions.children())
    segment_size = len(functions) // segments
    end = -1
    for start in range(0, segment_size * (segments - 1), segment_size):
        end = start + segment_size - 1
        input = checkpoint(run_function(start, end, functions), input,  # noqa: A001
                           use_reentrant=use_reentrant, preserve_rng_state=preserve)
    return run_function(end + 1, len(functions) - 1, functions)(input)
