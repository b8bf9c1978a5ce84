"""Reading checkpoints that torch.save wrote (a pretrained model's state_dict), by the
rules torch.load applies with weights_only=True: the only objects the file may make are
containers, tensors, parameters and a few torch values, never an object of a class the
file names.

torch.save writes a zip archive: `<name>/data.pkl`, a pickle of the saved structure whose
tensors refer to storages by key ("persistent ids"), and `<name>/data/<key>`, each
storage's raw bytes (`<name>/byteorder` says whose order). Unpickling runs whatever a file
names, so the pickle is read by an Unpickler whose `find_class` answers an allow-list
(ALLOWED) and nothing else: every callable the pickle can reach is one of ours, as in the
"Restricting Globals" recipe of Python's pickle documentation and torch's own
weights-only loader. Anything else (a whole pickled model, any other class) is refused
with torch's advice, whatever `weights_only` says: tracecomp cannot make torch's classes.

Tensors load as independent copies (torch keeps views of one storage as views), where
their storage's location and map_location put them (serialization._destination).
"""
import io
import pickle
import zipfile
from collections import OrderedDict

import numpy as np

from . import dtypes
from .errors import SerializationError
from .tensor import Size, Tensor, device

# torch's typed storages -> the numpy dtype of their bytes
STORAGES = {"FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
            "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16",
            "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool",
            "BFloat16Storage": "bfloat16", "ComplexFloatStorage": "complex64",
            "ComplexDoubleStorage": "complex128"}
_DTYPE_NAMES = ("float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8",
                "bool", "bfloat16", "complex64", "complex128", "float", "double", "half",
                "long", "int", "short", "cfloat", "cdouble")


class _StorageType:
    """A storage class the pickle names (torch.FloatStorage): which bytes it holds."""

    def __init__(self, name):
        self.name, self.dtype = name, STORAGES[name]


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None,
                    metadata=None):
    """torch._utils._rebuild_tensor_v2: size and stride (in elements) over a storage."""
    data, where = storage
    size, stride = tuple(size), tuple(stride)
    if size and (offset + sum((n - 1) * s for n, s in zip(size, stride) if n) >= len(data)
                 and 0 not in size):
        raise SerializationError(f"a tensor of size {list(size)} and stride {list(stride)} "
                                 f"at offset {offset} reaches past its storage of "
                                 f"{len(data)} elements")
    view = np.lib.stride_tricks.as_strided(data[offset:], size,
                                           [s * data.itemsize for s in stride])
    t = Tensor._make(np.array(view, order="C"))
    t._loaded_from = where      # the storage's location: load() places it
    if requires_grad:
        t.requires_grad_(True)
    return t


def _rebuild_parameter(data, requires_grad, hooks=None, state=None):
    from .nn.parameter import Parameter
    p = Parameter(data, requires_grad=requires_grad)
    p._loaded_from = getattr(data, "_loaded_from", None)
    return p


def _bytes(text, encoding="latin1"):
    """_codecs.encode, as protocol-2 pickles spell a bytes object: text to latin-1 only."""
    if encoding != "latin1" or not isinstance(text, str):
        raise SerializationError("a torch checkpoint encodes bytes other than as latin-1")
    return text.encode("latin1")


def _allowed():
    from . import dtypes as d
    table = {("collections", "OrderedDict"): OrderedDict,
             ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
             ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
             ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
             ("torch", "Size"): Size, ("torch", "device"): device,
             ("_codecs", "encode"): _bytes}
    table.update({("torch", name): _StorageType(name) for name in STORAGES})
    table.update({("torch", name): getattr(d, name) for name in _DTYPE_NAMES
                  if hasattr(d, name)})
    return table


ALLOWED = _allowed()

# What pickles of numpy arrays and scalars name (numpy >= 2 spells its core module
# numpy._core, older files numpy.core): allowed when the caller says weights_only=False.
NUMPY_ARRAYS = {(core, name): getattr(np._core.multiarray, name)
                for core in ("numpy._core.multiarray", "numpy.core.multiarray")
                for name in ("_reconstruct", "scalar")}
