"""The compiled versions one compiled function keeps: signature -> artifact, bounded, least
recently used evicted.

Every new input shape, dtype, requires_grad, train/eval or grad mode compiles a new
version (an Artifact: graphs, native code, its runners' arenas and spare output buffers).
Without a bound, a function called on 200 shapes kept 200 versions (+148 MB). A
CompiledFunction holds at most `size` artifacts (`tracecomp.compile(..., cache_size=N)`,
default CACHE_SIZE); a call that needs one more evicts the one used longest ago, logged
on the `tracecomp` logger (debug level, or TRACECOMP_DEBUG>=1). An evicted signature
still works: its next call compiles again (counted by the recompile-limit warning, and
fast when the llvm disk cache still holds its object code).

An artifact that runs a dynamic graph compiled for other sizes (`served`: dynamic.py's
template at a new size) holds no native code of its own, only its traced graphs and a
runner's size tables (~0.1 MB for a small MLP's). Those are kept apart, up to SERVED
times `size` of them, least recently used evicted among themselves: a text model whose
batches come in 40 padded lengths would otherwise evict and trace again on every call.

One artifact may sit under several keys: its full signature, other signatures that differ
only in `.grad` tensors the code never reads (grad_inputs.GradWatch), and the
`grad_free` signature without those entries. The bound counts artifacts, not keys; evicting
an artifact drops all of its keys.
"""
import threading
from collections import OrderedDict

from .debug_log import debug_level, emit, log

# Twice compile()'s default recompile_limit: a function past the warning keeps its 16 most
# recently used versions (torch._dynamo.config.cache_size_limit plays this role in torch,
# where going past it falls back to eager instead of evicting).
CACHE_SIZE = 16
SERVED = 8      # served artifacts kept per compiled one the bound allows (size * SERVED)
# a miss compares its signature with this many of the latest ones (why it missed, whether
# only sizes changed, a graph break's artifact at other sizes) and learns changed numbers
# from as many of the versions a dynamic graph serves: each new length of a generation
# loop would otherwise scan every earlier one (200 tokens: 16 -> 24 ms a token)
LATEST = 16


def check_size(size):
    """cache_size as compile() accepts it: a positive int, or None for no bound."""
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise ValueError(f"compile: cache_size must be a positive int or None (no bound), "
                         f"got {size!r}")
    return size


class ArtifactCache:
    """get/put by signature; `grad_free` is a second map consulted on a miss (see the
    module docstring). len() is the number of artifacts held."""

    def __init__(self, size=CACHE_SIZE, name="function"):
        self.size, self.name = check_size(size), name
        self.exact = {}             # signature -> artifact
        self.grad_free = {}         # signature without .grad entries -> artifact
        self._order = OrderedDict()  # id(artifact) -> artifact, least recently used first
        self._served = OrderedDict()    # the same, for artifacts a dynamic graph serves
        self._lock = threading.Lock()   # compiled calls may come from several threads
        self.evictions = 0

    def __len__(self):
        return len(self._order) + len(self._served)

    def held(self):
        """(compiled artifacts, artifacts a dynamic graph serves) held: each has its bound."""
        return len(self._order), len(self._served)

    # Every read and write holds the lock: compiled calls in several threads look up,
    # insert and evict at once, and a lookup must never see an artifact half evicted
    # (gone from _order but still in exact).
    def signatures(self, grad_free=False, latest=None):
        """The signatures held (grad_free: those without .grad entries); latest: only the
        last `latest` put. A new signature is compared with earlier ones on every miss
        (recompile_reasons.py): with a dynamic graph serving up to size * SERVED lengths,
        comparing with all of them made each new length's call slower than the last."""
        with self._lock:
            keys = list(self.grad_free if grad_free else self.exact)
        return keys if latest is None else keys[-latest:]

    def artifacts(self, served=None):
        """Every artifact held, least recently used first; served: of the artifacts a
        dynamic graph serves, only the `served` used last (the same reasoning)."""
        with self._lock:
            rest = list(self._served.values())
            return [*self._order.values(), *(rest if served is None else rest[-served:])]

    def get(self, sig):
        with self._lock:
            return self._hit(self.exact.get(sig))

    def get_grad_free(self, plain, used=True):
        """The artifact under `plain` in grad_free; used=False: a look that leaves it
        where it stands in the eviction order."""
        with self._lock:
            art = self.grad_free.get(plain)
            return self._hit(art) if used else art

    def _order_of(self, art):
        """The eviction order art takes its place in, and that order's bound."""
        if art.served:
            return self._served, None if self.size is None else self.size * SERVED
        return self._order, self.size

    def _hit(self, art):
        if art is not None:
            order = self._order_of(art)[0]
            if id(art) in order:
                order.move_to_end(id(art))
        return art

    def put(self, sig, art, plain=None):
        """Keep art under sig (and under `plain` in grad_free); evict beyond the bound."""
        with self._lock:
            self.exact[sig] = art
            if plain is not None:
                self.grad_free[plain] = art
            order, bound = self._order_of(art)
            order[id(art)] = art
            order.move_to_end(id(art))
            while bound is not None and len(order) > bound:
                _, old = order.popitem(last=False)
                self._drop(old)

    def discard(self, art):
        """Forget art under every key (it no longer holds: compiler/outside_tensors.py)."""
        with self._lock:
            if (self._order.pop(id(art), None) or self._served.pop(id(art), None)) is not None:
                self._forget(art)

    def _forget(self, art):
        for table in (self.exact, self.grad_free):
            for key in [k for k, v in table.items() if v is art]:
                del table[key]

    def _drop(self, art):
        self._forget(art)
        self.evictions += 1
        message = (f"[tracecomp] evicted a compiled version of {self.name} (cache_size="
                   f"{self.size}, {self.evictions} evicted so far): its signature compiles "
                   f"again if called")
        if debug_level() >= 1:
            emit(1, message)
        else:
            log.debug(message)
