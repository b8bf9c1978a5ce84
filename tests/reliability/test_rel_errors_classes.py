"""A compiled error is raised as the builtin class eager (and torch) raise, with the user's line.

One table of bad inputs runs three times: under torch 2.13 (the reference class), eagerly,
and compiled (the LLVM backend and the reference interpreter). The bad values are
arguments of the compiled function, so the compiled run meets them at run time, inside a
step of compiled code, not while tracing. All three must raise, and the classes must
agree on which of IndexError / RuntimeError / ValueError / TypeError they are; compiled
errors are TracecompErrors as well, and name the user's line.
"""
import pytest
import torch

import tracecomp as tc
from tracecomp.errors import TracecompError, compiled_error
from tracecomp.ir import execution_error, node_names
from tracecomp.tracing.tracer import trace

BUILTINS = (IndexError, RuntimeError, ValueError, TypeError, NotImplementedError)


def _ones(lib, *shape, dtype=None):
    return lib.ones(*shape) if dtype is None else lib.ones(*shape, dtype=dtype)


# (id, fn(lib, *args), make_args(lib)): fn must raise for these args
CASES = [
    ("index_out_of_range", lambda m, a, i: a[i],
     lambda m: (_ones(m, 3, 4), m.tensor([0, 7]))),
    ("index_negative", lambda m, a, i: a[i], lambda m: (_ones(m, 3, 4), m.tensor([-4]))),
    ("index_dim1", lambda m, a, i: a[:, i], lambda m: (_ones(m, 3, 4), m.tensor([4]))),
    ("index_put", lambda m, a, i: a.clone().index_put_((i,), m.ones(1, 4)),
     lambda m: (_ones(m, 3, 4), m.tensor([3]))),
    ("gather_bounds", lambda m, a, i: a.gather(1, i),
     lambda m: (_ones(m, 3, 4), m.tensor([[5]]))),
    ("gather_negative", lambda m, a, i: a.gather(1, i),
     lambda m: (_ones(m, 3, 4), m.tensor([[-1]]))),
    ("scatter_add_bounds", lambda m, a, i: m.zeros(3, 4).scatter_add(1, i, a[:1, :1]),
     lambda m: (_ones(m, 3, 4), m.tensor([[4]]))),
    ("scatter_bounds", lambda m, a, i: m.zeros(3, 4).scatter(1, i, a[:1, :1]),
     lambda m: (_ones(m, 3, 4), m.tensor([[4]]))),
    ("index_select_bounds", lambda m, a, i: a.index_select(0, i),
     lambda m: (_ones(m, 3, 4), m.tensor([3]))),
    ("take_bounds", lambda m, a, i: m.take(a, i), lambda m: (_ones(m, 3, 4), m.tensor([12]))),
    ("embedding_bounds", lambda m, w, i: m.nn.functional.embedding(i, w),
     lambda m: (_ones(m, 3, 4), m.tensor([3]))),
    ("one_hot_large", lambda m, a, i: m.nn.functional.one_hot(i, 3),
     lambda m: (_ones(m, 1), m.tensor([3]))),
    ("one_hot_negative", lambda m, a, i: m.nn.functional.one_hot(i, 3),
     lambda m: (_ones(m, 1), m.tensor([-1]))),
    ("cross_entropy_target", lambda m, a, t: m.nn.functional.cross_entropy(a, t),
     lambda m: (_ones(m, 3, 4), m.tensor([0, 1, 4]))),
    ("nll_negative_target", lambda m, a, t: m.nn.functional.nll_loss(a, t),
     lambda m: (_ones(m, 3, 4), m.tensor([0, 1, -1]))),
    ("cross_entropy_int32_target", lambda m, a, t: m.nn.functional.cross_entropy(a, t),
     lambda m: (_ones(m, 3, 4), m.tensor([0, 1, 2], dtype=m.int32))),
    ("nll_int16_target", lambda m, a, t: m.nn.functional.nll_loss(a, t),
     lambda m: (_ones(m, 3, 4), m.tensor([0, 1, 2], dtype=m.int16))),
    ("bce_above_one", lambda m, a, t: m.nn.functional.binary_cross_entropy(a, t),
     lambda m: (_ones(m, 3) * 1.5, _ones(m, 3))),
    ("bce_negative", lambda m, a, t: m.nn.functional.binary_cross_entropy(a, t),
     lambda m: (_ones(m, 3) * -0.5, _ones(m, 3))),
    ("bce_nan", lambda m, a, t: m.nn.functional.binary_cross_entropy(a, t),
     lambda m: (m.tensor([float("nan"), 0.5]), _ones(m, 2))),
    ("bce_module", lambda m, a, t: m.nn.BCELoss()(a, t),
     lambda m: (_ones(m, 3) * 2.0, _ones(m, 3))),
    ("matmul_shapes", lambda m, a, b: a @ b, lambda m: (_ones(m, 4, 3), _ones(m, 5, 2))),
    ("add_broadcast", lambda m, a, b: a + b, lambda m: (_ones(m, 2, 3), _ones(m, 2, 4))),
    ("cat_shapes", lambda m, a, b: m.cat([a, b]), lambda m: (_ones(m, 2, 3), _ones(m, 2, 4))),
    ("reshape_size", lambda m, a: a.reshape(4, 2), lambda m: (_ones(m, 2, 3),)),
    ("sum_dim", lambda m, a: a.sum(2), lambda m: (_ones(m, 2, 3),)),
    ("float_index", lambda m, a, i: a[i], lambda m: (_ones(m, 3), m.tensor([0.0]))),
    ("masked_fill_int_mask", lambda m, a, b: a.masked_fill(b, 0.0),
     lambda m: (_ones(m, 2), m.tensor([1, 0]))),
    ("mean_of_int", lambda m, a: a.mean(), lambda m: (m.tensor([1, 2]),)),
    ("multinomial_negative", lambda m, p: m.multinomial(p, 1),
     lambda m: (m.tensor([-1.0, 2.0]),)),
    ("repeat_interleave_negative", lambda m, a, r: m.repeat_interleave(a, r),
     lambda m: (_ones(m, 2), m.tensor([1, -1]))),
    ("max_pool_empty_channels", lambda m, a: m.nn.functional.max_pool2d(a, 2),
     lambda m: (_ones(m, 2, 0, 4, 4),)),
    ("adaptive_max_pool_empty_channels",
     lambda m, a: m.nn.functional.adaptive_max_pool2d(a, 2), lambda m: (_ones(m, 2, 0, 4, 4),)),
]


