"""vmap's `randomness` modes, around a vmap's call (`Loop`: the batched call, or the one
call of an empty batch).

    'error'      a random op inside vmap raises torch's RuntimeError
    'different'  each sample draws its own numbers (batching.py draws for the whole batch)
    'same'       every sample draws the same numbers: one draw (a draw from batched
                 operands runs per sample, each from the generator state vmap found)

Eager ops draw from `default_generator.rng`, so 'error' swaps in an object that raises
when anything draws from it (explicit `generator=` objects are not guarded). While tracing
for tracecomp.compile the draws happen when the graph runs, not at trace time, so 'error'
hooks the tracer instead (a primitive tagged "random" raises the same error); under 'same'
a draw from batched operands, which would need the graph to replay one generator state per
sample, is a TraceError (batching.py): a graph break.
"""

from .. import dispatch
from ..creation import default_generator
from ..errors import RandomnessError, TraceError

MODES = ("error", "different", "same")

RANDOM_IN_VMAP = ("vmap: called random operation while in randomness error mode. Please "
                  "either use the 'same' or 'different' randomness flags on vmap or perform "
                  "the randomness operation out of vmap")


def check_mode(randomness):
    if randomness not in MODES:
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or "
                           f"'same'. Got {randomness}")


class _Refuse:
    """Stands in for the default generator's numpy Generator under randomness='error'."""

    def __getattr__(self, name):
        # a TracecompError: bind() passes it on as it is, not as a failed kernel
        raise RandomnessError(RANDOM_IN_VMAP)


class Loop:
    """What vmap's loop calls around the whole batch (enter/exit) and each sample."""

    def __init__(self, randomness):
        self.mode = randomness
        self.tracing = dispatch.trace_hook is not None
        self.saved = None

    def __enter__(self):
        if self.mode == "error":
            if self.tracing:
                self.saved = dispatch.trace_hook
                dispatch.trace_hook = _refusing(self.saved)
            else:
                self.saved, default_generator.rng = default_generator.rng, _Refuse()
        elif self.mode == "same" and not self.tracing:
            if not isinstance(default_generator.rng, _Refuse):    # an outer 'error' vmap
                self.saved = default_generator.rng.bit_generator.state
        return self

    def sample(self):
        """Before the call: under 'same', the generator as vmap found it."""
        if self.saved is not None and self.mode == "same":
            default_generator.rng.bit_generator.state = self.saved

    def __exit__(self, *exc):
        if self.mode == "error":
            if self.tracing:
                dispatch.trace_hook = self.saved
            else:
                default_generator.rng = self.saved
        return False


def _refusing(hook):
    # collectives carry the "random" tag too (a value from outside the graph): an
    # all_reduce inside a compiled vmap under randomness='error' is refused alike
    def record(prim, args, params):
        if "random" in prim.tags:
            raise RandomnessError(RANDOM_IN_VMAP)
        return hook(prim, args, params)
    return record


def same_in_graph_error(name):
    return TraceError(f"vmap(..., randomness='same') inside compiled code: {name} draws from "
                      f"batched operands, so each sample would need the same generator "
                      f"state, which the graph cannot replay. Call this vmap outside "
                      f"tracecomp.compile, or use randomness='different'.")


__all__ = ["MODES", "Loop", "check_mode", "same_in_graph_error"]
