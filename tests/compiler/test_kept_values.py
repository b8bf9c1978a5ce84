"""Tensors the traced code stores outside itself (compiler/kept_values.py): a forward hook
keeping a layer's output in a global dict, a step appending its loss to a global list, a
trainer keeping its last loss: each call stores its own tensor, as eagerly (the trace
stored a graph value once, which failed later, where it was used); what cannot be replayed
is a TraceError."""
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.compiler.state_call import StateCall

from helpers import with_torch_weights

ACTIVATION = {}
LOSSES = []


def _keep_detached(module, inputs, output):
    ACTIVATION["fc1"] = output.detach()


def _keep(module, inputs, output):
    ACTIVATION["fc1"] = output


def _mlp(lib):
    return lib.nn.Sequential(lib.nn.Linear(4, 5), lib.nn.ReLU(), lib.nn.Linear(5, 2))


def test_a_forward_hook_keeping_activations_gets_each_calls():
    """The feature-extraction recipe: register_forward_hook storing output.detach()."""
    torch.manual_seed(0)
    ref = _mlp(torch)
    model = with_torch_weights(_mlp(tc), ref)
    model[0].register_forward_hook(_keep_detached)
    kept = {}
    ref[0].register_forward_hook(lambda m, i, o: kept.__setitem__("fc1", o.detach()))
    compiled = tc.compile(model)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.standard_normal((3, 4)).astype(np.float32)
        with tc.no_grad():
            compiled(tc.tensor(x))
        ref(torch.tensor(x))
        np.testing.assert_allclose(ACTIVATION["fc1"].numpy(), kept["fc1"].numpy(),
                                   rtol=1e-5, atol=1e-6)
    assert compiled._compiled.compiles == 1


def test_a_kept_activation_carries_its_gradient_history():
    """Grad-CAM keeps the output itself: a backward from it reaches the layer's weights,
    as torch's."""
    torch.manual_seed(0)
    ref = _mlp(torch)
    model = with_torch_weights(_mlp(tc), ref)
    model[0].register_forward_hook(_keep)
    kept = {}
    ref[0].register_forward_hook(lambda m, i, o: kept.__setitem__("fc1", o))
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    tc.compile(model)(tc.tensor(x))
    ref(torch.tensor(x))
    ACTIVATION["fc1"].pow(2).sum().backward()
    kept["fc1"].pow(2).sum().backward()
    np.testing.assert_allclose(model[0].weight.grad.numpy(), ref[0].weight.grad.numpy(),
                               rtol=1e-5, atol=1e-6)


def test_a_whole_step_appending_its_loss_keeps_every_loss():
    torch.manual_seed(0)
    ref = _mlp(torch)
    model = with_torch_weights(_mlp(tc), ref)
    opt = tc.optim.SGD(model.parameters(), lr=0.1)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        opt.step()
        LOSSES.append(loss.detach())
        return loss
    compiled = tc.compile(step)
    want = []
    LOSSES.clear()
    for k in range(5):
        x = np.full((3, 4), 0.1 * k, np.float32)
        compiled(tc.tensor(x))
        ref_opt.zero_grad()
        loss = ref(torch.tensor(x)).pow(2).mean()
        loss.backward()
        ref_opt.step()
        want.append(loss.item())
    assert isinstance(compiled._fast, StateCall)
    np.testing.assert_allclose([t.item() for t in LOSSES], want, rtol=1e-5)
    LOSSES.clear()


class _Trainer:
    def __init__(self, model):
        self.model, self.last = model, None

    def forward(self, x):
        out = self.model(x)
        self.last = out.sum().detach()
        return out


def test_a_method_keeping_its_result_on_its_object():
    tc.manual_seed(0)
    trainer = _Trainer(_mlp(tc))
    compiled = tc.compile(trainer.forward)
    for k in range(3):
        x = tc.full((2, 4), float(k))
        with tc.no_grad():
            out = compiled(x)
        np.testing.assert_allclose(trainer.last.item(), out.sum().item(), rtol=1e-6)


NESTED = []
REBOUND = None


def _nested(x):
    NESTED.append((x * 2, 1))
    return x + 1


def _rebinds(x):
    global REBOUND
    REBOUND = x * 2
    return x + 1


