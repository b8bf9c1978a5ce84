"""What happens when one rank fails: every rank stops, with that rank's error printed.

Without this, a rank that raises leaves the others blocked forever in their next
collective (mpi4py's exit handler calls MPI_Finalize on the failing rank, and nothing tells
the others). Two cures were possible:

  - collectives with a timeout (what torch's gloo and NCCL groups do): every wait becomes
    a polling loop over a nonblocking request, a slow rank (a long first compile, a big
    checkpoint written by rank 0) is indistinguishable from a dead one, so the timeout must
    be generous, and the survivors only notice after it has passed, with an error that
    says nothing about the cause;
  - an excepthook that prints the error and calls MPI_Abort (what `python -m mpi4py` does):
    mpiexec kills every rank within moments and exits non-zero, and the output holds the
    failing rank's own traceback, each line prefixed with `[rank N]`.

We take the second for a rank that raises. A rank that hangs without raising (a deadlock,
one that never calls the collective) needs the first after all, in a cheaper form:
watchdog.py aborts the job once a wait for a collective outlasts the group's timeout.

The hook is armed as soon as tracecomp.distributed is imported (which `import tracecomp`
does, through nn.parallel) in a process that mpiexec started with others (its PMI_SIZE /
OMPI_COMM_WORLD_SIZE say so): a rank that fails before init_process_group would otherwise
leave the others spinning in MPI_Init, which mpiexec does not interrupt. Such a hook has
to start MPI to abort; should the other processes never start MPI (several independent
programs under one mpiexec), an alarm ends this one after a few seconds instead, and the
others run on. init_process_group re-arms it with the group's rank and size;
destroy_process_group goes back to the import-time hook.

Not covered: a rank that hangs outside any collective (an endless loop in user code)
while the others wait for nothing. mpiexec's own timeout (MPIEXEC_TIMEOUT, set by
`tracecomp run --timeout`) bounds the whole job for that one.
"""
import os
import signal
import sys
import time
import traceback

ABORT_WATCHDOG_S = 10       # a pre-init abort that cannot reach MPI gives up after this
# mpiexec forwards a rank's output through its proxy, which MPI_Abort stops: a message
# written just before could be lost whole or in part (in about 1 run of 5). This long a
# pause before aborting let every one of 30 runs deliver it.
ABORT_FLUSH_S = 0.2
_original = None            # the excepthook before ours
_ours = None                # our hook while armed


def launched_size_and_rank():
    """(world size, rank) from the environment mpiexec gives its processes, or None."""
    for size, rank in (("PMI_SIZE", "PMI_RANK"), ("OMPI_COMM_WORLD_SIZE",
                                                  "OMPI_COMM_WORLD_RANK")):
        if os.environ.get(size, "").isdigit() and os.environ.get(rank, "").isdigit():
            return int(os.environ[size]), int(os.environ[rank])
    return None


def arm_if_launched():
    """Arm the hook in a process of a multi-process MPI job (import time)."""
    found = launched_size_and_rank()
    if found is not None and found[0] > 1:
        install(found[1], found[0])


def install(rank, size):
    """Make an uncaught exception on this rank abort the whole job (MPI_Abort)."""
    global _original, _ours
    if sys.excepthook is not _ours or _ours is None:
        _original = sys.excepthook

    def abort_all(kind, value, tb):
        try:
            text = "".join(traceback.format_exception(kind, value, tb))
            sys.stderr.write(f"[rank {rank}] tracecomp.distributed: rank {rank} of {size} "
                             f"raised {kind.__name__}; aborting every rank (MPI_Abort)\n")
            sys.stderr.write("".join(f"[rank {rank}] {line}\n"
                                     for line in text.rstrip("\n").split("\n")))
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            abort()

    _ours = abort_all
    sys.excepthook = abort_all


def abort():
    """End every rank of the job (MPI_Abort), after the caller's message is out."""
    if "mpi4py.MPI" not in sys.modules and hasattr(signal, "alarm"):
        # MPI not started yet: starting it may wait forever for processes that never start
        # it. MPI_Init runs holding the GIL, so no Python thread could end the wait: the
        # kernel's SIGALRM, left to its default action, ends the process instead.
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(ABORT_WATCHDOG_S)
    from mpi4py import MPI
    time.sleep(ABORT_FLUSH_S)
    MPI.COMM_WORLD.Abort(1)


def uninstall():
    """After destroy_process_group: back to the import-time hook under mpiexec, else to
    the excepthook that was there before (unless someone replaced ours since)."""
    global _ours
    if _ours is None or sys.excepthook is not _ours:
        return
    sys.excepthook = _original
    _ours = None
    arm_if_launched()
