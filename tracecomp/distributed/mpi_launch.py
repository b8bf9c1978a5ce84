"""`tracecomp run -n N script.py [args]`: start N copies of a training script under mpiexec.

The command it runs is

    mpiexec -n N [-hostfile FILE] PYTHON script.py args...

with PYTHON the interpreter running tracecomp (so every rank imports this same
installation) and mpiexec the one installed beside it, by the `mpich` wheel of
`pip install 'tracecomp[distributed]'`, whose MPI library is the one mpi4py loads; an
mpiexec on PATH (a system MPI) is the fallback, and --mpiexec names another. `-hostfile`
is spelled the way both MPICH's hydra and Open MPI accept it. The exit status is mpiexec's:
non-zero when any rank failed (faults.py makes a failing rank abort the others).
"""
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

HELP = ("start N processes of a training script under mpiexec (tracecomp.distributed: "
        "init_process_group('mpi'), DistributedDataParallel)")
DESCRIPTION = """\
Run SCRIPT in N processes with MPI's mpiexec, each with this Python, as

    mpiexec -n N [-hostfile FILE] python SCRIPT ARGS...

Each process calls tracecomp.distributed.init_process_group("mpi") and learns its rank and
the world size from MPI. Options go before SCRIPT; everything after it is the script's.

On one machine nothing else is needed. Over several machines, pass --hostfile FILE: it is
handed to mpiexec as `-hostfile FILE` (MPICH's hydra and Open MPI both read it), one host
per line, `host:slots` with MPICH or `host slots=N` with Open MPI. Every host needs the
same Python environment at the same path and passwordless ssh from this one.

The exit status is mpiexec's: non-zero when any rank raised (that rank prints its
traceback, prefixed with [rank N], and aborts every rank)."""


class LaunchError(Exception):
    """No usable mpiexec, or a bad argument: the CLI reports it in one line."""


def add_parser(sub):
    """The `run` subcommand's arguments (cli.py calls this)."""
    import argparse
    run = sub.add_parser("run", help=HELP, description=DESCRIPTION,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("-n", "--nproc", type=int, default=1, metavar="N",
                     help="number of processes (ranks) to start (default 1)")
    run.add_argument("--hostfile", metavar="FILE",
                     help="the machines to run on, passed to mpiexec as `-hostfile FILE` "
                     "(default: every rank on this machine)")
    run.add_argument("--timeout", type=int, metavar="SECONDS",
                     help="kill the whole job after SECONDS (mpiexec's MPIEXEC_TIMEOUT): "
                     "for ranks that hang without raising")
    run.add_argument("--mpiexec", metavar="PATH",
                     help="the mpiexec to use (default: the one beside this Python, from "
                     "the mpich wheel, else mpiexec on PATH)")
    run.add_argument("--dry-run", action="store_true",
                     help="print the command instead of running it")
    run.add_argument("script", metavar="SCRIPT", help="the training script")
    run.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS",
                     help="the script's own arguments")
    return run


def find_mpiexec(given=None):
    """The mpiexec to run: `given`, else the one beside sys.executable, else PATH's."""
    if given:
        found = shutil.which(given)
        if found is None:
            raise LaunchError(f"--mpiexec {given}: no such executable")
        return found
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("mpiexec")
    if found is None:
        raise LaunchError("no mpiexec found beside this Python or on PATH: pip install "
                          "'tracecomp[distributed]' (mpi4py and the mpich wheel, which "
                          "ships mpiexec)")
    return found


def command(nproc, script, args=(), hostfile=None, mpiexec=None):
    """The mpiexec command line for `tracecomp run`."""
    if nproc < 1:
        raise LaunchError(f"-n {nproc}: the number of processes must be at least 1")
    if not Path(script).is_file():
        raise LaunchError(f"{script}: no such script")
    if hostfile is not None and not Path(hostfile).is_file():
        raise LaunchError(f"--hostfile {hostfile}: no such file")
    cmd = [find_mpiexec(mpiexec), "-n", str(nproc)]
    if hostfile is not None:
        cmd += ["-hostfile", str(hostfile)]
    return cmd + [sys.executable, str(script), *args]


def main(opts):
    """Run (or print) the job; returns mpiexec's exit status."""
    args = list(opts.args)
    if args[:1] == ["--"]:
        args = args[1:]
    cmd = command(opts.nproc, opts.script, args, opts.hostfile, opts.mpiexec)
    if opts.dry_run:
        print(shlex.join(cmd))
        return 0
    env = dict(os.environ)
    if opts.timeout is not None:
        env["MPIEXEC_TIMEOUT"] = str(opts.timeout)
    return subprocess.call(cmd, env=env)
