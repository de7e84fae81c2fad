# Targets document themselves: `make help`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV_VERSION := 0.13.8

.DEFAULT_GOAL := help
.PHONY: help setup run test lint format lock clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.lock pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is needed" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes -r requirements-dev.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	# Byte-compile once: an editable install does not, and `mmt up` starts seven processes
	# that would otherwise each compile the same modules at the same moment.
	$(BIN)/python -m compileall -q -j 0 mmt shared services deploy
	touch $@

setup: $(VENV)/.installed ## Create .venv with the locked dependencies

run: setup ## Start the whole suite locally (SQLite, private Redis); Ctrl-C stops it
	$(BIN)/mmt up

test: setup lint ## Lint, type-check and run every test tier (needs DATABASE_URL, REDIS_URL)
	$(BIN)/pytest

lint: setup ## ruff and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup ## Rewrite files with ruff's formatter and fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

lock: setup ## Re-resolve both locks (hashes only, no download addresses)
	$(BIN)/uv pip compile --quiet pyproject.toml --generate-hashes --python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile --quiet pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements-dev.lock

clean: ## Remove the venv, local databases and caches
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
