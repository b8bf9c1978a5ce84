"""The disk cache of compiled object code (codegen/llvm/cache.py): hits link the stored
object without compiling, a changed graph misses, corrupt or truncated entries are rebuilt
and never linked, TRACECOMP_CACHE=0 turns it off, concurrent writers leave one whole entry,
and an unusable directory costs one warning, not a crash. Every test caches in its own
tmp_path."""
import ctypes
import logging
import multiprocessing
import os

import numpy as np
import pytest
from llvmlite import ir

import tracecomp as tc
from tracecomp.codegen.llvm import cache, engine

DOUBLE = ir.DoubleType()


def scale_ir(factor=2.0, name="cache_test"):
    """IR text of `double scale(double x) { return x * factor; }`."""
    module = engine.new_module(name)
    fn = ir.Function(module, ir.FunctionType(DOUBLE, [DOUBLE]), "scale")
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    builder.ret(builder.fmul(fn.args[0], ir.Constant(DOUBLE, factor)))
    return str(module)


class Builds:
    """A build() for get_or_build that counts its calls."""

    def __init__(self, llvm_ir):
        self.llvm_ir, self.calls = llvm_ir, 0

    def __call__(self):
        self.calls += 1
        return engine.compile_module(self.llvm_ir, ["scale"])


def scale(lib, x):
    return lib.cfunc("scale", ctypes.c_double, ctypes.c_double)(x)


def entries(directory):
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    directory = tmp_path / "cache"
    monkeypatch.setenv("TRACECOMP_CACHE_DIR", str(directory))
    monkeypatch.delenv("TRACECOMP_CACHE", raising=False)
    return directory


def test_hit_links_the_stored_object_without_building(cache_dir):
    text = scale_ir()
    build = Builds(text)
    first = cache.get_or_build(text, ["scale"], build)
    second = cache.get_or_build(text, ["scale"], build)
    assert build.calls == 1 and scale(first, 3.0) == scale(second, 3.0) == 6.0
    [entry] = entries(cache_dir)
    assert entry == cache.entry_key(text) + cache.SUFFIX
    # the texts a dump shows: the IR we hold, the optimized IR and assembly recomputed
    assert second.optimized_ir is None and second.llvm_ir == text
    assert cache.optimized_ir(second) == first.optimized_ir and second.asm == first.asm


def test_the_module_name_is_not_part_of_the_key(cache_dir):
    """`; ModuleID = "graphN"` counts graphs per process; LLVM's parser ignores it."""
    assert cache.entry_key(scale_ir(name="graph0")) == cache.entry_key(scale_ir(name="graph7"))
    assert cache.entry_key(scale_ir()) != cache.entry_key(scale_ir(), speed_level=3)


def test_a_changed_graph_misses(cache_dir):
    two, three = scale_ir(2.0), scale_ir(3.0)
    build_two, build_three = Builds(two), Builds(three)
    assert scale(cache.get_or_build(two, ["scale"], build_two), 1.0) == 2.0
    assert scale(cache.get_or_build(three, ["scale"], build_three), 1.0) == 3.0
    assert scale(cache.get_or_build(three, ["scale"], build_three), 1.0) == 3.0
    assert (build_two.calls, build_three.calls) == (1, 1) and len(entries(cache_dir)) == 2


def _flip(data, at):
    data[at] ^= 0x40
    return data


