PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: demo test check bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q --durations=15

check: $(STAMP)
	$(BIN)/ruff check backend mlops_tui tests bench scripts
	$(BIN)/mypy backend mlops_tui
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/tracking.py

clean:
	rm -rf $(VENV) .pytest_cache
