"""What `tracecomp bench` measures: each workload, its inputs, and its contestants.

A contestant is a name and a `make()` that builds everything it needs (a model with the
shared initial weights, its optimizer, a compiled wrapper) and returns a `Run`: `call()` runs
one call of the workload and returns its output (logits, or the loss of a training step);
`grads()`, for training steps, gives the gradients of the last step for the result check.
Compiling is lazy everywhere (tracecomp.compile and torch.compile both compile on the
first call), so the first call's time includes the compile.

Every framework contestant runs the same torch-style code with `lib` = tracecomp or torch:

    loss = F.cross_entropy(model(x), y); loss.backward(); opt.step()

and a compiled contestant differs only in calling `compile(model)` instead of `model`;
`tracecomp <backend> step` compiles the whole step function instead (one graph: forward,
loss, backward and the SGD update).
"""
import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import numpy_ref

LR, MOMENTUM = 0.01, 0.9
# gelu's elements: on a GPU enough to be far beyond its L2 cache (issue 12 asks for 64M)
GELU_SIZE = {"cpu": 4 << 20, "cuda": 64 << 20}
GROUPS = ("mlp", "lenet", "gelu", "gemm", "small-ops")
MLP_SIZES = (784, 256, 256, 10)
# LeNet's fully connected tail as (in, out); its two convolutions are spelled out below
LENET_FC = ((400, 120), (120, 84), (84, 10))


@dataclass
class Run:
    call: Callable[[], object]
    grads: Callable[[], list] | None = None


@dataclass
class Contestant:
    name: str
    make: Callable[[], Run] | None
    baseline: str | None = None   # whose time the compile must pay back (break-even)
    skipped: str = ""             # why it does not run, when make is None


@dataclass
class Workload:
    key: str                  # unique, e.g. "mlp_train_b64"
    group: str                # what --only selects
    title: str
    contestants: Callable[[], list[Contestant]] = field(repr=False)
    unit: str | None = None   # "GB/s" or "GFLOP/s"
    work: float = 0.0         # bytes moved or floating-point operations per call
    note: str = ""
    memory: bool = False      # whether the report measures its step memory (peak.py)
    # > 0: the runner also times numpy copying an array of this many bytes, in the same
    # rounds, and reports each contestant's throughput as a share of that copy bandwidth
    copy_bytes: int = 0
    copy_gbs: float | None = None     # the measured copy bandwidth (read + write), GB/s
    copy_device: str = "cpu"          # where that copy runs: the workload's device


@dataclass
class Options:
    quick: bool = False
    only: tuple = GROUPS
    backends: tuple = ("llvm",)
    torch_compile: bool = True
    threads: int | None = None    # BLAS and torch threads; None leaves the defaults
    device: str = "cpu"           # "cuda": models, inputs and compiled code on the GPU
    memory: bool = False          # measure training steps' heap memory (peak.py)


# --- contestants ------------------------------------------------------------------------------


def torch_or_none():
    try:
        import torch
    except ImportError:
        return None
    return torch


def load_weights(lib, model, weights):
    """model with `weights` copied into its parameters; weights None: its own init."""
    if weights is None:
        return model
    params = list(model.parameters())
    assert len(params) == len(weights), (len(params), len(weights))
    with lib.no_grad():
        for p, w in zip(params, weights):
            p.copy_(lib.from_numpy(w.copy()))
    return model


