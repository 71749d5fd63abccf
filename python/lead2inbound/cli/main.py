"""`l2i`: the operator's command line (serve, migrate, orgs, keys, import)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import click
import psycopg

from lead2inbound.cli.common import _config, _connect, _database_url, _pepper, _redis_url
from lead2inbound.ops.config import Config

FIRST_LINK_TTL = timedelta(hours=1)  # the console link `make run` prints on the first start
QUICKSTART_BODY = (
    '{"source": "my-webform", "first_name": "Jane", "phone": "5551234567", "state": "TX", '
    '"consent": {"consent_timestamp": "2026-07-05T12:00:00Z", '
    '"consent_text_version": "webform-v2", "source_url": "https://example.com/quote"}}'
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lead2inbound")
def main() -> None:
    """lead2inbound intake: the front door of a lead-to-call pipeline.

    Configuration comes from L2I_* environment variables (see the README).
    """


# --- serve ----------------------------------------------------------------------------------------


@main.command()
@click.option("--host", default=None, help="Address to bind (default L2I_HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default L2I_PORT or 8000).")
@click.option("--workers", type=int, default=None, help="Granian workers (default: one per core).")
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Run the service on Granian; with no database/Redis URL, on embedded servers."""
    cfg = _config()
    cfg = cfg.with_(
        host=host or cfg.host,
        port=port or cfg.port,
        workers=workers or cfg.workers,
    )
    embedded = not cfg.database_url or not cfg.redis_url
    with contextlib.ExitStack() as stack:
        if embedded:
            cfg = _start_embedded(cfg, stack)
        pepper = _pepper(cfg, create=embedded)
        _dnc_secret_key(cfg, embedded)
        _check_schema(cfg, migrate_now=embedded)
        if embedded:
            _bootstrap(cfg, pepper)
        _run_granian(cfg, pepper)


def _start_embedded(cfg: Config, stack: contextlib.ExitStack) -> Config:
    from lead2inbound.ops.embedded import EmbeddedPostgres, EmbeddedRedis

    data = cfg.data_dir.resolve()
    try:  # refuse in one line, not a traceback (e.g. a container's read-only root, no volume)
        data.mkdir(parents=True, exist_ok=True)
        tempfile.NamedTemporaryFile(dir=data).close()
    except OSError as exc:
        raise click.ClickException(
            f"L2I_DATA_DIR {data} is not writable ({exc.strerror}): the embedded Postgres and "
            "Redis keep their data there. Mount a volume on it, or set L2I_DATABASE_URL and "
            "L2I_REDIS_URL to servers of your own."
        ) from exc
    if not cfg.database_url:
        click.echo(f"Starting embedded Postgres in {data / 'postgres'} ...", err=True)
        pg = EmbeddedPostgres(data / "postgres")
        url = pg.start()
        stack.callback(pg.stop)
        (data / "postgres.url").write_text(url)
        stack.callback(lambda: (data / "postgres.url").unlink(missing_ok=True))
        cfg = cfg.with_(database_url=url)
    if not cfg.redis_url:
        click.echo(f"Starting embedded Redis in {data / 'redis'} ...", err=True)
        rd = EmbeddedRedis(data / "redis", persistent=True)
        url = rd.start()
        stack.callback(rd.stop)
        (data / "redis.url").write_text(url)
        stack.callback(lambda: (data / "redis.url").unlink(missing_ok=True))
        cfg = cfg.with_(redis_url=url)
    return cfg


def _check_schema(cfg: Config, *, migrate_now: bool) -> None:
    from lead2inbound.store.migrate import migrate, pending

    assert cfg.database_url
    try:
        if migrate_now:
            migrate(cfg.database_url)
            return
        behind = pending(cfg.database_url)
    except psycopg.OperationalError as exc:
        raise click.ClickException(f"cannot reach Postgres: {exc}") from None
    if behind:
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in behind)
        raise click.ClickException(
            f"the database schema is behind ({names} pending); run `l2i migrate` first"
        )