NUMPY_ARRAYS.update({("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype})


class _Reader(pickle.Unpickler):
    """Unpickles data.pkl: names from ALLOWED only, storages from the archive."""

    def __init__(self, data, archive, prefix, name, extra, numpy_arrays):
        super().__init__(io.BytesIO(data))
        self.allowed = {**ALLOWED, **NUMPY_ARRAYS} if numpy_arrays else ALLOWED
        self.archive, self.prefix, self.name = archive, prefix, name
        self.extra = extra          # torch.serialization.add_safe_globals' classes
        self.storages = {}
        self.swap = archive.read(prefix + "byteorder").strip() == b"big" \
            if prefix + "byteorder" in archive.namelist() else False

    def find_class(self, module, name):
        found = self.allowed.get((module, name))
        if found is None:
            found = next((g for g in self.extra if getattr(g, "__module__", None) == module
                          and getattr(g, "__qualname__", None) == name), None)
        if found is None:
            raise SerializationError(
                f"{self.name}: Weights only load failed: Unsupported global: GLOBAL "
                f"{module}.{name}. tracecomp reads torch checkpoints as torch.load("
                f"weights_only=True) does: containers, tensors and parameters. Save the "
                f"state_dict (torch.save(model.state_dict(), path)) rather than the object, "
                f"and load it into the model with load_state_dict")
        return found

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise SerializationError(f"{self.name}: unknown storage reference {pid!r}")
        _, kind, key, where, numel = pid
        if key not in self.storages:
            raw = self.archive.read(f"{self.prefix}data/{key}")
            # bfloat16's bytes are read as uint16 (numpy has no byte-swapped bfloat16)
            bits = "uint16" if kind.dtype == "bfloat16" else kind.dtype
            dtype = np.dtype(bits).newbyteorder(">" if self.swap else "<")
            if len(raw) < numel * dtype.itemsize:
                raise SerializationError(f"{self.name}: storage {key} holds {len(raw)} bytes, "
                                         f"fewer than its {numel} {kind.dtype} elements")
            data = np.frombuffer(raw, dtype, count=numel)
            data = data.astype(data.dtype.newbyteorder("="))
            if kind.dtype == "bfloat16":
                data = data.view(dtypes.to_np(dtypes.bfloat16))
            self.storages[key] = (data, str(where))
        return self.storages[key]


def is_torch_zip(buf):
    return bytes(buf[:4]) == b"PK\x03\x04"


def load(buf, name, place, extra=(), numpy_arrays=False):
    """What the torch zip checkpoint in `buf` holds; place(tensor, location) puts each
    loaded tensor where it belongs. numpy_arrays: numpy arrays and scalars may load too
    (torch.load(weights_only=False))."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(bytes(buf)))
        pickles = [n for n in archive.namelist() if n.endswith("data.pkl")]
    except zipfile.BadZipFile as e:
        raise SerializationError(f"{name}: a zip archive, but not a readable one ({e})") \
            from None
    if len(pickles) != 1:
        raise SerializationError(f"{name}: a zip archive, but not torch.save's: expected one "
                                 f"data.pkl, found {len(pickles)}")
    prefix = pickles[0][:-len("data.pkl")]
    reader = _Reader(archive.read(pickles[0]), archive, prefix, name, extra, numpy_arrays)
    try:
        root = reader.load()
    except SerializationError:
        raise
    except Exception as e:      # a malformed pickle: what went wrong, not a traceback
        raise SerializationError(f"{name}: torch checkpoint could not be read "
                                 f"({type(e).__name__}: {e})") from None
    return _placed(root, place, {})


def _placed(x, place, done):
    """x with every tensor moved where its storage's location says."""
    if isinstance(x, Tensor):
        if id(x) not in done:
            done[id(x)] = place(x, x.__dict__.pop("_loaded_from", None))
        return done[id(x)]
    if type(x) in (dict, OrderedDict):
        out = type(x)((k, _placed(v, place, done)) for k, v in x.items())
        if hasattr(x, "_metadata"):
            out._metadata = x._metadata
        return out
    if type(x) in (list, tuple):
        return type(x)(_placed(v, place, done) for v in x)
    return x
