"""The disk cache of compiled object code: a second process links a graph's kernels in
milliseconds instead of optimizing and compiling them again.

    lib = compile_module(module, names)          # engine.compile_module, through the cache
    lib = get_or_build(llvm_ir, names, build)    # the same with your own build() -> Library

Key: sha256 of the module's IR text, the host CPU's name and feature string, the llvmlite
and LLVM versions, FORMAT_VERSION and the speed level: whatever changes the code LLVM would
emit changes the key, so entries are never invalidated, only left behind. (The IR's first
line, `; ModuleID = "graph7"`, is a comment LLVM's parser drops: it counts graphs per process,
so it is left out of the key.)

Where: $TRACECOMP_CACHE_DIR, else $XDG_CACHE_HOME/tracecomp, else ~/.cache/tracecomp.
TRACECOMP_CACHE=0 turns the cache off. Nothing is ever evicted.

An entry is one file, `<key>.tcobj`: a header (magic, FORMAT_VERSION, payload length,
sha256 of the payload) and the payload, the object code. The IR texts a dump shows are
not stored: the caller holds the IR, and the optimized IR is recomputed from it on demand
(`optimized_ir`). A corrupt or truncated entry is logged on the `tracecomp` logger, deleted
and rebuilt, never linked. Writers write a temporary file in the same directory and
`os.replace` it onto the entry, so readers and concurrent writers only ever see a whole
file. A cache directory that cannot be created or written to costs one warning and leaves
compiling as it was, uncached.
"""
import hashlib
import logging
import os
import struct
import tempfile

import llvmlite
import llvmlite.binding as llvm

from tracecomp.debug_log import emit

from . import engine

FORMAT_VERSION = 1
MAGIC = b"TCOBJ\x00\r\n"  # the \r\n catches a file mangled by newline translation
HEADER = struct.Struct("<8sIQ32s")  # magic, format version, payload length, payload sha256
SUFFIX = ".tcobj"

log = logging.getLogger("tracecomp")
_warned = set()  # directories already warned about: one warning each, not one per compile


def compile_module(module, names, speed_level=2, imports=None):
    """`engine.compile_module`, through the disk cache."""
    llvm_ir = str(module)
    return get_or_build(
        llvm_ir, names, lambda: engine.compile_module(llvm_ir, names, speed_level, imports),
        speed_level, imports)


def get_or_build(llvm_ir, names, build, speed_level=2, imports=None):
    """The `engine.Library` for IR text `llvm_ir`, exporting `names`.

    On a hit the cached object is linked (`engine.load_object`) and `build` is not called;
    the Library's `.llvm_ir` is `llvm_ir` and its `.optimized_ir` is None until
    `optimized_ir(lib)` recomputes it. On a miss, `build()` makes the Library and its
    `.object` is stored.
    """
    directory = cache_dir()
    if directory is None:
        return build()
    path = os.path.join(directory, entry_key(llvm_ir, speed_level) + SUFFIX)
    obj = read_entry(path)
    if obj is not None:
        try:
            lib = engine.load_object(obj, names, imports)
        except RuntimeError as exc:  # a whole, checksummed file that LLVM still refuses
            log.warning("tracecomp: cache entry %s did not link (%s); rebuilding", path, exc)
            _remove(path)
        else:
            emit(1, f"[tracecomp] object code from the disk cache: {path}")
            lib.llvm_ir, lib._speed_level = llvm_ir, speed_level
            return lib
    lib = build()
    try:
        write_entry(path, lib.object)
    except OSError as exc:
        _warn_once(directory, f"cannot write to the cache directory {directory} ({exc}); "
                              "compiled code is not cached")
    else:
        emit(1, f"[tracecomp] object code cached: {path}")
    return lib


def optimized_ir(lib):
    """`lib.optimized_ir`, recomputed from `lib.llvm_ir` when `lib` came from the cache:
    the same IR, LLVM and speed level (all in the key) give the same optimized IR, and so
    the assembly that `lib.asm` then derives from it is that of the cached code."""
    if lib.optimized_ir is None and lib.llvm_ir is not None:
        ref = engine.optimize(engine.parse(lib.llvm_ir), lib._speed_level)
        lib.optimized_ir = str(ref)
    return lib.optimized_ir


def entry_key(llvm_ir, speed_level=2):
    """sha256 hex digest of everything that decides the object code for `llvm_ir`."""
    first, _, rest = llvm_ir.partition("\n")
    if first.startswith("; ModuleID"):
        llvm_ir = rest
    parts = [llvm_ir, llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten(),
             llvmlite.__version__, ".".join(map(str, llvm.llvm_version_info)),
             str(FORMAT_VERSION), str(speed_level)]
    digest = hashlib.sha256()
    for part in parts:  # length-prefixed, so no two different part lists hash alike
        data = part.encode()
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


def cache_dir():
    """The cache directory, created if needed; None when the cache is off or unusable."""
    if os.environ.get("TRACECOMP_CACHE", "1").strip().lower() in ("0", "false", "off", "no"):
        return None
    directory = os.environ.get("TRACECOMP_CACHE_DIR")
    if not directory:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                                ".cache")
        directory = os.path.join(base, "tracecomp")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        _warn_once(directory, f"cannot create the cache directory {directory} ({exc}); "
                              "compiled code is not cached (set TRACECOMP_CACHE_DIR to a "
                              "writable directory, or TRACECOMP_CACHE=0)")
        return None
    return directory


def read_entry(path):
    """The payload of the entry at `path`, or None: missing, or corrupt (then deleted)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("tracecomp: cannot read cache entry %s (%s); compiling", path, exc)
        return None
    problem = _check(data)
    if problem is None:
        return data[HEADER.size:]
    log.warning("tracecomp: corrupt cache entry %s (%s); deleting it and compiling again",
                path, problem)
    _remove(path)
    return None


def write_entry(path, payload):
    """Write an entry atomically: a temporary file beside it, then `os.replace`."""
    header = HEADER.pack(MAGIC, FORMAT_VERSION, len(payload), hashlib.sha256(payload).digest())
    directory, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(header)
            f.write(payload)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def _check(data):
    """None when `data` is a whole entry, else what is wrong with it."""
    if len(data) < HEADER.size:
        return f"{len(data)} bytes, shorter than the {HEADER.size}-byte header"
    magic, version, length, checksum = HEADER.unpack_from(data)
    if magic != MAGIC:
        return "bad magic"
    if version != FORMAT_VERSION:
        return f"format version {version}, expected {FORMAT_VERSION}"
    if length != len(data) - HEADER.size:
        return f"payload of {len(data) - HEADER.size} bytes, header says {length}"
    if hashlib.sha256(memoryview(data)[HEADER.size:]).digest() != checksum:
        return "checksum mismatch"
    return None


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _warn_once(directory, message):
    if directory not in _warned:
        _warned.add(directory)
        log.warning("tracecomp: %s", message)
