"""Checkpoint files under faults: atomic overwrites, bounded reads, and bool bytes.

- save(obj, path) replaces the old file only when the new one is complete: an error
  part-way (an unserializable object, a full disk) leaves the old checkpoint loadable,
  and no temporary file behind; the new file's mode is what open() would give it.
- load() refuses FIFOs and devices at once, and reads a file object no further than its
  header and its real size say (each hang case runs in a subprocess with a timeout).
- a bool tensor stored with a byte other than 0/1 loads as True, the same eagerly and
  compiled (torch reads any nonzero byte as True).
"""
import errno
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp import serialization as ser
from tracecomp import serialization_files
from tracecomp.errors import SerializationError

HANG_TIMEOUT_S = 60


def _state(value=1.0):
    return {"w": tc.full((4, 3), value), "step": 7, "mask": tc.tensor([True, False])}


def _same(got, want):
    assert list(got) == list(want) and got["step"] == want["step"]
    np.testing.assert_array_equal(got["w"].numpy(), want["w"].numpy())
    np.testing.assert_array_equal(got["mask"].numpy(), want["mask"].numpy())


def _leftovers(folder, keep):
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


# --- atomic writes -------------------------------------------------------------------------
def test_an_object_that_cannot_be_saved_leaves_the_old_checkpoint(tmp_path):
    path = tmp_path / "ckpt.tc"
    tc.save(_state(1.0), path)
    with pytest.raises(SerializationError, match="cannot save"):
        tc.save({"w": tc.ones(2), "fn": print}, path)
    _same(tc.load(path), _state(1.0))
    assert _leftovers(tmp_path, {"ckpt.tc"}) == []


@pytest.mark.parametrize("fault", ["disk full", "interrupt"])
def test_a_write_failing_part_way_leaves_the_old_checkpoint(tmp_path, monkeypatch, fault):
    """The write itself fails after some bytes went out: the old file stays as it was."""
    path = tmp_path / "ckpt.tc"
    tc.save(_state(1.0), path)
    before = path.read_bytes()
    real_write = ser._write

    class Failing(io.RawIOBase):
        def __init__(self, fh):
            self.fh, self.left = fh, 100        # 100 bytes, then the disk is full

        def write(self, b):
            if self.left <= 0:
                if fault == "interrupt":
                    raise KeyboardInterrupt
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            n = min(len(b), self.left)
            self.left -= n
            return self.fh.write(bytes(memoryview(b)[:n]))

    monkeypatch.setattr(ser, "_write", lambda fh, *a: real_write(Failing(fh), *a))
    error = KeyboardInterrupt if fault == "interrupt" else OSError
    with pytest.raises(error):
        tc.save(_state(2.0), path)
    assert path.read_bytes() == before
    _same(tc.load(path), _state(1.0))
    assert _leftovers(tmp_path, {"ckpt.tc"}) == []
    monkeypatch.undo()
    tc.save(_state(2.0), path)              # and the next save replaces it
    _same(tc.load(path), _state(2.0))


