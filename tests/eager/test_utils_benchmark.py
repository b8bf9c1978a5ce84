"""tracecomp.utils.benchmark against torch.utils.benchmark.

Timings differ from run to run, so what is compared exactly is everything computed from
given times: Measurements built from the same raw times in both libraries agree in every
statistic and in their repr, and Compare prints the same tables, character for character.
Timer itself is checked for what holds whatever the speed: how often the statement and the
setup run, how long it is timed, its namespace, its errors and the thread count it runs at.
"""
import re
import subprocess
import sys

import pytest
import torch.utils.benchmark as tb

import tracecomp
import tracecomp.utils.benchmark as ob

LIBS = (ob, tb)
ADDRESS = re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>")


def both(build):
    """build(lib) for tracecomp's and torch's benchmark modules, in that order."""
    return [build(lib) for lib in LIBS]


def measurement(lib, times, number_per_run=100, **task):
    task = {"stmt": "x + 1", "setup": "pass", **task}
    return lib.Measurement(number_per_run, list(times), lib.TaskSpec(**task))


def assert_same(got, want, what):
    assert got == want, f"{what}:\ntracecomp={got!r}\n    torch={want!r}"


def spread(center, *factors):
    return [center * f for f in factors]


# (name, raw times, number_per_run, task): each prints a different shape of repr
MEASUREMENTS = [
    ("steady", spread(1.2e-3, 1.0, 1.01, 0.99, 1.02, 1.0), 100, {}),
    ("one time", [3.3e-4], 1000, {"label": "add", "sub_label": "float"}),
    ("three times: no IQR line", spread(5e-2, 1, 1.1, 0.95), 10, {"description": "n=8"}),
    ("fluctuating", spread(2e-5, 1, 1.15, 0.9, 1.3, 1.05, 0.85), 1, {"num_threads": 4}),
    ("environmental", spread(7e-6, 1, 2, 0.5, 3, 1.1), 1, {"env": "A"}),
    ("multi-line stmt", spread(4e-4, 1, 1.001, 0.999, 1), 10,
     {"stmt": "y = x * 2\nz = y + 1", "sub_label": "two", "setup": "x = 1\nw = 2"}),
    ("identical times", [2.5e-4] * 6, 100, {"setup": "x = torch.ones(3)"}),
    ("exactly 1 us", [1e-4] * 5, 100, {"label": "unit edge"}),
    ("below a nanosecond", spread(5e-10, 1, 1.2, 0.9, 1.1), 1, {}),
    ("seconds", spread(2.0, 1, 1.05, 0.97, 1.01), 1, {"label": "", "description": "big"}),
    ("empty stmt", spread(3e-6, 1, 1.02, 0.98, 1.01), 1000, {"stmt": ""}),
]
PROPERTIES = ("times", "median", "iqr", "significant_figures", "has_warnings", "title",
              "as_row_name", "env", "label", "sub_label", "description", "stmt", "setup",
              "num_threads", "number_per_run", "raw_times", "metadata")


@pytest.mark.parametrize("times,number_per_run,task",
                         [case[1:] for case in MEASUREMENTS], ids=[c[0] for c in MEASUREMENTS])
def test_measurement_matches_torch(times, number_per_run, task):
    ours, theirs = both(lambda lib: measurement(lib, times, number_per_run, **task))
    for name in PROPERTIES:
        assert_same(getattr(ours, name), getattr(theirs, name), name)
    for threshold in (0.01, 0.1, 0.25, 1.0):
        assert_same(ours.meets_confidence(threshold), theirs.meets_confidence(threshold),
                    f"meets_confidence({threshold})")
    assert ours.mean == pytest.approx(theirs.mean, rel=1e-12)
    # the first line is the object's address and module
    assert ADDRESS.fullmatch(repr(ours).splitlines()[0])
    assert_same(ADDRESS.sub("<>", repr(ours)), ADDRESS.sub("<>", repr(theirs)), "repr")
    assert_same(ours.task_spec.summarize(), theirs.task_spec.summarize(), "summarize()")


