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


def _chunk3(lib, x):
    a, b, c = x.chunk(3, -1)
    return a + b + c


def _iadd(lib, x, y):
    z = x * 1
    z += y
    return z


KNOWN = [
    Known("amax_empty_dim",
          "softmax/log_softmax/softmin over a zero-size dim raise an error from their amax "
          "step; torch returns an empty result",
          r"amax\(\): Expected reduction dim",
          repro=lambda lib, x: lib.softmax(x, -1), inputs=(_f32(2, 0),)),
    Known("median_empty",
          "median() of an empty tensor raises ShapeError; torch returns nan",
          r"median\(\) input tensor cannot be empty",
          repro=lambda lib, x: x.median(), inputs=(_f32(0),)),
    Known("std_zero_grad",
          "the gradient of std at std == 0 is nan; torch's is 0",
          r"grad of x\d+ differs .*tracecomp=np\.float(32|64)\(nan\) \| torch=np\.float(32|64)"
          r"\(-?0\.0\)",
          cases=("std_dim", "std_unbiased_false", "std_axis", "std_mean", "F_group_norm",
                 "F_instance_norm"),
          repro=lambda lib, x: lib.std(x * 0 + 1, unbiased=False), inputs=(_f32(3),)),
    Known("var_dof_grad",
          "the gradient of var/std where N - correction <= 0 is nan; torch's is "
          "2 (x - mean) / (N - correction): +-inf, -0.0, or finite for a negative count",
          r"grad of x\d+ differs .*tracecomp=np\.float(32|64)\(nan\) \| torch=np\.float(32|64)"
          r"\(-?(inf|[0-9.]+)\)",
          cases=("var_correction",),
          repro=lambda lib, x: lib.var(x, dim=(0, 1), correction=2, keepdim=True),
          inputs=(_f32(1, 2),)),
    Known("max_all_nan_grad",
          "max()/min() of all elements spread a nan incoming gradient over every element; "
          "torch sends it to the selected element only",
          r"grad of x\d+ differs .*tracecomp=np\.float(32|64)\(nan\) \| torch=np\.float(32|64)"
          r"\(0\.0\)",
          cases=("max_all", "min_all", "max_ties", "median_all"),
          repro=lambda lib, x: x.max().var(), inputs=(_f32(4),)),
    Known("any_dim_empty",
          "any(dim)/all(dim) of an empty tensor return a 0-d result; torch keeps the other "
          "dims (shape (0,) for a (0, 3) input, (2, 3) for all(x, axis=1) of (2, 0, 3))",
          r"shape tracecomp=\(\) \| torch=\(\d",
          cases=("all_any", "all_axis"),
          repro=lambda lib, x: (x > 0).any(1), inputs=(_f32(0, 3),)),
    Known("chunk_empty",
          "chunk(3) of a tensor empty along that dim returns 1 chunk; torch returns 3 empty "
          "ones (code unpacking them fails: 'not enough values to unpack')",
          r"not enough values to unpack",
          cases=("chunk",),
          repro=_chunk3, inputs=(_f32(0),)),
    Known("tensordot_size1",
          "tensordot with a size-1 contracted dim against a larger one raises RuntimeError; "
          "torch broadcasts it",
          r"contracted dimensions need to match",
          cases=("tensordot",),
          repro=lambda lib, a, b: lib.tensordot(a, b, 1), inputs=(_f32(1, 1), _f32(2, 2))),
    Known("histc_nan_range",
          "histc with its range taken from data holding NaN returns counts; torch raises "
          "RuntimeError ('torch.histc: range of [nan, nan] is not finite')",
          r"returned \| torch raised RuntimeError: torch\.histc: range of",
          cases=("histc",),
          repro=lambda lib, x: lib.histc(x, 7), inputs=(np.full(3, np.nan, np.float32),)),
    Known("empty_path_grad_none",
          "an input that reaches the output only through an empty slice gets .grad None; "
          "torch gives it a zero gradient (diff(x2, append=x0[2:1]))",
          r"grad of x\d+: tracecomp=None \| torch=tensor\(\[[\[\]0., -]*\]",
          repro=lambda lib, a, b: lib.diff(a, n=2, dim=0, append=b[2:1]),
          inputs=(_f32(1), _f32(4))),
    Known("einsum_empty",
          "einsum with a size-0 dim raises ShapeError ('cannot expand [1, 0, 1] to [1, 1, 1]') "
          "even for einsum('b...,b...->b', a, a); torch returns the (empty or zero) result",
          r"cannot expand \[[0-9, ]*\b0\b[0-9, ]*\] to",
          cases=("einsum_ellipsis", "einsum_forms", "einsum_attention"),
          repro=lambda lib, a: lib.einsum("b...,b...->b", a, a), inputs=(_f32(1, 0, 1),)),
    Known("combinations_short",
          "combinations(x) of a 1-element x returns shape (0,); torch returns (0, 2)",
          r"shape tracecomp=\(0,\) \| torch=\(0, 2\)",
          cases=("combinations",),
          repro=lambda lib, x: lib.combinations(x), inputs=(_f32(1),)),
    Known("mode_nan",
          "mode() of values holding NaN: an all-NaN row raises (gather with index -1, as "
          "ShapeError), a row [nan, 1, nan] gives 1; torch gives nan (NaNs count as equal)",
          r"index -1 is out of bounds for dimension|"
          r"value of output \d+ differs .*\| torch=np\.float(32|64)\(nan\)",
          cases=("mode",),
          repro=lambda lib, x: lib.mode(x, 1)[0],
          inputs=(np.array([[np.nan, 1.0, np.nan]], np.float32),)),
    Known("minmax_nan_grad",
          "maximum/minimum where an argument is NaN send no gradient to either argument; "
          "torch sends the full gradient to both",
          r"grad of x\d+ differs .*tracecomp=np\.float(32|64)\(-?0\.0\) \| torch=",
          cases=("maximum", "minimum", "max_binary", "maximum_ties", "minimum_ties"),
          repro=lambda lib, a, b: lib.minimum(a, b),
          inputs=(np.array([np.nan, 1.0], np.float32), np.array([0.5, np.nan], np.float32))),
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
