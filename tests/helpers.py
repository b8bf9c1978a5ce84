"""Shared test helpers: run the same code under tracecomp and torch and compare.

`to_torch` / `to_tc` move tensors across (same values, dtype and requires_grad);
`assert_close` fails with `tracecomp=… | torch=…` and the worst element; `compiled_step`
is the whole training step most compiled-step tests run.
"""
import numpy as np
import torch

import tracecomp as tc


def to_torch(x, requires_grad=None):
    if isinstance(x, tc.Tensor):
        t = torch.from_numpy(np.array(x.detach().numpy()))
        rg = x.requires_grad if requires_grad is None else requires_grad
        return t.requires_grad_(rg) if rg else t
    return x


def to_tc(x, requires_grad=None):
    if isinstance(x, torch.Tensor):
        t = tc.tensor(x.detach().numpy().copy())
        rg = x.requires_grad if requires_grad is None else requires_grad
        return t.requires_grad_(rg) if rg else t
    return x


def as_np(x):
    if isinstance(x, tc.Tensor):
        return np.asarray(x.detach().numpy())
    if isinstance(x, torch.Tensor):
        return x.detach().numpy()
    return np.asarray(x)


def assert_close(got, want, rtol=1e-5, atol=1e-6, what="value"):
    """got from tracecomp, want from torch (or a float64 reference)."""
    g, w = as_np(got), as_np(want)
    assert g.shape == w.shape, f"{what}: shape tracecomp={g.shape} | torch={w.shape}"
    if isinstance(want, torch.Tensor) and isinstance(got, tc.Tensor):
        assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1], \
            f"{what}: dtype tracecomp={got.dtype} | torch={want.dtype}"
    if g.size == 0:
        return
    if g.dtype.kind in "biu" or w.dtype.kind in "biu":
        bad = np.argwhere(g != w)
        assert bad.size == 0, (f"{what} differs at {tuple(bad[0])}: "
                               f"tracecomp={g[tuple(bad[0])]} | torch={w[tuple(bad[0])]}")
        return
    ok = np.isclose(g, w, rtol=rtol, atol=atol, equal_nan=True)
    if not ok.all():
        i = tuple(np.argwhere(~ok)[0])
        raise AssertionError(f"{what} differs at {i}: tracecomp={g[i]!r} | torch={w[i]!r} "
                             f"({(~ok).sum()} of {ok.size} elements off, rtol={rtol}, atol={atol})")


def train_step(model, opt, lib=tc, loss="cross_entropy"):
    """`step(x, y)`: zero_grad, the loss (cross-entropy, or another of lib.nn.functional by
    name) of model(x) against y, backward and opt.step(); returns the loss. lib: tracecomp,
    or torch for the reference."""
    loss_fn = getattr(lib.nn.functional, loss)

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def mean_square_step(model, opt):
    """`step(x)`: zero_grad, mean of model(x) squared, backward and opt.step(); returns
    the loss (a step with no targets, for tests about what else the step reads)."""
    def step(x):
        opt.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        opt.step()
        return loss
    return step


def compiled_step(model, opt, backend="llvm"):
    """train_step(model, opt), compiled whole."""
    return tc.compile(train_step(model, opt), backend=backend)


def with_torch_weights(model, ref):
    """A tracecomp model holding a torch model's weights (state_dict keys are the same)."""
    model.load_state_dict({k: tc.from_numpy(v.detach().numpy().copy())
                           for k, v in ref.state_dict().items()})
    return model


def train_twin_relu_mlps(x, y, widths, steps=3, compile_model=False):
    """(the compiled step, or compile(model)'s forward, its model, torch's model) after
    `steps` SGD-momentum steps on numpy x, y of twin ReLU MLPs of `widths`, compiled whole
    (or the model alone), each loss and then the parameters checked against torch's."""
    model, ref = twin_relu_mlps(*widths)
    forward = tc.compile(model) if compile_model else model
    step = train_step(forward, tc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9))
    step = step if compile_model else tc.compile(step)
    ref_step = train_step(ref, torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9), torch)
    for _ in range(steps):
        assert_close(step(tc.tensor(x), tc.tensor(y)).item(),
                     ref_step(torch.tensor(x), torch.tensor(y)).item(), rtol=1e-4, what="loss")
    for p, q in zip(model.parameters(), ref.parameters()):
        assert_close(p, q, what="parameter")
    return (forward if compile_model else step), model, ref


