"""The disk cache against hostile folders and entries (issue 10, items 1-3): each case runs
a small compiled training step (forward AND backward graph: two cache entries) in a process
of its own, over a cache folder tampered with beforehand, and that process must exit 0 with
the numbers numpy gives, within a timeout (a hang fails, it does not block CI), while the
refusal is logged and nothing hostile is followed, linked or overwritten.

Before the fix: swapped forward/backward entries linked and ran (SIGSEGV or wrong numbers),
a FIFO at an entry hung the compile, a symlink to /dev/zero read until memory ran out, and
a folder anyone could write to was used.
"""
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest

from tracecomp.codegen.llvm.runtime import cache

TIMEOUT = 120   # seconds per process: a compile takes ~2 s here; a hang takes forever

# forward and backward of Linear-Tanh-Linear, against the same step in float64 numpy
CHILD = """
import numpy as np
import tracecomp as tc
from tracecomp import nn

tc.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 4))
x = np.random.default_rng(1).standard_normal((5, 8)).astype(np.float32)
out = tc.compile(model)(tc.tensor(x))
(out * out).sum().backward()
w1, b1, w2, b2 = (p.detach().numpy().astype(np.float64) for p in model.parameters())
h = np.tanh(x @ w1.T + b1)
y = h @ w2.T + b2
dy = 2 * y
dh = (dy @ w2) * (1 - h * h)
expected = [y, dh.T @ x, dh.sum(0), dy.T @ h, dy.sum(0)]
got = [out.detach().numpy()] + [p.grad.numpy() for p in model.parameters()]
for name, g, e in zip(["out", "w1", "b1", "w2", "b2"], got, expected):
    np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5, err_msg=name)
print("numbers OK")
"""


def run_child(directory, prelude="", **env):
    """Run CHILD with `directory` as its cache; its stderr (the tracecomp log at
    TRACECOMP_DEBUG=1) when it exits 0 with the right numbers, else the test fails."""
    environ = {k: v for k, v in os.environ.items()
               if k not in ("TRACECOMP_CACHE", "TRACECOMP_CACHE_MAX_MB")}
    # the step's products on the BLAS: its two graphs are then the folder's only entries
    # (the generated GEMMs' library, gemm/shared.py, would be a third, cached the same way)
    environ.update(TRACECOMP_CACHE_DIR=str(directory), TRACECOMP_DEBUG="1",
                   TRACECOMP_GEMM="blas", **env)
    try:
        done = subprocess.run([sys.executable, "-c", prelude + CHILD], env=environ,
                              capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the compiling process hung (killed after {TIMEOUT} s); its log:\n"
                    f"{exc.stderr}")
    assert done.returncode == 0 and "numbers OK" in done.stdout, (
        f"exit status {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}")
    return done.stderr


def hits(log):
    return log.count("object code from the disk cache")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A cache folder the step filled: (folder, [forward entry name, backward entry name])."""
    directory = tmp_path_factory.mktemp("pristine") / "cache"
    log = run_child(directory)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    names = [line.rsplit("/", 1)[1] for line in log.splitlines()
             if "object code cached:" in line]
    assert len(names) == 2 and sorted(names) == sorted(os.listdir(directory)), log
    return directory, names


@pytest.fixture
def folder(pristine, tmp_path):
    """A copy of the pristine folder for one test: (folder, forward path, backward path)."""
    source, names = pristine
    directory = tmp_path / "cache"
    shutil.copytree(source, directory)
    directory.chmod(0o700)
    return directory, *(directory / name for name in names)


def test_swapped_forward_and_backward_entries_are_refused(folder):
    """Each entry copied over the other: both whole and checksummed, but bound to the other
    graph's key. Refused, rebuilt, rewritten as they were."""
    directory, forward, backward = folder
    good = forward.read_bytes(), backward.read_bytes()
    forward.write_bytes(good[1])
    backward.write_bytes(good[0])
    log = run_child(directory)
    assert hits(log) == 0 and log.count("built for another key (fingerprint") == 2, log
    assert (forward.read_bytes(), backward.read_bytes()) == good


def _binding_and_object(data):
    """An entry's (binding bytes, object code)."""
    payload = data[cache.HEADER.size:]
    (n,) = cache.BINDING_LENGTH.unpack_from(payload)
    start = cache.BINDING_LENGTH.size
    return payload[start:start + n], payload[start + n:]


def _entry(binding, obj):
    """A well-formed entry: what a writer who knows the format can make."""
    payload = cache.BINDING_LENGTH.pack(len(binding)) + binding + obj
    return cache.HEADER.pack(cache.MAGIC, cache.FORMAT_VERSION, len(payload),
                             hashlib.sha256(payload).digest()) + payload


def test_planted_object_code_is_never_linked(folder):
    """The backward graph's object planted under the forward graph's key, twice over: as a
    raw object file (no header), and as a well-formed entry that claims the forward key (its
    binding copied). The first is not an entry; the second passes every check of the file
    but defines the backward graph's symbol names, so the link fails. Both are rebuilt."""
    directory, forward, backward = folder
    good = forward.read_bytes(), backward.read_bytes()
    forward_binding, _ = _binding_and_object(good[0])
    backward_binding, backward_object = _binding_and_object(good[1])
    assert json.loads(forward_binding)["key"] == forward.name[:-len(cache.SUFFIX)]
    assert backward_object.startswith(b"\x7fELF")
    forward.write_bytes(backward_object)
    log = run_child(directory)
    assert hits(log) == 1 and "refused (bad magic)" in log, log
    assert forward.read_bytes() == good[0]

    forward.write_bytes(_entry(forward_binding, backward_object))
    log = run_child(directory)
    assert hits(log) == 1 and "did not link" in log and "Symbols not found" in log, log
    assert forward.read_bytes() == good[0]


