# The two commands of the README: `make run` and `make test`. Both install what they need first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8080

.PHONY: run test bench lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/cutout-mock serve --port $(PORT)

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-dev
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null 2>&1 || echo "wrk unavailable: server throughput is skipped"
	@command -v redis-server >/dev/null || apt-get install -y -qq redis-server >/dev/null 2>&1 || echo "redis-server unavailable: Redis rows are skipped"
	@test -x benchmarks/out/prism/node_modules/.bin/prism || npm install --silent --no-audit --no-fund --prefix benchmarks/out/prism @stoplight/prism-cli@5 >/dev/null 2>&1 || echo "npm unavailable: the Prism row is skipped"
	$(BIN)/python -m benchmarks

# mypy checks the packages [tool.mypy] in pyproject.toml names (mockserver/core, mockserver/engine, contracts).
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache build dist *.egg-info
