"""__torch_function__ against torch: the same subclass and Tensor-like definitions (torch's
docs' LoggingTensor, ScalarTensor, MetadataTensor, a logging TorchFunctionMode) run on both
libraries, and the results, their types and the call logs must agree."""
import functools

import numpy as np
import pytest
import torch

import tracecomp as tc


def _logging_tensor(lib, log):
    class LoggingTensor(lib.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            log.append(func.__name__)
            return super().__torch_function__(func, types, args, kwargs)
    return LoggingTensor


# (expression, whose result's type and value are compared) on l (LoggingTensor), t (plain)
CALLS = ["lib.add(l, t)", "l + t", "t + l", "2 * l", "2 - l", "l / 2", "l ** 2", "-l", "l < t",
         "l.sum()", "lib.nn.functional.relu(l)", "l.T", "l[0]", "lib.cat([t, l])",
         "lib.nn.functional.linear(l, lib.ones(4, 3))", "lib.arctan(l)", "l.detach()",
         "l.float()", "l.add_(1)", "l.max(dim=0)", "l.split(1)", "l.view(3, 2)", "l.exp()",
         "lib.nn.functional.softmax(l, dim=1)", "l.mean(0, keepdim=True)", "l @ t.T"]


def _outcome(value):
    """value's types (containers', tensors') and, apart, its numbers."""
    if isinstance(value, (tuple, list)):
        parts = [_outcome(v) for v in value]
        return (type(value).__name__, [p[0] for p in parts]), [p[1] for p in parts]
    if isinstance(value, (torch.Tensor, tc.Tensor)):
        return type(value).__name__, value.tolist()
    return type(value).__name__, value


@pytest.mark.parametrize("expr", CALLS)
def test_logging_tensor_is_torchs(expr):
    got = []
    for lib in (torch, tc):
        log = []
        cls = _logging_tensor(lib, log)
        t = lib.arange(6.0).reshape(2, 3)
        l = (t + 1).as_subclass(cls)  # noqa: E741
        log.clear()
        out = eval(expr, {"lib": lib, "l": l, "t": t})
        got.append((list(log), *_outcome(out)))
    assert got[1][:2] == got[0][:2], f"tracecomp={got[1]} | torch={got[0]}"
    np.testing.assert_allclose(got[1][2], got[0][2], rtol=1e-6)


def test_logging_tensor_through_a_module_and_backward():
    got = []
    for lib in (torch, tc):
        log = []
        cls = _logging_tensor(lib, log)
        lib.manual_seed(0)
        layer = lib.nn.Linear(3, 2)
        with lib.no_grad():
            layer.weight.copy_(lib.tensor([[1.0, -2.0, 0.5], [0.25, 1.0, -1.0]]))
            layer.bias.fill_(0.5)
        x = lib.tensor([[1.0, 2.0, 3.0]]).as_subclass(cls)
        log.clear()
        y = layer(x)
        loss = y.relu().sum()
        facts = (list(log), type(y).__name__, type(loss).__name__, loss.item())
        loss.backward()
        got.append((facts, layer.weight.grad.tolist(), type(layer.weight.grad).__name__))
    assert got[1] == got[0]


def test_plain_subclass_keeps_its_type_and_parameter_does_not():
    got = []
    for lib in (torch, tc):
        class Plain(lib.Tensor):
            pass
        p = lib.ones(2).as_subclass(Plain)
        w = lib.nn.Parameter(lib.ones(2))
        got.append((type(p + 1).__name__, type(lib.relu(p)).__name__, type(w * 2).__name__,
                    type(w + p).__name__))
    assert got[1] == got[0]


def test_disable_torch_function_subclass():
    got = []
    for lib in (torch, tc):
        log = []
        cls = _logging_tensor(lib, log)
        l = lib.ones(2).as_subclass(cls)  # noqa: E741
        with lib._C.DisableTorchFunctionSubclass():
            inside = (type(lib.add(l, 1)).__name__, type(l.exp()).__name__,
                      lib._C._is_torch_function_enabled())
        got.append((inside, list(log), lib._C._is_torch_function_enabled()))
    assert got[1] == got[0]


def _scalar_tensor(lib):
    """torch's docs' ScalarTensor: a Tensor-like that is no Tensor, with its own mean."""
    handled = {}

    class ScalarTensor:
        def __init__(self, n, value):
            self._n, self._value = n, value

        def tensor(self):
            return self._value * lib.eye(self._n)

        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func not in handled or not all(issubclass(t, (lib.Tensor, ScalarTensor))
                                              for t in types):
                return NotImplemented
            return handled[func](*args, **kwargs)

    def implements(fn):
        def decorator(impl):
            handled[fn] = functools.wraps(fn)(impl)
            return impl
        return decorator

    @implements(lib.mean)
    def mean(input):  # noqa: A002
        return float(input._value) / input._n

    @implements(lib.add)
    def add(input, other):
        if isinstance(input, ScalarTensor) and isinstance(other, ScalarTensor):
            return ScalarTensor(input._n, input._value + other._value)
        return input.tensor() + other if isinstance(input, ScalarTensor) else \
            input + other.tensor()
    return ScalarTensor


def test_scalar_tensor_like_is_torchs():
    got = []
    for lib in (torch, tc):
        cls = _scalar_tensor(lib)
        d = cls(5, 2)
        s = lib.add(d, cls(5, 3))
        mixed = lib.add(lib.ones(5, 5), d)
        with pytest.raises(TypeError) as error:
            lib.exp(d)
        got.append((lib.mean(d), type(s).__name__, s._value, type(mixed).__name__,
                    mixed.sum().item(),
                    str(error.value).replace(f"'{lib.__name__}.", "'LIB.").split("\n\nFor")[0]))
    assert got[1] == got[0]


def _metadata_tensor(lib):
    """torch's docs' MetadataTensor: wraps a tensor, and results carry its metadata."""
    class MetadataTensor:
        def __init__(self, data, metadata=None, **kwargs):
            self._t = lib.as_tensor(data, **kwargs)
            self._metadata = metadata

        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            metadatas = tuple(a._metadata for a in args if hasattr(a, "_metadata"))
            args = [getattr(a, "_t", a) for a in args]
            return MetadataTensor(func(*args, **kwargs), metadata=metadatas[0])
    return MetadataTensor


def test_metadata_tensor_is_torchs():
    got = []
    for lib in (torch, tc):
        cls = _metadata_tensor(lib)
        m = cls([[1, 2], [3, 4]], metadata={"owner": "Ministry of Silly Walks"})
        out = lib.add(lib.tensor([[1, 2], [1, 2]]), m)
        again = lib.nn.functional.relu(lib.neg(out))
        got.append((type(out).__name__, out._metadata, out._t.tolist(), again._t.tolist(),
                    again._metadata))
    assert got[1] == got[0]


def _calls_mode(lib, log):
    class Calls(lib.overrides.TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            log.append(func.__name__)
            return func(*args, **(kwargs or {}))
    return Calls


def test_torch_function_mode_sees_every_call():
    got = []
    for lib in (torch, tc):
        log = []
        with _calls_mode(lib, log)():
            x = lib.ones(2, 3)
            y = (x + 1).relu().sum(dim=0)
            z = lib.nn.functional.softmax(y, dim=0)
            stacked = lib.stack([z, z])
        got.append((log, stacked.tolist(), lib._C._is_torch_function_mode_enabled()))
    assert got[1] == got[0]


def test_mode_and_subclass_together():
    """The mode first (it sees the subclass's type), then the subclass's handler."""
    def run(lib):
        log = []
        cls = _logging_tensor(lib, log)

        class Types(lib.overrides.TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                log.append(("mode", func.__name__, [t.__name__ for t in types]))
                return func(*args, **(kwargs or {}))
        l = lib.ones(2).as_subclass(cls)  # noqa: E741
        with Types():
            out = lib.mul(l, 3)
        return (log, type(out).__name__, out.tolist())
    got = [run(lib) for lib in (torch, tc)]
    assert got[1] == got[0]


def test_not_implemented_chain_and_order():
    def run(lib):
        log = []

        class Base(lib.Tensor):
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                log.append(("Base", cls.__name__, [t.__name__ for t in types]))
                return NotImplemented

        class Sub(Base):
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                log.append(("Sub", cls.__name__, [t.__name__ for t in types]))
                return NotImplemented

        class Answers:
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                log.append(("Answers", [t.__name__ for t in types]))
                return "answered"
        b, s = lib.ones(1).as_subclass(Base), lib.ones(1).as_subclass(Sub)
        answered = lib.stack([b, s, Answers()])     # a list's items take part too
        with pytest.raises(TypeError) as error:
            lib.add(b, s)       # every handler says NotImplemented
        message = str(error.value).replace(f"'{lib.__name__}.", "'LIB.").split(":")[0]
        return (log, answered, message)
    got = [run(lib) for lib in (torch, tc)]
    assert got[1] == got[0], f"tracecomp={got[1]} | torch={got[0]}"


def test_has_and_handle_torch_function_for_a_function_of_ones_own():
    def run(lib):
        log = []
        cls = _logging_tensor(lib, log)

        def double(x):
            if lib.overrides.has_torch_function_unary(x):
                return lib.overrides.handle_torch_function(double, (x,), x)
            return x * 2
        l = lib.ones(2).as_subclass(cls)  # noqa: E741
        out = double(l)
        return (log, type(out).__name__, out.tolist(), double(lib.ones(2)).tolist(),
                    lib.overrides.is_tensor_like(l), lib.overrides.is_tensor_like(3),
                    lib.overrides.has_torch_function((lib.ones(1),)))
    got = [run(lib) for lib in (torch, tc)]
    assert got[1] == got[0]


def test_compile_with_a_subclass_runs_it_eagerly_and_says_so():
    """torch.compile traces into __torch_function__; tracecomp.compile runs the call eagerly
    (its answer and type as eager's, a warning naming the protocol), an error with
    fullgraph=True: never a compiled answer without the subclass's semantics."""
    log = []
    cls = _logging_tensor(tc, log)

    def f(x):
        return (x * 2).sum()
    x = tc.arange(3.0).as_subclass(cls)
    with pytest.warns(UserWarning, match="__torch_function__"):
        out = tc.compile(f)(x)
    assert (list(log), type(out).__name__, out.item()) == (["mul", "sum"], "LoggingTensor", 6.0)
    with pytest.raises(tc.TraceError, match="__torch_function__"):
        tc.compile(f, fullgraph=True)(x)
    plain = tc.compile(f)(tc.arange(3.0))
    assert (type(plain).__name__, plain.item()) == ("Tensor", 6.0)


_BEFORE_ANY_SUBCLASS = """
import sys
import {lib} as lib
handled = {{lib.Tensor.exp: "Tensor.exp", lib.mean: "mean", lib.Tensor.add: "Tensor.add"}}
seen = []

class Looks(lib.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        seen.append(handled.get(func, "?"))
        return super().__torch_function__(func, types, args, kwargs)

x = lib.ones(2).as_subclass(Looks)
x.exp(), lib.mean(x), x + 1
print(seen)
"""


def test_functions_keep_their_identity_when_the_protocol_arms():
    """A dict keyed by functions and methods, made before the first subclass (which arms
    the protocol here), still finds the func its handler is given, as in torch."""
    import subprocess
    import sys
    # side by side: pytest only waits on them (a 2-core machine's second core otherwise idles)
    children = [subprocess.Popen([sys.executable, "-c", _BEFORE_ANY_SUBCLASS.format(lib=name)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for name in ("torch", "tracecomp")]
    got = []
    for child in children:
        out, err = child.communicate()
        assert child.returncode == 0, err
        got.append(out)
    assert got[1] == got[0] == "['Tensor.exp', 'mean', 'Tensor.add']\n"


_ARMED_AFTER = """
import tracecomp
from tracecomp import torch_function
import torch, torch.fx, torch.nn
armed = [torch_function.armed[0]]
class Like:             # a Tensor-like where tracecomp is imported: the protocol arms
    def __torch_function__(self, func, types, args=(), kwargs=None):
        return NotImplemented
armed.append(torch_function.armed[0])
print(armed)
"""


def test_importing_torch_beside_tracecomp_leaves_the_protocol_off():
    """torch's own Tensor-likes and subclasses are torch's: importing torch after tracecomp
    (the bench, tests against torch) must not make every tracecomp op dispatch; a program's
    own Tensor-like class does."""
    import subprocess
    import sys
    got = subprocess.run([sys.executable, "-c", _ARMED_AFTER], capture_output=True,
                         text=True, check=True).stdout
    assert got == "[False, True]\n"


def test_overrides_helpers_are_torchs():
    def run(lib):
        log = []
        cls = _logging_tensor(lib, log)

        @lib.overrides.wrap_torch_function(lambda x, scale=1: (x,))
        def scaled(x, scale=1):
            return x * scale
        out = scaled(lib.ones(2).as_subclass(cls), scale=3)
        funcs = lib.overrides.get_overridable_functions()
        return (log, type(out).__name__, out.tolist(),
                lib.overrides.is_tensor_method_or_property(lib.Tensor.add),
                lib.overrides.is_tensor_method_or_property(lib.add),
                lib.add in funcs[lib], lib.Tensor.add in funcs[lib.Tensor],
                lib.nn.functional.relu in funcs[lib.nn.functional],
                lib.overrides.is_tensor_like(lib.ones(1)))
    got = [run(lib) for lib in (torch, tc)]
    assert got[1] == got[0], f"tracecomp={got[1]} | torch={got[0]}"


def test_modes_and_switches_are_per_thread():
    """A mode entered, or subclass dispatch disabled, in one thread leaves another's calls
    alone (torch keeps both per thread)."""
    import threading

    def run(lib):
        log = []
        cls = _logging_tensor(lib, log)
        l = lib.ones(2).as_subclass(cls)  # noqa: E741
        seen = {}

        def other():
            seen["type"] = type(l + 1).__name__
            seen["mode"] = lib._C._is_torch_function_mode_enabled()
        with _calls_mode(lib, log)(), lib._C.DisableTorchFunctionSubclass():
            worker = threading.Thread(target=other)
            worker.start()
            worker.join()
            here = type(lib.exp(l)).__name__
        return log, seen, here
    got = [run(lib) for lib in (torch, tc)]
    assert got[1] == got[0], f"tracecomp={got[1]} | torch={got[0]}"


def test_subclass_construction_patterns_are_torchs():
    """The ways programs make subclass instances: super().__new__(cls, data) under an
    __init__ of their own, the legacy constructor, Tensor._make_subclass."""
    def run(lib):
        class Tagged(lib.Tensor):
            @staticmethod
            def __new__(cls, x, tag, *args, **kwargs):
                return super().__new__(cls, x, *args, **kwargs)

            def __init__(self, x, tag):
                self.tag = tag

        class Made(lib.Tensor):
            def __new__(cls, data, requires_grad=False):
                return lib.Tensor._make_subclass(cls, data, requires_grad)
        class Plain(lib.Tensor):
            pass
        base = lib.arange(3.0)
        tagged, made = Tagged(base, "t"), Made(base, True)
        legacy = Plain([1.0, 2.0])
        base.add_(1)    # all three share base's memory
        out = (made * 2).sum()
        out.backward()
        return [(type(v).__name__, v.tolist(), v.requires_grad) for v in
                (tagged, made, legacy, tagged + 1, out)] + [tagged.tag, made.grad.tolist()]
    got = [run(lib) for lib in (torch, tc)]
    assert got[1] == got[0], f"tracecomp={got[1]} | torch={got[0]}"


def test_a_subclass_made_inside_compiled_code_is_a_graph_break():
    """Inside a traced function the handlers would run once, at trace time: a TraceError
    (a graph break: the call runs eagerly, with the handler, and says why)."""
    log = []
    cls = _logging_tensor(tc, log)

    def f(x):
        return (x.as_subclass(cls) * 2).sum()
    with pytest.warns(UserWarning, match="__torch_function__ handler is met while tracing"):
        out = tc.compile(f)(tc.arange(3.0))
    assert (list(log), type(out).__name__, out.item()) == (["mul", "sum"], "LoggingTensor", 6.0)
    with pytest.raises(tc.TraceError, match="met while tracing"):
        tc.compile(f, fullgraph=True)(tc.arange(3.0))
