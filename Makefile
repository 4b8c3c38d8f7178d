# Two entry points: `make demo` (the main job) and `make test` (the whole test suite).
# Each creates its own virtual environment in .venv on first use.
# `make docs` builds the documentation site into docs/_build/html (offline).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the CPU build of torch (a looser pin pulls several GB of CUDA packages)
TORCH_VERSION ?= 2.13.0

.PHONY: demo test docs lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,torch]" "torch==$(TORCH_VERSION)"
	touch $(STAMP)

# the demo's plot needs matplotlib (optional: without it the demo says so)
$(VENV)/.demo: $(STAMP)
	$(BIN)/pip install --quiet -e ".[demo]" || echo "matplotlib not installed: the demo runs without its plot"
	touch $(VENV)/.demo

demo: $(VENV)/.demo
	$(BIN)/python -m skmtl.demo $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest

# Sphinx with warnings as errors and nitpicky references; the gallery's
# examples run during the build (each once: sphinx-gallery reruns an example
# only when it changed). Then the built site is checked (links, images, the
# API pages of every public name, a headless Chromium render where installed).
$(VENV)/.docs: $(STAMP)
	$(BIN)/pip install --quiet -e ".[docs]"
	touch $(VENV)/.docs

docs: $(VENV)/.docs
	cd docs && ../$(BIN)/python -m sphinx -W --keep-going -n -b html . _build/html
	touch docs/_build/html/.built
	$(BIN)/python -m pytest -q tests/test_docs_site.py

lint: $(STAMP)
	$(BIN)/pip install --quiet ruff
	$(BIN)/ruff check skmtl tests benchmarks

bench: $(STAMP)
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/bench_core.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
	rm -rf docs/_build docs/api docs/auto_examples docs/sg_execution_times.rst
