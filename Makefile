# `make demo` and `make test` are the two commands a fresh machine needs: each creates .venv when missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit chromium postgresql bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/stopwise demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict src/stopwise

unit: $(STAMP) chromium postgresql
	$(BIN)/pytest -q

# The dashboard's browser test drives Debian's chromium; installed here when missing and this
# user may (root, or sudo without a password). Otherwise the test is skipped and says why.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; \
	  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=sudo; \
	  else echo "chromium is missing and cannot be installed as $$(id -un): the browser test will be skipped"; exit 0; fi; \
	  $$SUDO apt-get install -y chromium || { $$SUDO apt-get update && $$SUDO apt-get install -y chromium; }; \
	fi

# The PostgreSQL log-store tests start their own throwaway server (tests/gateway/_pg.py) from
# Debian's postgresql package: installed here when no initdb is found (PATH or Debian's
# /usr/lib/postgresql/*/bin) and this user may. The package's own cluster service may fail to
# start in a container; that does not matter (the tests never use it), so what decides is
# whether initdb is there afterwards.
PG_FOUND = command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1

postgresql:
	@if ! { $(PG_FOUND); }; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; \
	  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=sudo; \
	  else echo "PostgreSQL (initdb) is missing and cannot be installed as $$(id -un): the PostgreSQL tests will be skipped"; exit 0; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $$SUDO apt-get install -y postgresql || { $$SUDO apt-get update && $$SUDO apt-get install -y postgresql; } \
	    || echo "apt-get reported an error installing postgresql (often its cluster service not starting)"; \
	  $(PG_FOUND) || { echo "postgresql is still missing after apt-get install"; exit 1; }; \
	fi

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python bench/sse_decode.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