@pytest.mark.parametrize("fn,match", [
    (_nested, "stored a tuple, list or dict holding a tensor"),
])
def test_what_cannot_be_replayed_is_refused(fn, match):
    with pytest.raises(tc.errors.TraceError, match=match):
        tc.compile(fn, fullgraph=True)(tc.ones(2))
    NESTED.clear()


def test_a_global_the_code_assigns_a_tensor_is_each_calls():
    """`global running; running = 0.9 * running + 0.1 * m` (makemore's hand BatchNorm): each
    call assigns its own tensor (it was refused, and the failed trace left the global
    holding a graph value)"""
    global REBOUND
    compiled = tc.compile(_rebinds)
    for k in range(3):
        x = tc.full((2,), float(k))
        compiled(x)
        np.testing.assert_array_equal(REBOUND.numpy(), [2.0 * k] * 2)


LOG, STATS, QUEUE = [], {}, [1, 2, 3]


def _logs(x):
    LOG.append("step")
    LOG.append((1, "a"))
    STATS["mode"] = "train"
    y = x * 2
    LOG.append(y.sum().item())
    return y


def test_constants_stored_outside_are_stored_every_call_as_eagerly():
    """`log.append("step")`, `stats["mode"] = "train"`: a compiled call stores them again,
    in their order among the tensors and numbers it stores (they were stored once, at the
    trace)"""
    for fn in (_logs, tc.compile(_logs)):
        LOG.clear()
        STATS.clear()
        for _ in range(3):
            fn(tc.ones(2))
        assert LOG == ["step", (1, "a"), 4.0] * 3 and STATS == {"mode": "train"}


def _pops(x):
    QUEUE.pop(0)
    return x + 1


def test_a_change_no_call_repeats_is_refused():
    """A list's pop happened once, at the trace (only a warning said so): refused, as a
    deque's is, so each call pops eagerly."""
    with pytest.raises(tc.TraceError, match=r"changed a list .* removed items"):
        tc.compile(_pops, fullgraph=True)(tc.ones(2))
    QUEUE[:] = [1, 2, 3]
    compiled = tc.compile(_pops)
    with pytest.warns(UserWarning, match="graph break"):
        compiled(tc.ones(2))
    compiled(tc.ones(2))
    assert QUEUE == [3]


COUNTS = {"n": 0}
SEEN = []


def _counts(x):
    COUNTS["n"] = COUNTS["n"] + 1
    SEEN.append(COUNTS["n"])
    return x * 2


def test_a_counter_the_code_reads_and_sets_counts_as_eagerly():
    """the dict it sets an item of stays guarded by its value before the trace, so each new
    count compiles again (as torch.compile guards it) instead of storing the traced 1 for
    ever; the list it only appends to is not guarded"""
    compiled = tc.compile(_counts, recompile_limit=10)
    for _ in range(4):
        compiled(tc.ones(2))
    assert COUNTS == {"n": 4} and SEEN == [1, 2, 3, 4]


CALLS = []


def _logs_only(x):
    CALLS.append("call")
    return x * 2


class _LogsOnly(tc.nn.Module):
    def forward(self, x):
        CALLS.append("forward")
        return x * 2


def test_constants_alone_are_stored_on_the_fast_paths_too():
    """nothing but a constant stored: the plain calls' fast paths (fast_call.py,
    module_call.py) must store it as the general call does (they stored it once)"""
    for compiled, what in ((tc.compile(_logs_only), "call"),
                           (tc.compile(_LogsOnly()), "forward")):
        CALLS.clear()
        for _ in range(4):
            compiled(tc.ones(2))
        assert CALLS == [what] * 4


