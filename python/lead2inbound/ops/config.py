"""Configuration: `L2I_*` environment variables only, read once into an immutable `Config`.

Tests build a `Config` directly (or with `Config.from_env(overrides)`), so nothing reads the
environment behind the app's back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path


class ConfigError(ValueError):
    """A setting has a value the service cannot run with."""


def _bool(name: str, raw: str) -> bool:
    low = raw.strip().lower()
    if low in {"1", "true", "yes", "on"}:
        return True
    if low in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be a boolean (true/false), got {raw!r}")


@dataclass(frozen=True, slots=True)
class Config:
    # --- stores -------------------------------------------------------------------------------
    database_url: str | None = None  # L2I_DATABASE_URL; None = embedded Postgres
    redis_url: str | None = None  # L2I_REDIS_URL; None = embedded Redis
    data_dir: Path = Path(".l2i")  # L2I_DATA_DIR: embedded stores' data
    db_pool_min: int = 2  # L2I_DB_POOL_MIN: connections per worker
    db_pool_max: int = 8  # L2I_DB_POOL_MAX
    db_timeout_s: float = 5.0  # L2I_DB_TIMEOUT_S: wait for a connection / statement
    redis_cluster: bool = False  # L2I_REDIS_CLUSTER: L2I_REDIS_URL names a Redis Cluster node
    redis_timeout_ms: int = 50  # L2I_REDIS_TIMEOUT_MS: limiter call budget before fallback
    # --- keys -----------------------------------------------------------------------------------
    key_pepper: str = ""  # L2I_KEY_PEPPER: HMAC key for API key digests (secret)
    key_cache_ttl_s: float = 30.0  # L2I_KEY_CACHE_TTL_S: backstop behind the revocation broadcast
    # --- limits -------------------------------------------------------------------------------
    default_rate_limit: int = 120  # L2I_DEFAULT_RATE_LIMIT: per key per minute
    fallback_divisor: int = 1  # L2I_FALLBACK_DIVISOR: fallback limit = key limit / this
    max_body_bytes: int = 1_048_576  # L2I_MAX_BODY_BYTES
    body_timeout_s: float = 30.0  # L2I_BODY_TIMEOUT_S: whole body must arrive within this (408)
    body_read_timeout_s: float = 5.0  # L2I_BODY_READ_TIMEOUT_S: longest silence within a body (408)
    header_timeout_s: float = 5.0  # L2I_HEADER_TIMEOUT_S: header section (and keep-alive idle)
    max_header_bytes: int = 16_384  # L2I_MAX_HEADER_BYTES: header section cap (431)
    auth_failures_per_minute: int = 30  # L2I_AUTH_FAILURES_PER_MINUTE: per client IP; 0 = off
    trusted_proxy_hops: int = 0  # L2I_TRUSTED_PROXY_HOPS: proxies appending X-Forwarded-For
    public_url: str = ""  # L2I_PUBLIC_URL: the service's URL as browsers see it (console, /docs)
    # --- intake -------------------------------------------------------------------------------
    consent_clock_skew_s: int = 300  # L2I_CONSENT_CLOCK_SKEW_S: future consent tolerance
    writer_max_batch: int = 256  # L2I_WRITER_MAX_BATCH: leads per transaction, at most
    writer_flushers: int = 2  # L2I_WRITER_FLUSHERS: writer transactions in flight per worker
    write_queue_timeout_s: float = 10.0  # L2I_WRITE_QUEUE_TIMEOUT_S: 503 if not taken by then
    calling_hours: str = "enforce"  # L2I_CALLING_HOURS: enforce | off
    attempt_limits: str = "enforce"  # L2I_ATTEMPT_LIMITS: enforce | off (docs/dial-queue.md)
    queue_order: str = "newest"  # L2I_QUEUE_ORDER: newest (speed to lead) | fifo
    # --- DNC providers (docs/dnc.md) ----------------------------------------------------------
    secret_key: str = ""  # L2I_SECRET_KEY: seals provider credentials in Postgres (secret)
    secret_key_old: str = ""  # L2I_SECRET_KEY_OLD: the previous key, read-only, during rotation
    dnc_registry_dir: Path | None = None  # L2I_DNC_REGISTRY_DIR: default <data dir>/dnc-registry
    dnc_cache_ttl_s: float = 5.0  # L2I_DNC_CACHE_TTL_S: how long a worker trusts an org's provider
    dnc_rescrub_interval_s: float = 2.0  # L2I_DNC_RESCRUB_INTERVAL_S: re-scrubber poll when idle
    dnc_rescrub_batch: int = 20  # L2I_DNC_RESCRUB_BATCH: pending leads per re-scrubber round
    dnc_rescrub_max_backoff_s: float = 300.0  # L2I_DNC_RESCRUB_MAX_BACKOFF_S
    # --- lead sources (docs/lead-sources.md, "Facebook Lead Ads") ------------------------------
    facebook_graph_url: str = "https://graph.facebook.com/v21.0"  # L2I_FACEBOOK_GRAPH_URL
    facebook_timeout_ms: int = 5000  # L2I_FACEBOOK_TIMEOUT_MS: one Graph API lead fetch
    facebook_retry_interval_s: float = 2.0  # L2I_FACEBOOK_RETRY_INTERVAL_S: retrier poll when idle
    facebook_retry_max_backoff_s: float = 900.0  # L2I_FACEBOOK_RETRY_MAX_BACKOFF_S
    # L2I_FACEBOOK_GRAPH_ALLOW_PRIVATE: the Graph API base may be http and a loopback/private
    # address (a local fake Graph API in tests, an egress proxy); never a tenant's choice
    facebook_graph_allow_private: bool = False
    facebook_max_attempts: int = 50  # L2I_FACEBOOK_MAX_ATTEMPTS: then the fetch is `failed`
    facebook_give_up_s: float = 86400.0  # L2I_FACEBOOK_GIVE_UP_S: `failed` this long after receipt
    facebook_concurrency: int = 16  # L2I_FACEBOOK_CONCURRENCY: fetches in flight per worker
    facebook_org_concurrency: int = 4  # L2I_FACEBOOK_ORG_CONCURRENCY: of those, per org
    batch_max_body_bytes: int = 16_777_216  # L2I_BATCH_MAX_BODY_BYTES: POST /v1/leads/batch
    csv_max_rows: int = 1_000_000  # L2I_CSV_MAX_ROWS: rows one POST /v1/leads/import may hold
    csv_chunk_rows: int = 500  # L2I_CSV_CHUNK_ROWS: rows per writer transaction on import
    # --- privacy (docs/privacy.md) -------------------------------------------------------------
    erasure_keep: str = "consent_proof"  # L2I_ERASURE_KEEP: consent_proof | nothing
    lead_retention_days: int = 0  # L2I_LEAD_RETENTION_DAYS: older leads are purged; 0 = keep
    retention_batch: int = 500  # L2I_RETENTION_BATCH: leads per purge transaction
    retention_interval_s: float = 60.0  # L2I_RETENTION_INTERVAL_S: purge poll when nothing is due
    # --- events and webhooks (docs/events.md) -----------------------------------------------
    event_retention_days: int = 90  # L2I_EVENT_RETENTION_DAYS: older events are purged
    webhooks_allow_http: bool = False  # L2I_WEBHOOKS_ALLOW_HTTP: http:// endpoint URLs allowed
    webhooks_allow_private: bool = False  # L2I_WEBHOOKS_ALLOW_PRIVATE: loopback/private allowed
    webhook_timeout_s: float = 10.0  # L2I_WEBHOOK_TIMEOUT_S: a delivery's answer within this
    # L2I_WEBHOOK_RETRY_SCHEDULE: seconds before each try (the first is at once), comma separated
    webhook_retry_schedule: str = "0,5,300,1800,7200,18000,36000,36000"
    webhook_lease_s: float = 60.0  # L2I_WEBHOOK_LEASE_S: a claimed delivery's lease
    webhook_concurrency: int = 16  # L2I_WEBHOOK_CONCURRENCY: deliveries in flight per worker
    webhook_disable_after_s: float = 432000.0  # L2I_WEBHOOK_DISABLE_AFTER_S: failing 5 days
    event_log: bool = True  # L2I_EVENT_LOG: off only for bench/run.py's comparison
    # --- serving --------------------------------------------------------------------------------
    host: str = "127.0.0.1"  # L2I_HOST
    port: int = 8000  # L2I_PORT
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)  # L2I_WORKERS
    log_level: str = "info"  # L2I_LOG_LEVEL
    shutdown_timeout_s: float = 30.0  # L2I_SHUTDOWN_TIMEOUT_S
    max_connections: int = 10_000  # L2I_MAX_CONNECTIONS: open connections per worker (Granian)
    backlog: int = 4096  # L2I_BACKLOG: listen queue of not yet accepted connections
    metrics_addr: str = ""  # L2I_METRICS_ADDR: host:port of a separate /metrics listener

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            name = "L2I_" + f.name.upper()
            if name not in env or env[name] == "":
                continue
            raw = env[name]
            kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
            try:
                if kind.startswith("int"):
                    values[f.name] = int(raw)
                elif kind.startswith("float"):
                    values[f.name] = float(raw)
                elif kind.startswith("bool"):
                    values[f.name] = _bool(name, raw)
                elif kind.startswith("Path"):
                    values[f.name] = Path(raw)
                else:
                    values[f.name] = raw
            except ValueError as exc:
                raise ConfigError(f"{name}: {exc}") from None
        cfg = cls(**values)  # type: ignore[arg-type]
        cfg.validate()
        return cfg

    @property
    def registry_dir(self) -> Path:
        return self.dnc_registry_dir or self.data_dir / "dnc-registry"

    def redis_target(self) -> tuple[str, bool]:
        """(plain redis:// or rediss:// URL, is it a Redis Cluster?). A cluster is named by
        L2I_REDIS_CLUSTER=1 or by the scheme `redis+cluster://` (`rediss+cluster://` with TLS)."""
        url = self.redis_url or ""
        for scheme, plain in (("redis+cluster://", "redis://"), ("rediss+cluster://", "rediss://")):
            if url.startswith(scheme):
                return plain + url[len(scheme) :], True
        return url, self.redis_cluster

    def retry_schedule(self) -> tuple[float, ...]:
        """Seconds to wait before each webhook delivery try (the first is usually 0)."""
        return tuple(float(x) for x in self.webhook_retry_schedule.split(",") if x.strip())

    def with_(self, **changes: object) -> Config:
        return replace(self, **changes)  # type: ignore[arg-type]

    def validate(self) -> None:
        if self.calling_hours not in {"enforce", "off"}:
            raise ConfigError("L2I_CALLING_HOURS must be 'enforce' or 'off'")
        if self.attempt_limits not in {"enforce", "off"}:
            raise ConfigError("L2I_ATTEMPT_LIMITS must be 'enforce' or 'off'")
        if self.queue_order not in {"newest", "fifo"}:
            raise ConfigError("L2I_QUEUE_ORDER must be 'newest' or 'fifo'")
        if self.db_pool_min < 1 or self.db_pool_max < self.db_pool_min:
            raise ConfigError("L2I_DB_POOL_MIN must be >= 1 and <= L2I_DB_POOL_MAX")
        if self.max_body_bytes < 1024:
            raise ConfigError("L2I_MAX_BODY_BYTES must be at least 1024")
        if self.secret_key and len(self.secret_key) < 32:
            raise ConfigError("L2I_SECRET_KEY must be at least 32 characters")
        if self.dnc_rescrub_batch < 1 or self.dnc_rescrub_interval_s <= 0:
            raise ConfigError("L2I_DNC_RESCRUB_BATCH and L2I_DNC_RESCRUB_INTERVAL_S must be > 0")
        if (
            self.facebook_max_attempts < 1
            or self.facebook_give_up_s <= 0
            or not 1 <= self.facebook_org_concurrency <= self.facebook_concurrency
        ):
            raise ConfigError(
                "L2I_FACEBOOK_MAX_ATTEMPTS and L2I_FACEBOOK_GIVE_UP_S must be > 0, and "
                "1 <= L2I_FACEBOOK_ORG_CONCURRENCY <= L2I_FACEBOOK_CONCURRENCY"
            )
        graph = self.facebook_graph_url
        if not graph.startswith("https://") and not (
            self.facebook_graph_allow_private and graph.startswith("http://")
        ):
            raise ConfigError(
                "L2I_FACEBOOK_GRAPH_URL must be an https URL (http only with "
                "L2I_FACEBOOK_GRAPH_ALLOW_PRIVATE=true)"
            )
        if self.facebook_retry_interval_s <= 0 or self.facebook_timeout_ms < 50:
            raise ConfigError(
                "L2I_FACEBOOK_RETRY_INTERVAL_S must be > 0 and L2I_FACEBOOK_TIMEOUT_MS >= 50"
            )
        if self.event_retention_days < 1 or self.webhook_concurrency < 1:
            raise ConfigError(
                "L2I_EVENT_RETENTION_DAYS and L2I_WEBHOOK_CONCURRENCY must be at least 1"
            )
        try:
            schedule = self.retry_schedule()
        except ValueError:
            schedule = ()
        if not schedule or any(s < 0 for s in schedule):
            raise ConfigError("L2I_WEBHOOK_RETRY_SCHEDULE must list seconds, e.g. 0,5,300")
        if self.csv_max_rows < 1 or self.csv_chunk_rows < 1:
            raise ConfigError("L2I_CSV_MAX_ROWS and L2I_CSV_CHUNK_ROWS must be at least 1")
        if self.auth_failures_per_minute < 0 or self.trusted_proxy_hops < 0:
            raise ConfigError(
                "L2I_AUTH_FAILURES_PER_MINUTE and L2I_TRUSTED_PROXY_HOPS must be >= 0"
            )
        if self.erasure_keep not in {"consent_proof", "nothing"}:
            raise ConfigError("L2I_ERASURE_KEEP must be 'consent_proof' or 'nothing'")
        if (
            self.lead_retention_days < 0
            or self.retention_batch < 1
            or self.retention_interval_s <= 0
        ):
            raise ConfigError(
                "L2I_LEAD_RETENTION_DAYS must be >= 0 (0 = keep), L2I_RETENTION_BATCH >= 1 and "
                "L2I_RETENTION_INTERVAL_S > 0"
            )
        if self.workers < 1:
            raise ConfigError("L2I_WORKERS must be at least 1")
        if not 1.0 <= self.header_timeout_s <= 60.0:
            raise ConfigError("L2I_HEADER_TIMEOUT_S must be between 1 and 60 (Granian's range)")
        if self.body_read_timeout_s <= 0 or self.body_timeout_s <= 0:
            raise ConfigError("L2I_BODY_READ_TIMEOUT_S and L2I_BODY_TIMEOUT_S must be > 0")
        if self.max_connections < 1 or self.backlog < 128:
            raise ConfigError("L2I_MAX_CONNECTIONS must be >= 1 and L2I_BACKLOG >= 128")
        if self.metrics_addr:
            self.metrics_listen()  # refuses a malformed address now, not at the first scrape

    def metrics_listen(self) -> tuple[str, int]:
        """(host, port) of L2I_METRICS_ADDR (`127.0.0.1:9100`, `[::1]:9100`)."""
        host, sep, port = self.metrics_addr.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(
                "L2I_METRICS_ADDR must be host:port (e.g. 127.0.0.1:9100), "
                f"got {self.metrics_addr!r}"
            )
        return host, int(port)
        if self.writer_flushers < 1 or self.writer_max_batch < 1:
            raise ConfigError("L2I_WRITER_FLUSHERS and L2I_WRITER_MAX_BATCH must be at least 1")
