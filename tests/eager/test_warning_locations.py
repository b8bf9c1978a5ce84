"""Warnings name the user's line, as torch's do: a warning raised deep in tracecomp carries
the file and line of the program's call into it (user_code.user_stacklevel), however the call
got there: a function, a method, an operator, a library nn.Module, a program's own module
under tracecomp.compile, or a Tensor subclass's __torch_function__.

Each case runs under torch too: where torch names the user's line (TORCH_AT_USER) the test
checks that it does and that the category is the same; where torch names a file of its own
(the size_average/reduce deprecation, reduction='elementwise_mean', checkpoint's
use_reentrant) only that torch warns too; where torch warns once per process (C++
TORCH_WARN_ONCE: torch.qr, torch.cross without dim, meshgrid without indexing) the
reference is not rerun. Before user_stacklevel the fixed stacklevels named tracecomp files
(cpu_policy.py, as_built.py, torch_keywords.py, indexing_keys.py, rnn.py) in most of these.
"""
import re
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp import linalg_legacy


def _t(lib, *shape):
    return lib.tensor(np.random.default_rng(0).standard_normal(shape), dtype=lib.float32)


def _idx(lib):
    return lib.tensor([0, 1, 2])


def _scheduler(lib):
    opt = lib.optim.SGD([lib.nn.Parameter(_t(lib, 2))], lr=0.1)
    return opt, lib.optim.lr_scheduler.StepLR(opt, 1)


def _step_with_epoch(lib):
    opt, sched = _scheduler(lib)
    opt.step()
    sched.step(1)


def _step_before_optimizer(lib):
    _, sched = _scheduler(lib)
    sched.step()


