# The README's two commands: `make run` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA_DIR ?= $(if $(wildcard ../shared/data),../shared/data,)

.PHONY: install run test test-e2e test-slow test-all lint bench clean

$(STAMP): pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned, so no other package can pull a different build
	$(PY) -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
	$(PY) -m pip install -q -e ".[dev]" "torch==2.14.1" "torchvision==0.29.1"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m tuner study lambda_search --dataset digits --final

# The everyday loop: lint, types and the unit tests (one process each, in parallel).
test: $(STAMP)
	$(PY) -m ruff check tuner objectives tests benchmarks examples
	$(PY) -m mypy tuner objectives
	$(PY) -m pytest tests/unit -m "not slow" -q -n auto

# End to end: worker processes, signals, Dask, PostgreSQL, Chromium, mlflow models serve;
# then, alone, the test that restarts the PostgreSQL server under its workers.
test-e2e: $(STAMP)
	$(PY) -m pytest tests/e2e -m "not slow and not restarts_postgres" -q -n 2
	$(PY) -m pytest tests/e2e -m "restarts_postgres and not slow" -q

# Real data (../shared/data, Debian's Fashion-MNIST); skipped where absent.
test-slow: $(STAMP)
	$(PY) -m pytest -m slow -q

test-all: test test-e2e test-slow

lint: $(STAMP)
	$(PY) -m ruff check tuner objectives tests benchmarks examples
	$(PY) -m mypy tuner objectives

clean:
	rm -rf $(VENV) mlruns mlartifacts mlflow.db tuner.db reports
