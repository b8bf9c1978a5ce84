"""The disk cache of compiled object code (codegen/llvm/runtime/cache.py): hits link the stored
object without compiling, a changed graph misses, corrupt or truncated entries and entries
bound to another key are rebuilt and never linked, each key's object exports names of its
own, TRACECOMP_CACHE=0 turns it off, concurrent writers leave one whole entry, the size bound
evicts the least recently used entries, and an unusable directory costs one warning, not a
crash. Every test caches in its own tmp_path. Hostile folders and entries (swapped, planted,
FIFOs, symlinks, foreign owners) are tests/reliability/test_rel_cache_hostile.py's, each in a
process of its own."""
import ctypes
import logging
import multiprocessing
import os

import numpy as np
import pytest
from llvmlite import ir

import tracecomp as tc
from tracecomp.codegen.llvm import kernel_reuse
from tracecomp.codegen.llvm.runtime import cache, engine

DOUBLE = ir.DoubleType()


def scale_ir(factor=2.0, name="cache_test"):
    """IR text of `double scale(double x) { return x * factor; }`."""
    module = engine.new_module(name)
    fn = ir.Function(module, ir.FunctionType(DOUBLE, [DOUBLE]), "scale")
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    builder.ret(builder.fmul(fn.args[0], ir.Constant(DOUBLE, factor)))
    return str(module)


class Builds:
    """A build(suffix) for get_or_build that counts its calls."""

    def __init__(self, llvm_ir):
        self.llvm_ir, self.calls = llvm_ir, 0

    def __call__(self, suffix):
        self.calls += 1
        return engine.compile_module(self.llvm_ir, ["scale"], suffix=suffix)


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
    assert entry == cache.entry_key(text, ["scale"]) + cache.SUFFIX
    # the texts a dump shows: the IR we hold, the optimized IR and assembly recomputed
    assert second.optimized_ir is None and second.llvm_ir == text
    assert cache.optimized_ir(second) == first.optimized_ir and second.asm == first.asm


def test_the_module_name_is_not_part_of_the_key(cache_dir):
    """`; ModuleID = "graphN"` counts graphs per process; LLVM's parser ignores it."""
    assert cache.entry_key(scale_ir(name="graph0")) == cache.entry_key(scale_ir(name="graph7"))
    assert cache.entry_key(scale_ir()) != cache.entry_key(scale_ir(), speed_level=3)
    assert cache.entry_key(scale_ir(), ["scale"]) != cache.entry_key(scale_ir(), ["other"])


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
    path = cache_dir / (cache.entry_key(text, ["scale"]) + cache.SUFFIX)
    good = path.read_bytes()
    path.write_bytes(bytes(damage(bytearray(good))))
    with caplog.at_level(logging.WARNING, logger="tracecomp"):
        lib = cache.get_or_build(text, ["scale"], build)
    assert build.calls == 2 and scale(lib, 5.0) == 10.0
    assert "refused" in caplog.text and path.name in caplog.text
    assert path.read_bytes() == good and entries(cache_dir) == [path.name]


def test_an_entry_that_does_not_link_is_rebuilt(cache_dir, caplog):
    """A whole, checksummed entry whose payload is not object code (say, a bug that wrote
    the wrong bytes) fails to link: logged, deleted and rebuilt too."""
    text = scale_ir()
    key = cache.make_key(text, ["scale"])
    path = cache_dir / (key.digest + cache.SUFFIX)
    cache_dir.mkdir()
    cache.write_entry(str(path), key, b"not an object file")
    build = Builds(text)
    with caplog.at_level(logging.WARNING, logger="tracecomp"):
        assert scale(cache.get_or_build(text, ["scale"], build), 1.5) == 3.0
    assert build.calls == 1 and "did not link" in caplog.text
    assert cache.read_entry(str(path), key) == _object(text, key)


def _object(text, key):
    """The object code the cache stores for `text` under `key` (exports renamed)."""
    return engine.emit_object(engine.prepare(text, key.fields["names"].split(","), key.suffix))


def test_an_entry_bound_to_another_key_is_refused(cache_dir, caplog):
    """A whole, checksummed entry of another graph copied onto this graph's file: its key
    binding differs, so it is deleted and rebuilt, never linked."""
    two, three = scale_ir(2.0), scale_ir(3.0)
    cache.get_or_build(two, ["scale"], Builds(two))
    cache.get_or_build(three, ["scale"], Builds(three))
    path_two = cache_dir / (cache.entry_key(two, ["scale"]) + cache.SUFFIX)
    path_three = cache_dir / (cache.entry_key(three, ["scale"]) + cache.SUFFIX)
    path_two.write_bytes(path_three.read_bytes())
    build = Builds(two)
    with caplog.at_level(logging.WARNING, logger="tracecomp"):
        assert scale(cache.get_or_build(two, ["scale"], build), 1.0) == 2.0
    assert build.calls == 1 and "built for another key (fingerprint" in caplog.text
    assert cache.read_entry(str(path_two), cache.make_key(two, ["scale"])) is not None


