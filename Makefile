# Everything the project needs is installed by this file into .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck clean browser bench wrk

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: set up and start the service on the embedded SQLite default
run: $(STAMP)
	$(BIN)/xinfang serve

## browser: Debian's chromium (Playwright drives it; no browser download) and a CJK font for
## readable screenshots of the Chinese console
browser:
	@{ command -v chromium >/dev/null 2>&1 && dpkg -s fonts-noto-cjk >/dev/null 2>&1; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	  else \
	    echo "chromium or fonts-noto-cjk is missing: install Debian's packages to run the browser tests"; \
	  fi; }

## wrk: Debian's wrk, the HTTP load generator of bench/ (Lua scripts in bench/wrk)
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else \
	    echo "wrk is missing: install Debian's wrk package to run the benchmarks"; exit 1; \
	  fi; }

## bench: every benchmark in its short form (< 10 min); long forms: python -m bench.<name> --long
bench: $(STAMP) wrk
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.all

## test: set up and run the whole test suite (SQLite, and PostgreSQL when reachable)
test: $(STAMP) browser
	$(BIN)/ruff check bot tests bench
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check bot tests bench
	$(BIN)/ruff format --check bot tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
