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
    # 200 for vendors that count any other answer as a failure (docs/lead-sources.md)
    success_status: int = 201

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "format": self.format,
            "json_field": self.json_field,
            "signature": self.signature,
            "mapping": copy.deepcopy(self.mapping),
            "options": copy.deepcopy(self.options),
            "success_status": self.success_status,
        }


def _names(first: list[Any], last: list[Any], full: Any) -> dict[str, Any]:
    """`first_name` and `last_name`: the first of the vendor's own fields that is there, else
    that part of the whole name (`full`, copied: the two never share a dict)."""
    return {
        "first_name": {"first": [*first, {"split_name": full, "part": "first"}]},
        "last_name": {"first": [*last, {"split_name": copy.deepcopy(full), "part": "last"}]},
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
        **_names([_UB + "first_name"], [_UB + "last_name"], _UB + "name"),
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


def _titled(words: str) -> dict[str, Any]:
    """The text answer to the short-text question whose title has `words` (real forms' refs
    are generated: the question is found by its type and title, its answer by its field id)."""
    question = {
        "find": "/form_response/definition/fields",
        "where": {"/type": "short_text", "/title": {"contains": words}},
        "get": "/id",
    }
    return {"find": _ANSWERS, "where": {"/field/id": question}, "get": "/text"}


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
                _titled("first name"),
                {"split_name": _answer("text", ref="name"), "part": "first"},
                {"split_name": _titled("name"), "part": "first"},
            ]
        },
        "last_name": {
            "first": [
                _answer("text", ref="last_name"),
                _titled("last name"),
                _titled("surname"),
                {"split_name": _answer("text", ref="name"), "part": "last"},
                {"split_name": _titled("full name"), "part": "last"},
                {"split_name": _titled("your name"), "part": "last"},
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
        **_names([_fb("first_name")], [_fb("last_name")], _fb("full_name")),
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


def _gads(column_id: str) -> dict[str, Any]:
    return {
        "find": "/user_column_data",
        "where": {"/column_id": column_id},
        "get": "/string_value",
    }


# Google Ads lead form asset, webhook delivery ("Implementation", developers.google.com/google-
# ads/webhook/docs/implementation): JSON, the answers in `user_column_data` by `column_id`, the
# advertiser's key in the body as `google_key`. A lead form carries no TCPA consent of its own:
# its leads are `missing_consent` unless a mapping says otherwise (the gate fails closed).
GOOGLE_ADS = Preset(
    name="google-ads",
    title="Google Ads lead form webhook (JSON; the form's key in the body as google_key)",
    format="json",
    signature="none",
    mapping={
        "phone": _gads("PHONE_NUMBER"),
        **_names([_gads("FIRST_NAME")], [_gads("LAST_NAME")], _gads("FULL_NAME")),
        "email": _gads("EMAIL"),
        "postal_code": _gads("POSTAL_CODE"),
        "city": _gads("CITY"),
        "state": _gads("REGION"),
        "address": _gads("STREET_ADDRESS"),
        "external_id": "/lead_id",
        "attribution.utm_source": {"const": "google"},
        "attribution.gclid": "/gcl_id",
        "attribution.campaign_id": {"path": "/campaign_id", "as": "string"},
        "attribution.ad_id": {"path": "/creative_id", "as": "string"},
        "custom_fields.google_form_id": {"path": "/form_id", "as": "string"},
        "custom_fields.google_is_test": {"path": "/is_test", "as": "string"},
    },
    # the form's other questions become custom fields, named by their column id
    options={
        "unmapped_from": "/user_column_data",
        "unmapped_key": "/column_id",
        "unmapped_value": "/string_value",
        "body_secret_at": "/google_key",
    },
    success_status=200,
)

_WF = "/payload/data/"
# Webflow `form_submission` ("Working with webhooks", developers.webflow.com/data/docs/working-
# with-webhooks): JSON, the fields under `payload.data` by their labels (a phone may be a JSON
# number). Webhooks made by an OAuth app are signed (`"signature": "webflow"`); ones made in the
# site's dashboard are not (the URL alone). Anything but 200 is a failure to Webflow.
WEBFLOW = Preset(
    name="webflow",
    title="Webflow form_submission webhook (JSON; any answer but 200 counts as a failure)",
    format="json",
    signature="none",
    mapping={
        "phone": {
            "first": [_WF + "Phone Number", _WF + "Phone", _WF + "phone"],
            "as": "string",
        },
        **_names(
            [_WF + "First Name", _WF + "first-name"],
            [_WF + "Last Name", _WF + "last-name"],
            {"first": [_WF + "Name", _WF + "name"]},
        ),
        "email": {"first": [_WF + "Email", _WF + "email", _WF + "Email Address"]},
        "external_id": "/payload/id",
        "custom_fields.webflow_form": "/payload/name",
    },
    options={"unmapped_from": "/payload/data"},
    success_status=200,
)

# Calendly `invitee.created` ("Webhook Signatures" and "Get sample webhook data",
# developer.calendly.com): JSON, signed `Calendly-Webhook-Signature: t=...,v1=...`; the phone is
# the SMS reminder number or a booking question named "Phone Number"; UTM in `payload.tracking`.
CALENDLY = Preset(
    name="calendly",
    title="Calendly invitee.created webhook (JSON, Calendly-Webhook-Signature)",
    format="json",
    signature="calendly",
    mapping={
        "phone": {
            "first": [
                "/payload/text_reminder_number",
                {
                    "find": "/payload/questions_and_answers",
                    "where": {"/question": "Phone Number"},
                    "get": "/answer",
                },
            ]
        },
        **_names(["/payload/first_name"], ["/payload/last_name"], "/payload/name"),
        "email": "/payload/email",
        "external_id": "/payload/uri",
        "attribution.utm_source": "/payload/tracking/utm_source",
        "attribution.utm_medium": "/payload/tracking/utm_medium",
        "attribution.utm_campaign": "/payload/tracking/utm_campaign",
        "attribution.utm_term": "/payload/tracking/utm_term",
        "attribution.utm_content": "/payload/tracking/utm_content",
        "custom_fields.calendly_event": "/payload/scheduled_event/name",
        "custom_fields.calendly_start": "/payload/scheduled_event/start_time",
    },
    # the booking questions' answers become custom fields, named by the question
    options={
        "unmapped_from": "/payload/questions_and_answers",
        "unmapped_key": "/question",
        "unmapped_value": "/answer",
    },
)

# ActiveCampaign webhooks ("Webhooks", developers.activecampaign.com/page/webhooks): a form
# (urlencoded) with PHP bracket names kept as they are: `contact[phone]`, `contact[email]`, ...
ACTIVECAMPAIGN = Preset(
    name="activecampaign",
    title="ActiveCampaign webhook (form-encoded contact[...] fields)",
    format="form",
    signature="none",
    mapping={
        "phone": "contact[phone]",
        "first_name": "contact[first_name]",
        "last_name": "contact[last_name]",
        "email": "contact[email]",
        "external_id": "contact[id]",
        "consent.ip_address": "contact[ip]",
        "custom_fields.activecampaign_type": "type",
        "custom_fields.activecampaign_tags": "contact[tags]",
    },
    options={
        "ignore": ["url", "initiated_by", "initiated_from", "date_time", "contact[orgname]"],
    },
)

# Elementor Pro forms, "Webhook" action with "Advanced Data" on ("Actions After Submit: Webhook",
# elementor.com/help): a urlencoded form with `fields[<id>][value]` and `meta[...][value]`. The
# field ids are the form's own (Advanced tab, "ID"): this preset assumes `name`, `email`, `phone`
# (change them to your form's, as for Gravity Forms).
ELEMENTOR = Preset(
    name="elementor",
    title="Elementor Pro form, Webhook action with Advanced Data (form-encoded)",
    format="form",
    signature="none",
    mapping={
        "phone": "fields[phone][value]",
        "first_name": {"split_name": "fields[name][value]", "part": "first"},
        "last_name": {"split_name": "fields[name][value]", "part": "last"},
        "email": "fields[email][value]",
        "consent.source_url": "meta[page_url][value]",
        "consent.ip_address": "meta[remote_ip][value]",
        "consent.user_agent": "meta[user_agent][value]",
        "attribution.landing_page": "meta[page_url][value]",
        "custom_fields.elementor_form": "form[name]",
        "custom_fields.message": "fields[message][value]",
    },
    # each field comes with its id, type, title, value and raw_value: only the mapped ones
    options={"unmapped": "drop"},
)

# Formstack webhooks ("Webhook Setup" and "Webhook Examples", developers.formstack.com/docs):
# with the JSON format and field names (the default), each field by its label, a Name or Address
# field as an object of sub-fields (`first`, `last`; `address`, `city`, `state`, `zip`), plus
# `FormID`, `UniqueID`, and the handshake key the form's owner sets as `HandshakeKey`.
FORMSTACK = Preset(
    name="formstack",
    title="Formstack webhook (JSON, field names; the handshake key in the body)",
    format="json",
    signature="none",
    mapping={
        "phone": {"first": ["/Phone", "/Phone Number"]},
        **_names(["/Name/first"], ["/Name/last"], "/Name"),
        "email": "/Email",
        "address": "/Address/address",
        "city": "/Address/city",
        "state": "/Address/state",
        "postal_code": "/Address/zip",
        "external_id": {"path": "/UniqueID", "as": "string"},
        "custom_fields.formstack_form": {"path": "/FormID", "as": "string"},
    },
    options={
        "body_secret_at": "/HandshakeKey",
        "ignore": ["/Address/address2", "/Address/country"],
    },
)

_JF = "/rawRequest/"
# Jotform webhooks (Jotform's "How to Set Up a Webhook" and its webhook API guide): multipart/
# form-data with `formID`, `submissionID`, `ip`, `pretty`, and the answers as JSON in the
# `rawRequest` field, each keyed `q<question id>_<unique name>`: a Name field as `{first,
# last}`, a Phone field as `{full}`. The ids are the form's own: this preset assumes the
# starter form's q3 name, q4 email, q5 phone (change them to your form's, as for Gravity Forms).
JOTFORM = Preset(
    name="jotform",
    title="Jotform webhook (multipart; the answers as JSON in rawRequest)",
    format="form_json",
    json_field="rawRequest",
    signature="none",
    mapping={
        "phone": {"first": [_JF + "q5_phoneNumber/full", _JF + "q5_phoneNumber"]},
        "first_name": _JF + "q3_name/first",
        "last_name": _JF + "q3_name/last",
        "email": _JF + "q4_email",
        "external_id": "submissionID",
        "consent.ip_address": "ip",
        "custom_fields.jotform_form": "formID",
    },
    options={
        "unmapped_from": "/rawRequest",
        "ignore": [
            _JF + "slug",
            _JF + "event_id",
            _JF + "jsExecutionTracker",
            _JF + "submitSource",
            _JF + "buildDate",
            _JF + "timeToSubmit",
            _JF + "validatedNewRequiredFieldIDs",
            _JF + "path",
        ],
    },
)

# WPForms' Webhooks addon (the addon's own delivery code, `WPFormsWebhooks\Process`): the site
# owner picks the Request Method (POST here), the Request Format (JSON, the addon's default, or a
# form) and types each Request Body key next to a form field or a custom value (smart tags such as
# `{entry_id}`); a field's value is WPForms' own text (a Name field whole, "First Last"). Sent
# with `X-WPForms-Webhook-Id` and `X-WPForms-Webhook-Signature` (not checked here, see
# docs/lead-sources.md). This preset assumes the keys docs/lead-sources.md lists.
WPFORMS = Preset(
    name="wpforms",
    title="WPForms Webhooks addon (JSON; Request Body keys name, email, phone, ...)",
    format="json",
    signature="none",
    mapping={
        "phone": {"first": ["phone", "Phone"]},
        **_names(["first_name"], ["last_name"], {"first": ["name", "Name"]}),
        "email": {"first": ["email", "Email"]},
        "state": "state",
        "postal_code": "zip",
        "external_id": {"path": "entry_id", "as": "string"},
        "consent.source_url": "page_url",
        "consent.ip_address": "user_ip",
        "attribution.landing_page": "page_url",
        "custom_fields.wpforms_form": {"path": "form_id", "as": "string"},
    },
)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        HUBSPOT,
        UNBOUNCE,
        GRAVITY_FORMS,
        TYPEFORM,
        FACEBOOK,
        ZAPIER,
        GOOGLE_ADS,
        WEBFLOW,
        CALENDLY,
        ACTIVECAMPAIGN,
        ELEMENTOR,
        FORMSTACK,
        JOTFORM,
        WPFORMS,
    )
}