def framework_run(lib, fn, inputs, compile_fn=None, train=False, whole_step=False,
                  device="cpu"):
    """A Run of torch-style code: `fn` is a module (with its weights) or a function. A
    training step compiles the model (`compile_fn(model)`, the optimizer and the loss run
    eagerly) or, with whole_step, the whole step function, backward and optimizer included.
    On a GPU, the model and inputs move there first, and every call waits for the GPU to
    finish (kernels run asynchronously: a call's time is its work, not its launches)."""
    if device != "cpu":
        fn = fn.to(device) if isinstance(fn, lib.nn.Module) else fn
        inputs = [x.to(device) for x in inputs]
    run = compile_fn(fn) if compile_fn and not whole_step else fn
    finish = lib.cuda.synchronize if device != "cpu" else (lambda: None)
    if not train:
        def call():
            with lib.no_grad():
                out = run(*inputs)
            finish()
            return out
        return Run(call)
    opt = lib.optim.SGD(fn.parameters(), lr=LR, momentum=MOMENTUM)
    cross_entropy = lib.nn.functional.cross_entropy
    params = list(fn.parameters())

    def step(x, y):
        opt.zero_grad()
        loss = cross_entropy(run(x), y)
        loss.backward()
        opt.step()
        return loss
    step = compile_fn(step) if whole_step else step

    def call():
        loss = step(*inputs)
        finish()
        return loss
    return Run(call, lambda: [p.grad for p in params])


def torch_compile(torch, fn):
    # a fresh dynamo state per contestant: no guard or recompile limit carries over from the
    # previous workload (its batch size would otherwise make this one's shapes dynamic)
    torch._dynamo.reset()
    return torch.compile(fn)


def contestants(opts, build, arrays, numpy_make, train=False):
    """The contestants of one workload. `build(lib)` makes the module or function for
    tracecomp or torch, `arrays` are the numpy inputs (each framework gets its own copy),
    `numpy_make()` builds the hand-written Run (None: no numpy version)."""
    import tracecomp

    def make(lib, compile_fn=None, whole_step=False):
        inputs = [lib.from_numpy(a.copy()) for a in arrays]
        return framework_run(lib, build(lib), inputs, compile_fn, train, whole_step,
                             opts.device)

    eager = "tracecomp eager"
    out = [Contestant(eager, functools.partial(make, tracecomp))]
    if opts.device != "cpu":
        return out + gpu_contestants(opts, make, train, eager)
    for backend in opts.backends:
        compile_fn = functools.partial(tracecomp.compile, backend=backend)
        out.append(Contestant(f"tracecomp {backend}",
                              functools.partial(make, tracecomp, compile_fn), eager))
    for backend in opts.backends if train else ():
        compile_fn = functools.partial(tracecomp.compile, backend=backend)
        out.append(Contestant(f"tracecomp {backend} step",
                              functools.partial(make, tracecomp, compile_fn, True), eager))
    out.append(Contestant("numpy by hand", numpy_make, skipped="" if numpy_make else "n/a"))
    torch = torch_or_none()
    if torch is None:
        out += [Contestant(n, None, skipped="torch not installed")
                for n in ("torch eager", "torch.compile")]
        return out
    out.append(Contestant("torch eager", functools.partial(make, torch)))
    if opts.torch_compile:
        out.append(Contestant("torch.compile", functools.partial(
            make, torch, functools.partial(torch_compile, torch)), "torch eager"))
    else:
        out.append(Contestant("torch.compile", None, skipped="--no-torch-compile"))
    return out


def gpu_contestants(opts, make, train, eager):
    """After tracecomp eager on the GPU: compiled for it (the model, and the whole training
    step), and torch eager and torch.compile on CUDA where this torch has CUDA. The numpy
    by hand row runs on the CPU, no contestant on a GPU (CuPy would be the GPU's numpy)."""
    import tracecomp
    compile_fn = functools.partial(tracecomp.compile, backend="cuda")
    out = [Contestant("tracecomp cuda", functools.partial(make, tracecomp, compile_fn), eager)]
    if train:
        out.append(Contestant("tracecomp cuda step",
                              functools.partial(make, tracecomp, compile_fn, True), eager))
    out.append(Contestant("numpy by hand", None, skipped="the CPU's (CuPy not used)"))
    torch = torch_or_none()
    why = "torch not installed" if torch is None else \
        "this torch has no CUDA" if not torch.cuda.is_available() else ""
    if why:
        return out + [Contestant(n, None, skipped=why) for n in ("torch eager", "torch.compile")]
    # float32 against float32: torch's cuDNN convolutions take TF32 (a 10-bit mantissa) by
    # default, and their gradients then missed the check's 1e-4 on the H200 (3.5e-4)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    out.append(Contestant("torch eager", functools.partial(make, torch)))
    out.append(Contestant("torch.compile", functools.partial(
        make, torch, functools.partial(torch_compile, torch)), "torch eager")
        if opts.torch_compile else Contestant("torch.compile", None,
                                              skipped="--no-torch-compile"))
    return out


