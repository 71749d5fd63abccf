"""`l2i sources ...`: create, list, show, delete, test a payload, replace secrets, presets
(docs/lead-sources.md, "Sources")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from lead2inbound.cli.common import _config, _connect, _pepper
from lead2inbound.cli.dnc import _box, _org
from lead2inbound.contract.problems import ProblemError
from lead2inbound.contract.wire import decode_json
from lead2inbound.sources.signatures import SCHEMES

_TYPES = {
    "json": "application/json",
    "facebook": "application/json",
    "form": "application/x-www-form-urlencoded",
    "form_json": "application/x-www-form-urlencoded",
}


def _json_arg(raw: str | None, what: str) -> Any:
    if raw is None:
        return None
    text = Path(raw[1:]).read_text() if raw.startswith("@") else raw
    try:
        return decode_json(text.encode(), what=what)
    except ProblemError as exc:
        raise click.ClickException(exc.detail) from None


def _source(conn: Any, org: str, source_id: str) -> Any:
    import uuid

    from lead2inbound.sources.store import get

    try:
        sid = str(uuid.UUID(source_id))
    except ValueError:
        raise click.ClickException(f"no source {source_id}") from None
    found = get(conn, sid, _org(conn, org))
    if found is None:
        raise click.ClickException(f"org {org} has no source {source_id}")
    return found


@click.group()
def sources() -> None:
    """Lead sources: vendors' webhooks mapped into leads (docs/lead-sources.md)."""


@sources.command("presets")
def sources_presets() -> None:
    """The vendor presets, as JSON lines (a source can start from one with --preset)."""
    from lead2inbound.sources.presets import PRESETS

    for preset in PRESETS.values():
        click.echo(json.dumps(preset.as_dict()))


@sources.command("create")
@click.option("--org", required=True, help="Org id or name.")
@click.option("--name", required=True, help="The source's name: the `source` of its leads.")
@click.option("--preset", default=None, help="Start from a vendor preset (l2i sources presets).")
@click.option(
    "--format",
    "fmt",
    default=None,
    type=click.Choice(["json", "form", "multipart", "form_json", "facebook"]),
)
@click.option("--json-field", default=None, help="form_json: the field holding the JSON.")
@click.option("--mapping", default=None, help="The mapping as JSON, or @FILE.")
@click.option("--options", default=None, help="Mapping options as JSON, or @FILE.")
@click.option(
    "--signature",
    default=None,
    type=click.Choice(list(SCHEMES)),
)
@click.option(
    "--secret", default=None, envvar="L2I_SOURCE_SECRET", show_envvar=True,
    help="The signing secret (Facebook: the app secret).",
)  # fmt: skip
@click.option(
    "--verify-token", default=None, envvar="L2I_SOURCE_VERIFY_TOKEN", show_envvar=True,
    help="facebook: the webhook verify token.",
)  # fmt: skip
@click.option(
    "--page-token", default=None, envvar="L2I_SOURCE_PAGE_TOKEN", show_envvar=True,
    help="facebook: the page access token.",
)  # fmt: skip
@click.option(
    "--body-secret", default=None, envvar="L2I_SOURCE_BODY_SECRET", show_envvar=True,
    help="The secret the vendor puts in the body (at options.body_secret_at).",
)  # fmt: skip
@click.option("--sandbox", is_flag=True, help="Signed posts act as a test key.")
@click.option("--rate-limit", type=int, default=120, show_default=True, help="Posts/min.")
@click.option(
    "--success-status",
    type=click.Choice(["200", "201"]),
    default=None,
    help="What a new lead answers (default: the preset's, else 201).",
)
def sources_create(
    org: str,
    name: str,
    preset: str | None,
    fmt: str | None,
    json_field: str | None,
    mapping: str | None,
    options: str | None,
    signature: str | None,
    secret: str | None,
    verify_token: str | None,
    page_token: str | None,
    body_secret: str | None,
    sandbox: bool,
    rate_limit: int,
    success_status: str | None,
) -> None:
    """Create a source; prints it (secrets by name only) with its ingest URL and its own URL
    (`hook_url`, shown this once)."""
    from lead2inbound.sources import hooks
    from lead2inbound.sources.store import SourceError, create, plan, secret_names

    cfg = _config()
    box = _box(cfg)
    try:
        planned = plan(
            name=name,
            preset=preset,
            format=fmt,
            json_field=json_field,
            mapping=_json_arg(mapping, "--mapping"),
            options=_json_arg(options, "--options"),
            signature=signature,
            secrets={
                "secret": secret,
                "verify_token": verify_token,
                "page_token": page_token,
                "body_secret": body_secret,
            },
            sandbox=sandbox,
            rate_limit=rate_limit,
            success_status=int(success_status) if success_status else None,
        )
        with _connect(cfg) as conn, conn.transaction():
            source = create(conn, box, _org(conn, org), planned)
            token = hooks.add(conn, _pepper(cfg).encode(), source.org_id, source.source_id, None)
    except SourceError as exc:
        raise click.ClickException(str(exc)) from None
    shown = {**source.as_dict(secret_names(source, box)), "hook_url": hooks.url_path(token)}
    click.echo(json.dumps(shown, indent=2))


