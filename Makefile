# `make demo` runs the two-stage search on the built-in IMDB sample;
# `make test` runs ruff and the test suite. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint install clean

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

clean:
	rm -rf $(VENV) *.egg-info
