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


def _logs(*libs):
    """Each library's log, from processes run side by side (the test waits on both)."""
    runs = [subprocess.Popen([sys.executable, "-c", CODE.format(lib=lib)], text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for lib in libs]
    outs = [run.communicate() for run in runs]
    for run, (_, err) in zip(runs, outs):
        assert run.returncode == 0, err
    return [out for out, _ in outs]


def test_the_warnings_are_torchs():
    pytest.importorskip("torch")
    want, got = _logs("torch", "tracecomp")
    assert "float ['Converting a tensor with requires_grad=True to a scalar" in want
    assert got == want
