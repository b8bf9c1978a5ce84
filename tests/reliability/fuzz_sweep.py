"""The long local fuzz run, without hypothesis: draw N programs, keep going after failures,
print each failure cut down to one output with a runnable repro.

    .venv/bin/python tests/reliability/fuzz_sweep.py 5000 [SEED] > fuzz.log

Runs with the test suite's settings (shape checks, the verifier after every pass, a
temporary compile cache).
"""
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]
os.environ.setdefault("TRACECOMP_CHECK_SHAPES", "1")
os.environ.setdefault("TRACECOMP_VERIFY", "1")

if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="tracecomp-fuzz-cache-") as cache:
        os.environ.setdefault("TRACECOMP_CACHE_DIR", cache)
        from fuzz_compare import sweep
        sweep(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 0)
