#!/bin/bash
# Issue 12's GPU checks in one run (~5 minutes), for a session lent a machine with an
# NVIDIA GPU: from the repository root there, `bash benchmarks/cuda_checks.sh`. Logs go to
# $OUT (the device tool's folder that comes back) or ./cuda_checks; the end of each is
# printed last.
#   probe:   launch and allocation costs, the MLP and LeNet steps against torch, products
#   pytest:  tests/cuda on the real GPU (NUMBA_ENABLE_CUDASIM=0)
#   digits:  examples/train_digits.py --device cuda (compare its accuracies with the CPU's
#            at the same --epochs)
#   latency: the MLP and LeNet steps' cold and cached first calls (benchmarks/compile_latency.py)
#   bench:   tracecomp bench --device cuda (gelu on 64M elements against the device copy)
export PYTHONUNBUFFERED=1 NUMBA_ENABLE_CUDASIM=0
LOGS=${OUT:-cuda_checks}; mkdir -p "$LOGS"
T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "$LOGS/env.txt"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$LOGS/env.txt" 2>&1
python3 -c "import tracecomp" 2>/dev/null || \
    python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . >> "$LOGS/env.txt" 2>&1
timeout 60 python3 benchmarks/cuda_probe.py > "$LOGS/probe.log" 2>&1; stamp "probe rc=$?"
(timeout 120 python3 -m pytest tests/cuda -q -n 12 -p no:cacheprovider -o addopts="" -rfs \
    --tb=short -W ignore::Warning > "$LOGS/pytest.log" 2>&1; echo "rc=$?" >> "$LOGS/pytest.log") &
(timeout 120 python3 examples/train_digits.py --device cuda --epochs "${EPOCHS:-4}" \
    > "$LOGS/digits.log" 2>&1; echo "rc=$?" >> "$LOGS/digits.log") &
wait; stamp "tests and digits"
timeout 90 python3 benchmarks/compile_latency.py --device cuda --only mlp-step,lenet-step --runs 1 \
    > "$LOGS/latency.log" 2>&1; stamp "latency rc=$?"
timeout 120 python3 -W ignore -m tracecomp.cli bench --device cuda --no-torch-compile --rounds 5 \
    --only mlp,lenet,gelu --json "$LOGS/bench.json" > "$LOGS/bench.log" 2>&1; stamp "bench rc=$?"
echo "=== probe"; tail -n 30 "$LOGS/probe.log"
echo "=== pytest"; tail -n 8 "$LOGS/pytest.log"
echo "=== digits"; grep -E "^\| (MLP|ConvNet)|rc=" "$LOGS/digits.log"
echo "=== latency"; tail -n 40 "$LOGS/latency.log"
echo "=== bench"; grep -E "^###|^\| tracecomp|^\| torch|^Copy" "$LOGS/bench.log"
cat "$LOGS/env.txt"
