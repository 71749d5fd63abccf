# lead2inbound intake: the binary wheel, built once, installed into a slim runtime image.
#
#   docker build -t lead2inbound .
#   docker compose up            # Postgres, Redis, a one-shot `l2i migrate`, then the service
#
# Configuration is by L2I_* environment variables only (docs/operations.md). The runtime image
# has no Rust toolchain and no compiler: only Python and the wheel with its dependencies.

# --- build: the wheel (Rust extension compiled by maturin, release profile) -------------------
FROM rust:1-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-dev \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/maturin && /opt/maturin/bin/pip install --no-cache-dir 'maturin>=1.16,<2'
WORKDIR /src
COPY Cargo.toml Cargo.lock pyproject.toml README.md ./
COPY rust-core rust-core
COPY python python
# a wheel for this image's CPython 3.11 (the runtime below is 3.11 too), native linux tag
RUN /opt/maturin/bin/maturin build --release --out /wheels --interpreter python3 --compatibility linux

# --- runtime: python:3.11-slim, the wheel, a non-root user -----------------------------------------
FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    L2I_HOST=0.0.0.0 L2I_PORT=8000 L2I_LOG_LEVEL=info L2I_SHUTDOWN_TIMEOUT_S=30
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/lead2inbound-*.whl && rm -rf /wheels \
 && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin l2i
USER l2i
EXPOSE 8000
# /healthz: the process is alive (use /readyz for the load balancer's readiness check)
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('L2I_PORT', '8000')}/healthz\", timeout=2)"]
# SIGTERM (docker stop) drains: Granian stops accepting, the app answers what is in flight and
# flushes the writer; give `docker stop -t` more than L2I_SHUTDOWN_TIMEOUT_S.
STOPSIGNAL SIGTERM
ENTRYPOINT ["l2i"]
CMD ["serve", "--host", "0.0.0.0"]
