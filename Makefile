# Two commands: `make run` serves the platform on the embedded PostGIS, `make test` runs the suite.
# Everything they need is set up on the way, idempotently (a second run is fast and changes nothing).
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000
export CADASTRE_DATA_DIR ?= $(CURDIR)/var

.PHONY: help run test setup system-deps system-deps-test venv frontend lint db-up db-down clean bench

help:
	@echo "make run    set everything up and serve http://$(HOST):$(PORT) (embedded PostGIS, demo city)"
	@echo "make test   set everything up and run the whole test suite"
	@echo "make lint   ruff + mypy"
	@echo "Options: PYTHON=/path/to/python3.12  PORT=5000  CADASTRE_DATABASE_URL=postgresql://..."

system-deps:
	@bash scripts/system-deps.sh run

system-deps-test:
	@bash scripts/system-deps.sh test

$(STAMP): setup.cfg pyproject.toml
	@PY_BIN="$$(PYTHON="$(PYTHON)" bash scripts/find-python.sh)" || exit 1; \
	if [ ! -x $(PY) ] || ! $(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3,12) else 1)'; then \
	  echo "venv: creating $(VENV) with $$PY_BIN"; rm -rf $(VENV); "$$PY_BIN" -m venv $(VENV) || exit 1; fi; \
	echo "venv: installing the package and its dependencies (log: $(VENV)/install.log)"; \
	if $(PY) -m pip install -q --disable-pip-version-check --upgrade pip setuptools wheel > $(VENV)/install.log 2>&1 && \
	   $(PY) -m pip install --disable-pip-version-check --config-settings editable_mode=compat -e '.[test,lint]' >> $(VENV)/install.log 2>&1; \
	then touch $(STAMP); else tail -40 $(VENV)/install.log; echo "venv: pip install failed (see $(VENV)/install.log)" >&2; exit 1; fi

venv: $(STAMP)

frontend:
	@bash scripts/frontend.sh

setup: system-deps venv frontend

run: setup
	$(VENV)/bin/cadastre-gis up --host $(HOST) --port $(PORT)

test: system-deps-test venv frontend
	@bash scripts/run-tests.sh $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check cadastre_gis ogc_api loaders web tests
	$(VENV)/bin/mypy

db-up: venv
	$(VENV)/bin/cadastre-gis db up

db-down: venv
	$(VENV)/bin/cadastre-gis db down

bench: venv
	@ls bench/*.py

clean:
	-$(VENV)/bin/cadastre-gis db down
	rm -rf $(VENV) node_modules web/static/vendor
