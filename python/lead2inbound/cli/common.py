"""Helpers shared by the `l2i` command groups (cli.py, dnc/cli.py): configuration, the database
URL (also of a running embedded `l2i serve`), the key pepper and connections."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator

import click
import psycopg

from lead2inbound.ops.config import Config, ConfigError


def _config() -> Config:
    try:
        return Config.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _database_url(cfg: Config) -> str:
    if cfg.database_url:
        return cfg.database_url
    url_file = cfg.data_dir / "postgres.url"
    if url_file.exists():  # a running `l2i serve` on the embedded default wrote it
        return url_file.read_text().strip()
    raise click.ClickException(
        "L2I_DATABASE_URL is not set and no embedded database is running "
        f"(start `l2i serve` with L2I_DATA_DIR={cfg.data_dir})."
    )


def _redis_url(cfg: Config) -> str | None:
    if cfg.redis_url:
        return cfg.redis_url
    url_file = cfg.data_dir / "redis.url"
    return url_file.read_text().strip() if url_file.exists() else None


def _pepper(cfg: Config, *, create: bool = False) -> str:
    """The key pepper: L2I_KEY_PEPPER, or on the embedded default one kept in the data dir."""
    if cfg.key_pepper:
        return cfg.key_pepper
    path = cfg.data_dir / "key_pepper"
    if path.exists():
        return path.read_text().strip()
    if not create:
        raise click.ClickException("L2I_KEY_PEPPER must be set")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


@contextlib.contextmanager
def _connect(cfg: Config) -> Iterator[psycopg.Connection]:
    try:
        with psycopg.connect(_database_url(cfg), autocommit=True, connect_timeout=5) as conn:
            yield conn
    except psycopg.OperationalError as exc:
        raise click.ClickException(f"cannot reach Postgres: {exc}") from None
