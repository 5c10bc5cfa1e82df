# Two entry points, both installing what they need first (see README Quickstart):
#   make demo   ingest the bundled samples into ./demo-store, import their communes,
#               analyse September and October 2025, export October's results to
#               ./demo-results and write its report to ./demo-reports
#   make test   lint, type-check and run the whole test suite
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint samples bench bench-analyze clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found: install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	rm -rf demo-store demo-results demo-reports
	$(BIN)/qostool ingest data/samples/ --store demo-store
	$(BIN)/qostool boundaries import data/samples/province.geojson --store demo-store
	$(BIN)/qostool analyze --month 2025-09 --store demo-store > /dev/null
	$(BIN)/qostool analyze --month 2025-10 --store demo-store --export xlsx,csv,gpkg --out demo-results
	$(BIN)/qostool report --month 2025-10 --store demo-store --format html,docx,md,xlsx --out demo-reports

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts bench
	$(BIN)/ruff format --check src tests scripts bench
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

samples: $(STAMP)
	$(BIN)/python scripts/make_samples.py --out data/samples

bench: $(STAMP)
	$(BIN)/python bench/bench_ingest.py

bench-analyze: $(STAMP)
	$(BIN)/python bench/bench_analyze.py

clean:
	rm -rf $(VENV) demo-store demo-results demo-reports .pytest_cache .mypy_cache .ruff_cache
