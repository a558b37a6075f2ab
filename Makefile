# Two commands for a fresh machine (see README):
#   make demo   set up a venv, then run the main job on the local emulator (init, deploy, invoke, versions, canary)
#   make test   set up a venv, then run ruff and the whole test suite
# `bash .ci/run` provisions what CI needs (Docker engine, base image) and then runs `make test`.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: venv demo test lint bench clean

$(BIN)/agentctl: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(BIN)/agentctl

demo: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

lint: venv
	$(BIN)/ruff check src tests bench

test: lint
	$(BIN)/python -m pytest -q -ra $(PYTEST_ARGS)

bench: venv
	for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache build dist src/*.egg-info
