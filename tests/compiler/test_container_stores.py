"""Containers other than a plain dict or list that compiled code changes (kept_values.py,
value_reads.py): a defaultdict or Counter of counts, an OrderedDict, a user's dict or list
subclass, a deque with a maxlen, a set. Each call changes them as an eager call does (the
trace ran the Python once, so each changed once per trace before); what cannot be
replayed (a deque's pop, an OrderedDict's move_to_end) is a TraceError, and with
fullgraph=False the call runs eagerly."""
import collections

import numpy as np
import pytest

import tracecomp as tc


class Stats(dict):
    """A user's dict subclass."""

    def total(self):
        return sum(self.values())


class Log(list):
    """A user's list subclass."""


def _counter(kind):
    def make():
        stats = kind(int) if kind is collections.defaultdict else kind()
        if kind is not collections.Counter:
            stats["n"] = 0

        def f(x):
            stats["n"] += 1
            stats["sum"] = stats.get("sum", 0) + 2
            return x * 2
        return stats, f
    return make


def _deque(how):
    def make():
        stats = collections.deque([0], maxlen=3)

        def f(x):
            getattr(stats, how)(len(stats) + 10)
            getattr(stats, how)("step")
            return x + 1
        return stats, f
    return make


def _set():
    seen = {"start", "tmp"}

    def f(x):
        seen.discard("tmp")
        seen.add(len(seen))
        return x - 1
    return seen, f


def _list_subclass():
    log = Log([0])

    def f(x):
        log.append(log[-1] + 1)
        return x * 3
    return log, f


def _cached_tensor():
    cache = collections.defaultdict(lambda: None)

    def f(x):
        y = x * 2 + 1
        cache["last"] = y.detach()
        cache["calls"] = (cache["calls"] or 0) + 1
        return y.sum()
    return cache, f


def _popped_key():
    """`d.pop(k)` on a closure dict: the trace's pop happened once, later calls popped
    nothing (it only warned)."""
    queue = {f"k{j}": j for j in range(6)}

    def f(x):
        return x + queue.pop(next(iter(queue)))
    return queue, f


def _deleted_key():
    cache = {"old": 1, "keep": 2}

    def f(x):
        y = x * 2
        if "old" in cache:
            del cache["old"]
        cache["last"] = y.detach()
        return y
    return cache, f


class _Holder:
    pass


def _deleted_attribute():
    holder = _Holder()
    holder.a, holder.b = 1, 2

    def f(x):
        if hasattr(holder, "a"):
            del holder.a
        return x + holder.b
    return holder.__dict__, f


def _histories():
    """A defaultdict(list) of histories: its lists were not watched (neither one its
    factory made while traced nor one there before), so each was appended to once per
    trace; a .item() number stayed behind in a new one, unusable."""
    hist = collections.defaultdict(list)
    hist["steps"].append(0)

    def f(x):
        loss = (x * x).sum()
        hist["loss"].append(loss.item())
        hist["steps"].append(len(x))
        hist["out"].append(loss * 2)
        return loss
    return hist, f


def _reset_history():
    """`hist[k] = [...]` then appends: a list the code made, stored anew each call (as
    one the factory made it was appended to as well, doubling the items)."""
    hist = collections.defaultdict(list)

    def f(x):
        hist["last"] = [1]
        hist["last"].append(2)
        hist["empty"]     # noqa: B018 - a read makes the key, as eagerly, once
        return x + 1
    return hist, f


CASES = {
    "defaultdict": _counter(collections.defaultdict),
    "Counter": _counter(collections.Counter),
    "OrderedDict": _counter(collections.OrderedDict),
    "dict subclass": _counter(Stats),
    "deque append": _deque("append"),
    "deque appendleft": _deque("appendleft"),
    "set": _set,
    "list subclass": _list_subclass,
    "defaultdict of a tensor": _cached_tensor,
    "dict pop": _popped_key,
    "dict del": _deleted_key,
    "attribute del": _deleted_attribute,
    "defaultdict of lists": _histories,
    "defaultdict key reset": _reset_history,
}


def _plain(value):
    """A container's state, comparable: its class and its items, tensors as lists."""
    if isinstance(value, tc.Tensor):
        return ("tensor", value.tolist())
    if isinstance(value, dict):
        return type(value).__name__, [(k, _plain(v)) for k, v in value.items()]
    if isinstance(value, set):
        return "set", sorted(map(repr, value))
    if isinstance(value, (list, collections.deque)):
        return type(value).__name__, [_plain(v) for v in value]
    return value


@pytest.mark.parametrize("case", list(CASES))
def test_each_call_changes_the_container_as_eagerly(case):
    eager_state, eager_f = CASES[case]()
    state, f = CASES[case]()
    compiled = tc.compile(f, fullgraph=True)
    for i in range(4):
        x = tc.tensor(np.arange(3.0) + i)
        want = eager_f(x)
        got = compiled(x)
        np.testing.assert_allclose(got.numpy(), want.numpy())
        assert _plain(state) == _plain(eager_state), f"call {i}"


def test_a_counter_compiles_once_more_then_feeds_its_count():
    """As a plain dict's count: seen to change, it is fed from then on (outside_numbers.py),
    so a counter moved every call does not compile every call."""
    stats, f = _counter(collections.defaultdict)()
    compiled = tc.compile(f, fullgraph=True)
    for i in range(6):
        compiled(tc.ones(2) * i)
    assert stats == {"n": 6, "sum": 12}
    assert compiled.compiles <= 3


