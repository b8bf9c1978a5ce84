"""Known differences from torch the differential fuzzer finds and that stay: tracecomp bugs
not fixed yet (issue 10), and torch 2.13 bugs, where tracecomp's answer is the right one.

Each entry names the symptom (a regex on the problem line fuzz_compare prints), the op-table
cases a program must use for it to apply (empty: any), and a minimal repro. The CI fuzz test
drops a problem that matches an entry, so it stays green; every other problem still fails
it. test_rel_fuzz.py runs each tracecomp bug's repro as a strict xfail: when the bug is
fixed the repro passes, the xfail turns into a failure, and the entry must go. A torch bug
comes with `ours`, a check of tracecomp's answer against numpy, which must pass, and its
repro must still show torch's difference.
"""
import re
from dataclasses import dataclass

import numpy as np

import tracecomp as tc


@dataclass(frozen=True)
class Known:
    name: str
    what: str               # the difference, in one line: tracecomp vs torch
    pattern: str            # regex searched in a problem line
    cases: tuple = ()       # op-table cases, one of which the program must use
    repro: object = None    # program(lib, *inputs)
    inputs: tuple = ()      # numpy arrays
    ours: object = None     # a torch bug: checks tracecomp's own answer (raises if wrong)

    def matches(self, problem, case_names):
        return (re.search(self.pattern, problem) is not None
                and (not self.cases or bool(set(self.cases) & set(case_names))))


def _f32(*shape, dtype=np.float32):
    return np.random.default_rng(0).uniform(-2, 2, shape).astype(dtype)


def _eager_and_compiled(fn, *arrays):
    """fn's result on tracecomp tensors, eagerly and compiled, as numpy arrays."""
    out = []
    for f in (fn, tc.compile(fn)):
        out.append(f(*[tc.tensor(a) for a in arrays]).numpy())
    return out


def _block_diag_grad_right():
    """y = block_diag(a[:0], b, a[:0]) is (3, 1) with y[1, 0] = b[0]: b's gradient under
    sum(w * y) is w[1, 0] (torch gives w[0, 0], its backward skips the empty block's row)."""
    w = np.array([[1.0], [2.0], [3.0]], np.float32)
    for compiled in (False, True):
        def loss(a, b):
            return (tc.block_diag(a[:0], b, a[:0]) * tc.tensor(w)).sum()
        a, b = tc.ones(2, requires_grad=True), tc.ones(1, requires_grad=True)
        (tc.compile(loss) if compiled else loss)(a, b).backward()
        np.testing.assert_array_equal(b.grad.numpy(), [2.0])
        np.testing.assert_array_equal(a.grad.numpy(), [0.0, 0.0])


def _kron_right():
    x, y = _f32(3, 4), _f32(2, 2)
    for got in _eager_and_compiled(lambda a, b: tc.kron(a.t(), b), x, y):
        np.testing.assert_allclose(got, np.kron(x.T, y), rtol=1e-6)


def _isin_right():
    x, y = _f32(3), _f32(2, 7)
    y[0, 3] = x[1]
    for got in _eager_and_compiled(lambda a, b: tc.isin(a, b.chunk(3, -1)[1]), x, y):
        np.testing.assert_array_equal(got, np.isin(x, y[:, 3:6]))


def _sdpa_empty_batch_right():
    """An empty result has the shape a non-empty one would: a (1, 1) query against keys and
    values of batch shape (0,) gives (0, 1, 1), as batch (2,) gives (2, 1, 1); a (2, 1, E)
    query with (2, 2, 1, Ev) values gives (2, 2, 1, Ev) for Ev = 0 as for Ev = 3."""
    sdpa = tc.nn.functional.scaled_dot_product_attention
    for got in _eager_and_compiled(lambda a, b: sdpa(a, b, b), _f32(1, 1), _f32(0, 1, 1)):
        assert got.shape == (0, 1, 1), got.shape
    for ev in (0, 3):
        for got in _eager_and_compiled(lambda q, v: sdpa(q, q, v), _f32(2, 1, 2),
                                       _f32(2, 2, 1, ev)):
            assert got.shape == (2, 2, 1, ev), got.shape


def _nanmedian_all_nan_right():
    """An all-NaN slice: value NaN, index 0 (the first NaN), eagerly and compiled."""
    x = np.full((4, 3), np.nan, np.float32)
    x[:, 1] = [3, 1, 2, np.nan]
    def fn(t):
        return tc.nanmedian(t, 0)
    for run in (fn, tc.compile(fn)):
        values, idx = run(tc.tensor(x))
        np.testing.assert_array_equal(values.numpy(), [np.nan, 2, np.nan])
        np.testing.assert_array_equal(idx.numpy(), [0, 2, 0])


def _pixel_unshuffle_empty_right():
    """(1, 2, 0) -> (4, 1, 0), as (1, 2, 2) -> (4, 1, 1): C * r * r, H / r, W / r."""
    unshuffle = tc.nn.functional.pixel_unshuffle
    for got in _eager_and_compiled(lambda x: unshuffle(x, 2), np.zeros((1, 2, 0), np.float32)):
        assert got.shape == (4, 1, 0), got.shape


