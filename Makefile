# Two commands from a fresh machine: `make demo` and `make test` (see README).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: setup demo test lint services bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

setup: $(BIN)/.installed

demo: setup
	$(BIN)/steward demo

services:
	bash scripts/services.sh

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

test: setup services lint
	bash scripts/browser.sh
	$(BIN)/pytest -q -p no:cacheprovider

bench: setup
	bash bench/run.sh

clean:
	rm -rf $(VENV) var build *.egg-info