def test_merge_pools_replicates_per_run_and_drops_metadata():
    def build(lib):
        a = measurement(lib, [1e-3, 1.1e-3], 10, label="A")
        b = measurement(lib, [2.4e-2, 2.2e-2, 2.6e-2], 100, label="A")    # a replicate of a
        c = measurement(lib, [5e-4], 1, label="B")
        a.metadata = {"run": 1}
        return lib.Measurement.merge([a, c, b])
    ours, theirs = both(build)
    assert len(ours) == len(theirs) == 2
    for o, t in zip(ours, theirs):
        assert (o.number_per_run, o.raw_times, o.metadata, o.label) == \
            (t.number_per_run, t.raw_times, t.metadata, t.label)
        assert_same(ADDRESS.sub("<>", repr(o)), ADDRESS.sub("<>", repr(t)), "merged repr")


def _grid(lib):
    """Two sub_labels by two sizes at two thread counts, one cell missing, some noisy."""
    out = []
    for threads in (1, 4):
        for sub, base in (("float", 12.3e-6), ("int64", 45.6e-6)):
            for size, scale in (("n=1", 1.0), ("n=1024", 5.2)):
                if (threads, sub, size) == (4, "int64", "n=1024"):
                    continue
                noise = 0.4 if sub == "int64" and size == "n=1" else 0.02
                out.append(measurement(
                    lib, spread(base * scale / threads, 1, 1 + noise, 1 - noise / 2, 1.01,
                                1 + noise / 3), 100, stmt="relu(x)", label="ReLU",
                    sub_label=sub, description=size, num_threads=threads))
    return out


def _envs(lib):
    """The same task in two envs, and a second label (a second table)."""
    return [measurement(lib, spread(t, 1, 1.01, 0.99, 1.0), 1000, label=label,
                        sub_label=sub, description=desc, env=env)
            for label, sub, desc, env, t in (
                ("matmul", "fp32", "64", "old_build", 3.1e-5),
                ("matmul", "fp32", "64", "new", 2.2e-5),
                ("matmul", "fp32", "512", "old_build", 9.9e-3),
                ("matmul", "fp32", "512", "new", 1.1e-2),
                ("matmul", "fp64", "64", "new", 6.1e-5),
                ("softmax", "fp32", "64", "new", 4e-6),
                ("softmax", "fp32", "512", "new", 7.7e-6))]


def _replicates(lib):
    """One task timed twice (merged into one cell), rows named by stmt, an unlabelled table."""
    return [measurement(lib, spread(t, 1, 1.3, 0.8, 1.1), n, stmt=stmt, description=d)
            for stmt, d, t, n in (("a.sum()", "small", 2e-4, 10), ("a.sum()", "small", 2.4e-3, 100),
                                  ("a.mean()", "small", 3e-4, 10), ("a.mean()", "large", 1e-1, 1),
                                  ("a.sum()", "large", 9e-2, 1))]


def _round_numbers(lib):
    """Identical times at powers of ten: where unit, digits and trimming tip over."""
    return [measurement(lib, [t] * 5, 1, label="edges", sub_label=f"{t:g}", description=d)
            for t in (1e-6, 1e-5, 2.5e-5, 1e-3) for d in ("a", "b")]


SCENARIOS = {"grid": _grid, "envs": _envs, "replicates": _replicates,
             "round numbers": _round_numbers}
SWITCHES = {"plain": (), "trimmed": ("trim_significant_figures",),
            "colorized": ("colorize",), "rowwise": (("colorize", True),),
            "warnings": ("highlight_warnings",),
            "all": ("trim_significant_figures", "colorize", "highlight_warnings")}


def _compare(lib, scenario, switches):
    c = lib.Compare(SCENARIOS[scenario](lib))
    for switch in switches:
        name, *args = switch if isinstance(switch, tuple) else (switch,)
        getattr(c, name)(*args)
    return str(c)


@pytest.mark.parametrize("switches", SWITCHES.values(), ids=SWITCHES.keys())
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_compare_prints_torchs_tables(scenario, switches):
    ours, theirs = both(lambda lib: _compare(lib, scenario, switches))
    assert_same(ours, theirs, f"Compare({scenario}) with {switches}")


def test_compare_print_and_extend_results(capsys):
    printed = []
    for lib in LIBS:
        results = _grid(lib)
        c = lib.Compare(results[:3])
        c.extend_results(results[3:])
        c.print()
        printed.append(capsys.readouterr().out)
        assert printed[-1] == str(c) + "\n"
        with pytest.raises(ValueError, match="Expected an instance of `Measurement`"):
            c.extend_results([1.0])
    assert_same(*printed, "Compare.print()")


