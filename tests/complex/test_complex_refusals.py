"""Ops torch refuses on complex values, refused here the same way (same exception class,
torch's words first, then ours: why and what to use). Found beside the complex gaps of
tests/complex/test_complex_leftovers.py, by the same bug patterns: an ordering op that
computed on complex values (cummax, cummin), a refusal that contradicted itself (nanmean:
"expected floating point or complex ... got complex64"), a type name missing (x.type()
of a complex tensor, which embedding_bag's refusal reads: a KeyError).
"""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import raised

Z = np.array([[1 + 2j, 3 - 1j, 0.5j], [-1 + 0j, 2 + 2j, 1 - 3j]], dtype=np.complex64)

CASES = {
    "cummax": lambda lib, z: lib.cummax(z, 1),
    "cummin": lambda lib, z: z.cummin(0),
    "nanmean": lambda lib, z: lib.nanmean(z),
    "nansum": lambda lib, z: lib.nansum(z, 1),
    "embedding_bag": lambda lib, z: lib.nn.functional.embedding_bag(
        lib.tensor([0, 1]), z, lib.tensor([0])),
}


@pytest.mark.parametrize("dtype", ("complex64", "complex128"))
@pytest.mark.parametrize("case", sorted(CASES))
def test_refused_as_torch_refuses(case, dtype):
    def fn(lib):
        return CASES[case](lib, lib.tensor(Z.astype(dtype)))
    want, got = raised(torch, fn), raised(tc, fn)
    assert isinstance(got, type(want)), f"tracecomp={got!r} | torch={want!r}"
    assert str(want).split(" (")[0].split("; but got")[0] in str(got)
    assert "floating point or complex" not in str(got)


@pytest.mark.parametrize("dtype", ("complex64", "complex128"))
def test_complex_type_names(dtype):
    assert tc.tensor(Z.astype(dtype)).type() == torch.tensor(Z.astype(dtype)).type()
