"""`tracecomp doctor`: what this machine gives the compiler, as a table.

    tracecomp doctor          # exit status 0 when no row is a problem, 1 otherwise

Each row is an item, its value here, and a status: `ok`; `note` (something optional is
missing, or a setting narrows what the compiler does: it works, and the row says what
you would gain); `problem` (a setting or a folder the compiler cannot use as it is: the
row says what to do). The rows come from the compiler's own view wherever it has one: the
CPU and features the llvm backend compiles for (codegen/llvm/runtime/host_cpu.py,
target.py), the BLAS its products call and its thread count (gemm/blas.py), the threads
split kernels use (runtime/parallel.py, native_pool.py), the disk cache's folder and bound
(runtime/cache_folder.py).

It is quick (one to two seconds, most of it importing tracecomp and numba): nothing is
compiled, nothing is written (a cache folder not made yet is only checked for being
makeable), and a missing optional package is a row, never an error. numba is imported,
and CUDA asked for GPUs, only when numba-cuda is installed.
"""
import importlib.metadata
import os
import platform
import re
import shutil
import sys
import traceback
from dataclasses import dataclass

from .debug_log import debug_level

OK, NOTE, PROBLEM = "ok", "note", "problem"
# the vector features worth a row, in LLVM's names (x86, then Arm)
VECTOR_FEATURES = ("sse4.2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl",
                   "avx512vnni", "avx512bf16", "amx-tile", "neon", "sve", "sve2")
# packages shown with their versions: (distribution, what it does here when missing, or
# None for a dependency); matplotlib and numba-cuda have rows of their own
PACKAGES = (("numpy", None), ("scipy", None), ("llvmlite", None), ("networkx", None),
            ("torch", "only the tests need it, as their reference: pip install "
                      "'tracecomp[test]'"))
CACHE_ADVICE = ("set TRACECOMP_CACHE_DIR to a folder of your own (it is made mode 700), or "
                "TRACECOMP_CACHE=0 to compile without a disk cache")


@dataclass
class Row:
    item: str
    value: str
    status: str = OK
    advice: str = ""        # what to do, for a note or a problem


def installed(distribution):
    """The installed version of a distribution, or None (nothing is imported)."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _release(version):
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


def _minimums():
    """{distribution: minimum version} of tracecomp's own dependencies, as installed."""
    try:
        requires = importlib.metadata.requires("tracecomp") or []
    except importlib.metadata.PackageNotFoundError:     # run from a bare source tree
        return {}
    found = (re.match(r"^([A-Za-z0-9_.-]+)\s*>=\s*([\d.]+)\s*$", r) for r in requires)
    return {m[1].lower(): m[2] for m in found if m}


# --- the checks: each returns its rows; CHECKS lists them in the order printed ------------
def check_versions():
    rows = [Row("python", f"{platform.python_version()} ({platform.python_implementation()})"
                f" on {platform.system()} {platform.machine()}")]
    minimums = _minimums()
    for name, missing in PACKAGES:
        version = installed(name)
        if version is None:
            rows.append(Row(name, "not installed", NOTE if missing else PROBLEM,
                            missing or f"pip install '{name}>={minimums.get(name, '0')}'"))
        elif name in minimums and _release(version) < _release(minimums[name]):
            rows.append(Row(name, f"{version}, tracecomp needs >= {minimums[name]}", PROBLEM,
                            f"pip install --upgrade '{name}>={minimums[name]}'"))
        else:
            rows.append(Row(name, version))
    return rows


