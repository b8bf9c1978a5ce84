"""Completeness of the primitive registry: every primitive has an impl, a shape rule, a
dtype rule, a sample call here, and a VJP unless it is on the explicit non-differentiable
list. A new primitive without a VJP or a sample fails these tests, not a user.

On its sample, each primitive's shape and dtype rules must agree with its impl, and each
VJP must match float64 central differences along a random direction.
"""
import types

import numpy as np
import pytest

import tracecomp as tc
import tracecomp.distributions  # noqa: F401 - registers the Gamma and Dirichlet draws
import tracecomp.ops.conv  # noqa: F401  (registers unfold/fold)
from tracecomp.creation import Sampler
from tracecomp.dispatch import bind
from tracecomp.ops import orthopoly, special_more
from tracecomp.ops.registry import PRIMITIVES

# Primitives with no gradient, on purpose: boolean/integer results, integer-valued steps,
# constants and random draws with no tensor input, and detach (which stops gradients).
NON_DIFFERENTIABLE = {
    "logical_not", "isnan", "isinf", "floor_divide", "eq", "ne", "lt", "le", "gt", "ge",
    "logical_and", "logical_or", "logical_xor", "argmax", "argmin", "full", "arange",
    "uniform", "normal", "draw", "detach",
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not",
    "bitwise_left_shift", "bitwise_right_shift",
}
NON_DIFFERENTIABLE |= {"multinomial", "bernoulli", "poisson"}   # issue 9: draws from tensors
NON_DIFFERENTIABLE |= {"rnn_scan_backward"}     # rnn_scan's VJP differentiates its steps
# compiled code's FFT and complex products on parts, after autodiff
NON_DIFFERENTIABLE |= {"fft_parts", "on_complex"}
NON_DIFFERENTIABLE |= {"ctc_loss_backward"}     # torch's _ctc_loss_backward has no derivative
# a draw from tensors, and the implicit gradients of Gamma and Dirichlet draws (torch's
# _standard_gamma_grad and _dirichlet_grad have no derivative either)
NON_DIFFERENTIABLE |= {"binomial", "von_mises", "standard_gamma_grad", "dirichlet_grad"}

_rng = np.random.default_rng(0)
MIXED = np.array([[-1.3, 0.7, 1.9], [0.4, -0.6, 1.1]])      # away from 0: no kinks
POS = np.array([[1.3, 0.7, 1.9], [0.4, 0.6, 1.1]])
ROW = np.array([0.9, -1.7, 0.35])
LOGP = MIXED - np.log(np.exp(MIXED).sum(1, keepdims=True))     # log_softmax(MIXED, 1)
IDX = np.array([[2, 0], [1, 1]])
INT = np.array([[3, -2, 0], [1, 5, -4]])

# an LSTM layer direction run backwards over 3 steps of a batch of 2, hidden size 2:
# (gi, w_hh, h0, c0)
_LSTM = tuple(np.random.default_rng(2).standard_normal(s) for s in [(3, 2, 8), (8, 2)]) + \
    (MIXED[:, :2], POS[:, :2] - 1)
_LSTM_PARAMS = {"mode": "LSTM", "reverse": True, "batch_sizes": None}


# ctc_loss over 4 steps of 2 sequences of 3 classes: (log_probs, padded targets, input and
# target lengths); the second sequence repeats a label and is shorter
_CTC = (np.log(np.random.default_rng(4).dirichlet(np.ones(3), (4, 2))), np.array([[1, 2], [2, 2]]),
        np.array([4, 3]), np.array([2, 2]))
_CTC_PARAMS = {"blank": 0, "zero_infinity": False}


def _lstm_record():
    return PRIMITIVES["rnn_scan"].impl(*_LSTM, **_LSTM_PARAMS)


# The sample of an elementwise primitive that takes any real numbers, by its tags: so a new
# op of that kind needs no entry here.
BY_TAG = {"unary": ((MIXED,), {}), "binary": ((MIXED, ROW), {})}

