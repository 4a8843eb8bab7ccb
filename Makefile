# copybot — two commands matter on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test lint demo bench clean

install: $(STAMP)

# Re-installs only when pyproject.toml changes (idempotent).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: install
	$(BIN)/ruff check copybot tests bench
	$(BIN)/ruff format --check copybot tests bench
	$(BIN)/mypy copybot

test: install
	$(BIN)/ruff check copybot tests bench
	$(BIN)/mypy copybot
	$(BIN)/pytest -q

demo: install
	$(BIN)/copybot demo --duration 25

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
