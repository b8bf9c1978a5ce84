"""The CUDA device as tracecomp's device registry sees it (tracecomp/devices.py): what
`tracecomp.cuda` answers, and where tensors on 'cuda' keep and compute their values.

    found()          a CudaDevice when numba-cuda is installed and finds a GPU (or runs its
                     simulator, NUMBA_ENABLE_CUDASIM=1), else None
    CudaDevice       device_count, get_device_name, get_device_capability, synchronize,
                     memory counters (torch.cuda's questions), and the storage protocol:
                     to_device / to_host (a DeviceArray <-> a numpy array) and
                     run_primitive (one eager op)

An eager op on device tensors runs as a one-node graph through the CUDA backend
(backend.compile_graph: a kernel where one exists, else a host step), compiled once per
op, params, operand shapes and dtypes and kept: `x + y` on the GPU costs one kernel launch
after the first call. A Python number goes to an elementwise kernel as a 0-d device value
where that gives the same answer (so a changing learning rate reuses one kernel), else it is
a constant of the kernel and part of the key. What no kernel
computes (random draws, which come from the host's generator as on the CPU, guards, ops
without a kernel yet) is answered NotImplemented: dispatch runs it on the host.
"""
import numpy as np

from tracecomp.codegen.kernel_facts import operand_dtypes
from tracecomp.device_array import DeviceArray
from tracecomp.ir import Graph, Node
from tracecomp.passes import decompose

from . import backend
from .compat import numba_cuda, simulating

CACHE_LIMIT = 4096      # entries each cache below keeps; beyond it the oldest go


def _remember(cache, key, value):
    """cache[key] = value, the oldest entry dropped when the cache is full; returns value."""
    if len(cache) >= CACHE_LIMIT:
        del cache[next(iter(cache))]
    cache[key] = value
    return value


def found():
    """The CUDA device backend, or None where numba-cuda is missing or sees no GPU."""
    try:
        cuda = numba_cuda()
    except ImportError:
        return None
    if not (simulating() or cuda.is_available()):
        return None
    return CudaDevice(cuda)


class CudaDevice:
    def __init__(self, cuda):
        self.cuda = cuda
        self.compiled = {}          # eager op key -> runner.on_device
        self.number_dtypes = {}     # eager op key, numbers by type -> their kernel dtypes
        self.scalars = {}           # (dtype, bytes, device) -> a Python number's 0-d value

    # --- torch.cuda's questions ----------------------------------------------------------
    def device_count(self):
        return len(self.cuda.gpus)

    def _device(self, index):
        with self.cuda.gpus[index]:
            return self.cuda.get_current_device()

    def get_device_name(self, index):
        name = getattr(self._device(index), "name", "numba-cuda simulator")
        return name.decode() if isinstance(name, bytes) else name

    def get_device_capability(self, index):
        return tuple(self._device(index).compute_capability)

    def get_device_properties(self, index):
        with self.cuda.gpus[index]:
            total = self.cuda.current_context().get_memory_info().total
        major, minor = self.get_device_capability(index)
        return _Properties(self.get_device_name(index), total, major, minor)

    def synchronize(self, index):
        self.cuda.synchronize()

    # --- storage ---------------------------------------------------------------------------
    def to_device(self, array, where):
        array = np.asarray(array)
        return DeviceArray(backend.to_device(self.cuda, array), array.shape, array.dtype,
                           where)

    def to_host(self, data):
        return data.array.copy_to_host().reshape(data.shape)

    def run_primitive(self, prim, operands, params, where):
        """prim(*operands) by a kernel on the device (operands: DeviceArrays and Python
        scalars), or NotImplemented where no kernel computes prim: the caller then runs
        it on the host, as the CPU does, errors and all."""
        if "random" in prim.tags or "guard" in prim.tags or any(
                isinstance(o, DeviceArray) and not o.size for o in operands):
            return NotImplemented       # draws from the host's generator; a guard's error;
            #                             an empty operand (no kernel reads from nothing)
        operands = self._numbers_as_inputs(prim, operands, params, where)
        key = _key(prim, operands, params)
        hit = self.compiled.get(key) if key is not None else None
        if hit is None:
            shape, dtype = _result_spec(prim, operands, params)
            run = backend.compile_graph(_one_node_graph(prim, operands, params, shape, dtype),
                                        hold_buffers=False)
            hit = (NotImplemented if run.host_steps else run.on_device), shape, dtype
            if key is not None:
                _remember(self.compiled, key, hit)
        run, shape, dtype = hit
        if run is NotImplemented:
            return run
        (out,) = run([o.array for o in operands if isinstance(o, DeviceArray)])
        return DeviceArray(out, shape, dtype, where)


    def _numbers_as_inputs(self, prim, operands, params, where):
        """operands with each Python number made a 0-d device value of the dtype the kernel
        converts it to, where that gives the same result: one kernel then serves every
        value (a learning rate that changes each step would otherwise compile a kernel per
        step). A number that does not fit that dtype, or that would promote differently as
        a 0-d tensor, stays a constant of the kernel. Which dtypes depends on the operands'
        types only: worked out once per op and kept."""
        if "elementwise" not in prim.tags or not any(type(o) in _NUMBERS for o in operands):
            return operands
        key = _key(prim, [type(o) if type(o) in _NUMBERS else o for o in operands], params)
        if key not in self.number_dtypes:
            _remember(self.number_dtypes, key, _number_dtypes(prim, operands, params))
        wanted = self.number_dtypes[key]
        if wanted is None:
            return operands
        made = []
        for o, dtype in zip(operands, wanted):
            if dtype is not None:
                try:
                    value = np.asarray(o, dtype)
                except (OverflowError, ValueError):     # too large, or NaN as an integer
                    return operands
                if dtype.kind != "f" and value.item() != o:     # an integer rounded away
                    return operands
                o = self._scalar(value, where)
            made.append(o)
        return made

    def _scalar(self, value, where):
        """A 0-d numpy value on the device, uploaded once per dtype and value: kernels
        never write into their inputs, so every op with that number may read it."""
        key = (value.dtype.str, value.tobytes(), where)
        hit = self.scalars.get(key)
        if hit is None:
            hit = _remember(self.scalars, key, self.to_device(value, where))
        return hit


