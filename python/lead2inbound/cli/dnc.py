"""`l2i dnc ...`: connect, disconnect, status, import, rekey (docs/dnc.md)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import click

from lead2inbound.cli.common import _config, _connect
from lead2inbound.ops.config import Config


def secret_key(cfg: Config, *, create: bool = False) -> str:
    """L2I_SECRET_KEY, or on the embedded default one kept in the data dir (like the pepper)."""
    if cfg.secret_key:
        return cfg.secret_key
    path = cfg.data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    if not create:
        return ""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _box(cfg: Config):  # type: ignore[no-untyped-def]
    from lead2inbound.dnc.crypto import SecretBox

    return SecretBox(secret_key(cfg), cfg.secret_key_old)


def _org(conn, org: str) -> str:  # type: ignore[no-untyped-def]
    from lead2inbound.access.keystore import KeyStoreError, resolve_org

    try:
        return resolve_org(conn, org)
    except KeyStoreError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def dnc() -> None:
    """DNC providers: bring-your-own-key scrubs at intake and before dialing."""


@dnc.command("connect")
@click.option("--org", required=True, help="Org id or name.")
@click.option(
    "--provider", required=True, type=click.Choice(["tcpa-litigator-list", "dncscrub", "registry"])
)
@click.option("--username", default=None, help="tcpa-litigator-list: API username.")
@click.option(
    "--password",
    default=None,
    envvar="L2I_DNC_PASSWORD",
    show_envvar=True,
    help="tcpa-litigator-list: API password (prompted for when not given).",
)
@click.option(
    "--login-id",
    default=None,
    envvar="L2I_DNC_LOGIN_ID",
    show_envvar=True,
    help="dncscrub: the API key (loginId; prompted for when not given).",
)
@click.option(
    "--base-url",
    default=None,
    help="The provider's base URL (default: its public host; a fake's for tests).",
)
@click.option(
    "--timeout-ms",
    type=int,
    default=800,
    show_default=True,
    help="Scrub budget per lead at intake; past it the lead is pending_scrub.",
)
@click.option(
    "--types",
    default=None,
    help="tcpa-litigator-list: list types, comma separated (default tcpa,dnc).",
)
@click.option("--project-id", default=None, help="dncscrub: projId.")
@click.option("--campaign-id", default=None, help="dncscrub: campaignId.")
@click.option(
    "--registry-path",
    type=click.Path(path_type=Path),
    default=None,
    help="registry: the registry file (default <L2I_DNC_REGISTRY_DIR>/<org id>.dnc).",
)
def dnc_connect(
    org: str,
    provider: str,
    username: str | None,
    password: str | None,
    login_id: str | None,
    base_url: str | None,
    timeout_ms: int,
    types: str | None,
    project_id: str | None,
    campaign_id: str | None,
    registry_path: Path | None,
) -> None:
    """Connect an org's DNC provider (replaces the one it had). Credentials are sealed."""
    from lead2inbound.dnc.store import DncStoreError, connect

    credentials: dict[str, str] = {}
    options: dict[str, object] = {}
    if provider == "tcpa-litigator-list":
        credentials["username"] = username or click.prompt("API username")
        credentials["password"] = password or click.prompt("API password", hide_input=True)
        if types:
            options["types"] = [t.strip() for t in types.split(",") if t.strip()]
    elif provider == "dncscrub":
        credentials["login_id"] = login_id or click.prompt("loginId", hide_input=True)
        options.update(
            {k: v for k, v in (("project_id", project_id), ("campaign_id", campaign_id)) if v}
        )
    elif registry_path:
        options["path"] = str(registry_path.resolve())
    cfg = _config()
    box = _box(cfg)
    with _connect(cfg) as conn:
        org_id = _org(conn, org)
        try:
            key_id = connect(
                conn,
                box,
                org_id=org_id,
                provider=provider,
                credentials=credentials,
                base_url=base_url,
                timeout_ms=timeout_ms,
                options=options,
            )
        except Exception as exc:  # DncStoreError, SecretError
            if not isinstance(exc, DncStoreError) and type(exc).__name__ != "SecretError":
                raise
            raise click.ClickException(str(exc)) from None
    sealed = f"; credentials sealed with key {key_id}" if key_id else ""
    click.echo(
        f"org {org_id}: {provider} connected{sealed} (workers pick it up within "
        f"{cfg.dnc_cache_ttl_s:g} s)",
        err=True,
    )


