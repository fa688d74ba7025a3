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

.PHONY: setup demo test lint bench clean

setup: $(STAMP) $(AZURITE)

# setuptools installs `amlws` from core/ (not a folder named amlws/) through an import finder, and says
# so on every editable install with an "Editable installation ... folders with the same name as your
# package" notice (InformationOnly). Nothing here can act on it: the repository has no amlws/ folder
# to shadow the package. Only that notice is filtered; every other warning still shows.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools
	@echo '$(BIN)/python -m pip install -q -e ".[test]"'
	@PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

# Azurite's Node.js requirement is package.json's engines.node: say so in one line, not as npm warnings.
$(AZURITE): package.json package-lock.json
	@need=$$(node -p 'require("./package.json").engines.node.slice(2)') && have=$$(node -p process.versions.node) && \
	if [ "$$(printf '%s\n' "$$need" "$$have" | sort -V | head -n 1)" != "$$need" ]; then \
	  echo "error: Azurite needs Node.js $$need or newer, found $$have (fix: install a newer Node.js)" >&2; exit 2; fi
	npm ci --no-audit --no-fund
	touch $(AZURITE)

demo: setup
	$(BIN)/python demo/run_demo.py

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory lint

# mypy checks the package as installed: amlws is core/ plus plugins/ as amlws.plugins, a layout mypy
# cannot read through setuptools' editable finder, so link it under $(VENV)/typecheck ([tool.mypy]).
TYPECHECK := $(VENV)/typecheck/amlws
lint: setup
	$(BIN)/ruff check core plugins tests bench demo examples
	rm -rf $(TYPECHECK) && mkdir -p $(TYPECHECK)
	for f in core/*; do ln -s ../../../$$f $(TYPECHECK)/; done && ln -s ../../../plugins $(TYPECHECK)/plugins
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) node_modules build *.egg-info .demo .mypy_cache .ruff_cache
