# The two commands of the README: `make run` and `make test`. Both create .venv on first use.
# `make quick` is the edit-test loop: lint and the tests that start no daemon, relay or Postfix.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test quick lint clean bench

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

# Two workers, a test file each (its daemon fixtures stay in one process): the e2e tests
# spend most of their time waiting on daemons, so the whole run takes about half as long.
test: lint
	$(BIN)/pytest -n 2 --dist loadfile --durations=15

quick: lint
	$(BIN)/pytest -m "not slow"

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

bench: $(BIN)/maildaemon
	$(BIN)/python bench/run.py
