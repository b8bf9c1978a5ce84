"""Python numbers read from outside the arguments, fed to a compiled function as inputs
once they are seen to change, so a hand-written optimizer's step count does not compile the
training step on every call.

value_reads.py guards the numbers a trace reads besides its arguments (a dict's item, an
object's or a module's attribute, a global or closure variable): the graph holds them as
constants, so a value that changes compiles again. A hand-written Adam's step count
(`self.param_step[p] += 1`, then `1 - self.beta1 ** self.param_step[p]`; d2l's
`hyperparams['t']`; a trainer's `self.step_count`) changes every call. As torch.compile's
automatic dynamic does for the ints it sees change, a number whose guard failed because it
changed (keeping its type: an int or a float, not a bool, or a numpy scalar: a
CategoricalVAE's annealed np.float64 `self.temp`) is *fed* from then on
(`OutsideNumbers.learn`): each call passes its value as a 0-d input (int64 or float64,
number_args.as_input: the precision Python computes with; a numpy scalar's own dtype),
labelled ("outside", Slot), and while the function is traced the place holds a
TracedNumber on that input (`StandIns`), so
the code's arithmetic on it is in the graph (tracing/number.py), the guard holds any number
of its type there (frozen_values.FedSlot), and a value computed from it and stored back
(`+= 1`) is an output written back as a Python number after each call (kept_values.py,
attributes.py).

A number is seen to change three ways: a version's guard fails (`learn`); a call compiling
a new signature (the first with .grad) finds numbers that earlier versions read changed
since (`learn_from`); or the trace itself stores a new value where it read one (`self.t
+= 1`, the uvadlc Adam's `self.param_step[p] += 1`): then the next call would find it
changed, so the driver feeds it and traces again at once, before lowering anything
(`CallChanges`): a step that moves its own count compiles once.

Where the code needs the value itself (a branch, range(), a size, `int(x)`) the stand-in
notes the read and the trace ends in number_args.ArgumentRead: that number is compiled in
and guarded again, for good (`pin`), as number arguments are; so is every fed number of a
trace that fails otherwise. `compile(dynamic=False)` never feeds one. TRACECOMP_DEBUG=1
says which numbers are fed and which were pinned.
"""
from ..debug_log import emit
from .code_names import filled
from .grad_inputs import grad_tail
from .number_args import NumberTrace, as_input

_MISSING = object()


class Slot:
    """A place a number is read from: `holder[key]` (a dict, a globals dict, an object's
    __dict__), or a closure cell's contents (key None); `kind`, the number's type; shown as
    the user would name it. Labels hold it by identity (one Slot per place)."""

    __slots__ = ("holder", "key", "kind", "text")

    def __init__(self, holder, key, kind, text):
        self.holder, self.key, self.kind, self.text = holder, key, kind, text

    def get(self):
        if self.key is None:
            return self.holder.cell_contents if filled(self.holder) else _MISSING
        return self.holder.get(self.key, _MISSING)

    def set(self, value):
        if self.key is None:
            self.holder.cell_contents = value
        else:
            self.holder[self.key] = value

    def input(self):
        """This call's value as a 0-d input, or None when it is not a number of its kind
        (the signature then misses, and the call compiles with what is there)."""
        value = self.get()
        return as_input(value) if type(value) is self.kind else None

    def __repr__(self):
        return self.text


def is_outside(label):
    return type(label) is tuple and label[0] == "outside"