# name -> (the call, a pattern of its warning's text); each lambda is one line, the line the
# warning must name
F_ = "nn.functional"
CASES = {
    "nll_loss_size_average": (lambda lib: lib.nn.functional.nll_loss(
        _t(lib, 3, 4), _idx(lib), size_average=False), "size_average and reduce"),
    "MSELoss_reduce": (lambda lib: lib.nn.MSELoss(reduce=False), "size_average and reduce"),
    "bce_logits_size_average": (lambda lib: lib.nn.functional.binary_cross_entropy_with_logits(
        _t(lib, 3), _t(lib, 3).sigmoid(), size_average=False), "size_average and reduce"),
    "elementwise_mean": (lambda lib: lib.nn.functional.mse_loss(
        _t(lib, 3), _t(lib, 3), reduction="elementwise_mean"), "elementwise_mean"),
    "init_normal": (lambda lib: lib.nn.init.normal(_t(lib, 3, 3)), "`nn.init.normal` is now"),
    "init_xavier_uniform": (lambda lib: lib.nn.init.xavier_uniform(_t(lib, 3, 3)),
                            "`nn.init.xavier_uniform` is now"),
    "init_trunc_normal_far_mean": (lambda lib: lib.nn.init.trunc_normal_(_t(lib, 3), mean=9.0),
                                   "more than 2 std"),
    "cuda_amp_GradScaler": (lambda lib: lib.cuda.amp.GradScaler(), r"GradScaler\(args"),
    "cuda_amp_GradScaler_disabled": (lambda lib: lib.cuda.amp.GradScaler(enabled=False),
                                     r"GradScaler\(args"),
    "cuda_amp_autocast": (lambda lib: lib.cuda.amp.autocast(), r"autocast\(args"),
    "cpu_amp_autocast": (lambda lib: lib.cpu.amp.autocast(), r"autocast\(args"),
    "amp_GradScaler_without_cuda": (lambda lib: lib.amp.GradScaler("cuda"), "not available"),
    "qr": (lambda lib: lib.qr(_t(lib, 3, 3)), "torch.qr is deprecated"),
    "cross_without_dim": (lambda lib: lib.cross(_t(lib, 3, 3), _t(lib, 3, 3)), "torch.cross"),
    "meshgrid_without_indexing": (lambda lib: lib.meshgrid(_t(lib, 2), _t(lib, 3)), "indexing"),
    "upsample": (lambda lib: lib.nn.functional.upsample(_t(lib, 1, 1, 4, 4), scale_factor=2),
                 f"`{F_}.upsample` is deprecated"),
    "upsample_bilinear": (lambda lib: lib.nn.functional.upsample_bilinear(
        _t(lib, 1, 1, 4, 4), scale_factor=2), f"`{F_}.upsample_bilinear` is deprecated"),
    "softmax_without_dim": (lambda lib: lib.nn.functional.softmax(_t(lib, 3, 4)),
                            "Implicit dimension choice for softmax"),
    "log_softmax_without_dim": (lambda lib: lib.nn.functional.log_softmax(_t(lib, 3, 4)),
                                "Implicit dimension choice for log_softmax"),
    "softmin_without_dim": (lambda lib: lib.nn.functional.softmin(_t(lib, 3, 4)),
                            "Implicit dimension choice for softmin"),
    "dropout2d_3d_input": (lambda lib: lib.nn.functional.dropout2d(_t(lib, 2, 3, 4)),
                           "Received a 3D input to dropout2d"),
    "RNN_dropout_one_layer": (lambda lib: lib.nn.RNN(2, 3, dropout=0.5), "dropout option"),
    "clip_grad_norm": (lambda lib: lib.nn.utils.clip_grad_norm(
        [lib.nn.Parameter(_t(lib, 2))], 1.0), "clip_grad_norm` is now deprecated"),
    "stateless_functional_call": (lambda lib: lib.nn.utils.stateless.functional_call(
        lib.nn.Linear(2, 2), {}, (_t(lib, 1, 2),)), "stateless.functional_call"),
    "scheduler_step_epoch": (_step_with_epoch, "The epoch parameter"),
    "scheduler_before_optimizer": (_step_before_optimizer, r"before `optimizer\.step\(\)`"),
    "gumbel_softmax_eps": (lambda lib: lib.nn.functional.gumbel_softmax(_t(lib, 2, 3), eps=0.1),
                           "`eps` parameter is deprecated"),
    "grid_sample_align_corners": (lambda lib: lib.nn.functional.grid_sample(
        _t(lib, 1, 1, 3, 3), _t(lib, 1, 2, 2, 2).tanh()), "align_corners"),
    "affine_grid_align_corners": (lambda lib: lib.nn.functional.affine_grid(
        _t(lib, 1, 2, 3), (1, 1, 2, 2)), "align_corners"),
    "kl_div_mean": (lambda lib: lib.nn.functional.kl_div(_t(lib, 2, 3), _t(lib, 2, 3)),
                    "reduction: 'mean' divides"),
    "NLLLoss2d": (lambda lib: lib.nn.NLLLoss2d(), "`NLLLoss2d` has been deprecated"),
    "mse_loss_sizes": (lambda lib: lib.nn.functional.mse_loss(_t(lib, 3, 1), _t(lib, 3)),
                       "Using a target size"),
    "uint8_mask": (lambda lib: _t(lib, 3)[lib.tensor([1, 0, 1], dtype=lib.uint8)],
                   "indexing with dtype torch.uint8"),
    "TransformerEncoder_nested": (lambda lib: lib.nn.TransformerEncoder(
        lib.nn.TransformerEncoderLayer(4, 2, 8, norm_first=True), 1), "enable_nested_tensor"),
    "embedding_bag_argument_order": (lambda lib: lib.nn.functional.embedding_bag(
        _t(lib, 4, 2), lib.tensor([[0, 1]])), "Argument order of nn.functional.embedding_bag"),
    "cov_degrees_of_freedom": (lambda lib: lib.cov(_t(lib, 1, 1)), "degrees of freedom"),
    "checkpoint_use_reentrant": (lambda lib: lib.utils.checkpoint.checkpoint(
        lambda x: x * 2, _t(lib, 2)), "use_reentrant"),
}

# torch names a file of its own for these (tracecomp names the user's line all the same)
TORCH_ELSEWHERE = {"nll_loss_size_average", "MSELoss_reduce", "bce_logits_size_average",
                   "elementwise_mean", "init_trunc_normal_far_mean", "RNN_dropout_one_layer",
                   "checkpoint_use_reentrant"}
# torch warns once per process (TORCH_WARN_ONCE): its reference is not rerun here
TORCH_ONCE = {"qr", "cross_without_dim", "meshgrid_without_indexing"}


def _caught(call, lib, pattern):
    if lib is tc:
        linalg_legacy._WARNED.discard("qr")     # tracecomp's qr warns once per process too
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call(lib)
    hits = [w for w in caught if re.search(pattern, str(w.message))]
    assert hits, f"no warning matching {pattern!r}: {[str(w.message) for w in caught]}"
    return hits


def _at(warning):
    return f"{warning.filename}:{warning.lineno}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_warning_names_the_calling_line(name):
    call, pattern = CASES[name]
    for w in _caught(call, tc, pattern):
        assert w.filename == __file__, f"{name}: named {_at(w)}, not this file"
        if call.__name__ == "<lambda>":
            assert w.lineno == call.__code__.co_firstlineno, f"{name}: named {_at(w)}"
    if name in TORCH_ONCE:
        return
    theirs = _caught(call, torch, pattern)
    assert {w.category for w in theirs} == {w.category for w in _caught(call, tc, pattern)}
    if name not in TORCH_ELSEWHERE:
        assert all(w.filename == __file__ for w in theirs), [_at(w) for w in theirs]