KNOWN = [
    Known("view_noncontiguous",
          "x.view(...) of a non-contiguous tensor (a transpose, linalg.qr's R) returns a result; "
          "torch raises RuntimeError ('view size is not compatible with input tensor's size "
          "and stride ... Use .reshape(...) instead')",
          r"returned \| torch raised RuntimeError: view size is not compatible",
          cases=("view", "view_tuple", "inplace_view_relu"),
          repro=lambda lib, x: x.t().view(-1), inputs=(_f32(3, 4),)),
    Known("lstsq_rhs_one_dim_short",
          "linalg.lstsq(A, B) with B one dim short of A but not shaped A.shape[:-1] (A "
          "(1, 2, 1, 2), B (2, 1, 2)) raises ShapeError; torch returns a (2, 2, 2, 2) "
          "solution by a broadcasting rule not worked out yet (B.unsqueeze(-2) gives its "
          "shape, not its values)",
          r"torch\.linalg\.lstsq: input\.size\(-2\) should match other\.size\(-2\).*"
          r"\| torch returned", cases=("linalg_lstsq",),
          repro=lambda lib, a, b: lib.linalg.lstsq(a, b).solution,
          inputs=(_f32(1, 2, 1, 2), _f32(2, 1, 2))),
    # --- torch 2.13 bugs and undefined answers ----------------------------------------------
    Known("torch_nanmedian_all_nan_index",
          "the index torch's nanmedian returns for an all-NaN slice is wherever its "
          "nth_element leaves it (0 for up to 3 elements, 2 for 4 or 5, 3 for 6, 5 for 7), "
          "not a rule; tracecomp returns 0, the first NaN",
          r"value of output \d+ differs .*tracecomp=\d+ \| torch=\d+", cases=("nanmedian",),
          repro=lambda lib, x: lib.nanmedian(x, 0)[1],
          inputs=(np.full((4, 3), np.nan, np.float32),), ours=_nanmedian_all_nan_right),
    Known("torch_pixel_unshuffle_empty",
          "torch's pixel_unshuffle returns an empty input's shape unchanged ((1, 2, 0) stays "
          "(1, 2, 0)); its own rule, as for (1, 2, 2) -> (4, 1, 1), gives (4, 1, 0)",
          r"shape tracecomp=\((\d+, )*0(, \d+)*\) \| torch=\(", cases=("F_pixel_shuffle",),
          repro=lambda lib, x: lib.nn.functional.pixel_unshuffle(x, 2),
          inputs=(np.zeros((1, 2, 0), np.float32),), ours=_pixel_unshuffle_empty_right),
    Known("torch_block_diag_empty_grad",
          "torch's block_diag backward puts a block's gradient one row off when an empty 1-D "
          "block comes before it (block_diag(a[:0], b, a[:0]): b gets y's row 0, not row 1)",
          r"grad of x\d+ differs", cases=("block_diag",),
          repro=lambda lib, a, b: lib.block_diag(a[:0], b, a[:0]),
          inputs=(_f32(2), _f32(1)), ours=_block_diag_grad_right),
    Known("torch_kron_noncontiguous",
          "torch.kron of a transposed matrix raises RuntimeError from an internal view ('view "
          "size is not compatible with input tensor's size and stride')",
          r"returned \| torch raised RuntimeError: view size is not compatible",
          cases=("kron",), repro=lambda lib, a, b: lib.kron(a.t(), b),
          inputs=(_f32(3, 4), _f32(2, 2)), ours=_kron_right),
    Known("torch_isin_noncontiguous",
          "torch.isin with non-contiguous test elements (a chunk) raises RuntimeError from an "
          "internal view",
          r"returned \| torch raised RuntimeError: view size is not compatible",
          cases=("isin",), repro=lambda lib, a, b: lib.isin(a, b.chunk(3, -1)[1]),
          inputs=(_f32(3), _f32(2, 7)), ours=_isin_right),
    Known("torch_sdpa_empty_batch",
          "torch's scaled_dot_product_attention gives an empty result the wrong shape: a 2-D "
          "query against keys of batch shape (0,) returns (1, 1), not (0, 1, 1) (batch (2,) "
          "gives (2, 1, 1)); a (2, 1, E) query with (2, 2, 1, 0) values returns (2, 1, 0), "
          "not (2, 2, 1, 0) (Ev = 3 gives (2, 2, 1, 3))",
          # ... or a later step fails on our (right) shape where torch's wrong one fits
          r"shape tracecomp=\((\d+, )*0(, \d+)*\) \| torch=\(|"
          r"doesn't match the broadcast shape \[(\d+, )*0(, \d+)*\] \| torch returned",
          cases=("F_sdpa", "F_sdpa_causal", "F_sdpa_bool_mask", "F_sdpa_float_mask",
                 "F_sdpa_gqa"),
          repro=lambda lib, q, kv: lib.nn.functional.scaled_dot_product_attention(q, kv, kv),
          inputs=(_f32(1, 1), _f32(0, 1, 1)), ours=_sdpa_empty_batch_right),
]


def known(problem, case_names):
    """The entry that explains `problem`, or None."""
    return next((k for k in KNOWN if k.matches(problem, case_names)), None)
