# Two commands do all set-up on a fresh clone:  `make run`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
CONFIG ?= config/feeds.yaml

.PHONY: run test lint pytest bench install clean

# The venv is rebuilt when pyproject.toml changes. pip is upgraded first: pip 23.2
# fails to install readability-lxml (an extras bug).
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

run: install  ## run the service on the shipped config and the in-process store
	$(BIN)/feedsvc serve -c $(CONFIG)

test: lint pytest  ## everything CI checks

lint: install
	$(BIN)/ruff check feedsvc tests bench
	$(BIN)/mypy

pytest: install
	$(BIN)/python -m pytest

bench: install  ## benchmarks (loopback only); results in bench/results/
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