@dnc.command("disconnect")
@click.option("--org", required=True, help="Org id or name.")
def dnc_disconnect(org: str) -> None:
    """Disconnect an org's DNC provider: its leads are then stored unscrubbed (not_connected)."""
    from lead2inbound.dnc.store import disconnect

    with _connect(_config()) as conn:
        org_id = _org(conn, org)
        if not disconnect(conn, org_id):
            raise click.ClickException(f"org {org_id} has no DNC provider connected")
    click.echo(f"org {org_id}: DNC provider disconnected", err=True)


@dnc.command("status")
@click.option("--org", default=None, help="Org id or name (default: every org).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of text.")
def dnc_status(org: str | None, as_json: bool) -> None:
    """Each org's provider; a warning for orgs with none. Never shows credentials."""
    from lead2inbound.dnc.store import status

    with _connect(_config()) as conn:
        rows = status(conn, _org(conn, org) if org else None)
    warned = False
    for row in rows:
        if as_json:
            click.echo(json.dumps(row))
            continue
        if row["provider"]:
            url = row["base_url"] or "default host"
            click.echo(
                f"{row['org_id']}  {row['org']}: {row['provider']} ({url}, timeout "
                f"{row['timeout_ms']} ms, key {row['key_id'] or '-'}), "
                f"{row['pending_scrub_leads']} lead(s) pending_scrub, "
                f"{row['unscrubbed_leads']} stored before it was connected"
            )
        else:
            warned = True
            click.echo(
                f"WARNING: {row['org_id']}  {row['org']}: no DNC provider connected; "
                f"{row['unscrubbed_leads']} lead(s) stored unscrubbed"
            )
    if warned and not as_json:
        click.echo(
            "Leads of orgs without a provider are queued unscrubbed (checks.dnc = not_connected).",
            err=True,
        )


@dnc.command("import")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--org", required=True, help="Org id or name.")
@click.option(
    "--replace-all",
    is_flag=True,
    help="Full list: drop every area code not in FILES (default: replace only the "
    "area codes FILES hold).",
)
def dnc_import(files: tuple[Path, ...], org: str, replace_all: bool) -> None:
    """Import FTC National DNC Registry download files (full or change lists; plain, .gz, .zip)."""
    from lead2inbound._core import RegistryError
    from lead2inbound.dnc.registry_import import import_files

    cfg = _config()
    with _connect(cfg) as conn:
        org_id = _org(conn, org)
        row = conn.execute(
            "SELECT provider, options FROM dnc_connections WHERE org_id = %s", (org_id,)
        ).fetchone()
    out = cfg.registry_dir / f"{org_id}.dnc"
    if row and row[0] == "registry" and (row[1] or {}).get("path"):
        out = Path(row[1]["path"])
    try:
        res = import_files(list(files), out, replace_all=replace_all)
    except (RegistryError, OSError) as exc:
        raise click.ClickException(f"import failed, registry unchanged: {exc}") from None
    kind = "change list" if res.change_list else "full list"
    click.echo(
        f"{kind}: {res.lines:,} lines, {res.added:,} added, {res.deleted:,} deleted; "
        f"{out} now holds {res.total:,} numbers ({res.seconds:.1f} s, "
        f"{res.lines / max(res.seconds, 1e-9):,.0f} lines/s)",
        err=True,
    )
    if not row or row[0] != "registry":
        click.echo(
            "note: this org's provider is not `registry`; connect it with "
            "`l2i dnc connect --provider registry` to scrub against this file.",
            err=True,
        )


@dnc.command("rekey")
def dnc_rekey() -> None:
    """Re-seal every stored credential (and lead sources' secrets) under L2I_SECRET_KEY
    (rotation: the previous key in L2I_SECRET_KEY_OLD)."""
    from lead2inbound.dnc.crypto import SecretError
    from lead2inbound.dnc.store import rekey
    from lead2inbound.sources.store import rekey as rekey_sources

    cfg = _config()
    try:
        with _connect(cfg) as conn:
            resealed, current = rekey(conn, _box(cfg))
            sources_resealed, sources_current = rekey_sources(conn, _box(cfg))
    except SecretError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"re-sealed {resealed} credential(s); {current} already under the current key", err=True
    )
    click.echo(
        f"re-sealed {sources_resealed} lead source secret(s); {sources_current} already under "
        "the current key",
        err=True,
    )
