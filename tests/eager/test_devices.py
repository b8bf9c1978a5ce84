"""Devices vs torch's CPU build: torch.device, device= on creation, .to/.cuda/.cpu, the
default device, tracecomp.cuda / accelerator / backends / version, the backend registry,
and Module / compiled-module device methods."""
import copy
import importlib.metadata
import pickle
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp import devices

from helpers import assert_close


def _outcome(fn):
    """('ok', value) or (exception type, message)."""
    try:
        return "ok", fn()
    except Exception as exc:  # noqa: BLE001 - the point is to compare any exception
        return type(exc), str(exc)


def assert_same_error(tc_fn, torch_fn, message=True):
    got, want = _outcome(tc_fn), _outcome(torch_fn)
    assert want[0] != "ok", f"torch did not raise: {want}"
    assert got[0] is want[0], f"tracecomp={got[0]}: {got[1]!r:.300} | torch={want[0]}: " \
                              f"{want[1]!r:.300}"
    if message:
        assert got[1] == want[1], f"tracecomp={got[1]!r} | torch={want[1]!r:.300}"


# --- tracecomp.device ----------------------------------------------------------------------
DEVICE_ARGS = [("cpu",), ("cuda",), ("cuda:1",), ("cpu", 0), ("cuda", 3), ("mps",),
               ("meta",), ("xla:2",), ("cuda", None)]


@pytest.mark.parametrize("args", DEVICE_ARGS, ids=str)
def test_device_parses_like_torch(args):
    d, t = tc.device(*args), torch.device(*args)
    assert (d.type, d.index, str(d)) == (t.type, t.index, str(t))
    assert repr(d) == repr(t)
    assert tc.device(d) == d and f"{d}" == str(t)


def test_device_keywords_and_copies():
    d = tc.device(type="cuda", index=3)
    assert d == tc.device("cuda:3") and hash(d) == hash(tc.device("cuda", 3))
    assert pickle.loads(pickle.dumps(d)) == d and copy.deepcopy(d) == d
    assert len({tc.device("cpu"), tc.device("cpu"), tc.device("cpu", 0)}) == 2
    with pytest.raises(AttributeError, match="not writable"):
        d.index = 1


@pytest.mark.parametrize("args", [("foo",), ("CPU",), ("cuda:-1",), ("cuda:01",), ("cuda:",),
                                  ("cuda:1:2",), ("cuda ",), ("",), ("cpu", -1),
                                  ("cuda:0", 1), (0,), (-1,)], ids=str)
def test_bad_device_strings_raise_torchs_runtime_error(args):
    assert_same_error(lambda: tc.device(*args), lambda: torch.device(*args))


@pytest.mark.parametrize("args", [(None,), (), ("cuda", True), ("cuda", 1.0), ("cuda", "1"),
                                  ("cpu", 0, 1)], ids=str)
def test_bad_device_arguments_raise_type_error(args):
    # torch's TypeError text names torch.device; the type is what programs rely on
    assert_same_error(lambda: tc.device(*args), lambda: torch.device(*args), message=False)


def test_device_equality_is_with_devices_only():
    # torch: device('cpu') == 'cpu' is False, and != is True
    for a, b in [("cpu", "cpu"), ("cuda:0", "cuda:0")]:
        assert (tc.device(a) == b) == (torch.device(a) == b)
        assert (tc.device(a) != b) == (torch.device(a) != b)
    assert (tc.device("cuda:0") == tc.device("cuda")) == \
        (torch.device("cuda:0") == torch.device("cuda"))
    assert tc.device("cpu") == tc.device("cpu") and tc.device("cpu") != tc.device("cpu", 0)


# --- tensors: attributes, creation, .to ----------------------------------------------------
def test_tensor_device_attributes():
    x, t = tc.zeros(2), torch.zeros(2)
    assert x.device == tc.device("cpu") and str(x.device) == str(t.device)
    for flag in ("is_cuda", "is_cpu", "is_meta", "is_mps", "is_xpu", "is_sparse",
                 "is_quantized", "is_nested"):
        assert getattr(x, flag) == getattr(t, flag), flag
    assert x.get_device() == t.get_device() == -1 and x.is_pinned() == t.is_pinned()
    assert_same_error(x.pin_memory, t.pin_memory)


