"""The wire schema: msgspec Structs that validate requests and shape answers.

These types are the one source of truth for validation and for the OpenAPI document. Field
limits live in `Meta` annotations so they show up in both.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

# --- limits ---------------------------------------------------------------------------------------

Short = Annotated[str, Meta(max_length=200)]
Medium = Annotated[str, Meta(max_length=500)]
Long = Annotated[str, Meta(max_length=2000)]
Url = Annotated[str, Meta(max_length=2048)]
Text = Annotated[str, Meta(max_length=20_000)]
CustomKey = Annotated[str, Meta(min_length=1, max_length=40)]
CustomValue = Annotated[str, Meta(max_length=500)] | int | float | bool
MAX_CUSTOM_FIELDS = 50
MAX_SELLERS = 100

US_CA_STATES = frozenset(
    # US states, DC and territories
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ "
    "NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY AS GU MP PR VI UM "
    # Canadian provinces and territories
    "AB BC MB NB NL NS NT NU ON PE QC SK YT".split()
)


class Consent(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Evidence of the consumer's prior express written consent (TCPA)."""

    consent_timestamp: Annotated[
        str | None,
        Meta(
            description="When the consumer consented (RFC 3339). Missing, unparseable or in the "
            "future: the lead is stored ineligible (`invalid_consent`).",
            examples=["2026-07-05T12:00:00Z"],
        ),
    ] = None
    consent_text_version: Short | None = None
    consent_text: Text | None = None
    source_url: Url | None = None
    ip_address: Annotated[str, Meta(max_length=64)] | None = None
    user_agent: Long | None = None
    trustedform_cert_url: Url | None = None
    jornaya_leadid: Short | None = None
    sellers: Annotated[list[Short], Meta(max_length=MAX_SELLERS)] | None = None


class Attribution(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Where the lead came from (UTM parameters, click ids, pages)."""

    utm_source: Medium | None = None
    utm_medium: Medium | None = None
    utm_campaign: Medium | None = None
    utm_term: Medium | None = None
    utm_content: Medium | None = None
    gclid: Medium | None = None
    fbclid: Medium | None = None
    ad_id: Medium | None = None
    campaign_id: Medium | None = None
    referrer: Url | None = None
    landing_page: Url | None = None
    sub_id: Medium | None = None


class LeadIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A lead as posted. Only `phone` is required."""

    phone: Annotated[
        Annotated[str, Meta(max_length=100)] | int,
        Meta(
            description="Any format; normalized to E.164 (default region US).",
            examples=["(512) 555-0143"],
        ),
    ]
    source: Short | None = None
    external_id: Short | None = None
    first_name: Short | None = None
    last_name: Short | None = None
    email: Annotated[str, Meta(max_length=320)] | None = None
    state: (
        Annotated[
            str,
            Meta(max_length=2, description="US state or Canadian province code", examples=["TX"]),
        ]
        | None
    ) = None
    postal_code: Annotated[str, Meta(max_length=20)] | None = None
    city: Short | None = None
    address: Medium | None = None
    consent: Consent | None = None
    attribution: Attribution | None = None
    custom_fields: (
        Annotated[dict[CustomKey, CustomValue], Meta(max_length=MAX_CUSTOM_FIELDS)] | None
    ) = None


# --- answers --------------------------------------------------------------------------------------

LeadStatus = str  # new | ineligible | pending_scrub | dialing | <dial outcome>


class Checks(msgspec.Struct):
    """The decision trace: one entry per gate."""

    duplicate: Literal["none", "duplicate"]
    suppression: Literal["clear", "hit", "skipped"]
    dnc: Literal["not_connected", "clear", "dnc_hit", "litigator_hit", "unavailable", "skipped"]
    consent: Literal["present", "missing", "invalid"]


class LeadResult(msgspec.Struct):
    """The answer to POST /v1/leads (201 created, 200 duplicate)."""

    outcome: Literal["created", "duplicate"]
    lead_id: str
    status: LeadStatus
    eligible: bool
    reasons: list[str]
    phone: str
    phone_valid: bool
    checks: dict[str, str]


class ErrorItem(msgspec.Struct, omit_defaults=True):
    pointer: str
    param: str
    code: str
    detail: str


class Problem(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    request_id: str
    errors: list[ErrorItem] | None = None
    instance: str | None = None


def to_builtins(obj: Any) -> Any:
    return msgspec.to_builtins(obj)


# --- read-back, dial queue, suppressions, API keys (requests) -------------------------------------


class ClaimIn(msgspec.Struct, forbid_unknown_fields=True):
    """POST /v1/dial-queue/claim"""

    limit: int = 10  # 1..100
    lease_seconds: int = 300  # 10..3600


class CompleteIn(msgspec.Struct, forbid_unknown_fields=True):
    """POST /v1/dial-queue/{lead_id}/complete"""

    outcome: str
    lease_id: str | None = None  # the lease id from the claim; without it, the claiming key


class ReleaseIn(msgspec.Struct, forbid_unknown_fields=True):
    """POST /v1/dial-queue/{lead_id}/release"""

    lease_id: str | None = None


class SuppressionsIn(msgspec.Struct, forbid_unknown_fields=True):
    """POST /v1/suppressions"""

    phones: list[str | int]
    reason: str | None = None


class ApiKeyIn(msgspec.Struct, forbid_unknown_fields=True):
    """POST /v1/api-keys"""

    name: str
    scopes: list[str]
    rate_limit: int = 120
    test: bool = False
