"""`tracecomp run`: the mpiexec command line it builds, and what it refuses (no MPI job is
started here: tests/distributed/test_faults.py runs one through it)."""
import sys

from tracecomp.cli import main


def _run(capsys, *argv):
    status = main(["run", *argv])
    out = capsys.readouterr()
    return status, out.out + out.err


def test_dry_run_prints_mpiexec_with_this_python_and_the_hostfile(tmp_path, capsys):
    script, hosts = tmp_path / "train.py", tmp_path / "hosts"
    script.write_text("")
    hosts.write_text("node1:2\nnode2:2\n")
    status, out = _run(capsys, "-n", "4", "--hostfile", str(hosts), "--mpiexec", sys.executable,
                       "--dry-run", str(script), "--epochs", "3", "-n", "7")
    assert status == 0, out
    assert out.split() == [sys.executable, "-n", "4", "-hostfile", str(hosts), sys.executable,
                           str(script), "--epochs", "3", "-n", "7"]


def test_bad_arguments_are_one_line_usage_errors(tmp_path, capsys):
    script = tmp_path / "train.py"
    script.write_text("")
    for argv, text in [(["-n", "0", str(script)], "at least 1"),
                       ([str(tmp_path / "missing.py")], "no such script"),
                       (["--hostfile", str(tmp_path / "nope"), str(script)], "no such file"),
                       (["--mpiexec", "no-such-mpiexec", str(script)], "no such executable")]:
        status, out = _run(capsys, *argv)
        assert status == 2 and text in out and out.count("\n") == 1, out


def test_help_documents_the_hostfile(capsys):
    try:
        main(["run", "--help"])
    except SystemExit:
        pass
    text = capsys.readouterr().out
    assert "--hostfile FILE" in text and "-hostfile FILE" in text and "mpiexec" in text
