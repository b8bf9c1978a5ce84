"""One large LLVM module compiled on two cores: parts of it in a worker process.

llvmlite runs every LLVM call under one process-wide lock, so threads cannot optimize two
modules at once; processes can. A module is cut into parts: the first keeps the entry
functions, the others (PIECES of them) take the kernels, as external functions that the
first declares and calls (a kernel inlined into its entry before is now called: a function
call per kernel run, nothing per element). Math helpers that kernels inline are copied into
each part that uses them. The objects link side by side into one library. This process and
the worker (a Python process started on the first module large enough, and kept) take parts
from one queue until none is left: they finish about together, where two halves cut by text
length did not (a ResNet-18 step's halves took 0.5 and 2.3 s: entries are long text and
cheap to compile, fold and permute kernels short and slow; 8 parts from a queue: 1.5 s).

    parts = split(llvm_ir, entry_names)     # None: not worth it, or not cleanly separable
    objects, optimized = compile_parts(parts, entry_names, suffix, speed_level)

A module is split only where it pays: MIN_DEFINITIONS functions or more (a ResNet-18
training step: ~200, ~4 s of LLVM; LeNet's ~70, 0.8 s; an MLP step's 40 take 0.3 s), a
second core, and TRACECOMP_COMPILE_WORKERS not 0. The worker runs objects.py, which imports
llvmlite alone, and takes ~0.1 s to start: warm_up(), called as soon as a graph's kernel
count is known, starts it while the kernels are emitted.
"""
import os
import pickle
import re
import sys
import threading

from . import host_cpu, objects

MIN_DEFINITIONS = 60
PIECES = 8      # kernel parts: smaller ones even out the two processes, each costs ~10 ms
_DEFINED = re.compile(r'^define (?P<how>[^@]*)@"?(?P<name>[^"(]+)"?\(')
_NAMED = re.compile(r'@"([^"]+)"|@([-\w.$]+)')


def wanted(llvm_ir):
    return allowed() and llvm_ir.count("\ndefine ") >= MIN_DEFINITIONS


def warm_up(kernels):
    """Start the worker now if a module of `kernels` kernels will be split."""
    if kernels >= MIN_DEFINITIONS:
        start_worker()


def start_worker():
    """Start the worker now, where one may run, for a job that comes soon: its start (~0.2 s
    on znver3: Python, then llvmlite) then overlaps the making of the job's IR, which it
    followed (gemm/shared.py's libraries: on a miss, before their IR is emitted)."""
    if allowed():
        worker = _Worker.take()
        if worker is not None:
            worker.give_back()


def allowed():
    """Whether a worker process may compile: two CPUs or more, and not switched off."""
    return os.environ.get("TRACECOMP_COMPILE_WORKERS") != "0" and (os.cpu_count() or 1) >= 2


def split(llvm_ir, names):
    """Module texts that link together into the module's code: the first keeps the entries
    (and what only they call); each other part holds some of the kernels, made external
    functions the first declares, PIECES parts of about equal text. None where the module
    cannot be cut so. Of the exported `names`, the entries are those that call another:
    a graph exports its kernels too (kernel_reuse.py), and they call none."""
    items = _items(llvm_ir)
    if items is None:
        return None
    header, definitions, declarations, metadata = items
    exported = [n for n in dict.fromkeys(names) if n in definitions]
    entries = [n for n in exported
               if (_calls(definitions[n], definitions) - {n}) & set(exported)] or exported
    called = set().union(*(_calls(definitions[e], definitions) for e in entries))
    movable = [n for n in definitions
               if n in called and n not in entries
               and "alwaysinline" not in definitions[n].partition("\n")[0]]
    if len(movable) < 2:        # not worth a second process
        return None
    count = min(PIECES, len(movable))
    pieces, sizes = [[] for _ in range(count)], [0] * count
    for name in sorted(movable, key=lambda n: len(definitions[n]), reverse=True):
        k = sizes.index(min(sizes))     # the smallest piece takes the next
        pieces[k].append(name)
        sizes[k] += len(definitions[name])
    moved = set(movable)
    first = set().union(*(_reached(e, definitions, stop=moved) for e in entries))
    declared = [_declaration(definitions[n]) for n in definitions if n in moved]
    parts = ["\n".join(header + declarations + declared
                       + [definitions[n] for n in definitions if n in first and n not in moved]
                       + metadata) + "\n"]
    for piece in pieces:
        reached = set().union(*(_reached(n, definitions) for n in piece))
        body = [_exported(definitions[n]) if n in piece else definitions[n]
                for n in definitions if n in reached]
        parts.append("\n".join(header + declarations + body + metadata) + "\n")
    return parts


