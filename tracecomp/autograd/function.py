"""torch.autograd.Function: custom forward and backward, eager and inside compiled code.

    class Round(tracecomp.autograd.Function):          # a straight-through estimator
        @staticmethod
        def forward(ctx, x):
            return x.round()
        @staticmethod
        def backward(ctx, grad):
            return grad

    y = Round.apply(x)

`apply` runs the user's forward with grad off (its ops are not recorded for autograd), then
passes each differentiable output through a `custom_vjp` marker (custom_vjp.py) whose VJP
is the user's backward. The same code runs while compiled code is traced: the forward's
ops become graph nodes, and when graph autodiff reaches the markers it calls the user's
backward on graph values, so the backward graph holds the user's backward ops.

Supported: ctx.save_for_backward / saved_tensors (versions checked, as the tape does),
needs_input_grad, mark_non_differentiable, mark_dirty (in-place forwards), set_materialize_
grads, non-tensor arguments (their gradient must be None), several outputs (backward runs
once with all their gradients), the setup_context style, `vjp` as the backward's name,
@once_differentiable, and higher-order gradients when backward uses differentiable ops.
Tensors stored directly on ctx (ctx.w = w) also work when compiled; tensors inside
containers on ctx (ctx.pair = (a, b)) do only eagerly. Forward-mode AD: `jvp` and
ctx.save_for_forward under forward_ad.dual_level (forward_ad.py). Not supported: vmap rules.
"""
import functools
import warnings

from .. import grad_mode, saved_hooks
from ..dispatch import TapeNode, history_taken
from ..errors import AutogradError
from ..sparse_data import SparseData
from ..tensor import Tensor
from ..user_code import user_stacklevel
from .custom_vjp import NO_GRAD, FunctionCall, mark

_LEAF_DIRTY = "a leaf Variable that requires grad has been used in an in-place operation."
# ctx's own fields: never taken for user tensors held on ctx
_CTX_FIELDS = frozenset({"to_save", "to_save_forward", "dirty_tensors", "non_differentiable",
                         "materialize_grads", "needs_input_grad", "_saved", "_applied"})


class FunctionCtx:
    """The `ctx` that forward fills and backward reads."""

    def __init__(self):
        self.to_save = ()
        self.to_save_forward = ()
        self.dirty_tensors = ()
        self.non_differentiable = ()
        self.materialize_grads = True
        self.needs_input_grad = ()
        self._saved = None          # the saved tensors while backward runs
        self._applied = False       # forward has returned

    def save_for_backward(self, *tensors):
        for k, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward can only save variables, but argument {k} "
                                f"is of type {type(t).__name__}")
        self.to_save = tensors

    def save_for_forward(self, *tensors):
        """What jvp reads as ctx.saved_tensors (forward_ad.py)."""
        self.to_save_forward = tensors

    @property
    def saved_tensors(self):
        if self._saved is not None:
            return self._saved
        return tuple(self.to_save) if self._applied else ()     # nothing is saved in forward

    def mark_dirty(self, *tensors):
        self.dirty_tensors = tensors

    def mark_non_differentiable(self, *tensors):
        self.non_differentiable = tensors

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)


class Function:
    """Base class of custom autograd functions: static forward/backward, called via apply."""

    def __init__(self, *args, **kwargs):
        warnings.warn(f"{type(self)} should not be instantiated. Methods on autograd functions "
                      f"are all static, so you should invoke them on the class itself. "
                      f"Instantiating an autograd function will raise an error in a future "
                      f"version of PyTorch.", DeprecationWarning, stacklevel=user_stacklevel())

    def __call__(self, *args, **kwargs):
        raise RuntimeError("Legacy autograd function with non-static forward method is "
                           "deprecated. Please use new-style autograd function with static "
                           "forward method. (Example: "
                           "https://pytorch.org/docs/stable/autograd.html#torch.autograd.Function)")

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom "
                                  "autograd.Function.")

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for "
                                  "your custom autograd.Function to use it with backward "
                                  "mode AD.")

    vjp = backward

    @staticmethod
    def jvp(ctx, *grad_inputs):
        raise NotImplementedError("You must implement the jvp function for custom "
                                  "autograd.Function to use it with forward mode AD.")

    @classmethod
    def apply(cls, *args, **kwargs):
        return _apply(cls, args, kwargs)