class OutsideNumbers:
    """Which numbers read from outside a compiled function feeds (dynamic: compile()'s;
    False never feeds)."""

    def __init__(self, dynamic=None):
        self.dynamic = dynamic
        self.slots = {}         # (id(holder), key or id(key)) -> Slot, fed
        self.pinned = set()     # the same keys, never fed again
        self.texts = set()

    def into(self, state):
        """Insert this call's fed numbers into `state` (collect's), before its .grad tail."""
        if self.slots:
            _insert(state, self.slots.values())

    def learn_from(self, artifacts, state, name, optimizers):
        """A call about to compile for a new signature (a first call with .grad, a new
        shape): feed the numbers that the versions compiled before read and that changed
        since (the uvadlc Adam's step counts, read as 0 by the call without .grad), so
        that this compile serves the later counts too. Whether any was new."""
        return any([self.learn(art.reads, state, name, optimizers) for art in artifacts
                    if art.reads is not None])

    def learn(self, guards, state, name, optimizers=()):
        """A compiled version went stale: feed the numbers among `guards` (value_reads.
        Guards) that changed, from this call on (into `state`); whether any was new."""
        new = self.changed(guards, optimizers)
        if new:
            self.adopt(new, state, name, "changed between calls")
        return bool(new)

    def changed(self, guards, optimizers=()):
        """{place: (holder, key, type, name)} of the numbers among `guards` that changed
        (value_reads.Guards.numbers_changed) and are neither fed nor pinned yet. The param
        groups of `optimizers` are not these numbers' places: hyperparameters.py feeds
        their numbers, or keeps them in the signature."""
        if guards is None or self.dynamic is False:
            return {}
        groups = {id(g) for opt in optimizers for g in opt.param_groups}
        found = {}
        for holder, key, kind, text in guards.numbers_changed():
            place = (id(holder), key if type(key) is str or key is None else id(key))
            if place not in self.slots and place not in self.pinned and \
                    id(holder) not in groups:
                found[place] = (holder, key, kind, text)
        return found

    def adopt(self, found, state, name, why):
        """Feed the numbers `found` (changed's) from now on (into `state` too, if any)."""
        new = {}
        for place, (holder, key, kind, text) in found.items():
            while text in self.texts:
                text += "'"
            self.texts.add(text)
            new[place] = Slot(holder, key, kind, text)
        self.slots.update(new)
        emit(1, f"[tracecomp] {name}: {', '.join(map(repr, new.values()))} {why}: fed as "
                f"inputs from now on")
        if state is not None:
            _insert(state, new.values())

    def pin(self, labels, name):
        """Compile these numbers in from now on (their values were read: ArgumentRead)."""
        pinned = [label[1] for label in labels if is_outside(label)]
        for slot in pinned:
            place = next((p for p, s in self.slots.items() if s is slot), None)
            if place is not None:
                del self.slots[place]
                self.pinned.add(place)
        if pinned:
            emit(1, f"[tracecomp] {name} reads the values of "
                    f"{', '.join(map(repr, pinned))} (a branch, a size, int()): compiled in "
                    f"and guarded from now on")


class CallChanges(Exception):
    """A trace stored new values into numbers it read as constants (`self.t += 1`, a
    count the compiled function moves itself): the next call would find them changed and
    compile again, so the driver feeds them (`found`: OutsideNumbers.changed's) and
    traces again at once, before anything is lowered."""

    def __init__(self, found):
        super().__init__("numbers the call changes itself")
        self.found = found


def _insert(state, slots):
    fed = [(("outside", slot), t) for slot in slots if (t := slot.input()) is not None]
    cut = grad_tail(state)
    state[cut:cut] = fed


class StandIns:
    """While a function is traced, each fed number's place holds a TracedNumber on its
    input (from `put` until `restore`, which puts back the values there before)."""

    def __init__(self, state, fed_numbers, offset):
        """fed_numbers: [(label, value)] of the number arguments fed this trace; `numbers`
        is then the trace's NumberTrace of both (None when nothing is fed); offset: where
        `state` starts among the graph's inputs."""
        self.fed = [(label, label[1].get()) for label, _ in state if is_outside(label)]
        self.tensors = [t for label, t in state if is_outside(label)]
        self.positions = [offset + k for k, (label, _) in enumerate(state) if is_outside(label)]
        self.saved, self.start = [], len(fed_numbers)
        fed = list(fed_numbers) + self.fed
        self.numbers = NumberTrace(fed) if fed else None

    def put(self):
        """Each fed number's place holds a TracedNumber on its input from now on."""
        if not self.fed:
            return
        stand_ins = self.numbers.stand_ins(self.tensors, self.positions, self.start)
        for (label, value), number in zip(self.fed, stand_ins):
            self.saved.append((label[1], value))
            label[1].set(number)

    def restore(self):
        for slot, value in reversed(self.saved):
            slot.set(value)
        self.saved = []