def test_a_defaultdict_read_creates_its_key_once():
    """Reading a missing key of a defaultdict stores the factory's value, as eagerly; a
    value set between calls is read by the next."""
    scale = collections.defaultdict(lambda: 1.0)

    @tc.compile(fullgraph=True)
    def f(x):
        return x * scale["w"]
    np.testing.assert_allclose(f(tc.ones(2)).numpy(), [1.0, 1.0])
    assert dict(scale) == {"w": 1.0}
    scale["w"] = 3.0
    np.testing.assert_allclose(f(tc.ones(2)).numpy(), [3.0, 3.0])
    assert dict(scale) == {"w": 3.0}


def _popping():
    queue = collections.deque([1, 2, 3, 4])

    def f(x):
        return x * queue.pop()
    return queue, f


def _list_pop():
    queue = [1, 2, 3, 4]

    def f(x):
        return x * queue.pop(0)
    return queue, f


def _moving():
    order = collections.OrderedDict(a=1, b=2)

    def f(x):
        order.move_to_end("a")
        return x + 1
    return order, f


@pytest.mark.parametrize("make, what", [(_popping, "a deque"), (_moving, "an OrderedDict"),
                                        (_list_pop, "a list")])
def test_a_change_no_call_repeats_is_refused(make, what):
    """A pop from a deque, an OrderedDict's move_to_end: refused under fullgraph=True
    (the container as it was), run eagerly with fullgraph=False."""
    state, f = make()
    before = _plain(state)
    with pytest.raises(tc.TraceError, match=f"changed a {what.split()[1]}"):
        tc.compile(f, fullgraph=True)(tc.ones(2))
    assert _plain(state) == before
    eager_state, eager_f = make()
    compiled = tc.compile(f)
    with pytest.warns(UserWarning):
        for _ in range(3):
            np.testing.assert_allclose(compiled(tc.ones(2)).numpy(), eager_f(tc.ones(2)).numpy())
            assert _plain(state) == _plain(eager_state)


def test_a_key_popped_again_each_call_runs_one_graph():
    """A key the caller puts back between calls as it was is popped again by each compiled
    call (the graph replays the pop; the guards hold the dict as it was before the
    trace, so one compile does)."""
    flags = {"reset": True}
    compiled = tc.compile(lambda x: x * (2.0 if flags.pop("reset", False) else 1.0),
                          fullgraph=True)
    for i in range(4):
        flags["reset"] = True
        np.testing.assert_allclose(compiled(tc.ones(2)).numpy(), [2.0, 2.0])
        assert flags == {}, f"call {i}"
    np.testing.assert_allclose(compiled(tc.ones(2)).numpy(), [1.0, 1.0])
    assert compiled.compiles == 2


def test_a_defaultdict_of_lists_appends_to_the_list_each_call_finds():
    """Each call appends to the list the defaultdict holds then (one the caller put there,
    or a new one its factory makes), and one compile does: the code only appends to what
    it holds, so its values are not guarded."""
    hist, f = _histories()
    compiled = tc.compile(f, fullgraph=True)
    for i in range(5):
        if i == 2:
            hist["loss"] = []
        if i == 3:
            hist.clear()
        compiled(tc.ones(2) * i)
    assert {k: [float(v) for v in h] for k, h in hist.items()} == \
        {"loss": [18.0, 32.0], "steps": [2, 2], "out": [36.0, 64.0]}
    assert compiled.compiles == 1


class _Counting(tc.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = tc.nn.Linear(2, 2)
        self.counts = collections.defaultdict(int)
        self.recent = collections.deque(maxlen=2)

    def forward(self, x):
        self.counts["calls"] += 1
        self.recent.append(len(self.counts) + self.counts["calls"])
        return self.lin(x)


def test_a_modules_containers_change_on_every_call():
    model = _Counting()
    compiled = tc.compile(model, fullgraph=True)
    for _ in range(4):
        compiled(tc.ones(1, 2))
    assert dict(model.counts) == {"calls": 4}
    assert list(model.recent) == [4, 5]


def test_a_defaultdict_or_ordereddict_argument_is_traced_as_the_call_passes_it():
    """The trace's copy of a defaultdict argument keeps its factory (a missing key read
    was a KeyError), an OrderedDict's its order; each call's own container is changed."""
    def f(x, stats):
        stats["n"] += 1
        return x * len(list(stats))
    compiled = tc.compile(f, fullgraph=True)
    for make in (lambda: collections.defaultdict(int), lambda: collections.OrderedDict(a=0, n=0)):
        stats, eager_stats = make(), make()
        for _ in range(3):
            got, want = compiled(tc.ones(2), stats), f(tc.ones(2), eager_stats)
            np.testing.assert_allclose(got.numpy(), want.numpy())
            assert _plain(stats) == _plain(eager_stats)


class Transition:
    """An object of the user's own class, made each call (a replay memory's entry)."""

    def __init__(self, reward):
        self.reward = reward


@pytest.mark.parametrize("make", [lambda x: Transition(1.0), lambda x: np.ones(2),
                                  lambda x: [np.ones(2)]])
def test_an_object_made_each_call_and_appended_is_appended_each_call(make):
    """It was appended once, at the trace, with a warning: the list stopped growing."""
    memory = []

    def step(x):
        memory.append(make(x))
        return x * 2
    compiled = tc.compile(step)
    with pytest.warns(UserWarning, match="appended an object each call makes anew"):
        for k in range(3):
            np.testing.assert_array_equal(compiled(tc.full((2,), float(k))).numpy(), 2 * k)
    assert len(memory) == 3
    with pytest.raises(tc.TraceError, match="appended an object each call makes anew"):
        tc.compile(step, fullgraph=True)(tc.ones(2))