class InplaceFunction(Function):
    """torch's legacy base kept for old code (BinaryNet's Binarize subclasses it and is
    used through apply, ctx.mark_dirty marking an in-place forward): a Function whose
    instances record `inplace`."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace


def _user_backward(cls):
    backward, vjp = cls.backward, cls.vjp
    if backward is not Function.backward and vjp is not Function.vjp:
        raise RuntimeError("Implementing both 'backward' and 'vjp' for a custom Function is "
                           "not allowed. You should only implement one of them.")
    return vjp if vjp is not Function.vjp else backward


def _apply(cls, args, kwargs):
    ctx = FunctionCtx()
    enabled = grad_mode.state.enabled
    ctx.needs_input_grad = tuple(enabled and isinstance(a, Tensor) and a._requires_grad
                                 for a in args)
    before = {id(a): (a._data, a._node) for a in args if isinstance(a, Tensor)}
    with grad_mode.no_grad():
        if cls.setup_context is not Function.setup_context:
            output = cls.forward(*args, **kwargs)
            cls.setup_context(ctx, args, output)
        else:
            output = cls.forward(ctx, *args, **kwargs)
    ctx._applied = True
    outputs = output if isinstance(output, tuple) else (output,)
    dirty = {id(t) for t in ctx.dirty_tensors}
    if not dirty <= {id(y) for y in outputs}:
        raise AutogradError("Some elements marked as dirty during the forward method were not "
                            "returned as output. The inputs that are modified inplace must all "
                            "be outputs of the Function.")
    nondiff = {id(t) for t in ctx.non_differentiable}
    diff = [any(ctx.needs_input_grad) and isinstance(y, Tensor) and y.dtype.is_floating_point
            and id(y) not in nondiff for y in outputs]
    if not any(diff):
        results = tuple(y.detach() if isinstance(y, Tensor) and y._requires_grad else y
                        for y in outputs)
    else:
        for y in outputs:
            if id(y) in dirty and y._requires_grad and y._node is None:
                raise AutogradError(_LEAF_DIRTY)
        results = _mark_outputs(cls, ctx, args, outputs, diff, dirty, before)
    if forward_ad.active():     # tangents of the outputs by the Function's jvp
        results = forward_ad.through_function(cls, ctx, args, results)
    return results if isinstance(output, tuple) else results[0]


def _plain(t):
    """t's value with no history (sharing data and version counter)."""
    return Tensor._make(t._data, False, None, t._vc)


