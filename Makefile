# Two commands for a newcomer: `make dev` (run the service locally) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))

.PHONY: dev test lint fmt install admin bench-cold-start clean fuzz console

install: $(VENV)/.synced

$(VENV)/.synced: pyproject.toml uv.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"
	@$(VENV)/bin/uv sync --frozen --extra dev --inexact --quiet
	@touch $@

dev: install console
	@$(PY) -m core.devserver

test: install console
	@$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy core functions

fmt: install
	@$(VENV)/bin/ruff format .
	@$(VENV)/bin/ruff check --fix .

# The web console's bundle (console/dist), built when missing or older than its sources. Node.js
# 20 is needed for the console only: without npm the API still runs, and /console says so.
CONSOLE_SOURCES := $(shell find console/src -type f 2>/dev/null) console/index.html \
	console/vite.config.ts console/tsconfig.json console/package-lock.json
console: console/dist/index.html

console/node_modules/.installed: console/package-lock.json
	@if command -v npm >/dev/null; then \
		npm --prefix console ci --no-audit --no-fund --loglevel=error && touch $@; \
	fi

console/dist/index.html: console/node_modules/.installed $(CONSOLE_SOURCES)
	@if command -v npm >/dev/null; then \
		npm --prefix console run --silent build >/dev/null && echo "console: built console/dist"; \
	else \
		echo "console: npm not found; install Node.js 20 to build the web console (/console)"; \
	fi

# Create the first admin: make admin USERNAME=alice EMAIL=alice@example.com (asks for the password)
admin: install
	@$(PY) -m core.cli create-admin --username "$(USERNAME)" --email "$(EMAIL)"

bench-cold-start: install
	@$(PY) bench/cold_start.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache console/node_modules console/dist

# The contract with schemathesis's defaults whole (every phase, 100 examples per operation);
# `make test` runs fewer phases and examples
fuzz: install
	@FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-100} FUZZ_PHASES=$${FUZZ_PHASES:-all} $(PY) -m pytest tests/e2e/test_contract.py -s $(PYTEST_ARGS)
