"""Call attempts and an org's retry policy: when a lead is tried next, and when it gives up.

A policy is a list of delays and a cap: after attempt n the next try is due `retry_after_s[n-1]`
seconds after it (the last delay repeats), and after `max_attempts` attempts the lead ends
`unreachable`. Orgs without a stored policy get `DEFAULT_POLICY`: 10 min, 1 h, 4 h, then a day,
at most 6 attempts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection, Connection

from lead2inbound.store.queries import sql

# Results an attempt may report; every one of them schedules the next try (a final outcome is
# reported with `complete`).
RESULTS = ("no_answer", "busy", "voicemail", "failed", "answered")

# The attempt `complete` records, by outcome: a final outcome implies the call was answered,
# except these two.
COMPLETE_RESULT = {"unreachable": "no_answer", "voicemail": "voicemail"}

MIN_DELAY_S, MAX_DELAY_S = 60, 30 * 24 * 3600
MAX_DELAYS, MAX_ATTEMPTS = 20, 50


@dataclass(frozen=True)
class Policy:
    retry_after_s: tuple[int, ...]
    max_attempts: int

    def next_try(self, attempts: int, at: datetime) -> datetime | None:
        """When try `attempts + 1` is due after attempt number `attempts` at `at`; None when the
        lead has had all its attempts."""
        if attempts >= self.max_attempts:
            return None
        delay = self.retry_after_s[min(attempts, len(self.retry_after_s)) - 1]
        return at + timedelta(seconds=delay)

    def as_json(self, updated_at: datetime | None) -> dict[str, Any]:
        return {
            "retry_after_s": list(self.retry_after_s),
            "max_attempts": self.max_attempts,
            "default": updated_at is None,
            "updated_at": updated_at.isoformat() if updated_at else None,
        }


DEFAULT_POLICY = Policy(retry_after_s=(600, 3600, 4 * 3600, 24 * 3600), max_attempts=6)


def check(retry_after_s: list[int], max_attempts: int) -> list[tuple[str, str]]:
    """(field, message) for each thing wrong with a policy; empty when it is fine."""
    errors = []
    if not 1 <= len(retry_after_s) <= MAX_DELAYS:
        errors.append(("retry_after_s", f"retry_after_s must list 1 to {MAX_DELAYS} delays"))
    elif not all(MIN_DELAY_S <= d <= MAX_DELAY_S for d in retry_after_s):
        errors.append(
            ("retry_after_s", f"each delay must be {MIN_DELAY_S} to {MAX_DELAY_S} seconds")
        )
    if not 1 <= max_attempts <= MAX_ATTEMPTS:
        errors.append(("max_attempts", f"max_attempts must be 1 to {MAX_ATTEMPTS}"))
    return errors


async def load(conn: AsyncConnection[Any], org_id: str) -> tuple[Policy, datetime | None]:
    """The org's policy and when it was set (None: the default)."""
    cur = await conn.execute(sql("dial_policy_get"), {"org": org_id})
    return _policy(await cur.fetchone())


def load_sync(conn: Connection[Any], org_id: str) -> tuple[Policy, datetime | None]:
    """`load` for the CLI."""
    return _policy(conn.execute(sql("dial_policy_get"), {"org": org_id}).fetchone())


def _policy(row: Any) -> tuple[Policy, datetime | None]:
    if row is None:
        return DEFAULT_POLICY, None
    return Policy(tuple(row[0]), row[1]), row[2]


def store(conn: Connection[Any], org_id: str, policy: Policy) -> datetime:
    """Set the org's policy (the CLI; the API uses `store_async`); when it was set."""
    row = conn.execute(sql("dial_policy_put"), _params(org_id, policy)).fetchone()
    assert row is not None
    return row[0]


async def store_async(conn: AsyncConnection[Any], org_id: str, policy: Policy) -> datetime:
    cur = await conn.execute(sql("dial_policy_put"), _params(org_id, policy))
    row = await cur.fetchone()
    assert row is not None
    return row[0]


def _params(org_id: str, policy: Policy) -> dict[str, Any]:
    return {"org": org_id, "delays": list(policy.retry_after_s), "max": policy.max_attempts}
