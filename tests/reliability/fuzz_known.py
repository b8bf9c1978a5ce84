"""Known tracecomp bugs the differential fuzzer finds, not fixed yet (issue 10).

Each entry names the symptom (a regex on the problem line fuzz_compare prints), the op-table
cases a program must use for it to apply (empty: any), and a minimal repro. The CI fuzz test
drops a problem that matches an entry, so it stays green while the bug is open; every
other problem still fails it. test_rel_fuzz.py runs each repro as a strict xfail: when the
bug is fixed the repro passes, the xfail turns into a failure, and the entry must go.
"""
import re
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Known:
    name: str
    what: str               # the bug, in one line: tracecomp vs torch
    pattern: str            # regex searched in a problem line
    cases: tuple = ()       # op-table cases, one of which the program must use
    repro: object = None    # program(lib, *inputs)
    inputs: tuple = ()      # numpy arrays

    def matches(self, problem, case_names):
        return (re.search(self.pattern, problem) is not None
                and (not self.cases or bool(set(self.cases) & set(case_names))))


def _f32(*shape, dtype=np.float32):
    return np.random.default_rng(0).uniform(-2, 2, shape).astype(dtype)


KNOWN = [
    Known("view_noncontiguous",
          "x.view(...) of a non-contiguous tensor (a transpose, linalg.qr's R) returns a result; "
          "torch raises RuntimeError ('view size is not compatible with input tensor's size "
          "and stride ... Use .reshape(...) instead')",
          r"returned \| torch raised RuntimeError: view size is not compatible",
          repro=lambda lib, x: x.t().view(-1), inputs=(_f32(3, 4),)),
]


def known(problem, case_names):
    """The entry that explains `problem`, or None."""
    return next((k for k in KNOWN if k.matches(problem, case_names)), None)
