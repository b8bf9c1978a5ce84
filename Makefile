# The two quick-start commands: `make demo` and `make test`. Each creates .venv if needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench clean

$(VENV)/installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,demo]"
	touch $@

demo: $(VENV)/installed
	$(PY) examples/train_digits.py

# every test, the slow ones too (a bare `pytest` leaves those out: pyproject.toml), in two
# processes (pytest-xdist; CI has two cores); the 30 slowest are listed at the end, to keep
# the suite within CI's ~15 minutes
test: $(VENV)/installed
	$(PY) -m pytest tests -m "slow or not slow" --durations=30 -n 2

# every workload, contestant and round (a few minutes; torch.compile alone takes ~20 s a model)
bench: $(VENV)/installed
	$(VENV)/bin/tracecomp bench --json build/bench.json

clean:
	rm -rf $(VENV) build *.egg-info