@pytest.mark.parametrize("damage", [
    pytest.param(lambda d: _flip(d, 0), id="magic"),
    pytest.param(lambda d: _flip(d, 8), id="version"),
    pytest.param(lambda d: _flip(d, cache.HEADER.size + 100), id="payload-byte"),
    pytest.param(lambda d: _flip(d, len(d) - 1), id="last-byte"),
    pytest.param(lambda d: d[:len(d) // 2], id="truncated"),
    pytest.param(lambda d: d[:cache.HEADER.size - 3], id="truncated-header"),
    pytest.param(lambda d: d[:0], id="empty"),
    pytest.param(lambda d: d + b"\0", id="trailing-byte"),
])
def test_a_corrupt_entry_is_rebuilt_and_replaced(cache_dir, caplog, damage):
    text = scale_ir()
    build = Builds(text)
    cache.get_or_build(text, ["scale"], build)
    path = cache_dir / (cache.entry_key(text) + cache.SUFFIX)
    good = path.read_bytes()
    path.write_bytes(bytes(damage(bytearray(good))))
    with caplog.at_level(logging.WARNING, logger="tracecomp"):
        lib = cache.get_or_build(text, ["scale"], build)
    assert build.calls == 2 and scale(lib, 5.0) == 10.0
    assert "corrupt cache entry" in caplog.text and path.name in caplog.text
    assert path.read_bytes() == good and entries(cache_dir) == [path.name]


def test_an_entry_that_does_not_link_is_rebuilt(cache_dir, caplog):
    """A whole, checksummed entry whose payload is not object code (say, a bug that wrote
    the wrong bytes) fails to link: logged, deleted and rebuilt too."""
    text = scale_ir()
    path = cache_dir / (cache.entry_key(text) + cache.SUFFIX)
    cache_dir.mkdir()
    cache.write_entry(str(path), b"not an object file")
    build = Builds(text)
    with caplog.at_level(logging.WARNING, logger="tracecomp"):
        assert scale(cache.get_or_build(text, ["scale"], build), 1.5) == 3.0
    assert build.calls == 1 and "did not link" in caplog.text
    assert cache.read_entry(str(path)) == engine.emit_object(text)


@pytest.mark.parametrize("value", ["0", "off", "false"])
def test_tracecomp_cache_0_turns_it_off(cache_dir, monkeypatch, value):
    monkeypatch.setenv("TRACECOMP_CACHE", value)
    text = scale_ir()
    build = Builds(text)
    for _ in range(2):
        assert scale(cache.get_or_build(text, ["scale"], build), 2.0) == 4.0
    assert build.calls == 2 and not cache_dir.exists()


def test_default_location_follows_xdg_then_home(tmp_path, monkeypatch):
    monkeypatch.delenv("TRACECOMP_CACHE_DIR")
    monkeypatch.delenv("TRACECOMP_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == str(tmp_path / "xdg" / "tracecomp")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == str(tmp_path / "home" / ".cache" / "tracecomp")


def test_a_directory_that_cannot_be_created_costs_one_warning(tmp_path, monkeypatch, caplog):
    (tmp_path / "a-file").write_text("not a directory")
    monkeypatch.setenv("TRACECOMP_CACHE_DIR", str(tmp_path / "a-file" / "cache"))
    text = scale_ir()
    build = Builds(text)
    with caplog.at_level(logging.WARNING, logger="tracecomp"):
        for _ in range(3):
            assert scale(cache.get_or_build(text, ["scale"], build), 1.0) == 2.0
    assert build.calls == 3
    [record] = caplog.records
    assert "cannot create the cache directory" in record.getMessage()


def test_a_directory_that_cannot_be_written_costs_one_warning(cache_dir, monkeypatch, caplog):
    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cache.tempfile, "mkstemp", read_only)  # root ignores chmod
    text = scale_ir()
    build = Builds(text)
    with caplog.at_level(logging.WARNING, logger="tracecomp"):
        for _ in range(3):
            assert scale(cache.get_or_build(text, ["scale"], build), 1.0) == 2.0
    assert build.calls == 3 and entries(cache_dir) == []
    [record] = caplog.records
    assert "cannot write to the cache directory" in record.getMessage()


def _payloads():
    return [np.random.default_rng(seed).bytes(1 << 20) for seed in range(4)]


def _writer(barrier, payload_path, seed):
    """One of the concurrent processes: compile the shared module through the cache, then
    overwrite one entry with this process's own 1 MB payload many times, reading it back
    in between (a reader must only ever see one writer's whole file)."""
    barrier.wait()
    lib = cache.compile_module(scale_ir(), ["scale"])
    assert scale(lib, 4.0) == 8.0
    payloads = _payloads()
    for _ in range(20):
        cache.write_entry(payload_path, payloads[seed])
        assert cache.read_entry(payload_path) in payloads


def test_concurrent_writers_leave_one_whole_entry(cache_dir):
    cache_dir.mkdir()
    shared = str(cache_dir / ("0" * 64 + cache.SUFFIX))
    ctx = multiprocessing.get_context("spawn")   # no LLVM state inherited through fork
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_writer, args=(barrier, shared, seed))
             for seed in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 4
    text = scale_ir()
    compiled = str(cache_dir / (cache.entry_key(text) + cache.SUFFIX))
    assert sorted(os.listdir(cache_dir)) == sorted(os.path.basename(p)
                                                   for p in (shared, compiled))  # no temps
    assert cache.read_entry(compiled) == engine.emit_object(text)
    assert cache.read_entry(shared) in _payloads()   # one writer's whole file, never a mix


def test_a_second_compile_of_a_graph_links_from_the_cache(cache_dir, monkeypatch):
    """Through tracecomp.compile: a fresh compiled function (as in a new process) finds
    the backend's module in the cache, and its dump texts match the compiled ones."""
    w = tc.randn(8, 8)

    def f(x):
        return ((x @ w).tanh() * 2.0).exp().sum(1)

    x = tc.randn(4, 8)
    cold = tc.compile(f)
    expected = cold(x).numpy()
    stored = entries(cache_dir)
    assert stored

    def no_compiling(*args, **kwargs):
        raise AssertionError("compiled although the cache holds the module")

    monkeypatch.setattr(engine, "compile_module", no_compiling)
    warm = tc.compile(f)
    np.testing.assert_array_equal(warm(x).numpy(), expected)
    assert entries(cache_dir) == stored
    def module_id_dropped(texts):   # `; ModuleID = "graphN"` counts compiles
        return {graph: text.partition("\n")[2] for graph, text in texts.items()}

    assert module_id_dropped(warm.llvm_ir) == module_id_dropped(cold.llvm_ir) != {}
    assert warm.optimized_ir == cold.optimized_ir != {} and warm.asm == cold.asm != {}

    changed = tc.compile(lambda x: ((x @ w).tanh() * 3.0).exp().sum(1))
    with pytest.raises(Exception, match="compiled although"):
        changed(x)   # a different graph is a miss
