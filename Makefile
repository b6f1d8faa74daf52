# Parley: `make run` starts the bot, `make test` runs every test. Both set up what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
PY := .venv/bin/python
RASA := .venv-rasa/bin/rasa

.PHONY: help setup run test lint validate train bench clean widget

help: ## Show this help
	@echo "Parley support bot"
	@echo
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'
	@echo
	@echo "Settings are environment variables; see README.md (Configuration) and .env.example."

setup: .venv/.installed .venv-rasa/.installed ## Create or update both Python environments

widget: widget/.build-stamp ## Build the website chat widget (npm ci + esbuild) if its sources changed

# Rebuilt only when the widget's sources, build script or lock file changed.
WIDGET_SOURCES := $(wildcard widget/src/*) widget/build.mjs widget/package.json widget/package-lock.json
widget/.build-stamp: $(WIDGET_SOURCES)
	@command -v npm >/dev/null || { echo "The widget needs Node.js 20+ and npm (https://nodejs.org)."; exit 1; }
	@echo "Building the chat widget (widget/dist/)…"
	@cd widget && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build
	@touch $@

run: setup widget ## Start the bot (Rasa, actions, handoff, demo page); Ctrl-C stops it
	@$(PY) -m scripts.run $(ARGS)

test: setup widget ## Run every test: lint, Rasa data checks, conversation tests, pytest
	@scripts/test

lint: .venv/.installed ## ruff and mypy
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy actions scripts knowledge handoff widget

validate: .venv-rasa/.installed ## Check the Rasa training data
	@scripts/validate-data

train: setup ## Train the Rasa model if its data changed
	@$(PY) -m scripts.run --train-only

bench: setup widget ## Run the benchmarks (GROUPS="knowledge handoff widget nlu"); results in bench/results/
	@bench/run $(GROUPS)

clean: ## Remove trained models and local state (conversations, tokens, logs)
	rm -rf models var .rasa

# --- environments ------------------------------------------------------------------

.tools/bin/uv:
	@echo "Installing uv $(UV_VERSION) into .tools/ (Python package manager)…"
	@python3 -m venv .tools && .tools/bin/pip install -q "uv==$(UV_VERSION)"

# Python 3.11: actions, knowledge, handoff, tests. Exact versions come from uv.lock.
.venv/.installed: pyproject.toml uv.lock bot/shared/pyproject.toml | $(if $(findstring .tools,$(UV)),.tools/bin/uv)
	@echo "Setting up the Python 3.11 environment (.venv)…"
	@$(UV) sync --locked --python 3.11
	@touch $@

# Python 3.10: the Rasa server, pinned exactly in bot/requirements.txt.
.venv-rasa/.installed: bot/requirements.txt bot/shared/pyproject.toml | $(if $(findstring .tools,$(UV)),.tools/bin/uv)
	@echo "Setting up the Rasa environment (.venv-rasa, Python 3.10)…"
	@python310="$$(scripts/find-python310)" && \
	  $(UV) venv --quiet --allow-existing --python "$$python310" .venv-rasa && \
	  VIRTUAL_ENV=.venv-rasa $(UV) pip sync --quiet bot/requirements.txt
	@touch $@