def test_a_column_without_description_has_a_blank_header():
    # torch fails on description=None (len(None)); we print what it prints for ""
    ours = str(ob.Compare([measurement(ob, [1e-5] * 4, label="L")]))
    theirs = str(tb.Compare([measurement(tb, [1e-5] * 4, label="L", description="")]))
    assert_same(ours, theirs, "Compare without description")


@pytest.mark.parametrize("t", [1e-10, 1e-9, 9.99e-7, 1e-6, 2.5e-5, 1e-3, 0.999, 1.0, 42.0])
def test_units_and_trimming_match_torch(t):
    assert_same(ob.select_unit(t), tb.select_unit(t), f"select_unit({t})")
    unit = ob.select_unit(t)[0]
    assert_same(ob.unit_to_english(unit), tb.unit_to_english(unit), "unit_to_english")
    for n in (1, 2, 3, 4):
        for x in (t, t * 1.23456, 12.345 * t / 1e-6):
            assert_same(ob.trim_sigfig(x, n), tb.trim_sigfig(x, n), f"trim_sigfig({x}, {n})")
    assert ob.ordered_unique([3, 1, 3, 2, 1]) == tb.ordered_unique([3, 1, 3, 2, 1]) == [3, 1, 2]


# --- Timer ------------------------------------------------------------------------------

def _counting_timer(lib, **kwargs):
    calls = {"setup": 0, "stmt": 0}

    def setup():
        calls["setup"] += 1

    def stmt():
        calls["stmt"] += 1
    timer = lib.Timer("stmt()", setup="setup()", globals={"stmt": stmt, "setup": setup},
                      **kwargs)
    return timer, calls


