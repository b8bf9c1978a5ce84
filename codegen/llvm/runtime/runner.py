"""The Python side of a compiled call: one slot array, one native call per segment.

    runner = Runner(graph, layout, memory_plan, library, python_steps, names)
    outputs = runner(list of input arrays)

What a call does (everything else was worked out when the runner was built):

  0. the guards on inputs (input_guards.py: cross_entropy's target range), on the input
     arrays, before anything is written;
  1. the inputs, made C-contiguous where they are not (a copy, as eager numpy would);
  2. the output buffers (memory.MemoryPlan.fresh): arrays no earlier result still uses, so
     no later call ever writes into an array someone holds. A runner keeps up to SPARE
     buffers per output and reuses one once nothing references it but the runner (its
     reference count says so: no Tensor, view, memoryview or list holds it); else it
     allocates with `np.empty`. Reusing saves the page faults of fresh memory: with new
     arrays every call, a compiled MLP training step (batch 64) took ~420 minor faults
     (~1.7 MB of new pages) per call, as glibc handed freed memory back to the system,
     and ran ~1.5x slower than with reuse. The cost: up to SPARE copies of each output
     stay allocated while the runner lives (an array only weakly referenced can change).
     Outputs under a page (SPARE_FROM) are not kept, unless written back into tensors
     the caller keeps (`keep_spares`: a whole step's gradients): malloc hands freed small
     blocks back from its free lists, without page faults, and a kept one is memory a
     step holds that torch's frees (the logits of a compile(model) forward, which nothing
     reads once the eager loss has its log_softmax). Those of a cache line at most (SPARE_TINY: a
     loss, the one float of a call timed for its overhead) are kept again: a new one costs
     the call ~0.65 us (np.empty and its pointer; `x + 1`: 4.1 -> 4.8 us) and keeping it
     costs nothing worth counting.
     `owned` marks the outputs that are such a buffer whole, which a caller may keep as a
     tensor's array, maybe in exchange for the tensor's old one (`hand_over`;
     compile_state.apply adopts updated parameters and optimizer state this way instead
     of copying them). A donated output (passes/donation.py: the new value of an input
     that the caller writes back) is the input's own array instead, written in place,
     when the call's arrays allow it (`_donations`);
  3. the slot array (entry.py): the arena, the constants' pointers (taken once), then the
     inputs' and outputs' data pointers;
  4. one ctypes call per run of native steps (schedule.Layout.runs: a graph without Python
     steps in the middle is ONE call), which hands its kernels split over threads to the
     native pool itself (parallel.Pool.run_steps); without a native pool, one call per
     step, a split one through parallel.py's Python pool. Between runs, the Python steps
     run on numpy arrays (views into the arena for intermediates) and store their
     results' pointers into their slots.

Python steps and dtypes: native code reads a step's result through a raw pointer, as
exactly the node's dtype and shape, so each result is first made that (`conform`): cast to
the node's dtype when numpy gave another one (np.matmul of int64 and float32 gives float64,
which read as float32 was garbage), C-contiguous, and of the node's size (anything else
would read past the array: an IRError, always checked). The dtype rule is the authority,
as in eager `bind`. With TRACECOMP_VERIFY=1 (the tests) a raw result of another dtype or
shape is an IRError instead of being cast, so an impl that disagrees with its primitive's
dtype rule is found, not papered over.

Pointers: `address(a)` reads a writable array's data pointer through ctypes' buffer
protocol, ~0.2 us on the dev machine, against ~0.9 us for `a.ctypes.data` and ~0.95 us for
`a.__array_interface__['data'][0]` (the `__array_interface__` dict is built on every
access); read-only or empty arrays take `a.ctypes.data`.

The arena (intermediates, laid out by passes/memory.py) is taken from the process's pool
for the call and given back after it (arenas.py: every runner shares the pool, so what is
kept between calls is the largest graph's scratch memory). The slot array and the spare
outputs are the runner's own, so a call that finds the runner busy (another thread is
inside it; ctypes releases the GIL) makes new slots and output buffers for itself instead
of waiting. Results never live in the arena, so nothing a call returns is overwritten by
the next.
"""
import ctypes
import operator
import os
import threading
import weakref
from collections import Counter

