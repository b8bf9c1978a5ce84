"""The JIT plumbing: LLVM IR in, callable native code out, for the host CPU.

    lib = compile_module(ir_module, ["kernel"])   # parse, verify, optimize, codegen, link
    fn = lib.cfunc("kernel", None, ctypes.c_void_p, ctypes.c_int64)
    lib.llvm_ir, lib.optimized_ir, lib.asm        # the stages, for `tracecomp dump`
    blob = lib.object                             # relocatable object code, for a disk cache
    lib2 = load_object(blob, ["kernel"])          # ms, not tens of ms: no parse, no codegen

Exported names may carry a suffix (`compile_module(..., suffix="_tc1f2e...")`): the object
then defines `kernel_tc1f2e...`, while `lib.cfunc("kernel", ...)` still takes the plain name.
The disk cache derives the suffix from its key, so each graph's object exports names of its
own, and an object linked for the wrong graph lacks the symbols asked for: the link fails
instead of running the wrong code on the wrong buffers.

Why ORC (LLJIT with JITLink) rather than MCJIT: `JITLibraryBuilder.add_object_img` links a
cached object directly, while MCJIT's object cache still re-parses the IR on a hit; and each
linked library has its own resource tracker, so code is freed library by library. We run
codegen ourselves (`TargetMachine.emit_object`) and hand ORC the object, so the code that
runs, the object a cache stores and the assembly a dump shows all come from one target
machine: the host CPU with all its features, position-independent, small code model.
JITLink (not RuntimeDyld) lays all sections of an object out together, which the small code
model's 32-bit relative references need.

Lifetimes (see shared/LLVM-NOTES.md): a function address is valid only while the `Library`
that produced it is alive. A `Library` owns its resource tracker, which holds the process-wide
LLJIT, so the JIT cannot be torn down under it; `Library.cfunc` returns ctypes
functions that keep their `Library` alive. Target machines are made fresh wherever one is
needed, never shared with an engine that could take ownership of it. LLVM's global context is
not thread-safe, so parsing, optimizing, codegen and linking hold one process-wide lock;
at exit it is taken for good (`_quiesce`), so that no thread is inside LLVM when LLVM's own
teardown runs (a GEMM library linked for later calls, gemm/first_calls.py, may still be on
its way in when a program ends).
"""
import atexit
import ctypes
import itertools
import struct
import threading

import llvmlite.binding as llvm
from llvmlite import ir

from . import host_cpu, objects, split_compile

_lock = threading.RLock()
_state = {}  # "jit": the process-wide LLJIT, created on first use
_library_ids = itertools.count()
QUIESCE_S = 10      # at exit: other threads' LLVM calls only link (ms) or start the JIT


def _quiesce():
    """Wait for an LLVM call another thread is making, and let none start after: a daemon
    thread blocked on the lock is harmless at exit, one inside LLVM is not. Bounded: a
    forked child may hold a copy of the lock that a thread of its parent had taken."""
    _lock.acquire(timeout=QUIESCE_S)


atexit.register(_quiesce)


def host_target_machine(opt=2):
    """A fresh TargetMachine for this CPU (name and every feature it reports).

    Fresh each call: an engine may take ownership of a target machine and free it, and a
    freed one reused crashes the process. PIC + small code model suit both JIT linking and
    object files cached on disk and linked again at another address.
    """
    return objects.target_machine(host_cpu.name(), host_cpu.feature_string(), opt)


def _jit():
    with _lock:
        if "jit" not in _state:
            # LLJIT copies the target machine's settings and does not take it; keep it anyway.
            _state["jit_tm"] = host_target_machine()
            _state["jit"] = llvm.create_lljit_compiler(_state["jit_tm"], use_jit_link=True)
        return _state["jit"]


def start_jit():
    """Create the process's JIT on a thread of its own, if nothing has yet: ~3 ms of LLVM
    (which lets go of the GIL) that a first compile then spends importing the backend
    instead of waiting for it when it links its first object."""
    if "jit" not in _state:
        threading.Thread(target=_jit, daemon=True, name="tracecomp-jit-start").start()


