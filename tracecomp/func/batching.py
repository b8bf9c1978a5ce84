"""The batching interpreter: a primitive called on batched tensors inside vmap runs once on
the whole batch (JAX's batching trace, functorch's vmap dispatch key).

`bind` hands every primitive call to `apply` while the hooks are armed (`arm`).
`apply` finds the highest vmap level among the operands (batching_value.py), takes that
level's layer off each operand (its physical tensor and batch dim; None for operands not
batched at that level), and calls the primitive's batching rule (batching_rules.py), which
calls primitives on the physical tensors (through bind again, so lower levels and the tape
see them) and says where the result's batch dim is. The result is a Batched again; bind puts
it on the tape as it would any result, so the VJPs, which call primitives too, run batched.

The rules' own calls run with grad mode off: the tape is kept on the tensors the user's code
sees, one node per primitive it calls (vmap's entry and exit are nodes too, batching_value).
While tracing they keep the caller's grad mode: the graph's nodes they record then carry
requires_grad, so the graph autodiff can differentiate through the vmap (grad of a compiled
vmap); the tape still gets one node per primitive the user's code calls (dispatch.bind).

A primitive without a rule falls back to a loop for that primitive alone: each sample's
operands sliced out, the primitive called per sample, the results stacked (what torch does
for an op without a batching rule). `FALLBACKS` counts those calls per primitive, and each
vmap call logs its own at TRACECOMP_DEBUG >= 1, which shows the rules worth writing.

Random primitives follow vmap's `randomness`: under 'different' a draw inside vmap is made
for the whole batch (a batch dim added to its shape or operands), under 'same' once for all
samples (a draw from batched operands then runs per sample from one generator state), and
under 'error' randomness.py refuses it.
"""
import itertools
import threading
from collections import Counter

from .. import context, debug_log, grad_mode
from ..creation import default_generator
from ..dispatch import bind
from . import batching_rules as rules
from . import batching_value as bv
from . import randomness as rnd
from .batching_value import Batched

_grad = grad_mode.state

FALLBACKS = Counter()     # primitive name -> calls that ran per sample (since start)


class VmapLevel:
    """One running vmap: its level, batch size and randomness mode."""

    def __init__(self, level, batch, randomness):
        self.level, self.batch, self.randomness = level, batch, randomness
        self.fallbacks = Counter()


class _ThreadState(threading.local):
    """Per thread, as grad mode: another thread's ops are not inside this thread's vmap."""

    def __init__(self):
        self.active = []        # running vmaps, innermost last
        self.ceiling = None     # the level whose rule runs now (random draws go below it)


_state = _ThreadState()
_levels = itertools.count(1)    # only grow: a value of an ended vmap never meets a new one's
_running = [0]                  # vmaps running in all threads (the hooks stay armed till 0)
_lock = threading.Lock()


def arm(on=True):
    """Install (or take away) the hooks in bind and the autograd engine. They are armed
    while a vmap runs and whenever a tensor enters a vmap's batch (a cotangent in the
    backward of grad(vmap(f)), after the vmap ended), and taken away when the last running
    vmap ends: until then every eager op pays for the check (~0.5 us). A batched tensor
    kept past its vmap and used later fails (it has no storage), as torch's leaked ones do;
    so would a backward through an ended vmap in one thread while another thread's last
    vmap ends (the next tensor entering a batch arms them again)."""
    from .. import dispatch
    from ..autograd import engine
    dispatch.batching = apply if on else None
    dispatch.in_vmap = running if on else None
    engine.fit_batched = fit if on else None


def running():
    """Whether a vmap runs in this thread and its user's code, not a rule, calls now
    (dispatch.bind puts the ops it traces there on the tape; a rule's calls on physical
    tensors are the graph's alone)."""
    return bool(_state.active) and _state.ceiling is None


def enter(batch, randomness):
    with _lock:
        _running[0] += 1
        arm()
    level = VmapLevel(next(_levels), batch, randomness)
    _state.active.append(level)
    return level


def leave(level, name):
    _state.active.remove(level)
    with _lock:
        _running[0] -= 1
        if not _running[0]:
            arm(False)
    if level.fallbacks:
        debug_log.emit(1, lambda: f"vmap({name}): primitives without a batching rule ran once "
                              f"per sample: {dict(level.fallbacks)}")


