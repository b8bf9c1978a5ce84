"""The calls api_probe.py tries: inputs, argument patterns, and how each kind of API is run.

An argument pattern is a string of comma-separated symbols, each a fresh input built the
same way for torch and for tracecomp (INPUTS), or a Python literal (`1`, `(0, 1)`, `0.5`).
Patterns are tried in order and the first one torch accepts is the probe's call, so the
simplest reasonable call wins.
"""
import numpy as np

_RNG = np.random.default_rng(20261202)
_DATA = {
    "x": _RNG.uniform(0.1, 0.9, (3, 4)).astype(np.float32),     # in (0, 1): log, asin ok
    "y": _RNG.uniform(0.1, 0.9, (3, 4)).astype(np.float32),
    "v": _RNG.uniform(0.1, 0.9, (4,)).astype(np.float32),
    "w": _RNG.uniform(0.1, 0.9, (4,)).astype(np.float32),
    "s": (_RNG.uniform(-1, 1, (4, 4)) + 3 * np.eye(4)).astype(np.float32),  # invertible
    "z": np.float32(0.5).reshape(()),
    "q": _RNG.uniform(-1, 1, (5, 2, 4)).astype(np.float32),    # (seq, batch, features)
    "c": _RNG.uniform(-1, 1, (2, 4, 6, 6)).astype(np.float32),  # images, 4 channels
    "c3": _RNG.uniform(-1, 1, (2, 4, 6)).astype(np.float32),    # sequences, 4 channels
    "i": np.array([2, 0, 1], dtype=np.int64),                 # 3 class targets / indices
    "j": np.array([[0, 3], [1, 1], [2, 0]], dtype=np.int64),   # (3, 2) indices into dim 1
    "k": np.array([[1, 3, 0, 2, 2], [0, 1, 3, 3, 1]], dtype=np.int64),  # tokens < 4
    "b": _RNG.uniform(0, 1, (3, 4)) < 0.5,
}

FUNCTION_PATTERNS = [
    "x", "x,y", "x,1", "x,0", "x,-1", "x,2", "x,0.5", "x,y,y", "x,y,0.5", "x,0,1", "x,1,2",
    "x,(0,1)", "x,(1,)", "x,v", "s", "s,s", "s,v", "v", "v,w", "v,v,v", "x,1,j", "x,0,i",
    "x,1,j,y", "x,b", "b,x,y", "b", "i", "i,4", "l", "l,0", "l,1", "t", "x,(4,3)", "x,(2,6)",
    "x,1,1,2", "x,i", "4", "3,4", "(3,4)", "0,4", "(3,4),0.5", "x,4", "z", "q",
]
MODULE_ARGS = ["()", "(4,)", "(4,4)", "(4,2)", "(4,4,3)", "(4,2,3)", "(4,4,1)", "(2,)",
               "(1,4)", "(4,4,4)", "((2,2),)", "(1,)", "(0.5,)", "(-1,)", "(4,4,2)"]
MODULE_INPUTS = ["x", "x,i", "x,y", "c", "c3", "q", "q,q,q", "x,y,v", "k", "x,y,i", "v"]


def build(pattern, lib):
    """The arguments a pattern names, as lib tensors (fresh copies every time)."""
    if pattern == "()":
        return []
    args = []
    for part in _split(pattern):
        if part in _DATA:
            args.append(lib.tensor(_DATA[part].copy()))
        elif part == "l":
            args.append([lib.tensor(_DATA["x"].copy()), lib.tensor(_DATA["y"].copy())])
        elif part == "t":
            args.append((lib.tensor(_DATA["x"].copy()), lib.tensor(_DATA["y"].copy())))
        else:
            args.append(eval(part, {}))     # noqa: S307 - literals from the tables above
    return args


def ctor_args(ctor):
    """A module's constructor arguments: MODULE_ARGS entries are tuples of literals."""
    return list(eval(ctor, {}))         # noqa: S307 - literals from the table above


