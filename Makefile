# Two commands do all set-up on a fresh machine: `make run` and `make test`.
# Both create .venv and install botkit into it the first time (or when pyproject.toml, setup.py
# or the compiled book kernel's source change: the install compiles it).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench

# editable_mode=compat: a plain path entry (.pth), which mypy follows; the default import
# hook left `mypy --strict my_strategy.py` unable to find botkit (docs/strategies.md)
$(STAMP): pyproject.toml setup.py botkit/market/_l2kernel.pyx Makefile
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]" --config-settings editable_mode=compat
	touch $(STAMP)

# `make run` trades against the embedded simulator for 30 s, prints a summary and exits 0
# (so it can run in CI); `make run RUN_ARGS=` runs until Ctrl-C.
RUN_ARGS ?= --duration 30
run: $(STAMP)
	$(BIN)/botkit run $(RUN_ARGS)

# one worker per core (pytest-xdist): the suite is mostly real sockets and subprocesses
# waiting on each other; `.venv/bin/pytest tests/x.py` runs a part in one process as ever
test: $(STAMP)
	$(BIN)/pytest -n auto

lint: $(STAMP)
	$(BIN)/ruff check botkit tests bench examples
	$(BIN)/mypy
	$(BIN)/mypy tests

# `make bench` re-runs the benchmarks (~15 min, every script but the hour-long soak) and rewrites
# the summary table of docs/benchmarks.md; BENCH_ARGS="--only sign,replay", "--with-soak",
# "--quick" (check the pipeline, nothing written) or "--dry-run" pass through.
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python bench/regenerate.py $(BENCH_ARGS)
