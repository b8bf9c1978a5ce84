"""The README's main job: the digits demo trains both models to >= 95 % test accuracy and
its saved weights reload to the same accuracy."""
import runpy
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "train_digits.py"


def test_train_digits_reaches_95_percent(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE)])
    namespace = runpy.run_path(str(EXAMPLE), run_name="demo")
    results = namespace["main"]([])
    out = capsys.readouterr().out
    assert set(results) == {"MLP", "ConvNet"}
    for name, acc in results.items():
        assert acc >= 0.95, f"{name} reached only {acc:.3f} test accuracy\n{out}"
    assert "DIFFERENT" not in out, out
    assert out.count("epoch ") >= 2 * 12, out
