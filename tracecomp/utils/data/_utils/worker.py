"""torch.utils.data._utils.worker's names (the code is in ../worker.py)."""
from ..worker import (  # noqa: F401
    ManagerWatchdog,
    WorkerInfo,
    _generate_state,
    _IterableDatasetStopIteration,
    _ResumeIteration,
    _worker_loop,
    get_worker_info,
)