# name -> (args, params). Float arrays become float64 tensors, int arrays int64 tensors.
SAMPLES = {
    **{n: ((POS,), {}) for n in ["log", "sqrt", "rsqrt", "log1p"]},
    # issue 9: elementwise math, special functions and random draws with tensor inputs
    **{n: ((MIXED * 0.5,), {}) for n in ["asin", "acos", "atanh", "erfinv"]},
    "lgamma": ((POS,), {}), "bernoulli": ((POS * 0.5,), {}),
    "acosh": ((POS + 1,), {}), "polygamma": ((POS,), {"n": 1}), "poisson": ((POS,), {}),
    "multinomial": ((POS,), {"num_samples": 2, "replacement": False}),
    "binomial": ((np.array([[3.0, 5.0, 0.0], [2.0, 1.0, 4.0]]), POS * 0.5), {}),
    "igamma": ((POS, POS * 2), {}), "standard_gamma": ((POS,), {}),
    "standard_gamma_grad": ((POS, POS * 2), {}),
    "sample_dirichlet": ((POS,), {}), "von_mises": ((MIXED, POS), {}),
    "dirichlet_grad": ((POS * 0.3, POS, POS * 3), {}),
    "pow": ((POS, ROW), {}),
    "remainder": ((MIXED, np.abs(ROW) + 0.5), {}),
    "floor_divide": ((INT, np.array([2, 3, -3])), {}),
    **{n: ((INT, np.array([6, 3, -3])), {}) for n in ["bitwise_and", "bitwise_or", "bitwise_xor"]},
    "bitwise_not": ((INT,), {}),
    **{n: ((INT, np.array([1, 70, -2])), {}) for n in ["bitwise_left_shift",
                                                       "bitwise_right_shift"]},
    "where": ((MIXED > 0, MIXED, ROW), {}),
    "cast": ((MIXED,), {"dtype": np.dtype(np.float64)}),
    "reduce_sum": ((MIXED,), {"dims": (1,), "keepdim": False}),
    "reduce_max": ((MIXED,), {"dims": (0,), "keepdim": True}),
    "log_softmax": ((MIXED,), {"dim": 1}),
    "log_softmax_backward": ((MIXED * 0.5 + 0.1, -np.abs(MIXED) - 0.2), {"dim": 1}),
    "softmax": ((MIXED,), {"dim": 0}),
    "nll_loss": ((MIXED, np.array([2, 0])), {"reduction": "mean", "ignore_index": None}),
    "nll_loss_backward": ((np.array([0.7, -1.3]), np.array([2, 0])),
                          {"shape": MIXED.shape, "reduction": "none", "ignore_index": None}),
    "rnn_scan": (_LSTM, _LSTM_PARAMS),
    "rnn_scan_backward": ((np.random.default_rng(3).standard_normal((6, 4, 2, 2)),
                           _lstm_record(), *_LSTM), _LSTM_PARAMS),
    "ctc_loss": (_CTC, _CTC_PARAMS),
    "ctc_loss_backward": ((np.array([0.7, -1.3]), *_CTC), _CTC_PARAMS),
    "cross_entropy": ((MIXED, np.array([2, 0]), LOGP), {"reduction": "mean"}),
    "cross_entropy_backward": ((np.array(0.7), np.array([2, 0]), LOGP), {"reduction": "mean"}),
    "mse_loss": ((MIXED, POS), {"reduction": "mean"}),
    "mse_loss_backward": ((np.array(0.7), MIXED, POS), {"reduction": "sum"}),
    "reduce_min": ((MIXED,), {"dims": (0, 1), "keepdim": False}),
    "argmax": ((MIXED,), {"dim": 1, "keepdim": False}),
    "argmin": ((MIXED,), {"dim": None, "keepdim": True}),
    "reshape": ((MIXED,), {"shape": (3, 2)}),
    "permute": ((MIXED,), {"dims": (1, 0)}),
    "expand": ((MIXED[:, :1],), {"shape": (3, 2, 4)}),
    "slice": ((MIXED,), {"starts": (0, 1), "stops": (2, 3), "steps": (1, 2)}),
    "pad": ((MIXED,), {"config": ((1, 0, 1), (-1, 2, 0)), "value": 0.5}),
    "concat": ((MIXED, ROW[None]), {"dim": 0}),
    "gather": ((MIXED, IDX), {"dim": 1}),
    "scatter_add": ((MIXED, IDX, POS[:, :2]), {"dim": 1}),
    "index": ((np.arange(12.0).reshape(3, 4) * 0.3, np.array([2, 0, 2])),
              {"key": (0, ("s", 1, 4, 2))}),
    "index_put": ((POS, ROW[:2], np.array([1, 0])), {"key": (None, 0), "accumulate": False}),
    "matmul": ((MIXED, POS.T), {}),
    "full": ((), {"shape": (2, 3), "value": 1.5, "dtype": np.dtype(np.float32)}),
    "arange": ((), {"start": 1, "stop": 7, "step": 2, "dtype": np.dtype(np.int64)}),
    "uniform": ((), {"shape": (2, 3), "dtype": np.dtype(np.float32)}),
    "check_range": ((POS,), {"low": 0, "high": 3, "ignore": None, "message": "{value}",
                             "error": "IndexError"}),
    "normal": ((), {"shape": (4,), "dtype": np.dtype(np.float64)}),
    "draw": ((), {"shape": (2, 2), "dtype": np.dtype(np.float32),
                  "sampler": Sampler(lambda s: _rng.random(s) < 0.5, "bernoulli_(0.5)")}),
    "unfold": ((_rng.standard_normal((1, 2, 4, 4)),),
               {"kernel": (2, 2), "dilation": (1, 1), "padding": (1, 0), "stride": (1, 2)}),
    "fold": ((_rng.standard_normal((1, 8, 10)),),
             {"output_size": (4, 4), "kernel": (2, 2), "dilation": (1, 1), "padding": (1, 0),
              "stride": (1, 2)}),
}


