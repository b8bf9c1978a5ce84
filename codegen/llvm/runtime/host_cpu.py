"""The CPU the llvm backend compiles for: the host's name and features as llvmlite reports
them, with TRACECOMP_CPU_FEATURES applied on top.

TRACECOMP_CPU_FEATURES is a comma-separated list of LLVM feature changes, `+name` or
`-name`, as in `-avx512f` (AVX2 code on an AVX-512 host) or `-avx` (SSE code only: LLVM
clears the features that need AVX too). They come last in the feature string, so they win
over the host's, and the vector width the kernels are tiled for follows them
(codegen/llvm/target.py). It is how the narrower code path of a machine is built and tested
on a wider one; the disk cache keys on the resulting features.
"""
import os

import llvmlite.binding as llvm

VARIABLE = "TRACECOMP_CPU_FEATURES"


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
