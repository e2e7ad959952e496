# The two commands of the README's quick start, and the lock they install from.
#   make demo     a tiny portrait from the shipped selfie, into out/ (no weights, any CPU)
#   make test     the test suite (PYTEST_ARGS="tests/test_lock.py -x" to narrow it)
#   make lock     rewrite requirements/ from pyproject.toml after editing its dependencies
# Both create .venv from the lock on first use and refresh it when the lock changes.
# TORCH=cuda installs the CUDA build of torch instead of the CPU one.

TORCH ?= cpu
VENV ?= .venv
PYTHON ?= python3
# Where pip (and `make lock`) find PyTorch's CPU wheel; a folder of wheels works too.
TORCH_WHEELS ?= https://download.pytorch.org/whl/cpu/torch/
PYTEST_ARGS ?=
# Test processes: one per core (pytest-xdist); 0 runs the suite in this process.
PYTEST_WORKERS ?= auto

.PHONY: venv demo test lock lock-upgrade

venv:
	$(PYTHON) tools/sync_venv.py --torch $(TORCH) --venv $(VENV) --torch-wheels $(TORCH_WHEELS)

demo: venv
	$(VENV)/bin/python -m fact_runtime portrait --selfie templates/astronaut.jpg --style Cheongsam \
	    --preset tiny --size 128 --steps 10 -o out/

test: venv
	$(VENV)/bin/python -m pytest -q -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lock: venv
	$(VENV)/bin/python tools/lock.py --torch-wheels $(TORCH_WHEELS)

lock-upgrade: venv
	$(VENV)/bin/python tools/lock.py --torch-wheels $(TORCH_WHEELS) --upgrade