def _custom_vjp_sample():
    """The marker params of a real custom Function call (an identity with its own backward)."""
    class Identity(tc.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g
    out = Identity.apply(tc.tensor(MIXED, requires_grad=True))
    return (MIXED, MIXED), dict(out.grad_fn.params)


SAMPLES["custom_vjp"] = _custom_vjp_sample()
# Its VJP is a custom Function's backward: by design not the derivative of its impl (the
# identity); tests/eager/test_autograd_function.py checks it against torch instead.
USER_VJP = {"custom_vjp"}
# torch's ctc gradient is the one w.r.t. a log_softmax's logits (ops/ctc.py), not the bare
# derivative w.r.t. log_probs: the op table checks it against torch and, through
# log_softmax, against central differences
USER_VJP |= {"ctc_loss"}
# cross_entropy's value reads logp, an operand its caller makes from x, and its VJP is the
# derivative through log_softmax(x) to x: test_cross_entropy_primitive.py checks it against
# torch and central differences of F.cross_entropy
USER_VJP |= {"cross_entropy"}
# random draws whose VJP is the implicit reparameterization gradient, which no central
# difference of a fresh draw can check: test_distributions_gamma.py compares it with torch's
USER_VJP |= {"standard_gamma", "sample_dirichlet"}
# torch has igamma's derivative in x only (in a it raises, and so does tracecomp's):
# test_distributions_gamma.py checks both against torch
USER_VJP |= {"igamma", "igammac"}
# zeta, like igamma: torch has its derivative in q only (test_special_more.py checks it);
# the Bessel family and orthogonal polynomials torch defines without a gradient
USER_VJP |= {"zeta"}
NON_DIFFERENTIABLE |= set(special_more.NO_GRAD_PRIMS) | set(orthopoly.PRIMS)
SAMPLES.update({"zeta": ((POS + 1, POS * 2), {}), "ndtri": ((POS * 0.5,), {}),
                **{n: ((MIXED * 3, np.array([0.0, 3.0, 7.9])), {}) for n in orthopoly.PRIMS}})
# frexp's exponent is an int32 result; nextafter, igammac and frexp's mantissa are
# checked against torch in test_float_parts_special.py too
NON_DIFFERENTIABLE |= {"frexp_exponent"}
SAMPLES.update({"igammac": ((POS, POS * 2), {}), "nextafter": ((MIXED, POS + 0.25), {}),
                "frexp_mantissa": ((MIXED * 3,), {}), "frexp_exponent": ((MIXED * 3,), {}),
                # a view by strides that reads two elements twice (strided_views.py)
                "as_strided": ((MIXED,), {"size": (2, 2), "stride": (1, 1), "offset": 1})})

# issue 9: reductions, scans, sorting, index and linear-algebra primitives
import primitive_samples_shape as _shape  # noqa: E402

SAMPLES.update(_shape.SAMPLES)
NON_DIFFERENTIABLE |= _shape.NON_DIFFERENTIABLE
USER_VJP |= _shape.NOT_IMPL_DERIVATIVE

# complex parts and Fourier transforms: complex samples (complex128 tensors), whose VJPs
# are checked in torch's convention (test_vjp_matches_central_differences)
Z = MIXED + 1j * np.array([[0.8, -1.1, 0.3], [1.6, 0.45, -0.9]])
SAMPLES.update({
    **{n: ((Z,), {}) for n in ["conj", "real", "imag", "angle", "view_as_real"]},
    "view_as_complex": ((np.stack([MIXED, POS], -1),), {}),
    "fft_c2c": ((Z,), {"dims": (1,), "norm": "ortho", "inverse": False}),
    "fft_r2c": ((MIXED,), {"dims": (0, 1), "norm": "backward"}),
    "fft_c2r": ((Z,), {"dims": (1,), "norm": "forward", "n": 4}),
    "fft_parts": ((np.stack([MIXED, POS], -1),),
                  {"transform": "fft_c2r", "dims": (1,), "norm": "forward", "n": 4}),
    "on_complex": ((np.stack([MIXED, POS], -1),), {"primitive": "cumprod", "pairs": (True,),
                                                   "dim": 1}),
    "logaddexp_complex": ((Z, Z[::-1] * 0.7), {}),
})

for _name, _prim in PRIMITIVES.items():
    for _kind, _sample in BY_TAG.items():
        if _name not in SAMPLES and {"elementwise", _kind} <= _prim.tags:
            SAMPLES[_name] = _sample
NAMES = sorted(PRIMITIVES)

# The collectives (ops/collective.py) reduce over the ranks of the process group: here a
# stand-in group of one rank, where all_reduce and broadcast are the identity and send
# nothing (MPI is not started in the test process); their multi-rank behaviour is
# tests/distributed's.
SAMPLES["all_reduce"] = ((MIXED,), {"op": "avg"})
SAMPLES["broadcast"] = ((MIXED,), {"src": 0})
# all_reduce split in two by passes/buckets.py: start's buffer, then wait's on it
SAMPLES["all_reduce_start"] = ((MIXED,), {"op": "sum"})
SAMPLES["all_reduce_wait"] = ((MIXED,), {})
SAMPLES["all_gather"] = ((MIXED,), {"world": 1})
NON_DIFFERENTIABLE |= {"broadcast", "all_reduce_start", "all_reduce_wait", "all_gather"}
COLLECTIVES = {"all_reduce", "broadcast", "all_reduce_start", "all_reduce_wait", "all_gather"}


class _EveryBufferStarted(dict):
    """comm_thread's tickets in a world of one where every buffer's all-reduce was started
    and is done (a sample's buffer is a fresh array, never one that start returned)."""

    def pop(self, key, default=None):
        from tracecomp.distributed import comm_thread
        ticket = comm_thread.Ticket(None, None)
        ticket.done.set()
        return ticket


@pytest.fixture(autouse=True)
def _world_of_one(request, monkeypatch):
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("name") in COLLECTIVES:
        from tracecomp.distributed import comm_thread
        from tracecomp.ops import collective
        monkeypatch.setattr(collective, "_group", lambda: types.SimpleNamespace(size=1))
        monkeypatch.setattr(comm_thread, "_tickets", _EveryBufferStarted())


def _tensors(args, requires_grad):
    out = []
    for a in args:
        arr = np.array(a)
        if arr.dtype.kind in "iu":
            arr = arr.astype(np.int64)
        out.append(tc.tensor(arr, requires_grad=requires_grad and arr.dtype.kind in "fc"))
    return out


def test_every_primitive_is_complete():
    for name, prim in PRIMITIVES.items():
        assert prim.name == name
        for part in ("impl", "shape", "dtype"):
            assert callable(getattr(prim, part)), f"primitive {name!r} has no {part} rule"
        assert prim.differentiable or name in NON_DIFFERENTIABLE, \
            f"primitive {name!r} has no VJP and is not on the NON_DIFFERENTIABLE list"
        assert name in SAMPLES, f"primitive {name!r} has no sample call in test_primitives.py"


def test_non_differentiable_list_is_not_stale():
    for name in NON_DIFFERENTIABLE:
        assert name in PRIMITIVES, f"{name!r} is no longer a primitive: drop it from the list"
        assert not PRIMITIVES[name].differentiable, \
            f"{name!r} has a VJP now: drop it from NON_DIFFERENTIABLE"


@pytest.mark.parametrize("name", NAMES)
def test_rules_agree_with_impl(name):
    prim = PRIMITIVES[name]
    args, params = SAMPLES[name]
    arrays = [t._data for t in _tensors(args, False)]
    raw = np.asarray(prim.impl(*arrays, **params))
    shape = tuple(prim.shape(*[a.shape for a in arrays], **params))
    dtype = prim.dtype(*arrays, **params)
    assert isinstance(dtype, np.dtype), f"{name}: dtype rule gave {dtype!r}, not a numpy dtype"
    assert raw.shape == shape, f"{name}: shape rule says {shape}, impl gave {raw.shape}"
    out = bind(prim, *_tensors(args, False), **params)
    assert tuple(out.shape) == shape and out._data.dtype == dtype, \
        f"{name}: bind gave {out.shape} {out.dtype}, rules say {shape} {dtype}"


@pytest.mark.parametrize("name", [n for n in NAMES if PRIMITIVES[n].differentiable
                                  and n not in USER_VJP])
def test_vjp_matches_central_differences(name):
    prim = PRIMITIVES[name]
    args, params = SAMPLES[name]
    inputs = _tensors(args, True)
    diff = [i for i, t in enumerate(inputs) if t.requires_grad]
    out = bind(prim, *inputs, **params)
    assert out.requires_grad, f"{name}: output does not require grad"
    rng = np.random.default_rng(len(name))
    # complex values in torch's convention: the loss is Re(sum(conj(cot) * out)), the
    # gradient of an input x + iy is dL/dx + i dL/dy, and a complex input moves along a
    # complex direction (real tensors: the plain dot products)
    cot = _draw(rng, out)
    grads = tc.autograd.grad(out, [inputs[i] for i in diff], tc.tensor(cot), allow_unused=True)
    dirs = {i: _draw(rng, inputs[i]) for i in diff}
    analytic = sum(float(np.sum(np.conj(g.resolve_conj().numpy()) * dirs[i]).real)
                   for i, g in zip(diff, grads) if g is not None)

    def objective(sign):
        shifted = [np.asarray(a) + sign * 1e-6 * dirs[i] if i in dirs else a
                   for i, a in enumerate(args)]
        with tc.no_grad():
            out = bind(prim, *_tensors(shifted, False), **params).numpy()
            return float(np.sum(np.conj(cot) * out).real)

    numeric = (objective(1) - objective(-1)) / 2e-6
    assert np.isclose(analytic, numeric, rtol=1e-5, atol=1e-6), \
        f"{name}: VJP gives directional derivative {analytic!r} | central difference {numeric!r}"


def _draw(rng, like):
    """Standard normal numbers of like's shape, complex for a complex tensor."""
    shape = tuple(like.shape)
    if like.is_complex():
        return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    return rng.standard_normal(shape)


def _poisoned(t):
    """A tensor of t's shape and dtype whose values no VJP may use: NaN, or for integers a
    huge number (an index read from it fails)."""
    data = t._data
    fill = np.nan if data.dtype.kind in "fc" else np.iinfo(data.dtype).max
    return tc.tensor(np.full(data.shape, fill, dtype=data.dtype),
                     requires_grad=t._requires_grad)


def _grad_patterns(inputs):
    """Every choice of which float operands take a gradient (at least one)."""
    floats = [k for k, t in enumerate(inputs) if t.dtype.is_floating_point or t.is_complex()]
    for mask in range(1, 1 << len(floats)):
        yield {k for j, k in enumerate(floats) if mask >> j & 1}


@pytest.mark.parametrize("name", [n for n in NAMES if PRIMITIVES[n].differentiable
                                  and n not in USER_VJP])
def test_vjp_reads_only_what_it_saves(name):
    """A primitive's `saves` is what the eager tape's version check covers: a VJP that read
    a value its primitive says it does not save would give a wrong gradient, silently, after
    an in-place change of that value. So every operand (and the output) outside `saves` is
    replaced by NaN here, for every choice of operands taking a gradient, and the gradients
    must come out as from the real values."""
    prim = PRIMITIVES[name]
    args, params = SAMPLES[name]
    for wanted in _grad_patterns(_tensors(args, False)):
        inputs = [tc.tensor(t._data, requires_grad=k in wanted)
                  for k, t in enumerate(_tensors(args, False))]
        out = bind(prim, *inputs, **params)
        node = out._node
        g = tc.tensor(_draw(np.random.default_rng(1), out))
        with tc.no_grad():
            real = prim.vjp(g, out, *inputs, **params)
            blind = [x if prim.reads(k, node) else _poisoned(x) for k, x in enumerate(inputs)]
            seen = out if prim.reads("out", node) else _poisoned(out)
            got = prim.vjp(g, seen, *blind, **params)
        for k in sorted(wanted):
            if real[k] is None:
                continue
            np.testing.assert_array_equal(
                got[k].numpy(), real[k].numpy(),
                err_msg=f"{name}: with {sorted(wanted)} taking gradients, the gradient of "
                        f"operand {k} reads a value `saves` leaves out")