def check_cpu():
    import llvmlite.binding as llvm

    from .codegen.llvm import target
    from .codegen.llvm.runtime import host_cpu
    name = host_cpu.name()
    host = dict(llvm.get_host_cpu_features())
    rows = [Row("cpu", f"{name} (as LLVM sees it)") if name != "generic" else
            Row("cpu", "generic", NOTE, "LLVM does not know this CPU: code is compiled for a "
                "baseline one (a newer llvmlite may know it)")]
    shown = [f for f in VECTOR_FEATURES if host.get(f)]
    width = target.vector_bytes(host)
    rows.append(Row("cpu features", f"{' '.join(shown) or 'no vector features'}: "
                    f"{width}-byte vectors"))
    l1_bytes, l1_ways = host_cpu.l1d()
    rows.append(Row("cpu caches", f"L1d {l1_bytes >> 10} KiB {l1_ways}-way, L2 "
                    f"{host_cpu.l2_bytes() >> 10} KiB (the generated GEMM's packing and "
                    f"blocks follow them)"))
    changes = os.environ.get(host_cpu.VARIABLE, "").strip()
    if changes:
        try:
            compiled = target.vector_bytes(host_cpu.features())
        except ValueError as exc:
            rows.append(Row(host_cpu.VARIABLE, changes, PROBLEM,
                            f"{exc}; or unset it to compile for this CPU"))
        else:
            rows.append(Row(host_cpu.VARIABLE, f"{changes}: code for {compiled}-byte vectors",
                            NOTE, f"compiled code targets a narrower CPU than this one; "
                            f"unset {host_cpu.VARIABLE} for its full speed"))
    return rows


def check_blas():
    from .codegen.llvm.gemm import blas
    built = _numpy_blas()
    sym = blas.find_gemm("float32") or blas.find_gemm("float64")
    if sym is None:
        if os.environ.get("TRACECOMP_BLAS", "").strip().lower() == "none":
            return [Row("blas", "none (TRACECOMP_BLAS=none)", NOTE, "matmuls run in "
                        "tracecomp's own kernel; unset TRACECOMP_BLAS for numpy's BLAS")]
        return [Row("blas", f"none usable (numpy: {built})", PROBLEM,
                    "matmuls run in tracecomp's own, slower kernel: install numpy from a "
                    "wheel (it bundles OpenBLAS), or set TRACECOMP_BLAS to a CBLAS library")]
    info = _blas_threads(blas.threads(), sym.path)
    rows = [Row("blas", f"{os.path.basename(sym.path)} (found in {sym.source}; numpy: "
                f"{built})")]
    core = info.get("corename") or "unknown (not OpenBLAS, or threadpoolctl not installed)"
    forced = os.environ.get("OPENBLAS_CORETYPE", "").strip()
    if forced:
        rows.append(Row("blas core", f"{core} (forced: OPENBLAS_CORETYPE={forced})", NOTE,
                        "unset OPENBLAS_CORETYPE to let OpenBLAS pick this CPU's kernels"))
    else:
        rows.append(Row("blas core", core))
    return rows + _large_products()


def _large_products():
    """Which code computes float32 products here: gemm/calibrate.py's answers where a
    compile measured them (the doctor compiles nothing)."""
    from .codegen.llvm import target
    from .codegen.llvm.gemm import blas, calibrate
    if target.host().vector_bytes < 32:
        return []
    rows = []
    if blas.find_gemm("float32") is not None:
        wins = calibrate.known("float32", "blas")
        what = f"float32 pieces of {calibrate.LARGE_WORK:,} multiply-adds or more"
        rows.append(Row("large products", f"not measured yet ({what}: the first compile of "
                        f"one times the BLAS against the generated GEMM)" if wins is None else
                        f"{'the BLAS' if wins else 'the generated GEMM'} (measured on this "
                        f"host: {what})"))
    wins = calibrate.known("float32", "dots")
    what = "float32 x @ W^T pieces of few rows"
    rows.append(Row("x @ W^T products", f"not measured yet ({what}: the first compile of one "
                    f"times dots against the generated GEMM, where the cache is on)"
                    if wins is None else f"{'dots' if wins else 'the generated GEMM'} "
                    f"(measured on this host: {what})"))
    return rows


def _numpy_blas():
    """'<name> <version>' of the BLAS numpy was built with (numpy.show_config)."""
    import numpy as np
    try:
        config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except (TypeError, KeyError, ValueError):      # numpy before 1.26: no mode="dicts"
        return "unknown"
    return f"{config.get('name', '?')} {config.get('version', '')}".strip()


def _blas_threads(info, path):
    """blas.threads(), with threadpoolctl's answers where the library has no OpenBLAS
    queries (MKL, BLIS) and threadpoolctl is installed."""
    if info.get("corename") and info.get("num_threads"):
        return info
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return info
    for lib in threadpool_info():
        if os.path.realpath(lib.get("filepath", "")) == os.path.realpath(path):
            return info | {"corename": info.get("corename") or lib.get("architecture"),
                           "num_threads": info.get("num_threads") or lib.get("num_threads")}
    return info


