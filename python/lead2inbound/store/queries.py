"""The SQL the service runs, loaded once from `store/sql/*.sql` so a reader finds every query."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def sql(name: str) -> bytes:
    """The text of `store/sql/<name>.sql`, as bytes ready for psycopg."""
    text = resources.files("lead2inbound.store.sql").joinpath(f"{name}.sql").read_text("utf-8")
    return text.encode()
