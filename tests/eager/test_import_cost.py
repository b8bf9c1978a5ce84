"""`import tracecomp` stays light: the heavy libraries (scipy, networkx, llvmlite, numba) are
imported on first use, not at import. Their imports cost ~0.4 s together, which a user pays
on every run of a script even when it never compiles or calls erf (issue 13's import-time
target: 0.3 s). Timing is measured by benchmarks/compile_latency.py; here, the property."""
import subprocess
import sys

LAZY = ("scipy", "networkx", "llvmlite", "numba",
        # ours and the standard library's, ~50 ms together: the compiler, checkpoint files,
        # DataLoader's worker processes
        "tracecomp.compiler.api", "tracecomp.compiler.driver", "tracecomp.serialization",
        "tracecomp.utils.benchmark", "multiprocessing")

PROBE = ("import sys, tracecomp, tracecomp.nn, tracecomp.optim, tracecomp.nn.functional, "
         "tracecomp.utils.data\n"
         "print(' '.join(m for m in {lazy} if m in sys.modules))")


def _loaded_after(code):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_import_tracecomp_loads_no_heavy_library():
    assert _loaded_after(PROBE.format(lazy=LAZY)) == []


def test_the_lazy_names_are_the_real_ones_on_first_use():
    code = ("import sys, tracecomp as tc\n"
            "from tracecomp.compiler.api import compile\n"
            "from tracecomp.serialization import load, save\n"
            "assert tc.compile is compile and tc.load is load and tc.save is save\n"
            "assert {'compile', 'load', 'save'} <= set(dir(tc))\n"
            "from tracecomp.utils.data.dataloader import _MultiProcessingDataLoaderIter\n"
            "print('ok')")
    assert _loaded_after(code) == ["ok"]


def test_a_scipy_backed_op_imports_scipy_on_first_call_and_matches_it():
    code = ("import sys, numpy as np, tracecomp as tc\n"
            "assert 'scipy' not in sys.modules\n"
            "x = np.linspace(-3, 3, 7)\n"
            "from scipy import special\n"
            "assert np.array_equal(tc.erf(tc.tensor(x)).numpy(), special.erf(x))\n"
            "assert np.array_equal(tc.sigmoid(tc.tensor(x)).numpy(), special.expit(x))\n"
            "assert np.array_equal(tc.lgamma(tc.tensor(x + 4)).numpy(), special.gammaln(x + 4))\n"
            "print('ok')")
    assert _loaded_after(code) == ["ok"]


def test_compiling_a_training_step_imports_no_networkx():
    """Only the all-reduce bucketing (passes/buckets.py) and min-cut rematerialization need
    it; a plain step's first compile paid ~0.1 s for it (the whole MLP step's cold first
    call 494 -> 442 ms, its first call from the disk cache 131 -> 46 ms)."""
    code = ("import sys, tracecomp as tc\n"
            "model = tc.nn.Sequential(tc.nn.Linear(8, 16), tc.nn.ReLU(), tc.nn.Linear(16, 3))\n"
            "opt = tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)\n"
            "@tc.compile\n"
            "def step(x, y):\n"
            "    opt.zero_grad()\n"
            "    loss = tc.nn.functional.cross_entropy(model(x), y)\n"
            "    loss.backward()\n"
            "    opt.step()\n"
            "    return loss\n"
            "for _ in range(3):\n"
            "    step(tc.randn(4, 8), tc.tensor([0, 2, 1, 0]))\n"
            "forward = tc.compile(model)\n"
            "loss = tc.nn.functional.cross_entropy(forward(tc.randn(2, 8)), tc.tensor([1, 0]))\n"
            "loss.backward()\n"
            "print('networkx' in sys.modules)")
    assert _loaded_after(code) == ["False"]


def test_import_tracecomp_alone_leaves_the_data_loader_for_first_use():
    # ~12 ms of every program's start (the loader, samplers and worker modules), paid by
    # the programs that use it on their `from tracecomp.utils.data import ...`
    code = ("import sys, tracecomp as tc\n"
            "print(' '.join(m for m in ('tracecomp.utils.data', 'tracecomp.utils.checkpoint',"
            " 'tracecomp.utils.dlpack') if m in sys.modules))\n"
            "print(tc.utils.data.DataLoader.__name__, tc.utils.checkpoint.checkpoint.__name__)")
    assert _loaded_after(code) == ["DataLoader", "checkpoint"]
