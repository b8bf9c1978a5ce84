"""The CPU the llvm backend compiles for: the host's name and features as llvmlite reports
them, with TRACECOMP_CPU_FEATURES applied on top.

TRACECOMP_CPU_FEATURES is a comma-separated list of LLVM feature changes, `+name` or
`-name`, as in `-avx512f` (AVX2 code on an AVX-512 host) or `-avx` (SSE code only: LLVM
clears the features that need AVX too). They come last in the feature string, so they win
over the host's, and the vector width the kernels are tiled for follows them
(codegen/llvm/target.py). It is how the narrower code path of a machine is built and tested
on a wider one; the disk cache keys on the resulting features.
"""
import functools
import os

import llvmlite.binding as llvm

VARIABLE = "TRACECOMP_CPU_FEATURES"
CACHES = "/sys/devices/system/cpu/cpu0/cache"      # Linux: one index* folder per cache
L2_UNKNOWN = 512 * 1024     # where the system does not say: the smallest L2 of our hosts
L1D_UNKNOWN = (32 * 1024, 8)    # (bytes, ways): the smaller L1 of our hosts (Zen 3's)


def name():
    return llvm.get_host_cpu_name()


def changes():
    """[(feature, on)] from TRACECOMP_CPU_FEATURES; a ValueError names a bad entry."""
    out = []
    for item in os.environ.get(VARIABLE, "").replace(" ", "").split(","):
        if not item:
            continue
        if item[0] not in "+-" or len(item) == 1:
            raise ValueError(f"{VARIABLE}: {item!r} is not a feature change; write +name or "
                             f"-name, comma-separated (e.g. -avx512f)")
        out.append((item[1:], item[0] == "+"))
    return out


def features():
    """{feature: on} of the CPU compiled for."""
    mapping = dict(llvm.get_host_cpu_features())
    mapping.update(changes())
    return mapping


def feature_string():
    """The target machine's feature string: the host's, then the changes (the last wins)."""
    extra = ",".join(("+" if on else "-") + feature for feature, on in changes())
    host = llvm.get_host_cpu_features().flatten()
    return f"{host},{extra}" if extra else host


def native_masked_stores():
    """Whether the CPU compiled for stores a vector under a mask natively (AVX-512 does;
    AVX's vmaskmovps store is microcoded on AMD's cores: ~13 cycles a vector on znver4
    with AVX-512 turned off). Read per value of TRACECOMP_CPU_FEATURES, as target.host()."""
    return _has(os.environ.get(VARIABLE, ""), "avx512f")


@functools.cache
def _has(changes, feature):
    return bool(features().get(feature))


@functools.cache
def l2_bytes():
    """The size of one core's L2 cache in bytes, as Linux reports it (sysfs); L2_UNKNOWN
    where it does not (another system, a container without sysfs)."""
    found = _cache("2", ("Unified", "Data"))
    return found[0] if found else L2_UNKNOWN


@functools.cache
def l1d():
    """(bytes, ways) of one core's L1 data cache as Linux reports it (sysfs); L1D_UNKNOWN
    where it does not."""
    return _cache("1", ("Data",)) or L1D_UNKNOWN


def _cache(level, types):
    """(bytes, ways) of cpu0's cache of `level` and one of `types`, or None."""
    try:
        for index in sorted(os.listdir(CACHES)):
            fields = {}
            for name in ("level", "type", "size", "ways_of_associativity"):
                with open(os.path.join(CACHES, index, name)) as f:
                    fields[name] = f.read().strip()
            if fields["level"] != level or fields["type"] not in types:
                continue
            text = fields["size"].upper()
            scale = {"K": 1 << 10, "M": 1 << 20}.get(text[-1:], 1)
            return int(text.rstrip("KM")) * scale, int(fields["ways_of_associativity"])
    except (OSError, ValueError):
        pass
    return None
