"""The default process group: which MPI communicator the collectives use, and the rank
and world size of this process in it (torch.distributed's init_process_group and the
functions that ask about it).

MPI, through mpi4py, is the only transport: `mpiexec -n 4 python train.py` (or
`tracecomp run -n 4 train.py`) starts the processes, and MPI, not environment variables or
a rendezvous store, tells each its rank and the world size. mpi4py is imported (and so MPI
initialized) by init_process_group, not when tracecomp.distributed is imported, so a
program that never initializes a group never starts MPI.

The group's communicator is a duplicate of MPI_COMM_WORLD: a user's own mpi4py messages
on COMM_WORLD can never be matched with ours.
"""
import importlib.util
from dataclasses import dataclass
from datetime import timedelta

from . import faults, watchdog

# torch's names for the CPU backends; the transport is MPI whichever is asked for, so a
# program written for gloo runs unchanged
_CPU_BACKENDS = ("mpi", "gloo", "cpu:gloo", "cpu:mpi")
NOT_INITIALIZED = ("Default process group has not been initialized, please make sure to "
                   "call init_process_group.")


@dataclass
class ProcessGroup:
    """A set of ranks that run collectives together: here only the world."""
    comm: object            # an mpi4py Intracomm (a duplicate of COMM_WORLD)
    rank: int
    size: int
    timeout: timedelta
    comm_thread: object = None  # the CommThread of a group of several ranks (comm_thread.py)

    def __repr__(self):
        return f"<ProcessGroup mpi rank={self.rank} size={self.size}>"


_default = None     # the ProcessGroup after init_process_group, None before and after destroy


def is_available():
    """True when mpi4py can be imported; it is not imported (MPI is not started) here."""
    return importlib.util.find_spec("mpi4py") is not None


def is_mpi_available():
    return is_available()


def is_gloo_available():
    return False


def is_nccl_available():
    return False


def is_initialized():
    return _default is not None


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1,
                       store=None, group_name="", pg_options=None, device_id=None):
    """Join the default group of every process mpiexec started (torch's signature).

    MPI gives the rank and world size; `world_size` and `rank`, when given, must agree with
    it. `init_method` and `store` (torch's rendezvous) have nothing to do under MPI and are
    ignored. `timeout` (torch's 30 minutes by default) bounds every wait for a collective:
    past it, the job is aborted with an error naming the collective (watchdog.py)."""
    global _default
    if _default is not None:
        raise ValueError("trying to initialize the default process group twice!")
    name = "mpi" if backend is None else str(backend).lower()
    if name not in _CPU_BACKENDS:
        raise RuntimeError(f"init_process_group(backend={backend!r}): tracecomp's only "
                           f"backend is MPI (use backend='mpi'; 'gloo' is accepted and runs "
                           f"on MPI too)")
    if not is_available():
        raise RuntimeError("init_process_group(backend='mpi') needs mpi4py and an MPI "
                           "library: pip install 'tracecomp[distributed]' (mpi4py, mpich)")
    from mpi4py import MPI
    comm = MPI.COMM_WORLD.Dup()
    _check_given("world_size", world_size, comm.Get_size())
    _check_given("rank", rank, comm.Get_rank())
    if timeout is None:
        timeout = timedelta(minutes=30)     # torch's default for CPU groups
    _default = ProcessGroup(comm, comm.Get_rank(), comm.Get_size(), timeout)
    if _default.size > 1:       # alone, an error has nobody to stop: Python reports it
        faults.install(_default.rank, _default.size)
        watchdog.arm(_default.rank, _default.size, timeout)
        from .comm_thread import CommThread, threads_allowed
        if threads_allowed(MPI):
            _default.comm_thread = CommThread(_default)


def _check_given(what, given, actual):
    if given is not None and given != -1 and given != actual:
        raise ValueError(f"init_process_group({what}={given}) but MPI says {what} is "
                         f"{actual}: under MPI the launcher decides it (mpiexec -n N / "
                         f"tracecomp run -n N); leave {what} out")


def default_group():
    """The initialized default group, or torch's error."""
    if _default is None:
        raise ValueError(NOT_INITIALIZED)
    return _default


def resolve(group):
    """The ProcessGroup a collective's `group=` argument names (None: the default)."""
    if group is None or group is GroupMember.WORLD:
        return default_group()
    if isinstance(group, ProcessGroup):
        return group
    raise NotImplementedError(f"group={group!r}: tracecomp.distributed has only the default "
                              f"group (new_group is not supported yet); pass group=None")


def get_rank(group=None):
    return resolve(group).rank


def get_world_size(group=None):
    return resolve(group).size


def get_backend(group=None):
    resolve(group)
    return "mpi"


def get_default_timeout():
    return default_group().timeout


def destroy_process_group(group=None):
    """Leave the default group. MPI itself stays initialized (it cannot be started twice in
    one process; mpi4py finalizes it at exit), so init_process_group may be called again."""
    global _default
    pg = resolve(group)
    faults.uninstall()
    watchdog.disarm()
    _default = None
    if pg.comm_thread is not None:
        pg.comm_thread.close()
    pg.comm.Free()


class GroupMember:
    """torch.distributed.GroupMember: WORLD stands for the default group."""
    WORLD = object()
    NON_GROUP_MEMBER = object()