import numpy as np

from tracecomp.errors import IRError
from tracecomp.ir import execution_error, format_node

from . import arenas, lodging, native_pool, parallel
from .spares import FREE as _FREE
from .spares import SPARE, SPARE_FROM, SPARE_TINY  # noqa: F401 - read as runner.SPARE_*
from .spares import first_free as _first_free
from .spares import free_bytes as _free_bytes

_addressof, _char = ctypes.addressof, ctypes.c_char
_base = operator.attrgetter("base")
_NONE = {}
_NO_BASE = {id(None)}


def address(a):
    """The data pointer of array a (see the module docstring for the timings)."""
    try:
        return _addressof(_char.from_buffer(a))
    except (TypeError, ValueError):     # read-only, or empty (no byte to point at)
        return a.ctypes.data


_RUNNERS = weakref.WeakSet()    # every live runner, whose free output buffers others may take


class Runner:
    """runner(list of input arrays) -> list of output arrays, through the entry functions.

    Concurrent calls from several threads are correct (see the module docstring): the
    second one in pays for new slots and output buffers."""

    fast = True     # numpy arrays in and out: compiler/fast_call.py may call it directly

    def __init__(self, graph, layout, memory_plan, library, python_steps, names, donated=None,
                 serial_blas=False, guards=(), second_call=None):
        self.graph, self.layout, self.memory_plan = graph, layout, memory_plan
        self.guards = tuple(guards)     # checks of input arrays, first (input_guards.py)
        # it calls the BLAS (or may: gemm/first_calls.py): on one thread (parallel.py)
        self._serial_blas = serial_blas or second_call is not None
        self.library, self.names = library, names
        mem = memory_plan
        consts = [n for n in graph.nodes if n.op == "constant"]
        fresh = [n for n in layout.slots if n in set(mem.fresh)]    # in slot order
        results = layout.python_results()
        self._where = where = {n: k for k, n in enumerate(consts + graph.inputs + fresh
                                                           + results)}
        self._consts = [_constant(n) for n in consts]
        self._fresh = [(n.shape, n.dtype) for n in fresh]
        self._spare = [[] for _ in fresh]      # output buffers to reuse once released
        self._kept = [not SPARE_TINY < n.size * n.dtype.itemsize < SPARE_FROM for n in fresh]
        self._keys = set(self._fresh)           # their (shape, dtype), for _taken_over
        _RUNNERS.add(self)
        self._pointer = {}      # id -> data pointer of each array in a spare list (~0.5 us)
        self._no_results = [None] * len(results)
        # slots: the arena, constants (pointers taken here), inputs + fresh (per call), ...
        slot = {n: k + 1 for k, n in enumerate(layout.slots)}
        const_slots = [n for n in layout.slots if n.op == "constant"]
        self._const_ptrs = tuple(self._consts[where[n]].ctypes.data for n in const_slots)
        self._lo = 1 + len(const_slots)
        self._hi = self._lo + len(graph.inputs) + len(fresh)
        assert [slot.get(n) for n in graph.inputs + fresh] == list(range(self._lo, self._hi))
        self._Slots = ctypes.c_void_p * (1 + len(layout.slots))
        self._counter_ptr = None    # profile_sites: the kernel timing counters' address
        self._outs = [(where[mem.base(o)], None if mem.base(o) is o else o.shape)
                      for o in graph.outputs]
        # the outputs are the fresh buffers, in order, as they are (`x + 1`): quick() hands
        # over its list of them
        first = len(consts) + len(graph.inputs)
        self._outs_fresh = self._outs == [(first + k, None) for k in range(len(fresh))]
        # per output: whether a call hands it over whole, a buffer of its own (fresh, not a
        # view, no other output's, read by no Python step, whose result might be a view of
        # it), so the caller may adopt it instead of copying it
        fresh_ids = range(len(consts) + len(graph.inputs), len(consts) + len(graph.inputs)
                          + len(fresh))
        self._fresh_ids = fresh_ids
        bases = Counter(mem.base(o) for o in graph.outputs)
        read = {x for s in layout.program if s.kind == "python" for g in s.groups
                for x in g.inputs}
        # donated outputs (passes/donation.py) are written over an input's array instead
        self.donated = donated = dict(donated or {})
        self._donors = {where[graph.outputs[k]] - fresh_ids.start: j
                        for k, j in donated.items()}
        self._undonated = [f for f in range(len(fresh)) if f not in self._donors]
        self.owned = tuple(mem.base(o) is o and where[o] in fresh_ids and bases[o] == 1
                           and o not in read and k not in donated
                           for k, o in enumerate(graph.outputs))
        self._spare_of = [where[o] - fresh_ids.start if owned else None
                          for o, owned in zip(graph.outputs, self.owned)]
        # a backward's residual inputs laid out in its output buffers (lodging.py):
        # {fresh index: [(input position, byte offset)]}, filled by lodge_residuals
        self._guests = {}
        self._arena_guests = []     # [(input position, byte offset)] of those in its arena
        self._lent = []     # arenas lent to a forward for them, not yet run in (lodging.py)
        self.hosts_residuals = False    # whether a call may be told to consume its inputs
        self._lodgings = ()     # a forward's: lodging.Lodging per backward buffer it uses
        self._lock = threading.Lock()      # held by the call using the runner's slots
        self._verify = os.environ.get("TRACECOMP_VERIFY") == "1"
        self._peak = mem.peak
        arenas.register(self, mem.peak)
        # slot 0: the call's arena (a graph without intermediates has none to take)
        self._slots = self._Slots(arenas.EMPTY.address, *self._const_ptrs)
        self._program = []        # (kind, function, then: extent | node, value index, slot)
        # a run of native steps is one call where the native pool can take its splits
        runs = {id(r.steps[0]): r for r in layout.runs()} if native_pool.available() else {}
        inside = set()
        for step in layout.program:
            if id(step) in inside:
                continue
            run = runs.get(id(step))
            if run is not None:
                inside.update(map(id, run.steps))
                fn = library.cfunc(run.name, None, ctypes.c_void_p, ctypes.c_void_p,
                                   ctypes.c_void_p, ctypes.c_int64)
                self._program.append(("run", fn))
            elif step.kind in ("native", "sum"):
                fn = library.cfunc(step.name, None, ctypes.c_void_p)
                self._program.append(("native", fn))
            elif step.kind in ("split", "chunks"):     # an entry over ranges
                fn = library.cfunc(step.name, None, ctypes.c_void_p, ctypes.c_int64,
                                   ctypes.c_int64)
                self._program.append(("split", fn, step.extent, library.address(step.name)))
            else:
                root = step.groups[0].root
                self._program.append(("python", python_steps[root], root, where[root],
                                      slot.get(root)))
        kinds = [s[0] for s in self._program]
        self._single = self._program[0][1] if kinds == ["native"] else None
        self.steps = [g for s in layout.program for g in s.groups]    # what runs, in order
        # quick(): one native function or run, nothing checked, donated or lodged around it
        self._one_run = self._program[0][1] if kinds == ["run"] else None
        self._plain = ((self._single or self._one_run) is not None and not self.guards
                       and not donated)
        # run once, before the second call (gemm/first_calls.fill: the generated GEMM and
        # dots from then on), with what the calls after it do: through __call__ until then
        self._second_call = second_call and [second_call, False, serial_blas, self._plain]
        self._plain = self._plain and second_call is None

    def __call__(self, arrays, consume=False):
        """consume: the caller reads none of `arrays` after the call and holds them only in
        that list (a backward run without retain_graph), so an output may be written over
        residual inputs (lodging.py)."""
        for guard in self.guards:
            guard(arrays)
        if self._second_call is not None:
            self._before_second_call()
        mine = self._lock.acquire(False)
        arena = (mine and consume and self._lent
                 and lodging.lent_arena(self._lent, self._arena_guests, arrays)) \
            or (arenas.take(self._peak) if self._peak else arenas.EMPTY)
        try:
            try:        # the fast way, for writable C-contiguous arrays (nearly always)
                pointers = [_addressof(_char.from_buffer(a)) for a in arrays]
                buffers, writable = arrays, True
            except (TypeError, ValueError):     # a copy where not C-contiguous, as numpy
                buffers = [a if a.flags.c_contiguous else a.copy(order="C") for a in arrays]
                pointers = [address(a) for a in buffers]
                writable = False
            if mine:
                slots = self._slots
                if self._peak:
                    slots[0] = arena.address
                outputs = self._outputs(
                    self._donations(buffers, writable) if self._donors else _NONE,
                    buffers, pointers, consume)
            else:       # another thread is running this runner: slots of its own
                slots = self._Slots(arena.address, *self._const_ptrs)
                if self._counter_ptr:
                    slots[-1] = self._counter_ptr
                outputs = [np.empty(shape, dtype) for shape, dtype in self._fresh]
                pointers += [address(a) for a in outputs]
            vals = [*self._consts, *buffers, *outputs]
            slots[self._lo:self._hi] = pointers
            if self._counter_ptr is not None:
                self._graph_calls += 1
            if self._serial_blas:
                parallel.serial_blas_begin()
            try:
                if self._single is not None:
                    self._single(slots)
                else:
                    vals += self._no_results
                    self._run(vals, slots, arena)
            finally:
                if self._serial_blas:
                    parallel.serial_blas_end()
        finally:
            if self._peak:
                arenas.give_back(arena)
            if mine:
                self._lock.release()
        return [vals[j] if shape is None else vals[j].reshape(shape) for j, shape in self._outs]

    def _before_second_call(self):
        """Note the first call; before the second, run second_call, take the later ways."""
        pending = self._second_call
        if not pending[1]:
            pending[1] = True
            return
        pending[0]()
        self._serial_blas, self._plain = pending[2], pending[3]
        self._second_call = None

    def quick(self, arrays):
        """__call__ for the fast compiled calls (compiler/fast_call.py, module_call.py):
        a graph that is one native function or run, no guards, donations or lodged residuals
        (`x + 1`, elementwise helpers, a model's inference forward) takes __call__'s steps
        without the branches it never needs: a third of its Python (znver3, `x + 1`:
        runner 3.7 -> 2.65 us). Anything else is __call__."""
        if not self._plain or self._lodgings or self._counter_ptr is not None \
                or not self._lock.acquire(False):
            return self(arrays)
        try:
            try:
                pointers = [_addressof(_char.from_buffer(a)) for a in arrays]
            except (TypeError, ValueError):     # not writable C-contiguous: __call__ copies
                pointers = None
            if pointers is not None:
                arena = arenas.take(self._peak) if self._peak else None
                try:
                    outputs = []
                    for f in range(len(self._fresh)):
                        a, pointer = self._buffer(f)
                        outputs.append(a)
                        pointers.append(pointer)
                    slots = self._slots
                    slots[self._lo:self._hi] = pointers
                    if arena is not None:
                        slots[0] = arena.address
                    self._run_one(slots)
                finally:
                    if arena is not None:
                        arenas.give_back(arena)
        finally:
            self._lock.release()
        if pointers is None:
            return self(arrays)
        if self._outs_fresh:
            return outputs
        vals = [*self._consts, *arrays, *outputs]
        return [vals[j] if shape is None else vals[j].reshape(shape) for j, shape in self._outs]

    def _run_one(self, slots):
        """Run the one native function or run of a quick() call."""
        if self._serial_blas:
            parallel.serial_blas_begin()
        try:
            if self._one_run is None:
                self._single(slots)
            else:       # the native pool splits its kernels over the threads
                parallel.pool.run_steps(self._one_run, slots, parallel.usable_threads())
        finally:
            if self._serial_blas:
                parallel.serial_blas_end()

    def profile_sites(self, labels):
        """Counters for an entry built with profiling (entry.emit's `profile`): one
        (nanoseconds, calls) pair per label, in the slot after the layout's."""
        self._sites = labels
        self._counts = np.zeros(2 * len(labels), np.int64)
        self._Slots = ctypes.c_void_p * (len(self._slots) + 1)
        self._slots = self._Slots(arenas.EMPTY.address, *self._const_ptrs)
        self._slots[-1] = self._counter_ptr = self._counts.ctypes.data
        self._graph_calls = 0

    @property
    def kernel_profile(self):
        """Lines of time per kernel and product, most first, since the runner was built
        (TRACECOMP_PROFILE=1 at compile time; else an empty list)."""
        if self._counter_ptr is None:
            return []
        ns, calls = self._counts[0::2], self._counts[1::2]
        total, runs = max(1, int(ns.sum())), max(1, self._graph_calls)
        order = np.argsort(-ns, kind="stable")
        return [f"{ns[k] / 1e3 / runs:10.1f} us {100 * ns[k] / total:5.1f} %  "
                f"{calls[k] / runs:4.0f} calls  {self._sites[k]}" for k in order] + \
            [f"(per call of the graph, over {self._graph_calls} calls; a split kernel's time "
             f"is summed over its pieces and threads)"]

    def held_bytes(self):
        """Memory this runner alone keeps between calls: the output buffers it reuses that
        nothing else references now (one a tensor still holds, a .grad or a returned loss,
        is that tensor's memory). The arena it runs in is the pool's (arenas.held_bytes)."""
        return sum(_free_bytes(spare, _FREE) for spare in self._spare)

    def _donations(self, buffers, writable=False):
        """{fresh buffer: input position} of the donations this call can make: the input's
        array owns its memory, is writable (`writable`: every buffer is), and no other
        input is it or a view of it (a tensor and its detached copy share one array; a
        parameter may view another)."""
        if len(set(map(id, buffers))) == len(buffers):  # no array twice (nearly always)
            bases = list(map(_base, buffers))
            viewed = set(map(id, bases))
            if writable and viewed == _NO_BASE:     # no input is a view: every donation
                return self._donors
            return {f: j for f, j in self._donors.items() if bases[j] is None
                    and id(buffers[j]) not in viewed
                    and (writable or buffers[j].flags.writeable)}
        seen = Counter(map(id, buffers))
        seen.update(id(b.base) for b in buffers if b.base is not None)
        return {f: j for f, j in self._donors.items() if seen[id(buffers[j])] == 1
                and buffers[j].base is None and buffers[j].flags.writeable}

    def _outputs(self, donations, buffers, pointers, consume=False):
        """This call's output buffers: a donated input's array; a view into a backward
        runner's free buffer (a lodged residual), or the buffer that holds this call's
        residual inputs (`consume`; lodging.py); else a buffer of an earlier call that
        nothing references any more (only this runner's list: nobody can see it change),
        else a new one. Appends their data pointers to `pointers` (an input's pointer is
        already there: a donated output's is read from it)."""
        out, at = [None] * len(self._fresh), [0] * len(self._fresh)
        for f, j in donations.items():
            out[f], at[f] = buffers[j], pointers[j]
        lodged = self._lodged() if self._lodgings else _NONE
        # a whole step donates most outputs (its parameters and optimizer state): the
        # others alone are looked at
        for f in self._undonated if donations is self._donors else range(len(out)):
            if out[f] is not None:      # donated
                continue
            if lodged and f in lodged:
                out[f], at[f] = lodged[f]
                continue
            a = None
            if consume and f in self._guests:
                a = lodging.host_buffer(self._spare[f], self._guests[f], buffers, pointers,
                                        self._pointer, _FREE)
            out[f], at[f] = self._buffer(f) if a is None else \
                (a, self._pointer.get(id(a)) or address(a))
        pointers += at
        return out

    def _buffer(self, f):
        """(array, data pointer) for fresh output f this call: a kept buffer nothing
        references any more; else, for an output kept for reuse, one another runner frees or
        a new one, kept; else (small) a new one, malloc's, every call."""
        spare = self._spare[f]
        a = _first_free(spare, _FREE)
        if a is None:
            kept = self._kept[f]
            a = self._taken_over(*self._fresh[f]) if kept else None
            if a is None:
                a = np.empty(*self._fresh[f])
            if kept:
                self._keep(spare, a)
        return a, self._pointer.get(id(a)) or address(a)

    def lodge_residuals(self, forward, first):
        """Let `forward`, the runner of the forward graph whose outputs from `first` on are
        this graph's first inputs (the values it saves for this backward), write them into
        this runner's output buffers where the memory plan lays them (lodging.py)."""
        if not isinstance(forward, Runner):
            return
        position, places = {id(n): j for j, n in enumerate(self.graph.inputs)}, {}
        plan = self.memory_plan
        # in the arena only when the forward runs in none: its own would be in use too
        in_arena = plan.arena_guests.items() if not forward._peak else ()
        for g, (host, offset) in [*plan.guests.items(), *((g, (None, at)) for g, at in in_arena)]:
            j = position[id(g)]
            k = first + j
            if k >= len(forward.owned) or not forward.owned[k]:
                continue
            out = forward.graph.outputs[k]
            if (out.shape, out.dtype) != (g.shape, g.dtype):
                continue
            if host is None:
                f = None
                self._arena_guests.append((j, offset))
            else:
                f = self._where[host] - self._fresh_ids.start
                self._guests.setdefault(f, []).append((j, offset))
            places.setdefault(f, {})[forward._spare_of[k]] = (offset, g.shape, g.dtype)
        forward._lodgings = tuple(lodging.Lodging(self, f, p) for f, p in places.items())
        self.hosts_residuals = bool(self._guests or self._arena_guests)

    def keep_spares(self, positions):
        """Outputs at `positions` are written back into tensors the caller keeps between
        calls (parameters, their gradients, optimizer state): their spare buffers are kept
        whatever their size, since such a buffer is that tensor's memory, not free."""
        for k in positions:
            f = self._spare_of[k] if k < len(self._spare_of) else None
            if f is not None:
                self._kept[f] = True

    def lend(self, index):
        """A free buffer of fresh output `index` (made when there is none and the list has
        room), where its bytes begin in it and its data pointer, for another runner to
        write views into (lodging.py), or None. It stays in this runner's list: free again
        once the views are gone. Index None: an arena this runner will run in."""
        if not self._lock.acquire(False):   # this runner is running: not its buffers now
            return None
        try:
            if index is None:
                arena = lodging.lend_arena(self._lent, self._peak)
                return arena and (arena.buffer, arena.skew, arena.address)
            spare = self._spare[index]
            a = _first_free(spare, _FREE)
            if a is None:
                if len(spare) >= SPARE:
                    return None
                a = np.empty(*self._fresh[index])
                self._keep(spare, a)
            return a, 0, self._pointer[id(a)]
        finally:
            self._lock.release()

    def _keep(self, spare, a):
        """Keep buffer `a` in list `spare` for later calls, where the list has room."""
        if len(spare) < SPARE:
            spare.append(a)
            self._pointer[id(a)] = address(a)

    def _lodged(self):
        """{fresh index: (view, data pointer)} of the residual outputs this call writes into
        a backward runner's buffer (lodging.py)."""
        found = {}
        for lodge in self._lodgings:
            views = lodging.lodge(lodge)
            if views:
                found.update(views)
        return found

    def _taken_over(self, shape, dtype):
        """A free output buffer of this shape and dtype that another runner keeps, taken
        from it, or None. Buffers then move to the graph that runs now instead of staying
        with one no longer called: the first call of a whole training step has an artifact
        of its own (it creates the optimizer state), whose gradient buffers the later calls'
        artifact takes over (the bench MLP step kept 1.1 MB more before). Only when this
        runner has no free buffer of its own, so not on a warm call's path."""
        key = (shape, dtype)
        try:
            others = [r for r in _RUNNERS if r is not self and key in r._keys]
        except RuntimeError:    # another thread added a runner meanwhile: not this time
            return None
        for other in others:
            if not other._lock.acquire(False):      # that runner is running: not now
                continue
            try:
                for spare, fresh in zip(other._spare, other._fresh):
                    a = _first_free(spare, _FREE) if fresh == key else None
                    if a is not None:
                        del spare[next(i for i, b in enumerate(spare) if b is a)]
                        del other._pointer[id(a)]
                        return a
            finally:
                other._lock.release()
        return None

    def hand_over(self, k, given, back=None):
        """The caller keeps `given`, owned output k of the latest call, as a tensor's array
        for good: the runner stops reusing it, and reuses `back` instead when there is one
        (an array of the same shape and dtype that nobody else references)."""
        spare = self._spare[self._spare_of[k]]
        for i, a in enumerate(spare):
            if a is given:
                del self._pointer[id(a)]
                if back is None:
                    del spare[i]
                else:
                    spare[i] = back
                    self._pointer[id(back)] = address(back)
                return

    def _run(self, vals, slots, arena):
        env = _Env(vals, arena, self._where, self.memory_plan)
        parts = None
        for kind, fn, *rest in self._program:
            if kind == "native":
                fn(slots)
                continue
            if kind == "split":
                parts = parts or parallel.usable_threads()
                parallel.pool.run(fn, slots, rest[0], parts, address=rest[1])
                continue
            if kind == "run":
                parts = parts or parallel.usable_threads()
                parallel.pool.run_steps(fn, slots, parts)
                continue
            node, k, slot = rest
            try:
                out = fn(env)
            except Exception as exc:
                raise execution_error(exc, node, self.names) from exc
            out = conform(out, node, self.names, self._verify)
            if arena.owns(out):        # an impl that returned (a view of) its input
                out = out.copy()
            vals[k] = out
            if slot is not None:
                slots[slot] = address(out)


