"""The random number generator: torch.Generator (numpy's PCG64 underneath), the default
one every random op draws from unless given another, its seeding (manual_seed, seed,
initial_seed) and its state as torch's uint8 tensor (get_state / set_state). Random
primitives (creation.py) and samplers (random.py) both sit above it.
"""
import numpy as np

from . import context
from .devices import CPU, as_device
from .errors import TraceError
from .tensor import Tensor


class Generator:
    """torch.Generator: a seedable source of random numbers (numpy PCG64 underneath)."""

    device = CPU                        # where its numbers are drawn, as torch reports it

    def __init__(self, device="cpu"):
        if as_device(device).type != "cpu":
            raise RuntimeError(f"Cannot get {as_device(device).type.upper()} generator: "
                               f"tracecomp random numbers are drawn on the CPU")
        self._seed = 67280421310721     # torch's seed for a new Generator(): reproducible
        self.rng = np.random.default_rng(self._seed)

    def manual_seed(self, seed):
        self._seed = int(seed) % 2 ** 64           # torch wraps negative seeds the same way
        self.rng = np.random.default_rng(self._seed)
        return self

    def initial_seed(self):
        return self._seed

    def __repr__(self):                 # no address: IR that draws from it prints the same
        return f"tracecomp.Generator(initial_seed={self._seed})"

    def seed(self):
        return self.manual_seed(int(np.random.SeedSequence().entropy % (2 ** 63))).initial_seed()

    def get_state(self):
        """The state as a uint8 tensor (torch's form; see _USED_BYTES for the bytes)."""
        _refuse_in_trace("get_rng_state")
        return state_to_tensor(self)

    def set_state(self, state):
        _refuse_in_trace("set_rng_state")
        state_from_tensor(self, state)
        return self


default_generator = Generator()
default_generator.seed()                # the default one starts from fresh entropy, as torch's


def manual_seed(seed):
    """Seed the default generator (the one every random op uses unless given another)."""
    _refuse_in_trace("manual_seed")
    return default_generator.manual_seed(seed)


def seed():
    _refuse_in_trace("seed")
    return default_generator.seed()


def _refuse_in_trace(name):
    """Seeding inside compiled code, or saving and restoring the generator's state
    (get_rng_state / set_rng_state, fork_rng), would happen once, when it is traced: later
    calls would not reseed, nor restore, where each eager call does (a state read there
    would be the trace's, the same every call)."""
    if context.current() is not None:
        raise TraceError(f"tracecomp.{name}() was called inside compiled code, which runs "
                         f"it once, when tracing: later calls would not {_UNREPEATED[name]}. "
                         f"Call it outside the compiled function.")


_UNREPEATED = {"manual_seed": "reseed", "seed": "reseed",
               "get_rng_state": "read the state anew", "set_rng_state": "restore the state"}


def initial_seed():
    return default_generator.initial_seed()


# --- RNG state ----------------------------------------------------------------------------
# A state holds PCG64's 128-bit state and increment (little-endian), the cached-uint32 flag
# and value numpy keeps, and the seed the generator started from (45 bytes), zero-padded to
# the size of torch's CPU state (mt19937's), so code that checks or stores states by size
# sees torch's.
_USED_BYTES = 16 + 16 + 1 + 4 + 8
_STATE_BYTES = 5056


def state_to_tensor(gen) -> Tensor:
    st = gen.rng.bit_generator.state
    raw = (st["state"]["state"].to_bytes(16, "little") + st["state"]["inc"].to_bytes(16, "little")
           + bytes([st["has_uint32"]]) + int(st["uinteger"]).to_bytes(4, "little")
           + int(gen._seed).to_bytes(8, "little")).ljust(_STATE_BYTES, b"\0")
    return Tensor._make(np.frombuffer(raw, dtype=np.uint8).copy())


def state_from_tensor(gen, state):
    if not isinstance(state, Tensor) or state._data.dtype != np.uint8 \
            or state._data.shape != (_STATE_BYTES,):
        got = f"{state.dtype} tensor of shape {list(state.shape)}" \
            if isinstance(state, Tensor) else type(state).__name__
        raise RuntimeError(f"RNG state is wrong size: expected a uint8 tensor of "
                           f"{_STATE_BYTES} bytes from get_state()/get_rng_state(), got {got}")
    raw = state._data.tobytes()
    if any(raw[_USED_BYTES:]):
        raise RuntimeError("RNG state is not one get_state()/get_rng_state() gave: tracecomp's "
                           "generator is not torch's mt19937, so torch's states do not load")
    gen.rng.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": int.from_bytes(raw[:16], "little"),
                  "inc": int.from_bytes(raw[16:32], "little")},
        "has_uint32": raw[32], "uinteger": int.from_bytes(raw[33:37], "little")}
    gen._seed = int.from_bytes(raw[37:45], "little")
