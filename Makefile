# `make demo` and `make test` are the two commands a fresh machine needs: each creates .venv when missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit chromium bench clean

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

unit: $(STAMP) chromium
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

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python bench/sse_decode.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