@sources.command("urls")
@click.option("--org", required=True, help="Org id or name.")
@click.argument("source_id")
def sources_urls(org: str, source_id: str) -> None:
    """The source's URLs (public part only), as JSON lines, oldest first."""
    from lead2inbound.sources import hooks

    with _connect(_config()) as conn:
        source = _source(conn, org, source_id)
        found = hooks.list_hooks(conn, source.org_id, source.source_id)
    for hook in found:
        click.echo(json.dumps(hook.as_dict()))


@sources.command("rotate-url")
@click.option("--org", required=True, help="Org id or name.")
@click.option(
    "--overlap-s",
    type=int,
    default=86_400,
    show_default=True,
    help="How long the older URLs keep working (0: they stop now).",
)
@click.argument("source_id")
def sources_rotate_url(org: str, overlap_s: int, source_id: str) -> None:
    """A new URL for the source, printed once; the older ones end after the overlap."""
    from lead2inbound.sources import hooks

    try:
        hooks.check_overlap(overlap_s)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    cfg = _config()
    with _connect(cfg) as conn, conn.transaction():
        source = _source(conn, org, source_id)
        token = hooks.add(conn, _pepper(cfg).encode(), source.org_id, source.source_id, overlap_s)
    click.echo(hooks.url_path(token))
    click.echo(f"older URLs of source {source.source_id} end in {overlap_s} s", err=True)


@sources.command("revoke-url")
@click.option("--org", required=True, help="Org id or name.")
@click.argument("source_id")
@click.argument("hook_id")
def sources_revoke_url(org: str, source_id: str, hook_id: str) -> None:
    """Revoke one of the source's URLs (`l2i sources urls` lists their ids): 401 from now on."""
    from lead2inbound.sources import hooks

    with _connect(_config()) as conn:
        source = _source(conn, org, source_id)
        if not hooks.revoke(conn, source.org_id, source.source_id, hook_id):
            raise click.ClickException(f"source {source.source_id} has no active URL {hook_id}")
    click.echo(f"URL {hooks.public(hook_id)} revoked", err=True)


@sources.command("list")
@click.option("--org", required=True, help="Org id or name.")
def sources_list(org: str) -> None:
    """The org's sources, one line each."""
    from lead2inbound.sources.store import list_sources

    with _connect(_config()) as conn:
        found = list_sources(conn, _org(conn, org))
    for s in found:
        click.echo(
            f"{s.source_id}  {s.name}  {s.format}  signature={s.signature}  "
            f"preset={s.preset or '-'}  {s.path}"
        )


@sources.command("show")
@click.option("--org", required=True, help="Org id or name.")
@click.argument("source_id")
def sources_show(org: str, source_id: str) -> None:
    """A source as JSON (secrets by name only), with its Facebook notifications' progress."""
    from lead2inbound.sources.store import secret_names
    from lead2inbound.store.queries import sql

    cfg = _config()
    with _connect(cfg) as conn:
        source = _source(conn, org, source_id)
        shown = source.as_dict(secret_names(source, _box(cfg)))
        if source.format == "facebook":
            rows = conn.execute(
                sql("facebook_leads_summary"),
                {"org_id": source.org_id, "source_id": source.source_id},
            ).fetchall()
            shown["facebook_leads"] = {r[0]: {"count": r[1], "last_error": r[2]} for r in rows}
    click.echo(json.dumps(shown, indent=2))


@sources.command("delete")
@click.option("--org", required=True, help="Org id or name.")
@click.argument("source_id")
def sources_delete(org: str, source_id: str) -> None:
    """Delete a source: its URL answers 404 from now on; its leads stay."""
    from lead2inbound.sources.store import delete

    with _connect(_config()) as conn:
        source = _source(conn, org, source_id)
        delete(conn, source.source_id, source.org_id)
    click.echo(f"source {source.source_id} deleted", err=True)


@sources.command("secrets")
@click.option("--org", required=True, help="Org id or name.")
@click.argument("source_id")
@click.option("--secret", default=None, envvar="L2I_SOURCE_SECRET", show_envvar=True)
@click.option("--verify-token", default=None, envvar="L2I_SOURCE_VERIFY_TOKEN", show_envvar=True)
@click.option("--page-token", default=None, envvar="L2I_SOURCE_PAGE_TOKEN", show_envvar=True)
def sources_secrets(
    org: str, source_id: str, secret: str | None, verify_token: str | None, page_token: str | None
) -> None:
    """Replace a source's secrets (a new page access token after one expired, a rotated
    signing secret); pending Facebook leads are fetched with it at their next attempt."""
    from lead2inbound.sources.store import SourceError, replace_secrets

    cfg = _config()
    with _connect(cfg) as conn:
        source = _source(conn, org, source_id)
        try:
            names = replace_secrets(
                conn,
                _box(cfg),
                source,
                {"secret": secret, "verify_token": verify_token, "page_token": page_token},
            )
        except SourceError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"source {source.source_id}: secrets sealed ({', '.join(names)})", err=True)


