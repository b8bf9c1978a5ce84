"""The collectives (torch.distributed's all_reduce, broadcast, all_gather, reduce_scatter,
reduce, barrier and their _tensor forms), each one MPI call on the tensors' memory.

Every collective works in place on its output tensors, as torch's do: the result is
written into the tensor's own array (through a contiguous copy when the tensor is a
strided view, copied back when the call completes) and the tensor's version counter moves
on, so autograd notices a saved tensor that was overwritten. Autograd does not record the
call (torch's c10d collectives are not differentiable either).

`async_op=True` starts MPI's nonblocking form (Iallreduce, ...) and returns a Work; the
tensors hold the result once `work.wait()` returns. Without it the call blocks and returns
None. Everything that can be refused (a bad op for the dtype, a wrong list length or
shape) is refused before any message is sent, so a rank that raises never leaves its peers
half way through a collective (they are stopped by faults.py's abort instead of hanging).

Inside `tracecomp.compile`, all_reduce and all_gather (all_gather_into_tensor) of a
traced tensor record the `all_reduce` / `all_gather` primitive (ops/collective.py)
instead: the collective is part of the compiled graph.
"""
import numpy as np

from ..device_array import DeviceArray
from .process_group import resolve
from .reduce_op import ReduceOp, finish_avg, mpi_op, plan, reduce_array
from .watchdog import waiting


class Work:
    """torch.distributed's Work: a collective in flight (or already done). wait() takes
    torch's timeout argument and does not enforce it (a failing rank aborts the job
    instead: faults.py)."""

    def __init__(self, request, finish, result, what="collective"):
        self._request, self._finish, self._result = request, finish, result
        self._done, self._what = False, what

    def _complete(self):
        self._done = True
        if self._finish is not None:
            self._finish()

    def wait(self, timeout=None):
        """Block until the collective is done and its results are in the tensors."""
        if not self._done:
            if self._request is not None:
                with waiting(self._what):
                    self._request.Wait()
            self._complete()
        return True

    def is_completed(self):
        if not self._done and (self._request is None or self._request.Test()):
            self._complete()
        return self._done

    def is_success(self):
        return self.is_completed()

    def exception(self):
        return None

    def result(self):
        return list(self._result)

    def synchronize(self):
        self.wait()


class Staged:
    """A tensor's memory as one C-contiguous array MPI can read and write; `commit()`
    copies it back when it is a copy, and bumps the tensor's version."""

    def __init__(self, tensor, what, write=True):
        data = host_array(tensor, what)
        if write and not data.flags.writeable:
            raise RuntimeError(f"{what}: the output tensor is a read-only or expanded view; "
                               f"pass a tensor that owns its memory (.clone())")
        self.tensor, self.data = tensor, data
        self.buf = data if data.flags.c_contiguous else np.ascontiguousarray(data)

    def commit(self):
        if self.buf is not self.data:
            np.copyto(self.data, self.buf)
        self.tensor._vc[0] += 1


def host_array(tensor, what):
    """The numpy array behind a CPU tensor; a clear error for anything else."""
    data = tensor._data
    if type(data) is np.ndarray:
        return data
    if type(data) is DeviceArray:
        raise RuntimeError(f"{what}: the tensor is on {tensor.device}; tracecomp.distributed "
                           f"runs its collectives on CPU tensors (call .cpu() first)")
    raise RuntimeError(f"{what} of a traced tensor: only all_reduce and all_gather are "
                       f"recorded into a compiled graph; call {what} outside "
                       f"tracecomp.compile")


def _traced(*tensors):
    """Is any of them a graph value (a collective inside tracecomp.compile)?"""
    return any(type(t._data) is not np.ndarray and type(t._data) is not DeviceArray
               for t in tensors)


def issue(what, async_op, blocking, nonblocking, finish, result):
    """Run collective `what` now (returns None) or start it (returns its Work)."""
    if async_op:
        return Work(nonblocking(), finish, result, what)
    with waiting(what):
        blocking()
    finish()
    return None


def _reduction(op, dtype):
    name, avg = plan(op, dtype)
    return mpi_op(name), avg


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce `tensor` over every rank; every rank's tensor holds the result."""
    pg = resolve(group)
    if _traced(tensor):
        from .traced import all_reduce_traced
        return all_reduce_traced(tensor, op, async_op)
    st = Staged(tensor, "all_reduce")
    if not async_op:
        with waiting("all_reduce"):
            reduce_array(pg, st.buf, op)
        st.commit()
        return None
    mop, avg = _reduction(op, tensor._data.dtype)
    from mpi4py import MPI

    def finish():
        if avg:
            finish_avg(st.buf, pg.size)
        st.commit()
    return Work(pg.comm.Iallreduce(MPI.IN_PLACE, st.buf, mop), finish, [tensor], "all_reduce")


def _check_rank(pg, rank, what, role):
    if not isinstance(rank, int) or not 0 <= rank < pg.size:
        raise RuntimeError(f"{what}: invalid {role} rank: {rank} (the world has ranks 0.."
                           f"{pg.size - 1})")


def broadcast(tensor, src=None, group=None, async_op=False, group_src=None):
    """Every rank's tensor takes rank src's values."""
    pg = resolve(group)
    src = group_src if src is None else src
    _check_rank(pg, src, "broadcast", "root")
    st = Staged(tensor, "broadcast")
    return issue("broadcast", async_op, lambda: pg.comm.Bcast(st.buf, root=src),
                 lambda: pg.comm.Ibcast(st.buf, root=src), st.commit, [tensor])


