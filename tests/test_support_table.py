"""SUPPORT.md is what the probes see today, and a torch API we lack says so.

The table is regenerated here (every torch name probed against ours, eagerly and compiled:
tracecomp/api_probe.py) and must equal the checked-in file, so every name it lists as
supported was imported and run in this test, and a change that breaks one (or adds one
without regenerating) fails with the lines that differ.
"""
import difflib
import os

import pytest
import torch

import tracecomp as tc
from tracecomp import api_names, support_table, torch_names

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REGENERATE = "regenerate it with `tracecomp support --write`"


def test_support_table_is_what_the_probes_see():
    with open(os.path.join(ROOT, "SUPPORT.md"), encoding="utf-8") as f:
        checked_in = f.read()
    threads = tc.get_num_threads(), torch.get_num_threads()
    fresh = support_table.generate()
    # the probes call set_num_threads with whatever torch accepts: put back after each
    assert (tc.get_num_threads(), torch.get_num_threads()) == threads
    if fresh != checked_in:
        diff = list(difflib.unified_diff(checked_in.splitlines(), fresh.splitlines(),
                                         "SUPPORT.md", "probed now", n=0, lineterm=""))
        pytest.fail(f"SUPPORT.md is out of date ({REGENERATE}):\n" + "\n".join(diff[:40]))


def test_no_supported_name_answers_differently_from_torch():
    with open(os.path.join(ROOT, "SUPPORT.md"), encoding="utf-8") as f:
        rows = [line for line in f if line.startswith("| `")]
    wrong = [row.strip() for row in rows if "| differs |" in row]
    assert not wrong, "probes found answers that differ from torch's:\n" + "\n".join(wrong)


def test_torch_names_match_the_installed_torch():
    assert torch.__version__.startswith("2.13"), "the names were taken from torch 2.13"
    for namespace in ("torch", "torch.nn", "torch.nn.functional", "torch.Tensor"):
        assert torch_names.NAMES[namespace] == frozenset(api_names.public_names(namespace)), \
            f"tracecomp/torch_names.py is out of date for {namespace} ({REGENERATE})"


@pytest.mark.parametrize("reach", [
    lambda: tc.sparse_bsr_tensor,
    lambda: tc.zeros(2, 2).to_sparse_bsr((1, 1)),
    lambda: tc.nn.functional.scaled_grouped_mm,
    lambda: __import__("tracecomp.quasirandom"),
    lambda: __import__("tracecomp.utils.module_tracker"),   # a torch.utils submodule too
])
def test_a_torch_api_we_lack_names_itself_and_the_table(reach):
    with pytest.raises(NotImplementedError, match=r"torch\.\S+ is not supported .*SUPPORT\.md"):
        reach()


def test_missing_names_still_answer_hasattr_and_typos_stay_attribute_errors():
    assert not hasattr(tc, "sparse_bsr_tensor") and not hasattr(tc.zeros(1), "to_sparse_bsr")
    assert getattr(tc.nn, "ctc_loss_nope", 7) == 7
    with pytest.raises(AttributeError, match="has no attribute 'fooo'") as info:
        tc.fooo  # noqa: B018
    assert not isinstance(info.value, NotImplementedError)
