# The two commands of the README: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint clean bench

$(BIN)/maildaemon: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: $(BIN)/maildaemon
	$(BIN)/maildaemon serve

lint: $(BIN)/maildaemon
	$(BIN)/ruff check .
	$(BIN)/mypy maildaemon

test: lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

bench: $(BIN)/maildaemon
	$(BIN)/python bench/run.py
