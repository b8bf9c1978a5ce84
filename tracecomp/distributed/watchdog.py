"""The collectives' timeout: a rank that waits in a collective longer than the group's
timeout (init_process_group(timeout=), torch's 30 minutes by default for CPU groups) stops
the whole job with an error naming the collective, instead of waiting forever for a rank
that hangs without raising (a deadlock, a rank that skipped the collective).

A blocking MPI call cannot be interrupted from Python, so a daemon thread watches instead:
every wait for a collective says what it waits for (`with waiting("all_reduce"):`, a few
hundred nanoseconds), and the thread, waking a few times per timeout (at most once a
second), prints the error and calls MPI_Abort, which mpiexec turns into every rank's end
(faults.py does the same for a rank that raises). The timeout must be generous: a slow rank
(a long first compile, a big checkpoint written by rank 0) cannot be told from a dead one.
"""
import sys
import threading
import time
from contextlib import contextmanager

from . import faults

_armed = None       # the _Watch of the initialized group of several ranks, else None


class _Watch:
    def __init__(self, rank, size, timeout):
        self.rank, self.size, self.timeout = rank, size, timeout
        self.seconds = timeout.total_seconds()
        self.what, self.since = None, None      # the collective waited for, and since when
        self.stopped = threading.Event()
        period = min(max(self.seconds / 4, 0.05), 1.0)
        threading.Thread(target=self._watch, args=(period,), name="tracecomp-watchdog",
                         daemon=True).start()

    def _watch(self, period):
        while not self.stopped.wait(period):
            what, since = self.what, self.since
            if since is not None and time.monotonic() - since > self.seconds:
                self._expire(what)

    def _expire(self, what):
        sys.stderr.write(
            f"[rank {self.rank}] tracecomp.distributed: {what} waited longer than the process "
            f"group's timeout ({self.timeout}, init_process_group(timeout=...)): another of "
            f"the {self.size} ranks hangs or never called it; aborting every rank "
            f"(MPI_Abort)\n")
        sys.stderr.flush()
        faults.abort()


def arm(rank, size, timeout):
    """Watch this rank's collectives (init_process_group, in a group of several ranks)."""
    global _armed
    disarm()
    _armed = _Watch(rank, size, timeout)


def disarm():
    global _armed
    if _armed is not None:
        _armed.stopped.set()
        _armed = None


@contextmanager
def waiting(what):
    """Around a wait for collective `what`: past the group's timeout, the job is aborted."""
    watch = _armed
    if watch is None or watch.since is not None:    # alone, or already watched (nested)
        yield
        return
    watch.what, watch.since = what, time.monotonic()
    try:
        yield
    finally:
        watch.since = None
