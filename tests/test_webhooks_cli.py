"""`l2i webhooks create|list|rotate|test|replay|delete` against a real database, the test
delivery to a receiver on 127.0.0.1 verified with the `standardwebhooks` package."""

from __future__ import annotations

import json

from click.testing import CliRunner
from standardwebhooks.webhooks import Webhook

from lead2inbound.cli import main
from tests.fakes.receiver import Receiver
from tests.support.sources import SECRET_KEY
from tests.support.stack import make_org


def cli(database_url, *args, code=0, **env):
    base = {"L2I_DATABASE_URL": database_url, "L2I_SECRET_KEY": SECRET_KEY, **env}
    result = CliRunner().invoke(main, list(args), env=base, catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def test_webhooks_cli_lifecycle(database_url):
    make_org(database_url, "cli-org")
    receiver = Receiver().start()
    try:
        allow = {"L2I_WEBHOOKS_ALLOW_HTTP": "1", "L2I_WEBHOOKS_ALLOW_PRIVATE": "1"}
        refused = cli(database_url, "webhooks", "create", "--org", "cli-org", "--url",
                      receiver.url, code=1)  # fmt: skip
        assert "refused" in refused.output
        made = json.loads(
            cli(
                database_url,
                "webhooks",
                "create",
                "--org",
                "cli-org",
                "--url",
                receiver.url,
                "--types",
                "lead.*",
                **allow,
            ).stdout
        )
        assert made["secret"].startswith("whsec_") and made["types"] == ["lead.*"]
        listed = cli(database_url, "webhooks", "list", "--org", "cli-org").stdout
        assert made["id"] in listed and "whsec_" not in listed
        rotated = json.loads(
            cli(database_url, "webhooks", "rotate", "--org", "cli-org", made["id"]).stdout
        )
        sent = json.loads(
            cli(database_url, "webhooks", "test", "--org", "cli-org", made["id"], **allow).stdout
        )
        assert sent["status"] == 200
        (got,) = receiver.wait_for(1)
        assert got.id == sent["id"]
        assert Webhook(rotated["secret"]).verify(got.body, got.headers)["type"] == (
            "webhook_endpoint.test"
        )
        Webhook(made["secret"]).verify(got.body, got.headers)  # the overlap: both sign
        replay = cli(database_url, "webhooks", "replay", "--org", "cli-org", made["id"],
                     "--since", "2020-01-01T00:00:00+00:00").stdout  # fmt: skip
        assert json.loads(replay) == {"scheduled": 0}
        cli(database_url, "webhooks", "delete", "--org", "cli-org", made["id"])
        cli(database_url, "webhooks", "delete", "--org", "cli-org", made["id"], code=1)
    finally:
        receiver.stop()