def _creators(lib):
    x = lib.zeros(2, 3)
    return {
        "tensor": lambda d: lib.tensor([1.0, 2.0], device=d),
        "as_tensor": lambda d: lib.as_tensor(np.ones(2), device=d),
        "zeros": lambda d: lib.zeros(2, device=d), "ones": lambda d: lib.ones(2, device=d),
        "full": lambda d: lib.full((2,), 3.0, device=d),
        "empty": lambda d: lib.empty(2, device=d).zero_(),
        "zeros_like": lambda d: lib.zeros_like(x, device=d),
        "ones_like": lambda d: lib.ones_like(x, device=d),
        "full_like": lambda d: lib.full_like(x, 2.0, device=d),
        "empty_like": lambda d: lib.empty_like(x, device=d).zero_(),
        "arange": lambda d: lib.arange(4, device=d),
        "linspace": lambda d: lib.linspace(0, 1, 5, device=d),
        "eye": lambda d: lib.eye(3, device=d),
        "rand": lambda d: lib.rand(2, device=d).shape,
        "randn": lambda d: lib.randn(2, device=d).shape,
        "rand_like": lambda d: lib.rand_like(x, device=d).shape,
        "randn_like": lambda d: lib.randn_like(x, device=d).shape,
        "randint": lambda d: lib.randint(0, 5, (3,), device=d).shape,
        "randperm": lambda d: lib.randperm(4, device=d).sort()[0] if lib is torch else
        lib.tensor(sorted(lib.randperm(4, device=d).tolist())),
        "normal": lambda d: lib.normal(0.0, 1.0, (2,), device=d).shape,
        "new_zeros": lambda d: x.new_zeros(2, device=d),
        "new_ones": lambda d: x.new_ones((2,), device=d),
        "new_empty": lambda d: x.new_empty(2, device=d).zero_(),
        "new_full": lambda d: x.new_full((2,), 4.0, device=d),
        "new_tensor": lambda d: x.new_tensor([1, 2], device=d),
        "to": lambda d: x.to(d), "cuda": lambda d: x.cuda(d) if d is not None else x.cuda(),
        "FloatTensor": lambda d: lib.FloatTensor([1.0], device=d),
    }


CREATORS = sorted(_creators(tc))


@pytest.mark.parametrize("name", CREATORS)
@pytest.mark.parametrize("dev", ["cuda", "cuda:1", "mps", "xpu", "foo", 0])
def test_creation_on_other_devices_raises_as_torch(name, dev):
    mk_tc, mk_torch = _creators(tc)[name], _creators(torch)[name]
    # torch's text for these includes its dispatcher's tables; the type is the contract
    message = not (dev in ("mps", "xpu") and name not in ("to", "cuda"))
    assert_same_error(lambda: mk_tc(dev if dev != "cuda" else tc.device(dev)),
                      lambda: mk_torch(dev if dev != "cuda" else torch.device(dev)),
                      message=message and name != "FloatTensor")


@pytest.mark.parametrize("name", [n for n in CREATORS if n != "cuda"])
@pytest.mark.parametrize("dev", [None, "cpu", "cpu:0", ("cpu", 1)], ids=str)
def test_creation_on_the_cpu_works(name, dev):
    mk_tc, mk_torch = _creators(tc)[name], _creators(torch)[name]
    d_tc = tc.device(*dev) if isinstance(dev, tuple) else dev
    d_torch = torch.device(*dev) if isinstance(dev, tuple) else dev
    got, want = mk_tc(d_tc), mk_torch(d_torch)
    if isinstance(want, torch.Tensor):
        assert got.device == tc.device("cpu") and str(got.device) == str(want.device)
        assert_close(got, want)
    else:
        assert tuple(got) == tuple(want)


