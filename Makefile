# `make demo` runs the two-stage search on the built-in IMDB sample;
# `make test` runs ruff and the fast tests in parallel; `make test-all` (what CI
# runs) adds the process-heavy ones (marked `heavy`). All create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-all test-torch lint install clean

$(BIN)/kt-twostage: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e ".[compare,dev]"
	touch $@

install: $(BIN)/kt-twostage

demo: install
	$(BIN)/kt-twostage search --preset quick

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest -n auto -m "not heavy and not torch"

test-all: lint
	$(BIN)/python -m pytest -n auto -m "not torch"

# The PyTorch backend's test (its wheel is large, so it is not in `dev`).
test-torch: install
	$(BIN)/pip install torch
	$(BIN)/python -m pytest -m torch

clean:
	rm -rf $(VENV) *.egg-info
