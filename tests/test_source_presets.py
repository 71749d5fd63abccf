"""Each vendor preset with the vendor's documented payload posted verbatim (tests/fixtures/sources)
and the stored lead checked field by field. Facebook Lead Ads: tests/test_facebook_leads.py."""

from __future__ import annotations

import base64
import hashlib
import hmac

import httpx

from lead2inbound.sources.presets import PRESETS
from tests.support.source_fixtures import source_org, source_service  # noqa: F401
from tests.support.sources import create_source, fixture, the_lead
from tests.support.stack import auth

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}
TYPEFORM_SECRET = "typeform-webhook-secret-0123456789"


def post(service, source, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{service.url}{source['ingest_url']}", content=body, headers=headers)


def test_every_preset_is_a_valid_source():
    from lead2inbound.sources.store import plan

    for name in PRESETS:
        secrets = {"secret": "s", "verify_token": "v", "page_token": "p"}
        if PRESETS[name].options.get("body_secret_at"):
            secrets["body_secret"] = "b"
        planned = plan(name=name, preset=name, secrets=secrets)
        assert planned["mapping"] == PRESETS[name].mapping
    assert {"hubspot", "unbounce", "gravity-forms", "typeform", "facebook", "zapier"} <= set(
        PRESETS
    )


def test_hubspot_workflow_webhook(service, database_url, org):
    source = create_source(service.url, org.key("admin"), name="hubspot", preset="hubspot")
    resp = post(
        service,
        source,
        fixture("hubspot_workflow_contact.json"),
        {**JSON, **auth(org.key("write"))},
    )
    assert resp.status_code == 201, resp.text
    lead = the_lead(database_url, org.org_id)
    assert lead["source"] == "hubspot"
    assert lead["phone"] == "+15125550143" and lead["phone_raw"] == "(512) 555-0143"
    assert (lead["first_name"], lead["last_name"]) == ("Jane", "Doe")
    assert lead["email"] == "jane.doe@example.com"
    assert (lead["state"], lead["postal_code"], lead["city"]) == ("TX", "78701", "Austin")
    assert lead["address"] == "100 Congress Ave"
    assert lead["external_id"] == "3234574"
    assert lead["consent"] == {
        "consent_timestamp": "2025-07-05T12:00:00Z",
        "source_url": "https://example.com/quote",
        "consent_text_version": "b2a4c6e8-1f3d-4a5b-9c7e-0d2f4a6b8c0e",
    }
    assert lead["attribution"] == {"landing_page": "https://example.com/quote"}
    assert lead["custom_fields"] == {
        "company": "Acme Roofing",
        "lifecyclestage": "lead",
        "hs_analytics_source": "PAID_SEARCH",
    }
    assert lead["status"] == "new" and lead["reasons"] == []


def test_unbounce_form_with_data_json(service, database_url, org):
    source = create_source(service.url, org.key("admin"), name="unbounce", preset="unbounce")
    resp = post(
        service, source, fixture("unbounce_form_submit.txt"), {**FORM, **auth(org.key("write"))}
    )
    assert resp.status_code == 201, resp.text
    lead = the_lead(database_url, org.org_id)
    assert lead["source"] == "unbounce"
    assert lead["phone"] == "+15125550158" and lead["phone_raw"] == "512-555-0158"
    assert (lead["first_name"], lead["last_name"]) == ("Sam", "Rivera")
    assert lead["email"] == "sam.rivera@example.com" and lead["state"] == "TX"
    assert lead["consent"] == {
        "consent_timestamp": "2026-07-05T16:19:00Z",  # date_submitted + time_submitted
        "ip_address": "198.51.100.23",
        "source_url": "https://unbouncepages.com/roof-quote/",
        "consent_text_version": "a2838d98-4cf4-11df-a3fd-00163e372d58:b",
    }
    assert lead["attribution"] == {
        "landing_page": "https://unbouncepages.com/roof-quote/",
        "utm_source": "facebook",
        "utm_campaign": "spring-promo",
    }
    assert lead["custom_fields"] == {"how_soon_do_you_need_a_roof?": "Within 3 months"}
    assert lead["status"] == "new"


def test_gravity_forms_webhooks_add_on(service, database_url, org):
    source = create_source(service.url, org.key("admin"), name="gravity", preset="gravity-forms")
    resp = post(
        service, source, fixture("gravity_forms_entry.json"), {**JSON, **auth(org.key("write"))}
    )
    assert resp.status_code == 201, resp.text
    lead = the_lead(database_url, org.org_id)
    assert lead["source"] == "gravity"
    assert lead["phone"] == "+12145550187"
    assert (lead["first_name"], lead["last_name"]) == ("Maria", "Lopez")
    assert lead["email"] == "maria.lopez@example.com"
    assert (lead["address"], lead["city"], lead["state"], lead["postal_code"]) == (
        "2200 Ross Ave",
        "Dallas",
        "TX",
        "75201",
    )
    assert lead["external_id"] == "217"
    consent = lead["consent"]
    assert consent["consent_timestamp"] == "2026-07-05T12:00:00Z"
    assert consent["consent_text"].startswith("I agree that Example Solar may call")
    assert consent["consent_text_version"] == "4"
    assert consent["ip_address"] == "203.0.113.24"
    assert consent["user_agent"].startswith("Mozilla/5.0")
    assert consent["source_url"] == "https://example.com/solar-quote/"
    assert lead["attribution"] == {"landing_page": "https://example.com/solar-quote/"}
    assert lead["custom_fields"] == {"6": "Monthly bill over $200"}
    assert lead["status"] == "new"


def test_gravity_forms_unticked_consent_is_ineligible(service, database_url, org):
    source = create_source(service.url, org.key("admin"), name="gf", preset="gravity-forms")
    body = fixture("gravity_forms_entry.json").replace(b'"5.1": "1"', b'"5.1": ""')
    resp = post(service, source, body, {**JSON, **auth(org.key("write"))})
    assert resp.status_code == 201
    assert resp.json()["reasons"] == ["invalid_consent"]  # the text without a time: fail closed


def typeform_signature(body: bytes, secret: str = TYPEFORM_SECRET) -> str:
    mac = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(mac).decode()


def test_typeform_signed_webhook(service, database_url, org):
    source = create_source(
        service.url, org.key("admin"), name="typeform", preset="typeform", secret=TYPEFORM_SECRET
    )
    body = fixture("typeform_form_response.json")
    resp = post(service, source, body, {**JSON, "Typeform-Signature": typeform_signature(body)})
    assert resp.status_code == 201, resp.text
    lead = the_lead(database_url, org.org_id)
    assert lead["source"] == "typeform"
    assert lead["api_key_id"] == f"src:{source['source_id']}" and lead["sandbox"] is False
    assert lead["phone"] == "+15125550162"
    assert (lead["first_name"], lead["last_name"]) == ("Laura", "Smith")
    assert lead["email"] == "laura@example.com"
    assert lead["external_id"] == "a3a12ec67a1365927098a606107fac15"
    assert lead["consent"] == {
        "consent_timestamp": "2026-07-05T12:00:00Z",
        "consent_text": "By checking this box, I agree that Example Roofing may call me at the "
        "number above, including with automated technology and AI voice.",
        "consent_text_version": "lT4Z3j",
    }
    assert lead["attribution"] == {
        "utm_source": "google",
        "utm_campaign": "summer-roofing",
        "gclid": "Cj0KCQjw-example",
    }
    assert lead["custom_fields"] == {"partner": "north-region"}
    assert lead["status"] == "new"


def test_zapier_flat_form(service, database_url, org):
    source = create_source(service.url, org.key("admin"), name="zapier", preset="zapier")
    resp = post(
        service, source, fixture("zapier_webhooks_post.txt"), {**FORM, **auth(org.key("write"))}
    )
    assert resp.status_code == 201, resp.text
    lead = the_lead(database_url, org.org_id)
    assert lead["source"] == "zapier"
    assert lead["phone"] == "+17375550124"
    assert (lead["first_name"], lead["last_name"]) == ("Alex", "Kim")
    assert lead["email"] == "alex.kim@example.com"
    assert (lead["state"], lead["postal_code"]) == ("TX", "78660")
    assert lead["consent"] == {
        "consent_timestamp": "2026-07-05T12:00:00Z",
        "consent_text_version": "quote-form-v3",
        "source_url": "https://example.com/quote",
        "trustedform_cert_url": "https://cert.trustedform.com/2b1a3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
    }
    assert lead["attribution"] == {
        "utm_source": "google",
        "utm_medium": "cpc",
        "gclid": "EAIaIQobChMI-example",
    }
    assert lead["custom_fields"] == {"roof_type": "metal", "budget": "15000"}
    assert lead["status"] == "new"