def check_threads():
    from .codegen.llvm.gemm import blas
    from .codegen.llvm.runtime import native_pool, parallel
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    total = os.cpu_count() or 1
    rows = []
    if usable is not None and usable < total:
        rows.append(Row("cpus", f"{usable} of {total} usable by this process", NOTE,
                        "the rest are kept from it (taskset, a container's cpuset): "
                        "compiled code uses the ones it may"))
    else:
        rows.append(Row("cpus", f"{usable or total} usable"))
    try:
        n = parallel.threads()
    except ValueError:
        return rows + [Row("threads", f"TRACECOMP_THREADS={os.environ['TRACECOMP_THREADS']}",
                           PROBLEM, "TRACECOMP_THREADS must be a whole number of threads "
                           "(or unset: then the BLAS's count)")]
    source = ("TRACECOMP_THREADS" if os.environ.get("TRACECOMP_THREADS", "").strip() else
              "the BLAS's thread count" if blas.threads()["num_threads"] else "usable CPUs")
    if usable is not None and n > usable:
        rows.append(Row("threads", f"{n} ({source}) on {usable} usable CPUs", NOTE,
                        f"threads wait for each other: TRACECOMP_THREADS={usable} (or "
                        f"OPENBLAS_NUM_THREADS={usable}) fits this machine"))
    else:
        rows.append(Row("threads", f"{n} for large kernels and products ({source})"))
    if native_pool.available():
        rows.append(Row("thread pool", "native (workers wait in compiled code)"))
    else:
        off = os.environ.get("TRACECOMP_NATIVE_POOL", "").strip() == "0"
        rows.append(Row("thread pool", "Python threads" + (" (TRACECOMP_NATIVE_POOL=0)" if off
                                                           else ""), NOTE,
                        "a split kernel costs ~100 us more a call; " + (
                            "unset TRACECOMP_NATIVE_POOL" if off else
                            "the native pool runs on Linux x86-64 only")))
    return rows


def check_cache():
    from .codegen.llvm.runtime import cache_folder
    rows = []
    switch = os.environ.get("TRACECOMP_CACHE", "").strip()
    if os.sep in switch or switch.startswith("~"):
        rows.append(Row("TRACECOMP_CACHE", switch, NOTE, "TRACECOMP_CACHE only turns the disk "
                        "cache on or off (0 turns it off); its folder is TRACECOMP_CACHE_DIR"))
    folder = cache_folder.folder_path()
    if folder is None:
        return rows + [Row("cache folder", f"off (TRACECOMP_CACHE={switch})", NOTE,
                           "each process compiles every graph again; unset TRACECOMP_CACHE to "
                           "keep compiled code on disk")]
    state, fix = _folder_state(folder, cache_folder)
    rows.append(Row("cache folder", f"{folder} ({state})", PROBLEM if fix else OK,
                    f"compiled code is not cached: {fix}" if fix else ""))
    try:
        bound = cache_folder.max_bytes()
    except ValueError as exc:
        return rows + [Row("cache size", os.environ.get("TRACECOMP_CACHE_MAX_MB", ""), PROBLEM,
                           str(exc))]
    if os.path.isdir(folder) and not fix:
        count, size = _entries(folder, cache_folder.SUFFIX)
        rows.append(Row("cache size", f"{count} entries, {size / 2**20:.1f} MB of the "
                        f"{bound / 2**20:.0f} MB bound (TRACECOMP_CACHE_MAX_MB)"))
    return rows


def _folder_state(folder, cache_folder):
    """(what the folder is, what to do when the compiler cannot use it, else None)."""
    if not os.path.exists(folder):
        parent = os.path.dirname(os.path.abspath(folder))
        while not os.path.exists(parent):
            parent = os.path.dirname(parent)
        if os.path.isdir(parent) and os.access(parent, os.W_OK | os.X_OK):
            return "not made yet: the first compile makes it", None
        return f"cannot be made: {parent} is not a writable folder", CACHE_ADVICE
    if not os.path.isdir(folder):
        return "not a folder", CACHE_ADVICE
    why = cache_folder._untrusted(os.stat(folder))     # the cache's own trust rule
    if why:
        return f"refused: it {why}", f"`chmod 700 {folder}` if it is yours; else {CACHE_ADVICE}"
    if not os.access(folder, os.W_OK | os.X_OK):
        return "not writable", f"`chmod u+wx {folder}`, or {CACHE_ADVICE}"
    return "writable", None