def test_to_forms_like_torch():
    x, t = tc.tensor([1.5, -2.5]), torch.tensor([1.5, -2.5])
    assert x.to("cpu") is x and x.to(tc.device("cpu")) is x and x.to(None) is x
    assert x.to(tc.float32) is x and x.to("cpu", non_blocking=True) is x
    assert x.to("cpu", copy=True) is not x and x.to(memory_format=None) is x
    forms = [((tc.float64,), (torch.float64,)), (("cpu", tc.int64), ("cpu", torch.int64)),
             ((), ()), ((float,), (float,)), ((int,), (int,)), ((bool,), (bool,)),
             ((tc.zeros(1, dtype=tc.int32),), (torch.zeros(1, dtype=torch.int32),)),
             ((tc.device("cpu"), tc.float16, False, True),
              (torch.device("cpu"), torch.float16, False, True))]
    for a_tc, a_torch in forms:
        got, want = x.to(*a_tc), t.to(*a_torch)
        assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1], a_torch
        assert_close(got, want)
    assert x.to(device="cpu", dtype=tc.float64).dtype == tc.float64


def test_to_keeps_the_gradient_path():
    x = tc.tensor([1.0, 2.0], requires_grad=True)
    (x.to("cpu", tc.float64) * 3).sum().backward()
    assert x.grad.dtype == tc.float32 and x.grad.tolist() == [3.0, 3.0]


@pytest.mark.parametrize("args", [("int64",), ("cuda",), ("mps",), (tc.float32, tc.float64),
                                  (0,)], ids=str)
def test_to_bad_arguments(args):
    conv = {tc.float32: torch.float32, tc.float64: torch.float64}
    assert_same_error(lambda: tc.zeros(2).to(*args),
                      lambda: torch.zeros(2).to(*[conv.get(a, a) for a in args]),
                      message=not isinstance(args[0], tc.DType))


def test_cuda_and_cpu_methods():
    x, t = tc.zeros(2), torch.zeros(2)
    assert x.cpu() is x
    for args in [(), (0,), ("cpu",), ("cuda:1",)]:
        assert_same_error(lambda a=args: x.cuda(*a), lambda a=args: t.cuda(*a))
    assert_same_error(lambda: x.cuda(non_blocking=True), lambda: t.cuda(non_blocking=True))


# --- the default device ----------------------------------------------------------------------
@pytest.fixture
def restore_default_device():
    yield
    tc.set_default_device(None)
    torch.set_default_device(None)


def test_set_default_device(restore_default_device):
    assert tc.get_default_device() == tc.device("cpu")
    for lib in (tc, torch):
        lib.set_default_device("cuda")
    assert_same_error(lambda: tc.zeros(2), lambda: torch.zeros(2))
    assert_same_error(tc.get_default_device, torch.get_default_device)
    assert_same_error(lambda: tc.tensor([1.0]), lambda: torch.tensor([1.0]))
    # *_like, new_* and the legacy constructors keep the source tensor's device: the CPU
    cpu = tc.device("cpu")
    x = tc.Tensor([1.0, 2.0])
    assert tc.zeros_like(x).device == cpu and x.new_zeros(2).device == cpu
    assert tc.FloatTensor([1]).device == cpu
    for lib in (tc, torch):
        lib.set_default_device("cpu:1")
    assert repr(tc.get_default_device()) == repr(torch.get_default_device())
    assert tc.zeros(1).device == cpu
    tc.set_default_device(None)
    assert tc.get_default_device() == cpu
    assert_same_error(lambda: tc.set_default_device("foo"),
                      lambda: torch.set_default_device("foo"))


def test_device_context_manager_sets_the_default():
    with tc.device("cpu", 0) as d:
        assert tc.get_default_device() == d and tc.zeros(1).device == tc.device("cpu")
        with tc.device("cuda"):
            with pytest.raises(AssertionError, match="Torch not compiled with CUDA enabled"):
                tc.ones(2)
        assert tc.get_default_device() == d
    assert tc.get_default_device() == tc.device("cpu")


# --- tracecomp.cuda, accelerator, backends, version ------------------------------------------
ANSWERS = ["is_available", "device_count", "is_initialized", "manual_seed", "manual_seed_all",
           "seed", "seed_all", "empty_cache", "memory_allocated", "max_memory_allocated",
           "memory_reserved", "max_memory_reserved", "is_bf16_supported", "get_arch_list",
           "memory_stats"]
RAISES = ["current_device", "get_device_name", "get_device_properties", "synchronize",
          "initial_seed", "init", "get_device_capability"]
SEED_ARG = {"manual_seed", "manual_seed_all"}


