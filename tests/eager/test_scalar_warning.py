"""float() and complex() of a tensor that requires grad warn as torch's do: once per
process, and not for int(), bool() or item(). Each library runs in a fresh process, where
its warn-once state is new."""
import subprocess
import sys

import pytest

CODE = """
import warnings
import {lib} as torch
x = torch.ones((), requires_grad=True)
for name, convert in [("int", int), ("bool", bool), ("item", lambda t: t.item()),
                      ("float", float), ("float again", float), ("complex", complex),
                      ("detached", lambda t: float(t.detach()))]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        convert(x * 2)
    print(name, [str(w.message).splitlines()[0] for w in caught])
"""


def _log(lib):
    out = subprocess.run([sys.executable, "-c", CODE.format(lib=lib)], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_the_warnings_are_torchs():
    pytest.importorskip("torch")
    want = _log("torch")
    assert "float ['Converting a tensor with requires_grad=True to a scalar" in want
    assert _log("tracecomp") == want
