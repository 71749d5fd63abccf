# lead2inbound intake: every task a developer, CI or an operator runs.
#   make run    set everything up, then `l2i serve` on the embedded default (Postgres + Redis)
#   make test   set everything up, then lint and run every Rust and Python test (what CI runs)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PYO3_PYTHON := $(abspath $(BIN)/python)

.PHONY: setup build run test system-deps lint lint-rust lint-python lint-imports test-rust test-python stubtest \
        bench bench-core differential-full phone-meta fmt clean wheel chaos

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip 'maturin>=1.16,<2'

# Build the Rust extension (release profile) and install the package with its dev extras.
setup build: $(BIN)/python
	$(BIN)/maturin develop --release --quiet --extras dev,bench

run: build
	$(BIN)/l2i serve

lint-rust:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --workspace --all-targets --features python -- -D warnings

lint-python:
	$(BIN)/ruff check python tests bench tools
	$(BIN)/ruff format --check python tests bench tools

# The package's layers (pyproject.toml [tool.importlinter]; docs/architecture.md).
lint-imports:
	$(BIN)/lint-imports --no-cache

lint: lint-rust lint-python lint-imports

stubtest:
	$(BIN)/python -m mypy.stubtest lead2inbound._core

test-rust:
	cargo test --workspace --release

test-python:
	$(BIN)/pytest

# System tools some tests drive: wrk (the benchmark's smoke test) and Chromium (the /docs page).
# Installed from Debian's packages when missing and we may (root with apt-get); otherwise those
# tests say why they skip.
system-deps:
	@missing=""; command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing$$missing"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || \
		echo "could not install$$missing; the tests that need them will skip and say so"; \
	fi

test: build lint test-rust stubtest wheel system-deps test-python

# The binary wheel operators install (target/wheels/); tests/test_wheel.py installs it into a
# fresh venv with no Rust toolchain on the PATH and serves from it.
wheel: $(BIN)/python
	$(BIN)/maturin build --release --quiet --out target/wheels

# The fault suite's long mode (a few hundred leads/s through each fault; see docs/operations.md).
chaos: build
	$(BIN)/python bench/chaos.py

# The full one-million-input differential run against `phonenumbers` (the CI test runs a chunk).
differential-full: build
	L2I_DIFF_INPUTS=1000000 $(BIN)/pytest -m slow tests/test_phone_differential.py -q

# Regenerate rust-core/src/phone_meta.rs from the installed `phonenumbers` (the test oracle).
phone-meta: $(BIN)/python
	$(BIN)/python tools/gen_phone_metadata.py
	cargo fmt --all

bench-core: build
	$(BIN)/python bench/bench_core.py

bench: build system-deps
	$(BIN)/python bench/run.py

fmt:
	cargo fmt --all
	$(BIN)/ruff format python tests bench tools
	$(BIN)/ruff check --fix python tests bench tools

clean:
	rm -rf target $(VENV) .pytest_cache .ruff_cache .mypy_cache
