"""DataLoader worker processes, as torch.utils.data._utils.worker: what runs inside a
worker, get_worker_info(), and how tensors cross between processes.

A worker is a real process (multiprocessing, fork by default on Linux, as torch). It gets
its own copy of the dataset, seeds Python's `random`, tracecomp's global generator (with
base_seed + worker_id) and numpy's legacy global RNG (torch's _generate_state hash), sets
get_worker_info(), calls worker_init_fn(worker_id), then loops: take (task_idx, indices)
from its index queue, fetch and collate the batch, put (task_idx, batch) on the shared
result queue. An exception is sent back wrapped (ExceptionWrapper) and re-raised in the
main process as torch does ("Caught ValueError in DataLoader worker process 1. Original
Traceback ..."); an exhausted iterable dataset sends _IterableDatasetStopIteration.

Tensors cross the process boundary through multiprocessing's ForkingPickler (the pickler
of its queues), for which tracecomp.Tensor and nn.Parameter get a reducer here, as torch
registers its own: the array's bytes are copied through the pipe (torch moves them to
shared memory instead; for CPU batches of typical sizes the copy costs a fraction of the
collate). Plain `pickle` still refuses tensors (use tracecomp.save).
"""
import os
import queue
import random
import sys
import traceback
from dataclasses import dataclass

import numpy as np

from ...creation import manual_seed
from ...threads import set_num_threads
from .fetch import _DatasetKind

MP_STATUS_CHECK_INTERVAL = 5.0      # seconds between liveness checks, torch's value
_worker_info = None


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """What get_worker_info() returns inside a worker: its id, the number of workers, its
    seed (base_seed + id) and its own copy of the dataset."""
    id: int
    num_workers: int
    seed: int
    dataset: object
    rng: object = None
    worker_method: str = "multiprocessing"


def get_worker_info():
    """The WorkerInfo of this DataLoader worker process; None in the main process."""
    return _worker_info


@dataclass(frozen=True)
class _IterableDatasetStopIteration:
    worker_id: int


@dataclass(frozen=True)
class _ResumeIteration:
    seed: object = None


class KeyErrorMessage(str):
    """A KeyError's message that prints as itself (KeyError repr()s its argument)."""

    __slots__ = ()

    def __repr__(self):
        return self


class ExceptionWrapper:
    """An exception and its formatted traceback, to re-raise in another process."""

    def __init__(self, exc_info=None, where="in background"):
        exc_info = exc_info or sys.exc_info()
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def reraise(self):
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = KeyErrorMessage(msg)
        elif getattr(self.exc_type, "message", None):
            raise self.exc_type(message=msg)
        try:
            exception = self.exc_type(msg)
        except Exception:
            raise RuntimeError(msg) from None
        raise exception


# --- tensors through multiprocessing queues ----------------------------------------------
def register_reducers():
    """Tensors cross to workers and back through tracecomp.multiprocessing's reducer (one for
    every pickling multiprocessing does: a second one registered here replaced it, so a
    shared model handed to a process spawned after a DataLoader ran arrived as a copy)."""
    from ... import multiprocessing  # noqa: F401  (registers it on import)


# --- the worker --------------------------------------------------------------------------
def _generate_state(base_seed, worker_id):
    """torch's numpy seed for a worker: four 32-bit words hashed from (worker_id,
    base_seed), after numpy's SeedSequence mixing (the same numbers as torch's workers)."""
    mask = 0xFFFFFFFF
    init_a, mult_a, init_b, mult_b = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
    mix_l, mix_r, shift = 0xCA01F9DD, 0x4973F715, 16
    entropy = [worker_id, base_seed & mask, base_seed >> 32, 0]
    hash_a = init_a

    def hash_(value):
        nonlocal hash_a
        value = (value ^ hash_a) & mask
        hash_a = (hash_a * mult_a) & mask
        value = (value * hash_a) & mask
        return (value ^ (value >> shift)) & mask

    def mix(x, y):
        result = (((mix_l * x) & mask) - ((mix_r * y) & mask)) & mask
        return (result ^ (result >> shift)) & mask

    pool = [hash_(e) for e in entropy]
    for i_src in range(4):
        for i_dst in range(4):
            if i_src != i_dst:
                pool[i_dst] = mix(pool[i_dst], hash_(pool[i_src]))
    hash_b, state = init_b, []
    for value in pool:
        value = (value ^ hash_b) & mask
        hash_b = (hash_b * mult_b) & mask
        value = (value * hash_b) & mask
        state.append((value ^ (value >> shift)) & mask)
    return state


class ManagerWatchdog:
    """Tells a worker whether the process that started it is still alive."""

    def __init__(self):
        self.manager_pid = os.getppid()
        self.manager_dead = False

    def is_alive(self):
        if not self.manager_dead:
            self.manager_dead = os.getppid() != self.manager_pid
        return not self.manager_dead


def _worker_loop(dataset_kind, dataset, index_queue, data_queue, done_event, auto_collation,
                 collate_fn, drop_last, base_seed, init_fn, worker_id, num_workers):
    """The body of a worker process (torch's _worker_loop, less datapipes)."""
    try:
        set_num_threads(1)              # as torch: workers do not oversubscribe the cores
        seed = base_seed + worker_id
        random.seed(seed)
        manual_seed(seed)
        np.random.seed(_generate_state(base_seed, worker_id))
        global _worker_info
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed,
                                  dataset=dataset)
        init_exception = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = _DatasetKind.create_fetcher(dataset_kind, dataset, auto_collation,
                                                  collate_fn, drop_last)
        except Exception:
            init_exception = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
        iteration_end = False
        watchdog = ManagerWatchdog()
        while watchdog.is_alive():
            try:
                r = index_queue.get(timeout=MP_STATUS_CHECK_INTERVAL)
            except queue.Empty:
                continue
            if isinstance(r, _ResumeIteration):        # persistent workers: a new epoch
                data_queue.put((r, None))
                iteration_end = False
                fetcher = _DatasetKind.create_fetcher(dataset_kind, dataset, auto_collation,
                                                      collate_fn, drop_last)
                continue
            if r is None:                               # the main process says stop
                break
            if done_event.is_set() or iteration_end:
                continue
            idx, index = r
            if init_exception is not None:
                data, init_exception = init_exception, None
            else:
                try:
                    data = fetcher.fetch(index)
                except Exception as e:
                    if isinstance(e, StopIteration) and dataset_kind == _DatasetKind.Iterable:
                        data = _IterableDatasetStopIteration(worker_id)
                        iteration_end = True
                    else:
                        data = ExceptionWrapper(
                            where=f"in DataLoader worker process {worker_id}")
            data_queue.put((idx, data))
            del data, idx, index, r
    except KeyboardInterrupt:
        pass
    if done_event.is_set():
        data_queue.cancel_join_thread()
        data_queue.close()