def parse(module):
    """LLVM IR text or an `llvmlite.ir.Module` -> a verified `ModuleRef` for the host."""
    with _lock:
        return objects.parse(str(module), host_cpu.name(), host_cpu.feature_string())


def optimize(module_ref, speed_level=2):
    """Run the new pass manager's O<speed_level> pipeline in place, vectorizers on."""
    with _lock:
        return objects.optimize(module_ref, host_cpu.name(), host_cpu.feature_string(),
                                speed_level)


def emit_object(module, speed_level=2):
    """Relocatable object code (bytes) for the host CPU.

    A `ModuleRef` is emitted as it is (optimize it first); IR text or an `llvmlite.ir.Module`
    is parsed, verified and optimized here.
    """
    ref = module if isinstance(module, llvm.ModuleRef) else optimize(parse(module), speed_level)
    with _lock:
        return objects.emit_object(ref, host_cpu.name(), host_cpu.feature_string(),
                                   speed_level)


def prepare(module, names=(), suffix="", speed_level=2):
    """Parse, verify, rename the exports `names` to `name + suffix`, optimize: the module
    whose object code `compile_module` links, and whose text a dump shows."""
    ref = parse(module)
    if suffix:
        with _lock:
            objects.rename(ref, names, suffix)
    return optimize(ref, speed_level)


def to_object(text, names, suffix="", speed_level=2):
    """(object code, optimized IR text) of IR text for the host CPU, compiled here: what
    the compile worker makes of the same job (objects.py)."""
    with _lock:
        return objects.to_object(text, names, suffix, speed_level, host_cpu.name(),
                                 host_cpu.feature_string())


def load_object(obj, names, imports=None, suffix=""):
    """Link object code into the process-wide JIT; `names` are the symbols to export (each
    defined in `obj` as `name + suffix`); a RuntimeError when `obj` lacks one of them.

    `imports` maps extra symbol names to addresses (e.g. a BLAS routine found at run time);
    anything else unresolved is looked up in the running process (libc, libm, and libraries
    loaded with `llvm.load_library_permanently`).
    """
    names = list(dict.fromkeys(names))
    builder = llvm.JITLibraryBuilder()
    for image in unpack_objects(bytes(obj)):
        builder.add_object_img(image)
    builder.add_current_process()
    for name, address in (imports or {}).items():
        builder.import_symbol(name, address)
    for name in names:
        builder.export_symbol(name + suffix)
    with _lock:
        jit = _jit()
        tracker = builder.link(jit, f"tracecomp_{next(_library_ids)}")
    # The tracker disposes itself through the JIT, so it holds the JIT: whatever order
    # garbage collection or interpreter exit takes, the JIT outlives every tracker.
    tracker.tracecomp_jit = jit
    return Library(tracker, names, bytes(obj), suffix)


def compile_module(module, names, speed_level=2, imports=None, suffix="", elsewhere=False):
    """Parse, verify, optimize and JIT-link `module` (IR text or `llvmlite.ir.Module`).

    Returns a `Library` exporting `names` (as `name + suffix` in the object), with the IR
    before and after optimization for dumps (`.llvm_ir`, `.optimized_ir`, `.asm`).
    elsewhere: compiled by the worker process (split_compile.py), so that this process
    compiles something else meanwhile; a RuntimeError where the worker cannot take it (the
    caller builds it itself when it needs it: gemm/shared.py's libraries, asked for by a
    thread that must not run LLVM work of its own at a program's end).
    """
    llvm_ir = str(module)
    done = split_compile.compile_elsewhere(llvm_ir, names, suffix, speed_level) \
        if elsewhere else None
    if elsewhere and done is None:
        raise RuntimeError("the compile worker did not compile it (busy, not allowed, or "
                           "it failed): left for the caller")
    parts = split_compile.split(llvm_ir, names) \
        if done is None and split_compile.wanted(llvm_ir) else None
    if parts:       # a large module: half of it compiled in a worker process at once
        blobs, optimized = split_compile.compile_parts(parts, names, suffix, speed_level)
        lib = load_object(pack_objects(blobs), names, imports, suffix)
        lib.optimized_parts = optimized
        optimized_ir = "\n".join(f"; part {k + 1} of {len(optimized)}\n{text}"
                                  for k, text in enumerate(optimized))
    else:
        obj, optimized_ir = done or to_object(llvm_ir, names, suffix, speed_level)
        lib = load_object(obj, names, imports, suffix)
    lib.llvm_ir, lib.optimized_ir, lib._speed_level = llvm_ir, optimized_ir, speed_level
    lib.compiled_elsewhere = done is not None
    return lib


