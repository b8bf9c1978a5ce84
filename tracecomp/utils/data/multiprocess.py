"""The DataLoader iterator with worker processes (num_workers > 0), as torch's
_MultiProcessingDataLoaderIter, less pin-memory threads and datapipes.

Scheduling is torch's, so programs see the same order of batches: batch task k goes to the
next active worker round-robin; prefetch_factor * num_workers tasks are in flight; with
in_order=True (the default) batches come back in task order whichever worker finishes
first, with in_order=False as they arrive. For an IterableDataset every worker iterates
its own copy: batches interleave worker 0, 1, ..., and a worker whose copy is exhausted
drops out of the rotation. With persistent_workers the processes (and their dataset
copies) live across epochs; otherwise they stop when an epoch ends or the iterator is
garbage-collected. `timeout` bounds the wait for one batch (RuntimeError, as torch); a
worker that dies is reported as torch does.
"""
import atexit
import itertools
import multiprocessing
import multiprocessing.queues
import pickle
import queue
import warnings

from ...threads import get_num_threads
from ...user_code import user_stacklevel
from .fetch import _DatasetKind
from .iterators import _BaseDataLoaderIter
from .worker import (
    MP_STATUS_CHECK_INTERVAL,
    ExceptionWrapper,
    _IterableDatasetStopIteration,
    _ResumeIteration,
    _worker_loop,
    get_worker_info,
    register_reducers,
)

register_reducers()
_PICKLE_ERROR = ("Got pickle error when attempting to start a worker Process. This might be "
                 "because the worker Process arguments are not picklable. Python 3.14+ changed "
                 "the multiprocessing start method in non-Mac POSIX platforms to 'forkserver', "
                 "which requires the worker Process arguments to be picklable. You can also try "
                 "multiprocessing.set_start_method('fork').")
_python_exiting = []      # non-empty once the interpreter exits: workers are gone by then
atexit.register(_python_exiting.append, True)


class _ResultQueue(multiprocessing.queues.Queue):
    """The workers' result queue. A batch that cannot be sent (pickling fails in the queue's
    feeder thread: a lambda in the batch, a non-leaf tensor that requires grad) is replaced
    by its error, so the main process raises it instead of waiting forever."""

    def _on_queue_feeder_error(self, e, obj):
        info = get_worker_info()
        where = f"in DataLoader worker process {info.id if info else '?'}"
        self.put((obj[0], ExceptionWrapper((type(e), e, e.__traceback__), where=where)))


# each live iterator's index queues, reachable from here until its workers are shut down: an
# iterator left in a cycle (the traceback of a worker's error it raised) is collected with
# its queues, whose own finalizers then stop their feeder threads before the iterator's
# __del__ puts the None that tells each worker to exit, and each worker's join waited out
# its MP_STATUS_CHECK_INTERVAL (two workers: 10 s; torch's DataLoader does the same)
_OPEN_QUEUES = {}