def _split(pattern):
    """'x,(0,1),2' -> ['x', '(0,1)', '2'] (commas inside brackets stay)."""
    parts, depth, cur = [], 0, ""
    for ch in pattern:
        depth += ch in "([" and 1 or ch in ")]" and -1 or 0
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return parts + [cur] if cur else parts


def _torch_and_ours():
    import torch

    import tracecomp
    return torch, tracecomp


# --- kinds of API ---------------------------------------------------------------------------
def run_function(namespace, name, torch_fn, our_fn, method=False):
    from . import api_probe as probe
    torch, tc = _torch_and_ours()

    def call(lib, fn, pattern):
        args = build(pattern, lib)
        if method:
            return getattr(args[0], name)(*args[1:])
        return fn(*args)

    pattern, want, random = probe.find_call(FUNCTION_PATTERNS,
                                            lambda p: call(torch, torch_fn, p), name)
    if pattern is None:
        return probe.Outcome("yes", "n/a", "no probe call")
    if namespace in NOT_COMPILED:
        return probe.compare(pattern, want, random, lambda p: call(tc, our_fn, p))

    def compiled(p):
        args = build(p, tc)
        if not any(isinstance(a, (tc.Tensor, list, tuple)) for a in args):
            raise _NotTensorOp()
        fn = (lambda *a: getattr(a[0], name)(*a[1:])) if method else our_fn
        return tc.compile(lambda *a: fn(*a), backend="interp", fullgraph=True)(*args)

    outcome = probe.compare(pattern, want, random, lambda p: call(tc, our_fn, p), compiled)
    if outcome.compiled == "error: _NotTensorOp":
        outcome.compiled = "n/a"
    return outcome


class _NotTensorOp(Exception):
    """A call with no tensor arguments (a creation function): compiling it alone means
    nothing, creation inside compiled code is covered by the op table."""


# namespaces whose functions run when a model is built, not inside its forward
NOT_COMPILED = {"torch.nn.init"}


def run_method(namespace, name, torch_fn, our_fn):
    return run_function(namespace, name, torch_fn, our_fn, method=True)


def run_module(namespace, name, torch_cls, our_cls):
    from . import api_probe as probe
    torch, tc = _torch_and_ours()
    found = None
    for ctor in MODULE_ARGS:
        ok, module = probe._attempt(lambda c=ctor: torch_cls(*ctor_args(c)))
        if not ok:
            continue
        module.eval()
        pattern, want, random = probe.find_call(
            MODULE_INPUTS, lambda p, m=module: m(*build(p, torch)))
        if pattern is not None:
            found = (ctor, module, pattern, want, random)
            break
    if found is None:
        return probe.Outcome("yes", "n/a", "no probe call")
    ctor, module, pattern, want, random = found

    def ours():
        m = our_cls(*ctor_args(ctor))
        state = {k: tc.tensor(v.detach().numpy().copy()) for k, v in module.state_dict().items()}
        m.load_state_dict(state)
        return m.eval()

    # fullgraph: an op that cannot be traced is a graph break, which runs eagerly
    return probe.compare(pattern, want, random, lambda p: ours()(*build(p, tc)),
                         lambda p: tc.compile(ours(), backend="interp",
                                              fullgraph=True)(*build(p, tc)))


def _quadratic(lib):
    p = lib.nn.Parameter(lib.tensor(_DATA["x"].copy()))
    target = lib.tensor(_DATA["y"].copy())
    return p, target


# optimizers computing in bfloat16 (Muon orthogonalizes its update in bfloat16): torch's
# and ours differ by bfloat16 roundings (an ulp of the update, ~0.4% of lr per step)
OPTIMIZER_TOLERANCE = {"Muon": (1e-2, 5e-3)}


