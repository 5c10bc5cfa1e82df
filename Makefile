# Two entry points, both installing what they need first (see README Quickstart):
#   make demo   ingest the bundled samples (CSV, Parquet and an Excel workbook) into
#               ./demo-store, import their communes,
#               analyse September and October 2025, export October's results to
#               ./demo-results and write its report to ./demo-reports, then compare the
#               storm of 6-8 November with the 28 days before (./demo-reports/event-...)
#   make test   lint, type-check and run the whole test suite
# Both install into .venv exactly the versions in requirements/dev.txt (the lock, with
# hashes); pyproject.toml keeps the ranges for people who pip install qostool.
#   make lock   refresh the locks to the newest versions pyproject.toml allows
#   make pages  render the report of Gia Lai (../shared/data) and a synthetic month,
#               every page of its DOCX, PDF and HTML as PNG, into ./pages (docs/report.md)
#   make dist   build the wheel, with its constraints file, into dist/ (the analyst's install)
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCKED := $(VENV)/.locked
LOCK   := requirements/dev.txt
APPLOCK := requirements/app.txt
PIP    := $(BIN)/python -m pip --disable-pip-version-check
# One resolution for every platform and Python 3.11+, with every file's hash.
COMPILE := $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 \
	--generate-hashes --quiet --custom-compile-command "make lock"

.PHONY: demo test lint samples pages bench bench-analyze bench-excel lock dist dist-check clean

# A new lock gets a new .venv, so that nothing the lock no longer names stays installed:
# exactly the locked versions (hash-checked, nothing resolved here).
$(LOCKED): $(LOCK)
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found: install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 1; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --require-hashes --no-deps -r $(LOCK)
	@touch $(LOCKED)

# qostool itself, as an editable install built by the locked hatchling.
$(STAMP): $(LOCKED) pyproject.toml
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	$(PIP) check
	@touch $(STAMP)

demo: $(STAMP)
	rm -rf demo-store demo-results demo-reports
	$(BIN)/qostool ingest data/samples/ --store demo-store
	$(BIN)/qostool boundaries import data/samples/province.geojson --store demo-store
	$(BIN)/qostool analyze --month 2025-09 --store demo-store > /dev/null
	$(BIN)/qostool analyze --month 2025-10 --store demo-store --export xlsx,csv,gpkg --out demo-results
	$(BIN)/qostool report --month 2025-10 --store demo-store --format html,docx,md,xlsx --out demo-reports
	$(BIN)/qostool event --from 2025-11-06 --to 2025-11-08 --name "Bão Kalmaegi" --store demo-store --export csv,xlsx,gpkg --report html,docx,md --out demo-reports

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts bench
	$(BIN)/ruff format --check src tests scripts bench
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

# Refresh both locks to the newest versions pyproject.toml allows, then reinstall.
# Run `make test` after it: a lock is committed only with a green suite.
lock: $(STAMP)
	$(COMPILE) --extra dev --upgrade -o $(LOCK)
	$(COMPILE) --extra pdf -c $(LOCK) -o $(APPLOCK)
	$(MAKE) $(STAMP)

# The wheel (built by the locked hatchling) and the constraints that pin its dependencies
# to the versions CI tested: `uv tool install dist/qostool-*.whl -c dist/constraints.txt`.
dist: $(STAMP)
	rm -rf dist
	$(BIN)/uv build --wheel --no-build-isolation --out-dir dist --quiet
	cp $(APPLOCK) dist/constraints.txt

# Install the wheel as a tool (as an analyst would, outside the repo) and run the demo with it.
dist-check: dist
	$(BIN)/python scripts/check_dist.py dist

samples: $(STAMP)
	$(BIN)/python scripts/make_samples.py --out data/samples

pages: $(STAMP)
	$(BIN)/python scripts/render_pages.py --out pages

bench: $(STAMP)
	$(BIN)/python bench/bench_ingest.py

bench-analyze: $(STAMP)
	$(BIN)/python bench/bench_analyze.py

bench-excel: $(STAMP)
	$(BIN)/python bench/bench_excel.py

clean:
	rm -rf $(VENV) dist demo-store demo-results demo-reports pages .pytest_cache .mypy_cache .ruff_cache
