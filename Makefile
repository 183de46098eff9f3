# Two commands for a newcomer: `make dev` (run the service locally) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))

.PHONY: dev test lint fmt install admin bench-cold-start clean fuzz

install: $(VENV)/.synced

$(VENV)/.synced: pyproject.toml uv.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"
	@$(VENV)/bin/uv sync --frozen --extra dev --inexact --quiet
	@touch $@

dev: install
	@$(PY) -m core.devserver

test: install
	@$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy core functions

fmt: install
	@$(VENV)/bin/ruff format .
	@$(VENV)/bin/ruff check --fix .

# Create the first admin: make admin USERNAME=alice EMAIL=alice@example.com (asks for the password)
admin: install
	@$(PY) -m core.cli create-admin --username "$(USERNAME)" --email "$(EMAIL)"

bench-cold-start: install
	@$(PY) bench/cold_start.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# The contract fuzzed longer than in `make test` (FUZZ_EXAMPLES cases per operation and phase)
fuzz: install
	@FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-100} $(PY) -m pytest tests/e2e/test_contract.py -s $(PYTEST_ARGS)