def apply(prim, args, arrays, params):
    """bind's hook: prim applied to batched operands, as a Batched; NotImplemented when no
    operand is batched (and no running vmap batches a random draw)."""
    level = 0
    for a in arrays:
        if type(a) is Batched and a.level > level:
            level = a.level
    if "random" in prim.tags and _state.active:
        drawn = _random(prim, args, arrays, params, level)
        if drawn is not NotImplemented:
            return drawn
    if level == 0:
        return NotImplemented
    values, bdims = _layer(args, arrays, level)
    rule = rules.rule_for(prim)
    was, _grad.enabled = _grad.enabled, _grad.enabled and context.current() is not None
    ceiling, _state.ceiling = _state.ceiling, level
    try:
        done = NotImplemented if rule is None else rule(prim, values, bdims, **params)
        out, bdim = _per_sample(prim, values, bdims, params) if done is NotImplemented \
            else done
    finally:
        _grad.enabled = was
        _state.ceiling = ceiling
    if bdim is None:        # a result that depends on no batched operand
        return out._data
    return Batched(out, bdim, level)


def fit(g, like):
    """g, a gradient for `like`, summed over the batch of each vmap that has ended and did
    not batch `like` (the autograd engine's fit_grad asks, beside undoing broadcasting). A
    running vmap's batch stays: the function being differentiated there is one sample's."""
    running = {v.level for v in _state.active}
    keep = set()
    data = like._data
    while type(data) is Batched:
        keep.add(data.level)
        data = data.value._data
    data, ended = g._data, []
    while type(data) is Batched:
        if data.level not in running and data.level not in keep:
            ended.append((data.level, data.batch_size))
        data = data.value._data
    for level, batch in ended:
        g = bv.leave(g, level, 0, batch).sum(0)
    return g


def _layer(args, arrays, level):
    """The operands with `level`'s layer taken off: (values, their batch dims or None)."""
    values, bdims = [], []
    for a, arr in zip(args, arrays):
        batched = type(arr) is Batched and arr.level == level
        values.append(arr.value if batched else a)
        bdims.append(arr.bdim if batched else None)
    return values, bdims


def _per_sample(prim, values, bdims, params, before_each=None):
    """The fallback: prim once per sample, the results stacked along dim 0 (called while
    the level's rules run, with grad mode off: _state.ceiling holds the level)."""
    from .. import composite
    _count(prim, _state.ceiling)
    batch = next(v.shape[d] for v, d in zip(values, bdims) if d is not None)
    outs = []
    for i in range(batch):
        if before_each is not None:
            before_each()
        sample = [v if d is None else v.select(d, i) for v, d in zip(values, bdims)]
        outs.append(bind(prim, *sample, **params))
    return composite.stack(outs, 0), 0


def _count(prim, level):
    FALLBACKS[prim.name] += 1
    for running in _state.active:
        if running.level == level:
            running.fallbacks[prim.name] += 1


# --- random primitives ------------------------------------------------------------------------
def _random(prim, args, arrays, params, level):
    """A random draw inside a running vmap whose randomness is not 'error' (randomness.py
    refuses those): under 'different', each sample's own numbers; under 'same', one draw."""
    ceiling = _state.ceiling
    # the vmaps that batch a draw: 'different' ones inside the operands' level (a 'same'
    # one needs nothing: an unbatched draw is the same for every sample already)
    running = [v for v in _state.active if v.randomness == "different" and v.level > level
               and (ceiling is None or v.level < ceiling)]
    if level and any(v.level == level for v in _state.active):
        mode = next(v.randomness for v in _state.active if v.level == level)
        if mode == "same" and not running:  # batched operands, one draw: per sample, from
            return _same_per_sample(prim, args, arrays, params, level)  # one generator state
    if not running:
        return NotImplemented
    vmap = running[-1]
    was, _grad.enabled = _grad.enabled, False
    _state.ceiling = vmap.level
    try:
        out = rules.draw_batched(prim, args, params, vmap.batch)
    finally:
        _grad.enabled = was
        _state.ceiling = ceiling
    return Batched(out, 0, vmap.level)


def _same_per_sample(prim, args, arrays, params, level):
    """randomness='same' with batched operands: each sample draws from the generator state
    vmap found, so all share their numbers (the generator then moves on once). A graph
    cannot restart its generator: while tracing, a graph break."""
    if context.current() is not None:
        raise rnd.same_in_graph_error(prim.name)
    rng = default_generator.rng
    state = rng.bit_generator.state

    def restart():
        rng.bit_generator.state = state
    values, bdims = _layer(args, arrays, level)
    was, _grad.enabled = _grad.enabled, False
    ceiling, _state.ceiling = _state.ceiling, level
    try:
        out, bdim = _per_sample(prim, values, bdims, params, restart)
    finally:
        _grad.enabled = was
        _state.ceiling = ceiling
    return Batched(out, bdim, level)


__all__ = ["FALLBACKS", "apply", "arm", "enter", "leave"]
