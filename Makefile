# Two commands from a fresh machine: `make demo` and `make test` (see README).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# Every Python package `make test` needs, pinned with hashes (pip-tools; `make lock` regenerates it).
LOCK := requirements/dev.lock
PIP_COMPILE := $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
	--no-emit-find-links --extra dev --output-file $(LOCK)
# The real clients the e2e tests drive (tests/clients/package.json, pinned by its package-lock.json).
CLIENTS := tests/clients
# pytest-xdist workers: most tests wait on a server, a subprocess or a shipper, not on the CPU. Each file runs
# whole on one worker (--dist loadfile): module fixtures such as the documented CLI sessions are paid once.
# WORKERS=0 runs everything in one process.
WORKERS ?= 4
PYTEST := -q -p no:cacheprovider -n $(WORKERS) --dist loadfile
LATEST := .venv-latest

.PHONY: setup lock demo test test-latest clients upgrade-clients lint services bench clean

# The venv is installed from the lock alone (--require-hashes: every package pinned and checked), then the
# project itself without dependencies and without build isolation (setuptools and wheel come from the lock).
$(BIN)/.installed: $(LOCK) pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes -r $(LOCK)
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $@

setup: $(BIN)/.installed

# Re-pin after a change to pyproject.toml, keeping every version that still fits; `make lock UPGRADE=1` moves
# everything to the newest releases the ranges allow.
lock: setup
	$(PIP_COMPILE) $(if $(UPGRADE),--upgrade) pyproject.toml
	$(MAKE) setup

demo: setup
	$(BIN)/steward demo

services:
	bash scripts/services.sh

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

# npm ci only when the lock changed (or node_modules went away); nothing to do before tests/clients exists.
clients: $(if $(wildcard $(CLIENTS)/package.json),$(CLIENTS)/node_modules/.installed)

$(CLIENTS)/node_modules/.installed: $(CLIENTS)/package-lock.json
	npm ci --prefix $(CLIENTS) --no-audit --no-fund
	touch $@

test: setup services lint clients
	bash scripts/browser.sh
	$(BIN)/pytest $(PYTEST)

# The e2e suite against the newest anthropic release (the lock pins the one we know works).
$(LATEST)/bin/.installed: $(LOCK) pyproject.toml
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/pip install -q --require-hashes -r $(LOCK)
	$(LATEST)/bin/pip install -q --no-deps --no-build-isolation -e .
	touch $@

# The npm clients at their newest releases go to a copy of tests/clients, so the pinned set-up stays as it is.
LATEST_CLIENTS := .clients-latest
test-latest: $(LATEST)/bin/.installed services
	$(LATEST)/bin/pip install -q --upgrade anthropic
	@$(LATEST)/bin/python -c "import anthropic; print('anthropic', anthropic.__version__, '(newest release)')"
	rm -rf $(LATEST_CLIENTS) && mkdir -p $(LATEST_CLIENTS)
	cp $(CLIENTS)/package.json $(CLIENTS)/*.mjs $(LATEST_CLIENTS)/
	npm install --prefix $(LATEST_CLIENTS) --no-audit --no-fund @anthropic-ai/claude-code@latest @anthropic-ai/sdk@latest
	STEWARD_CLIENTS_DIR=$(abspath $(LATEST_CLIENTS)) $(LATEST)/bin/pytest $(PYTEST) tests/e2e $(CLIENTS)

# Move the real clients and the Python SDK to their newest releases, then run the tests that use them.
upgrade-clients: setup
	npm install --prefix $(CLIENTS) --no-audit --no-fund --save-exact \
		@anthropic-ai/claude-code@latest @anthropic-ai/sdk@latest
	touch $(CLIENTS)/node_modules/.installed
	$(PIP_COMPILE) --upgrade-package anthropic pyproject.toml
	$(MAKE) setup services
	$(BIN)/pytest $(PYTEST) $(CLIENTS) tests/e2e

bench: setup
	bash bench/run.sh

clean:
	rm -rf $(VENV) $(LATEST) $(LATEST_CLIENTS) $(CLIENTS)/node_modules var build *.egg-info
