"""The disk cache of compiled object code: a second process links a graph's kernels in
milliseconds instead of optimizing and compiling them again.

    lib = compile_module(module, names)              # engine.compile_module, through the cache
    lib = get_or_build(llvm_ir, names, build)        # the same with your own build(suffix)
    lib = compile_recipe(text, emit_module, names)   # keyed before the IR is emitted

Key: everything that decides the object code: a fingerprint of the module (sha256 of its IR
text, or, through compile_recipe, of what decides that text: codegen/llvm/recipe.py, so a
hit emits no IR at all), the exported names, the host CPU's name and feature string, the
llvmlite and LLVM versions, FORMAT_VERSION and the speed level. The entry's file name is
the sha256 of those (length-prefixed), so whatever changes the code LLVM would emit changes
the key, and entries are never invalidated, only left behind for the size bound to evict.
(The IR's first line, `; ModuleID = "graph7"`, is a comment LLVM's parser drops: it counts
graphs per process, so it is left out.)

Where: $TRACECOMP_CACHE_DIR, else $XDG_CACHE_HOME/tracecomp, else ~/.cache/tracecomp.
TRACECOMP_CACHE=0 turns the cache off; TRACECOMP_CACHE_MAX_MB (default 512) bounds its size.
What the folder must be to be used at all (ours, mode 700), how entries are opened (regular
files only, bounded reads) and evicted (least recently used) is cache_folder.py's job.

An entry is one file, `<key digest>.tcobj`:

    header    magic, FORMAT_VERSION, payload length, sha256 of the payload
    payload   binding length (u32), the binding (JSON: the key digest and every field that
              went into it), the object code

An entry is linked only when it is whole (length and checksum) AND its binding is exactly the
key of the graph being compiled: an entry copied over another graph's file (or a valid one of
another CPU, version or speed level) is logged, deleted and rebuilt, never linked. The object
code itself exports names of its own graph: each name carries a suffix derived from the key
(`entry0_tc1f2e3d4c5b6a7980`, engine.py), so an object that reached the linker for the wrong
graph lacks the symbols asked for and fails to link (logged, deleted, rebuilt) instead of
running another graph's code on this graph's buffers. Neither is a defence against a writer
who controls the folder (it can write a whole, well-bound entry): that is why an untrusted
folder is not used at all.

A corrupt, truncated, foreign or unlinkable entry costs one log line and a compile. Writers
write a temporary file in the folder and `os.replace` it onto the entry, so readers and
concurrent writers only ever see a whole file. A folder that cannot be created or written to
costs one warning and leaves compiling as it was, uncached. The IR texts a dump shows are not
stored: the caller holds the IR, and the optimized IR is recomputed from it on demand
(`optimized_ir`).
"""
import hashlib
import json
import logging
import os
import struct

import llvmlite
import llvmlite.binding as llvm
import numpy as np

from tracecomp.debug_log import emit

from . import cache_folder, engine, host_cpu
from .cache_folder import SUFFIX

FORMAT_VERSION = 2  # 2: the key bound inside the payload; exported names suffixed per key
MAGIC = b"TCOBJ\x00\r\n"  # the \r\n catches a file mangled by newline translation
HEADER = struct.Struct("<8sIQ32s")  # magic, format version, payload length, payload sha256
BINDING_LENGTH = struct.Struct("<I")
MAX_BINDING_BYTES = 1 << 24   # a key is its names and a few short strings

log = logging.getLogger("tracecomp")

__all__ = ["FORMAT_VERSION", "SUFFIX", "Key", "cache_dir", "compile_module", "compile_recipe",
           "entry_key", "files_fingerprint",
           "get_or_build", "make_key", "optimized_ir", "read_entry", "write_entry"]


def compile_module(module, names, speed_level=2, imports=None):
    """`engine.compile_module`, through the disk cache."""
    llvm_ir = str(module)
    return get_or_build(
        llvm_ir, names,
        lambda suffix: engine.compile_module(llvm_ir, names, speed_level, imports, suffix),
        speed_level, imports)


def compile_recipe(recipe_text, emit_module, names, speed_level=2, imports=None,
                   on_miss=None, elsewhere=False):
    """`compile_module` for a module not emitted yet, keyed by `recipe_text` (the text
    codegen/llvm/recipe.py makes, which decides the module's IR) instead of the IR.
    `emit_module()` makes the `llvmlite.ir.Module`: on a miss (after `on_miss()`), and on a
    hit only when something reads the Library's `.llvm_ir` (a dump). elsewhere: a miss is
    compiled by the worker process where it can (engine.compile_module)."""
    text = []

    def module_text():
        if not text:
            text.append(str(emit_module()))
        return text[0]

    def build(suffix):
        if on_miss is not None:
            on_miss()
        return engine.compile_module(module_text(), names, speed_level, imports, suffix,
                                     elsewhere)
    return get_or_build(module_text, names, build, speed_level, imports,
                        fingerprint="recipe " + hashlib.sha256(recipe_text.encode()).hexdigest())