class _MultiProcessingDataLoaderIter(_BaseDataLoaderIter):
    def __init__(self, loader):
        super().__init__(loader)
        self._prefetch_factor = loader.prefetch_factor
        self._in_order = loader.in_order
        if self._prefetch_factor <= 0:
            raise AssertionError("prefetch_factor must be greater than 0 for "
                                 "MultiProcessingDataLoaderIter")
        ctx = loader.multiprocessing_context or multiprocessing
        # Workers call set_num_threads(1), as torch's do. It needs the BLAS library found;
        # looking once here (~0.1 s, once per process) lets forked workers inherit the
        # answer instead of each paying ~0.3 s for it at every epoch.
        get_num_threads()
        self._worker_init_fn = loader.worker_init_fn
        self._worker_result_queue = _ResultQueue(ctx=ctx.get_context())
        self._shutdown = False
        self._workers_done_event = ctx.Event()
        self._index_queues, self._workers = [], []
        self._workers_status = [True] * self._num_workers
        for i in range(self._num_workers):
            index_queue = ctx.Queue()
            index_queue.cancel_join_thread()
            w = ctx.Process(target=_worker_loop, args=(
                self._dataset_kind, self._dataset, index_queue, self._worker_result_queue,
                self._workers_done_event, self._auto_collation, self._collate_fn,
                self._drop_last, self._base_seed, self._worker_init_fn, i, self._num_workers))
            w.daemon = True
            try:
                w.start()
            except (TypeError, AttributeError, pickle.PicklingError):
                warnings.warn(_PICKLE_ERROR, stacklevel=user_stacklevel())
                raise
            self._index_queues.append(index_queue)
            self._workers.append(w)
        self._data_queue = self._worker_result_queue
        _OPEN_QUEUES[id(self)] = self._index_queues
        self._reset(loader, first_iter=True)

    def _reset(self, loader, first_iter=False):
        super()._reset(loader, first_iter)
        self._send_idx = 0              # the next task to send to a worker
        self._rcvd_idx = 0              # the next task to return from __next__
        self._task_info = {}            # task -> (worker,) while pending, (worker, data) done
        self._tasks_outstanding = 0
        self._workers_status = [True] * self._num_workers
        self._workers_num_tasks = [0] * self._num_workers
        self._worker_queue_idx_cycle = itertools.cycle(range(self._num_workers))
        if not first_iter:              # persistent workers: restart their fetchers
            for q in self._index_queues:
                q.put(_ResumeIteration())
            resumed = 0
            while resumed < self._num_workers:
                return_idx, _ = self._get_data()
                if isinstance(return_idx, _ResumeIteration):
                    resumed += 1
        for _ in range(self._prefetch_factor * self._num_workers):
            self._try_put_index()

    def _try_get_data(self, timeout=MP_STATUS_CHECK_INTERVAL):
        try:
            return True, self._data_queue.get(timeout=timeout)
        except Exception as e:
            failed = []
            for k, w in enumerate(self._workers):
                if self._workers_status[k] and not w.is_alive():
                    failed.append(w)
                    self._mark_worker_as_unavailable(k)
            if failed:
                pids = ", ".join(str(w.pid) for w in failed)
                raise RuntimeError(f"DataLoader worker (pid(s) {pids}) exited "
                                   f"unexpectedly") from e
            if isinstance(e, queue.Empty):
                return False, None
            raise

    def _get_data(self):
        if self._timeout > 0:
            ok, data = self._try_get_data(self._timeout)
            if not ok:
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")
            return data
        while True:
            ok, data = self._try_get_data()
            if ok:
                return data

    def _next_data(self):
        while True:
            # skip tasks of workers that stopped (an exhausted iterable dataset copy)
            while self._rcvd_idx < self._send_idx:
                info = self._task_info.get(self._rcvd_idx)
                if info and (len(info) == 2 or self._workers_status[info[0]]):
                    break
                self._task_info.pop(self._rcvd_idx, None)
                self._rcvd_idx += 1
            else:
                if not self._persistent_workers:
                    self._shutdown_workers()
                raise StopIteration
            if len(self._task_info[self._rcvd_idx]) == 2:   # arrived earlier, out of order
                worker_id, data = self._task_info.pop(self._rcvd_idx)
                self._rcvd_idx += 1
                return self._process_data(data, worker_id)
            idx, data = self._get_data()
            self._tasks_outstanding -= 1
            if self._dataset_kind == _DatasetKind.Iterable and \
                    isinstance(data, _IterableDatasetStopIteration):
                if self._persistent_workers:
                    self._workers_status[data.worker_id] = False
                else:
                    self._mark_worker_as_unavailable(data.worker_id)
                self._try_put_index()
                continue
            if idx != self._rcvd_idx and self._in_order:
                self._task_info[idx] += (data,)
                continue
            worker_id = self._task_info.pop(idx)[0]
            if idx == self._rcvd_idx:
                self._rcvd_idx += 1
            return self._process_data(data, worker_id)

    def _try_put_index(self):
        max_tasks = self._prefetch_factor * self._num_workers
        try:
            index = self._next_index()
        except StopIteration:
            return
        for _ in range(self._num_workers):          # the next active worker, if any
            worker = next(self._worker_queue_idx_cycle)
            if self._workers_status[worker] and (
                    self._in_order or
                    self._workers_num_tasks[worker] < max_tasks // sum(self._workers_status)):
                break
        else:
            return
        self._index_queues[worker].put((self._send_idx, index))
        self._task_info[self._send_idx] = (worker,)
        self._workers_num_tasks[worker] += 1
        self._tasks_outstanding += 1
        self._send_idx += 1

    def _process_data(self, data, worker_idx):
        self._workers_num_tasks[worker_idx] -= 1
        self._try_put_index()
        if isinstance(data, ExceptionWrapper):
            data.reraise()
        return data

    def _mark_worker_as_unavailable(self, worker_id, shutdown=False):
        self._index_queues[worker_id].put(None)     # tells the worker to exit its loop
        self._workers_status[worker_id] = False

    def _shutdown_workers(self):
        if _python_exiting or self._shutdown:
            return
        self._shutdown = True
        try:
            self._workers_done_event.set()
            for worker_id in range(len(self._workers)):
                if self._persistent_workers or self._workers_status[worker_id]:
                    self._mark_worker_as_unavailable(worker_id, shutdown=True)
            for w in self._workers:
                w.join(timeout=MP_STATUS_CHECK_INTERVAL)
            for q in self._index_queues:
                q.cancel_join_thread()
                q.close()
        finally:
            for w in self._workers:
                if w.is_alive():
                    w.terminate()
                    w.join(timeout=MP_STATUS_CHECK_INTERVAL)
            _OPEN_QUEUES.pop(id(self), None)

    def __del__(self):
        if hasattr(self, "_workers"):
            self._shutdown_workers()
