"""tracecomp.save / tracecomp.load: checkpoints in a format that loading cannot turn into code.

torch.save pickles, and unpickling a file can run anything its author wanted. This format
holds only data: a JSON header describing a nested structure, then raw tensor bytes.
Loading parses JSON and copies bytes into arrays; no Python object is ever constructed
from a name found in the file.

File layout (integers little-endian):
  magic      8 bytes   b"\\x89TCSAVE\\n" (PNG's trick: the \\x89 and \\n catch text-mode mangling)
  version    u32       FORMAT_VERSION
  hlen       u64       length of the header
  dlen       u64       length of the data section
  header     hlen bytes of UTF-8 JSON: {"root": <node>, "tensors": [<entry>, ...]}
  padding    zeros up to the next multiple of 64 (so tensor data stays aligned)
  data       dlen bytes: each tensor's bytes, C order, little-endian, at 64-aligned offsets
  checksum   32 bytes: sha256 of everything before it

A node is a JSON list [tag, payload...]:
  ["none"] ["bool", b] ["int", n] ["float", "repr"] ["str", s] ["dtype", "float32"]
  ["list", [node...]] ["tuple", [node...]] ["size", [n...]] ["dict", [[key, value]...]]
  ["odict", [[key, value]...]] or ["odict", [[key, value]...], metadata-node]
  ["namespace", "argparse" or "types", [[name, value]...]]   (an argparse.Namespace or a
  types.SimpleNamespace: a model's config, which constructor arguments often are)
  ["tensor", i] ["param", i] ["ndarray", i] ["npscalar", i]    (i indexes "tensors")
  ["sparse", "sparse_coo" or "sparse_csr", [tensor-node...], facts-node]   (a sparse
  tensor: its index and value tensors, and its size (and COO's coalesced flag))
  ["module", "pkg.mod:Class", args, kwargs, state_dict, training]  (saved_module.py: a whole
  nn.Module as its class, constructor arguments and state_dict; never a pickle)
  ["compiled", module-node, backend, fallback, recompile_limit, cache_size, fullgraph]
                                                            (a tracecomp.compile(model))
  ["optimizer", "pkg.mod:Class", defaults, [param-node...], state_dict]  (saved_optimizer.py:
  a whole optimizer, its parameters linked to those of modules in the same file)
  ["dataclass", "pkg.mod:Class", [[field, value]...]]  (saved_dataclass.py: a model config)
entry = {"dtype": name, "shape": [...], "offset": o, "nbytes": n, "requires_grad": b}.

Dict keys keep their types (int keys stay int), OrderedDicts stay OrderedDicts (with the
`_metadata` of a Module.state_dict), tuples stay tuples. A tensor object that appears
twice is stored once and loads as one object; distinct tensors that share memory load
as independent copies.
"""
import argparse
import hashlib
import json
import os
import struct
import types
from collections import OrderedDict

import numpy as np

from . import dtypes, saved_module, saved_optimizer, serialization_files, serialization_torch
from . import saved_dataclass as dataclass_nodes
from .device_array import DeviceArray
from .devices import CPU, check_placement, to_device, to_host
from .dtypes import np_kind
from .errors import SerializationError
from .sparse_data import SparseData
from .tensor import Size, Tensor, device

MAGIC = b"\x89TCSAVE\n"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<8sIQQ")      # magic, version, hlen, dlen
_DIGEST = 32
_ALIGN = 64
# dtypes a numpy array may have in a file; tensors use the tracecomp subset of these.
_NP_DTYPES = {name: np.dtype(name).newbyteorder("<") for name in
              ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
               "uint64", "float16", "float32", "float64", "complex64", "complex128")}
_NP_DTYPES["bfloat16"] = dtypes.BF16       # ml_dtypes': little-endian like the machine
_KEY_TYPES = (str, int, float, bool, type(None))
# Containers nest at most this deep (checkpoints nest a handful of levels); the limit keeps
# a hostile header from exhausting the stack, and save() enforces it so saved files load.
MAX_DEPTH = 100
_OBJECT_NODES = {"module": saved_module.decode, "compiled": saved_module.decode_compiled,
                 "optimizer": saved_optimizer.decode, "dataclass": dataclass_nodes.decode}
