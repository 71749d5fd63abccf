"""`l2i sources ...`: create, list, show, delete, test a payload, replace secrets, presets
(docs/lead-sources.md, "Sources")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from lead2inbound.cli.common import _config, _connect
from lead2inbound.cli.dnc import _box, _org

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
        return json.loads(text)
    except ValueError as exc:
        raise click.ClickException(f"{what} is not valid JSON: {exc}") from None


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
    type=click.Choice(["none", "facebook", "typeform", "hubspot-v1", "hubspot-v3", "hmac-sha256"]),
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
@click.option("--sandbox", is_flag=True, help="Signed posts act as a test key.")
@click.option("--rate-limit", type=int, default=120, show_default=True, help="Signed posts/min.")
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
    sandbox: bool,
    rate_limit: int,
) -> None:
    """Create a source; prints it (secrets by name only) with its ingest URL."""
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
            secrets={"secret": secret, "verify_token": verify_token, "page_token": page_token},
            sandbox=sandbox,
            rate_limit=rate_limit,
        )
        with _connect(cfg) as conn:
            source = create(conn, box, _org(conn, org), planned)
    except SourceError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(source.as_dict(secret_names(source, box)), indent=2))


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