def reduce(tensor, dst=None, op=ReduceOp.SUM, group=None, async_op=False, group_dst=None):
    """Reduce over every rank into rank dst's tensor; the others' tensors are unchanged."""
    pg = resolve(group)
    dst = group_dst if dst is None else dst
    _check_rank(pg, dst, "reduce", "root")
    mop, avg = _reduction(op, tensor._data.dtype)
    st = Staged(tensor, "reduce")
    from mpi4py import MPI
    root = pg.rank == dst
    send, recv = (MPI.IN_PLACE, st.buf) if root else (st.buf, None)

    def finish():
        if root:
            if avg:
                finish_avg(st.buf, pg.size)
            st.commit()
    return issue("reduce", async_op, lambda: pg.comm.Reduce(send, recv, mop, root=dst),
                 lambda: pg.comm.Ireduce(send, recv, mop, root=dst), finish, [tensor])


def _check_list(pg, tensors, like, what, kind):
    """tensors has one tensor per rank, each of like's shape and dtype (torch's checks)."""
    if len(tensors) != pg.size:
        raise RuntimeError(f"{what}: the {kind} list has {len(tensors)} tensors but the "
                           f"world has {pg.size} ranks (one tensor per rank)")
    for i, t in enumerate(tensors):
        if tuple(t.shape) != tuple(like.shape) or t._data.dtype != like._data.dtype:
            raise RuntimeError(f"{what}: invalid tensor size or type at index {i} of the "
                               f"{kind} list: expected {like.dtype}{list(like.shape)}, got "
                               f"{t.dtype}{list(t.shape)}")


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """tensor_list[r] takes rank r's tensor, on every rank."""
    pg = resolve(group)
    _check_list(pg, tensor_list, tensor, "all_gather", "output")
    if _traced(tensor, *tensor_list):
        from .traced import all_gather_traced
        return all_gather_traced(list(tensor_list), tensor, async_op)
    send = np.ascontiguousarray(host_array(tensor, "all_gather"))
    outs = [Staged(t, "all_gather") for t in tensor_list]
    recv = np.empty((pg.size,) + send.shape, send.dtype)

    def finish():
        for r, st in enumerate(outs):
            st.buf[...] = recv[r]
            st.commit()
    return issue("all_gather", async_op, lambda: pg.comm.Allgather(send, recv),
                 lambda: pg.comm.Iallgather(send, recv), finish, list(tensor_list))


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """output (world_size * n rows, or world_size stacked copies) takes every rank's input,
    in rank order."""
    pg = resolve(group)
    n = input_tensor.numel()
    if output_tensor.numel() != pg.size * n or output_tensor.dtype != input_tensor.dtype:
        raise RuntimeError(f"all_gather_into_tensor: the output must hold world_size ("
                           f"{pg.size}) copies of the input {input_tensor.dtype}"
                           f"{list(input_tensor.shape)}, got {output_tensor.dtype}"
                           f"{list(output_tensor.shape)}")
    if _traced(input_tensor, output_tensor):
        from .traced import all_gather_traced
        return all_gather_traced(output_tensor, input_tensor, async_op)
    send = np.ascontiguousarray(host_array(input_tensor, "all_gather_into_tensor"))
    st = Staged(output_tensor, "all_gather_into_tensor")
    return issue("all_gather_into_tensor", async_op, lambda: pg.comm.Allgather(send, st.buf),
                 lambda: pg.comm.Iallgather(send, st.buf), st.commit, [output_tensor])


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """output takes the reduction over every rank of input_list[this rank]."""
    pg = resolve(group)
    _check_list(pg, input_list, output, "reduce_scatter", "input")
    mop, avg = _reduction(op, output._data.dtype)
    send = np.stack([host_array(t, "reduce_scatter") for t in input_list])
    return _reduce_scatter(pg, output, send, mop, avg, async_op)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """output takes the reduction over every rank of this rank's block of input (input has
    world_size blocks of output's size, in rank order)."""
    pg = resolve(group)
    if input.numel() != pg.size * output.numel() or output.dtype != input.dtype:
        raise RuntimeError(f"reduce_scatter_tensor: the input must hold world_size ("
                           f"{pg.size}) blocks of the output {output.dtype}"
                           f"{list(output.shape)}, got {input.dtype}{list(input.shape)}")
    mop, avg = _reduction(op, output._data.dtype)
    send = np.ascontiguousarray(host_array(input, "reduce_scatter_tensor"))
    return _reduce_scatter(pg, output, send, mop, avg, async_op)


def _reduce_scatter(pg, output, send, mop, avg, async_op):
    st = Staged(output, "reduce_scatter")

    def finish():
        if avg:
            finish_avg(st.buf, pg.size)
        st.commit()
    return issue("reduce_scatter", async_op,
                 lambda: pg.comm.Reduce_scatter_block(send, st.buf, mop),
                 lambda: pg.comm.Ireduce_scatter_block(send, st.buf, mop), finish, [output])


def barrier(group=None, async_op=False, device_ids=None):
    """Return once every rank has called barrier."""
    pg = resolve(group)
    return issue("barrier", async_op, pg.comm.Barrier, pg.comm.Ibarrier, lambda: None, [])