def _bootstrap(cfg: Config, pepper: str) -> None:
    """On an empty embedded database: one org and one write+read key, printed once."""
    from lead2inbound.access import sessions
    from lead2inbound.access.keystore import create_key, create_org
    from lead2inbound.cli.console import console_url

    assert cfg.database_url
    with psycopg.connect(cfg.database_url, autocommit=True) as conn, conn.transaction():
        conn.execute("LOCK TABLE orgs IN EXCLUSIVE MODE")
        row = conn.execute("SELECT count(*) FROM orgs").fetchone()
        if row and row[0] > 0:
            return
        org_id = create_org(conn, "default")
        key, _ = create_key(
            conn, org_id=org_id, name="quickstart", scopes=["write", "read"], pepper=pepper.encode()
        )
        link = sessions.create_link(conn, org_id, FIRST_LINK_TTL)
    url = f"http://{cfg.host}:{cfg.port}"
    console = console_url(cfg.public_url, cfg.host, cfg.port)
    click.echo(
        "\nCreated org 'default' and an API key with the write and read scopes.\n"
        "This key is shown once and never again; copy it now:\n\n"
        f"    {key}\n\n"
        f"The console (leads, keys, suppressions) is at {console}; sign in once with this link\n"
        f"(it works one time, for {FIRST_LINK_TTL.seconds // 3600} h; "
        "`l2i console link --org default` prints another):\n\n"
        f"    {console}/link#{link}\n\n"
        "Send a lead:\n\n"
        f"    curl -X POST {url}/v1/leads -H 'Authorization: Bearer {key}' "
        f"-H 'Content-Type: application/json' -d '{QUICKSTART_BODY}'\n"
    )


def _run_granian(cfg: Config, pepper: str) -> None:
    from granian import Granian

    from lead2inbound.ops.serving import granian_options, raise_nofile

    assert cfg.database_url and cfg.redis_url
    os.environ["L2I_DATABASE_URL"] = cfg.database_url
    os.environ["L2I_REDIS_URL"] = cfg.redis_url
    os.environ["L2I_KEY_PEPPER"] = pepper
    # the separate metrics listener sums what the workers write there, even with one worker
    if (cfg.workers > 1 or cfg.metrics_addr) and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="l2i-metrics-")
    options = granian_options(cfg, raise_nofile())
    click.echo(
        f"Serving on http://{cfg.host}:{cfg.port} with {cfg.workers} worker(s), up to "
        f"{options['backpressure']} connections each; Ctrl-C stops.",
        err=True,
    )
    with contextlib.ExitStack() as stack:
        if cfg.metrics_addr:
            _start_metrics_listener(cfg, stack)
        Granian("lead2inbound.asgi:app", **options).serve()