@pytest.mark.parametrize("name", ANSWERS)
def test_cuda_answers_like_a_cpu_build(name):
    args = (0,) if name in SEED_ARG else ()
    got, want = getattr(tc.cuda, name)(*args), getattr(torch.cuda, name)(*args)
    assert got == want or (want == {} and got == {}), f"tracecomp={got} | torch={want}"


@pytest.mark.parametrize("name", RAISES)
def test_cuda_raises_like_a_cpu_build(name):
    assert_same_error(getattr(tc.cuda, name), getattr(torch.cuda, name))


def test_cuda_device_selection_and_types():
    # torch raises AttributeError (its C module has no CUDA functions): same type here
    assert_same_error(lambda: tc.cuda.set_device(0), lambda: torch.cuda.set_device(0),
                      message=False)
    assert_same_error(tc.cuda.reset_peak_memory_stats, torch.cuda.reset_peak_memory_stats,
                      message=False)
    assert tc.cuda.set_device(-1) is None and torch.cuda.set_device(-1) is None
    assert_same_error(lambda: tc.cuda.set_device("cpu"), lambda: torch.cuda.set_device("cpu"))
    assert_same_error(lambda: tc.cuda.device(0).__enter__(),
                      lambda: torch.cuda.device(0).__enter__())
    with tc.cuda.device(-1):
        pass
    assert_same_error(lambda: tc.cuda.FloatTensor([1.0]), lambda: torch.cuda.FloatTensor([1.0]))
    assert not isinstance(tc.zeros(1), tc.cuda.FloatTensor)
    assert issubclass(tc.cuda.OutOfMemoryError, RuntimeError)
    assert tc.OutOfMemoryError is tc.cuda.OutOfMemoryError


def test_accelerator_answers_like_a_cpu_build():
    assert tc.accelerator.is_available() is torch.accelerator.is_available() is False
    assert tc.accelerator.current_accelerator() is torch.accelerator.current_accelerator()
    assert tc.accelerator.device_count() == torch.accelerator.device_count() == 0
    for name in ("current_device_index", "synchronize", "empty_cache", "memory_allocated"):
        assert_same_error(getattr(tc.accelerator, name), getattr(torch.accelerator, name))
    assert_same_error(lambda: tc.accelerator.set_device_index(0),
                      lambda: torch.accelerator.set_device_index(0))


def test_backends_flags_and_version():
    b, tb = tc.backends, torch.backends
    assert (b.mps.is_available(), b.mps.is_built()) == (tb.mps.is_available(),
                                                        tb.mps.is_built())
    cudnn = ("deterministic", "benchmark", "enabled", "allow_tf32", "benchmark_limit")
    assert [getattr(b.cudnn, n) for n in cudnn] == [getattr(tb.cudnn, n) for n in cudnn]
    assert b.cudnn.is_available() == tb.cudnn.is_available() and b.cudnn.version() is None
    b.cudnn.deterministic, b.cudnn.benchmark = True, True
    try:
        assert b.cudnn.deterministic and b.cudnn.benchmark
        with b.cudnn.flags(enabled=False):
            assert b.cudnn.enabled is False and b.cudnn.deterministic is False
        assert b.cudnn.enabled is True and b.cudnn.deterministic is True
    finally:
        b.cudnn.deterministic, b.cudnn.benchmark = False, False
    m, tm = b.cuda.matmul, tb.cuda.matmul
    names = ("allow_tf32", "allow_fp16_reduced_precision_reduction")
    assert [getattr(m, n) for n in names] == [getattr(tm, n) for n in names]
    with pytest.raises(AttributeError, match="Unknown attribute allow_tf33"):
        m.allow_tf33 = True
    assert b.cuda.is_built() == tb.cuda.is_built() and b.mkldnn.is_available()
    assert tc.version.cuda is None is torch.version.cuda and tc.version.hip is None
    assert tc.version.tracecomp == importlib.metadata.version("tracecomp")


