# The README's two commands: `make run` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA_DIR ?= $(if $(wildcard ../shared/data),../shared/data,)

.PHONY: install run test test-slow lint bench clean

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

test: $(STAMP)
	$(PY) -m ruff check tuner objectives tests benchmarks examples
	$(PY) -m mypy tuner objectives
	$(PY) -m pytest -m "not slow" -q

test-slow: $(STAMP)
	$(PY) -m pytest -m slow -q

lint: $(STAMP)
	$(PY) -m ruff check tuner objectives tests benchmarks examples
	$(PY) -m mypy tuner objectives

clean:
	rm -rf $(VENV) mlruns mlartifacts mlflow.db tuner.db reports
