"""The `tracecomp` command under misuse: it never deletes or overwrites a file it did not
write, and user errors print one line (no traceback) unless a traceback is asked for.
"""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tracecomp import cli, dump_folder

ROOT = Path(__file__).resolve().parents[2]
MLP = str(ROOT / "examples" / "mlp.py") + ":MLP"
# the names an old dump cleaned up by pattern: all of them the user's own here
USER_FILES = {"index.md": "my index", "pass_log.txt": "my log", "notes.txt": "notes",
              "00_traced.txt": "mine", "graph.dot": "digraph g {}", "fig.svg": "<svg/>",
              "kernel.ll": "; mine", "kernel.s": "# mine"}


def _write_user_files(folder):
    folder.mkdir(exist_ok=True)
    for name, text in USER_FILES.items():
        (folder / name).write_text(text)


def _user_files_intact(folder):
    return all((folder / n).read_text() == t for n, t in USER_FILES.items())


def _dump(out, capsys=None):
    code = cli.main(["dump", MLP, "--input", "2x784", "--out", str(out), "-q",
                     "--backend", "interp"])
    return code, (capsys.readouterr().err if capsys else None)


def test_a_folder_of_user_files_is_refused_and_left_as_it_was(tmp_path, capsys):
    out = tmp_path / "mine"
    _write_user_files(out)
    code, err = _dump(out, capsys)
    assert code == 2
    assert err.startswith("tracecomp: error: --out ") and err.count("\n") == 1
    assert "not empty" in err and dump_folder.MANIFEST in err
    assert _user_files_intact(out) and sorted(os.listdir(out)) == sorted(USER_FILES)


def test_a_new_dump_removes_only_what_the_last_dump_wrote(tmp_path, capsys):
    out = tmp_path / "dump"
    out.mkdir()                                 # an empty folder is fine
    assert _dump(out)[0] == 0
    written = (out / dump_folder.MANIFEST).read_text().split()
    assert "index.md" in written and "00_traced.txt" in written
    stale = out / "99_stale.txt"                # a stage only the last dump had
    stale.write_text("old stage")
    with open(out / dump_folder.MANIFEST, "a") as f:
        f.write("99_stale.txt\n../outside.txt\nnotes.txt\n")   # and hand-made entries
    (tmp_path / "outside.txt").write_text("not in the folder")
    (out / "notes.txt").write_text("the user's")
    (out / "my.dot").write_text("the user's")
    assert _dump(out)[0] == 0
    assert not stale.exists()
    assert (tmp_path / "outside.txt").exists()      # never a path outside the folder
    assert (out / "notes.txt").read_text() == "the user's"  # not a name a dump writes
    assert (out / "my.dot").read_text() == "the user's"
    assert (out / "index.md").is_file() and (out / "00_traced.txt").is_file()


def test_a_user_file_where_a_dump_file_goes_is_not_overwritten(tmp_path):
    folder = dump_folder.DumpFolder(str(tmp_path / "dump"))
    folder.file("00_traced.txt")
    (tmp_path / "dump" / "01_simplified.txt").write_text("the user's")
    again = dump_folder.DumpFolder(str(tmp_path / "dump"))
    with pytest.raises(dump_folder.FolderError, match="01_simplified.txt exists and was not"):
        again.file("01_simplified.txt")
    assert (tmp_path / "dump" / "01_simplified.txt").read_text() == "the user's"


def test_dump_compiled_refuses_a_folder_it_did_not_write(tmp_path):
    import tracecomp as tc
    fn = tc.compile(lambda x: x * 2, backend="interp")
    fn(tc.ones(2))
    _write_user_files(tmp_path / "mine")
    with pytest.raises(ValueError, match="not empty"):
        cli.dump_compiled(fn, str(tmp_path / "mine"), "f")
    assert _user_files_intact(tmp_path / "mine")
    index = cli.dump_compiled(fn, str(tmp_path / "new"), "f")
    assert os.path.isfile(index)


def test_an_out_path_that_is_a_file_is_refused(tmp_path, capsys):
    path = tmp_path / "file.txt"
    path.write_text("keep")
    code, err = _dump(path, capsys)
    assert code == 2 and "exists and is not a folder" in err and err.count("\n") == 1
    assert path.read_text() == "keep"


# --- errors, in a fresh interpreter as a user runs the command ------------------------------
BAD_MODELS = textwrap.dedent("""
    import tracecomp.nn as nn


    class Boom(nn.Module):
        def __init__(self):
            super().__init__()
            raise RuntimeError("weights file missing")


    class Stop(nn.Module):
        def __init__(self):
            raise KeyboardInterrupt


    def bad_forward(x):
        return x.reshape(5, 7)
""")


def _run(tmp_path, *args, env=None):
    (tmp_path / "bad.py").write_text(BAD_MODELS)
    done = subprocess.run([sys.executable, "-m", "tracecomp.cli", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, **(env or {})})
    return done.returncode, done.stderr


@pytest.mark.parametrize(("args", "code", "line"), [
    (["dump", "bad.py:Boom", "--input", "3"], 1,
     "tracecomp dump: error: RuntimeError: weights file missing (at "),
    (["dump", "bad.py:bad_forward", "--input", "3x4"], 1,
     "tracecomp dump: error: ShapeError: reshape: shape '[5, 7]' is invalid"),
    (["dump", "bad.py:Stop", "--input", "3"], 130, "tracecomp dump: interrupted"),
    (["dump", "bad.py:Nope", "--input", "3"], 2, "tracecomp: error: bad.py has no `Nope`"),
    (["dump", "missing.py:M", "--input", "3"], 2, "tracecomp: error: no such file: missing.py"),
    (["dump", "bad.py:Boom", "--input", "3xx"], 2, "tracecomp: error: --input '3xx'"),
    (["bench", "--only", "nope"], 2, "tracecomp: error: argument --only: 'nope'"),
    (["support", "--bogus"], 2, "tracecomp: error: unrecognized arguments: --bogus"),
])
def test_errors_are_one_line(tmp_path, args, code, line):
    got, err = _run(tmp_path, *args)
    assert got == code, err
    assert err.startswith(line) and err.count("\n") == 1, err
    assert "Traceback" not in err


@pytest.mark.parametrize(("before", "after", "env"), [
    ([], ["--traceback"], None),
    (["--traceback"], [], None),            # before the subcommand works too
    ([], [], {"TRACECOMP_DEBUG": "1"}),
])
def test_the_traceback_is_there_when_asked_for(tmp_path, before, after, env):
    code, err = _run(tmp_path, *before, "dump", "bad.py:Boom", "--input", "3", *after, env=env)
    assert code == 1
    assert err.startswith("Traceback (most recent call last)")
    assert 'bad.py", line 8, in __init__' in err
    assert err.splitlines()[-1] == "tracecomp dump: error: RuntimeError: weights file missing"


@pytest.mark.parametrize("command", [[], ["dump"], ["bench"], ["support"]])
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main([*command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: tracecomp") and "--traceback" in out
