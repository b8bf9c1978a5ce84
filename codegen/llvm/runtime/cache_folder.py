"""The disk cache's folder, as a filesystem: which folder, whether to trust it, how to read
an entry without being made to hang or run out of memory, how to write one atomically, and
the size bound. cache.py decides what an entry holds; this module never looks inside one.

    folder = trusted_folder()               # None: cache off, unusable or untrusted (warned)
    with open_entry(path, limit) as f:      # None: no entry there; raises Untrusted/NotAnEntry
        header = read_at_most(f.fd, n)
    replace_atomically(path, entry_bytes)
    evict(folder, max_bytes(), keep=path)   # least recently used first

Trust. The folder is created 0700. Code linked from it runs in this process, so a folder that
another user owns, or that group or others may write to, is refused: one warning, then every
compile in this process goes uncached (nothing there is read or written). An entry owned by
another user or writable by group/others is refused the same way: something that should not
have been able to write there did.

Reads. An entry is opened with O_NOFOLLOW (a symlink, in the folder or out of it, is not
followed) and O_NONBLOCK (a FIFO opens at once instead of waiting for a writer), then
fstat'ed: only a regular file no larger than the bound is read, and never more bytes than
it has. Anything else at an entry's path (a symlink to /dev/zero, a FIFO, a device, a
folder) is logged and removed (the link or node itself, never what it points to).

Size. TRACECOMP_CACHE_MAX_MB (default 512) bounds the folder: a hit touches the entry's
mtime, and after a write that may have taken the folder over the bound the least recently
used entries go until it fits (logged on the `tracecomp` logger at INFO). Temporary files
left by a killed writer are removed once an hour old. Knowing the folder's size means a stat
of every entry, so a process that writes thousands of entries (a sweep over shapes, a test
suite) would spend time quadratic in their number on it: evict_after_write scans on the
process's first write, then only when its writes since have used up the room that scan
left under the bound, or when that scan is RESCAN_SECONDS old (other processes write too).
"""
import logging
import os
import stat
import tempfile
import threading
import time
from contextlib import contextmanager

log = logging.getLogger("tracecomp")

SUFFIX = ".tcobj"
DEFAULT_MAX_MB = 512
STALE_TEMP_SECONDS = 3600   # a writer finishes in seconds; older temporaries were orphaned
RESCAN_SECONDS = 60         # how stale a scan's idea of the folder's size may get
_warned = set()       # folders already warned about: one warning each, not one per compile
_distrusted = set()   # folders refused for this process (their warning already given)
# (folder, suffix) -> (monotonic time of its last scan, the bound then, bytes left under it)
_room = {}
_room_lock = threading.Lock()   # compiles in several threads write entries at once


class Untrusted(Exception):
    """An entry that someone other than this user could have written."""


class NotAnEntry(Exception):
    """Something other than a regular file of bounded size at an entry's path."""


def folder_path():
    """$TRACECOMP_CACHE_DIR, else $XDG_CACHE_HOME/tracecomp, else ~/.cache/tracecomp; None
    when TRACECOMP_CACHE turns the cache off."""
    if os.environ.get("TRACECOMP_CACHE", "1").strip().lower() in ("0", "false", "off", "no"):
        return None
    directory = os.environ.get("TRACECOMP_CACHE_DIR")
    if not directory:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                                ".cache")
        directory = os.path.join(base, "tracecomp")
    return directory


def trusted_folder():
    """The cache folder, created (0700) if needed; None when the cache is off, the folder
    cannot be made, or it is not trusted (each of the latter warned about once)."""
    directory = folder_path()
    if directory is None or directory in _distrusted:
        return None
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        st = os.stat(directory)     # a symlinked folder is judged by what it points to
    except OSError as exc:
        warn_once(directory, f"cannot create the cache directory {directory} ({exc}); "
                             "compiled code is not cached (set TRACECOMP_CACHE_DIR to a "
                             "writable directory, or TRACECOMP_CACHE=0)")
        return None
    problem = _untrusted(st) if stat.S_ISDIR(st.st_mode) else "is not a directory"
    if problem:
        distrust(directory, f"the cache directory {directory} {problem}")
        return None
    return directory


