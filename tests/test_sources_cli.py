"""`l2i sources create|list|show|delete|test|secrets|presets` against a real database."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from lead2inbound.cli import main
from tests.support.sources import FIXTURES, SECRET_KEY
from tests.support.stack import PEPPER, fetch, make_org


def cli(database_url, *args, code=0):
    env = {"L2I_DATABASE_URL": database_url, "L2I_SECRET_KEY": SECRET_KEY, "L2I_KEY_PEPPER": PEPPER}
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


@pytest.fixture
def org(database_url):
    return make_org(database_url, "cli-org")


def test_sources_cli_lifecycle(database_url, org, tmp_path):
    presets = [
        json.loads(line) for line in cli(database_url, "sources", "presets").stdout.splitlines()
    ]
    assert {p["name"] for p in presets} >= {"hubspot", "unbounce", "facebook", "zapier"}

    made = json.loads(
        cli(
            database_url, "sources", "create", "--org", "cli-org", "--name", "ub",
            "--preset", "unbounce",
        ).stdout
    )  # fmt: skip
    sid = made["source_id"]
    assert made["format"] == "form_json" and made["json_field"] == "data.json"
    listed = cli(database_url, "sources", "list", "--org", org.org_id).stdout
    assert sid in listed and "form_json" in listed
    shown = json.loads(cli(database_url, "sources", "show", "--org", "cli-org", sid).stdout)
    assert shown["mapping"] == made["mapping"]

    ok = cli(
        database_url, "sources", "test", "--org", "cli-org", sid,
        str(FIXTURES / "unbounce_form_submit.txt"),
    )  # fmt: skip
    out = json.loads(ok.stdout)
    assert out["valid"] is True and out["phone"] == "+15125550158" and out["stored"] is False
    assert out["lead"]["first_name"] == "Sam" and out["eligible"] is True

    bad = tmp_path / "bad-unbounce.txt"
    bad.write_bytes(
        (FIXTURES / "unbounce_form_submit.txt").read_bytes().replace(b"512-555-0158", b"12")
    )
    refused = cli(database_url, "sources", "test", "--org", "cli-org", sid, str(bad), code=1)
    problems = json.loads(refused.stdout)["problems"]
    assert problems[0]["code"] == "invalid_phone"
    assert problems[0]["param"] == "/data.json/phone_number"
    assert fetch(database_url, "SELECT count(*) FROM leads")[0][0] == 0

    signed = json.loads(
        cli(
            database_url, "sources", "create", "--org", "cli-org", "--name", "tf",
            "--preset", "typeform", "--secret", "first-secret-value",
        ).stdout
    )  # fmt: skip
    assert signed["secrets"] == ["secret"] and "first-secret-value" not in json.dumps(signed)
    before = fetch(database_url, "SELECT secrets FROM lead_sources WHERE name = 'tf'")[0][0]
    cli(
        database_url, "sources", "secrets", "--org", "cli-org", signed["source_id"],
        "--secret", "rotated-secret-value",
    )  # fmt: skip
    after = fetch(database_url, "SELECT secrets FROM lead_sources WHERE name = 'tf'")[0][0]
    assert bytes(after) != bytes(before)

    cli(database_url, "sources", "delete", "--org", "cli-org", sid)
    assert sid not in cli(database_url, "sources", "list", "--org", "cli-org").stdout
    missing = cli(database_url, "sources", "show", "--org", "cli-org", sid, code=1)
    assert "no source" in missing.output
    # another org's source is not found either
    other = make_org(database_url, "other-org")
    assert other
    cli(database_url, "sources", "show", "--org", "other-org", signed["source_id"], code=1)


def test_bad_source_is_refused_with_the_reason(database_url, org):
    result = cli(
        database_url, "sources", "create", "--org", "cli-org", "--name", "x",
        "--mapping", '{"first_name": "/a"}',
        code=1,
    )  # fmt: skip
    assert "phone" in result.output


def test_rekey_reseals_source_secrets(database_url, org):
    from lead2inbound.dnc.crypto import SecretBox
    from lead2inbound.sources.store import get

    made = json.loads(
        cli(
            database_url, "sources", "create", "--org", "cli-org", "--name", "tf",
            "--preset", "typeform", "--secret", "the-signing-secret",
        ).stdout
    )  # fmt: skip
    new_key = "a-brand-new-secret-key-" + "n" * 20
    env = {
        "L2I_DATABASE_URL": database_url,
        "L2I_SECRET_KEY": new_key,
        "L2I_SECRET_KEY_OLD": SECRET_KEY,
    }
    result = CliRunner().invoke(main, ["dnc", "rekey"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "re-sealed 1 lead source secret(s)" in result.output
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        source = get(conn, made["source_id"], org.org_id)
    assert source is not None
    assert source.secrets(SecretBox(new_key)) == {"secret": "the-signing-secret"}
