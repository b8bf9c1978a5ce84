"""torch.special's functions take out= (all but softmax and log_softmax): each one here is
called with out= as torch's is, and the buffer, the returned object and the errors compared
with torch's."""
import numpy as np
import pytest
import torch

import tracecomp as tc

X = np.array([0.15, 0.4, 0.9, 1.7, 2.6, 3.3], np.float32)
Y = np.array([0.3, 1.2, 0.5, 2.0, 0.7, 1.9], np.float32)

NAMES = sorted(n for n in torch.special.__all__ if n not in ("softmax", "log_softmax"))
# the positional arguments of the functions that take more than x
ARGS = {"xlogy": lambda lib, x, y: (x, y), "xlog1py": lambda lib, x, y: (x, y),
        "zeta": lambda lib, x, y: (x + 1, y), "gammainc": lambda lib, x, y: (x, y),
        "gammaincc": lambda lib, x, y: (x, y), "polygamma": lambda lib, x, y: (1, x),
        "multigammaln": lambda lib, x, y: (x + 1, 2), "logsumexp": lambda lib, x, y: (x, 0)}


def _call(lib, name, out):
    x, y = lib.tensor(X), lib.tensor(Y)
    if "_polynomial_" in name:      # degrees n as a float tensor
        args = (x, lib.round(y * 2))
    else:
        args = ARGS.get(name, lambda lib, x, y: (x,))(lib, x, y)
    return getattr(lib.special, name)(*args, out=out)


@pytest.mark.parametrize("name", NAMES)
def test_out_is_written_and_returned(name):
    shape = () if name == "logsumexp" else (6,)
    want_out = torch.empty(shape)
    got_out = tc.empty(shape)
    want = _call(torch, name, want_out)
    got = _call(tc, name, got_out)
    assert want is want_out and got is got_out
    np.testing.assert_allclose(got_out.numpy(), want_out.numpy(), rtol=2e-5, atol=1e-6,
                               equal_nan=True)


def test_out_resized_with_torchs_warning():
    want_out, got_out = torch.empty(2), tc.empty(2)
    with pytest.warns(UserWarning, match="was resized"):
        torch.special.erfcx(torch.tensor(X), out=want_out)
    with pytest.warns(UserWarning, match="was resized"):
        tc.special.erfcx(tc.tensor(X), out=got_out)
    assert tuple(got_out.shape) == tuple(want_out.shape) == (6,)
    np.testing.assert_allclose(got_out.numpy(), want_out.numpy(), rtol=1e-6)


@pytest.mark.parametrize("lib", [torch, tc], ids=["torch", "tracecomp"])
def test_out_errors_as_torchs(lib):
    x = lib.tensor(X)
    with pytest.raises(RuntimeError, match="can't be cast to the desired output type"):
        lib.special.i0e(x, out=lib.empty(6, dtype=lib.int64))
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        lib.special.erf(x.requires_grad_(), out=lib.empty(6))
    with pytest.raises(TypeError):
        lib.special.softmax(x, 0, out=lib.empty(6))