def _builtin_classes(exc):
    return {c for c in BUILTINS if isinstance(exc, c)}


def _raised(fn):
    try:
        fn()
    except Exception as exc:    # noqa: BLE001 - the test compares whatever was raised
        return exc
    raise AssertionError("no error raised")


@pytest.mark.parametrize("backend", ["llvm", "interp"])
@pytest.mark.parametrize("fn,make", [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_compiled_error_class_matches_eager_and_torch(fn, make, backend):
    want = _raised(lambda: fn(torch, *make(torch)))
    eager = _raised(lambda: fn(tc, *make(tc)))
    compiled = _raised(lambda: tc.compile(lambda *a: fn(tc, *a), backend=backend)(*make(tc)))
    classes = _builtin_classes(want)
    assert classes, f"torch raised {type(want).__name__}: {want}"
    assert _builtin_classes(eager) == classes, \
        f"eager={type(eager).__mro__} | torch={type(want).__name__}: {want}"
    assert _builtin_classes(compiled) == classes, \
        f"compiled={type(compiled).__mro__}: {compiled} | torch={type(want).__name__}: {want}"
    assert isinstance(compiled, TracecompError) or type(compiled) is type(eager), \
        f"compiled={type(compiled).__mro__} | eager={type(eager).__mro__}"


@pytest.mark.parametrize("backend", ["llvm", "interp"])
def test_step_error_keeps_class_node_and_user_line(backend):
    def gather_it(a, i):
        return a.gather(1, i)
    f = tc.compile(gather_it, backend=backend)
    with pytest.raises(RuntimeError) as info:
        f(tc.ones(3, 4), tc.tensor([[5]]))
    exc = info.value
    assert isinstance(exc, TracecompError)
    text = str(exc)
    assert "index 5 is out of bounds for dimension 1 with size 4" in text, text
    assert "While executing" in text and "gather(" in text, text
    line = f"{__file__.rsplit('/', 1)[-1]}:{gather_it.__code__.co_firstlineno + 1}"
    assert line in text, f"{line!r} not in {text!r}"


def test_guard_error_is_eager_error_with_user_line_as_note():
    def loss(a, t):
        return tc.nn.functional.cross_entropy(a, t)     # a check_range guard on t
    args = (tc.ones(3, 4), tc.tensor([0, 1, 4]))
    with pytest.raises(IndexError) as info:
        tc.compile(loss)(*args)
    with pytest.raises(IndexError) as eager:
        loss(*args)
    assert str(info.value) == str(eager.value)      # the guard's own words, as eager
    line = f"{__file__.rsplit('/', 1)[-1]}:{loss.__code__.co_firstlineno + 1}"
    assert any(line in note for note in getattr(info.value, "__notes__", ())), \
        f"{line!r} not in {getattr(info.value, '__notes__', None)!r}"


class _NeedsArgs(ValueError):
    def __init__(self, a, b):
        super().__init__(f"{a}/{b}")


EXCEPTIONS = [
    IndexError("i"), ValueError("v"), TypeError("t"), RuntimeError("r"),
    NotImplementedError("n"), ZeroDivisionError("z"), FloatingPointError("f"), KeyError("k"),
    _NeedsArgs(1, 2),                           # its own constructor: the builtin above it
    UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"),
]


@pytest.mark.parametrize("also", [None, RuntimeError])
@pytest.mark.parametrize("exc", EXCEPTIONS, ids=lambda e: type(e).__name__)
def test_compiled_error_keeps_the_nearest_builtin_class(exc, also):
    out = compiled_error(exc, "While executing %0", also)
    assert isinstance(out, TracecompError)
    want = _builtin_classes(exc) | ({also} if also else set())
    assert _builtin_classes(out) == want, type(out).__mro__
    assert str(exc) in str(out) and "While executing %0" in str(out)
    if not isinstance(exc, (_NeedsArgs, UnicodeDecodeError)):
        assert isinstance(out, type(exc)), type(out).__mro__
    assert type(compiled_error(exc, "again", also)) is type(out)   # one cached class


@pytest.mark.parametrize("exc,eager_class", [
    (IndexError("i"), IndexError),
    (ValueError("v"), RuntimeError),            # eager: dispatch.explain_failure's ShapeError
    (TypeError("t"), RuntimeError),
    (ZeroDivisionError("z"), RuntimeError),
], ids=lambda e: type(e).__name__)
def test_step_failure_is_what_eager_raises_and_what_the_step_raised(exc, eager_class):
    graph = trace(lambda a: a.exp(), tc.ones(2))
    node = graph.nodes[-1]
    out = execution_error(exc, node, node_names(graph))
    assert isinstance(out, eager_class) and isinstance(out, type(exc))
    assert isinstance(out, TracecompError)
    assert "exp(" in str(out) and f"{__file__.rsplit('/', 1)[-1]}:" in str(out), str(out)


@pytest.mark.parametrize("op", ["gather", "scatter_add"])
def test_eager_index_bounds_message_is_torchs(op):
    """An out-of-range gather/scatter index: torch's RuntimeError and message, eagerly too
    (not wrapped in 'gather: failed on operands ...')."""
    import torch
    messages = []
    for lib in (torch, tc):
        x, i = lib.ones(3, 4), lib.tensor([[5]])
        with pytest.raises(RuntimeError) as info:
            x.gather(1, i) if op == "gather" else x.scatter_add(1, i, lib.ones(1, 1))
        messages.append(str(info.value))
    assert messages[1] == messages[0]