def test_each_key_exports_names_of_its_own(cache_dir):
    """The object of one graph cannot stand in for another's: the names it defines carry
    its own key's suffix, so linking it under another key finds no symbols."""
    two, three = cache.make_key(scale_ir(2.0), ["scale"]), cache.make_key(scale_ir(3.0),
                                                                          ["scale"])
    assert two.suffix != three.suffix
    assert two.suffix == cache.make_key(scale_ir(2.0, name="graph9"), ["scale"]).suffix
    lib = cache.compile_module(scale_ir(3.0), ["scale"])
    assert lib.suffix == three.suffix and f"@scale{three.suffix}(" in cache.optimized_ir(lib)
    with pytest.raises(RuntimeError, match="Symbols not found"):
        engine.load_object(lib.object, ["scale"], suffix=two.suffix)


def _stored(directory, k, size, mtime):
    """Entry number k: `size` bytes, last used at `mtime`."""
    path = directory / (f"{k:064x}" + cache.SUFFIX)
    path.write_bytes(b"\0" * size)
    os.utime(path, (mtime, mtime))
    return path


def test_the_size_bound_evicts_the_least_recently_used(cache_dir, monkeypatch, caplog):
    """TRACECOMP_CACHE_MAX_MB: after a write, the entries used longest ago go (a hit
    touches an entry's mtime) until the folder fits; the new entry stays."""
    cache_dir.mkdir()
    monkeypatch.setenv("TRACECOMP_CACHE_MAX_MB", "1")
    old = [_stored(cache_dir, k, 340_000, 1_000_000 + k) for k in range(3)]
    text = scale_ir()
    cache.get_or_build(text, ["scale"], Builds(text))
    new = cache_dir / (cache.entry_key(text, ["scale"]) + cache.SUFFIX)
    assert sorted(cache_dir.iterdir()) == sorted(old + [new])   # 1020 KB + the new: fits
    key = cache.make_key(text, ["scale"])
    os.utime(new, (1, 1))                      # as if used long ago, before the others
    assert cache.read_entry(str(new), key) is not None             # a hit: now the newest
    assert new.stat().st_mtime > old[-1].stat().st_mtime
    with caplog.at_level(logging.INFO, logger="tracecomp"):
        cache.write_entry(str(old[0]), key, b"\1" * 400_000)     # old[0] used now, larger
        cache.cache_folder.evict(str(cache_dir), cache.cache_folder.max_bytes(),
                                 keep=str(old[0]))
    assert sorted(cache_dir.iterdir()) == sorted([old[0], old[2], new])   # old[1] evicted
    assert "evicted 1 least recently used" in caplog.text and old[1].name in caplog.text


def test_writes_scan_the_folder_only_when_they_may_reach_the_bound(cache_dir, monkeypatch,
                                                                  caplog):
    """Knowing the folder's size stats every entry: the first write scans it, later ones
    only once this process's writes have used up the room that scan left (else a process
    writing n entries spends time quadratic in n), or once the scan is a minute old (other
    processes write there too). The bound still holds: the write that uses the room up
    evicts."""
    cache_dir.mkdir()
    monkeypatch.setenv("TRACECOMP_CACHE_MAX_MB", "1")
    scans, evict = [], cache.cache_folder.evict
    monkeypatch.setattr(cache.cache_folder, "evict",
                        lambda *a, **k: scans.append(a) or evict(*a, **k))
    clock = [1000.0]
    monkeypatch.setattr(cache.cache_folder.time, "monotonic", lambda: clock[0])
    filler = _stored(cache_dir, 0, 1_000_000, 1_000_000)     # leaves ~48 KB of room
    for k in range(4):
        cache.get_or_build(scale_ir(2.0 + k), ["scale"], Builds(scale_ir(2.0 + k)))
    assert len(scans) == 1 and filler.exists()     # 4 entries of a few KB: within the room
    writes = 4
    with caplog.at_level(logging.INFO, logger="tracecomp"):
        while len(scans) == 1 and writes < 1000:   # the write that takes the folder over
            writes += 1
            cache.get_or_build(scale_ir(2.0 + writes), ["scale"],
                               Builds(scale_ir(2.0 + writes)))
    assert not filler.exists() and "evicted 1 least recently used" in caplog.text
    clock[0] += cache.cache_folder.RESCAN_SECONDS
    refill = _stored(cache_dir, 1, 1_000_000, 1_000_000)     # another process's write
    cache.get_or_build(scale_ir(-1.0), ["scale"], Builds(scale_ir(-1.0)))
    assert len(scans) == 3 and not refill.exists()


