"""torch.profiler: the profiler API of torch's performance recipes, on
tracecomp.autograd.profiler's recording (CPU time of each op, backward node, compiled call
and record_function span).

    with profile(activities=[ProfilerActivity.CPU], schedule=schedule(wait=1, warmup=1,
                 active=2), on_trace_ready=tensorboard_trace_handler("./log")) as prof:
        for batch in loader:
            train_step(batch)
            prof.step()

With a schedule, steps are skipped, warmed up (run, not kept) and recorded in turn;
on_trace_ready gets the profile at the end of each recorded cycle. Without one, everything
inside the block is recorded. ProfilerActivity.CUDA is taken and not measured.
"""
import enum
import os
import socket
import time

from .autograd.profiler import EventList, record_function  # noqa: F401
from .autograd.profiler import profile as _profile


class ProfilerActivity(enum.Enum):
    CPU = 0
    CUDA = 1
    XPU = 2
    MTIA = 3
    HPU = 4
    PrivateUse1 = 5


class ProfilerAction(enum.Enum):
    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3


def schedule(*, wait, warmup, active, repeat=0, skip_first=0, skip_first_wait=0):
    """torch.profiler.schedule: the action of step k (skip_first steps, then cycles of wait,
    warmup and active steps, `repeat` times; 0: for ever)."""
    if wait < 0 or warmup < 0 or active <= 0 or repeat < 0 or skip_first < 0:
        raise ValueError("Invalid profiler schedule arguments: wait, warmup, repeat and "
                         "skip_first must be >= 0 and active > 0")
    cycle = wait + warmup + active

    def action(step):
        if step < skip_first:
            return ProfilerAction.NONE
        step -= skip_first
        if repeat and step // cycle >= repeat:
            return ProfilerAction.NONE
        k = step % cycle
        if k < wait:
            return ProfilerAction.NONE
        if k < wait + warmup:
            return ProfilerAction.WARMUP
        return ProfilerAction.RECORD if k < cycle - 1 else ProfilerAction.RECORD_AND_SAVE
    return action


def _record_always(step):
    return ProfilerAction.RECORD


def tensorboard_trace_handler(dir_name, worker_name=None, use_gzip=False):
    """on_trace_ready that writes each recorded cycle as a Chrome trace into dir_name
    (`<worker>.<time>.pt.trace.json`, the name TensorBoard's profiler plugin lists)."""
    def handler(prof):
        os.makedirs(dir_name, exist_ok=True)
        worker = worker_name or f"{socket.gethostname()}_{os.getpid()}"
        path = os.path.join(dir_name, f"{worker}.{time.time_ns() // 1000000}.pt.trace.json")
        prof.export_chrome_trace(path)
        if use_gzip:
            import gzip
            with open(path, "rb") as f, gzip.open(path + ".gz", "wb") as g:
                g.write(f.read())
            os.remove(path)
    return handler


class profile(_profile):  # noqa: N801 - torch's name
    """torch.profiler.profile (see the module docstring)."""

    def __init__(self, *, activities=None, schedule=None, on_trace_ready=None,
                 record_shapes=False, profile_memory=False, with_stack=False,
                 with_flops=False, with_modules=False, experimental_config=None,
                 execution_trace_observer=None, acc_events=False, **_):
        super().__init__(record_shapes=record_shapes)
        self.activities = set(activities or (ProfilerActivity.CPU,))
        self.schedule = schedule or _record_always
        self.on_trace_ready = on_trace_ready
        self.step_num, self._recording, self._kept = 0, False, []

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        self.step_num, self._kept = 0, []
        self._apply(self.schedule(0))

    def stop(self):
        """The end of the block: the step under way counts as ended; what its cycle kept so
        far is the profile (and goes to on_trace_ready)."""
        self._end_step(self.schedule(self.step_num))
        self._apply(ProfilerAction.NONE)
        if self._kept:
            self._save()
        elif self.function_events is None:
            self.function_events = EventList()

    def step(self):
        """The end of a step: the schedule decides what the next one does."""
        action = self.schedule(self.step_num)
        self._end_step(action)
        if action == ProfilerAction.RECORD_AND_SAVE:
            self._save()
        self.step_num += 1
        self._apply(self.schedule(self.step_num))

    def _end_step(self, action):
        """Keep the step's events when it recorded; a warm-up step's are dropped."""
        if action in (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE):
            self._kept += self._events
        self._events = []

    def _save(self):
        self.function_events = EventList(sorted(self._kept, key=lambda e: e.start))
        self._kept = []
        if self.on_trace_ready is not None:
            self.on_trace_ready(self)

    def _apply(self, action):
        want = action != ProfilerAction.NONE
        if want and not self._recording:
            self._start_recording()
        elif not want and self._recording:
            self._stop_recording()
        self._recording = want

    def export_stacks(self, path, metric="self_cpu_time_total"):
        raise NotImplementedError("profile.export_stacks: tracecomp records no stacks; "
                                  "use export_chrome_trace or key_averages().table()")

    def export_memory_timeline(self, path, device=None):
        raise NotImplementedError("profile.export_memory_timeline: tracecomp's profiler "
                                  "measures CPU time only")


def supported_activities():
    return {ProfilerActivity.CPU}


__all__ = ["ProfilerAction", "ProfilerActivity", "profile", "record_function", "schedule",
           "supported_activities", "tensorboard_trace_handler"]