_PARTS = b"tracecomp objects\0"     # several objects in one blob (a split module's)


def pack_objects(blobs):
    """One blob of object files, for the disk cache and load_object."""
    sizes = b"".join(struct.pack("<Q", len(o)) for o in blobs)
    return _PARTS + struct.pack("<I", len(blobs)) + sizes + b"".join(blobs)


def unpack_objects(blob):
    """The object files in a blob of pack_objects, or [blob] for a single one."""
    if not blob.startswith(_PARTS):
        return [blob]
    at = len(_PARTS)
    (count,) = struct.unpack_from("<I", blob, at)
    sizes = struct.unpack_from(f"<{count}Q", blob, at + 4)
    at += 4 + 8 * count
    objects = []
    for size in sizes:
        objects.append(blob[at:at + size])
        at += size
    return objects


class Library:
    """Compiled code linked into the JIT; its addresses live exactly as long as it does."""

    def __init__(self, tracker, names, obj, suffix=""):
        self._tracker = tracker  # the code's lifetime (holds the JIT in turn)
        self.names = names
        self.suffix = suffix     # the object defines name + suffix for each name
        self.object = obj
        self._llvm_ir = self.optimized_ir = None  # set by compile_module; None after a load
        self.optimized_parts = None     # a split module's parts (split_compile.py)
        self._asm = None
        self._speed_level = 2
        self.uses = []      # libraries whose code this one calls (kernel_reuse.py): kept alive

    @property
    def llvm_ir(self):
        """The module's IR text; a function that makes it, when set so, is called on the
        first read (code linked from the disk cache by a key made before the IR)."""
        if callable(self._llvm_ir):
            self._llvm_ir = self._llvm_ir()
        return self._llvm_ir

    @llvm_ir.setter
    def llvm_ir(self, text):
        self._llvm_ir = text

    def address(self, name):
        """The native address of exported symbol `name` (valid while this Library lives)."""
        if name not in self.names:
            raise KeyError(f"{name!r} is not exported by this library (exports: {self.names})")
        return self._tracker[name + self.suffix]

    def cfunc(self, name, restype, *argtypes):
        """A ctypes function for `name` that keeps this Library (and so its code) alive."""
        fn = ctypes.CFUNCTYPE(restype, *argtypes)(self.address(name))
        fn._library = self
        return fn

    @property
    def asm(self):
        """Host assembly of the optimized module, made on first use (codegen costs ~10 ms
        per kernel, and only dumps and tests read it). None for a library loaded from an
        object."""
        if self._asm is None and self.optimized_ir is not None:
            texts = []
            for text in self.optimized_parts or [self.optimized_ir]:
                ref = parse(text)
                with _lock:
                    texts.append(host_target_machine(opt=self._speed_level).emit_assembly(ref))
            self._asm = "\n".join(texts)
        return self._asm


def new_module(name="tracecomp"):
    """An empty `llvmlite.ir.Module` with the host's triple and data layout."""
    tm = host_target_machine()
    module = ir.Module(name=name)
    module.triple = tm.triple
    module.data_layout = str(tm.target_data)
    return module
