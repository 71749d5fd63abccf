# lead2inbound intake: the binary wheel, built once, installed into a slim runtime image.
#
#   docker build -t lead2inbound .
#   docker compose up            # Postgres, Redis, a one-shot `l2i migrate`, then the service
#
# Configuration is by L2I_* environment variables only (docs/operations.md). The runtime image
# has no Rust toolchain and no compiler: only Python, a venv with the wheel and its dependencies.
#
# Build arguments (the defaults are what an operator with a registry uses):
#   BASE     the runtime's base image: a Debian 12 with CPython >= 3.11 (python:3.11-slim). Without
#            a registry, make one from Debian's packages: tools/container-base.sh, then
#            BASE=localhost/l2i-base:bookworm (`make image` does both).
#   BUILDER  the image the wheel is compiled in (rust:1-slim-bookworm).
#   WHEELS   where the runtime's wheels come from: `wheel-build` (default: compiled here, in the
#            BUILDER stage) or `wheel-context` (no compiling: the wheel `make wheel` built in
#            target/wheels/, plus the dependency wheels in target/wheelhouse/cp311/ when
#            PIP_INSTALL_FLAGS=--no-index; this is what `make image` and the tests use).
#   PIP_INSTALL_FLAGS  extra flags for the runtime's `pip install` (e.g. --no-index: offline).
ARG BASE=python:3.11-slim
ARG BUILDER=rust:1-slim-bookworm
ARG WHEELS=wheel-build

# --- wheel-build: the abi3 manylinux wheel compiled by maturin (release profile) ------------------
FROM ${BUILDER} AS wheel-build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
# zig links against glibc 2.17's symbols: a manylinux_2_17 wheel, like `make wheel` builds
RUN python3 -m venv /opt/maturin \
 && /opt/maturin/bin/pip install --no-cache-dir 'maturin>=1.16,<2' 'ziglang>=0.13'
WORKDIR /src
COPY Cargo.toml Cargo.lock pyproject.toml README.md ./
COPY rust-core rust-core
COPY python python
RUN PATH=/opt/maturin/bin:$PATH maturin build --release --zig --compatibility manylinux2014 \
      --out /wheels

# --- wheel-context: the wheel built on the host (`make wheel`) and its dependencies ---------------
FROM scratch AS wheel-context
COPY target/wheels/ /wheels/
COPY target/wheelhouse/cp311/ /wheels/

FROM ${WHEELS} AS wheels

# --- runtime: the base's CPython, a venv with the wheel, a non-root user -------------------------
FROM ${BASE} AS runtime
ARG PIP_INSTALL_FLAGS=
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/l2i/bin:$PATH \
    L2I_HOST=0.0.0.0 L2I_PORT=8000 L2I_LOG_LEVEL=info L2I_SHUTDOWN_TIMEOUT_S=30 \
    L2I_DATA_DIR=/var/lib/l2i
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    python3 -m venv /opt/l2i \
 && /opt/l2i/bin/pip install --no-cache-dir $PIP_INSTALL_FLAGS --find-links /wheels \
      "$(ls /wheels/lead2inbound-*.whl)" \
 && /opt/l2i/bin/pip uninstall --yes --quiet pip \
 && groupadd --gid 10001 l2i \
 && useradd --uid 10001 --gid l2i --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin l2i \
 && install -d -o l2i -g l2i -m 0700 /var/lib/l2i
USER 10001:10001
WORKDIR /var/lib/l2i
EXPOSE 8000
# /healthz: the process is alive (use /readyz for the load balancer's readiness check)
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('L2I_PORT', '8000')}/healthz\", timeout=2)"]
# SIGTERM (docker stop) drains: Granian stops accepting, the app answers what is in flight and
# flushes the writer; give `docker stop -t` more than L2I_SHUTDOWN_TIMEOUT_S.
STOPSIGNAL SIGTERM
ENTRYPOINT ["l2i"]
# host and port from L2I_HOST / L2I_PORT (0.0.0.0:8000 above; the HEALTHCHECK reads L2I_PORT)
CMD ["serve"]
