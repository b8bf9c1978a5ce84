"""The communication thread: a compiled step's all-reduces travel while its native code runs.

A compiled data-parallel step starts each bucket's all-reduce as soon as the bucket's
gradients exist (the graph's `all_reduce_start` node) and waits for it only where a value
first reads the result (`all_reduce_wait`, passes/buckets.py places both), so the message
travels while the rest of the backward computes. MPI's nonblocking calls alone would not
do that: MPI moves a message only inside MPI calls, native code makes none, and MPICH's
own progress thread (MPICH_ASYNC_PROGRESS=1) spins a core whether or not a message is in
flight. So, as torch's ProcessGroupMPI does, one worker thread per group makes the blocking
calls, one after the other in the order they were queued. mpi4py releases the GIL inside
an MPI call, and ctypes releases it around native code, so both run at once.

The thread owns a communicator of its own (a duplicate of the group's, made while every
rank is in init_process_group), so the collectives the main thread makes meanwhile (eager
code, dist.all_reduce outside the graph) are never matched with the thread's: MPI orders
collectives per communicator. Every collective of compiled code goes on that communicator,
in the order the code reaches it, whether it overlaps anything or not (`run_now` makes
the ones that do not, from the caller's thread, once the queue is empty): which of a
graph's all-reduces are split depends on the work around them, and two ranks may run
different graphs with the same collectives; had the unsplit ones gone on the group's
communicator, such ranks would wait forever, each in a collective on another one.

    ticket = start(buf, "avg")   # buf (C-contiguous) becomes the average, some time later
    finish(buf)                  # returns once it has (raises what the thread raised)
"""
import dataclasses
import queue
import threading
import warnings

from ..user_code import user_stacklevel
from .reduce_op import reduce_array
from .watchdog import waiting

_tickets = {}       # id(buf) -> its Ticket, for each buffer started and not yet finished


class Ticket:
    """One queued all-reduce; `done` is set once buf holds the result or `error` is set."""

    __slots__ = ("buf", "op", "taken", "done", "error")

    def __init__(self, buf, op):
        self.buf, self.op, self.error = buf, op, None
        self.taken, self.done = threading.Event(), threading.Event()


class CommThread:
    """The worker of one process group: runs queued all-reduces on its own communicator."""

    def __init__(self, group):
        self.group = dataclasses.replace(group, comm=group.comm.Dup(), comm_thread=None)
        self._queue = queue.SimpleQueue()
        self._last = None       # the last ticket queued
        self._thread = threading.Thread(target=self._serve, name="tracecomp-comm",
                                        daemon=True)
        self._thread.start()

    def submit(self, ticket):
        """Queue ticket, and return once the thread has taken it up (see _serve)."""
        self._last = ticket
        self._queue.put(ticket)
        ticket.taken.wait()

    def run_now(self, call):
        """call(the thread's group) on this thread, after everything queued before it: the
        thread is idle then, and only this thread queues work, so none comes meanwhile."""
        if self._last is not None:
            self._last.done.wait()
        return call(self.group)

    def _serve(self):
        while True:
            ticket = self._queue.get()
            if ticket is None:
                return
            # The caller waits for this: the thread needs the GIL to get here, and a main
            # thread that goes in and out of native code (one call per compiled segment)
            # takes it back at every return, so the thread could wait for the GIL for
            # milliseconds (measured: up to 3.7 ms of a 3.8 ms computation). Inside the
            # MPI call, mpi4py releases the GIL until the message is done.
            ticket.taken.set()
            try:
                reduce_array(self.group, ticket.buf, ticket.op)
            except BaseException as exc:    # raised again by finish(), on the main thread
                ticket.error = exc
            ticket.done.set()

    def close(self):
        """Stop after the queued work (destroy_process_group) and free the communicator."""
        self._queue.put(None)
        self._thread.join()
        self.group.comm.Free()


def in_order(group, what, call):
    """call(group) for collective `what` of compiled code that overlaps nothing: on the
    thread's communicator after the work queued before it (see the module docstring),
    watched by the group's timeout. Without a thread (a world of one), call(group)."""
    thread = getattr(group, "comm_thread", None)
    with waiting(f"{what} (of a compiled step)"):
        return call(group) if thread is None else thread.run_now(call)


def threads_allowed(MPI):
    """May a second thread make MPI calls? Only when MPI was started with THREAD_MULTIPLE,
    which mpi4py asks for unless the program set mpi4py.rc.thread_level lower before
    importing mpi4py.MPI; otherwise compiled all-reduces run where they start (the same
    values, nothing overlapped), and the program is told so once."""
    if MPI.Query_thread() >= MPI.THREAD_MULTIPLE:
        return True
    warnings.warn("tracecomp.distributed: MPI was started without MPI_THREAD_MULTIPLE "
                  "(mpi4py.rc.thread_level), so compiled training steps cannot overlap their "
                  "gradient all-reduces with the backward: each runs where it starts",
                  RuntimeWarning, stacklevel=user_stacklevel())
    return False


def start(group, buf, op):
    """Queue the all-reduce (op: a lowercase ReduceOp name, or None for nothing to send) of
    buf over group's ranks; finish(buf) waits for it. Nothing is queued in a world of one,
    nor without a thread (threads_allowed): the all-reduce runs now."""
    ticket = Ticket(buf, op)
    thread = getattr(group, "comm_thread", None)
    if op is not None and thread is not None:
        thread.submit(ticket)
    else:
        if op is not None:
            reduce_array(group, buf, op)    # alone: torch's refusals, and nothing sent
        ticket.done.set()
    _tickets[id(buf)] = ticket
    return ticket


def finish(buf):
    """Wait for buf's all-reduce, started by start(); raise what the thread raised."""
    ticket = _tickets.pop(id(buf), None)
    if ticket is None:
        raise RuntimeError("all_reduce_wait: this buffer's all-reduce was never started "
                           "(each all_reduce_wait must read the result of an "
                           "all_reduce_start)")
    with waiting("all_reduce (of a compiled step)"):
        ticket.done.wait()
    if ticket.error is not None:
        raise ticket.error
    return buf
