"""Running one compiled artifact on a call's tensors: its forward, the writes it makes
(optimizer state, .grad, attributes, values kept in lists), and the backward attached to
its outputs. driver.CompiledFunction and the fast paths (state_call, fused_step) call it."""
from .. import grad_mode
from ..tensor import Tensor
from . import attributes as compile_attributes
from . import bridge, grad_inputs, kept_values
from . import state as compile_state
from .fast_call import own
from .number_args import check_conditions
from .output_calls import replay
from .signature import unflatten


def execute(art, tensors, state, roots=(), call_args=()):
    """Run one artifact on the current values; returns the user's result. call_args: the
    call's positional then keyword arguments (kept_values stores into them)."""
    every = [t for _, t in tensors]     # (the ifs: this runs on every call, ~1 us saved)
    if state:
        every += [t for _, t in state[:art.n_state]]
    return execute_on(art, every, len(tensors), roots, state, call_args)


def execute_on(art, every, n_args, roots=(), state=None, call_args=()):
    """execute() on `every`: the n_args arguments' tensors, then the state entries read
    (from `state`, a labelled list, if any). No caller may hold another reference to a
    .grad in them: the call lets go of those it replaces (release_replaced_grads)."""
    if art.captured:
        every += art.captured
    arrays = [t._data for t in every]
    check_conditions(art, arrays)
    if art.unread_grads:
        grad_inputs.release_replaced_grads(art, every, arrays, state, n_args)
    results = art.run_forward(arrays)
    n, m = art.n_outputs, art.n_effect_values
    runner = art.run_forward
    outputs = own(results[:n + m], arrays, getattr(runner, "donated", None),
                  getattr(runner, "owned", ()))
    del arrays          # apply() adopts an output only into a tensor whose array nobody holds
    outputs, written, saved = outputs[:n], outputs[n:], results[n + m:]
    if art.effects:
        if saved:       # a saved input about to be overwritten keeps its old value
            held = {id(every[e.target]._data) for e in art.effects if e.kind == "data"}
            saved = [s.copy() if id(s) in held else s for s in saved]
        compile_state.apply(art.effects, written, every, art.optimizers, art.run_forward, n)
    if art.run_backward is not None and grad_mode.state.enabled:
        state_ = bridge.BackwardState(art.run_backward, saved, art.cotangent_specs, art.grad_slots)
        grad_tensors = [every[k] for k in art.grad_inputs]
        out_tensors = bridge.attach(outputs, art.cotangent_slots, grad_tensors, state_)
    else:
        out_tensors = [Tensor._make(a) for a in outputs]
    if art.attribute_writes or art.kept:
        extra = out_tensors[art.n_user_outputs:]
        n = sum(w.n_tensors for w in art.attribute_writes)     # a tuple write takes several
        if art.attribute_writes:
            compile_attributes.apply(art.attribute_writes, extra[:n], roots)
        kept_values.apply(art.kept, extra[n:], every, call_args)
        out_tensors = out_tensors[:art.n_user_outputs]
    if art.output_calls:     # print() and logging, as each eager call (output_calls.py)
        replay(art.output_calls)
    if art.signals is not None:     # Event.set() and clear() (sync_calls.py)
        art.signals.after_call()
    return unflatten(art.out_structure, out_tensors, art.out_statics)