def _cached_block(lib):
    """A decoder block keeping its keys in a list the caller passes (d2l's
    TransformerDecoderBlock), and a value in a dict passed by keyword."""

    class Block(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = lib.nn.Linear(4, 4)

        def forward(self, x, cache, extra=None):
            kv = x if cache[0] is None else lib.cat((cache[0], x), 1)
            cache[0] = kv           # the argument itself first, then a computed tensor
            cache.append(self.proj(x))
            if extra is not None:
                extra["last"] = kv.sum()
            return self.proj(kv).sum(1)

    return Block()


def test_stores_into_the_arguments_lists_and_dicts_reach_each_calls_own():
    """The trace's arguments are copies; each call's stores go into the containers that
    call passed (they were lost: the caller's list kept None, silently)."""
    torch.manual_seed(0)
    ref = _cached_block(torch)
    compiled = tc.compile(with_torch_weights(_cached_block(tc), ref))
    rng = np.random.default_rng(0)
    for _ in range(2):      # a new cache each sequence: the second runs compiled artifacts
        ours, theirs, ours_extra, theirs_extra = [None], [None], {}, {}
        for _ in range(2):
            x = rng.standard_normal((2, 1, 4)).astype(np.float32)
            with torch.no_grad(), tc.no_grad():
                out = compiled(tc.tensor(x), ours, extra=ours_extra)
                expected = ref(torch.tensor(x), theirs, extra=theirs_extra)
            np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
            assert len(ours) == len(theirs)
            for a, b in zip(ours, theirs):
                np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
            assert ours_extra["last"].item() == pytest.approx(theirs_extra["last"].item(),
                                                              rel=1e-5)


def test_an_argument_tensor_stored_in_an_argument_list_is_that_calls_tensor():
    """`cache[0] = x` on the first step: no warning, and the caller's list holds x itself,
    as eagerly"""
    block = tc.compile(_cached_block(tc))
    for _ in range(2):
        cache, x = [None], tc.ones(2, 1, 4)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            block(x, cache)
        assert cache[0] is x


def _hand_batchnorm(lib):
    """makemore part 5's BatchNorm1d: a plain class with __call__, rebinding its running
    mean in training."""

    class BatchNorm:
        def __init__(self):
            self.training, self.running_mean = True, lib.zeros(4)

        def __call__(self, x):
            m = x.mean((0, 1), keepdim=True) if self.training else self.running_mean
            if self.training:
                with lib.no_grad():
                    self.running_mean = 0.9 * self.running_mean + 0.1 * m
            return x - m

    return BatchNorm()


def test_a_callable_object_compiled_keeps_what_it_assigns_itself():
    """compile(obj) of a plain callable object: its attributes are reached through `self`
    as a method's are (the trace left a graph value in running_mean, and the next call,
    in eval mode at another batch size, failed with a KeyError)"""
    ours, theirs = _hand_batchnorm(tc), _hand_batchnorm(torch)
    compiled = tc.compile(ours)
    x = np.arange(80.0, dtype=np.float32).reshape(5, 4, 4)
    for batch, training in ((5, True), (5, True), (3, False), (2, False)):
        ours.training = theirs.training = training
        out = compiled(tc.tensor(x[:batch]))
        np.testing.assert_allclose(out.numpy(), theirs(torch.tensor(x[:batch])).numpy(),
                                   rtol=1e-6)
        np.testing.assert_allclose(ours.running_mean.numpy(), theirs.running_mean.numpy(),
                                   rtol=1e-6)


def test_a_failed_trace_leaves_the_users_tensors_as_they_were():
    """`w.data = ...` on a tensor that is no input (reached two containers deep), then a
    value read that fails the trace: the TraceError must leave w holding its array (it
    held a graph value, and every later eager use failed)"""
    weight = tc.ones(3, 2)

    class Layer:
        w = weight

    holder = [[Layer()]]

    def step(x):
        w = holder[0][0].w
        w.data = w.data - 0.1 * x.mean()     # a traced value
        loss = (x @ w).sum()
        return loss * 2 if float(loss) > 0 else loss     # a value read: the trace fails

    with pytest.raises(tc.errors.TraceError):
        tc.compile(step, fullgraph=True)(tc.ones(4, 3))
    assert type(weight._data) is np.ndarray
    np.testing.assert_array_equal((tc.ones(1, 3) @ weight).numpy(), [[3.0, 3.0]])


COUNT = 0


def _counting(x):
    global COUNT
    COUNT += 1
    return x * 2


def test_a_counter_the_code_assigns_counts_as_eagerly():
    """A global of a helper and a closure variable the code reads and assigns: each call
    assigns them again (they moved once, at the trace). Each is guarded by its value
    before the trace, so a new count compiles again, as torch.compile guards it."""
    global COUNT
    COUNT = 0
    step = 0

    def counted(x):
        nonlocal step
        step += 1
        return _counting(x)
    compiled, x = tc.compile(counted, recompile_limit=10), tc.ones(2, 4)
    for k in range(1, 4):
        np.testing.assert_array_equal(compiled(x).numpy(), (x * 2).numpy())
        assert (step, COUNT) == (k, k)


class _Box:
    pass


def _rebinds_to_an_object(x):
    global BOX
    BOX = _Box()
    return x * 2


def test_a_global_assigned_an_object_each_call_is_a_graph_break():
    """An object made anew by each eager call cannot be assigned again by the compiled
    calls: the compile warned, and the global kept its value from before the trace, where
    each eager call assigns a new one. Now the call runs eagerly (a graph break)."""
    global BOX
    BOX = None
    compiled = tc.compile(_rebinds_to_an_object)
    with pytest.warns(UserWarning, match=r"assigned BOX an object each call makes anew"):
        compiled(tc.ones(2, 4))
    first = BOX
    assert type(first) is _Box
    compiled(tc.ones(2, 4))
    assert type(BOX) is _Box and BOX is not first
    with pytest.raises(tc.TraceError, match=r"assigned BOX an object each call makes anew"):
        tc.compile(_rebinds_to_an_object, fullgraph=True)(tc.ones(2, 4))


SUB_CALLS = [0]
SUB_SEEN = {}


def _noise(x):
    SUB_CALLS[0] += 1               # a global list a submodule's helper counts in
    SUB_SEEN[SUB_CALLS[0]] = float(SUB_CALLS[0])
    return x + SUB_CALLS[0]


class _Inner(tc.nn.Module):
    def forward(self, x):
        return _noise(x).sum()


class _Outer(tc.nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = _Inner()

    def forward(self, x):
        return self.inner(x * 2)


def test_what_a_submodules_helper_stores_is_stored_every_call_as_eagerly():
    """compile(outer): kept_values.places watched what the compiled function and its
    hooks reach, not the globals the submodules' methods and their helpers name, so the
    count moved once, at the trace ([13, 13, 13], SUB_CALLS == [1]); eagerly [13, 16, 19]."""
    results = []
    for compiled in (False, True):
        SUB_CALLS[0] = 0
        SUB_SEEN.clear()
        model = _Outer()
        run = tc.compile(model) if compiled else model
        x = tc.tensor([1.0, 2.0, 2.0])
        results.append(([float(run(x)) for _ in range(3)], list(SUB_CALLS), dict(SUB_SEEN)))
    assert results[1] == results[0] == ([13.0, 16.0, 19.0], [3], {1: 1.0, 2: 2.0, 3: 3.0})


RECORDS, CONFIG, FRESH = [], {}, None


def _records(x):
    global FRESH
    RECORDS.append({"step": 1, "tags": ["a"]})
    CONFIG["sizes"] = [1, 2]
    FRESH = []
    FRESH.append(3)
    return x + 1


def test_a_list_or_dict_of_constants_the_code_makes_is_stored_anew_every_call():
    """`log.append({"step": 1})`, `cfg["sizes"] = [1, 2]`, `global h; h = []`: each call
    stores a new copy, as each eager call makes its own (appended once, at the trace, with
    a warning; the global kept its old value), and changing one later changes no other."""
    global FRESH
    for fn in (_records, tc.compile(_records)):
        RECORDS.clear()
        CONFIG.clear()
        FRESH = None
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for i in range(4):
                fn(tc.ones(2))
                if i == 1:
                    RECORDS[0]["tags"].append("b")
                    CONFIG["sizes"].append(9)
        assert RECORDS == [{"step": 1, "tags": ["a", "b"]}] + [{"step": 1, "tags": ["a"]}] * 3
        assert len({id(r) for r in RECORDS}) == 4
        assert CONFIG == {"sizes": [1, 2]} and FRESH == [3]


class _Config:
    pass


CONFIGS = {"train": _Config(), "eval": _Config()}
MODE = "train"
CURRENT = None


def _picks_a_config(x):
    global CURRENT
    CURRENT = CONFIGS[MODE]
    return x * 2


def test_a_global_assigned_an_object_it_reached_before_is_assigned_it_every_call():
    """An object that existed before the call (the same one each eager call picks) is
    assigned as itself after every compiled call, the graph whole."""
    global CURRENT, MODE
    compiled = tc.compile(_picks_a_config, fullgraph=True)
    for mode in ("train", "train", "eval", "eval"):
        MODE, CURRENT = mode, None
        np.testing.assert_array_equal(compiled(tc.ones(2)).numpy(), [2.0, 2.0])
        assert CURRENT is CONFIGS[mode]
    assert compiled.compiles == 2       # one per mode: MODE is read, so guarded