_SUPPORTED = ("dicts (OrderedDict too), lists, tuples, str, int, float, bool, None, tensors, "
              "numpy arrays and scalars, dtypes, argparse/types namespaces, nn.Modules (as "
              "class, constructor arguments and state_dict), optimizers (as class, "
              "parameters and state_dict), dataclasses (as class and fields)")
# the namespaces a file may hold, by the name it gives them: two fixed classes
_NAMESPACES = {"argparse": argparse.Namespace, "types": types.SimpleNamespace}


def _parameter_class():
    from .nn.parameter import Parameter  # nn imports the package: import on first use
    return Parameter


def _align(n):
    return -(-n // _ALIGN) * _ALIGN


# --- saving ------------------------------------------------------------------------------
class _Encoder:
    """Turns an object into (JSON-able node, tensor table, arrays to write)."""

    def __init__(self):
        self.entries, self.arrays = [], []
        self._index = {}        # id(tensor or array) -> table index
        self._keep = []         # keeps encoded objects alive so ids stay unique
        self._open = set()      # ids of the containers on the current path (cycle check)

    def _table(self, obj, arr, path):
        if id(obj) in self._index:
            return self._index[id(obj)]
        where = arr.device if type(arr) is DeviceArray else None
        arr = to_host(arr)          # a device tensor's values, copied back
        if not isinstance(arr, np.ndarray):
            raise SerializationError(f"tracecomp.save: {path} is a tensor being traced "
                                     f"(no value yet); save concrete tensors only")
        name = arr.dtype.name
        if name not in _NP_DTYPES:
            raise SerializationError(f"tracecomp.save: {path} has dtype {arr.dtype}, which the "
                                     f"format cannot hold; supported: {', '.join(_NP_DTYPES)}")
        arr = np.asarray(arr, dtype=_NP_DTYPES[name], order="C")    # keeps 0-d arrays 0-d
        offset = _align(self.arrays[-1][0] + self.arrays[-1][1].nbytes) if self.arrays else 0
        entry = {"dtype": name, "shape": list(arr.shape), "offset": offset,
                 "nbytes": arr.nbytes}
        if isinstance(obj, Tensor) and obj.requires_grad:
            entry["requires_grad"] = True
        if where is not None:       # loads back there, as torch's do, unless mapped
            entry["device"] = str(where)
        self.entries.append(entry)
        self.arrays.append((offset, arr))
        self._keep.append(obj)
        self._index[id(obj)] = len(self.entries) - 1
        return self._index[id(obj)]

    def key(self, k, path):
        if type(k) in _KEY_TYPES:
            return self.node(k, path)
        if type(k) is tuple and all(type(e) in _KEY_TYPES for e in k):
            return self.node(k, path)
        raise SerializationError(f"tracecomp.save: dict key {k!r} of type {type(k).__name__} "
                                 f"at {path} is not supported; keys must be str, int, float, "
                                 f"bool, None or tuples of those")

    def items(self, d, path):
        return [[self.key(k, path), self.node(v, f"{path}[{k!r}]")] for k, v in d.items()]

    def node(self, obj, path):
        kind = type(obj)
        if obj is None:
            return ["none"]
        if kind is bool:
            return ["bool", obj]
        if kind is int:
            return ["int", obj]
        if kind is float:
            return ["float", repr(obj)]
        if kind is str:
            return ["str", obj]
        if isinstance(obj, Tensor):
            if type(obj._data) is SparseData:   # its index and value tensors, its facts
                parts, facts = obj._parts()
                return ["sparse", str(obj.layout).split(".")[-1],
                        [self.node(p, f"{path}.{k}") for k, p in enumerate(parts)],
                        self.node(facts, f"{path}.size")]
            tag = "param" if isinstance(obj, _parameter_class()) else "tensor"
            return [tag, self._table(obj, obj._data, path)]
        if kind is np.ndarray:
            return ["ndarray", self._table(obj, obj, path)]
        if isinstance(obj, np.generic) and obj.dtype.name in _NP_DTYPES:
            return ["npscalar", self._table(obj, np.asarray(obj), path)]
        if kind is dtypes.DType:
            return ["dtype", obj.name]
        if kind is Size:
            return ["size", [int(d) for d in obj]]
        if kind in (list, tuple, dict, OrderedDict):
            if id(obj) in self._open:
                raise SerializationError(f"tracecomp.save: {path} contains itself (a reference "
                                         f"cycle); the format holds trees only")
            if len(self._open) >= MAX_DEPTH:
                raise SerializationError(f"tracecomp.save: {path} nests containers more than "
                                         f"{MAX_DEPTH} deep")
            self._open.add(id(obj))
            try:
                return self._container(obj, kind, path)
            finally:
                self._open.discard(id(obj))
        if kind in _NAMESPACES.values():
            return ["namespace", kind.__module__, self.items(vars(obj), path)]
        if saved_module.is_module(obj):
            return saved_module.encode_any(self, obj, path)
        if saved_optimizer.is_optimizer(obj):
            return saved_optimizer.encode(self, obj, path)
        if dataclass_nodes.is_dataclass_instance(obj):
            return dataclass_nodes.encode(self, obj, path)
        raise SerializationError(f"tracecomp.save: cannot save {path} of type "
                                 f"{kind.__module__}.{kind.__qualname__}; the safe format holds "
                                 f"{_SUPPORTED}" + _state_dict_hint(obj, path))

    def _container(self, obj, kind, path):
        if kind is list or kind is tuple:
            return [kind.__name__, [self.node(v, f"{path}[{i}]") for i, v in enumerate(obj)]]
        if kind is dict:
            return ["dict", self.items(obj, path)]
        out = ["odict", self.items(obj, path)]
        if hasattr(obj, "_metadata"):
            out.append(self.node(obj._metadata, f"{path}._metadata"))
        return out


def _state_dict_hint(obj, path):
    """For an object with a state_dict (an optimizer, a scheduler, a GradScaler: what
    training scripts put into their checkpoints whole, which torch.save pickles): how to
    save it here."""
    if not (callable(getattr(obj, "state_dict", None))
            and callable(getattr(obj, "load_state_dict", None))):
        return ""
    return (f". Save {path}.state_dict() instead, and after loading rebuild the "
            f"{type(obj).__name__} and call its load_state_dict() (torch.load refuses a "
            f"pickled {type(obj).__name__} too unless weights_only=False)")


def save(obj, f):
    """Write `obj` (a state_dict, an optimizer state, nested containers of tensors...) to a
    path or a binary file object. Nothing is written if `obj` holds an unsupported type.

    A path is written atomically (serialization_files.write_atomic): a failure part-way, a
    full disk or a killed process leaves the file that was there before intact. A file
    object is written in place, from its current position."""
    enc = _Encoder()
    root = enc.node(obj, "obj")
    header = json.dumps({"root": root, "tensors": enc.entries},
                        separators=(",", ":")).encode("utf-8")
    last = enc.arrays[-1] if enc.arrays else (0, np.empty(0, np.uint8))
    dlen = last[0] + last[1].nbytes
    if isinstance(f, (str, os.PathLike)):
        serialization_files.write_atomic(f, lambda fh: _write(fh, header, dlen, enc.arrays))
    else:
        _write(f, header, dlen, enc.arrays)


def _write(fh, header, dlen, arrays):
    digest = hashlib.sha256()

    def put(b):
        digest.update(b)
        fh.write(b)

    put(_PREFIX.pack(MAGIC, FORMAT_VERSION, len(header), dlen))
    put(header)
    start = _align(_PREFIX.size + len(header))
    put(bytes(start - _PREFIX.size - len(header)))
    pos = 0
    for offset, arr in arrays:
        put(bytes(offset - pos))
        put(memoryview(arr.reshape(-1).view(np.uint8)))
        pos = offset + arr.nbytes
    fh.write(digest.digest())


# --- loading -----------------------------------------------------------------------------
def _not_ours(buf, name):
    if not (buf[:1] == b"\x80" and buf[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")):
        return SerializationError(f"{name}: not a tracecomp file: expected magic bytes "
                                  f"{MAGIC!r}, found {bytes(buf[:8])!r}")
    return SerializationError(f"{name}: this looks like a plain pickle, or a checkpoint in "
                              f"torch's legacy format (torch.save before torch 1.6); "
                              f"tracecomp reads torch.save's zip checkpoints only, because "
                              f"unpickling a plain pickle can run arbitrary code. Save it "
                              f"again with a current torch (torch.save(torch.load(path, "
                              f"weights_only=True), path)).")


def _check_layout(head, total, name):
    """Magic, version and sizes, from the file's first bytes (`head`, up to the fixed-size
    prefix) and its length in bytes (`total`, None while unknown: a stream is then read up
    to what the prefix says, and checked again). Returns (hlen, dlen, data_start, size)."""
    if len(head) < len(MAGIC) or head[:len(MAGIC)] != MAGIC:
        if len(head) < len(MAGIC) and MAGIC.startswith(bytes(head)) and head:
            raise _truncated_prefix(len(head), name)
        raise _not_ours(head, name)
    if len(head) < _PREFIX.size:
        raise _truncated_prefix(len(head), name)
    _, version, hlen, dlen = _PREFIX.unpack_from(head)
    if version != FORMAT_VERSION:
        raise SerializationError(f"{name}: tracecomp file format version {version}; this "
                                 f"tracecomp reads version {FORMAT_VERSION} (saved by a "
                                 f"different tracecomp release?)")
    data_start = _align(_PREFIX.size + hlen)
    expected = data_start + dlen + _DIGEST
    if total is not None and total < expected:
        raise SerializationError(f"{name}: truncated tracecomp file: its header says "
                                 f"{expected} bytes (header {hlen}, data {dlen}), the file "
                                 f"has {total}")
    if total is not None and total > expected:
        raise _trailing(f"{total - expected} unexpected bytes", expected, name)
    return hlen, dlen, data_start, expected


def _truncated_prefix(n, name):
    return SerializationError(f"{name}: truncated tracecomp file: {n} bytes, shorter than "
                              f"the {_PREFIX.size}-byte file header")


def _trailing(what, expected, name):
    return SerializationError(f"{name}: {what} after the end of the tracecomp file "
                              f"({expected} bytes expected)")


def _check_digest(buf, name):
    if hashlib.sha256(memoryview(buf)[:-_DIGEST]).digest() != bytes(buf[-_DIGEST:]):
        raise SerializationError(f"{name}: checksum mismatch: the file is corrupt (its "
                                 f"sha256 does not match the one stored at its end)")


def _read_file(f, size, name):
    """The whole file from a binary file object: its prefix, then as many bytes as the
    prefix says and never more than `size` (the bytes left in a regular file; None for a
    stream), so a device or a stream that never ends is not read without bound."""
    head = serialization_files.read_up_to(f, _PREFIX.size if size is None
                                          else min(size, _PREFIX.size))
    if not isinstance(head, (bytes, bytearray)):
        raise SerializationError(f"tracecomp.load: {name} must be opened in binary mode "
                                 f"(read() returned {type(head).__name__})")
    if serialization_torch.is_torch_zip(head):     # torch.save's zip: all of it
        rest = serialization_files.read_up_to(f, size - len(head)) if size is not None \
            else f.read()
        return head + rest
    total = size if size is not None or len(head) < _PREFIX.size else None
    expected = _check_layout(head, total, name)[3]
    if size is not None:    # a regular file: exactly `expected` bytes are there
        buf = bytearray(expected)
        buf[:len(head)] = head
        got = len(head) + serialization_files.read_into(f, memoryview(buf)[len(head):])
        if got < expected:      # the file shrank while being read
            _check_layout(head, got, name)
        return buf
    # a stream: read in pieces (its header's sizes are not trusted with one allocation),
    # and it must end where the header says
    buf = head + serialization_files.read_up_to(f, expected - len(head))
    if len(buf) < expected:
        _check_layout(head, len(buf), name)
    if serialization_files.read_up_to(f, 1):
        raise _trailing("unexpected bytes", expected, name)
    return buf


def _int(v, what, name):
    if type(v) is not int or v < 0:
        raise SerializationError(f"{name}: malformed header: {what} must be a non-negative "
                                 f"integer, got {v!r}")
    return v


def _array(entry, i, buf, data_start, dlen, name):
    if not isinstance(entry, dict) or entry.get("dtype") not in _NP_DTYPES:
        got = entry.get("dtype") if isinstance(entry, dict) else entry
        raise SerializationError(f"{name}: tensor {i} has unknown dtype {got!r}; known: "
                                 f"{', '.join(_NP_DTYPES)}")
    dt = _NP_DTYPES[entry["dtype"]]
    if dt == dtypes.BF16:
        dtypes.special_used[0] = True      # bind computes bfloat16 in float32 from now on
    shape = entry.get("shape")
    if not isinstance(shape, list):
        raise SerializationError(f"{name}: malformed header: tensor {i} shape {shape!r}")
    shape = [_int(d, f"tensor {i} shape", name) for d in shape]
    offset = _int(entry.get("offset"), f"tensor {i} offset", name)
    nbytes = _int(entry.get("nbytes"), f"tensor {i} nbytes", name)
    if offset + nbytes > dlen:
        raise SerializationError(f"{name}: header points outside the data: tensor {i} claims "
                                 f"bytes [{offset}, {offset + nbytes}) of a {dlen}-byte data "
                                 f"section")
    need = int(np.prod(shape, dtype=object)) * dt.itemsize
    if need != nbytes:
        raise SerializationError(f"{name}: malformed header: tensor {i} of shape {shape} and "
                                 f"dtype {entry['dtype']} needs {need} bytes, header says "
                                 f"{nbytes}")
    if np_kind(dt) == "b":
        # any nonzero byte is True (as torch reads one): a byte 2 would otherwise be a bool
        # that numpy and compiled code read differently (`!= 0` makes a proper 0/1 array)
        raw = np.frombuffer(buf, dtype=np.uint8, count=nbytes, offset=data_start + offset)
        return (raw != 0).reshape(shape)
    arr = np.frombuffer(buf, dtype=dt, count=nbytes // dt.itemsize, offset=data_start + offset)
    return arr.astype(dt.newbyteorder("="), copy=True).reshape(shape)


class _Decoder:
    def __init__(self, header, buf, data_start, dlen, name, map_location=None):
        self.name = name
        self.map_location = map_location
        entries = header.get("tensors")
        if not isinstance(entries, list):
            raise SerializationError(f"{name}: malformed header: no tensor table")
        self.entries = entries
        self.arrays = [_array(e, i, buf, data_start, dlen, name) for i, e in enumerate(entries)]
        self._made = {}

    def made_param(self, i):
        """The parameter object table entry i loaded as so far, or None."""
        return self._made.get((i, True))

    def _tensor(self, i, param):
        if (i, param) in self._made:
            return self._made[(i, param)]
        arr = self.arrays[i]
        dtypes.from_np(arr.dtype)
        where = _destination(self.entries[i].get("device"), self.map_location)
        t = Tensor._make(arr if where.type == "cpu" else to_device(arr, where))
        grad = bool(self.entries[i].get("requires_grad", False)) and np_kind(arr.dtype) == "f"
        if param:
            t = _parameter_class()(t, requires_grad=grad)
        elif grad:
            t.requires_grad_(True)
        self._made[(i, param)] = t
        return t

    def _pairs(self, items, depth):
        return [(self.key(k, depth), self.node(v, depth)) for k, v in items]

    def key(self, node, depth):
        k = self.node(node, depth)
        if isinstance(k, (list, dict, OrderedDict, Tensor, np.ndarray)):
            raise SerializationError(f"{self.name}: malformed header: unhashable dict key {k!r}")
        return k

    def node(self, node, depth=0):
        if depth > MAX_DEPTH:
            raise SerializationError(f"{self.name}: malformed header: containers nested more "
                                     f"than {MAX_DEPTH} deep")
        tag, args, depth = node[0], node[1:], depth + 1
        if tag == "none":
            return None
        if tag in ("bool", "int", "str"):
            value = args[0]
            if type(value) is not {"bool": bool, "int": int, "str": str}[tag]:
                raise SerializationError(f"{self.name}: malformed header: {tag} node holds "
                                         f"{value!r}")
            return value
        if tag == "float":
            return float(str(args[0]))
        if tag == "dtype":
            return dtypes.from_name(str(args[0]))
        if tag == "size":
            return Size(int(d) for d in args[0])
        if tag in ("list", "tuple"):
            values = [self.node(v, depth) for v in args[0]]
            return values if tag == "list" else tuple(values)
        if tag == "dict":
            return dict(self._pairs(args[0], depth))
        if tag == "odict":
            out = OrderedDict(self._pairs(args[0], depth))
            if len(args) > 1:
                out._metadata = self.node(args[1], depth)
            return out
        if tag == "namespace" and args[0] in _NAMESPACES:
            pairs = list(self._pairs(args[1], depth))
            if not all(type(k) is str for k, _ in pairs):
                raise SerializationError(f"{self.name}: malformed header: a namespace's names "
                                         f"must be strings")
            return _NAMESPACES[args[0]](**dict(pairs))
        if tag in ("tensor", "param"):
            return self._tensor(self._ref(args[0]), tag == "param")
        if tag == "sparse":
            from .sparse import LAYOUT_CLASSES
            if args[0] not in LAYOUT_CLASSES:
                raise SerializationError(f"{self.name}: malformed header: unknown sparse "
                                         f"layout {args[0]!r}")
            return LAYOUT_CLASSES[args[0]]._from_parts(
                [self.node(p, depth) for p in args[1]], self.node(args[2], depth))
        if tag in _OBJECT_NODES:       # a whole module, optimizer or dataclass
            return _OBJECT_NODES[tag](self, args, depth)
        if tag in ("ndarray", "npscalar"):
            arr = self.arrays[self._ref(args[0])]
            return arr if tag == "ndarray" else arr[()]
        raise SerializationError(f"{self.name}: malformed header: unknown node tag {tag!r}")

    def _ref(self, i):
        if type(i) is not int or not 0 <= i < len(self.arrays):
            raise SerializationError(f"{self.name}: header points outside the tensor table: "
                                     f"reference {i!r}, table has {len(self.arrays)} entries")
        return i


def _destination(saved, map_location):
    """Where a tensor saved on device `saved` (None: the CPU) loads, as torch.load decides:
    map_location as a device moves every tensor there; as a dict it renames devices
    ({'cuda:0': 'cpu'}); a callable (storage, location) keeps them on the CPU; None puts
    each back where it was saved."""
    if isinstance(map_location, (str, device)):
        return device(map_location)
    if saved is None:
        return CPU
    if isinstance(map_location, dict):
        saved = map_location.get(saved, saved)
    elif callable(map_location):
        return CPU
    where = device(saved)
    _check_map_location(where)
    return where


def _placed(t, saved, map_location):
    """A tensor read from a torch checkpoint, where its storage's location `saved` and
    map_location put it."""
    where = _destination(None if saved in (None, "cpu") else saved, map_location)
    if where.type == "cpu":
        return t
    moved = Tensor._make(to_device(t._data, where))
    if isinstance(t, _parameter_class()):
        return _parameter_class()(moved, requires_grad=t.requires_grad)
    return moved.requires_grad_(True) if t.requires_grad else moved


def _check_map_location(map_location):
    """Refuse a device tensors cannot load on, with torch's errors (on 'cuda' without a
    GPU: its CPU-build advice to map the storages to the CPU)."""
    if not isinstance(map_location, (str, device)):
        return
    d = device(map_location)
    if d.type == "cuda":
        from . import cuda
        if not cuda.is_available():
            raise RuntimeError("Attempting to deserialize object on a CUDA device but "
                               "torch.cuda.is_available() is False. If you are running on a "
                               "CPU-only machine, please use torch.load with "
                               "map_location=torch.device('cpu') to map your storages to the "
                               "CPU.")
    check_placement(d, moving=True)


def load(f, map_location=None, *, weights_only=None, mmap=None):
    """Read what save() wrote, from a path or a binary file object (read to its end).

    A path must name a regular file (a FIFO or a device such as /dev/zero is refused before
    anything is read from it); a file object is read up to what the file's header says, and
    no further than its real size when it is a regular file or an in-memory buffer.
    Tensors load where they were saved (the CPU, or a device) unless map_location says
    otherwise, as torch's. A zip checkpoint torch.save wrote loads by torch's
    weights_only=True rules (serialization_torch.py); weights_only=False lets it make numpy
    arrays and scalars too, as torch's, and nothing else: loading is always safe (no class
    a file names is ever called). mmap is accepted for torch compatibility.
    Raises SerializationError for anything that is not an intact tracecomp file."""
    _check_map_location(map_location)
    if isinstance(f, (str, os.PathLike)):
        name = os.fspath(f)
        with serialization_files.open_regular(name) as (fh, size):
            buf = _read_file(fh, size, name)
    else:
        name = getattr(f, "name", None) or type(f).__name__
        buf = _read_file(f, serialization_files.remaining_size(f), name)
    if serialization_torch.is_torch_zip(buf):      # torch.save's: weights_only's rules
        return serialization_torch.load(buf, name, lambda t, where: _placed(
            t, where, map_location), _safe_globals, numpy_arrays=weights_only is False)
    hlen, dlen, data_start, _ = _check_layout(buf[:_PREFIX.size], len(buf), name)
    _check_digest(buf, name)
    try:
        header = json.loads(bytes(buf[_PREFIX.size:_PREFIX.size + hlen]).decode("utf-8"))
        if not isinstance(header, dict) or "root" not in header:
            raise SerializationError(f"{name}: malformed header: no root object")
        return _Decoder(header, buf, data_start, dlen, name,
                        map_location).node(header["root"])
    except SerializationError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, RecursionError) as e:
        # Only reachable with a hand-made header whose checksum was recomputed.
        raise SerializationError(f"{name}: malformed header ({type(e).__name__}: {e})") from None


# torch.serialization's allow-list of classes that torch.load(weights_only=True) may
# unpickle: a torch checkpoint naming one of them may make it (serialization_torch.py);
# tracecomp's own files make no object from a name at all.
_safe_globals = []


def add_safe_globals(safe_globals):
    _safe_globals.extend(safe_globals)


def get_safe_globals():
    return list(_safe_globals)


def clear_safe_globals():
    _safe_globals.clear()


class safe_globals:  # noqa: N801 - torch's name
    """`with torch.serialization.safe_globals([...]):` as torch: the list is in effect
    inside the block."""

    def __init__(self, safe_globals):
        self.globals = list(safe_globals)

    def __enter__(self):
        self.saved = get_safe_globals()
        add_safe_globals(self.globals)

    def __exit__(self, *exc):
        clear_safe_globals()
        add_safe_globals(self.saved)
        return False


__all__ = ["FORMAT_VERSION", "MAGIC", "add_safe_globals", "clear_safe_globals",
           "get_safe_globals", "load", "safe_globals", "save"]