def compile_parts(parts, names, suffix, speed_level):
    """(object code of each part, their optimized IR texts), in the order of `parts`.

    This process and the worker take parts from one queue until it is empty, so both finish
    about together however unequal the parts' costs (text length predicts them badly: an
    entry is long and cheap, a fold kernel short and slow to vectorize). The kernels' parts
    go first, the entries' part (cheap, ~0.2 s of a ResNet-18 step's 3 s) last, to fill the
    end. All here if the worker is busy (another thread's compile) or cannot be reached."""
    from . import engine
    queue = list(range(1, len(parts))) + [0]
    lock, results, failed = threading.Lock(), [None] * len(parts), []

    def next_part():
        with lock:
            return queue.pop(0) if queue else None

    def feed(worker):           # a thread: the worker's share, one part at a time
        while (k := next_part()) is not None:
            if not worker.send(parts[k], names, suffix, speed_level) \
                    or (result := worker.receive()) is None:
                failed.append(k)    # compiled here below; the worker gets no more
                return
            results[k] = result

    worker = _Worker.take()
    feeder = None if worker is None else threading.Thread(target=feed, args=(worker,))
    try:
        if feeder is not None:
            feeder.start()
        while (k := next_part()) is not None:
            results[k] = engine.to_object(parts[k], names, suffix, speed_level)
    finally:
        if feeder is not None:
            feeder.join()
            worker.give_back()
    for k in failed:
        results[k] = engine.to_object(parts[k], names, suffix, speed_level)
    return [obj for obj, _ in results], [text for _, text in results]


def compile_elsewhere(text, names, suffix, speed_level):
    """(object code, optimized IR text) of a whole module compiled by the worker, or None
    when it is not allowed, busy (another compile has it) or failed: the caller then
    compiles it here. For modules needed a little later (gemm/shared.py's libraries, built
    while this process compiles a graph)."""
    if not allowed():
        return None
    worker = _Worker.take()
    if worker is None:
        return None
    try:
        if not worker.send(text, names, suffix, speed_level):
            return None
        return worker.receive()
    finally:
        worker.give_back()


class _Worker:
    """A Python process running objects.py as a script (its serve() loop), started on first
    use and kept. Not multiprocessing: its spawn imports the user's main script again in the
    child, which a script without a main guard would then run there."""

    _one, _lock = None, threading.Lock()

    def __init__(self):
        # imported here: a warm start, all from the disk cache, starts no worker (~1.5 ms)
        import subprocess

        self.busy, self.owner = False, os.getpid()
        path = os.pathsep.join(p for p in sys.path if p)    # llvmlite as this process has it
        # -S: no site module, whose .pth files (an editable install's finder, numba-cuda's
        # redirector) it does not need, as this process's sys.path already holds what they
        # add: its start with llvmlite 137 -> 86-92 ms (znver3)
        self.process = subprocess.Popen(
            [sys.executable, "-S", objects.__file__], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": path})

    @classmethod
    def take(cls):
        """The worker, marked busy; None when another thread has it."""
        with cls._lock:
            worker = cls._one
            # a new one if it died, or if this is a forked child: the pipes are the parent's
            if worker is None or worker.owner != os.getpid() or worker.process.poll() is not None:
                worker = cls._one = cls()
            if worker.busy:
                return None
            worker.busy = True
            return worker

    def give_back(self):
        with self._lock:
            self.busy = False

    def send(self, text, names, suffix, speed_level):
        """Ask for the object of IR `text` (engine.to_object's arguments), for this
        process's CPU and features; False if the worker cannot be reached."""
        job = (text, list(names), suffix, speed_level, host_cpu.name(), host_cpu.feature_string())
        try:
            pickle.dump(job, self.process.stdin)
            self.process.stdin.flush()
            return True
        except OSError:
            return False

    def receive(self):
        """(object, optimized text), or None if the worker died or failed."""
        try:
            ok, result = pickle.load(self.process.stdout)
        except (OSError, EOFError, pickle.UnpicklingError):
            return None
        return result if ok else None


def _items(llvm_ir):
    """(header lines, {name: definition text}, declarations, metadata lines) of a module as
    llvmlite prints it (definitions run from `define` to a line `}`); None if it defines
    global variables (they would be defined twice: a declared one, gemm/first_calls.py's
    slot table, goes into every part)."""
    header, definitions, declarations, metadata = [], {}, [], []
    lines = llvm_ir.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("define"):
            end = lines.index("}", i)
            definitions[_DEFINED.match(line).group("name")] = "\n".join(lines[i:end + 1])
            i = end + 1
            continue
        if line.startswith("@") and " = external global " not in line:
            return None
        if line.startswith(("declare", "@")):
            declarations.append(line)
        elif line.startswith("!"):
            metadata.append(line)
        else:
            header.append(line)
        i += 1
    return header, definitions, declarations, metadata


def _reached(name, definitions, stop=()):
    """`name` and every defined function its definition reaches (not through `stop`)."""
    seen, stack = set(), [name]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        stack.extend(c for c in _calls(definitions[n], definitions)
                     if c not in seen and c not in stop)
    return seen


def _calls(text, definitions):
    """The defined functions a definition names (its own name included)."""
    return {quoted or plain for quoted, plain in _NAMED.findall(text)
            if (quoted or plain) in definitions}


def _exported(text):
    """An internal definition made external, for the other part to call."""
    head, _, rest = text.partition("\n")
    return head.replace("define internal ", "define ", 1) + "\n" + rest


def _declaration(text):
    """`declare` for a definition: its return and parameter types."""
    head = text.partition("\n")[0]
    match = re.match(r'define (?:internal )?(?P<ret>\S+) (?P<name>@"[^"]+")\((?P<args>.*)\)',
                     head)
    types = [a.split()[0] for a in match.group("args").split(", ") if a]
    return f"declare {match.group('ret')} {match.group('name')}({', '.join(types)})"