def test_a_fifo_at_an_entry_does_not_hang(folder):
    directory, forward, backward = folder
    good = forward.read_bytes()
    forward.unlink()
    os.mkfifo(forward)
    log = run_child(directory)
    assert "is not a regular file (a FIFO)" in log, log
    assert forward.is_file() and forward.read_bytes() == good


def test_a_symlink_to_dev_zero_is_not_read(folder):
    directory, forward, backward = folder
    good = backward.read_bytes()
    backward.unlink()
    backward.symlink_to("/dev/zero")
    log = run_child(directory)
    assert "cannot be opened as a regular file" in log, log
    assert not backward.is_symlink() and backward.read_bytes() == good


def test_a_symlink_out_of_the_folder_is_not_followed(folder, tmp_path):
    """Even to a valid entry: the link is neither read nor written through; the file it
    points to is left as it was."""
    directory, forward, backward = folder
    good = forward.read_bytes()
    outside = tmp_path / "elsewhere.tcobj"
    outside.write_bytes(b"the user's own file")
    forward.unlink()
    forward.symlink_to(outside)
    log = run_child(directory)
    assert "cannot be opened as a regular file" in log and hits(log) == 1, log
    assert outside.read_bytes() == b"the user's own file"
    assert not forward.is_symlink() and forward.read_bytes() == good


def _foreign_owner(path):
    """Make `path` another user's: chown to nobody as root; as another user (who cannot
    chown), the child is told its uid is one more than the owner's (the same check)."""
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534, follow_symlinks=False)
        return ""
    return f"import os\nos.geteuid = lambda: {path.stat().st_uid + 1}\n"


@pytest.mark.parametrize("where", ["folder", "entry"])
def test_a_folder_or_entry_of_another_user_is_not_used(folder, where):
    """Nothing in it is read (a swapped pair stays in place and is not linked) or written."""
    directory, forward, backward = folder
    good = forward.read_bytes(), backward.read_bytes()
    forward.write_bytes(good[1])
    backward.write_bytes(good[0])
    prelude = _foreign_owner(directory if where == "folder" else forward)   # read first
    log = run_child(directory, prelude)
    assert "owned by uid" in log and "not cached" in log and hits(log) == 0, log
    assert "built for another key" not in log      # the folder was not even read
    assert (forward.read_bytes(), backward.read_bytes()) == good[::-1]
    assert sorted(os.listdir(directory)) == sorted([forward.name, backward.name])


@pytest.mark.parametrize("where,mode", [("folder", 0o777), ("entry", 0o660)],
                         ids=["folder-777", "entry-660"])
def test_a_folder_or_entry_others_may_write_is_not_used(folder, where, mode):
    directory, forward, backward = folder
    good = forward.read_bytes(), backward.read_bytes()
    backward.write_bytes(good[0])         # would be refused if read: it is not read
    (directory if where == "folder" else forward).chmod(mode)    # forward: read first
    log = run_child(directory)
    assert f"writable by group or others (mode {mode:o})" in log and hits(log) == 0, log
    assert "built for another key" not in log
    assert (forward.read_bytes(), backward.read_bytes()) == (good[0], good[0])


def test_truncated_and_flipped_entries_are_rebuilt(folder):
    directory, forward, backward = folder
    good = forward.read_bytes(), backward.read_bytes()
    forward.write_bytes(good[0][:len(good[0]) // 2])
    flipped = bytearray(good[1])
    flipped[len(flipped) // 2] ^= 0x10
    backward.write_bytes(bytes(flipped))
    log = run_child(directory)
    assert "header says" in log and "checksum mismatch" in log and hits(log) == 0, log
    assert (forward.read_bytes(), backward.read_bytes()) == good


def test_the_size_bound_evicts_the_least_recently_used(folder):
    """TRACECOMP_CACHE_MAX_MB: five old 10 KB entries and the step's two, over a bound that
    holds the step's two and four fillers and a half (the entries' sizes follow the code
    the host compiles, so the bound is made from them). The forward entry is the oldest of
    all but is hit (its mtime touched); the backward one is missing, so it is written, and
    the eviction after that write takes the oldest filler only."""
    directory, forward, backward = folder
    bound = (forward.stat().st_size + backward.stat().st_size + 45_000) / 2**20
    fillers = []
    for k in range(5):
        path = directory / (f"{k:064x}" + cache.SUFFIX)
        path.write_bytes(b"\0" * 10_000)
        os.utime(path, (1_000_000 + k,) * 2)
        fillers.append(path)
    os.utime(forward, (1, 1))
    backward.unlink()
    log = run_child(directory, TRACECOMP_CACHE_MAX_MB=repr(bound))
    assert hits(log) == 1 and "object code cached" in log, log
    total = sum(p.stat().st_size for p in directory.iterdir())
    assert total <= bound * 2**20
    assert sorted(directory.iterdir()) == sorted([forward, backward] + fillers[1:])
    assert "evicted 1 least recently used entries" in log and fillers[0].name in log, log