def test_an_entry_over_the_bound_is_not_read(cache_dir, monkeypatch, caplog):
    """A regular file larger than TRACECOMP_CACHE_MAX_MB at an entry's path (here 4 GB,
    sparse) is refused from its fstat, without reading a byte of it."""
    monkeypatch.setenv("TRACECOMP_CACHE_MAX_MB", "1")
    text = scale_ir()
    path = cache_dir / (cache.entry_key(text, ["scale"]) + cache.SUFFIX)
    cache_dir.mkdir()
    with open(path, "wb") as f:
        f.truncate(4 << 30)
    build = Builds(text)
    with caplog.at_level(logging.WARNING, logger="tracecomp"):
        assert scale(cache.get_or_build(text, ["scale"], build), 1.0) == 2.0
    assert build.calls == 1 and f"is {4 << 30} bytes, over the {1 << 20}-byte bound" \
        in caplog.text
    assert path.stat().st_size < 1 << 20


@pytest.mark.parametrize("value", ["0", "-5", "lots", "inf", "nan"])
def test_a_bad_size_bound_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("TRACECOMP_CACHE_MAX_MB", value)
    with pytest.raises(ValueError, match="TRACECOMP_CACHE_MAX_MB must be a positive number"):
        cache.cache_folder.max_bytes()


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

    monkeypatch.setattr(cache.cache_folder.tempfile, "mkstemp", read_only)  # root ignores chmod
    text = scale_ir()
    build = Builds(text)
    with caplog.at_level(logging.WARNING, logger="tracecomp"):
        for _ in range(3):
            assert scale(cache.get_or_build(text, ["scale"], build), 1.0) == 2.0
    assert build.calls == 3 and entries(cache_dir) == []
    [record] = caplog.records
    assert "cannot write to the cache directory" in record.getMessage()


def test_a_folder_others_may_write_is_not_used(cache_dir, caplog):
    """Code linked from the cache runs in this process: a folder group or others may write
    to costs one warning, and nothing is read from or written to it."""
    cache_dir.mkdir()
    cache_dir.chmod(0o770)
    text = scale_ir()
    build = Builds(text)
    with caplog.at_level(logging.WARNING, logger="tracecomp"):
        for _ in range(2):
            assert scale(cache.get_or_build(text, ["scale"], build), 1.0) == 2.0
    assert build.calls == 2 and entries(cache_dir) == []
    [record] = caplog.records
    assert "writable by group or others (mode 770)" in record.getMessage()


def _payloads():
    return [np.random.default_rng(seed).bytes(1 << 20) for seed in range(4)]


def _writer(barrier, payload_path, seed):
    """One of the concurrent processes: compile the shared module through the cache, then
    overwrite one entry with this process's own 1 MB payload many times, reading it back
    in between (a reader must only ever see one writer's whole file)."""
    barrier.wait()
    lib = cache.compile_module(scale_ir(), ["scale"])
    assert scale(lib, 4.0) == 8.0
    payloads, key = _payloads(), _shared_key()
    for _ in range(20):
        cache.write_entry(payload_path, key, payloads[seed])
        assert cache.read_entry(payload_path, key) in payloads


def _shared_key():
    return cache.make_key("; the concurrent writers' entry", ["x"])


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
    compiled = str(cache_dir / (cache.entry_key(text, ["scale"]) + cache.SUFFIX))
    assert sorted(os.listdir(cache_dir)) == sorted(os.path.basename(p)
                                                   for p in (shared, compiled))  # no temps
    key = cache.make_key(text, ["scale"])
    assert cache.read_entry(compiled, key) == _object(text, key)
    assert cache.read_entry(shared, _shared_key()) in _payloads()   # one writer's, never a mix


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
    kernel_reuse.forget()       # as a new process: no kernel compiled before
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


def test_the_jit_is_started_on_a_thread_while_the_backend_imports(monkeypatch):
    """registry's llvm loader starts the process's JIT first (engine.start_jit), so the
    first link finds it made; a link meanwhile waits for it (the engine's lock)."""
    import threading

    from tracecomp.codegen import registry
    from tracecomp.codegen.llvm.runtime import engine
    monkeypatch.setattr(engine, "_state", {})      # as in a process that linked nothing
    registry.get("llvm")
    starts = [t for t in threading.enumerate() if t.name == "tracecomp-jit-start"]
    for t in starts:
        t.join(timeout=30)
    assert "jit" in engine._state
    registry.get("llvm")        # made already: no other thread
    assert not [t for t in threading.enumerate() if t.name == "tracecomp-jit-start"]
    x = tc.randn(8, 8)
    np.testing.assert_allclose(tc.compile(lambda a: (a * 2).exp())(x).numpy(),
                               np.exp(x.numpy() * 2), rtol=1e-6)
