"""Every mapping conversion is total over vendor data (issue 21): whatever JSON value a vendor
sends where a source converts (`as`: datetime, string, digits), the mapping gives a value or a
warning, and the preview answers; never an exception (a 500 a vendor retries forever)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lead2inbound.sources.mapping import apply
from lead2inbound.sources.preview import preview
from lead2inbound.sources.store import Source

KINDS = ("datetime", "string", "digits")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
HOSTILE = st.sampled_from(
    [
        99999999999999999999,
        -99999999999999999999,
        10**400,
        1e308,
        -1e308,
        "99999999999999999999",
        "²³",
        "١٢٣",
        "9" * 400,
        True,
        False,
        None,
        {"a": [1, {"b": None}]},
        [],
        ["2026-07-05T12:00:00Z", "x"],
        "2026-07-05T12:00:00+99:00",
        "0000-00-00 00:00:00",
        "\x00",
    ]
)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | HOSTILE,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
RULES = st.sampled_from(
    [
        lambda kind: {"path": "/x", "as": kind},
        lambda kind: {"first": ["/missing", "/x"], "as": kind},
        lambda kind: {"join": ["/x", "/x"], "as": kind},
        lambda kind: {"find": "/list", "where": {"/k": "v"}, "get": "/x", "as": kind},
    ]
)


def _source(mapping: dict) -> Source:
    return Source(
        org_id="00000000-0000-0000-0000-000000000001",
        source_id="00000000-0000-0000-0000-000000000002",
        name="conversions",
        preset=None,
        format="json",
        json_field=None,
        mapping=mapping,
        options={},
        signature="none",
        sealed=None,
        key_id=None,
        sandbox=False,
        rate_limit=120,
        created_at=datetime.now(UTC),
    )


@pytest.mark.parametrize("kind", KINDS)
@given(value=JSON, rule=RULES)
def test_every_conversion_is_total(kind, value, rule):
    doc = {"x": value, "list": [{"k": "v", "x": value}], "phone": "+15125550143"}
    mapping = {"phone": "/phone", "consent.consent_timestamp": rule(kind)}
    mapped = apply(doc, mapping)  # never raises
    got = mapped.data.get("consent", {}).get("consent_timestamp")
    assert got is None or isinstance(got, str)
    if kind == "datetime" and got is not None and not RFC3339.match(got):
        assert any("is not a time" in w for w in mapped.warnings), mapped.warnings
    if kind == "digits" and got is not None:
        assert got.isascii() and got.isdigit()
    # and the whole path a preview (and an ingest) takes: an answer, never an exception
    source = _source(mapping)
    out = preview(
        source,
        json.dumps(doc).encode(),
        "application/json",
        key_id="k",
        sandbox=False,
        consent_skew_s=300,
    )
    assert isinstance(out["valid"], bool)
    assert out["warnings"] == mapped.warnings


@given(value=JSON)
def test_parse_time_is_none_or_rfc3339(value):
    from lead2inbound.sources.mapping import parse_time

    got = parse_time(value)
    assert got is None or isinstance(got, str)
    if got is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        assert RFC3339.match(got)


@pytest.mark.parametrize(
    "value", [99999999999999999999, "99999999999999999999", 1e308, -(10**30), "²"]
)
def test_numbers_no_calendar_holds_are_kept_as_text(value):
    from lead2inbound.sources.mapping import as_text, parse_time, to_datetime

    assert parse_time(value) is None
    assert to_datetime(value) == (value if isinstance(value, str) else as_text(value))
    mapped = apply(
        {"p": "+15125550143", "t": value},
        {"phone": "/p", "consent.consent_timestamp": {"path": "/t", "as": "datetime"}},
    )
    assert mapped.warnings == ["/t is not a time this service can read: kept as given"]


# --- the reproduction over HTTP (real Granian, Postgres, Redis) -------------------------------

TYPEFORM_SECRET = "typeform-webhook-secret-0123456789"


@pytest.fixture
def service(server_factory, database_url, redis_url):
    from tests.support.sources import SECRET_KEY
    from tests.support.stack import service_env

    return server_factory(service_env(database_url, redis_url, L2I_SECRET_KEY=SECRET_KEY))


def test_a_signed_typeform_post_with_a_time_no_calendar_holds(service, database_url):
    """Was a 500 (ingest and preview), which a vendor retries forever: now the lead is stored,
    its consent time kept as given (the gate fails closed: invalid_consent), with a warning."""
    import base64
    import hashlib
    import hmac

    import httpx

    from tests.support.sources import create_source, fixture, the_lead
    from tests.support.stack import auth, make_org

    org = make_org(database_url)
    source = create_source(
        service.url, org.key("admin"), name="typeform", preset="typeform", secret=TYPEFORM_SECRET
    )
    doc = json.loads(fixture("typeform_form_response.json"))
    doc["form_response"]["submitted_at"] = 99999999999999999999
    body = json.dumps(doc).encode()
    mac = hmac.new(TYPEFORM_SECRET.encode(), body, hashlib.sha256).digest()
    headers = {
        "Content-Type": "application/json",
        "Typeform-Signature": "sha256=" + base64.b64encode(mac).decode(),
    }
    url = f"{service.url}{source['ingest_url']}"
    preview_resp = httpx.post(
        f"{service.url}/v1/sources/{source['source_id']}/preview",
        content=body,
        headers={**headers, **auth(org.key("admin"))},
    )
    assert preview_resp.status_code == 200, preview_resp.text
    got = preview_resp.json()
    assert got["valid"] is True and got["reasons"] == ["invalid_consent"]
    assert (
        "/form_response/submitted_at is not a time this service can read: kept as given"
        in (got["warnings"])
    )
    resp = httpx.post(url, content=body, headers=headers)
    assert resp.status_code == 201, resp.text
    assert resp.json()["reasons"] == ["invalid_consent"]
    lead = the_lead(database_url, org.org_id)
    assert lead["consent"]["consent_timestamp"] == "99999999999999999999"
    assert lead["phone"] == "+15125550162"
