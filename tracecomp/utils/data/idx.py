"""Readers for the IDX format of the MNIST files (http://yann.lecun.com/exdb/mnist/).

An IDX file is a 4-byte magic number `00 00 <dtype code> <ndim>`, then ndim big-endian
uint32 dimension sizes, then the data, big-endian, row-major. Files may be gzipped.

`read_idx` returns a numpy array (native byte order, writable), not a tensor: IDX is a
file format, and a numpy array lets the caller pick the dtype and wrap it without a copy
(`tracecomp.from_numpy`). `load_mnist` returns tensors ready for training.
"""
import gzip
import os
import struct
import zlib

import numpy as np

from ...creation import from_numpy
from ...errors import DataError

# IDX dtype code -> (big-endian numpy dtype, name in the format's documentation)
IDX_DTYPES = {0x08: (np.dtype(">u1"), "unsigned byte"), 0x09: (np.dtype(">i1"), "signed byte"),
              0x0B: (np.dtype(">i2"), "short"), 0x0C: (np.dtype(">i4"), "int"),
              0x0D: (np.dtype(">f4"), "float"), 0x0E: (np.dtype(">f8"), "double")}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path):
    """The file's bytes, gunzipped when it starts with the gzip magic (whatever its name)."""
    with open(path, "rb") as f:
        raw = f.read()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: corrupt gzip data ({e})") from None


def parse_idx(buf, name="<bytes>"):
    """Decode IDX bytes into a numpy array; DataError names `name` when they are malformed."""
    if len(buf) < 4:
        raise DataError(f"{name}: truncated IDX header: expected at least 4 bytes of magic "
                        f"number, got {len(buf)}")
    zero0, zero1, code, ndim = buf[0], buf[1], buf[2], buf[3]
    if zero0 or zero1:
        raise DataError(f"{name}: not an IDX file: bad magic number {bytes(buf[:4]).hex(' ')} "
                        f"(an IDX file starts with 00 00 <dtype code> <ndim>)")
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X} {n}" for c, (_, n) in IDX_DTYPES.items())
        raise DataError(f"{name}: unknown IDX dtype code 0x{code:02X}; known codes: {known}")
    dtype = IDX_DTYPES[code][0]
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise DataError(f"{name}: truncated IDX header: {ndim} dimensions need {header} header "
                        f"bytes, got {len(buf)}")
    shape = struct.unpack(f">{ndim}I", buf[4:header])
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
    actual = len(buf) - header
    if actual < expected:
        raise DataError(f"{name}: truncated IDX data: shape {list(shape)} of "
                        f"{IDX_DTYPES[code][1]} needs {expected} bytes, got {actual}")
    if actual > expected:
        raise DataError(f"{name}: {actual - expected} bytes of trailing garbage after the IDX "
                        f"data (shape {list(shape)} of {IDX_DTYPES[code][1]} needs {expected} "
                        f"bytes, got {actual})")
    data = np.frombuffer(buf, dtype=dtype, count=expected // dtype.itemsize, offset=header)
    return data.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def read_idx(path):
    """Read an IDX file (raw or gzipped) into a numpy array of its dtype and shape."""
    return parse_idx(_read_bytes(path), os.fspath(path))


MNIST_FILES = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
# Where to look under root: the folder itself and torchvision's layouts.
_SUBDIRS = ("", "raw", os.path.join("MNIST", "raw"))


def _find(root, stem):
    for sub in _SUBDIRS:
        for suffix in ("", ".gz"):
            path = os.path.join(root, sub, stem + suffix)
            if os.path.isfile(path):
                return path
    return None


def load_mnist(root, train=True):
    """(images, labels) of the MNIST training (or, with train=False, test) set found in
    `root`: images a uint8 tensor [N, 28, 28], labels an int64 tensor [N]."""
    stems = MNIST_FILES[bool(train)]
    paths = [_find(root, stem) for stem in stems]
    if None in paths:
        missing = [s for s, p in zip(stems, paths) if p is None]
        dirs = ", ".join(os.path.join(root, d) if d else str(root) for d in _SUBDIRS)
        raise DataError(f"MNIST {'training' if train else 'test'} files not found: missing "
                        f"{', '.join(missing)} (raw or .gz) in any of: {dirs}. Expected files: "
                        f"{', '.join(stems)}")
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DataError(f"{paths[0]}: expected uint8 images of shape [N, rows, cols], got "
                        f"{images.dtype} of shape {list(images.shape)}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{paths[1]}: expected {len(images)} labels (one per image) in a 1-d "
                        f"file, got shape {list(labels.shape)}")
    return from_numpy(images), from_numpy(labels.astype(np.int64))
