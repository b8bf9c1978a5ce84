"""What `tracecomp bench` prints and writes: the machine, one markdown table per workload,
the JSON of every number, and a PNG bar chart when matplotlib is installed."""
import dataclasses
import importlib
import json
import os
import platform
import time

import numpy as np

# cores kept busy by other processes or taken by the hypervisor (steal) above which a
# workload's table says it was noisy
NOISY_CORES = 0.25
COLUMNS = ("contestant", "median", "min", "vs tracecomp eager", "vs torch eager", "{unit}",
           "compile", "break-even", "check")


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name):
    try:
        return importlib.import_module(name).__version__
    except Exception:       # noqa: BLE001 - not installed, or broken: either way, no version
        return None


def machine():
    """The facts a reader needs to compare two runs: CPU, cores, versions, threads, load."""
    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "llvmlite": _version("llvmlite"),
            "torch": _version("torch"), "matplotlib": _version("matplotlib")}
    try:
        blas = importlib.import_module("tracecomp.codegen.llvm.gemm.blas").threads()
        info["blas_library"] = os.path.basename(blas["library"] or "") or None
        info["blas_threads"] = blas["num_threads"]
        info["blas_kernels"] = blas["corename"]
        info["openblas_env"] = {k: v for k, v in os.environ.items()
                                if k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    except Exception as exc:    # noqa: BLE001 - the backend is optional for the report
        info["blas_threads"] = f"unknown ({type(exc).__name__})"
    if info["torch"]:
        import torch
        info["torch_threads"] = torch.get_num_threads()
    if hasattr(os, "getloadavg"):
        info["load_average_1min"] = round(os.getloadavg()[0], 2)
    busy = busy_cores()
    if busy is not None:
        info["busy_cores_before"] = busy.others
        info["stolen_cores_before"] = busy.stolen
    info["python_loop_mhz"] = python_speed()
    return info


def python_speed(rounds=7):
    """Millions of iterations per second of a fixed pure-Python loop (a dict store and an
    add per iteration), the best of `rounds`: a call's overhead and a compile's tracing and
    passes are Python, so two runs' figures compare only at about equal speeds here. The
    same kind of 2-vCPU VM measured 1.4x apart on different days (znver3, session notes)."""
    best = float("inf")
    for _ in range(rounds):
        table, total = {}, 0
        start = time.perf_counter()
        for i in range(100_000):
            table[i & 255] = i
            total += i
        best = min(best, time.perf_counter() - start)
    return round(0.1 / best, 1)


def _cpu_seconds():
    """(seconds all cores spent busy, seconds the hypervisor took from them (steal), seconds
    this process spent) so far, or None. /proc/stat's first line counts user, nice, system,
    idle, iowait, irq, softirq, steal, guest, guest_nice: guest time is already in user and
    nice, and steal is time a vCPU wanted to run and the host ran something else."""
    try:
        with open("/proc/stat", encoding="utf-8") as f:
            busy, steal = busy_and_steal(f.readline())
    except (OSError, ValueError):
        return None
    own, tick = os.times(), os.sysconf("SC_CLK_TCK")
    return busy / tick, steal / tick, own.user + own.system


def busy_and_steal(line):
    """(busy ticks, stolen ticks) of /proc/stat's `cpu ...` line: user + nice + system +
    irq + softirq, and steal (0 from a kernel too old to count it)."""
    fields = [int(v) for v in line.split()[1:]] + [0] * 8
    return sum(fields[k] for k in (0, 1, 2, 5, 6)), fields[7]


@dataclasses.dataclass
class Load:
    """Cores kept busy by other processes, and cores the hypervisor took (steal), on
    average over a stretch of time."""
    others: float
    stolen: float

    def noise(self):
        return self.others + self.stolen

    def describe(self):
        """'other processes kept 0.3 cores busy and the hypervisor took 0.2 cores (steal)',
        naming only what was there."""
        return " and ".join([f"other processes kept {self.others} cores busy"] *
                            (self.others > 0) +
                            [f"the hypervisor took {self.stolen} cores (steal)"] *
                            (self.stolen > 0))


class OtherLoad:
    """What else ran between start() and load(): Linux only (None elsewhere). Noise the
    report can name, instead of leaving it in the numbers. On the 2-vCPU VMs we measure on,
    compiled LeNet inference with 2 BLAS threads ran 1.5-1.9 ms per call for seconds, then
    4.4-5.0 ms for seconds, in one process; `top` showed 33 % steal in a slow stretch, and
    the same run on one thread never slowed so."""

    def start(self):
        self.t0, self.cpu0 = time.perf_counter(), _cpu_seconds()
        return self

    def load(self):
        cpu1, wall = _cpu_seconds(), time.perf_counter() - self.t0
        if cpu1 is None or self.cpu0 is None or wall <= 0:
            return None
        others = (cpu1[0] - self.cpu0[0]) - (cpu1[2] - self.cpu0[2])
        return Load(round(max(0.0, others / wall), 2),
                    round(max(0.0, (cpu1[1] - self.cpu0[1]) / wall), 2))


def busy_cores(seconds=0.3):
    """What else keeps the cores busy now (a Load), measured over `seconds`. Unlike the
    load average, which trails by minutes, this is the load at the start of the run."""
    meter = OtherLoad().start()
    time.sleep(seconds)
    return meter.load()


def machine_lines(info):
    blas = f"BLAS threads: {info.get('blas_threads')}"
    if info.get("blas_library"):
        blas += f" ({info['blas_library']}, {info.get('blas_kernels')} kernels)"
    torch = f"torch {info['torch']} (threads: {info.get('torch_threads')})" if info["torch"] \
        else "torch not installed"
    stolen = info.get("stolen_cores_before")
    where = (f"machine: {info['cpu']}, {info['cores']} cores, "
             f"{info.get('busy_cores_before', '?')} of them busy before the run"
             + (f", {stolen} taken by the hypervisor (steal)" if stolen else "")
             + f" (load average {info.get('load_average_1min', '?')})")
    versions = (f"versions: Python {info['python']}, numpy {info['numpy']}, llvmlite "
                f"{info['llvmlite']}, {torch}; {blas}")
    lines = [where, versions]
    if info.get("python_loop_mhz"):
        lines.append(f"host speed: a fixed Python loop ran {info['python_loop_mhz']} M "
                     f"iterations/s (python_speed; compare runs of similar speed)")
    if info.get("gpu"):
        lines.append(f"GPU: {info['gpu']} (the models, inputs and compiled code run there)")
    forced = info.get("openblas_env")
    if forced:
        # numpy's OpenBLAS then runs these kernels whatever the CPU: every GEMM, ours (which
        # calls it) and numpy's, is as fast as they are; a newer CPU may run twice as fast
        settings = " ".join(f"{k}={v}" for k, v in sorted(forced.items()))
        lines.append(f"note: {settings} is set, so numpy's OpenBLAS (which tracecomp's "
                     f"compiled products call) runs {info.get('blas_kernels')} kernels whatever "
                     f"the CPU; to measure its own, unset both for this command (see the "
                     f"README)")
    return lines


def fmt_time(s):
    if s is None:
        return "—"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.2f} s"


