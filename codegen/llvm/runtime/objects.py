"""LLVM IR text -> object code for a named CPU, with llvmlite alone.

engine.py compiles through these functions (holding its lock around them), and so does the
compile worker, a process that runs this file as a script (split_compile.py): it starts in
~0.1 s because it imports llvmlite only, where importing tracecomp (numpy and the rest)
took ~0.4 s, the worker's whole share of a small compile. The CPU name and feature string
come in with each job, so the worker makes the object this process would (TRACECOMP_CPU_
FEATURES is applied before they are sent: runtime/host_cpu.py).

    obj, optimized_text = to_object(text, names, suffix, speed_level, cpu, features)

Position-independent code, small code model: objects are linked by the JIT at any address
and kept in the disk cache (engine.py says why).
"""
import os
import pickle
import sys

import llvmlite.binding as llvm

_ready = []


def init():
    """One-time native target setup (`llvm.initialize()` raises in current llvmlite)."""
    if not _ready:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        _ready.append(True)


def target_machine(cpu, features, opt=2):
    """A fresh TargetMachine (an engine may take one over and free it: never share one)."""
    init()
    return llvm.Target.from_default_triple().create_target_machine(
        cpu=cpu, features=features, opt=opt, reloc="pic", codemodel="small")


def parse(text, cpu, features):
    """A verified ModuleRef of IR text, with the target's triple and data layout."""
    init()
    ref = llvm.parse_assembly(text)
    tm = target_machine(cpu, features)
    ref.triple = tm.triple
    ref.data_layout = str(tm.target_data)
    ref.verify()
    return ref


def rename(ref, names, suffix):
    """Export `name + suffix` for each defined name in `names` (a disk cache entry's own)."""
    for name in dict.fromkeys(names):
        try:
            fn = ref.get_function(name)
        except NameError:       # not defined here: the link reports it, as without a suffix
            continue
        fn.name = name + suffix


def optimize(ref, cpu, features, speed_level=2):
    """The new pass manager's O<speed_level> pipeline, vectorizers on, in place. Only the
    flags the IR carries (`contract` and the like) loosen floating point."""
    pto = llvm.create_pipeline_tuning_options(speed_level=speed_level)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pb = llvm.create_pass_builder(target_machine(cpu, features, speed_level), pto)
    pb.getModulePassManager().run(ref, pb)
    return ref


def emit_object(ref, cpu, features, speed_level=2):
    return bytes(target_machine(cpu, features, speed_level).emit_object(ref))


def to_object(text, names, suffix, speed_level, cpu, features):
    """(object code, optimized IR text) of a module's IR text. The text is taken before
    codegen, which changes the module (a dump shows what was optimized, and what a disk
    cache hit recomputes: cache.optimized_ir)."""
    ref = parse(text, cpu, features)
    if suffix:
        rename(ref, names, suffix)
    optimized = str(optimize(ref, cpu, features, speed_level))
    return emit_object(ref, cpu, features, speed_level), optimized


def serve():
    """The worker's loop: to_object's arguments in on stdin, (ok, result) out on stdout."""
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr         # nothing else may write into the answers
    while True:
        try:
            job = pickle.load(source)
        except (EOFError, pickle.UnpicklingError):  # the parent is gone, perhaps mid-job
            return
        try:
            answer = (True, to_object(*job))
        except Exception as exc:    # reported to the parent, which compiles it itself
            answer = (False, repr(exc))
        try:
            pickle.dump(answer, sink)
            sink.flush()
        except OSError:     # the parent is gone (it ended while this job ran: a library it
            os._exit(0)     # built for later calls): no answer, and nothing left to flush


if __name__ == "__main__":
    serve()