def test_torch_cuda_amp_deprecations_say_what_torch_says():
    for call, pattern in (CASES["cuda_amp_GradScaler"], CASES["cuda_amp_autocast"],
                          CASES["cpu_amp_autocast"]):
        ours, theirs = _caught(call, tc, pattern), _caught(call, torch, pattern)
        assert [(w.category, str(w.message)) for w in ours] == \
            [(w.category, str(w.message)) for w in theirs]
        assert ours[0].category is FutureWarning


# the library's own modules and methods: the warning comes from inside their forward or
# __init__. torch's name its module files (module.py, loss.py, dropout.py, rnn.py): there
# the user's line is tracecomp's own rule, and torch is checked for the warning only
MODULE_CASES = {
    "Softmax": (lambda lib: lib.nn.Softmax()(_t(lib, 3, 4)), "Implicit dimension"),
    "LogSoftmax": (lambda lib: lib.nn.LogSoftmax()(_t(lib, 3, 4)), "Implicit dimension"),
    "Softmin": (lambda lib: lib.nn.Softmin()(_t(lib, 3, 4)), "Implicit dimension"),
    "Dropout2d": (lambda lib: lib.nn.Dropout2d()(_t(lib, 2, 3, 4)), "3D input to dropout2d"),
    "KLDivLoss": (lambda lib: lib.nn.KLDivLoss()(_t(lib, 2, 3), _t(lib, 2, 3)), "divides"),
    "MSELoss_sizes": (lambda lib: lib.nn.MSELoss()(_t(lib, 3, 1), _t(lib, 3)), "target size"),
    "L1Loss_sizes": (lambda lib: lib.nn.L1Loss()(_t(lib, 3, 1), _t(lib, 3)), "target size"),
    "NLLLoss_size_average": (lambda lib: lib.nn.NLLLoss(size_average=False)(
        _t(lib, 3, 4), _idx(lib)), "size_average and reduce"),
    "LSTM_dropout_one_layer": (lambda lib: lib.nn.LSTM(2, 3, dropout=0.5), "dropout option"),
    "Tensor_cross_method": (lambda lib: _t(lib, 3, 3).cross(_t(lib, 3, 3)), "torch.cross"),
}


@pytest.mark.parametrize("name", sorted(MODULE_CASES))
def test_a_library_module_or_method_names_the_calling_line(name):
    call, pattern = MODULE_CASES[name]
    for w in _caught(call, tc, pattern):
        assert (w.filename, w.lineno) == (__file__, call.__code__.co_firstlineno), _at(w)
    if name != "Tensor_cross_method":         # torch warns once per process for it
        theirs = _caught(call, torch, pattern)
        assert {w.category for w in theirs} == {w.category for w in _caught(call, tc, pattern)}


class Net(tc.nn.Module):
    """A program's module: forward calls F directly (the lines its warnings must name)."""

    def forward(self, x, target):
        a = tc.nn.functional.softmax(x)
        b = tc.nn.functional.nll_loss(tc.nn.functional.log_softmax(x, 1), target,
                                      size_average=False)
        c = tc.cross(x[:, :3], x[:, :3])
        return a.sum() + b + c.sum()


_FORWARD_LINES = {"Implicit dimension": 0, "size_average": 1, "torch.cross": 3}


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_a_programs_forward_is_named_eager_and_while_traced(compiled):
    net = Net()
    model = tc.compile(net) if compiled else net
    first = Net.forward.__code__.co_firstlineno + 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model(_t(tc, 3, 4), _idx(tc))
    seen = {key: (w.filename, w.lineno) for w in caught for key in _FORWARD_LINES
            if key in str(w.message)}
    assert seen == {key: (__file__, first + k) for key, k in _FORWARD_LINES.items()}


def test_under_a_subclasss_torch_function_its_line_is_named():
    class Logged(tc.Tensor):
        """Its __torch_function__ (this file) passes each call on: the program's innermost
        line. Defining it arms every public function (one frame more on each path)."""

        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            return super().__torch_function__(func, types, args, kwargs or {})

    x = _t(tc, 3, 4).as_subclass(Logged)
    line = max(n for _, _, n in Logged.__torch_function__.__func__.__code__.co_lines() if n)
    for call in (lambda: tc.nn.functional.softmax(x),
                 lambda: tc.nn.functional.nll_loss(x, _idx(tc), size_average=False),
                 lambda: tc.cross(x[:, :3], x[:, :3])):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        assert caught and all((w.filename, w.lineno) == (__file__, line) for w in caught), \
            [(_at(w), str(w.message)[:40]) for w in caught]