def test_a_new_file_respects_the_umask_and_an_old_one_keeps_its_mode(tmp_path):
    old_umask = os.umask(0o027)
    try:
        tc.save(_state(), tmp_path / "new.tc")
        with open(tmp_path / "plain", "wb"):
            pass                            # what open() gives under the same umask
    finally:
        os.umask(old_umask)
    mode = stat.S_IMODE((tmp_path / "new.tc").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain").stat().st_mode) == 0o640
    path = tmp_path / "private.tc"
    tc.save(_state(1.0), path)
    path.chmod(0o600)
    tc.save(_state(2.0), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    _same(tc.load(path), _state(2.0))


def test_a_symlink_is_written_through_and_a_device_in_place(tmp_path):
    target = tmp_path / "run3.tc"
    tc.save(_state(1.0), target)
    link = tmp_path / "latest.tc"
    link.symlink_to(target.name)
    tc.save(_state(2.0), link)
    assert link.is_symlink()
    _same(tc.load(target), _state(2.0))
    tc.save(_state(), os.devnull)           # a common way to time a save: still works
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_file_objects_are_written_in_place():
    buf = io.BytesIO(b"prefix")
    buf.seek(0, os.SEEK_END)
    tc.save(_state(), buf)
    buf.seek(len(b"prefix"))
    _same(tc.load(buf), _state())


# --- bounded reads -----------------------------------------------------------------------
def _load_in_subprocess(tmp_path, setup, load):
    """Run setup + load in a fresh interpreter; a hang is a timeout, not a stuck suite."""
    code = textwrap.dedent(f"""
        import os, sys
        import tracecomp as tc
        {setup}
        try:
            {load}
        except Exception as exc:
            print(f"{{type(exc).__name__}}: {{exc}}")
        else:
            print("loaded")
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=HANG_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
@pytest.mark.parametrize(("setup", "load", "message"), [
    ("", "tc.load('/dev/zero')", "/dev/zero: is a character device, not a regular file"),
    ("os.symlink('/dev/zero', 'ckpt.tc')", "tc.load('ckpt.tc')",
     "ckpt.tc: is a character device, not a regular file"),
    ("os.mkfifo('pipe.tc')", "tc.load('pipe.tc')",
     "pipe.tc: is a FIFO (named pipe), not a regular file"),
    ("", "tc.load(open('/dev/zero', 'rb'))", "not a tracecomp file: expected magic bytes"),
])
def test_fifos_and_devices_are_refused_without_hanging(tmp_path, setup, load, message):
    assert message in _load_in_subprocess(tmp_path, setup, load)


def test_a_directory_is_refused_as_open_would():
    with pytest.raises(IsADirectoryError):
        tc.load(os.path.dirname(__file__))


def _valid_file():
    buf = io.BytesIO()
    tc.save(_state(), buf)
    return buf.getvalue()


def test_a_stream_is_read_only_as_far_as_its_header_says(tmp_path):
    """A pipe holding a valid file and then endless bytes: the load stops at the end its
    header gives and reports the extra bytes (it does not read to the pipe's end)."""
    out = _load_in_subprocess(tmp_path, textwrap.dedent("""
        import io, threading
        buf = io.BytesIO(); tc.save({"w": tc.ones(3)}, buf)
        r, w = os.pipe()
        def feed():
            try:
                os.write(w, buf.getvalue())
                while True:
                    os.write(w, bytes(1 << 16))     # never ends
            except OSError:
                pass
        threading.Thread(target=feed, daemon=True).start()
    """).replace("\n", "\n        "), "tc.load(os.fdopen(r, 'rb'))")
    assert "unexpected bytes after the end of the tracecomp file" in out
    r, w = os.pipe()
    os.write(w, _valid_file())
    os.close(w)
    with os.fdopen(r, "rb") as f:
        _same(tc.load(f), _state())         # a complete stream loads


def test_a_header_claiming_more_than_the_file_holds_reads_nothing_more(tmp_path):
    """A header that says 1 EB: refused from the real size, before any big read/allocation."""
    data = bytearray(_valid_file())
    ser._PREFIX.pack_into(data, 0, ser.MAGIC, ser.FORMAT_VERSION,
                          *ser._PREFIX.unpack_from(data)[2:3], 10 ** 18)
    path = tmp_path / "big.tc"
    path.write_bytes(bytes(data))
    with pytest.raises(SerializationError, match="truncated tracecomp file: its header says"):
        tc.load(path)
    with open(path, "rb") as f, pytest.raises(SerializationError, match="truncated"):
        tc.load(f)

    class Counting(io.BytesIO):
        asked = 0

        def read(self, n=-1):
            Counting.asked += n if n >= 0 else 10 ** 18
            return super().read(n)

        def seekable(self):
            return False            # as a socket: no size known

    with pytest.raises(SerializationError, match="truncated"):
        tc.load(Counting(bytes(data)))
    assert Counting.asked < 10 ** 9      # bounded reads, in pieces


def test_remaining_size():
    buf = io.BytesIO(b"0123456789")
    buf.seek(4)
    assert serialization_files.remaining_size(buf) == 6 and buf.tell() == 4
    r, w = os.pipe()
    with os.fdopen(r, "rb") as f:
        os.close(w)
        assert serialization_files.remaining_size(f) is None


# --- bool bytes ----------------------------------------------------------------------------
def _with_bool_bytes(raw):
    """A checkpoint holding {"mask": bool tensor} whose stored bytes are `raw` (valid
    checksum: what another writer, or a hostile one, could produce)."""
    data = bytearray(_valid_file_of({"mask": tc.zeros(len(raw), dtype=tc.bool)}))
    _, _, hlen, _ = ser._PREFIX.unpack_from(data)
    header = json.loads(bytes(data[ser._PREFIX.size:ser._PREFIX.size + hlen]))
    start = ser._align(ser._PREFIX.size + hlen) + header["tensors"][0]["offset"]
    data[start:start + len(raw)] = bytes(raw)
    data[-32:] = hashlib.sha256(bytes(data[:-32])).digest()
    return bytes(data)


def _valid_file_of(obj):
    buf = io.BytesIO()
    tc.save(obj, buf)
    return buf.getvalue()


@pytest.mark.parametrize("backend", ["llvm", "interp"])
def test_bool_bytes_other_than_0_1_read_as_true_eagerly_and_compiled(backend):
    raw = [2, 0, 1, 255, 128, 0]
    mask = tc.load(io.BytesIO(_with_bool_bytes(raw)))["mask"]
    want_mask = torch.tensor(raw, dtype=torch.uint8).bool()     # torch: nonzero is True
    assert mask.dtype == tc.bool
    assert set(mask.numpy().view(np.uint8).tolist()) <= {0, 1}

    def probe(lib, m):
        return (m.int().sum(), lib.where(m, 1.0, 0.0), (m == True).int().sum(),  # noqa: E712
                m.float(), (~m).int())

    want = [t.numpy() for t in probe(torch, want_mask)]
    eager = [t.numpy() for t in probe(tc, mask)]
    compiled = [t.numpy() for t in tc.compile(lambda m: probe(tc, m), backend=backend)(mask)]
    for w, e, c in zip(want, eager, compiled):
        np.testing.assert_array_equal(e, w)
        np.testing.assert_array_equal(c, w)


def test_wrapped_and_unbuffered_file_objects_load(tmp_path):
    """A gzip file shares a descriptor whose size is not its own; an unbuffered file reads
    short: both load whole."""
    import gzip
    with gzip.open(tmp_path / "c.tc.gz", "wb") as f:
        tc.save(_state(), f)
    with gzip.open(tmp_path / "c.tc.gz", "rb") as f:
        _same(tc.load(f), _state())
    tc.save(_state(), tmp_path / "c.tc")
    with open(tmp_path / "c.tc", "rb", buffering=0) as f:
        _same(tc.load(f), _state())
