"""Vendors that can be given a URL and nothing else (issue 22, items 2 and 3): each preset's
documented example posted as the vendor sends it (its content type and headers, no
`Authorization`) to the source's URL, with the vendor's own secret or signature where it has one;
the stored lead checked field by field; a wrong or missing secret or signature is a 401 and
nothing is stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import httpx
import standardwebhooks

from lead2inbound.sources import hooks
from lead2inbound.sources.presets import PRESETS
from tests.support.source_fixtures import source_org, source_service  # noqa: F401
from tests.support.sources import create_source, fixture, stored_leads, the_lead

JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
GOOGLE_KEY = "advertiser-typed-key-9c1f"  # the fixture's google_key
CALENDLY_KEY = "calendly-signing-key-0123456789abcdef"
WEBFLOW_SECRET = "webflow-oauth-client-secret-0123456789"


def post(service, source, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{service.url}{source['hook_url']}", content=body, headers=headers)


def test_the_new_presets_are_valid_sources():
    from lead2inbound.sources.store import plan

    for name in (
        "google-ads",
        "webflow",
        "calendly",
        "activecampaign",
        "elementor",
        "jotform",
        "wpforms",
    ):
        secrets = {"body_secret": "b"} if name == "google-ads" else {"secret": "s"}
        planned = plan(name=name, preset=name, secrets=secrets)
        assert planned["mapping"] == PRESETS[name].mapping
    assert plan(name="w", preset="webflow")["success_status"] == 200


def test_google_ads_lead_form(service, database_url, org):
    source = create_source(
        service.url, org.key("admin"), name="google", preset="google-ads", body_secret=GOOGLE_KEY
    )
    body = fixture("google_ads_lead_form.json")
    wrong = body.replace(GOOGLE_KEY.encode(), b"not-the-advertiser-key")
    missing = json.dumps({k: v for k, v in json.loads(body).items() if k != "google_key"})
    for bad in (wrong, missing.encode()):
        assert post(service, source, bad, JSON).status_code == 401
    assert stored_leads(database_url, org.org_id) == []
    resp = post(service, source, body, JSON)
    assert resp.status_code == 200, resp.text  # Google Ads: the preset answers 200
    assert resp.json()["outcome"] == "created"
    lead = the_lead(database_url, org.org_id)
    assert lead["source"] == "google" and lead["phone"] == "+15125550131"
    assert (lead["first_name"], lead["last_name"]) == ("Nora", "Quinn")
    assert lead["email"] == "nora.quinn@example.com"
    assert (lead["city"], lead["state"], lead["postal_code"]) == ("Austin", "TX", "78701")
    assert lead["external_id"].startswith("TeSter-123-")
    assert lead["attribution"] == {
        "utm_source": "google",
        "gclid": "TeSter-123-gclid",
        "campaign_id": "20000000000",
        "ad_id": "30000000000",
    }
    assert lead["custom_fields"] == {
        "google_form_id": "40000000000",
        "google_is_test": "true",
        "when_do_you_want_the_work_done?": "This month",
    }
    assert GOOGLE_KEY not in json.dumps(lead, default=str)  # the key is never stored
    assert lead["reasons"] == "missing_consent" or "missing_consent" in lead["reasons"]


def webflow_headers(body: bytes, secret: str = WEBFLOW_SECRET) -> dict[str, str]:
    stamp = str(int(time.time() * 1000))
    mac = hmac.new(secret.encode(), stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {**JSON, "x-webflow-timestamp": stamp, "x-webflow-signature": mac}


def test_webflow_form_submission_unsigned_and_signed(service, database_url, org):
    body = fixture("webflow_form_submission.json")
    plain = create_source(service.url, org.key("admin"), name="webflow", preset="webflow")
    resp = post(service, plain, body, JSON)  # a dashboard-made webhook: the URL alone
    assert resp.status_code == 200, resp.text  # anything else is a failure to Webflow
    lead = the_lead(database_url, org.org_id)
    assert lead["phone"] == "+15125550152"  # sent as a JSON number
    assert (lead["first_name"], lead["last_name"]) == ("Zaphod", "Beeblebrox")
    assert lead["email"] == "zaphod@heartofgold.ai"
    assert lead["external_id"] == "6321ca84df3949bfc6752327"
    assert lead["custom_fields"] == {"webflow_form": "Contact Us"}
    again = post(service, plain, body, JSON)  # Webflow's retry: a duplicate, 200
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"

    signed = create_source(
        service.url,
        org.key("admin"),
        name="webflow-app",
        preset="webflow",
        signature="webflow",
        secret=WEBFLOW_SECRET,
    )
    for bad in (JSON, webflow_headers(body, "another-secret")):
        assert post(service, signed, body, bad).status_code == 401
    stale = webflow_headers(body)
    stale["x-webflow-timestamp"] = str(int(time.time() * 1000) - 600_000)
    assert post(service, signed, body, stale).status_code == 401
    good = webflow_headers(body)
    accepted = post(service, signed, body, good)
    assert accepted.status_code == 200 and accepted.json()["outcome"] == "duplicate"  # same phone
    assert post(service, signed, body, good).status_code == 401  # replayed
    assert len(stored_leads(database_url, org.org_id)) == 1


def calendly_header(body: bytes, key: str = CALENDLY_KEY, stamp: int | None = None) -> str:
    t = str(int(time.time()) if stamp is None else stamp)
    return (
        f"t={t},v1={hmac.new(key.encode(), t.encode() + b'.' + body, hashlib.sha256).hexdigest()}"
    )


def test_calendly_invitee_created(service, database_url, org):
    source = create_source(
        service.url, org.key("admin"), name="calendly", preset="calendly", secret=CALENDLY_KEY
    )
    body = fixture("calendly_invitee_created.json")
    for bad in (
        JSON,
        {**JSON, "Calendly-Webhook-Signature": calendly_header(body, "wrong-key")},
        {**JSON, "Calendly-Webhook-Signature": calendly_header(body, stamp=int(time.time()) - 900)},
    ):
        assert post(service, source, body, bad).status_code == 401
    assert stored_leads(database_url, org.org_id) == []
    resp = post(
        service, source, body, {**JSON, "Calendly-Webhook-Signature": calendly_header(body)}
    )
    assert resp.status_code == 201, resp.text
    lead = the_lead(database_url, org.org_id)
    assert lead["phone"] == "+15125550163"
    assert (lead["first_name"], lead["last_name"]) == ("John", "Doe")
    assert lead["email"] == "test@example.com"
    assert lead["external_id"].endswith("/invitees/AAAAAAAAAAAAAAAA")
    assert lead["attribution"] == {
        "utm_source": "newsletter",
        "utm_medium": "email",
        "utm_campaign": "spring",
    }
    assert lead["custom_fields"] == {
        "calendly_event": "15 Minute Meeting",
        "calendly_start": "2026-07-08T15:00:00.000000Z",
        "What can we help with?": "Roof inspection",
    }


def test_activecampaign_contact_webhook(service, database_url, org):
    source = create_source(service.url, org.key("admin"), name="ac", preset="activecampaign")
    resp = post(service, source, fixture("activecampaign_subscribe.txt"), FORM)
    assert resp.status_code == 201, resp.text
    lead = the_lead(database_url, org.org_id)
    assert lead["phone"] == "+15125550174" and lead["phone_raw"] == "(512) 555-0174"
    assert (lead["first_name"], lead["last_name"]) == ("Pat", "Rivera")
    assert lead["email"] == "pat@example.com" and lead["external_id"] == "42"
    assert lead["consent"] == {"ip_address": "203.0.113.9"}
    assert lead["custom_fields"] == {
        "activecampaign_type": "subscribe",
        "activecampaign_tags": "roofing, spring",
        "list": "1",
    }


def test_elementor_pro_webhook_with_advanced_data(service, database_url, org):
    source = create_source(service.url, org.key("admin"), name="elementor", preset="elementor")
    resp = post(service, source, fixture("elementor_webhook_advanced.txt"), FORM)
    assert resp.status_code == 201, resp.text
    lead = the_lead(database_url, org.org_id)
    assert lead["phone"] == "+15125550185"
    assert (lead["first_name"], lead["last_name"]) == ("Lee", "Park")
    assert lead["email"] == "lee@example.com"
    assert lead["consent"] == {
        "source_url": "https://example.com/quote/",
        "ip_address": "198.51.100.7",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
    }
    assert lead["attribution"] == {"landing_page": "https://example.com/quote/"}
    assert lead["custom_fields"] == {"elementor_form": "Quote form", "message": "Need a quote"}


def test_standard_webhooks_signature(service, database_url, org):
    secret = "whsec_" + base64.b64encode(b"standard-webhooks-key-0123").decode()
    source = create_source(
        service.url,
        org.key("admin"),
        name="std",
        mapping={"phone": "/phone", "first_name": "/name"},
        signature="standard-webhooks",
        secret=secret,
    )
    body = json.dumps({"phone": "+15125550196", "name": "Ada"})
    signer = standardwebhooks.Webhook(secret)
    now = datetime.now(UTC)
    headers = {
        **JSON,
        "webhook-id": "msg_2Lh9KRB1Ec0V2z",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signer.sign("msg_2Lh9KRB1Ec0V2z", now, body),
    }
    wrong = standardwebhooks.Webhook("whsec_" + base64.b64encode(b"x" * 24).decode())
    bad = {**headers, "webhook-signature": wrong.sign("msg_2Lh9KRB1Ec0V2z", now, body)}
    assert post(service, source, body.encode(), bad).status_code == 401
    assert post(service, source, body.encode(), headers).status_code == 201
    assert post(service, source, body.encode(), headers).status_code == 401  # same message id
    assert the_lead(database_url, org.org_id)["first_name"] == "Ada"


def _typeform_with_generated_refs(titles: dict[str, str]) -> dict:
    doc = json.loads(fixture("typeform_form_response.json"))
    fields = doc["form_response"]["definition"]["fields"]
    for i, item in enumerate(fields):
        item["ref"] = f"01J1Z4QK8N3V5Q7W9Y2B4D6F{i:02d}"  # what real forms have
        item["title"] = titles.get(item["id"], item["title"])
    for answer in doc["form_response"]["answers"]:
        answer["field"]["ref"] = next(f["ref"] for f in fields if f["id"] == answer["field"]["id"])
    return doc


def test_typeform_names_found_by_question_type_and_title():
    from lead2inbound.sources.mapping import apply

    mapping = PRESETS["typeform"].mapping
    doc = _typeform_with_generated_refs({})  # "What's your first name?", "And your last name?"
    data = apply(doc, mapping).data
    assert (data["first_name"], data["last_name"]) == ("Laura", "Smith")

    # one "name" question: split
    one = _typeform_with_generated_refs({"DlXFaesGBpoF": "What's your full name?"})
    one["form_response"]["definition"]["fields"].pop(1)
    one["form_response"]["answers"].pop(1)
    one["form_response"]["answers"][0]["text"] = "Laura Ann Smith"
    data = apply(one, mapping).data
    assert (data["first_name"], data["last_name"]) == ("Laura", "Ann Smith")


def test_formstack_with_its_handshake_key(service, database_url, org):
    source = create_source(
        service.url,
        org.key("admin"),
        name="formstack",
        preset="formstack",
        body_secret="form-owner-handshake-key",
    )
    body = fixture("formstack_contact_form.json")
    assert post(service, source, body.replace(b"form-owner", b"guessed"), JSON).status_code == 401
    assert stored_leads(database_url, org.org_id) == []
    resp = post(service, source, body, JSON)
    assert resp.status_code == 201, resp.text
    lead = the_lead(database_url, org.org_id)
    assert lead["phone"] == "+12345550142"
    assert (lead["first_name"], lead["last_name"]) == ("John", "Smith")
    assert lead["email"] == "user@example.com"
    assert (lead["address"], lead["city"], lead["state"], lead["postal_code"]) == (
        "123 Main St",
        "Springfield",
        "IL",
        "62701",
    )
    assert lead["external_id"] == "12345678"
    assert lead["custom_fields"] == {"formstack_form": "23534"}
    assert "handshake" not in json.dumps(lead, default=str)


def test_jotform_multipart_raw_request(service, database_url, org):
    source = create_source(service.url, org.key("admin"), name="jotform", preset="jotform")
    headers = {
        "Content-Type": "multipart/form-data; boundary=------WebKitFormBoundaryJ0tf0rmW3bh00k"
    }
    resp = post(service, source, fixture("jotform_webhook.multipart"), headers)
    assert resp.status_code == 201, resp.text
    lead = the_lead(database_url, org.org_id)
    assert lead["phone"] == "+15125550199" and lead["phone_raw"] == "(512) 555-0199"
    assert (lead["first_name"], lead["last_name"]) == ("Ivy", "Chen")
    assert lead["email"] == "ivy.chen@example.com"
    assert lead["external_id"] == "5912345678901234567"
    assert lead["consent"] == {"ip_address": "203.0.113.44"}
    assert lead["custom_fields"] == {
        "jotform_form": "241234567890123",
        "q6_whatService": "Gutter repair",
    }


def wpforms_headers(body: bytes) -> dict[str, str]:
    """What the WPForms Webhooks addon sends with a JSON Request Format: its content type, its
    user agent, the webhook's id and its Stripe-like signature (no Authorization)."""
    stamp = str(int(time.time()))
    mac = hmac.new(b"addon-generated-secret", stamp.encode() + b"." + body, hashlib.sha256)
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "wpforms-webhooks/1.3.0",
        "X-WPForms-Webhook-Id": "1",
        "X-WPForms-Webhook-Signature": f"t={stamp},v={mac.hexdigest()}",
    }