def test_matmul_precision_mirrors_allow_tf32():
    try:
        for lib in (tc, torch):
            lib.set_float32_matmul_precision("high")
        assert tc.get_float32_matmul_precision() == torch.get_float32_matmul_precision()
        assert tc.backends.cuda.matmul.allow_tf32 == torch.backends.cuda.matmul.allow_tf32
        tc.backends.cuda.matmul.allow_tf32 = False      # torch refuses to mix the two APIs
        assert tc.get_float32_matmul_precision() == "highest"
        with pytest.warns(UserWarning, match="is not one of 'highest'"):
            tc.set_float32_matmul_precision("fast")
        assert tc.get_float32_matmul_precision() == "highest"
    finally:
        for lib in (tc, torch):
            lib.set_float32_matmul_precision("highest")
    tc.use_deterministic_algorithms(True, warn_only=True)
    assert tc.are_deterministic_algorithms_enabled()
    assert tc.is_deterministic_algorithms_warn_only_enabled()
    tc.use_deterministic_algorithms(False)
    assert not tc.are_deterministic_algorithms_enabled()


# --- the backend registry ----------------------------------------------------------------------
class _FakeGPU:
    """What a CUDA backend registers (tracecomp/devices.py's protocol)."""

    def __init__(self):
        self.synced, self.seeds = [], []

    def device_count(self):
        return 2

    def get_device_name(self, index):
        return f"Fake GPU {index}"

    def get_device_properties(self, index):
        return {"name": self.get_device_name(index), "total_memory": 1 << 30}

    def synchronize(self, index):
        self.synced.append(index)

    def manual_seed(self, seed):
        self.seeds.append(seed)


@pytest.fixture
def fake_gpu():
    gpu = _FakeGPU()
    devices.register_backend("cuda", gpu)
    yield gpu
    if tc.cuda.is_available():
        tc.cuda.set_device(0)
    devices.unregister_backend("cuda")


def test_a_registered_backend_answers(fake_gpu):
    assert tc.cuda.is_available() and tc.cuda.device_count() == 2
    assert tc.cuda.get_device_name(1) == "Fake GPU 1" and tc.cuda.current_device() == 0
    tc.cuda.set_device("cuda:1")
    assert tc.cuda.current_device() == 1 and tc.cuda.get_device_name() == "Fake GPU 1"
    tc.cuda.set_device(0)
    with tc.cuda.device(1):
        assert tc.cuda.current_device() == 1
    assert tc.cuda.current_device() == 0
    tc.cuda.synchronize()
    tc.cuda.manual_seed(7)
    assert fake_gpu.synced == [0] and fake_gpu.seeds == [7] and tc.cuda.initial_seed() == 7
    assert tc.accelerator.current_accelerator() == tc.device("cuda")
    assert tc.accelerator.is_available() and tc.device(1) == tc.device("cuda", 1)
    assert tc.backends.cuda.is_built()
    with pytest.warns(UserWarning, match="torch.cuda.amp.GradScaler") as record:
        tc.amp.GradScaler("cpu")
        tc.amp.GradScaler("cuda")
        tc.autocast("cuda")
        warnings.warn("torch.cuda.amp.GradScaler sentinel", UserWarning, stacklevel=1)
    assert len(record) == 1             # only the sentinel: CUDA counts as available


def test_a_registered_backend_still_gives_tensors_no_cuda_storage(fake_gpu):
    for make in (lambda: tc.zeros(2, device="cuda"), lambda: tc.ones(1).cuda(),
                 lambda: tc.ones(1).to("cuda:1"), lambda: tc.nn.Linear(2, 2).cuda()):
        with pytest.raises(NotImplementedError, match="no cuda storage yet"):
            make()


def test_unregistering_restores_the_cpu_build_answers(fake_gpu):
    devices.unregister_backend("cuda")
    assert not tc.cuda.is_available() and tc.accelerator.current_accelerator() is None
    with pytest.raises(AssertionError, match="Torch not compiled with CUDA enabled"):
        tc.zeros(1, device="cuda")
    with pytest.raises(ValueError, match="register_backend: device_type must be one of"):
        devices.register_backend("gpu", fake_gpu)


# --- modules and compiled modules -----------------------------------------------------------
def _pair():
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4),
                              torch.nn.Linear(4, 1))
    mod = tc.nn.Sequential(tc.nn.Linear(3, 4), tc.nn.BatchNorm1d(4), tc.nn.Linear(4, 1))
    mod.load_state_dict({k: tc.tensor(v.numpy()) for k, v in ref.state_dict().items()})
    return mod, ref


