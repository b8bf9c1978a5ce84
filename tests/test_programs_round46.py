"""What published torch programs needed that tracecomp lacked, found by running them with
their imports changed, eager and compiled (round 46), each reproduced here against torch.

PROGRAMS
"""
import numpy as np
import pytest
import torch

import tracecomp as tc

# --- PyTorch's own functions given tracecomp's tensors ------------------------------------
# A notebook converted cell by cell keeps a later cell's `import torch.nn.functional as F`
# (polat2022_cement's cdw_ce_loss cells): torch's F.softmax then met a tracecomp Tensor,
# handed it to tracecomp.Tensor.__torch_function__, which called F.softmax back, and so on
# until RecursionError, hundreds of frames deep.
_TORCH_CALLS = {
    "F.softmax": (lambda x: torch.nn.functional.softmax(x, dim=1),
                  "tracecomp.nn.functional.softmax"),
    "F.relu": (lambda x: torch.nn.functional.relu(x), "tracecomp.nn.functional.relu"),
    "torch.add": (lambda x: torch.add(x, 1), "tracecomp.add"),
    "torch.cat": (lambda x: torch.cat([x, x]), "tracecomp.cat"),
    "torch.sum": (lambda x: torch.sum(x), "tracecomp.sum"),
    "nn.Linear": (lambda x: torch.nn.Linear(3, 2)(x), "tracecomp's functions"),
}


@pytest.mark.parametrize("case", sorted(_TORCH_CALLS))
def test_torch_function_given_a_tracecomp_tensor_names_ours(case):
    call, ours = _TORCH_CALLS[case]
    with pytest.raises(TypeError, match="PyTorch's own function and was given a tracecomp "
                                        f"Tensor: use {ours}"):
        call(tc.ones(2, 3))


def test_tracecomp_subclass_protocol_still_runs_tracecomp_functions():
    calls = []

    class Logged(tc.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            calls.append(getattr(func, "__name__", func))
            return super().__torch_function__(func, types, args, kwargs)

    x = tc.ones(2, 3).as_subclass(Logged)
    y = tc.nn.functional.softmax(x, dim=1)
    assert isinstance(y, Logged) and "softmax" in calls
    np.testing.assert_allclose(y.numpy(), np.full((2, 3), 1 / 3), rtol=1e-6)
