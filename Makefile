# `make demo` runs the two-stage search on the built-in IMDB sample;
# `make test` runs ruff and the test suite. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-torch lint install clean

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
	$(BIN)/python -m pytest

# The PyTorch backend's test (its wheel is large, so it is not in `dev`).
test-torch: install
	$(BIN)/pip install torch
	$(BIN)/python -m pytest -m torch

clean:
	rm -rf $(VENV) *.egg-info
