"""The digits demo's closing picture (examples/train_digits.py --plot): loss per epoch and
step time, eager vs compiled, as a PNG; without matplotlib, one line and no picture."""
import runpy
import struct
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "train_digits.py"


@pytest.fixture
def demo(monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE)])
    return runpy.run_path(str(EXAMPLE), run_name="demo")


def test_a_short_run_draws_the_curves(demo, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    pytest.importorskip("sklearn")
    png = tmp_path / "out" / "curves.png"
    # no dump of the compiled steps (test_demo checks it): drawing their graphs' pictures
    # took a third of this test
    results = demo["main"](["--epochs", "1", "--dump-dir", "", "--plot", str(png)])
    out = capsys.readouterr().out
    assert f"loss and step-time curves: {png}" in out, out
    assert "stage by stage" not in out, out       # --dump-dir "": no dump written
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (1000, 400)      # figsize 10x4 at 100 dpi
    for name, r in results.items():
        for mode in ("eager", "compiled"):
            curves = r[f"{mode}_curves"]
            assert len(curves["loss"]) == len(curves["step"]) == 1, (name, mode, curves)
        # the same start, the same batches: the first epoch's losses agree closely
        assert r["compiled_curves"]["loss"][0] == pytest.approx(r["eager_curves"]["loss"][0],
                                                                rel=1e-3)


def test_without_matplotlib_it_says_so_in_one_line(demo, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)       # its import fails
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    curves = {"loss": [1.0], "step": [0.001]}
    results = {"MLP": {"eager_curves": curves, "compiled_curves": curves}}
    assert demo["plot_curves"](results, str(tmp_path / "c.png"), "test") is None
    out = capsys.readouterr().out
    assert out.strip().splitlines() == ["no curves picture: matplotlib is not installed "
                                        "(pip install 'tracecomp[demo]')"]
    assert not (tmp_path / "c.png").exists()