def _ratio(x):
    return "—" if x is None else f"{x:.2f}×"


def row(r, unit):
    if not r.ok:
        reason = r.status
        return [r.name, reason] + ["—"] * 6 + [_check_cell(r)]
    if r.baseline is None:
        compile_cell = breakeven = "—"
    else:
        # the first calls were no slower than steady ones: whatever compiling cost is noise
        compile_cell = fmt_time(r.compile_s) if r.compile_s else "≈0"
        breakeven = "never" if r.break_even is None else f"{r.break_even:,} calls"
    throughput = "—" if r.throughput is None else f"{r.throughput:.3g}"
    return [r.name, fmt_time(r.median_s), fmt_time(r.min_s), _ratio(r.vs_eager),
            _ratio(r.vs_torch_eager), throughput if unit else "—", compile_cell, breakeven,
            _check_cell(r)]


def _check_cell(r):
    if r.check.startswith("MISMATCH"):
        return f"**{r.check}**"
    if r.check == "OK":
        return f"OK ({r.max_err:.1g})"
    return r.check or "—"


def memory_cell(r):
    """Step memory and its ratio to torch eager's, or why there is none."""
    if r.step_bytes is None:
        return r.memory_note or "—"
    ratio = "" if r.memory_vs_torch is None else f" ({r.memory_vs_torch:.2f}×)"
    return f"{r.step_bytes / 2**20:.2f} MB{ratio}"


