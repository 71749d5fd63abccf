"""Presets: a format, a signature scheme and a mapping a user can start from, one per vendor.

Each is written from the vendor's public documentation of its webhook payload (the documents are
named in docs/lead-sources.md, with the steps in the vendor's own settings). A source created
with `"preset": "<name>"` takes these values; any it is given itself (`mapping`, `options`,
`format`, `signature`) replace the preset's whole.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from lead2inbound.contract.schemas import Attribution, Consent
from lead2inbound.intake.forms import TOP_FIELDS


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    format: str
    signature: str
    mapping: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)
    json_field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "format": self.format,
            "json_field": self.json_field,
            "signature": self.signature,
            "mapping": copy.deepcopy(self.mapping),
            "options": copy.deepcopy(self.options),
        }


def _hs(prop: str) -> str:
    return f"/properties/{prop}/value"


HUBSPOT = Preset(
    name="hubspot",
    title="HubSpot workflow webhook (contact-based workflow, 'Send a webhook', POST)",
    format="json",
    signature="none",
    mapping={
        "phone": {"first": [_hs("phone"), _hs("mobilephone")]},
        "first_name": _hs("firstname"),
        "last_name": _hs("lastname"),
        "email": _hs("email"),
        "state": _hs("state"),
        "postal_code": _hs("zip"),
        "city": _hs("city"),
        "address": _hs("address"),
        "external_id": {"path": "/vid", "as": "string"},
        "consent.consent_timestamp": {"path": "/form-submissions/0/timestamp", "as": "datetime"},
        "consent.source_url": "/form-submissions/0/page-url",
        "consent.consent_text_version": "/form-submissions/0/form-id",
        "attribution.landing_page": "/form-submissions/0/page-url",
        "custom_fields.company": _hs("company"),
        "custom_fields.lifecyclestage": _hs("lifecyclestage"),
        "custom_fields.hs_analytics_source": _hs("hs_analytics_source"),
    },
    # a contact carries hundreds of properties, each with its history: only the mapped ones
    options={"unmapped": "drop"},
)

_UB = "/data.json/"
UNBOUNCE = Preset(
    name="unbounce",
    title="Unbounce form webhook (form-encoded, the fields as JSON in data.json)",
    format="form_json",
    json_field="data.json",
    signature="none",
    mapping={
        "phone": {"first": [_UB + "phone_number", _UB + "phone"]},
        "first_name": {
            "first": [_UB + "first_name", {"split_name": _UB + "name", "part": "first"}]
        },
        "last_name": {"first": [_UB + "last_name", {"split_name": _UB + "name", "part": "last"}]},
        "email": {"first": [_UB + "email", _UB + "email_address"]},
        "state": _UB + "state",
        "postal_code": {"first": [_UB + "zip", _UB + "postal_code"]},
        "consent.consent_timestamp": {
            "join": [_UB + "date_submitted", _UB + "time_submitted"],
            "as": "datetime",
        },
        "consent.ip_address": _UB + "ip_address",
        "consent.source_url": {"first": [_UB + "page_url", "page_url"]},
        "consent.consent_text_version": {"join": ["page_id", "variant"], "sep": ":"},
        "attribution.landing_page": {"first": [_UB + "page_url", "page_url"]},
        "attribution.utm_source": _UB + "utm_source",
        "attribution.utm_medium": _UB + "utm_medium",
        "attribution.utm_campaign": _UB + "utm_campaign",
        "attribution.gclid": _UB + "gclid",
    },
    options={
        "unmapped_from": "/data.json",
        "ignore": [_UB + "page_uuid", _UB + "page_name", _UB + "variant", _UB + "page_url"],
    },
)

GRAVITY_FORMS = Preset(
    name="gravity-forms",
    title="Gravity Forms Webhooks Add-On (JSON, Request Body: All Fields)",
    format="json",
    signature="none",
    # The field ids of the form this preset assumes (docs/lead-sources.md): 1 Name (1.3 first,
    # 1.6 last), 2 Email, 3 Phone, 4 Address (4.1 street, 4.3 city, 4.4 state, 4.5 ZIP),
    # 5 Consent (5.1 checked, 5.2 the text, 5.3 its revision). Change the ids to your form's.
    mapping={
        "phone": "3",
        "first_name": "1.3",
        "last_name": "1.6",
        "email": "2",
        "address": "4.1",
        "city": "4.3",
        "state": "4.4",
        "postal_code": "4.5",
        "external_id": {"path": "id", "as": "string"},
        "consent.consent_timestamp": {"path": "date_created", "as": "datetime", "when": "5.1"},
        "consent.consent_text": "5.2",
        "consent.consent_text_version": "5.3",
        "consent.ip_address": "ip",
        "consent.user_agent": "user_agent",
        "consent.source_url": "source_url",
        "attribution.landing_page": "source_url",
    },
    options={
        "ignore": [
            "form_id",
            "status",
            "currency",
            "post_id",
            "date_created",
            "date_updated",
            "is_starred",
            "is_read",
            "is_fulfilled",
            "created_by",
            "transaction_type",
            "payment_status",
            "payment_date",
            "payment_amount",
            "payment_method",
            "transaction_id",
            "4.2",
            "4.6",
        ]
    },
)

_ANSWERS = "/form_response/answers"


def _answer(kind: str, *, ref: str | None = None) -> dict[str, Any]:
    where = {"/field/ref": ref} if ref else {"/type": kind}
    return {"find": _ANSWERS, "where": where, "get": f"/{kind}"}


TYPEFORM = Preset(
    name="typeform",
    title="Typeform webhook (form_response, signed with Typeform-Signature)",
    format="json",
    signature="typeform",
    mapping={
        "phone": _answer("phone_number"),
        "email": _answer("email"),
        "first_name": {
            "first": [
                _answer("text", ref="first_name"),
                {"split_name": _answer("text", ref="name"), "part": "first"},
            ]
        },
        "last_name": {
            "first": [
                _answer("text", ref="last_name"),
                {"split_name": _answer("text", ref="name"), "part": "last"},
            ]
        },
        "state": _answer("text", ref="state"),
        "postal_code": _answer("text", ref="postal_code"),
        "external_id": "/form_response/token",
        "consent.consent_timestamp": {
            "path": "/form_response/submitted_at",
            "as": "datetime",
            "when": {"find": _ANSWERS, "where": {"/field/type": "legal"}, "get": "/boolean"},
        },
        "consent.consent_text": {
            "find": "/form_response/definition/fields",
            "where": {"/type": "legal"},
            "get": "/title",
        },
        "consent.consent_text_version": "/form_response/form_id",
        "attribution.utm_source": "/form_response/hidden/utm_source",
        "attribution.utm_medium": "/form_response/hidden/utm_medium",
        "attribution.utm_campaign": "/form_response/hidden/utm_campaign",
        "attribution.gclid": "/form_response/hidden/gclid",
    },
    # the hidden fields (URL parameters) the mapping does not use become custom fields
    options={"unmapped_from": "/form_response/hidden"},
)


def _fb(name: str) -> dict[str, Any]:
    return {"find": "/field_data", "where": {"/name": name}, "get": "/values"}


FACEBOOK = Preset(
    name="facebook",
    title="Facebook Lead Ads (leadgen webhook; the lead fetched from the Graph API)",
    format="facebook",
    signature="facebook",
    mapping={
        "phone": _fb("phone_number"),
        "first_name": {
            "first": [_fb("first_name"), {"split_name": _fb("full_name"), "part": "first"}]
        },
        "last_name": {
            "first": [_fb("last_name"), {"split_name": _fb("full_name"), "part": "last"}]
        },
        "email": _fb("email"),
        "state": _fb("state"),
        "postal_code": {"first": [_fb("zip_code"), _fb("post_code")]},
        "city": _fb("city"),
        "address": _fb("street_address"),
        "external_id": "/id",
        # consent only when the form's custom disclaimer was ticked (TCPA: fail closed)
        "consent.consent_timestamp": {
            "path": "/created_time",
            "as": "datetime",
            "when": {
                "find": "/custom_disclaimer_responses",
                "where": {"/is_checked": "1"},
                "get": "/is_checked",
            },
        },
        "consent.consent_text_version": {
            "join": [{"const": "facebook-form"}, "/form_id"],
            "sep": ":",
        },
        "attribution.utm_source": {"const": "facebook"},
        "attribution.ad_id": "/ad_id",
        "attribution.campaign_id": "/campaign_id",
    },
    # the form's other questions become custom fields, named as the form names them
    options={"unmapped_from": "/field_data", "unmapped_key": "/name", "unmapped_value": "/values"},
)


def _flat(name: str, block: str | None) -> Any:
    if block is None:
        return name
    return {"first": [name, f"{block}__{name}"]}


ZAPIER = Preset(
    name="zapier",
    title="Webhooks by Zapier, POST action (flat form fields)",
    format="form",
    signature="none",
    mapping={
        **{
            name: name
            for name in sorted(TOP_FIELDS)
            if name not in ("consent", "attribution", "custom_fields", "source")
        },
        **{
            f"consent.{n}": _flat(n, "consent") for n in Consent.__struct_fields__ if n != "sellers"
        },
        **{f"attribution.{n}": _flat(n, "attribution") for n in Attribution.__struct_fields__},
    },
)

PRESETS: dict[str, Preset] = {
    p.name: p for p in (HUBSPOT, UNBOUNCE, GRAVITY_FORMS, TYPEFORM, FACEBOOK, ZAPIER)
}
