"""The file side of tracecomp.save / tracecomp.load: atomic writes and bounded reads.

Writing: `write_atomic(path, write)` writes into a temporary file beside `path` and renames
it over `path` only once everything is written and flushed to disk, so a failure part-way
(an error while writing, a full disk, a killed process) leaves the old checkpoint intact.
The new file gets the mode a plain open() would give it: the existing file's permission
bits, or 0o666 less the umask for a new one. A symlink is written through (its target is
replaced, the link stays), and a path that is not a regular file (/dev/null) is written in
place, as is a file whose folder we may not create files in.

Reading: `open_regular(path)` opens regular files only: a FIFO would block the open or the
read forever, and a device such as /dev/zero never ends. The file is checked before it is
opened (nothing is opened but a regular file) and again on the open descriptor (the path
may have changed in between); it is opened non-blocking, so a FIFO swapped in cannot hang
the open. `remaining_size(f)` is how many bytes a file object holds from its position when
that is known (a regular file, an in-memory buffer), so the loader reads no further.
"""
import contextlib
import errno
import io
import os
import secrets
import stat

from .errors import SerializationError

_KINDS = {stat.S_ISFIFO: "a FIFO (named pipe)", stat.S_ISCHR: "a character device",
          stat.S_ISBLK: "a block device", stat.S_ISSOCK: "a socket",
          stat.S_ISDIR: "a directory"}
_CHUNK = 1 << 24        # a short read (a pipe, a raw file) is resumed this much at a time


# --- writing -----------------------------------------------------------------------------
def write_atomic(path, write):
    """Call write(binary file) for a new file at `path`, replacing what was there only once
    write() returned and the bytes are on disk."""
    path = os.fspath(path)
    if os.path.islink(path):
        path = os.path.realpath(path)       # replace the link's target, keep the link
    try:
        old = os.stat(path)
    except FileNotFoundError:
        old = None
    if old is not None and not stat.S_ISREG(old.st_mode):
        with open(path, "wb") as fh:        # /dev/null, a FIFO: nothing to replace
            write(fh)
        return
    try:
        fd, tmp = _create_temp(path, old)
    except PermissionError:
        with open(path, "wb") as fh:        # the folder is not ours to add files to
            write(fh)
        return
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())           # on disk before it takes the old file's name
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _create_temp(path, old):
    """(fd, name) of a new, exclusive temporary file in path's folder, with the mode a
    plain open(path, 'wb') would leave path with."""
    folder, base = os.path.split(os.path.abspath(path))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(folder, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            # mode 0o666: the kernel takes the umask off, as for open()
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        except PermissionError:
            raise
        except OSError as exc:      # no such folder...: name the user's path, not ours
            raise type(exc)(exc.errno, exc.strerror, path) from None
        if old is not None:
            try:
                os.chmod(tmp, stat.S_IMODE(old.st_mode) & 0o777)
            except OSError:
                os.close(fd)
                os.unlink(tmp)
                raise
        return fd, tmp
    raise FileExistsError(errno.EEXIST, "no free temporary file name", path)


# --- reading -----------------------------------------------------------------------------
def _not_regular(mode, name):
    kind = next((what for test, what in _KINDS.items() if test(mode)), "not a regular file")
    if stat.S_ISDIR(mode):
        return IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), name)
    return SerializationError(f"{name}: is {kind}, not a regular file; tracecomp.load reads "
                              f"regular files only (a FIFO or a device could block or never "
                              f"end): save the checkpoint to a file and load that")


@contextlib.contextmanager
def open_regular(name):
    """`with open_regular(path) as (binary file, size):` for a regular file; anything else
    raises before it is read (FileNotFoundError and the like as open() raises them)."""
    mode = os.stat(name).st_mode
    if not stat.S_ISREG(mode):
        raise _not_regular(mode, name)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(name, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):     # swapped between the stat and the open
            raise _not_regular(info.st_mode, name)
        fh = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with fh:
        yield fh, info.st_size


def remaining_size(f):
    """Bytes left in file object f from its position: known for a regular file and for a
    seekable in-memory buffer, None for anything else (a pipe, a socket, a device)."""
    try:
        fd = f.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None
    try:
        if fd is not None:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                return None             # seek() on /dev/zero "works" and means nothing
            if isinstance(f, (io.FileIO, io.BufferedReader, io.BufferedRandom)):
                return max(info.st_size - f.tell(), 0)
            # a wrapper (gzip.GzipFile) shares a file's descriptor, not its size
        if not getattr(f, "seekable", lambda: False)():
            return None
        here = f.tell()
        end = f.seek(0, os.SEEK_END)
        f.seek(here)
        return max(end - here, 0)
    except (AttributeError, OSError, ValueError):
        return None


def read_up_to(f, n):
    """At most n bytes from f: fewer only at the end of the file (a short read from a pipe
    or a raw file is resumed). Returns what read() returned when that is not bytes."""
    data = f.read(min(n, _CHUNK))
    if not isinstance(data, (bytes, bytearray)) or len(data) >= n or not data:
        return data
    parts = [data]
    got = len(data)
    while got < n:
        more = f.read(min(n - got, _CHUNK))
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def read_into(f, view):
    """Fill memoryview `view` from f; returns the bytes read (fewer only at end of file)."""
    got = 0
    readinto = getattr(f, "readinto", None)
    while got < len(view):
        if readinto is not None:
            k = readinto(view[got:])
        else:
            more = f.read(len(view) - got)
            k = len(more)
            view[got:got + k] = more
        if not k:
            break
        got += k
    return got
