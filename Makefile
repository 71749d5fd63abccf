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
        bench bench-core differential-full phone-meta fmt clean wheel chaos wheelhouse \
        container-deps base-image image podman-flags

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip 'maturin>=1.16,<2'

# Build the Rust extension (release profile) and install the package with its dev extras.
# (A _core built per CPython version before the wheel became abi3 would shadow the abi3 one.)
setup build: $(BIN)/python
	rm -f python/lead2inbound/_core.cpython-*.so
	$(BIN)/maturin develop --release --quiet --extras dev,bench

run: build
	$(BIN)/l2i serve

lint-rust:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --workspace --all-targets --features python -- -D warnings
	cargo clippy --workspace --all-targets --features abi3 -- -D warnings

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

# (tests/test_container.py runs `make image` itself: cached, about 20 s when nothing changed.)
test: build lint test-rust stubtest wheel system-deps container-deps test-python

# The binary wheel operators install (target/wheels/, the only lead2inbound wheel there): abi3
# (one file for CPython 3.11 and later) and manylinux_2_17 (zig links against glibc 2.17's
# symbols; maturin's own auditwheel check refuses a wheel that needs more). tests/test_wheel.py
# installs it into a fresh venv of every CPython found, with no Rust toolchain on the PATH.
wheel: $(BIN)/python
	$(BIN)/python -c 'import ziglang' 2>/dev/null || $(BIN)/pip install --quiet 'ziglang>=0.13'
	rm -f target/wheels/lead2inbound-*.whl
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/maturin build --release --quiet --zig \
		--compatibility manylinux2014 --out target/wheels
	@ls target/wheels/lead2inbound-*-abi3-manylinux*.whl

# --- the container image (docs/operations.md) ---------------------------------------------------
# Podman (Debian's), rootful, with its own storage under target/container/ (vfs: works on any
# file system) and runc (crun refuses this kind of machine's hybrid cgroups); the limits a
# container asks for must not exceed the caller's own (raising a limit is refused here).
CONTAINER_DIR := $(abspath target/container)
PODMAN_RUN_DIR := /run/l2i-podman/$(shell printf %s '$(CONTAINER_DIR)' | sha1sum | cut -c1-12)
export PODMAN_FLAGS ?= --storage-driver vfs --runtime runc --cgroup-manager cgroupfs \
	--events-backend file --root $(CONTAINER_DIR)/storage --runroot $(PODMAN_RUN_DIR)/run \
	--tmpdir $(PODMAN_RUN_DIR)/tmp
# (Here even an nproc limit at the caller's own 96k was refused; 4096 is plenty for Granian's
# workers and the embedded Postgres.)
NOFILE = $$(n=$$(ulimit -n); [ "$$n" != unlimited ] && [ "$$n" -lt 16384 ] || n=16384; echo $$n)
ULIMITS = --ulimit nofile=$(NOFILE):$(NOFILE) --ulimit nproc=4096:4096
IMAGE ?= localhost/lead2inbound:dev
BASE_IMAGE ?= localhost/l2i-base:bookworm

# podman, runc and mmdebstrap (the base image), from Debian's packages when missing and we may
# (root with apt-get); otherwise the container tests skip and say why. (podman-compose comes with
# the dev extras: Debian's 1.0.3 has no `config`.)
container-deps:
	@missing=""; for t in podman runc mmdebstrap; do \
		command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing$$missing"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || \
		echo "could not install$$missing; without podman the container tests skip and say so"; \
	fi

# The flags, for running podman by hand on the same storage: podman $$(make -s podman-flags) ...
podman-flags:
	@echo $(PODMAN_FLAGS)

# A Debian 12 + CPython 3.11 base image made from Debian's packages (no registry needed).
base-image: container-deps
	tools/container-base.sh $(BASE_IMAGE)

# The wheel's dependencies as wheels for the base image's CPython (target/wheelhouse/cp311/),
# downloaded once by that CPython's own pip (markers such as python_full_version < "3.11.3" are
# its own): the image then installs offline (PIP_INSTALL_FLAGS=--no-index). A CA bundle the host's
# pip is told to trust (PIP_CERT or SSL_CERT_FILE, e.g. a TLS-inspecting proxy's) is lent to it.
wheelhouse: wheel base-image
	@mkdir -p target/wheelhouse
	@ca="$${PIP_CERT:-$${SSL_CERT_FILE:-}}"; \
	podman $(PODMAN_FLAGS) run --rm --network host $(ULIMITS) \
		$${ca:+-v "$$ca":/run/host-ca.pem:ro -e PIP_CERT=/run/host-ca.pem} \
		-v "$(CURDIR)":/src:ro -v "$(CURDIR)/target/wheelhouse":/src/target/wheelhouse \
		$(BASE_IMAGE) sh -c 'python3 -m venv /tmp/venv && /tmp/venv/bin/python \
		/src/tools/wheelhouse.py --python /tmp/venv/bin/python /src/target/wheels/lead2inbound-*.whl'

# The runtime image from the host-built wheel (no compiler in it, none needed in the build).
image: wheelhouse base-image
	@start=$$(date +%s); \
	podman $(PODMAN_FLAGS) build --quiet --format docker --network host $(ULIMITS) \
		--build-arg BASE=$(BASE_IMAGE) --build-arg WHEELS=wheel-context \
		--build-arg PIP_INSTALL_FLAGS=--no-index -t $(IMAGE) . >/dev/null; \
	podman $(PODMAN_FLAGS) image prune --force >/dev/null; \
	echo "built $(IMAGE) in $$(($$(date +%s) - start)) s: $$(podman $(PODMAN_FLAGS) image inspect --format '{{.Size}}' $(IMAGE)) bytes"

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