def table(workload, results, rounds, load=None):
    """The markdown section of one workload; a step-memory column when it was measured."""
    header = [c.format(unit=workload.unit or "throughput") for c in COLUMNS]
    rows = [row(r, workload.unit) for r in results]
    if any(r.step_bytes is not None or r.memory_note for r in results):
        header.insert(-1, "step memory (vs torch eager)")
        for cells, r in zip(rows, results):
            cells.insert(-1, memory_cell(r))
    lines = [f"### {workload.title}", ""]
    lines += ["| " + " | ".join(header) + " |", "|---|" + "--:|" * (len(header) - 2) + "---|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    counts = sorted({r.calls_per_round for r in results if r.ok and r.calls_per_round})
    calls = "-".join(map(str, counts[::max(1, len(counts) - 1)])) if counts else "0"
    lines += ["", f"{rounds} rounds of {calls} calls per contestant." +
              (f" {workload.note}." if workload.note else "")]
    if workload.copy_gbs:
        shares = ", ".join(f"{r.name} {r.of_copy:.0%}" for r in results if r.of_copy)
        how = "of this host, numpy copying one such array (one thread)" \
            if workload.copy_device == "cpu" else \
            "of the GPU, the driver copying one such array from device to device"
        lines += ["", f"Copy bandwidth {how} in the same rounds (read and write): "
                      f"{workload.copy_gbs:.1f} GB/s. Throughput as a share of it: {shares}."]
    if load is not None and load.noise() >= NOISY_CORES:
        lines += ["", f"**Noisy:** {load.describe()} while this workload ran: its timings "
                      f"are not to be trusted."]
    return "\n".join(lines)


def legend(memory=False):
    return ("Times are per call: median and min over rounds. Ratios divide a contestant's "
            "median by tracecomp eager's or torch eager's (below 1 is faster). `compile` is "
            "the first two calls (with building the model) minus two steady calls, on-disk "
            "caches included (tracecomp's and torch inductor's survive between runs: set "
            "TRACECOMP_CACHE=0 and a fresh TORCHINDUCTOR_CACHE_DIR for cold compiles); "
            "`<backend> step` compiles the whole training step, not only the model; "
            "break-even is "
            "compile / (eager - compiled), the calls after which compiling has paid for "
            "itself. `check` compares the first output (and a training step's gradients) "
            "with tracecomp eager's, rtol 1e-4; the number is the largest difference "
            "relative to the largest |value|." + (
                " Step memory: the heap one training step uses (its peak above what was in "
                "use before it, plus what compiled code keeps between steps: arenas, reused "
                "output buffers), in a process of its own per contestant; torch and "
                "tracecomp eager free the old gradients in zero_grad() before making new "
                "ones, so theirs count net of them." if memory else ""))


def mismatches(all_results):
    return [(w, r) for w, results in all_results for r in results
            if r.check.startswith("MISMATCH")]


def to_json(info, settings, all_results, loads):
    return {"machine": info, "settings": settings, "workloads": [
        {"key": w.key, "group": w.group, "title": w.title, "unit": w.unit, "work": w.work,
         "note": w.note, "copy_gbs": w.copy_gbs, "other_processes_cores": load and load.others,
         "stolen_cores": load and load.stolen,
         "contestants": [dataclasses.asdict(r) for r in results]}
        for (w, results), load in zip(all_results, loads)]}


def write_json(path, data):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, allow_nan=False, default=str)
        f.write("\n")


def write_png(path, all_results):
    """A bar chart per workload of each contestant's median time, relative to tracecomp
    eager (so every panel shares one scale); False when matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")    # no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    panels = [(w, [r for r in results if r.vs_eager]) for w, results in all_results]
    panels = [(w, rs) for w, rs in panels if rs]
    cols = min(3, len(panels)) or 1
    rows = (len(panels) + cols - 1) // cols or 1
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 0.5 + 2.6 * rows),
                             squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (w, rs) in zip(axes.flat, panels):
        names = [r.name for r in rs][::-1]
        values = [r.vs_eager for r in rs][::-1]
        colors = ["tab:green" if "tracecomp" in n and n != "tracecomp eager" else "tab:gray"
                  for n in names]
        ax.barh(names, values, color=colors)
        for y, (v, r) in enumerate(zip(values, rs[::-1])):
            ax.text(v, y, f" {fmt_time(r.median_s)}", va="center", fontsize=7)
        ax.axvline(1.0, color="black", linewidth=0.6)
        ax.set_title(w.title, fontsize=8)
        ax.set_xlabel("median time / tracecomp eager's (shorter is faster)", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.set_xlim(0, max(values) * 1.35)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
