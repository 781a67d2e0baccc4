# Every target bootstraps what it needs; `make rehearse` and `make test` work on a fresh clone.
# The environment is installed from uv.lock (exact versions, hashes); pyproject.toml keeps the
# ranges that `pip install migration-runbook` resolves. `make lock` regenerates the lock.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed
PLAN ?= data/omni-hosting-2020.yaml
# uv uses this machine's Python (the venv's), never one it would download.
export UV_PYTHON_DOWNLOADS := never

.PHONY: rehearse test test-fast lint bench setup lock browser postgres clean

# uv itself, from PyPI, into the venv (the lock's `dev` group keeps it at the same version).
$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check 'uv==$(UV_VERSION)'

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --quiet --python $(BIN)/python --extra test --extra bench
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (migration-runbook)" >/dev/null
	touch $(STAMP)

setup: $(STAMP)

## Regenerate uv.lock after a change to the dependencies in pyproject.toml (commit both).
lock: | $(UV)
	$(UV) lock --python $(BIN)/python

## The main job: a rehearsal of the example migration, ending in the report.
rehearse: $(STAMP)
	$(BIN)/runbook validate $(PLAN)
	$(BIN)/runbook schedule $(PLAN)
	$(BIN)/runbook rehearse $(PLAN)$(if $(SEED), --seed $(SEED))

# $(call apt_install,PACKAGE): shell that installs Debian's PACKAGE, as root or through sudo.
# The package lists are refreshed only when the install fails without (a fresh machine has none).
apt_install = SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	if [ -n "$$SUDO" ] && ! command -v sudo >/dev/null 2>&1; then \
	  echo "make: $(1) is missing; installing it needs root or sudo (apt-get install $(1))" >&2; \
	  exit 1; fi; \
	echo "make: installing Debian's $(1): $${SUDO:+sudo }apt-get install $(1)"; \
	APT="$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600"; \
	$$APT install -y -qq $(1) >/dev/null 2>&1 || { \
	  $$APT update -qq && $$APT install -y -qq $(1) >/dev/null; }

## Headless Chromium for the browser tests (Debian's package; needs root or sudo).
browser:
	@command -v chromium >/dev/null 2>&1 || { $(call apt_install,chromium); }

## PostgreSQL server binaries for the shared-store tests (Debian 12: PostgreSQL 15), unless
## initdb is already there (on PATH, or where Debian puts it); the tests start their own
## throwaway server (tests/postgres.py).
PG_INITDB ?= /usr/lib/postgresql/*/bin/initdb
postgres:
	@command -v initdb >/dev/null 2>&1 || ls $(PG_INITDB) >/dev/null 2>&1 || \
	  { $(call apt_install,postgresql); }

## All the tests, Chromium and PostgreSQL included.
test: $(STAMP) browser postgres
	$(BIN)/ruff check src tests benchmarks runbooks
	$(BIN)/pytest -q

test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not chromium and not postgres and not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks runbooks

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) outputs/*/
