# amlws: two commands for a fresh machine.
#   make demo   set up, then run the end-to-end retrain-and-update job against the local emulator
#   make test   set up, then run the whole test suite
# Set-up is incremental: a virtualenv in .venv with the package and its test extra, and
# the Azurite storage emulator from npm in node_modules/.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.amlws-installed
AZURITE := node_modules/.bin/azurite-blob
PYTEST_ARGS ?=

.PHONY: setup demo test bench clean

setup: $(STAMP) $(AZURITE)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

$(AZURITE): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(AZURITE)

demo: setup
	$(BIN)/python demo/run_demo.py

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) node_modules build *.egg-info .demo
