# Every target creates its virtual environment on first use; nothing is installed by hand.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck bench bench-smoke clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

## Run the example flow: extract with retries, mapped transform, approval pause, resume.
demo: $(STAMP)
	$(BIN)/python examples/etl_with_approval.py

## The whole test suite: lint, format check, strict typing, then pytest.
test: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy

## Full benchmark (N = 1,000 / 10,000 / 100,000); prints a table.
bench: $(STAMP)
	$(BIN)/python bench/bench_core.py

## A quick smoke run of the benchmark at small N.
bench-smoke: $(STAMP)
	$(BIN)/python bench/bench_core.py --sizes 1000 --repeat 1

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info