def _start_metrics_listener(cfg: Config, stack: contextlib.ExitStack) -> None:
    import select
    import subprocess

    from lead2inbound.ops.embedded import parent_death_preexec

    proc = subprocess.Popen(
        [sys.executable, "-m", "lead2inbound.ops.metrics_listener"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,  # it prints one line once it listens (ops/metrics_listener.py)
        preexec_fn=parent_death_preexec(signal.SIGTERM),
    )

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    stack.callback(stop)
    assert proc.stdout is not None
    # refuse to serve with no metrics (e.g. the port taken) rather than run blind
    ready, _, _ = select.select([proc.stdout], [], [], 15)
    line = proc.stdout.readline() if ready else b""
    proc.stdout.close()
    if not line.startswith(b"listening"):
        raise click.ClickException(
            f"the metrics listener could not start on {cfg.metrics_addr} (see above)"
        )
    click.echo(f"Metrics on http://{cfg.metrics_addr}/metrics (not on the API port).", err=True)


# --- migrate --------------------------------------------------------------------------------------


@main.command()
def migrate() -> None:
    """Apply pending schema migrations (forward only)."""
    from lead2inbound.store.migrate import migrate as run

    cfg = _config()
    try:
        ran = run(_database_url(cfg))
    except psycopg.OperationalError as exc:
        raise click.ClickException(f"cannot reach Postgres: {exc}") from None
    for mig in ran:
        click.echo(f"applied {mig.version:04d}_{mig.name}", err=True)
    if not ran:
        click.echo("schema is current", err=True)


# --- orgs -----------------------------------------------------------------------------------------


@main.group()
def orgs() -> None:
    """Organizations (tenants)."""


@orgs.command("create")
@click.argument("name")
def orgs_create(name: str) -> None:
    """Create an org; prints its id."""
    from lead2inbound.access.keystore import create_org

    with _connect(_config()) as conn:
        click.echo(create_org(conn, name))


@orgs.command("list")
def orgs_list() -> None:
    """List orgs."""
    with _connect(_config()) as conn:
        for org_id, name, created in conn.execute(
            "SELECT org_id, name, created_at FROM orgs ORDER BY created_at"
        ):
            click.echo(f"{org_id}  {created:%Y-%m-%d %H:%M}  {name}")


# --- keys -----------------------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """API keys."""


@keys.command("create")
@click.option("--org", required=True, help="Org id or name.")
@click.option("--name", required=True, help="What the key is for.")
@click.option("--scopes", default="write", show_default=True, help="write,read,dial,admin")
@click.option("--rate-limit", type=int, default=None, help="Requests per minute (default 120).")
@click.option("--test", "test", is_flag=True, help="A sandbox key (l2i_test_...).")
@click.option(
    "--publishable",
    is_flag=True,
    help="A form key for web pages (l2i_pk_live_...): write scope only, only from "
    "--allowed-origins, also limited per client address (docs/web-forms.md).",
)
@click.option(
    "--allowed-origins",
    default=None,
    help="Comma-separated web origins whose pages may use the key (CORS), e.g. "
    "https://a.example,https://b.example.",
)
@click.option(
    "--ip-rate-limit",
    type=int,
    default=None,
    help="Publishable keys: requests per minute per client address (default 20).",
)
@click.option("--success-url", default=None, help="Publishable keys: the form's thank-you URL.")
@click.option("--error-url", default=None, help="Publishable keys: the form's error URL.")
def keys_create(
    org: str,
    name: str,
    scopes: str,
    rate_limit: int | None,
    test: bool,
    publishable: bool,
    allowed_origins: str | None,
    ip_rate_limit: int | None,
    success_url: str | None,
    error_url: str | None,
) -> None:
    """Create a key. Prints the key once (and nothing else on stdout)."""
    from lead2inbound.access.keystore import (
        KeyStoreError,
        create_key,
        form_options,
        parse_scopes,
        resolve_org,
    )

    cfg = _config()
    pepper = _pepper(cfg)
    try:
        form = form_options(
            publishable=publishable,
            scopes=parse_scopes(scopes),
            allowed_origins=allowed_origins,
            ip_rate_limit=ip_rate_limit,
            success_url=success_url,
            error_url=error_url,
        )
        with _connect(cfg) as conn:
            key, info = create_key(
                conn,
                org_id=resolve_org(conn, org),
                name=name,
                scopes=parse_scopes(scopes),
                pepper=pepper.encode(),
                rate_limit=rate_limit or cfg.default_rate_limit,
                test=test,
                form=form,
            )
    except KeyStoreError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(key)
    click.echo(
        f"created key {info.key_id} ({', '.join(info.scopes)}); it is not shown again", err=True
    )


@keys.command("list")
@click.option("--org", required=True, help="Org id or name.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
def keys_list(org: str, as_json: bool) -> None:
    """List an org's keys (never the key itself)."""
    from lead2inbound.access.keystore import KeyStoreError, list_keys, resolve_org

    try:
        with _connect(_config()) as conn:
            infos = list_keys(conn, resolve_org(conn, org))
    except KeyStoreError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        for info in infos:
            click.echo(json.dumps(info.as_dict()))
        return
    browsers = any(i.form.publishable or i.form.allowed_origins for i in infos)
    click.echo(
        f"{'KEY ID':<13} {'NAME':<20} {'SCOPES':<22} {'LAST4':<6} {'RATE':>6}  "
        f"{'CREATED':<16}  {'LAST USED':<16}  REVOKED"
        + ("           KIND         ALLOWED ORIGINS" if browsers else "")
    )
    for i in infos:
        revoked = f"{i.revoked_at:%Y-%m-%d %H:%M}" if i.revoked_at else "-"
        click.echo(
            f"{i.key_id:<13} {i.name[:20]:<20} {','.join(i.scopes):<22} {i.last4:<6} "
            f"{i.rate_limit:>6}  {i.created_at:%Y-%m-%d %H:%M}  "
            f"{(f'{i.last_used_at:%Y-%m-%d %H:%M}' if i.last_used_at else '-'):<16}  "
            + (
                f"{revoked:<16}  {i.form.kind:<11}  {','.join(i.form.allowed_origins) or '-'}"
                if browsers
                else revoked
            )
        )


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key on every node (takes effect within a second)."""
    from lead2inbound.access.keystore import broadcast_revocation, revoke_key

    cfg = _config()
    with _connect(cfg) as conn:
        if not revoke_key(conn, key_id):
            raise click.ClickException(f"no key {key_id!r}")
    redis_url = _redis_url(cfg)
    if redis_url:
        redis_url, _cluster = cfg.with_(redis_url=redis_url).redis_target()  # PUBLISH: any node
        try:
            broadcast_revocation(redis_url, key_id)
        except Exception as exc:
            click.echo(
                f"warning: revocation broadcast failed ({exc}); workers drop the key "
                f"when their cache expires (L2I_KEY_CACHE_TTL_S={cfg.key_cache_ttl_s})",
                err=True,
            )
    click.echo(f"revoked {key_id}", err=True)


@main.command("requeue-duplicates")
@click.option("--key", "key_id", default=None, help="An API key id.")
@click.option("--source", "source_id", default=None, help="A lead source id.")
@click.argument("setting", type=click.Choice(["on", "off"]))
def requeue_duplicates(key_id: str | None, source_id: str | None, setting: str) -> None:
    """Mark a key or source whose re-posts put unsold leads back into the dial queue
    (docs/intake.md, "Unsold leads pushed back"); a key's workers see it within
    L2I_KEY_CACHE_TTL_S."""
    import uuid

    if (key_id is None) == (source_id is None):
        raise click.UsageError("give exactly one of --key and --source")
    cfg = _config()
    on = setting == "on"
    with _connect(cfg) as conn:
        if key_id is not None:
            done = conn.execute(
                "UPDATE api_keys SET requeue_duplicates = %s WHERE key_id = %s", (on, key_id)
            ).rowcount
        else:
            try:
                sid = uuid.UUID(source_id or "")
            except ValueError:
                raise click.ClickException(f"no source {source_id!r}") from None
            done = conn.execute(
                "UPDATE lead_sources SET requeue_duplicates = %s WHERE source_id = %s", (on, sid)
            ).rowcount
    if not done:
        raise click.ClickException(f"no such {'key' if key_id else 'source'}")
    click.echo(f"requeue_duplicates {setting} for {key_id or source_id}", err=True)


IMPORT_CHUNK = 256 * 1024


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--key",
    envvar="L2I_API_KEY",
    required=True,
    help="An API key with the write scope (or L2I_API_KEY).",
)
@click.option(
    "--url", default="http://127.0.0.1:8000", show_default=True, help="The running service."
)
@click.option(
    "--idempotency-key",
    default=None,
    help="Makes a retry of the same file safe (replays the first answer).",
)
@click.option("--charset", default="utf-8", show_default=True, help="The file's encoding.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole answer as JSON.")
def import_(
    file: Path, key: str, url: str, idempotency_key: str | None, charset: str, as_json: bool
) -> None:
    """Import a CSV file of leads through a running service (POST /v1/leads/import).

    The file is streamed (chunked) with a progress bar, never read whole into memory; the
    service writes rows in chunks as they arrive and answers with a summary and per-row errors.
    """
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.ClickException(f"--url must be http(s)://host[:port], not {url!r}")
    conn_cls = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = conn_cls(parts.hostname, parts.port, timeout=3600)
    size = file.stat().st_size
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": f"text/csv; charset={charset}",
        "Transfer-Encoding": "chunked",
    }
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    with (
        file.open("rb") as fh,
        click.progressbar(length=size, label="uploading", file=sys.stderr) as bar,
    ):

        def body() -> Iterator[bytes]:
            while chunk := fh.read(IMPORT_CHUNK):
                bar.update(len(chunk))
                yield chunk

        try:
            conn.request(
                "POST",
                parts.path.rstrip("/") + "/v1/leads/import",
                body=body(),
                headers=headers,
                encode_chunked=True,
            )
            resp = conn.getresponse()
            raw = resp.read()
        except OSError as exc:
            raise click.ClickException(f"could not reach {url}: {exc}") from None
    try:
        answer = json.loads(raw)
    except ValueError:
        raise click.ClickException(f"HTTP {resp.status}: {raw[:500]!r}") from None
    if resp.status != 200:
        raise click.ClickException(
            f"HTTP {resp.status} {answer.get('code', '')}: {answer.get('detail', answer)}"
        )
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    click.echo(
        f"rows {answer['rows']}  created {answer['created']}  "
        f"duplicates {answer['duplicates']}  failed {answer['failed']}"
        + ("  (replayed)" if resp.getheader("Idempotent-Replayed") else "")
    )
    for err in answer["errors"][:20]:
        problem = err["problem"]
        where = ", ".join(e["param"] for e in problem.get("errors") or []) or problem["code"]
        click.echo(f"  row {err['row']}: {where}: {problem['detail']}")
    more = answer["failed"] - min(20, len(answer["errors"]))
    if more > 0:
        click.echo(f"  ... {more} more (use --json)")
    if answer.get("stopped"):
        click.echo(f"stopped: {answer['stopped']}", err=True)


# --- suppressions -------------------------------------------------------------------------------


@main.group()
def suppressions() -> None:
    """The org's suppression list (opt-outs)."""


@suppressions.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--org", required=True, help="Org id or name.")
@click.option("--reason", default="import", show_default=True, help="Stored with each number.")
def suppressions_import(file: str, org: str, reason: str) -> None:
    """Add every number in FILE (one per line, any format; blank lines and # comments skipped).

    The whole file is validated first: if any line is not a possible phone number, every bad
    line is reported and nothing is stored. Then all numbers go in one transaction (COPY into a
    temp table, INSERT ... SELECT ... ON CONFLICT DO NOTHING), and the org's leads for them still
    waiting in the dial queue leave it, in the same transaction.
    """
    from datetime import UTC, datetime

    from lead2inbound import _core
    from lead2inbound.access.keystore import KeyStoreError, resolve_org
    from lead2inbound.store.suppressions import (
        CHANNEL,
        RECHECK_AFTER_S,
        analyze_after_import,
        dequeue_sync,
        import_numbers,
    )

    cfg = _config()
    with click.open_file(file, encoding="utf-8", errors="replace") as fh:
        lines = fh.read().splitlines()
    numbers: list[str] = []
    bad: list[str] = []
    chunk = 10_000
    with click.progressbar(length=len(lines), label="validating", file=sys.stderr) as bar:
        for start in range(0, len(lines), chunk):
            part = lines[start : start + chunk]
            wanted = [(start + i + 1, ln.strip()) for i, ln in enumerate(part)]
            wanted = [(n, ln) for n, ln in wanted if ln and not ln.startswith("#")]
            results = _core.normalize_many([ln for _, ln in wanted])
            for (n, ln), res in zip(wanted, results, strict=True):
                if isinstance(res, _core.InvalidPhone):
                    bad.append(f"line {n}: {ln[:60]!r} is not a possible phone ({res.reason})")
                else:
                    numbers.append(res.e164)
            bar.update(len(part))
    if bad:
        for message in bad[:1000]:
            click.echo(message, err=True)
        if len(bad) > 1000:
            click.echo(f"... and {len(bad) - 1000} more", err=True)
        raise click.ClickException(f"{len(bad)} bad line(s); nothing was imported")
    numbers = list(dict.fromkeys(numbers))
    with _connect(cfg) as conn:
        try:
            org_id = resolve_org(conn, org)
        except KeyStoreError as exc:
            raise click.ClickException(str(exc)) from None
        with conn.transaction():
            added, dequeued = import_numbers(conn, org_id, numbers, reason, datetime.now(UTC))
        analyze_after_import(conn, added)
    redis_url = _redis_url(cfg)
    if redis_url:  # workers rebuild their suppression hint (best effort; Postgres decides)
        import redis

        client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        try:
            client.publish(CHANNEL, f"{org_id} *")
        except Exception as exc:
            click.echo(f"warning: suppression broadcast failed ({exc})", err=True)
        finally:
            client.close()
    # A lead whose writer raced the import: take the numbers out once more (as the service does)
    time.sleep(RECHECK_AFTER_S)
    with _connect(cfg) as conn, conn.transaction():
        dequeued += len(dequeue_sync(conn, org_id, numbers, datetime.now(UTC)))
    click.echo(
        f"{added} added, {len(numbers) - added} already present, "
        f"{dequeued} queued lead(s) taken out of the dial queue"
    )


# --- dnc (dnc/cli.py) ----------------------------------------------------------------------------


def _dnc_secret_key(cfg: Config, embedded: bool) -> None:
    from lead2inbound.cli.dnc import secret_key

    key = secret_key(cfg, create=embedded)
    if key:
        os.environ["L2I_SECRET_KEY"] = key


from lead2inbound.cli.console import console as _console_commands  # noqa: E402
from lead2inbound.cli.dial import dial as _dial_commands  # noqa: E402
from lead2inbound.cli.dnc import dnc as _dnc_commands  # noqa: E402
from lead2inbound.cli.sources import sources as _sources_commands  # noqa: E402
from lead2inbound.cli.webhooks import webhooks as _webhooks_commands  # noqa: E402

main.add_command(_console_commands)
main.add_command(_dnc_commands)
main.add_command(_sources_commands)
main.add_command(_webhooks_commands)
main.add_command(_dial_commands)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


# --- privacy ----------------------------------------------------------------------------------


@main.command()
@click.option("--org", required=True, help="Org id or name.")
@click.option("--email", is_flag=True, help="TARGET is an email address, not a phone.")
@click.argument("target")
def erase(org: str, email: bool, target: str) -> None:
    """Erase a person's data on request (docs/privacy.md): every lead of ORG with the phone
    TARGET (any format) loses its personal data, the number is suppressed (`erasure`), and a
    record is kept. Idempotent: a repeat answers the first record."""
    import asyncio
    from datetime import UTC, datetime

    from lead2inbound.access.keystore import KeyStoreError, resolve_org
    from lead2inbound.contract.problems import ProblemError
    from lead2inbound.privacy.erasure import erase as erase_now
    from lead2inbound.privacy.erasure import target as erase_target

    cfg = _config()
    try:
        kind, value = erase_target(None if email else target, target if email else None)
    except ProblemError as exc:
        raise click.ClickException(f"{target!r} is not a possible phone number or email") from exc
    with _connect(cfg) as conn:
        try:
            org_id = resolve_org(conn, org)
        except KeyStoreError as exc:
            raise click.ClickException(str(exc)) from None

    async def run() -> dict[str, object]:
        async with await psycopg.AsyncConnection.connect(_database_url(cfg)) as conn:
            async with conn.transaction():
                record, _ = await erase_now(
                    conn,
                    org_id,
                    kind,
                    value,
                    requested_by="cli",
                    keep=cfg.erasure_keep,
                    now=datetime.now(UTC),
                )
            return record.as_dict()

    click.echo(json.dumps(asyncio.run(run())))