def run_optimizer(namespace, name, torch_cls, our_cls):
    from . import api_probe as probe
    torch, tc = _torch_and_ours()

    def steps(lib, cls, compiled=False):
        p, target = _quadratic(lib)
        try:
            opt = cls([p], lr=0.1)
        except TypeError:
            opt = cls([p])

        def step():
            def closure():
                opt.zero_grad()
                loss = ((p - target) ** 2).sum()
                loss.backward()
                return loss
            return opt.step(closure)

        run = lib.compile(step, backend="interp", fullgraph=True) if compiled else step
        for _ in range(4):
            run()
        return p.detach()

    ok, want = probe._attempt(lambda: steps(torch, torch_cls))
    if not ok:
        return probe.Outcome("yes", "n/a", "no probe call")
    return probe.compare("4 steps", want, False, lambda _: steps(tc, our_cls),
                         lambda _: steps(tc, our_cls, compiled=True),
                         OPTIMIZER_TOLERANCE.get(name, probe.TOLERANCE))


SCHEDULER_ARGS = ["", "2", "0.9", "[2,4]", "lambda e: 0.9 ** e", "0.01,0.1", "0.1,10", "5",
                  "(0.5,)"]


def run_scheduler(namespace, name, torch_cls, our_cls):
    from . import api_probe as probe
    torch, tc = _torch_and_ours()

    def lrs(lib, cls, extra):
        p = lib.nn.Parameter(lib.zeros(2))
        opt = lib.optim.SGD([p], lr=0.1, momentum=0.9)
        sched = cls(opt, *eval(f"({extra},)" if extra else "()", {}))  # noqa: S307
        out = []
        for _ in range(6):
            opt.step()
            sched.step(*((1.0,) if name == "ReduceLROnPlateau" else ()))
            out.append([g["lr"] for g in opt.param_groups])
        return out

    for extra in SCHEDULER_ARGS:
        ok, want = probe._attempt(lambda e=extra: lrs(torch, torch_cls, e))
        if ok:
            return probe.compare(extra, want, False, lambda e: lrs(tc, our_cls, e))
    return probe.Outcome("yes", "n/a", "no probe call")


def run_noargs(namespace, name, torch_fn, our_fn):
    """Functions of device and backend modules: called with no arguments."""
    from . import api_probe as probe
    pattern, want, random = probe.find_call(["()"], lambda p: torch_fn(), name)
    if pattern is None:
        return probe.Outcome("yes", "n/a", "no probe call")
    return probe.compare("()", want, random, lambda p: our_fn())


KINDS = {"function": run_function, "method": run_method, "module": run_module,
         "optimizer": run_optimizer, "scheduler": run_scheduler, "noargs": run_noargs}


# --- APIs that need a call of their own: ns.name -> f(lib) -> result -------------------------
def _grad(lib):
    x = lib.tensor(_DATA["x"].copy(), requires_grad=True)
    return lib.autograd.grad((x * x).sum(), x)


def _backward(lib):
    x = lib.tensor(_DATA["x"].copy(), requires_grad=True)
    lib.autograd.backward((x.sin()).sum())
    return x.grad


def _loader(lib):
    data = lib.utils.data.TensorDataset(lib.arange(10), lib.arange(10) * 2)
    return [b for b in lib.utils.data.DataLoader(data, batch_size=4)]


def _clip(lib):
    p = lib.nn.Parameter(lib.tensor(_DATA["x"].copy()))
    p.grad = lib.tensor(_DATA["y"].copy()) * 10
    return lib.nn.utils.clip_grad_norm_([p], 1.0), p.grad


def _reparametrized(apply, remove=None):
    """A Linear(4, 4) with the square matrix `s` as weight, given `apply` (weight_norm,
    spectral_norm; then `remove` when given), then called on x: spectral norm's random u and
    v are set to fixed unit vectors and the module is in eval mode, so the call is
    deterministic."""
    def call(lib):
        m = lib.nn.Linear(4, 4)
        with lib.no_grad():
            m.weight.copy_(lib.tensor(_DATA["s"].copy()))
            m.bias.zero_()
        getattr(lib.nn.utils, apply)(m)
        if hasattr(m, "weight_u"):
            with lib.no_grad():
                m.weight_u.copy_(lib.tensor(_DATA["v"] / np.linalg.norm(_DATA["v"])))
                m.weight_v.copy_(lib.tensor(_DATA["w"] / np.linalg.norm(_DATA["w"])))
        m.eval()
        if remove is not None:
            getattr(lib.nn.utils, remove)(m)
        return m(lib.tensor(_DATA["x"].copy()))
    return call


