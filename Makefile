# ecm: Enhanced Care Management population finder.
# `make help` lists the targets. Set-up is automatic: every target that needs the
# environment builds .venv/ from uv.lock first (uv itself is bootstrapped into .uv/
# when it is not on PATH).

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo .uv/bin/uv)
VENV := .venv
STAMP := $(VENV)/.synced
export UV_COMPILE_BYTECODE := 1
export UV_PROJECT_ENVIRONMENT := $(VENV)
export PREFECT_HOME := $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 90

.PHONY: help setup run serve test lint bench clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-8s\033[0m %s\n", $$1, $$2}'

.uv/bin/uv:
	@echo "uv not found on PATH: bootstrapping uv $(UV_VERSION) into .uv/"
	@$(PYTHON) -m venv .uv
	@.uv/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)" 2>&1 | grep -v "is ignored" || true
	@test -x .uv/bin/uv

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-groups
	@touch $(STAMP)

setup: $(STAMP) ## Create .venv/ from uv.lock (runs automatically)

run: $(STAMP) ## Run the monthly job on the built-in synthetic default (ecm demo)
	$(VENV)/bin/ecm demo

# make serve SERVE_PORT=4201 SERVE_ARGS="--input /data/feeds --out /data/out"
SERVE_PORT ?= 4200
SERVE_ARGS ?=
serve: $(STAMP) ## Serve the scheduled monthly run (prefect.yaml) on a local Prefect server; Ctrl-C stops
	$(VENV)/bin/ecm serve --port $(SERVE_PORT) $(SERVE_ARGS)

test: $(STAMP) ## Run the test suite (two worker processes, each test file on one)
	$(VENV)/bin/pytest -n 2 --dist loadfile

lint: $(STAMP) ## Lint with ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# make bench BENCH_SIZES=20000 for a quick run; BENCH_MD=BENCHMARKS.md writes the section.
BENCH_SIZES ?= 300000,1500000
BENCH_CSV_SIZES ?= smallest
BENCH_SECOND_MONTH ?= largest
BENCH_VALIDATION ?= none
BENCH_MONTHS ?= 24
BENCH_DIR ?= bench-data
BENCH_MD ?=
bench: $(STAMP) ## Scale targets (issues #7, #18) on cached feeds: scan floor, SQL baseline, contract floor, ecm run, ecm diff, tree RSS
	$(VENV)/bin/python -m tests.bench --sizes $(BENCH_SIZES) --csv-sizes $(BENCH_CSV_SIZES) \
	  --second-month $(BENCH_SECOND_MONTH) --validation $(BENCH_VALIDATION) \
	  --months $(BENCH_MONTHS) --workdir $(BENCH_DIR) $(if $(BENCH_MD),--markdown $(BENCH_MD))

clean: ## Remove the environment, caches and demo output
	rm -rf $(VENV) .uv .prefect .pytest_cache .ruff_cache demo