def get_or_build(llvm_ir, names, build, speed_level=2, imports=None, fingerprint=None):
    """The `engine.Library` for IR text `llvm_ir`, exporting `names`.

    `build(suffix)` makes the Library on a miss, its exports named `name + suffix`
    (`engine.compile_module(..., suffix=suffix)`); its `.object` is then stored. On a hit the
    cached object is linked (`engine.load_object`) and `build` is not called; the Library's
    `.llvm_ir` is `llvm_ir` and its `.optimized_ir` is None until `optimized_ir(lib)`
    recomputes it. With the cache off or refused, `build` is called with the same suffix.
    A `fingerprint` given stands for the IR's in the key; `llvm_ir` may then be a function
    that makes the IR text, called when `.llvm_ir` is read (compile_recipe).
    """
    key = make_key(llvm_ir, names, speed_level, fingerprint)
    directory = cache_folder.trusted_folder()
    if directory is None:
        return _built(build, key)
    path = os.path.join(directory, key.digest + SUFFIX)
    try:
        obj = read_entry(path, key)
    except cache_folder.Untrusted as exc:
        cache_folder.distrust(directory, f"the cache entry {path} {exc}")
        return _built(build, key)
    if obj is not None:
        try:
            lib = engine.load_object(obj, names, imports, key.suffix)
        except RuntimeError as exc:  # a whole, well-bound file that LLVM still refuses
            log.warning("tracecomp: cache entry %s did not link (%s); deleting it and "
                        "compiling again", path, exc)
            cache_folder.remove(path)
        else:
            emit(1, f"[tracecomp] object code from the disk cache: {path}")
            lib.llvm_ir, lib._speed_level = llvm_ir, speed_level
            return lib
    lib = _built(build, key)
    data, bound = encode_entry(key, lib.object), cache_folder.max_bytes()
    if len(data) > bound:
        emit(1, f"[tracecomp] an entry of {len(data)} bytes is not cached: over the cache's "
                f"{bound}-byte bound (TRACECOMP_CACHE_MAX_MB)")
        return lib
    try:
        cache_folder.replace_atomically(path, data)
    except OSError as exc:
        cache_folder.warn_once(directory, f"cannot write to the cache directory {directory} "
                                          f"({exc}); compiled code is not cached")
    else:
        emit(1, f"[tracecomp] object code cached: {path}")
        cache_folder.evict_after_write(directory, bound, path, len(data))
    return lib


def _built(build, key):
    lib = build(key.suffix)
    assert lib.suffix == key.suffix, "build(suffix) must name the exports with the suffix"
    return lib


def optimized_ir(lib):
    """`lib.optimized_ir`, recomputed from `lib.llvm_ir` when `lib` came from the cache:
    the same IR, names, LLVM and speed level (all in the key) give the same optimized IR,
    and so the assembly that `lib.asm` then derives from it is that of the cached code."""
    if lib.optimized_ir is None and lib.llvm_ir is not None:
        ref = engine.prepare(lib.llvm_ir, lib.names, lib.suffix, lib._speed_level)
        lib.optimized_ir = str(ref)
    return lib.optimized_ir


class Key:
    """What an entry is built for: `fields` (name -> str, in a fixed order) and `digest`,
    the sha256 hex of the fields, length-prefixed so no two field lists hash alike."""

    def __init__(self, fields):
        self.fields = dict(fields)
        digest = hashlib.sha256()
        for name, value in self.fields.items():
            for part in (name, value):
                data = part.encode()
                digest.update(len(data).to_bytes(8, "little") + data)
        self.digest = digest.hexdigest()

    @property
    def suffix(self):
        """The suffix of every exported name in this key's object code (64 bits of the
        digest: a different graph has different names)."""
        return f"_tc{self.digest[:16]}"

    def binding(self):
        """The bytes an entry stores to say which key it was built for."""
        return json.dumps({"key": self.digest, **self.fields}, sort_keys=True).encode()

    def mismatch(self, binding):
        """None when `binding` (bytes from an entry) is this key's, else what differs."""
        try:
            stored = json.loads(binding.decode())
        except (UnicodeDecodeError, ValueError):
            return "its key binding is not readable"
        expected = json.loads(self.binding().decode())
        if not isinstance(stored, dict):
            return "its key binding is not readable"
        differ = sorted(k for k in expected.keys() | stored.keys()
                        if stored.get(k) != expected.get(k))
        return f"it was built for another key ({', '.join(differ)} differ)" if differ else None