def _mark_outputs(cls, ctx, args, outputs, diff, dirty, before):
    """The outputs through their markers; returns them in order."""
    operands, arg_kinds = [], []
    for a in args:                  # a dirty argument enters with its value before forward
        if not isinstance(a, Tensor):
            arg_kinds.append(None)
            continue
        if type(a._data) is SparseData and not a._requires_grad:
            # no gradient goes to it; where ctx saves it, its parts are the operands (below)
            arg_kinds.append(NO_GRAD)
            continue
        data, node = before[id(a)]
        arg_kinds.append(1 + len(operands))
        operands.append(Tensor._make(data, a._requires_grad, node, a._vc)
                        if id(a) in dirty else a)
    arg_at = {id(a): j for a, j in zip(args, arg_kinds) if type(j) is int}
    out_at = {id(y): k for k, y in enumerate(outputs) if isinstance(y, Tensor)}
    extras, extra_at = [], {}

    def operand(t, plain=False):
        """t's operand index, adding it to the extras when it is not an argument."""
        if not plain and id(t) in arg_at:
            return arg_at[id(t)]
        if id(t) not in extra_at:
            extra_at[id(t)] = 1 + len(operands) + len(extras)
            extras.append(_plain(t) if plain else t)
        return extra_at[id(t)]

    saved, versions = [], {}
    for t in ctx.to_save:
        if t is None:
            saved.append(None)
        elif type(t._data) is SparseData and id(t) not in arg_at:
            # a sparse tensor made in forward (pyGAT's SpecialSpmmFunction saves its
            # sparse_coo_tensor) or a sparse argument: its dense parts are the operands, as
            # a compiled function takes a sparse input, and backward gets it rebuilt
            parts, static = t._parts()
            saved.append(("sparse", type(t), tuple(operand(p) for p in parts), static))
        elif id(t) in out_at:
            saved.append(("output", out_at[id(t)], operand(t, plain=True)))
        else:
            j = operand(t)
            saved.append(("operand", j))
            versions[j] = t._vc[0]
    attrs = [(name, operand(v, plain=id(v) in out_at)) for name, v in vars(ctx).items()
             if name not in _CTX_FIELDS and isinstance(v, Tensor)]
    specs = [(tuple(y.shape), y._data.dtype) if isinstance(y, Tensor) else None
             for y in outputs]
    call = FunctionCall(cls, _user_backward(cls), ctx, arg_kinds, specs, saved, attrs,
                        len(args), {})
    everything = operands + extras
    hooks = saved_hooks.current()       # saved_tensors_hooks: no version checks through them
    checks = tuple(None if hooks else versions.get(j) for j in range(1, 1 + len(everything)))
    results = list(outputs)
    for k, y in enumerate(outputs):
        if not isinstance(y, Tensor):
            continue
        if not diff[k]:
            results[k] = y.detach() if y._requires_grad else y
            continue
        out = mark(_plain(y), everything, call, k)
        if isinstance(out._node, TapeNode):         # eager: version checks, group members
            out._node.versions = (None,) + checks
            call.attach(k, out._node)
        results[k] = _rebase(y, out) if id(y) in dirty else _as_view(y, out, arg_at)
    if hooks is not None:   # ctx's saved tensors through pack_hook (a saved output as returned)
        call.packed = saved_hooks.pack_tensors(hooks, [
            None if entry is None else results[entry[1]] if entry[0] == "output" else t
            for entry, t in zip(saved, ctx.to_save)])
        return tuple(results)
    for entry in saved:
        if entry is not None and entry[0] == "output":
            call.out_versions[entry[1]] = results[entry[1]]._vc[0]
    return tuple(results)


def _rebase(y, out):
    """A dirty input (modified in place by forward) takes the output's history, as an
    in-place op's result does: the caller keeps using the same tensor object."""
    history_taken(y._node)
    y._data, y._node, y._requires_grad = out._data, out._node, True
    if isinstance(out._node, TapeNode):
        out._node.share_counter(y._vc)
    return y


def _as_view(y, out, arg_at):
    """An argument returned as it is comes back as a view of it (torch's rule): it shares
    the argument's version counter, so in-place changes to either are seen by both."""
    if id(y) in arg_at and isinstance(out._node, TapeNode):
        out._vc = y._vc
        out._node.share_counter(y._vc)
    return out


# --- @once_differentiable -------------------------------------------------------------
class _DelayedError(Function):
    """Stands in as the history of a once-differentiable backward's results: reaching it
    in a second backward raises."""

    @staticmethod
    def forward(ctx, *values):
        return values

    @staticmethod
    def backward(ctx, *grads):
        raise AutogradError("trying to differentiate twice a function that was marked with "
                            "@once_differentiable")


def once_differentiable(fn):
    """Decorate a backward that is not itself differentiable: it runs with grad off, and a
    double backward through its results raises instead of giving a wrong answer."""
    @functools.wraps(fn)
    def wrapper(ctx, *args):
        with grad_mode.no_grad():
            outputs = fn(ctx, *args)
        if not grad_mode.is_grad_enabled() or not any(
                isinstance(a, Tensor) and a._requires_grad for a in args):
            return outputs
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        fake = [v.detach().requires_grad_() if isinstance(v, Tensor)
                and v.dtype.is_floating_point else v for v in outputs]
        return _DelayedError.apply(*fake)
    return wrapper


from . import forward_ad  # noqa: E402  (it subclasses Function: imported after it)