# --- the workloads ----------------------------------------------------------------------------


def init_weights(shapes, seed=0):
    """torch's default Linear/Conv2d init (uniform in +-1/sqrt(fan_in)), as float32."""
    rng = np.random.default_rng(seed)
    weights = []
    for shape in shapes:
        fan_in = int(np.prod(shape[1:]))
        bound = 1 / np.sqrt(fan_in)
        weights.append(rng.uniform(-bound, bound, shape).astype(np.float32))
        weights.append(rng.uniform(-bound, bound, shape[0]).astype(np.float32))
    return weights


def mlp_module(lib, weights):
    nn = lib.nn
    a, b, c, d = MLP_SIZES
    model = nn.Sequential(nn.Linear(a, b), nn.ReLU(), nn.Linear(b, c), nn.ReLU(),
                          nn.Linear(c, d))
    return load_weights(lib, model, weights)


def lenet_module(lib, weights):
    nn = lib.nn
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    return load_weights(lib, model, weights)


def resnet18_module(lib):
    """ResNet-18 as for CIFAR-10 (a 3x3 stem, no max-pool, 32x32 inputs, 10 classes):
    torch's BasicBlock layout, its state_dict keys, default init. For compile latency: its
    training step is ~1700 ops, ~200 kernels."""
    nn, F = lib.nn, lib.nn.functional

    def conv_bn(cin, cout, k, stride):
        return [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout)]

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1, self.bn1 = conv_bn(cin, cout, 3, stride)
            self.conv2, self.bn2 = conv_bn(cout, cout, 3, 1)
            self.downsample = nn.Sequential(*conv_bn(cin, cout, 1, stride)) \
                if stride != 1 or cin != cout else None

        def forward(self, x):
            out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
            return F.relu(out + (x if self.downsample is None else self.downsample(x)))

    widths = [(64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)]
    return nn.Sequential(
        *conv_bn(3, 64, 3, 1), nn.ReLU(),
        *[nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1))
          for cin, cout, stride in widths],
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10))


def causal_lm_module(lib, vocab=96, width=64, heads=4, block=128):
    """One pre-norm causal transformer block as nanoGPT writes it (token and position
    embeddings, fused qkv, a causal mask sliced from a buffer, GELU MLP, vocabulary head),
    over (batch, length) token ids: for dynamic shapes, whose length changes per batch."""
    nn, F = lib.nn, lib.nn.functional

    class CausalLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, width), nn.Embedding(block, width)
            self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
            self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
            self.fc, self.fc2 = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)
            self.head = nn.Linear(width, vocab)
            self.register_buffer("mask", lib.tril(lib.ones(block, block)))

        def forward(self, ids):
            b, t = ids.shape
            x = self.tok(ids) + self.pos(lib.arange(t))
            q, k, v = (z.reshape(b, t, heads, width // heads).transpose(1, 2)
                       for z in self.qkv(self.ln1(x)).split(width, dim=2))
            att = q @ k.transpose(-2, -1) / math.sqrt(width // heads)
            att = att.masked_fill(self.mask[:t, :t] == 0, float("-inf")).softmax(-1)
            x = x + self.proj((att @ v).transpose(1, 2).reshape(b, t, width))
            x = x + self.fc2(F.gelu(self.fc(self.ln2(x))))
            return self.head(x)
    return CausalLM()


def model_flops(macs, batch, train):
    """Multiply-add FLOPs of matmuls and convolutions: forward 2*MACs; a training step adds
    the weight gradients and the input gradients of every layer but the first."""
    forward = 2 * batch * sum(macs)
    return forward * 3 - 2 * batch * macs[0] if train else forward


def model_workload(opts, group, name, batch, train, module, ref_class, shapes, macs, x_shape):
    weights = init_weights(shapes)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, *x_shape)).astype(np.float32)
    y = rng.integers(0, 10, batch)

    def numpy_make():
        ref = ref_class(weights, LR, MOMENTUM)
        if train:
            return Run(lambda: ref.step(x, y), lambda: ref.grads)
        return Run(lambda: ref.infer(x))

    def build():
        arrays = (x, y) if train else (x,)
        return contestants(opts, lambda lib: module(lib, weights), arrays, numpy_make, train)
    what = "training step" if train else "inference"
    key = f"{group}_{'train' if train else 'infer'}_b{batch}"
    return Workload(key, group, f"{name} {what}, batch {batch}", build, "GFLOP/s",
                    model_flops(macs, batch, train),
                    "GFLOP/s counts matmul/conv multiply-adds only" +
                    ("; a step is cross-entropy + backward + SGD momentum 0.9" if train else ""),
                    memory=train)


