"""tracecomp.multiprocessing: torch.multiprocessing's calls over Python's multiprocessing.

    import tracecomp.multiprocessing as mp
    mp.spawn(train, args=(model,), nprocs=4)     # train(rank, model) in 4 processes
    model.share_memory()                          # Hogwild: children update one set of weights

torch.multiprocessing is Python's module plus two things programs use: `spawn` (start
nprocs processes running fn(rank, *args), wait for them, and raise a child's error in the
parent with its traceback) and tensors in shared memory (`Tensor.share_memory_`,
`Module.share_memory`), so other processes see and make each other's in-place updates.
Everything else (Process, Queue, Pool, get_context, set_start_method, ...) is Python's own,
re-exported.

Shared values live in a memory file (memfd_create) mapped MAP_SHARED: a forked process
inherits the mapping, and a shared tensor handed to a spawned process (mp.Process args
under set_start_method('spawn'), as mnist_hogwild does) or put on a Queue travels as the
file's descriptor (multiprocessing's DupFd, torch's "file_descriptor" strategy), mapped
again on the other side: the same memory, as torch's. A tensor that owns its values moves
into shared memory when handed to a process being spawned, as torch's would; other tensors
on a Queue (a view, an unshared DataLoader batch), and pickle.dumps of any tensor, travel
as a copy of their values.
"""
import mmap
import multiprocessing as _mp
import os
import traceback
import weakref
from multiprocessing import *  # noqa: F401,F403  (torch.multiprocessing re-exports Python's)
from multiprocessing import reduction as _reduction

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
    shared = _over(_SharedMemory.new(max(data.nbytes, 1)), data.dtype, data.shape)
    shared[...] = data
    t._data = shared
    return t


class _SharedMemory(mmap.mmap):
    """A MAP_SHARED mapping of a memory file, holding the file's descriptor (fd) so that
    it can be sent to another process; None where memfd_create is missing (then only a
    fork shares it). The descriptor closes when the mapping is collected."""

    @classmethod
    def new(cls, nbytes):
        if not hasattr(os, "memfd_create"):
            buffer = cls(-1, nbytes)                 # MAP_SHARED | MAP_ANONYMOUS
            buffer.fd = None
            return buffer
        fd = os.memfd_create("tracecomp-shared", os.MFD_CLOEXEC)
        os.ftruncate(fd, nbytes)
        return cls.over(fd, nbytes)

    @classmethod
    def over(cls, fd, nbytes):
        buffer = cls(fd, nbytes)
        buffer.fd = fd
        weakref.finalize(buffer, os.close, fd)
        return buffer


def _over(buffer, dtype, shape):
    return np.frombuffer(buffer, dtype=dtype, count=int(np.prod(shape))).reshape(shape)


def _shared_buffer(t):
    """t's memory file when t's values are a whole shared buffer (what share_memory_
    makes), else None (a view of one, or unshared values: sent as a copy)."""
    data = root = t._data
    if type(data) is not np.ndarray or not data.flags.c_contiguous:
        return None
    while isinstance(root.base, np.ndarray):
        root = root.base
    buffer = root.base.obj if isinstance(root.base, memoryview) else None
    if (isinstance(buffer, _SharedMemory) and buffer.fd is not None
            and data.ctypes.data == root.ctypes.data and data.nbytes == root.nbytes):
        return buffer
    return None


_NON_LEAF = ("Cowardly refusing to serialize non-leaf tensor which requires_grad, since "
             "autograd does not support crossing process boundaries.  If you just want to "
             "transfer the data, call detach() on the tensor before serializing (e.g., "
             "putting it on the queue).")


def _reduce_tensor(t):
    """multiprocessing's pickler: a shared tensor as its memory file's descriptor. A CPU
    tensor handed to a process being spawned moves into shared memory first, as torch's
    does (its child then updates the parent's tensor); one put on a Queue (a DataLoader
    worker's batch) travels as a copy of its values unless it is shared already. A
    non-leaf that requires grad is refused, as torch's (autograd stays in its process)."""
    if t._requires_grad and t._node is not None:
        raise RuntimeError(_NON_LEAF)
    if (_mp.context.get_spawning_popen() is not None and type(t._data) is np.ndarray
            and t._data.base is None and not t._data.dtype.hasobject):
        share_memory_(t)
    buffer = _shared_buffer(t)
    if buffer is None:
        return t.__reduce_ex__(2)
    from .nn.parameter import Parameter
    return (_rebuild_shared, (_reduction.DupFd(buffer.fd), len(buffer), t._data.dtype.str,
                              t._data.shape, t._requires_grad, isinstance(t, Parameter)))


def _rebuild_shared(dup_fd, nbytes, dtype, shape, requires_grad, parameter):
    from .nn.parameter import Parameter
    from .tensor import Tensor
    t = Tensor._make(_over(_SharedMemory.over(dup_fd.detach(), nbytes), dtype, shape))
    if parameter:
        return Parameter(t, requires_grad)
    return t.requires_grad_(True) if requires_grad else t


def _register_reducers():
    from .nn.parameter import Parameter
    from .tensor import Tensor
    for cls in (Tensor, Parameter):
        _reduction.ForkingPickler.register(cls, _reduce_tensor)


_register_reducers()


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
    """Accepted for torch's programs: a shared tensor here always travels as its memory
    file's descriptor (or is inherited by a fork), whichever strategy is named."""
    if strategy not in get_all_sharing_strategies():
        raise ValueError(f"set_sharing_strategy: {strategy!r} is not one of "
                         f"{sorted(get_all_sharing_strategies())}")