def _untrusted(st):
    """Why a file or folder with stat `st` could hold code this user did not write, or None."""
    uid = os.geteuid() if hasattr(os, "geteuid") else None
    if uid is not None and st.st_uid != uid:
        return f"is owned by uid {st.st_uid}, not by you (uid {uid})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"is writable by group or others (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def distrust(directory, problem):
    """Refuse `directory` for the rest of this process, with one warning."""
    _distrusted.add(directory)
    warn_once(directory, f"{problem}; compiled code is not cached (code linked from it would "
                         "run in this process). Use a directory of your own (mode 700) in "
                         "TRACECOMP_CACHE_DIR, or TRACECOMP_CACHE=0")


def warn_once(directory, message):
    if directory not in _warned:
        _warned.add(directory)
        log.warning("tracecomp: %s", message)


class Opened:
    """An open entry: its descriptor and its fstat."""

    def __init__(self, fd, st):
        self.fd, self.st = fd, st


@contextmanager
def open_entry(path, limit):
    """Opened(fd, st) for the regular file at `path` (at most `limit` bytes), or None when
    nothing is there. Raises NotAnEntry for anything else there, Untrusted for a file this
    user does not solely control. A hit's mtime is touched (the LRU order)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) \
        | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        fd = None
    except OSError as exc:      # ELOOP: a symlink; EISDIR, ENXIO (a socket), EACCES, ...
        raise NotAnEntry(f"cannot be opened as a regular file ({exc.strerror or exc})") \
            from exc
    if fd is None:
        yield None
        return
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotAnEntry(f"is not a regular file ({_kind(st.st_mode)})")
        problem = _untrusted(st)
        if problem:
            raise Untrusted(problem)
        if st.st_size > limit:
            raise NotAnEntry(f"is {st.st_size} bytes, over the {limit}-byte bound")
        yield Opened(fd, st)
        _touch(fd)
    finally:
        os.close(fd)


def _kind(mode):
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return f"mode {mode:o}"


def _touch(fd):
    """Mark an entry used now (the LRU order); a folder mounted read-only keeps its order."""
    if os.utime in os.supports_fd:
        try:
            os.utime(fd)
        except OSError:
            pass


def read_at_most(fd, n):
    """Up to n bytes from fd: fewer only at end of file."""
    chunks, left = [], n
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 24))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def replace_atomically(path, data):
    """Write `data` to a temporary file beside `path` (created 0600, never an existing
    file), then `os.replace` it onto `path`: readers and concurrent writers only ever see a
    whole file, and a symlink at `path` is replaced, not followed."""
    directory, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        remove(tmp)
        raise


def max_bytes():
    """The folder's size bound from TRACECOMP_CACHE_MAX_MB (megabytes, default 512)."""
    text = os.environ.get("TRACECOMP_CACHE_MAX_MB", "").strip()
    if not text:
        return DEFAULT_MAX_MB << 20
    try:
        mb = float(text)
    except ValueError:
        mb = float("nan")
    if not mb > 0 or mb == float("inf"):
        raise ValueError(f"TRACECOMP_CACHE_MAX_MB must be a positive number of megabytes "
                         f"(the disk cache's size bound, default {DEFAULT_MAX_MB}), got "
                         f"{text!r}")
    return int(mb * (1 << 20))


def evict_after_write(directory, bound, keep, size, suffix=SUFFIX):
    """After writing `size` bytes at `keep`: evict (below) when the folder may be over
    `bound`, as far as this process can tell without a scan (module docstring)."""
    slot, now = (directory, suffix), time.monotonic()
    with _room_lock:
        scanned, was_bound, room = _room.get(slot, (None, None, 0))
        if scanned is not None and was_bound == bound and size <= room \
                and now - scanned < RESCAN_SECONDS:
            _room[slot] = (scanned, bound, room - size)
            return
        _room.pop(slot, None)   # scanning: a concurrent write scans too, never skips
    total = evict(directory, bound, keep, suffix)
    if total is not None:
        with _room_lock:
            _room[slot] = (now, bound, bound - total)


def evict(directory, bound, keep, suffix=SUFFIX):
    """Remove the least recently used entries (oldest mtime first) until the folder's
    entries (its files named *suffix) total at most `bound` bytes; `keep` (the entry just
    written) stays. Returns the entries' total after that (None: the folder unreadable)."""
    entries, now = [], time.time()
    try:
        listing = list(os.scandir(directory))
    except OSError:
        return None
    for e in listing:
        try:
            st = e.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        if e.name.startswith(".") and e.name.endswith(".tmp"):
            if now - st.st_mtime > STALE_TEMP_SECONDS:
                remove(e.path)
        elif e.name.endswith(suffix):
            entries.append((st.st_mtime_ns, e.name, st.st_size, e.path))
    total = sum(size for _, _, size, _ in entries)
    if total <= bound:
        return total
    evicted, freed = [], 0
    for _, name, size, path in sorted(entries):
        if total - freed <= bound:
            break
        if path != keep and remove(path):
            evicted.append(name)
            freed += size
    if evicted:
        log.info("tracecomp: the cache directory %s held %d bytes, over its %d-byte bound "
                 "(TRACECOMP_CACHE_MAX_MB): evicted %d least recently used entries (%d "
                 "bytes): %s", directory, total, bound, len(evicted), freed,
                 ", ".join(evicted))
    return total - freed


def remove(path):
    """Remove the file or link at `path`; True when it was removed here."""
    try:
        os.remove(path)
    except OSError:
        return False
    return True
