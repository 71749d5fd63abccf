"""`l2i webhooks ...`: create, list, delete, rotate, test, replay webhook endpoints
(docs/events.md). The same functions as the API (webhooks/endpoints.py); `--test` works on the
org's sandbox endpoints."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import click
import psycopg

from lead2inbound.cli.common import _config, _database_url
from lead2inbound.cli.dnc import _box, _org

T = TypeVar("T")


def _run(cfg: Any, org: str, work: Callable[[Any, str], Awaitable[T]]) -> T:
    """`work(conn, org_id)` on an async connection, in one transaction."""

    async def go() -> T:
        try:
            conn = await psycopg.AsyncConnection.connect(_database_url(cfg), connect_timeout=5)
        except psycopg.OperationalError as exc:
            raise click.ClickException(f"cannot reach Postgres: {exc}") from None
        async with conn:
            with psycopg.connect(_database_url(cfg), autocommit=True) as sync:
                org_id = _org(sync, org)
            async with conn.transaction():
                return await work(conn, org_id)

    return asyncio.run(go())


def _uuid(raw: str, what: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise click.ClickException(f"{what} must be an id, got {raw!r}") from None


@click.group()
def webhooks() -> None:
    """Webhook endpoints: the org's events, signed, to its URLs (docs/events.md)."""


@webhooks.command("create")
@click.option("--org", required=True, help="org id or name")
@click.option("--url", required=True)
@click.option("--types", default="*", show_default=True, help="comma list: *, lead.*, types")
@click.option("--description", default=None)
@click.option("--test", "sandbox", is_flag=True, help="a sandbox endpoint (sandbox events)")
def webhooks_create(org: str, url: str, types: str, description: str | None, sandbox: bool):
    """Create an endpoint; prints it with its signing secret (shown this once)."""
    from lead2inbound.ops.outbound import OutboundRefused, check_url
    from lead2inbound.webhooks import endpoints
    from lead2inbound.webhooks.delivery import policy_of

    cfg = _config()
    kinds = [t.strip() for t in types.split(",") if t.strip()]
    why = endpoints.bad_types(kinds)
    if why:
        raise click.ClickException(why)
    try:
        asyncio.run(check_url(url, policy_of(cfg)))
    except OutboundRefused as exc:
        raise click.ClickException(f"url is refused: {exc.reason}") from None

    async def work(conn: Any, org_id: str) -> dict[str, Any]:
        made, secret = await endpoints.create(
            conn, _box(cfg), org_id=org_id, sandbox=sandbox, url=url, types=kinds,
            description=description,
        )  # fmt: skip
        return {**made.json(), "secret": secret}

    click.echo(json.dumps(_run(cfg, org, work)))


@webhooks.command("list")
@click.option("--org", required=True, help="org id or name")
@click.option("--test", "sandbox", is_flag=True)
def webhooks_list(org: str, sandbox: bool) -> None:
    """The org's endpoints, one JSON line each."""
    from lead2inbound.webhooks import endpoints

    cfg = _config()

    async def work(conn: Any, org_id: str) -> list[dict[str, Any]]:
        return [e.json() for e in await endpoints.list_(conn, org_id, sandbox)]

    for row in _run(cfg, org, work):
        click.echo(json.dumps(row))


@webhooks.command("delete")
@click.option("--org", required=True, help="org id or name")
@click.argument("endpoint_id")
@click.option("--test", "sandbox", is_flag=True)
def webhooks_delete(org: str, endpoint_id: str, sandbox: bool) -> None:
    from lead2inbound.webhooks import endpoints

    cfg = _config()
    eid = _uuid(endpoint_id, "endpoint_id")

    async def work(conn: Any, org_id: str) -> bool:
        return await endpoints.delete(conn, org_id, sandbox, eid)

    if not _run(cfg, org, work):
        raise click.ClickException(f"org {org} has no endpoint {endpoint_id}")
    click.echo(json.dumps({"id": eid, "deleted": True}))


@webhooks.command("rotate")
@click.option("--org", required=True, help="org id or name")
@click.argument("endpoint_id")
@click.option("--overlap", default=86400, show_default=True, help="seconds the old secret signs")
@click.option("--test", "sandbox", is_flag=True)
def webhooks_rotate(org: str, endpoint_id: str, overlap: int, sandbox: bool) -> None:
    """A new signing secret (printed once); the old one signs too for --overlap seconds."""
    from lead2inbound.webhooks import endpoints

    cfg = _config()
    eid = _uuid(endpoint_id, "endpoint_id")

    async def work(conn: Any, org_id: str) -> str | None:
        return await endpoints.rotate(conn, _box(cfg), org_id, sandbox, eid, overlap)

    secret = _run(cfg, org, work)
    if secret is None:
        raise click.ClickException(f"org {org} has no endpoint {endpoint_id}")
    click.echo(json.dumps({"id": eid, "secret": secret}))


@webhooks.command("replay")
@click.option("--org", required=True, help="org id or name")
@click.argument("endpoint_id")
@click.option("--event", "event_id", default=None, help="one event id")
@click.option("--since", default=None, help="RFC 3339: events from then on")
@click.option("--until", default=None, help="RFC 3339: events before then")
@click.option("--test", "sandbox", is_flag=True)
def webhooks_replay(org: str, endpoint_id: str, event_id: str | None, since: str | None,
                    until: str | None, sandbox: bool) -> None:  # fmt: skip
    """Send events again (same webhook-id): one, or a time range (10,000 at most per call)."""
    from lead2inbound.webhooks import endpoints

    cfg = _config()
    eid = _uuid(endpoint_id, "endpoint_id")
    event = _uuid(event_id, "--event") if event_id else None
    start = datetime.fromisoformat(since) if since else None
    end = datetime.fromisoformat(until) if until else None
    if event is None and start is None:
        raise click.ClickException("give --event, or --since (and maybe --until)")

    async def work(conn: Any, org_id: str) -> int | None:
        if await endpoints.get(conn, org_id, sandbox, eid) is None:
            return None
        return await endpoints.replay(conn, org_id, eid, event_id=event, since=start, until=end)

    n = _run(cfg, org, work)
    if n is None:
        raise click.ClickException(f"org {org} has no endpoint {endpoint_id}")
    click.echo(json.dumps({"scheduled": n}))


@webhooks.command("test")
@click.option("--org", required=True, help="org id or name")
@click.argument("endpoint_id")
@click.option("--test", "sandbox", is_flag=True)
def webhooks_test(org: str, endpoint_id: str, sandbox: bool) -> None:
    """Send one signed `webhook_endpoint.test` delivery now (not logged, not retried); prints
    the answer's status and first 1 KB."""
    from lead2inbound.webhooks.delivery import policy_of
    from lead2inbound.webhooks.ping import send_test_event

    cfg = _config()
    eid = _uuid(endpoint_id, "endpoint_id")

    async def work(conn: Any, org_id: str) -> dict[str, Any]:
        out = await send_test_event(conn, _box(cfg), policy_of(cfg), org_id, sandbox, eid)
        if out is None:
            raise click.ClickException(f"org {org} has no endpoint {endpoint_id}")
        return out

    click.echo(json.dumps(_run(cfg, org, work)))