def files_fingerprint(paths):
    """A digest of the .py files under the folders in `paths`, and of the files named there
    (a module whose code is its own): each one's path, size and mtime, and the numpy
    version. os.scandir, not Path.rglob: a warm start stats ~320 files, 2.5 ms against 7."""
    digest = hashlib.sha256(np.__version__.encode())
    for root in sorted(map(str, paths)):
        if not os.path.isdir(root):
            st = os.stat(root)
            digest.update(f"{os.path.basename(root)} {st.st_size} {st.st_mtime_ns}\n".encode())
            continue
        lines, folders = [], [""]
        while folders:
            folder = folders.pop()
            with os.scandir(os.path.join(root, folder)) as entries:
                for entry in entries:
                    path = os.path.join(folder, entry.name)
                    if entry.is_dir():
                        folders.append(path)
                    elif entry.name.endswith(".py"):
                        st = entry.stat()
                        lines.append(f"{path} {st.st_size} {st.st_mtime_ns}\n")
        digest.update("".join(sorted(lines)).encode())
    return digest.hexdigest()


def make_key(llvm_ir, names=(), speed_level=2, fingerprint=None):
    """The Key of the object code for `llvm_ir` exporting `names` at `speed_level`; a
    `fingerprint` (of what decides the IR) stands for the IR's sha256 where given."""
    if fingerprint is None:
        first, _, rest = llvm_ir.partition("\n")
        if first.startswith("; ModuleID"):
            llvm_ir = rest
        fingerprint = hashlib.sha256(llvm_ir.encode()).hexdigest()
    return Key([
        ("fingerprint", fingerprint),
        ("names", ",".join(dict.fromkeys(names))),
        ("cpu", host_cpu.name()),
        ("features", host_cpu.feature_string()),
        ("llvmlite", llvmlite.__version__),
        ("llvm", ".".join(map(str, llvm.llvm_version_info))),
        ("format", str(FORMAT_VERSION)),
        ("speed_level", str(speed_level)),
    ])


def entry_key(llvm_ir, names=(), speed_level=2):
    """The sha256 hex digest that names the entry of `llvm_ir` (see make_key)."""
    return make_key(llvm_ir, names, speed_level).digest


def cache_dir():
    """The cache directory, created if needed; None when the cache is off or unusable."""
    return cache_folder.trusted_folder()


def read_entry(path, key):
    """The object code of the entry at `path` built for `key`, or None: missing, or corrupt,
    not a regular file, or built for another key (then logged and deleted). Raises
    cache_folder.Untrusted for an entry this user does not solely control (left in place)."""
    try:
        with cache_folder.open_entry(path, cache_folder.max_bytes()) as entry:
            if entry is None:
                return None
            data = _read_whole(entry)
            problem = data if isinstance(data, str) else _check(data)
            if problem is None:
                obj, problem = _unbind(memoryview(data)[HEADER.size:], key)
                if problem is None:
                    return obj
    except cache_folder.NotAnEntry as exc:
        problem = str(exc)
    except OSError as exc:
        log.warning("tracecomp: cannot read cache entry %s (%s); compiling", path, exc)
        return None
    log.warning("tracecomp: cache entry %s refused (%s); deleting it and compiling again",
                path, problem)
    cache_folder.remove(path)
    return None


def _read_whole(entry):
    """The entry's bytes, read no further than its header says and its size allows; or
    what is wrong when those disagree (then the payload is not read)."""
    head = cache_folder.read_at_most(entry.fd, HEADER.size)
    if len(head) < HEADER.size:
        return head
    magic, version, length, _ = HEADER.unpack(head)
    if magic != MAGIC or version != FORMAT_VERSION:
        return _check(head)
    if HEADER.size + length != entry.st.st_size:
        return f"payload of {entry.st.st_size - HEADER.size} bytes, header says {length}"
    return head + cache_folder.read_at_most(entry.fd, length)


def write_entry(path, key, obj):
    """Write the entry of object code `obj` for `key` atomically (cache_folder)."""
    cache_folder.replace_atomically(path, encode_entry(key, obj))


def encode_entry(key, obj):
    """The bytes of the entry of object code `obj` built for `key`."""
    binding = key.binding()
    payload = BINDING_LENGTH.pack(len(binding)) + binding + bytes(obj)
    header = HEADER.pack(MAGIC, FORMAT_VERSION, len(payload), hashlib.sha256(payload).digest())
    return header + payload


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


def _unbind(payload, key):
    """(object code, None) when `payload` was built for `key`, else (None, the problem)."""
    if len(payload) < BINDING_LENGTH.size:
        return None, "no key binding"
    (n,) = BINDING_LENGTH.unpack_from(payload)
    if n > min(MAX_BINDING_BYTES, len(payload) - BINDING_LENGTH.size):
        return None, f"a key binding of {n} bytes in a payload of {len(payload)}"
    start = BINDING_LENGTH.size
    problem = key.mismatch(bytes(payload[start:start + n]))
    return (None, problem) if problem else (bytes(payload[start + n:]), None)
