"""`l2i console link`: a one-time sign-in link to an org's console (docs/console.md)."""

from __future__ import annotations

import click

from lead2inbound.cli.common import _config, _connect
from lead2inbound.cli.dnc import _org


def console_url(public_url: str, host: str, port: int) -> str:
    """The console's address: on L2I_PUBLIC_URL when set, else where `l2i serve` listens."""
    if public_url:
        return public_url.rstrip("/") + "/console"
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 (a name, not a bind)
    return f"http://{shown}:{port}/console"


@click.group()
def console() -> None:
    """The console: the browser pages for an org's people (docs/console.md)."""


@console.command("link")
@click.option("--org", required=True, help="Org id or name.")
@click.option("--ttl", default="15m", show_default=True, help="How long the link works: 15m, 2h.")
def console_link(org: str, ttl: str) -> None:
    """Print a one-time sign-in link: it opens one session of the org, once, before it expires.
    The code is in the link's #fragment, which browsers never send to a server."""
    from lead2inbound.access import sessions

    try:
        lifetime = sessions.parse_ttl(ttl)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--ttl") from None
    cfg = _config()
    with _connect(cfg) as conn:
        token = sessions.create_link(conn, _org(conn, org), lifetime)
    click.echo(f"{console_url(cfg.public_url, cfg.host, cfg.port)}/link#{token}")
