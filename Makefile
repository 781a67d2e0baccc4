# Every target bootstraps what it needs; `make rehearse` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PLAN ?= data/omni-hosting-2020.yaml

.PHONY: rehearse test test-fast lint bench setup browser postgres clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (migration-runbook)" >/dev/null
	touch $(STAMP)

setup: $(STAMP)

## The main job: a rehearsal of the example migration, ending in the report.
rehearse: $(STAMP)
	$(BIN)/runbook validate $(PLAN)
	$(BIN)/runbook schedule $(PLAN)
	$(BIN)/runbook rehearse $(PLAN)

## Headless Chromium for the browser tests (Debian's package; needs root or sudo).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

## PostgreSQL server binaries for the shared-store tests (Debian 12: PostgreSQL 15), unless
## initdb is already there; the tests start their own throwaway server (tests/postgres.py).
postgres:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

## All the tests, Chromium and PostgreSQL included.
test: $(STAMP) browser postgres
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest -q

test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not chromium and not postgres and not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) outputs/*/
