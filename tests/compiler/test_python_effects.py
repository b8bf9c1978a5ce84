"""Python effects inside compiled code happen on every call, as eagerly, not once at the
trace. print() writes what torch writes (output_calls.py): text fixed by the trace replayed
after each call, a printed tensor a graph break whose eager run prints its values, nothing
printed twice around a graph break. An Event set inside is a graph break (sync_calls.py)."""
import io
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc


def _outputs(capsys, run, lib, calls):
    capsys.readouterr()
    for args in calls:
        run(lib, *args)
    return capsys.readouterr().out


def _module(lib):
    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = lib.nn.Linear(4, 2)

        def forward(self, x):
            print("forward", tuple(x.shape), x.dtype, sep=" | ")
            return self.fc(x)
    return Net()


def test_a_forward_prints_on_every_call_as_torch(capsys):
    nets = {torch: _module(torch), tc: tc.compile(_module(tc))}
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((b, 4)).astype(np.float32) for b in (3, 3, 5, 3)]
    want = _outputs(capsys, lambda lib, x: nets[lib](lib.tensor(x)), torch,
                    [(x,) for x in batches])
    got = _outputs(capsys, lambda lib, x: nets[lib](lib.tensor(x)), tc,
                   [(x,) for x in batches])
    assert want.count("forward") == 4
    assert got == want.replace("torch.", "tracecomp.")


def _prints_a_tensor(lib, x):
    y = x * 2
    print("y is", y)
    return y + 1


def test_a_printed_tensor_breaks_the_graph_and_prints_its_values(capsys):
    compiled = tc.compile(_prints_a_tensor)
    values = [np.array([1.0, 2.0], np.float32), np.array([3.0, -1.0], np.float32)]
    want = _outputs(capsys, lambda lib, x: _prints_a_tensor(lib, lib.tensor(x)), torch,
                    [(v,) for v in values])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # the graph break's warning
        got = _outputs(capsys, lambda lib, x: compiled(lib, lib.tensor(x)), tc,
                       [(v,) for v in values])
    assert got == want and "tensor([2., 4.])" in got


def test_fullgraph_names_the_printed_tensor():
    compiled = tc.compile(_prints_a_tensor, fullgraph=True)
    with pytest.raises(Exception, match=r"print\(\) of a tensor of shape \[2\]"):
        compiled(tc, tc.ones(2))


def _breaks_between_prints(lib, x):
    print("before")
    y = x * 2
    if y.sum().item() > 0:      # a graph break in tracecomp, as in torch.compile
        y = y + 1
    print("after")
    return y


def test_prints_around_a_graph_break_are_printed_once(capsys):
    compiled = tc.compile(_breaks_between_prints)
    want = _outputs(capsys, lambda lib: _breaks_between_prints(lib, lib.ones(3)), torch,
                    [()] * 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = _outputs(capsys, lambda lib: compiled(lib, lib.ones(3)), tc, [()] * 3)
    assert got == want == "before\nafter\n" * 3


def test_print_to_a_file_with_sep_and_end_as_torch():
    def f(lib, x, out):
        print("a", 1, 2.5, None, sep="-", end="!\n", file=out, flush=True)
        print(file=out)
        return x + 1
    compiled = tc.compile(f)
    want, got = io.StringIO(), io.StringIO()
    for _ in range(3):
        f(torch, torch.ones(2), want)
        compiled(tc, tc.ones(2), got)
    assert got.getvalue() == want.getvalue() == "a-1-2.5-None!\n\n" * 3


def test_an_event_set_inside_compiled_code_is_set_on_every_call():
    """Event.set() and clear() inside compiled code are made again after each call
    (sync_calls.py), where the compiled code set the Event only when it traced it; the
    graph stays whole."""
    import threading
    done, other = threading.Event(), threading.Event()

    def step(x):
        other.clear()
        done.set()
        return x * 2
    compiled = tc.compile(step, fullgraph=True)
    for _ in range(3):
        done.clear()
        other.set()
        np.testing.assert_array_equal(compiled(tc.ones(2)).numpy(), [2.0, 2.0])
        assert done.is_set() and not other.is_set()


def test_waiting_inside_compiled_code_is_a_graph_break():
    """A wait's place among the computations matters: it runs eagerly, where the code
    waits (with fullgraph=True, the error that names it)."""
    import threading
    ready = threading.Event()
    ready.set()

    def step(x):
        ready.wait(1.0)
        return x * 2
    with pytest.raises(Exception, match=r"threading.Event.wait\(\) inside compiled code"):
        tc.compile(step, fullgraph=True)(tc.ones(2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(tc.compile(step)(tc.ones(2)).numpy(), [2.0, 2.0])


def test_a_log_message_is_handled_on_every_call_from_the_users_line():
    import logging
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    log = logging.getLogger("test_python_effects")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False

    def f(x):
        y = x * 2
        log.info("shape %s", tuple(y.shape))
        return y
    line = f.__code__.co_firstlineno + 2
    try:
        compiled = tc.compile(f)
        for _ in range(4):
            compiled(tc.ones(2))
    finally:
        log.removeHandler(handler)
    assert [r.getMessage() for r in records] == ["shape (2,)"] * 4
    assert {(r.filename, r.lineno) for r in records} == {("test_python_effects.py", line)}
    assert records[0].created <= records[-1].created


def _formats_a_tensor(lib, x):
    y = x * 2
    print(f"y={y}")
    return y


def test_an_f_string_of_a_tensor_shows_its_values_as_torch(capsys):
    compiled = tc.compile(_formats_a_tensor)
    want = _outputs(capsys, lambda lib: _formats_a_tensor(lib, lib.ones(2)), torch, [()] * 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = _outputs(capsys, lambda lib: compiled(lib, lib.ones(2)), tc, [()] * 2)
    assert got == want == "y=tensor([2., 2.])\n" * 2