def _dtypes(state):
    return {k: str(v.dtype).split(".")[-1] for k, v in state.items()}


@pytest.mark.parametrize("call", ["to_cpu", "cpu", "to_f64", "double", "type_str", "type_cls",
                                  "to_tensor", "to_cpu_f64"])
def test_module_device_and_type_methods_match_torch(call):
    mod, ref = _pair()
    calls = {"to_cpu": lambda m, L: m.to("cpu"), "cpu": lambda m, L: m.cpu(),
             "to_f64": lambda m, L: m.to(L.float64), "double": lambda m, L: m.double(),
             "type_str": lambda m, L: m.type("torch.DoubleTensor"),
             "type_cls": lambda m, L: m.type(L.DoubleTensor),
             "to_tensor": lambda m, L: m.to(L.zeros(1, dtype=L.float64)),
             "to_cpu_f64": lambda m, L: m.to(L.device("cpu"), L.float64)}
    assert calls[call](mod, tc) is mod and calls[call](ref, torch) is ref
    assert list(mod.state_dict()) == list(ref.state_dict())
    assert _dtypes(mod.state_dict()) == _dtypes(ref.state_dict())
    # one training step in the new dtype gives torch's numbers
    dt = {"float64": (tc.float64, torch.float64)}.get(str(ref[0].weight.dtype).split(".")[-1],
                                                       (tc.float32, torch.float32))
    x = np.random.default_rng(0).standard_normal((5, 3))
    opt, topt = tc.optim.SGD(mod.parameters(), lr=0.1), torch.optim.SGD(ref.parameters(), lr=0.1)
    mod(tc.tensor(x, dtype=dt[0])).pow(2).mean().backward()
    ref(torch.tensor(x, dtype=dt[1])).pow(2).mean().backward()
    opt.step()
    topt.step()
    for (k, v), w in zip(mod.state_dict().items(), ref.state_dict().values()):
        assert_close(v, w, rtol=1e-5, atol=1e-6, what=k)


def test_module_refuses_other_devices_and_integer_dtypes():
    mod, ref = _pair()
    for dev in ("cuda", "mps", "foo"):
        assert_same_error(lambda d=dev: mod.to(d), lambda d=dev: ref.to(d))
    assert_same_error(mod.cuda, ref.cuda)
    with pytest.raises(TypeError, match="nn.Module.to only accepts floating point"):
        mod.to(tc.int64)
    assert mod[0].weight.dtype == tc.float32       # nothing changed on the way


def test_compiled_module_device_methods_return_the_compiled_module():
    model = tc.nn.Linear(3, 2)
    compiled = tc.compile(model)
    for result in (compiled.to("cpu"), compiled.cpu(), compiled.float(), compiled.to(tc.float32),
                   compiled.requires_grad_(True)):
        assert result is compiled
    assert compiled.double() is compiled and model.weight.dtype == tc.float64
    x = tc.randn(4, 3, dtype=tc.float64)
    assert_close(compiled(x), model(x))
    with pytest.raises(AssertionError, match="Torch not compiled with CUDA enabled"):
        compiled.cuda()


def test_layers_refuse_a_device_without_storage_as_torch_does():
    for make in (lambda lib: lib.nn.Linear(2, 2, device="cuda"),
                 lambda lib: lib.nn.Conv2d(1, 2, 3, device=lib.device("cuda", 0))):
        with pytest.raises(AssertionError, match="Torch not compiled with CUDA enabled"):
            make(torch)
        with pytest.raises(AssertionError, match="Torch not compiled with CUDA enabled"):
            make(tc)
    assert tc.nn.Linear(2, 2, device="cpu").weight.device == tc.device("cpu")


def test_data_parallel_without_a_device_calls_the_module_itself():
    """torch's DataParallel with no accelerator keeps no device ids and runs the module
    whole: the same values, state_dict keys under `module.`."""
    tc.manual_seed(0)
    inner = tc.nn.Linear(3, 2)
    model = tc.nn.DataParallel(inner)
    x = tc.randn(4, 3)
    assert model.device_ids == [] and list(model.state_dict()) == ["module.weight",
                                                                   "module.bias"]
    assert np.array_equal(model(x).detach().numpy(), inner(x).detach().numpy())