class _Env:
    """env[node] -> node's array during a call, for the Python steps (backend._step)."""

    __slots__ = ("arena", "mem", "vals", "where")

    def __init__(self, vals, arena, where, mem):
        self.vals, self.arena, self.where, self.mem = vals, arena, where, mem

    def __getitem__(self, node):
        base = self.mem.base(node)
        offset = self.mem.offsets.get(base)
        a = self.vals[self.where[base]] if offset is None else self.arena.view(offset, base)
        return a if base is node else a.reshape(node.shape)


def conform(out, node, names, strict=False):
    """A Python step's result as native code will read it: an ndarray of node's dtype and
    shape, C-contiguous (see the module docstring). strict: a result of another dtype or
    shape is an IRError (TRACECOMP_VERIFY) instead of being cast or reshaped."""
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    if out.dtype != node.dtype or out.shape != node.shape:
        if strict or out.size != node.size:
            raise IRError(f"a Python step of compiled code returned {out.dtype.name}"
                          f"{list(out.shape)} where the graph says {node.dtype.name}"
                          f"{list(node.shape)} (its primitive's impl and its dtype/shape "
                          f"rule disagree)\nWhile executing {format_node(node, names)}")
        out = out.astype(node.dtype, copy=False).reshape(node.shape)
    if not out.flags.c_contiguous:
        out = np.ascontiguousarray(out)
    return out


def _constant(node):
    value = node.params["value"]
    return value if value.flags.c_contiguous else value.copy(order="C")