def gelu_chain(lib):
    gelu = lib.nn.functional.gelu

    def f(x, a, b):
        return gelu(x * a + b, approximate="tanh")
    return f


def gelu_workload(opts, n):
    rng = np.random.default_rng(2)
    x, a, b = (rng.standard_normal(n).astype(np.float32) for _ in range(3))

    def build():
        return contestants(opts, gelu_chain, (x, a, b),
                           lambda: Run(lambda: numpy_ref.gelu_tanh(x, a, b)))
    size = f"{n // (1 << 20)}M" if n % (1 << 20) == 0 else str(n)
    return Workload(f"gelu_{n}", "gelu", f"gelu_tanh(x*a+b), {size} float32", build, "GB/s",
                    4 * n * 4, "x, a, b and the result are all n float32: GB/s counts 16 "
                    "bytes per element", copy_bytes=4 * n, copy_device=opts.device)


def gemm_workload(opts, n):
    rng = np.random.default_rng(3)
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))

    def build():
        return contestants(opts, lambda lib: lambda p, q: p @ q, (a, b),
                           lambda: Run(lambda: a @ b))
    return Workload(f"gemm_{n}", "gemm", f"GEMM {n}x{n}x{n} float32", build, "GFLOP/s",
                    2.0 * n ** 3)


def workloads(opts):
    """The workloads selected by opts, in report order; --quick shrinks every size."""
    mlp_macs = [a * b for a, b in itertools.pairwise(MLP_SIZES)]
    mlp_shapes = [(b, a) for a, b in itertools.pairwise(MLP_SIZES)]
    lenet_macs = [28 * 28 * 6 * 25, 10 * 10 * 16 * 6 * 25] + [a * b for a, b in LENET_FC]
    lenet_shapes = [(6, 1, 5, 5), (16, 6, 5, 5)] + [(b, a) for a, b in LENET_FC]
    mlp_name = "MLP " + "-".join(map(str, MLP_SIZES))
    out = []
    if "mlp" in opts.only:
        for batch in (16,) if opts.quick else (64, 512):
            for train in (False, True):
                out.append(model_workload(opts, "mlp", mlp_name, batch, train, mlp_module,
                                          numpy_ref.MLP, mlp_shapes, mlp_macs, (784,)))
    if "lenet" in opts.only:
        for train in (False, True):
            out.append(model_workload(opts, "lenet", "LeNet 1x28x28", 4 if opts.quick else 64,
                                      train, lenet_module, numpy_ref.LeNet, lenet_shapes,
                                      lenet_macs, (1, 28, 28)))
    if "gelu" in opts.only:
        out.append(gelu_workload(opts, 1 << 16 if opts.quick else GELU_SIZE[opts.device]))
    if "gemm" in opts.only:
        for n in (64, 128) if opts.quick else (512, 1024):
            out.append(gemm_workload(opts, n))
    if "small-ops" in opts.only and opts.device == "cpu":    # eager overhead on the CPU
        from . import small_ops  # it imports this module's Run and Contestant
        out += small_ops.workloads(opts)
    return out
