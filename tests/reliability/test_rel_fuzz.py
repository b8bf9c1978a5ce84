"""Differential fuzzing: random small programs over the op table (tests/reliability/
fuzz_graphs.py), run by torch 2.13, tracecomp eager and tracecomp compiled; values, dtypes,
errors and input gradients must agree (tests/reliability/fuzz_compare.py).

CI runs a fixed, derandomized budget. A long local run:
    TRACECOMP_FUZZ_EXAMPLES=5000 TRACECOMP_FUZZ_SEED=1 .venv/bin/pytest \
        tests/reliability/test_rel_fuzz.py -k agree
A failure shows the program, cut down to the steps one output needs, as source and a
script that reproduces it. Open bugs
the fuzzer found are listed in fuzz_known.py: their symptoms are not counted here, and each
one's repro runs below as a strict xfail, so fixing one flags its entry for removal.
"""
import os

import pytest
from fuzz_compare import check, compare, shrink
from fuzz_graphs import EXCLUDED, OPS, HypothesisDraw, draw_program
from fuzz_known import KNOWN, known
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("TRACECOMP_FUZZ_EXAMPLES", "80"))
SEED = os.environ.get("TRACECOMP_FUZZ_SEED")

_settings = settings(max_examples=EXAMPLES, deadline=None, derandomize=SEED is None,
                     database=None, print_blob=False,
                     # no hypothesis shrinking: each step compiles a program, and a
                     # failure took minutes to shrink; fuzz_compare.shrink cuts the program
                     # to the steps one output needs instead, in seconds
                     phases=[Phase.explicit, Phase.generate],
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                            HealthCheck.filter_too_much])


def _fuzz(test):
    test = given(st.data())(_settings(test))
    return seed(int(SEED))(test) if SEED is not None else test


@_fuzz
def test_compiled_eager_torch_agree(data):
    program = draw_program(HypothesisDraw(data))
    if program is None:
        return
    cases = [s.case for s in program.steps]
    problems = [p for p in check(program) if known(p, cases) is None]
    if problems:
        small, found = shrink(program, problems)
        found = [p for p in found if known(p, [s.case for s in small.steps]) is None]
        if found:
            program, problems = small, found
    assert not problems, "\n".join(
        ["tracecomp and torch disagree on this program:", *problems, "", "repro:",
         program.repro()])


@pytest.mark.parametrize("bug", [pytest.param(k, id=k.name, marks=pytest.mark.xfail(
    strict=True, reason=k.what)) for k in KNOWN if k.ours is None])
def test_known_bug_fixed(bug):
    """Fails while the bug is open (xfail); passes once it is fixed: then drop the entry."""
    problems = compare(lambda lib, *args: (bug.repro(lib, *args),), list(bug.inputs))
    assert not [p for p in problems if bug.matches(p, bug.cases)], "\n".join(problems)


@pytest.mark.parametrize("bug", [pytest.param(k, id=k.name) for k in KNOWN if k.ours])
def test_torch_bug_still_there_and_ours_right(bug):
    """A torch bug the fuzzer excuses: tracecomp's answer is checked against numpy, and
    the repro still shows torch's difference (else the entry is not needed)."""
    bug.ours()
    problems = compare(lambda lib, *args: (bug.repro(lib, *args),), list(bug.inputs))
    assert [p for p in problems if bug.matches(p, bug.cases)], \
        f"torch no longer differs on {bug.name}: drop the entry\n" + "\n".join(problems)


def test_excluded_cases_are_in_the_table():
    """Every exclusion names a real op-table case with its reason, and the fuzzer draws
    from most of the table."""
    from op_table import BY_NAME
    assert set(EXCLUDED) <= set(BY_NAME)
    assert all(reason for reason in EXCLUDED.values())
    assert len(OPS) > 300
