# bandgaps — set-up, site and tests. `make site` and `make test` are the two commands of the README.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
UV_VERSION := 0.13.9
export NO_MKDOCS_2_WARNING := 1

.PHONY: help setup site serve test test-quick lint lock clean

help:
	@echo "make site        set up the environment and build the whole site into site/"
	@echo "make test        set up the environment and run the full test suite (includes the site build)"
	@echo "make test-quick  the tests without the site build"
	@echo "make lint        ruff"
	@echo "make lock        re-freeze requirements.lock from pyproject.toml"

# The environment is (re)built when pyproject.toml or the lock file change.
$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip install --python $(BIN)/python --quiet -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name python3 >/dev/null
	@touch $(STAMP)

setup: $(STAMP)

site: setup
	$(BIN)/mkdocs build --strict

serve: setup
	$(BIN)/mkdocs serve

test: setup
	$(BIN)/python -m pytest

test-quick: setup
	$(BIN)/python -m pytest -m "not site"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

lock: setup
	$(BIN)/uv pip compile pyproject.toml --extra docs --extra dev --python-version 3.11 \
		--no-header -o requirements.lock

clean:
	rm -rf site .cache