def twin_relu_mlps(*widths):
    """(tracecomp model, torch model) with the same weights: Linear layers of `widths`
    (784, 256, 256, 10: the bench MLP) with a ReLU between each two."""
    def build(lib):
        layers = []
        for k, (a, b) in enumerate(zip(widths, widths[1:])):
            layers += [lib.nn.Linear(a, b)] + ([lib.nn.ReLU()] if k < len(widths) - 2 else [])
        return lib.nn.Sequential(*layers)
    torch.manual_seed(0)
    ref = build(torch)
    return with_torch_weights(build(tc), ref), ref


def assert_same_grads(model, ref, factor=1.0):
    """Every parameter's .grad in `model` is `factor` times its torch twin's in `ref`."""
    for p, q in zip(model.parameters(), ref.parameters()):
        assert_close(p.grad.numpy(), factor * q.grad.numpy(), atol=1e-5, rtol=1e-4)


def twin_mlps(opt, kw, tensor_lr=False):
    """[(model, optimizer)] for tracecomp, then torch: the same 6-8-3 MLP (ReLU) and
    optimizer `opt` (its name) with options kw; lr given as a tensor when tensor_lr."""
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    model = with_torch_weights(
        tc.nn.Sequential(tc.nn.Linear(6, 8), tc.nn.ReLU(), tc.nn.Linear(8, 3)), ref)
    out = []
    for lib, m in ((tc, model), (torch, ref)):
        options = dict(kw, lr=lib.tensor(kw["lr"])) if tensor_lr else kw
        out.append((m, getattr(lib.optim, opt)(m.parameters(), **options)))
    return out


def assert_same_square_loss_step(model, ref, x, rtol=1e-4, atol=1e-5):
    """One forward and backward of a tracecomp model and its torch twin on numpy x, the
    loss the sum of squares of the output: the outputs, the parameters' names and every
    gradient compared (outputs to rtol/atol; gradients, sums over the batch, to at least
    1e-4/1e-5)."""
    y, yt = model(tc.tensor(x)), ref(torch.tensor(x))
    assert_close(y, yt, rtol=rtol, atol=atol, what="output")
    (y * y).sum().backward()
    (yt * yt).sum().backward()
    got, want = dict(model.named_parameters()), dict(ref.named_parameters())
    assert list(got) == list(want)
    for name in want:
        assert_close(got[name].grad, want[name].grad, rtol=max(rtol, 1e-4),
                     atol=max(atol, 1e-5), what=name)


def assert_trains_like_torch(ref, run, ours, opts, batches, loss_of, atol=1e-5):
    """Train torch's `ref` and tracecomp's `ours` (called through `run`: itself or its
    compiled form) on the same batches with opts = (torch's optimizer, tracecomp's),
    comparing the loss at every step and the parameters at the end. loss_of(lib, model,
    batch) gives the loss; the batch comes as torch tensors for torch, converted for
    tracecomp."""
    opt_t, opt_c = opts
    for batch in batches:
        loss_t = loss_of(torch, ref, batch)
        loss_c = loss_of(tc, run, tuple(to_tc(b) for b in batch))
        for opt, loss in ((opt_t, loss_t), (opt_c, loss_c)):
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert_close(loss_c, loss_t, atol=atol)
    for p_c, p_t in zip(ours.parameters(), ref.parameters()):
        assert_close(p_c, p_t, atol=atol)


def raised(lib, fn):
    """The exception fn(lib) raises (torch or tracecomp), to compare the two libraries'."""
    try:
        fn(lib)
    except Exception as exc:                               # noqa: BLE001 - compared by callers
        return exc
    raise AssertionError(f"{lib.__name__} raised nothing")


def native_runners(art):
    """An artifact's native (llvm) runners: its forward's, and its backward's, compiled now
    where no backward has run yet (compiler/lazy_backward.py)."""
    from tracecomp.codegen.llvm.runtime.runner import Runner
    from tracecomp.compiler.lazy_backward import LazyBackward
    runners = [r.runner() if isinstance(r, LazyBackward) else r
               for r in (art.run_forward, art.run_backward)]
    return [r for r in runners if isinstance(r, Runner)]