def _entries(folder, suffix):
    count = size = 0
    with os.scandir(folder) as listing:
        for entry in listing:
            if entry.name.endswith(suffix) and entry.is_file(follow_symlinks=False):
                count += 1
                size += entry.stat(follow_symlinks=False).st_size
    return count, size


def check_cuda():
    version = installed("numba-cuda")
    if version is None:
        return [Row("cuda", "numba-cuda not installed", NOTE, "for NVIDIA GPUs only: "
                    "pip install 'tracecomp[cuda]'")]
    from . import cuda
    simulated = os.environ.get("NUMBA_ENABLE_CUDASIM", "").strip() == "1"
    if not cuda.is_available():
        return [Row("cuda", f"numba-cuda {version}, no GPU found", NOTE, "tracecomp compiles "
                    "for the CPU; a GPU needs an NVIDIA card and its driver")]
    names = [f"{cuda.get_device_name(k)} (sm_{''.join(map(str, cuda.get_device_capability(k)))})"
             for k in range(cuda.device_count())]
    value = f"numba-cuda {version}: {len(names)} GPU(s): {', '.join(names)}"
    if simulated:
        return [Row("cuda", value + " (numba's simulator)", NOTE, "NUMBA_ENABLE_CUDASIM=1 runs "
                    "kernels in Python, slowly; unset it to use a real GPU")]
    return [Row("cuda", value)]


def check_pictures():
    version = installed("matplotlib")
    dot = shutil.which("dot")
    if dot:
        rows = [Row("graphviz", dot)]
    elif version:
        rows = [Row("graphviz", "not on PATH", NOTE, "pictures are drawn with matplotlib "
                    "instead; install Graphviz (e.g. apt install graphviz) for its layout")]
    else:
        rows = [Row("graphviz", "not on PATH", NOTE, "tracecomp dump writes .dot files only: "
                    "install Graphviz, or matplotlib (pip install 'tracecomp[demo]')")]
    rows.append(Row("matplotlib", version) if version else
                Row("matplotlib", "not installed", NOTE, "for pictures without Graphviz, the "
                    "demo's curves and `tracecomp bench --png`: pip install 'tracecomp[demo]'"))
    return rows


CHECKS = (check_versions, check_cpu, check_blas, check_threads, check_cache, check_cuda,
          check_pictures)


def rows():
    """Every check's rows; a check that fails is a problem row that says why."""
    out = []
    for check in CHECKS:
        try:
            out += check()
        except Exception as exc:    # noqa: BLE001 - one broken check must not hide the rest
            if debug_level() >= 1:
                traceback.print_exc()
            out.append(Row(check.__name__.removeprefix("check_"), "could not be checked: "
                           f"{type(exc).__name__}: {exc}", PROBLEM,
                           "run `tracecomp doctor` with TRACECOMP_DEBUG=1 for the traceback"))
    return out


def format_table(table):
    """The rows as an aligned text table; a note's or problem's advice on a line of its own."""
    item_w = max([len(r.item) for r in table] + [4])
    lines = [f"{'status':<8} {'item':<{item_w}}  value", f"{'-' * 7:<8} {'-' * item_w}  -----"]
    for r in table:
        lines.append(f"{r.status:<8} {r.item:<{item_w}}  {r.value}")
        if r.advice and r.status != OK:
            lines.append(f"{'':<8} {'':<{item_w}}  -> {r.advice}")
    return "\n".join(lines)


def main(out=None):
    """Print the table and a summary; returns the exit status (1 when a row is a problem)."""
    out = out or sys.stdout
    table = rows()
    problems = sum(r.status == PROBLEM for r in table)
    notes = sum(r.status == NOTE for r in table)
    print(format_table(table), file=out)
    print(f"\ntracecomp doctor: {problems} problem{'s' * (problems != 1)}, {notes} "
          f"note{'s' * (notes != 1)}", file=out)
    return 1 if problems else 0
