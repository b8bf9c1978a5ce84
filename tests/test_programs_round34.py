"""What published torch programs needed that tracecomp lacked, found by running them with
their imports changed (round 34: yunjey's pytorch-tutorial, pytorch/examples' newer
programs, nanoGPT's train.py, minGPT, ...), each reproduced here against torch.
"""
import fractions

import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.errors import SerializationError


# --- torch.load(weights_only=False) of numpy data ------------------------------------------
# time_sequence_prediction saves its sine waves, a numpy array, with torch.save and reads
# them back with torch.load; since torch 2.6 that needs weights_only=False.
@pytest.mark.parametrize("value", [np.sin(np.arange(12.0)).reshape(3, 4),
                                   np.arange(5, dtype=np.int32), np.float32(2.5),
                                   {"x": np.ones(2, np.float16), "n": 3}])
def test_a_torch_checkpoint_of_numpy_data_loads_with_weights_only_false(tmp_path, value):
    path = tmp_path / "data.pt"
    torch.save(value, path)
    want = torch.load(path, weights_only=False)
    got = tc.load(path, weights_only=False)
    assert type(got) is type(want)
    for g, w in (zip(got.values(), want.values()) if isinstance(want, dict) else
                 [(got, want)]):
        assert type(g) is type(w) and np.asarray(g).dtype == np.asarray(w).dtype
        np.testing.assert_array_equal(g, w)


def test_numpy_data_stays_refused_as_by_torch_under_weights_only(tmp_path):
    path = tmp_path / "data.pt"
    torch.save(np.arange(3.0), path)
    with pytest.raises(Exception, match="Unsupported global.*_reconstruct"):
        torch.load(path)
    with pytest.raises(SerializationError, match="Unsupported global.*_reconstruct"):
        tc.load(path)


def test_weights_only_false_still_makes_no_other_class(tmp_path):
    """torch would unpickle any class here; tracecomp never calls a class a file names
    beyond numpy's array rebuilders, and says which one it refused."""
    path = tmp_path / "obj.pt"
    torch.save({"ratio": fractions.Fraction(1, 3)}, path)
    with pytest.raises(SerializationError, match="Unsupported global: GLOBAL "
                                                 "fractions.Fraction"):
        tc.load(path, weights_only=False)