_NUMBERS = (int, float, bool)


def _number_dtypes(prim, operands, params):
    """Per operand, the dtype a Python number goes to the kernel in (None for the others),
    or None when a 0-d value of that dtype would change the result's shape or dtype."""
    spec = _result_spec(prim, operands, params)
    node = Node(prim.name, [_spec_node(o) for o in operands], params, *spec)
    wanted = [dtype if type(o) in _NUMBERS else None
              for o, dtype in zip(operands, operand_dtypes(node))]
    zero_d = [Node("input", (), {}, (), dtype) if dtype is not None else o
              for o, dtype in zip(operands, wanted)]
    shapes = [o.shape if isinstance(o, (Node, DeviceArray)) else () for o in zero_d]
    same = (tuple(prim.shape(*shapes, **params)),
            np.dtype(prim.dtype(*[_spec_node(o) for o in zero_d], **params))) == spec
    return wanted if same else None


def _spec_node(o):
    return Node("input", (), {}, o.shape, o.dtype) if isinstance(o, DeviceArray) else o


class _Properties:
    """torch.cuda.get_device_properties(i)'s answer: name, total_memory, major, minor."""

    def __init__(self, name, total_memory, major, minor):
        self.name, self.total_memory, self.major, self.minor = name, total_memory, major, minor

    def __repr__(self):
        return (f"_CudaDeviceProperties(name='{self.name}', major={self.major}, "
                f"minor={self.minor}, total_memory={self.total_memory // 2**20}MB)")


def _operand_nodes(graph, operands):
    return [graph.add_input(f"in{k}", o.shape, o.dtype) if isinstance(o, DeviceArray) else o
            for k, o in enumerate(operands)]


def _result_spec(prim, operands, params):
    """(shape, dtype) of prim's result, by its rules (the same the tracer uses)."""
    specs = [_spec_node(o) for o in operands]
    shapes = [o.shape if isinstance(o, Node) else () for o in specs]
    return tuple(prim.shape(*shapes, **params)), np.dtype(prim.dtype(*specs, **params))


def _one_node_graph(prim, operands, params, shape, dtype):
    """prim's call as a graph, a compound primitive (log_softmax) already in its parts, as
    compiled graphs reach the backend (passes/decompose.py)."""
    graph = Graph(f"eager_{prim.name}")
    inputs = _operand_nodes(graph, operands)
    graph.outputs = [graph.add(prim.name, inputs, params, shape, dtype)]
    return decompose.run(graph)


def _key(prim, operands, params):
    """What a compiled eager op depends on, or None when it must not be cached (params
    that cannot be compared)."""
    specs = tuple((o.shape, o.dtype.str) if isinstance(o, DeviceArray) else (type(o), o)
                  for o in operands)
    try:
        key = (prim.name, specs, tuple(sorted((k, _frozen(v)) for k, v in params.items())))
        hash(key)
    except TypeError:
        return None
    return key


def _frozen(v):
    if isinstance(v, (list, tuple)):
        return tuple(_frozen(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _frozen(x)) for k, x in v.items()))
    if isinstance(v, np.ndarray):
        return (v.dtype.str, v.shape, v.tobytes())
    if isinstance(v, np.dtype):
        return v.str
    return v