@sources.command("test")
@click.option("--org", required=True, help="Org id or name.")
@click.option("--content-type", default=None, help="The payload's type (default: the format's).")
@click.argument("source_id")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def sources_test(org: str, content_type: str | None, source_id: str, file: Path) -> None:
    """Show the lead FILE (a vendor payload) would make through the source, with every problem;
    nothing is stored. Exit status 1 when the payload would be refused."""
    from lead2inbound.sources.preview import preview

    cfg = _config()
    with _connect(cfg) as conn:
        source = _source(conn, org, source_id)
    ctype = content_type or _TYPES.get(source.format)
    if ctype is None:
        raise click.ClickException("--content-type is needed (with its boundary) for multipart")
    from lead2inbound.contract.problems import ProblemError

    try:
        out = preview(
            source,
            file.read_bytes(),
            ctype,
            key_id="cli",
            sandbox=source.sandbox,
            consent_skew_s=cfg.consent_clock_skew_s,
        )
    except ProblemError as exc:
        raise click.ClickException(f"{exc.code}: {exc.detail}") from None
    click.echo(json.dumps(out, indent=2))
    if not out["valid"]:
        raise SystemExit(1)


@sources.command("update")
@click.option("--org", required=True, help="Org id or name.")
@click.option("--mapping", default=None, help="A new mapping as JSON, or @FILE.")
@click.option("--options", default=None, help="New mapping options as JSON, or @FILE.")
@click.option("--success-status", type=click.Choice(["200", "201"]), default=None)
@click.argument("source_id")
def sources_update(
    org: str, mapping: str | None, options: str | None, success_status: str | None, source_id: str
) -> None:
    """Change a source's mapping (then `l2i sources replay` what the old one refused)."""
    from lead2inbound.sources.store import SourceError, check_patch, patch

    with _connect(_config()) as conn:
        source = _source(conn, org, source_id)
        try:
            new = check_patch(
                source,
                _json_arg(mapping, "--mapping"),
                _json_arg(options, "--options"),
                int(success_status) if success_status else None,
            )
        except SourceError as exc:
            raise click.ClickException(str(exc)) from None
        patch(conn, source, new)
    click.echo(f"source {source.source_id} updated", err=True)


@sources.command("deliveries")
@click.option("--org", required=True, help="Org id or name.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.argument("source_id")
def sources_deliveries(org: str, limit: int, source_id: str) -> None:
    """What vendors posted to the source, newest first, as JSON lines (refused ones with their
    body; credentials removed)."""
    from datetime import UTC, datetime

    from lead2inbound.sources import deliveries

    with _connect(_config()) as conn:
        source = _source(conn, org, source_id)
        found = deliveries.list_sync(
            conn,
            source.org_id,
            source.source_id,
            since=datetime(1970, 1, 1, tzinfo=UTC),
            limit=limit,
        )
    for item in found:
        click.echo(json.dumps(item.as_dict()))


@sources.command("replay")
@click.option("--url", required=True, envvar="L2I_URL", show_envvar=True, help="The service.")
@click.option(
    "--key", required=True, envvar="L2I_ADMIN_KEY", show_envvar=True, help="An admin key."
)
@click.option("--since", required=True, help="Replay refused deliveries received since (ISO).")
@click.argument("source_id")
def sources_replay(url: str, key: str, since: str, source_id: str) -> None:
    """Replay the source's refused deliveries since a time through a running service (the same
    path as a live post: a lead already made is a duplicate)."""
    import httpx

    base = url.rstrip("/") + f"/v1/sources/{source_id}/deliveries"
    headers = {"Authorization": f"Bearer {key}"}
    try:
        listed = httpx.get(
            base,
            params={"since": since, "outcome": "refused", "limit": "1000"},
            headers=headers,
            timeout=30,
        )
        if listed.status_code != 200:
            raise click.ClickException(f"HTTP {listed.status_code}: {listed.text[:500]}")
        items = sorted(listed.json()["data"], key=lambda d: d["received_at"])
        for item in items:
            resp = httpx.post(f"{base}/{item['delivery_id']}/replay", headers=headers, timeout=30)
            answer = resp.json() if resp.content else {}
            what = answer.get("outcome") or answer.get("code") or ""
            click.echo(f"{item['delivery_id']}  {resp.status_code}  {what}")
    except httpx.HTTPError as exc:
        raise click.ClickException(f"could not reach {url}: {exc}") from None
