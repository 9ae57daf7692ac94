# Every target creates its virtual environment on first use; nothing is installed by hand.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SYSDEPS := $(VENV)/.sysdeps

.PHONY: demo test lint typecheck bench bench-executors bench-store bench-ui bench-smoke conformance screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench,dask,store,cli,ui,library]'
	touch $(STAMP)

# OS packages the project uses: Graphviz's `dot` draws flows, PostgreSQL's server binaries
# (initdb, pg_ctl) let the run store tests start a real PostgreSQL on loopback, and Chromium is
# the browser the dashboard tests drive (through Playwright, never `playwright install`).
# Whatever is missing is installed with apt when we are root (CI, fresh machines); otherwise
# the tests that need it say they were skipped and why.
$(SYSDEPS): $(STAMP)
	@missing=""; \
	command -v dot >/dev/null || missing="$$missing graphviz"; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing$$missing with apt-get..."; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
			|| echo "warning: could not install$$missing; the tests needing it will be skipped"; \
	else echo "note: install$$missing (apt-get install$$missing); the tests needing it will be skipped"; fi
	@if command -v dot >/dev/null && command -v chromium >/dev/null \
		&& ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then \
		touch $(SYSDEPS); fi

## Run the example flow: extract with retries, mapped transform, approval pause, resume.
demo: $(SYSDEPS)
	$(BIN)/python examples/etl_with_approval.py

## The whole test suite: lint, format check, strict typing, then pytest.
test: $(SYSDEPS)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy

## Full benchmark: flows built with the functional API and run, against dask.get, at N = 1,000
## and 10,000 (interleaved, CPU time), then lockgate alone on W1, W2 up to N = 1,000,000.
bench: $(STAMP)
	$(BIN)/python bench/bench_core.py

## Executor benchmark: speed-up of each executor over LocalExecutor (sleeping and CPU-bound
## tasks), and per-task overhead at N = 10,000 against raw dask.distributed and dask.threaded.
bench-executors: $(STAMP)
	$(BIN)/python bench/bench_executors.py

## Run store benchmark: W2 at N = 10,000 with the SQLite store on vs off (target ratio <= 1.25),
## and `lockgate runs` / `show` reads on a store of 1,000 runs x 1,000 tasks (target < 0.5 s).
bench-store: $(STAMP)
	$(BIN)/python bench/bench_store.py

## Dashboard benchmark: list, run and task pages on a store of 1,000 runs x 1,000 tasks
## (target: the runs list under 200 ms).
bench-ui: $(STAMP)
	$(BIN)/python bench/bench_ui.py

## Prefect Core 0.5.1's own test-suite (44 files) run against lockgate through an import alias;
## prints per-file pass counts and checks the targets. PREFECT= a checkout of PrefectHQ/prefect
## at tag 0.5.1 (only its tests/ folder is read; nothing of it is copied here).
conformance: $(STAMP)
	@test -n "$(PREFECT)" || { echo "usage: make conformance PREFECT=/path/to/prefect-0.5.1-checkout"; exit 2; }
	$(BIN)/python bench/bench_conformance.py $(PREFECT) --failures

## Redraw the dashboard screenshots in docs/images/ (needs chromium).
screenshots: $(SYSDEPS)
	$(BIN)/python docs/make_screenshots.py

## A quick smoke run of the benchmarks: the core one at N = 1,000 and 10,000 (checks the ratio
## targets), the executor one with fewer tasks and N = 1,000, then the store one at N = 1,000
## on a small store (about a minute).
bench-smoke: $(STAMP)
	$(BIN)/python bench/bench_core.py --sizes 1000,10000 --repeat 1 --scale-sizes 1000,10000
	$(BIN)/python bench/bench_executors.py --quick
	$(BIN)/python bench/bench_store.py --quick
	$(BIN)/python bench/bench_ui.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info