def test_timeit_runs_setup_and_stmt_as_often_as_torchs():
    for number in (1, 250):
        (ours, our_calls), (theirs, their_calls) = both(_counting_timer)
        m, want = ours.timeit(number=number), theirs.timeit(number=number)
        # a warmup block of max(number // 100, 2) runs, then the timed one; setup before each
        assert our_calls == their_calls == {"setup": 2, "stmt": number + max(number // 100, 2)}
        assert (m.number_per_run, len(m.raw_times)) == (want.number_per_run, 1) == (number, 1)
        assert m.raw_times[0] > 0
        assert_same(m.task_spec, ob.TaskSpec(stmt="stmt()", setup="setup()"), "task_spec")


def test_blocked_autorange_fills_min_run_time_with_large_blocks():
    timer, calls = _counting_timer(ob)
    seen = []
    m = timer.blocked_autorange(callback=lambda n, t: seen.append((n, t)), min_run_time=0.02)
    assert sum(m.raw_times) >= 0.02
    assert m.number_per_run >= 100, "a fast statement runs in blocks of many runs"
    assert seen == [(m.number_per_run, t) for t in m.raw_times]
    # the blocks that sized number_per_run ran the statement too
    assert calls["stmt"] > m.number_per_run * len(m.raw_times)


def test_adaptive_autorange_stops_when_steady_or_out_of_time():
    m = ob.Timer("sum(range(20))").adaptive_autorange(threshold=0.5, min_run_time=0.01,
                                                      max_run_time=0.2)
    total = sum(m.raw_times)
    assert total > 0.2 or (len(m.raw_times) >= 4 and total >= 0.01 and m.meets_confidence(0.5))
    m = ob.Timer("sum(range(20))").adaptive_autorange(threshold=0.0, max_run_time=0.05)
    assert sum(m.raw_times) > 0.05, "a threshold nothing meets runs until max_run_time"


def test_globals_and_the_default_namespace():
    seen = []
    globals_ = {"seen": seen, "x": 41}
    ob.Timer("seen.append((x + 1, torch, tracecomp))", globals=globals_).timeit(number=1)
    assert seen[-1] == (42, tracecomp, tracecomp)
    assert set(globals_) == {"seen", "x"}, "the caller's dict is not changed"
    ob.Timer("seen.append(torch)", globals={"seen": seen, "torch": 7}).timeit(number=1)
    assert seen[-1] == 7, "a given `torch` wins"


@pytest.mark.parametrize("method", [lambda t: t.timeit(number=3),
                                    lambda t: t.blocked_autorange(min_run_time=0.01),
                                    lambda t: t.adaptive_autorange(max_run_time=0.01)])
def test_an_error_in_stmt_or_setup_propagates(method):
    with pytest.raises(ZeroDivisionError):
        method(ob.Timer("1 / 0"))
    with pytest.raises(NameError, match="undefined_name"):
        method(ob.Timer("pass", setup="undefined_name"))


def test_num_threads_holds_during_the_run_and_is_restored():
    before = tracecomp.get_num_threads()
    wanted = 3 if before != 3 else 2
    seen = []
    timer = ob.Timer("seen.append(tracecomp.get_num_threads())", globals={"seen": seen},
                     num_threads=wanted)
    timer.timeit(number=2)
    timer.blocked_autorange(min_run_time=0.001)
    assert set(seen) == {wanted}
    assert tracecomp.get_num_threads() == before
    with pytest.raises(ZeroDivisionError):
        ob.Timer("1 / 0", num_threads=wanted).timeit(number=1)
    assert tracecomp.get_num_threads() == before, "restored after an error too"
    assert ob.Timer("pass").timeit(number=1).num_threads == 1


def test_block_strings_are_dedented_like_torchs():
    stmt, setup = "\n        y = x * 2\n        z = y + 1\n    ", "\n    x = 1\n"
    ours, theirs = both(lambda lib: lib.Timer(stmt, setup=setup, label="L").timeit(number=1))
    assert_same(ours.task_spec.stmt, theirs.task_spec.stmt, "stmt")
    assert_same(ours.task_spec.setup, theirs.task_spec.setup, "setup")


@pytest.mark.parametrize("kwargs", [{"language": "cobol"}, {"global_setup": "#include <x>"},
                                    {"stmt": lambda: 0}], ids=["language", "global_setup", "stmt"])
def test_bad_arguments_are_value_errors_as_in_torch(kwargs):
    for lib in LIBS:
        with pytest.raises(ValueError):
            lib.Timer(**kwargs)


@pytest.mark.parametrize("language", ["c++", "cpp", ob.Language.CPP])
def test_cpp_statements_say_what_is_timed(language):
    with pytest.raises(NotImplementedError, match="Python statements only.*'python'"):
        ob.Timer("x", language=language)


def test_methods_torch_lacks_or_we_lack_say_so():
    timer = ob.Timer("pass", language="py")
    for method in (timer.repeat, timer.autorange):
        with pytest.raises(NotImplementedError, match="blocked_autorange"):
            method()
    with pytest.raises(NotImplementedError, match="collect_callgrind is not supported"):
        timer.collect_callgrind(number=10)


def test_benchmark_is_imported_on_first_use():
    code = ("import sys, tracecomp\n"
            "assert 'tracecomp.utils.benchmark' not in sys.modules\n"
            "import tracecomp.utils.benchmark as benchmark\n"
            "assert tracecomp.utils.benchmark is benchmark\n"
            "print(benchmark.Timer('x + 1', globals={'x': 1}).timeit(number=10).number_per_run)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["10"]


def test_a_benchmark_name_we_lack_names_itself():
    with pytest.raises(NotImplementedError, match=r"torch\.utils\.benchmark\.Fuzzer is not"):
        ob.Fuzzer  # noqa: B018
    assert not hasattr(ob, "CallgrindStats")
    with pytest.raises(AttributeError, match="has no attribute 'Timerr'"):
        ob.Timerr  # noqa: B018


def test_the_timer_synchronizes_an_accelerator_in_use_and_looks_for_none(monkeypatch):
    """Reading the clock waits for queued device work where a device backend is loaded;
    where none is, it does not look for one (finding CUDA imports numba: ~0.4 s)."""
    import importlib

    from tracecomp import accelerator, devices
    timer_module = importlib.import_module("tracecomp.utils.benchmark.timer")  # not the function
    calls = []
    monkeypatch.setattr(accelerator, "synchronize", lambda: calls.append(1))
    monkeypatch.setattr(accelerator, "is_available", lambda: True)
    monkeypatch.setattr(devices, "used_accelerator", lambda: "cuda")
    timer_module.timer()
    assert calls == [1]
    code = ("import sys, tracecomp.utils.benchmark as b\n"
            "b.timer()\n"
            "b.Timer('x + 1', globals={'x': 1}).timeit(number=10)\n"
            "print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["False"], out.stderr