def _backends(lib):
    # the backends differ by library: what both answer is that the default one is listed
    return "inductor" in lib.compiler.list_backends(), lib.compiler.is_compiling()


def _linear(lib):
    """Linear(4, 2) weights from the probe data: the same module in both libraries."""
    return {"weight": lib.tensor(_DATA["s"][:2].copy()), "bias": lib.tensor(_DATA["v"][:2].copy())}


def _stacked_shapes(lib):
    params, buffers = lib.func.stack_module_state([lib.nn.Linear(4, 2), lib.nn.Linear(4, 2)])
    return [tuple(p.shape) for p in params.values()], list(buffers)


# torch.func's transforms of one small function, each called on x: a transform of a
# tensor is itself a function, which no argument pattern would compare
_FUNC_CALLS = {
    "grad": lambda lib, x: lib.func.grad(lambda t: (t.sin() * t).sum())(x),
    "grad_and_value": lambda lib, x: lib.func.grad_and_value(lambda t: (t * t).sum())(x),
    "vjp": lambda lib, x: lib.func.vjp(lib.sin, x)[1](x),
    "jvp": lambda lib, x: lib.func.jvp(lambda t: t.exp() * t, (x,), (x,)),
    "linearize": lambda lib, x: lib.func.linearize(lib.tanh, x)[1](x),
    "jacrev": lambda lib, x: lib.func.jacrev(lambda t: t.sin() * t.sum())(x[0]),
    "jacfwd": lambda lib, x: lib.func.jacfwd(lambda t: t.sin() * t.sum())(x[0]),
    "hessian": lambda lib, x: lib.func.hessian(lambda t: (t.sin() * t).sum())(x[0]),
    "vmap": lambda lib, x: lib.func.vmap(lambda r: r * r.sum(), in_dims=1)(x),
    "functional_call": lambda lib, x: lib.func.functional_call(lib.nn.Linear(4, 2),
                                                               _linear(lib), (x,)),
    "stack_module_state": lambda lib, x: _stacked_shapes(lib),
}


def _func(name):
    return lambda lib: _FUNC_CALLS[name](lib, lib.tensor(_DATA["x"].copy()))


OVERRIDES = {
    "torch.autograd.grad": _grad,
    "torch.autograd.backward": _backward,
    "torch.utils.data.DataLoader": _loader,
    "torch.nn.utils.clip_grad_norm_": _clip,
    "torch.nn.utils.weight_norm": _reparametrized("weight_norm"),
    "torch.nn.utils.remove_weight_norm": _reparametrized("weight_norm", "remove_weight_norm"),
    "torch.nn.utils.spectral_norm": _reparametrized("spectral_norm"),
    "torch.nn.utils.remove_spectral_norm": _reparametrized("spectral_norm",
                                                           "remove_spectral_norm"),
    "torch.compiler.list_backends": _backends,
    "torch.compiler.is_compiling": _backends,
    "torch.compiler.disable": lambda lib: lib.compiler.disable(lambda x: x + 1)(2),
    "torch.compiler.set_stance": lambda lib: type(lib.compiler.set_stance("default")).__name__,
    "torch.vmap": _func("vmap"),
    # control flow: a branch and a loop on a tensor's values (torch compiles each call)
    "torch.cond": lambda lib: lib.cond(lib.tensor(_DATA["x"]).sum() > 1, lambda t: t.sin(),
                                       lambda t: t.cos(), (lib.tensor(_DATA["x"].copy()),)),
    "torch.while_loop": lambda lib: lib.while_loop(
        lambda i, t: t.sum() < 40, lambda i, t: (i + 1, t * 2), (lib.tensor(0),
                                                                lib.tensor(_DATA["x"].copy()))),
    **{f"torch.func.{name}": _func(name) for name in _FUNC_CALLS},
}
