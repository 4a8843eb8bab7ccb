# copybot — two commands matter on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test reliability test-all lint demo bench mutate clean

install: $(STAMP)

# Re-installs only when pyproject.toml changes (idempotent).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@case "$$(readlink -f $(BIN)/python)" in /root/*|/home/*) echo "note: $(VENV) runs $$(readlink -f $(BIN)/python), \
	inside a home directory: fine for development, but a service user (and systemd's ProtectHome=) cannot \
	run it; for the service, make install PYTHON=/usr/bin/python3 (README, Running it as a service)";; esac
	touch $(STAMP)

lint: install
	$(BIN)/ruff check copybot tests bench
	$(BIN)/ruff format --check copybot tests bench
	$(BIN)/mypy copybot

test: install
	$(BIN)/ruff check copybot tests bench
	$(BIN)/mypy copybot
	$(BIN)/pytest -q

# tests/reliability's long runs (kill -9 loops, fault storms, secrets), left out of `make test`
# by the "reliability" marker: about six minutes.
reliability: install
	$(BIN)/pytest -q -m reliability tests/reliability

test-all: test reliability

demo: install
	$(BIN)/copybot demo --duration 25

# Benchmarks against a naive baseline on the sandbox (about half an hour); never part of `make test`.
# A subset: make bench BENCH="positions startup" (positions, detection, pipeline, memory, startup).
bench: install
	$(BIN)/python -m bench $(BENCH)

# Mutation testing over the modules where a silent change costs money ([tool.mutmut] in pyproject.toml):
# each single flip is run against the unit and integration tests that cover it. Tens of minutes; never
# part of `make test`. Prints the score; `.venv/bin/mutmut results` lists the survivors.
mutate: install
	rm -rf mutants
	$(BIN)/mutmut run > /dev/null || true
	$(BIN)/python -m tests.support.mutation_score

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache mutants
