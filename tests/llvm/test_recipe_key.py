"""The disk cache keyed before the LLVM IR is emitted (codegen/llvm/recipe.py): a warm
compile links the stored object without emitting any IR, the IR a dump shows is still the
compiled one, and whatever decides the code changes the key."""
import numpy as np
import pytest

import tracecomp as tc
from tracecomp.codegen.llvm import backend, kernel_reuse, recipe
from tracecomp.codegen.llvm.runtime import cache, engine, parallel


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACECOMP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TRACECOMP_CACHE", raising=False)
    return tmp_path / "cache"


@pytest.fixture
def recipes(monkeypatch):
    """The recipe texts of the graphs compiled while the fixture is active (not of the
    libraries made once per process: the GEMMs, the native pool)."""
    made, compile_recipe = [], cache.compile_recipe

    def spy(text, *args, **kwargs):
        if text.startswith("runner "):
            made.append(text)
        return compile_recipe(text, *args, **kwargs)
    monkeypatch.setattr(cache, "compile_recipe", spy)
    return made


def _model(scale=2.0, bias=None):
    # held four containers deep: a constant of the graph (a tensor the function names, or
    # one up to three attributes or items inside what it names, would be an input:
    # compiler/bound_tensors.py, deep_tensors.py)
    held = {"a": {"b": {"inner": {"b": tc.tensor(np.linspace(-1, 1, 2000, dtype=np.float32))
                                  if bias is None else bias}}}}

    def f(x):
        return ((x * held["a"]["b"]["inner"]["b"]).tanh() * scale).exp().sum(1)
    return f


def test_a_warm_compile_emits_no_ir_until_a_dump_reads_it(cache_dir, monkeypatch):
    x = tc.randn(4, 2000)
    cold = tc.compile(_model())
    expected = cold(x).numpy()
    emitted = []
    emit = backend.entry.emit
    monkeypatch.setattr(backend.entry, "emit", lambda *a: emitted.append(1) or emit(*a))
    monkeypatch.setattr(engine, "compile_module", lambda *a, **k: pytest.fail("compiled"))
    kernel_reuse.forget()       # as a new process: no kernel compiled before
    warm = tc.compile(_model())
    np.testing.assert_array_equal(warm(x).numpy(), expected)
    assert emitted == [] and "llvm kernels" not in [r.name for r in warm.pass_log]
    texts = {graph: text.partition("\n")[2] for graph, text in warm.llvm_ir.items()}
    assert emitted and texts == {g: t.partition("\n")[2] for g, t in cold.llvm_ir.items()}
    assert warm.asm == cold.asm != {}


def test_what_decides_the_code_changes_the_recipe(cache_dir, recipes, monkeypatch):
    x = tc.randn(4, 2000)
    changed = tc.tensor(np.linspace(-1, 1, 2000, dtype=np.float32))
    changed[1000] = 0.5         # in the middle: a summarized repr would not show it
    for f in [_model(), _model(), _model(scale=2.0000001), _model(bias=changed)]:
        tc.compile(f)(x)
    monkeypatch.setenv("TRACECOMP_THREADS", "1")
    tc.compile(_model())(x)
    monkeypatch.delenv("TRACECOMP_THREADS")
    monkeypatch.setattr(parallel, "KERNEL_SPLIT_WORK", 1)  # a tunable: the plan changes
    tc.compile(_model())(x)
    same, again, scaled, biased, threads, split = recipes
    assert same == again
    assert len({same, scaled, biased, threads, split}) == 5


def test_values_are_written_exactly_or_not_at_all():
    assert recipe._value(0.1) != recipe._value(0.1 + 2 ** -55)
    a = np.zeros(5000, np.float32)
    b = a.copy()
    b[2500] = 1
    assert recipe._value(a) != recipe._value(b) and recipe._value(a) == recipe._value(a.copy())
    assert recipe._value((1, [2.5, None])) == "tuple[int:1, list[float:2.5, NoneType:None]]"
    assert recipe._value(np.float32) != recipe._value(np.float64)
    assert recipe._value(object()) is None and recipe._value([object()]) is None


def test_a_graph_without_a_recipe_is_keyed_by_its_ir(cache_dir, monkeypatch):
    monkeypatch.setattr(recipe, "describe", lambda *args: None)
    x = tc.randn(4, 2000)
    expected = tc.compile(_model())(x).numpy()
    stored = sorted(cache_dir.iterdir())
    assert stored
    monkeypatch.setattr(engine, "compile_module", lambda *a, **k: pytest.fail("compiled"))
    np.testing.assert_array_equal(tc.compile(_model())(x).numpy(), expected)
    assert sorted(cache_dir.iterdir()) == stored


def test_a_changed_source_file_changes_the_fingerprint(tmp_path):
    (tmp_path / "pkg").mkdir()
    source = tmp_path / "pkg" / "kernels.py"
    source.write_text("x = 1\n")
    before = recipe.files_fingerprint([tmp_path])
    source.write_text("x = 22\n")
    edited = recipe.files_fingerprint([tmp_path])
    import os
    os.utime(source, ns=(1, 1))
    touched = recipe.files_fingerprint([tmp_path])
    (tmp_path / "pkg" / "new.py").write_text("")
    assert len({before, edited, touched, recipe.files_fingerprint([tmp_path])}) == 4


def test_the_native_pool_links_from_the_cache_without_emitting_its_ir(cache_dir, monkeypatch):
    """Keyed by its own source file: a new process's pool (one per process) costs a link,
    not an emission (~2 ms of a warm start)."""
    from tracecomp.codegen.llvm.runtime import native_pool
    monkeypatch.setattr(native_pool, "_LIBRARY", [])
    cold = native_pool.library()
    monkeypatch.setattr(native_pool, "_LIBRARY", [])      # as in a new process
    monkeypatch.setattr(native_pool, "_emit_worker", lambda *a: pytest.fail("emitted"))
    monkeypatch.setattr(engine, "compile_module", lambda *a, **k: pytest.fail("compiled"))
    warm = native_pool.library()
    assert warm is not cold and warm.object == cold.object
    assert warm.address("tc_pool_split") and warm.address("tc_pool_run")
