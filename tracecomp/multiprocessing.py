"""tracecomp.multiprocessing: torch.multiprocessing's calls over Python's multiprocessing.

    import tracecomp.multiprocessing as mp
    mp.spawn(train, args=(model,), nprocs=4)     # train(rank, model) in 4 processes
    model.share_memory()                          # Hogwild: children update one set of weights

torch.multiprocessing is Python's module plus two things programs use: `spawn` (start
nprocs processes running fn(rank, *args), wait for them, and raise a child's error in the
parent with its traceback) and tensors in shared memory (`Tensor.share_memory_`,
`Module.share_memory`), so processes forked after it see and make each other's in-place
updates. Everything else (Process, Queue, Pool, get_context, set_start_method, ...) is
Python's own, re-exported. A tensor sent through a Queue or to a spawned process is
pickled as a copy of its values; only a fork shares its memory.
"""
import mmap
import multiprocessing as _mp
import traceback
from multiprocessing import *  # noqa: F401,F403  (torch.multiprocessing re-exports Python's)

import numpy as np


class ProcessRaisedException(Exception):
    """A spawned process raised: its error and traceback, raised in the parent (torch's
    torch.multiprocessing.spawn.ProcessRaisedException)."""

    def __init__(self, msg, error_index, error_pid):
        super().__init__(msg)
        self.error_index, self.pid = error_index, error_pid


class ProcessExitedException(ProcessRaisedException):
    """A spawned process exited with a non-zero code without raising in Python."""

    def __init__(self, msg, error_index, error_pid, exit_code):
        super().__init__(msg, error_index, error_pid)
        self.exit_code = exit_code


def _run(fn, rank, args, errors):
    try:
        fn(rank, *args)
    except KeyboardInterrupt:
        pass                    # the parent is shutting the group down
    except BaseException:
        errors.put((rank, traceback.format_exc()))
        raise SystemExit(1) from None


class ProcessContext:
    """The processes spawn started: join() waits for them and raises the first failure."""

    def __init__(self, processes, errors):
        self.processes, self.error_queue = processes, errors

    def pids(self):
        return [p.pid for p in self.processes]

    def join(self, timeout=None):
        """True once every process ended well; raises the first failure, ending the
        others, as torch does."""
        for p in self.processes:
            p.join(timeout)
        if any(p.is_alive() for p in self.processes):
            return False
        failed = [(k, p) for k, p in enumerate(self.processes) if p.exitcode != 0]
        if not failed:
            return True
        for p in self.processes:
            if p.is_alive():
                p.terminate()
        if not self.error_queue.empty():
            rank, trace = self.error_queue.get()
            raise ProcessRaisedException(
                f"\n\n-- Process {rank} terminated with the following error:\n{trace}",
                rank, self.processes[rank].pid)
        rank, p = failed[0]
        raise ProcessExitedException(f"process {rank} terminated with exit code "
                                     f"{p.exitcode}", rank, p.pid, p.exitcode)


def start_processes(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """fn(rank, *args) in nprocs processes started with start_method; with join, wait
    for them all (a child's error is raised here), else return their ProcessContext."""
    if not callable(fn):
        raise TypeError(f"spawn: fn must be callable, got {type(fn).__name__}")
    if not (isinstance(nprocs, int) and nprocs >= 1):
        raise ValueError(f"spawn: nprocs must be a positive int, got {nprocs!r}")
    ctx = _mp.get_context(start_method)
    errors = ctx.SimpleQueue()
    processes = []
    for rank in range(nprocs):
        p = ctx.Process(target=_run, args=(fn, rank, tuple(args), errors), daemon=daemon)
        p.start()
        processes.append(p)
    context = ProcessContext(processes, errors)
    if not join:
        return context
    while not context.join():
        pass
    return None


def spawn(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """torch.multiprocessing.spawn: start_processes with the 'spawn' start method by
    default."""
    return start_processes(fn, args, nprocs, join, daemon, start_method)


def share_memory_(t):
    """Tensor.share_memory_: move t's values into shared memory (an anonymous shared
    mapping), so processes forked after this see its in-place updates and make theirs
    seen. A no-op for a tensor already there, as torch's."""
    data = t._data
    if is_shared(t):
        return t
    if type(data) is not np.ndarray:
        if t.device.type != "cpu":
            raise RuntimeError(f"share_memory_: a tensor on {t.device} cannot be put in "
                               f"shared memory here; move it to the CPU first")
        raise RuntimeError("share_memory_ inside compiled code: its values are the graph's, "
                           "in no memory to share; call it before, on the model or tensor "
                           "(model.share_memory())")
    buffer = mmap.mmap(-1, max(data.nbytes, 1))     # MAP_SHARED | MAP_ANONYMOUS
    shared = np.frombuffer(buffer, dtype=data.dtype, count=data.size).reshape(data.shape)
    shared[...] = data
    t._data = shared
    return t


def is_shared(t):
    """Whether t's values live in shared memory (share_memory_)."""
    data = t._data
    while isinstance(data, np.ndarray) and data.base is not None:
        data = data.base
    if isinstance(data, memoryview):        # np.frombuffer's base: a view of the mapping
        data = data.obj
    return isinstance(data, mmap.mmap)


def get_all_sharing_strategies():
    return {"file_descriptor", "file_system"}


def get_sharing_strategy():
    return "file_descriptor"


def set_sharing_strategy(strategy):
    """Accepted for torch's programs: shared tensors here are inherited mappings, which need
    no strategy."""
    if strategy not in get_all_sharing_strategies():
        raise ValueError(f"set_sharing_strategy: {strategy!r} is not one of "
                         f"{sorted(get_all_sharing_strategies())}")