def test_wpforms_webhooks_addon(service, database_url, org):
    source = create_source(service.url, org.key("admin"), name="wpforms", preset="wpforms")
    body = fixture("wpforms_webhook.json")  # wp_json_encode's own escapes: \/ and \u2014
    assert b"\\/" in body and b"\\u2014" in body
    headers = wpforms_headers(body)
    token = source["hook_url"].rsplit("/", 1)[1]
    wrong = [
        f"/v1/hooks/{token[:22]}{hooks.mint()[0][22:]}",  # its id, another secret
        f"/v1/hooks/{token[:-1]}{'A' if token[-1] != 'A' else 'B'}",  # checksum broken
        f"/v1/sources/{source['source_id']}/leads",  # the ingest URL without its token or a key
    ]
    for path in wrong:
        resp = httpx.post(f"{service.url}{path}", content=body, headers=headers)
        assert resp.status_code == 401, (path, resp.text)
    assert stored_leads(database_url, org.org_id) == []

    resp = post(service, source, body, headers)
    assert resp.status_code == 201, resp.text  # WPForms only logs transport errors: any 2xx
    assert resp.json()["outcome"] == "created"
    lead = the_lead(database_url, org.org_id)
    assert lead["source"] == "wpforms"
    assert lead["phone"] == "+15125550177" and lead["phone_raw"] == "(512) 555-0177"
    assert (lead["first_name"], lead["last_name"]) == ("Maya", "Ortiz")
    assert lead["email"] == "maya.ortiz@example.com"
    assert (lead["state"], lead["postal_code"]) == ("TX", "78704")  # "Texas" from a dropdown
    assert (lead["city"], lead["address"]) == (None, None)
    assert lead["external_id"] == "184"
    assert lead["consent"] == {
        "source_url": "https://example.com/get-a-quote/",
        "ip_address": "203.0.113.61",
    }
    assert lead["attribution"] == {"landing_page": "https://example.com/get-a-quote/"}
    assert lead["custom_fields"] == {
        "wpforms_form": "27",
        "message": "Roof leak over the garage \u2014 need a quote",
    }
    # a consent block (page, address) without a time: held, the gate fails closed
    assert lead["reasons"] == ["invalid_consent"]
    again = post(service, source, body, wpforms_headers(body))
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    assert len(stored_leads(database_url, org.org_id)) == 1
