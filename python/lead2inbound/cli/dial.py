"""`l2i dial`: the dial queue's per-org settings (the retry policy, docs/dial-queue.md)."""

from __future__ import annotations

import json
import re

import click

from lead2inbound.cli.common import _config, _connect
from lead2inbound.cli.dnc import _org

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _delays(raw: str) -> list[int]:
    """ "10m,1h,4h,1d" (or plain seconds) as seconds."""
    out = []
    for part in raw.split(","):
        m = re.fullmatch(r"\s*(\d{1,7})\s*([smhd]?)\s*", part)
        if m is None:
            raise click.BadParameter(f"{part!r} is not a delay like 600, 10m, 1h or 1d")
        out.append(int(m[1]) * _UNITS[m[2] or "s"])
    return out


@click.group()
def dial() -> None:
    """The dial queue: per-org retry policy."""


@dial.group()
def policy() -> None:
    """An org's retry schedule (what PUT/GET /v1/dial-policy read and set)."""


@policy.command("set")
@click.option("--org", required=True, help="Org id or name.")
@click.option(
    "--retry-after",
    required=True,
    help="Delays between attempts, comma-separated (600, 10m, 1h, 1d); the last repeats.",
)
@click.option("--max-attempts", type=int, required=True, help="Then the lead ends unreachable.")
def policy_set(org: str, retry_after: str, max_attempts: int) -> None:
    """Set an org's retry policy."""
    from lead2inbound.dialing import attempts

    delays = _delays(retry_after)
    for field, message in attempts.check(delays, max_attempts):
        raise click.BadParameter(message, param_hint=f"--{field.replace('_', '-')}")
    with _connect(_config()) as conn:
        org_id = _org(conn, org)
        chosen = attempts.Policy(tuple(delays), max_attempts)
        updated = attempts.store(conn, org_id, chosen)
    click.echo(json.dumps({"org_id": org_id, **chosen.as_json(updated)}))


@policy.command("show")
@click.option("--org", required=True, help="Org id or name.")
def policy_show(org: str) -> None:
    """Print an org's retry policy as JSON (the defaults when none is set)."""
    from lead2inbound.dialing import attempts

    with _connect(_config()) as conn:
        org_id = _org(conn, org)
        chosen, updated = attempts.load_sync(conn, org_id)
    click.echo(json.dumps({"org_id": org_id, **chosen.as_json(updated)}))
