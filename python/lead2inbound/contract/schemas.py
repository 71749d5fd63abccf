"""The wire schema: msgspec Structs that validate requests and shape answers.

These types are the one source of truth for validation and for the OpenAPI document. Field
limits live in `Meta` annotations so they show up in both.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from lead2inbound.contract.regions import CODES

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

US_CA_STATES = CODES  # the two-letter codes (contract/regions.py)


class Consent(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Evidence of the consumer's prior express written consent (TCPA). Without it, or without a
    usable `consent_timestamp`, the lead is stored ineligible (`missing_consent` /
    `invalid_consent`)."""

    consent_timestamp: Annotated[
        str | None,
        Meta(
            description="When the consumer consented (RFC 3339). Missing, unparseable or in the "
            "future: the lead is stored ineligible (`invalid_consent`).",
            examples=["2026-07-05T12:00:00Z"],
        ),
    ] = None
    consent_text_version: (
        Annotated[
            Short,
            Meta(
                description="Version id of the consent language the consumer saw.",
                examples=["webform-v2"],
            ),
        ]
        | None
    ) = None
    consent_text: (
        Annotated[Text, Meta(description="The consent language itself, as shown.")] | None
    ) = None
    source_url: (
        Annotated[
            Url,
            Meta(
                description="Page where consent was given.", examples=["https://example.com/quote"]
            ),
        ]
        | None
    ) = None
    ip_address: (
        Annotated[
            Annotated[str, Meta(max_length=64)],
            Meta(description="The consumer's IP address at consent.", examples=["203.0.113.7"]),
        ]
        | None
    ) = None
    user_agent: (
        Annotated[Long, Meta(description="The consumer's browser user agent at consent.")] | None
    ) = None
    trustedform_cert_url: (
        Annotated[
            Url,
            Meta(
                description="TrustedForm certificate URL.",
                examples=["https://cert.trustedform.com/0123456789abcdef"],
            ),
        ]
        | None
    ) = None
    jornaya_leadid: Annotated[Short, Meta(description="Jornaya (Verisk) LeadiD token.")] | None = (
        None
    )
    sellers: (
        Annotated[
            Annotated[list[Short], Meta(max_length=MAX_SELLERS)],
            Meta(
                description="Names the consumer agreed to hear from (at most 100).",
                examples=[["Acme Insurance"]],
            ),
        ]
        | None
    ) = None


class Attribution(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Where the lead came from (UTM parameters, click ids, pages)."""

    utm_source: Annotated[Medium, Meta(description="UTM source.", examples=["google"])] | None = (
        None
    )
    utm_medium: Annotated[Medium, Meta(description="UTM medium.", examples=["cpc"])] | None = None
    utm_campaign: (
        Annotated[Medium, Meta(description="UTM campaign.", examples=["spring-promo"])] | None
    ) = None
    utm_term: Annotated[Medium, Meta(description="UTM term.")] | None = None
    utm_content: Annotated[Medium, Meta(description="UTM content.")] | None = None
    gclid: Annotated[Medium, Meta(description="Google Ads click id.")] | None = None
    fbclid: Annotated[Medium, Meta(description="Meta click id.")] | None = None
    ad_id: Annotated[Medium, Meta(description="Ad id.")] | None = None
    campaign_id: Annotated[Medium, Meta(description="Campaign id.")] | None = None
    referrer: Annotated[Url, Meta(description="Referring page.")] | None = None
    landing_page: Annotated[Url, Meta(description="Landing page URL.")] | None = None
    sub_id: Annotated[Medium, Meta(description="Affiliate sub id.")] | None = None


class LeadIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A lead as posted. Only `phone` is required."""

    phone: Annotated[
        Annotated[str, Meta(max_length=100)] | int,
        Meta(
            description="Any format; normalized to E.164 (default region US).",
            examples=["(512) 555-0143"],
        ),
    ]
    source: (
        Annotated[
            Short,
            Meta(
                description="Where the lead comes from (your form, vendor or campaign name).",
                examples=["my-webform"],
            ),
        ]
        | None
    ) = None
    external_id: (
        Annotated[Short, Meta(description="Your own id for the lead.", examples=["crm-48213"])]
        | None
    ) = None
    first_name: Annotated[Short, Meta(description="First name.", examples=["Jane"])] | None = None
    last_name: Annotated[Short, Meta(description="Last name.", examples=["Doe"])] | None = None
    email: (
        Annotated[
            Annotated[str, Meta(max_length=320)],
            Meta(description="Email address.", examples=["jane@example.com"]),
        ]
        | None
    ) = None
    state: (
        Annotated[
            str,
            Meta(
                max_length=64,
                description="US state or territory, or Canadian province: its two-letter code "
                "or its full name, in any case (`Texas`, `texas`, `tx`); stored as the code.",
                examples=["TX"],
            ),
        ]
        | None
    ) = None
    postal_code: (
        Annotated[
            Annotated[str, Meta(max_length=20)],
            Meta(description="ZIP or postal code.", examples=["78701"]),
        ]
        | None
    ) = None
    city: Annotated[Short, Meta(description="City.", examples=["Austin"])] | None = None
    address: (
        Annotated[Medium, Meta(description="Street address.", examples=["100 Congress Ave"])] | None
    ) = None
    consent: (
        Annotated[
            Consent,
            Meta(
                description="Consent evidence. Without it (or without a usable "
                "`consent_timestamp`) the lead is stored ineligible."
            ),
        ]
        | None
    ) = None
    attribution: (
        Annotated[Attribution, Meta(description="UTM parameters, click ids and pages.")] | None
    ) = None
    custom_fields: (
        Annotated[
            dict[CustomKey, CustomValue],
            Meta(
                max_length=MAX_CUSTOM_FIELDS,
                description="Your own fields: at most 50, names of 1-40 characters, values strings "
                "(at most 500 characters), numbers or booleans. Form and CSV values are strings.",
                examples=[{"plan": "gold"}],
            ),
        ]
        | None
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
    """The answer to POST /v1/leads: 201 created, or 200 for a duplicate."""

    outcome: Annotated[
        Literal["created", "duplicate"],
        Meta(
            description="`created`: a new lead was stored. `duplicate`: the org already has a "
            "lead for this phone inside its duplicate window; nothing new was stored."
        ),
    ]
    lead_id: Annotated[
        str,
        Meta(
            description="The lead's id (UUIDv7); for a duplicate, the existing lead's id.",
            examples=["01970f3e-8c4a-7d2e-9b1a-3f5c6d7e8f90"],
        ),
    ]
    status: Annotated[
        LeadStatus,
        Meta(
            description="`new` (eligible, in the dial queue), `ineligible`, `pending_scrub`; "
            "for a duplicate, the existing lead's current status.",
            examples=["new"],
        ),
    ]
    eligible: Annotated[bool, Meta(description="Whether the lead may be dialed.")]
    reasons: Annotated[
        list[str],
        Meta(
            description="Every reason the lead is not eligible: `missing_consent`, "
            "`invalid_consent`, `suppressed`, `dnc_hit`, `litigator_hit`, `dnc_unavailable`, "
            "`invalid_phone_number`.",
            examples=[[]],
        ),
    ]
    phone: Annotated[str, Meta(description="The phone in E.164.", examples=["+15125550143"])]
    phone_valid: Annotated[
        bool, Meta(description="Whether libphonenumber considers the number valid.")
    ]
    checks: Annotated[
        dict[str, str],
        Meta(
            description="The decision trace, one entry per gate: `duplicate`, `suppression`, "
            "`dnc`, `consent`.",
            examples=[
                {
                    "duplicate": "none",
                    "suppression": "clear",
                    "dnc": "not_connected",
                    "consent": "present",
                }
            ],
        ),
    ]
    warnings: Annotated[
        list[str],
        Meta(
            description="Only for a lead made through a source, when something was left out: "
            "an optional value that did not validate (kept in `custom_fields` as "
            "`invalid__<field>`), a value the source's mapping could not convert, a path with "
            "no value. Absent when there is none."
        ),
    ] = []


class ErrorItem(msgspec.Struct, omit_defaults=True):
    """One bad field of a 422."""

    pointer: Annotated[
        str,
        Meta(
            description="JSON Pointer into the normalized request (the same for JSON, form "
            "and flat names).",
            examples=["#/consent/consent_timestamp"],
        ),
    ]
    param: Annotated[
        str,
        Meta(
            description="The field's name as the poster sent it (bracket form for nested fields).",
            examples=["consent[consent_timestamp]"],
        ),
    ]
    code: Annotated[
        str,
        Meta(
            description="`missing_field`, `invalid`, `unknown_field`, `invalid_phone`.",
            examples=["invalid"],
        ),
    ]
    detail: Annotated[str, Meta(description="What is wrong, for a person.")]


class Problem(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details (`application/problem+json`): every error answer."""

    type: Annotated[
        str,
        Meta(
            description="URI of the problem type; docs/errors.md describes each.",
            examples=["https://lead2inbound.dev/problems/validation-error"],
        ),
    ]
    title: Annotated[str, Meta(description="Short summary of the problem type.")]
    status: Annotated[int, Meta(ge=400, le=599, description="The HTTP status code.")]
    detail: Annotated[str, Meta(description="What went wrong with this request.")]
    code: Annotated[
        str,
        Meta(description="Stable machine code (docs/errors.md).", examples=["validation_error"]),
    ]
    request_id: Annotated[
        str, Meta(description="Also in the `X-Request-Id` header; quote it to support.")
    ]
    errors: (
        Annotated[
            list[ErrorItem],
            Meta(description="For 422: the bad fields (at most 20; `detail` counts them all)."),
        ]
        | None
    ) = None
    instance: Annotated[str, Meta(description="The request path (and item).")] | None = None


# --- batch and import -----------------------------------------------------------------------------

MAX_BATCH = 1000


class LeadBatchIn(msgspec.Struct, forbid_unknown_fields=True):
    """Up to 1,000 leads in one request. Each is validated and answered on its own."""

    leads: Annotated[
        list[dict[str, Any]],
        Meta(
            min_length=1,
            max_length=MAX_BATCH,
            description="The leads, each exactly what `POST /v1/leads` takes (`LeadIn`, also "
            "with flat names). An invalid lead gets its own 422 result; the others are stored.",
            examples=[
                [
                    {
                        "phone": "(512) 555-0143",
                        "consent": {"consent_timestamp": "2026-07-05T12:00:00Z"},
                    }
                ]
            ],
        ),
    ]


class BatchItem(msgspec.Struct):
    """One lead's result: exactly what `POST /v1/leads` would have answered for it."""

    status: Annotated[
        int,
        Meta(
            description="The status a single POST would have had: 201, 200, or the "
            "problem's status (422, 503).",
            examples=[201],
        ),
    ]
    body: Annotated[
        dict[str, Any],
        Meta(description="`LeadResult` for 201/200, `Problem` otherwise."),
    ]


class BatchSummary(msgspec.Struct):
    total: Annotated[int, Meta(description="Leads in the request.")]
    created: Annotated[int, Meta(description="Leads stored (201).")]
    duplicates: Annotated[int, Meta(description="Duplicates of existing leads (200).")]
    failed: Annotated[int, Meta(description="Leads answered with a problem.")]


class LeadBatchResult(msgspec.Struct):
    """The answer to POST /v1/leads/batch (always 200 once the envelope is valid)."""

    results: Annotated[list[BatchItem], Meta(description="One per lead, in request order.")]
    summary: BatchSummary


class ImportRowError(msgspec.Struct):
    row: Annotated[
        int,
        Meta(
            ge=1,
            description="Line of the file where the row starts (the header is line 1).",
            examples=[3],
        ),
    ]
    problem: Problem


class ImportResult(msgspec.Struct):
    """The answer to POST /v1/leads/import (200 once the header row is readable)."""

    rows: Annotated[int, Meta(description="Data rows read (empty lines are not rows).")]
    created: Annotated[int, Meta(description="Leads stored.")]
    duplicates: Annotated[int, Meta(description="Rows that were duplicates of existing leads.")]
    failed: Annotated[int, Meta(description="Rows answered with a problem (see `errors`).")]
    errors: Annotated[
        list[ImportRowError],
        Meta(
            description="Per-row problems, in file order; at most 1,000 (then `errors_truncated`)."
        ),
    ]
    errors_truncated: Annotated[bool, Meta(description="More rows failed than `errors` lists.")] = (
        False
    )
    stopped: Annotated[
        str | None,
        Meta(description="Why reading stopped before the end of the file (the row cap), or null."),
    ] = None


def to_builtins(obj: Any) -> Any:
    return msgspec.to_builtins(obj)


# --- read-back, dial queue, suppressions, API keys (requests) -------------------------------------

DialOutcome = Literal[
    "qualified",
    "transferred",
    "not_qualified",
    "unreachable",
    "voicemail",
    "callback_requested",
    "wrong_number",
    "do_not_call",
]  # the same set as store.queue.OUTCOMES (tests/test_openapi.py checks)
Scope = Literal["write", "read", "dial", "admin"]  # the same set as auth.SCOPES
KeyKind = Literal["secret", "publishable"]

LEASE_ID = Meta(
    description="The `lease_id` the claim answered for this lead. Without it, the lease must be "
    "held by the key that claimed the lead.",
    examples=["6f1c2b9e-3d4a-4e5f-8a7b-9c0d1e2f3a4b"],
)


class ClaimIn(msgspec.Struct, forbid_unknown_fields=True):
    """POST /v1/dial-queue/claim: how many leads, for how long. An empty body takes the defaults."""

    limit: Annotated[
        int, Meta(ge=1, le=100, description="At most this many leads (1-100).", examples=[10])
    ] = 10
    lease_seconds: Annotated[
        int,
        Meta(
            ge=10,
            le=3600,
            description="How long the leads are yours (10-3600 s); an expired lease puts the "
            "lead back in the queue.",
            examples=[300],
        ),
    ] = 300


AttemptResult = Literal["no_answer", "busy", "voicemail", "failed", "answered"]

AWARE_TIME = Meta(tz=True, extra_json_schema={"format": "date-time"})
DURATION = Meta(ge=0, le=86400, description="How long the call lasted, in seconds.", examples=[42])
DIALER = Meta(
    max_length=200,
    pattern=r"^[^\x00]*$",
    description="Who or what dialed: an agent, a campaign (free text, up to 200 characters, no "
    "NUL).",
    examples=["agent-17"],
)


class CompleteIn(msgspec.Struct, forbid_unknown_fields=True):
    """POST /v1/dial-queue/{lead_id}/complete: the dial's outcome; the lead leaves the queue
    (except a `callback_requested` with `callback_at`). Records the call as the last attempt."""

    outcome: Annotated[
        DialOutcome,
        Meta(
            description="The lead's new status. `do_not_call` also adds the phone to the org's "
            "suppression list.",
            examples=["qualified"],
        ),
    ]
    lease_id: Annotated[str, LEASE_ID] | None = None
    callback_at: (
        Annotated[
            datetime,
            AWARE_TIME,
            Meta(
                description="With `callback_requested` only: when the consumer asked to be "
                "called back (RFC 3339 with an offset, within 90 days). The lead stays queued "
                "and is claimable from then, ahead of retries; outside its calling window, from "
                "the window's next opening (the answer's `next_attempt_at`).",
                examples=["2026-07-09T07:30:00-04:00"],
            ),
        ]
        | None
    ) = None
    duration_s: Annotated[int, DURATION] | None = None
    dialer: Annotated[str, DIALER] | None = None


class AttemptIn(msgspec.Struct, forbid_unknown_fields=True):
    """POST /v1/dial-queue/{lead_id}/attempts: one call attempt that did not end the lead."""

    result: Annotated[
        AttemptResult,
        Meta(
            description="What happened. Every result schedules the lead's next try by the "
            "org's retry policy; report a final outcome with `complete` instead.",
            examples=["no_answer"],
        ),
    ]
    lease_id: Annotated[str, LEASE_ID] | None = None
    at: (
        Annotated[
            datetime,
            AWARE_TIME,
            Meta(
                description="When the call was placed (RFC 3339 with an offset; default now; "
                "within the last 24 hours and not in the future).",
                examples=["2026-07-08T14:05:00-05:00"],
            ),
        ]
        | None
    ) = None
    duration_s: Annotated[int, DURATION] | None = None
    dialer: Annotated[str, DIALER] | None = None


class DialPolicyIn(msgspec.Struct, forbid_unknown_fields=True):
    """PUT /v1/dial-policy: the org's retry schedule."""

    retry_after_s: Annotated[
        list[Annotated[int, Meta(ge=60, le=2592000)]],
        Meta(
            min_length=1,
            max_length=20,
            description="Seconds from attempt n to try n+1 (60 s to 30 days each); the last "
            "delay repeats.",
            examples=[[600, 3600, 14400, 86400]],
        ),
    ]
    max_attempts: Annotated[
        int,
        Meta(
            ge=1,
            le=50,
            description="After this many attempts the lead ends `unreachable`.",
            examples=[6],
        ),
    ]


class DialPolicy(DialPolicyIn):
    """The org's retry schedule as in force."""

    default: Annotated[bool, Meta(description="True when the org never set one (the defaults).")]
    updated_at: Annotated[
        Annotated[str, Meta(extra_json_schema={"format": "date-time"})] | None,
        Meta(description="When it was last set; null for the defaults."),
    ]


class ReleaseIn(msgspec.Struct, forbid_unknown_fields=True):
    """POST /v1/dial-queue/{lead_id}/release: put a leased lead back, first in line. An empty
    body is allowed."""

    lease_id: Annotated[str, LEASE_ID] | None = None


class SuppressionsIn(msgspec.Struct, forbid_unknown_fields=True):
    """POST /v1/suppressions: numbers the org must never dial."""

    phones: Annotated[
        list[str | int],
        Meta(
            min_length=1,
            max_length=1000,
            description="1 to 1,000 numbers in any format (normalized like a lead's phone). "
            "Numbers that are not possible are listed in `errors`; if none is possible, 422.",
            examples=[["(512) 555-0143", "+15125550144"]],
        ),
    ]
    reason: (
        Annotated[
            str,
            Meta(max_length=500, description="Why (kept with each number).", examples=["asked"]),
        ]
        | None
    ) = None


class ApiKeyIn(msgspec.Struct, forbid_unknown_fields=True):
    """POST /v1/api-keys: a new key for the caller's org."""

    name: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=200,
            description="A label for people (no NUL characters).",
            examples=["dialer"],
        ),
    ]
    scopes: Annotated[
        list[Scope],
        Meta(
            min_length=1,
            description="`write` (send leads, suppress numbers), `read` (read leads and the "
            "suppression list), `dial` (the dial queue), `admin` (keys, removing suppressions).",
            examples=[["dial", "read"]],
        ),
    ]
    rate_limit: Annotated[
        int, Meta(ge=1, le=1_000_000, description="Requests per minute.", examples=[120])
    ] = 120
    test: Annotated[
        bool,
        Meta(description="`true`: a sandbox key (`l2i_test_...`); its leads are never queued."),
    ] = False
    kind: Annotated[
        KeyKind,
        Meta(
            description="`publishable`: a form key (`l2i_pk_live_...`) safe to put in a web "
            'page: scopes exactly `["write"]`, works only from `allowed_origins` (which it '
            "needs), on the lead and form endpoints only (docs/web-forms.md)."
        ),
    ] = "secret"
    allowed_origins: Annotated[
        list[Annotated[str, Meta(max_length=300)]],
        Meta(
            max_length=50,
            description="Web origins (`scheme://host[:port]`, exact, no wildcards) whose pages "
            "may call the lead endpoints with this key (CORS). Empty: server-to-server only.",
            examples=[["https://www.example.com"]],
        ),
    ] = []
    ip_rate_limit: (
        Annotated[
            int,
            Meta(
                ge=1,
                le=1_000_000,
                description="Publishable keys: requests per minute from one client address "
                "(besides `rate_limit`); default 20.",
                examples=[20],
            ),
        ]
        | None
    ) = None
    success_url: (
        Annotated[
            Annotated[str, Meta(max_length=2000)],
            Meta(
                description="Publishable keys: where a plain HTML form lands when its lead was "
                "taken (`303`); default a small built-in page.",
                examples=["https://www.example.com/thanks"],
            ),
        ]
        | None
    ) = None
    error_url: (
        Annotated[
            Annotated[str, Meta(max_length=2000)],
            Meta(
                description="Publishable keys: where a plain HTML form lands when the lead was "
                "refused (`?error=<code>&fields=<names>` added); default a small page naming "
                "the bad fields.",
                examples=["https://www.example.com/form-error"],
            ),
        ]
        | None
    ) = None
    requeue_duplicates: Annotated[
        bool,
        Meta(
            description="The lead router's key: its re-post of a lead that ended with an outcome "
            "allowing another call puts the lead back into the dial queue (docs/intake.md, "
            '"Unsold leads pushed back"). Not for publishable keys.'
        ),
    ] = False


# --- read-back, dial queue, suppressions, API keys (answers) --------------------------------------

Timestamp = Annotated[
    str,
    Meta(
        description="An RFC 3339 date-time with its offset.",
        examples=["2026-07-05T12:00:00.123456+00:00"],
        extra_json_schema={"format": "date-time"},
    ),
]


class StoredLead(msgspec.Struct):
    """A lead as stored (read-back, list, dial-queue answers). Every field is always present;
    the ones the poster did not send are null."""

    lead_id: Annotated[
        str,
        Meta(
            description="The lead's id (UUIDv7).", examples=["01970f3e-8c4a-7d2e-9b1a-3f5c6d7e8f90"]
        ),
    ]
    status: Annotated[
        str,
        Meta(
            description="`new` (in the dial queue), `ineligible`, `pending_scrub`, `dialing` "
            "(leased to a dialer), or the dial outcome reported on completion.",
            examples=["new"],
        ),
    ]
    eligible: Annotated[bool, Meta(description="Whether the lead may be dialed.")]
    reasons: Annotated[
        list[str],
        Meta(
            description="Every reason the lead is not eligible (see `LeadResult`).", examples=[[]]
        ),
    ]
    checks: Annotated[
        dict[str, str],
        Meta(
            description="The decision trace, one entry per gate (kept current by re-scrubs and "
            "suppressions).",
            examples=[
                {
                    "duplicate": "none",
                    "suppression": "clear",
                    "dnc": "not_connected",
                    "consent": "present",
                }
            ],
        ),
    ]
    sandbox: Annotated[bool, Meta(description="Sent with a test (`l2i_test_`) key.")]
    api_key_id: Annotated[
        str, Meta(description="Id of the key that sent the lead.", examples=["a1b2c3d4e5f6"])
    ]
    phone: Annotated[str, Meta(description="The phone in E.164.", examples=["+15125550143"])]
    phone_raw: Annotated[str, Meta(description="The phone as posted.", examples=["(512) 555-0143"])]
    phone_valid: Annotated[
        bool, Meta(description="Whether libphonenumber considers the number valid.")
    ]
    phone_region: Annotated[
        str | None, Meta(description="The number's region (ISO 3166 code).", examples=["US"])
    ]
    phone_extension: Annotated[
        str | None, Meta(description="The extension, if one was posted.", examples=[None])
    ]
    source: Annotated[str | None, Meta(description="As posted.", examples=["my-webform"])]
    external_id: Annotated[str | None, Meta(description="As posted.")]
    first_name: Annotated[str | None, Meta(description="As posted.", examples=["Jane"])]
    last_name: Annotated[str | None, Meta(description="As posted.")]
    email: Annotated[str | None, Meta(description="As posted.")]
    state: Annotated[str | None, Meta(description="As posted (upper case).", examples=["TX"])]
    postal_code: Annotated[str | None, Meta(description="As posted.")]
    city: Annotated[str | None, Meta(description="As posted.")]
    address: Annotated[str | None, Meta(description="As posted.")]
    consent: Annotated[
        dict[str, Any] | None,
        Meta(
            description="The consent evidence as posted (`Consent`).",
            examples=[{"consent_timestamp": "2026-07-05T12:00:00Z"}],
        ),
    ]
    attribution: Annotated[dict[str, str] | None, Meta(description="As posted (`Attribution`).")]
    custom_fields: Annotated[
        dict[str, str | int | float | bool] | None,
        Meta(description="As posted.", examples=[{"plan": "gold"}]),
    ]
    timezone: Annotated[
        str | None,
        Meta(description="The lead's most likely time zone.", examples=["America/Chicago"]),
    ]
    timezones: Annotated[
        list[str],
        Meta(
            description="Every time zone the lead may be in (calling hours must hold in all).",
            examples=[["America/Chicago", "America/Denver"]],
        ),
    ]
    callable_at: Annotated[
        Timestamp | None,
        Meta(
            description="The next moment the lead may be called; null unless it is in the dial "
            "queue."
        ),
    ]
    queued_at: Annotated[
        Timestamp | None, Meta(description="When it entered the dial queue; null if not queued.")
    ]
    lease_expires_at: Annotated[
        Timestamp | None, Meta(description="When the current dial lease ends; null if not leased.")
    ]
    attempts: Annotated[int, Meta(ge=0, description="Call attempts recorded so far.")]
    last_attempt_at: Annotated[
        Timestamp | None, Meta(description="When the last attempt was placed; null if none.")
    ]
    next_attempt_at: Annotated[
        Timestamp | None,
        Meta(
            description="Not claimable before this: the retry schedule, a callback, or a state "
            "attempt limit, whichever is latest; null for a new lead or one out of the queue."
        ),
    ]
    callback_at: Annotated[
        Timestamp | None, Meta(description="The callback time the consumer asked for, if any.")
    ]
    created_at: Annotated[Timestamp, Meta(description="When it was stored.")]
    updated_at: Annotated[Timestamp, Meta(description="When its status last changed.")]


NEXT_CURSOR = Meta(
    description="Pass as `starting_after` for the next page; null on the last page.",
)


class LeadList(msgspec.Struct):
    """GET /v1/leads: a page of the caller's leads, newest first."""

    data: list[StoredLead]
    has_more: Annotated[bool, Meta(description="More leads follow this page.")]
    next_cursor: Annotated[str | None, NEXT_CURSOR]


class ClaimedLead(StoredLead):
    """A claimed lead: the stored lead (status `dialing`) and its lease."""

    lease_id: Annotated[
        str,
        Meta(
            description="This lease's id: pass it to complete or release.",
            examples=["6f1c2b9e-3d4a-4e5f-8a7b-9c0d1e2f3a4b"],
        ),
    ]


class ClaimResult(msgspec.Struct):
    """POST /v1/dial-queue/claim: the leads now leased to the caller, oldest in the queue first
    (empty when nothing is callable now)."""

    data: list[ClaimedLead]


class SuppressionPhoneError(msgspec.Struct):
    """A number of the request that is not a possible phone number (it was not added)."""

    index: Annotated[int, Meta(ge=0, description="Its position in `phones`.", examples=[2])]
    phone: Annotated[str, Meta(description="As sent.", examples=["12"])]
    code: Annotated[Literal["invalid_phone"], Meta(description="Always `invalid_phone`.")]
    detail: Annotated[str, Meta(description="What is wrong, for a person.")]


class SuppressionsAdded(msgspec.Struct):
    """POST /v1/suppressions: which numbers were added. The org's queued leads for them left
    the dial queue in the same transaction."""

    added: Annotated[
        list[str], Meta(description="Newly suppressed (E.164).", examples=[["+15125550143"]])
    ]
    already_present: Annotated[
        list[str], Meta(description="Already on the list (E.164).", examples=[[]])
    ]
    errors: Annotated[
        list[SuppressionPhoneError], Meta(description="Numbers that were not possible.")
    ]


class Suppression(msgspec.Struct):
    """One number on the org's suppression list."""

    phone: Annotated[str, Meta(description="E.164.", examples=["+15125550143"])]
    reason: Annotated[str | None, Meta(description="As given when added.", examples=["asked"])]
    created_at: Annotated[Timestamp, Meta(description="When it was added.")]


class SuppressionList(msgspec.Struct):
    """GET /v1/suppressions: a page of the org's suppression list."""

    data: list[Suppression]
    has_more: Annotated[bool, Meta(description="More numbers follow this page.")]
    next_cursor: Annotated[str | None, NEXT_CURSOR]


class SuppressionDeleted(msgspec.Struct):
    """DELETE /v1/suppressions/{phone}: the number may be dialed again."""

    phone: Annotated[str, Meta(description="E.164.", examples=["+15125550143"])]
    deleted: Literal[True]


class ApiKey(msgspec.Struct, kw_only=True):
    """An API key as listed (never the key itself, never its digest). The browser fields
    (`kind` ... `error_url`) are listed only for keys that have them: a publishable key, or a
    secret key with allowed origins."""

    key_id: Annotated[
        str, Meta(description="The key's public id (12 characters).", examples=["a1b2c3d4e5f6"])
    ]
    name: Annotated[str, Meta(description="Its label.", examples=["dialer"])]
    env: Annotated[
        Literal["live", "test"], Meta(description="`test`: a sandbox key.", examples=["live"])
    ]
    scopes: Annotated[list[Scope], Meta(description="Its scopes.", examples=[["read", "dial"]])]
    rate_limit: Annotated[int, Meta(description="Requests per minute.", examples=[120])]
    last4: Annotated[str, Meta(description="The key's last 4 characters.", examples=["x9Qz"])]
    created_at: Annotated[Timestamp, Meta(description="When it was made.")]
    last_used_at: Annotated[
        Timestamp | None, Meta(description="Last use (updated at most once a minute).")
    ]
    revoked_at: Annotated[Timestamp | None, Meta(description="When it was revoked; null if live.")]
    kind: Annotated[
        KeyKind, Meta(description="`publishable`: an `l2i_pk_` form key (docs/web-forms.md).")
    ] = "secret"
    allowed_origins: Annotated[
        list[str], Meta(description="Web origins whose pages may use the key (CORS).")
    ] = []
    ip_rate_limit: Annotated[
        int | None, Meta(description="Publishable keys: requests per minute per client address.")
    ] = None
    success_url: Annotated[
        str | None, Meta(description="Publishable keys: the plain form's thank-you URL.")
    ] = None
    error_url: Annotated[
        str | None, Meta(description="Publishable keys: the plain form's error URL.")
    ] = None


class ApiKeyCreated(ApiKey):
    """POST /v1/api-keys: the new key. `key` is shown this once; only its digest is kept."""

    key: Annotated[
        str,
        Meta(
            description="The key: `Authorization: Bearer <key>`. Store it now.",
            examples=["l2i_live_a1b2c3d4e5f6_..."],
        ),
    ]
    requeue_duplicates: Annotated[
        bool, Meta(description="Whether the key's re-posts requeue unsold leads.")
    ] = False


class ApiKeyList(msgspec.Struct):
    """GET /v1/api-keys: every key of the caller's org, revoked ones too, oldest first."""

    data: list[ApiKey]


class ApiKeyRevoked(msgspec.Struct):
    """DELETE /v1/api-keys/{key_id}: revoked on every node within a second."""

    key_id: Annotated[str, Meta(description="The revoked key's id.", examples=["a1b2c3d4e5f6"])]
    revoked_at: Annotated[Timestamp, Meta(description="When it was revoked.")]


# --- lead sources (docs/lead-sources.md, "Sources") ----------------------------------------------

SourceFormat = Literal["json", "form", "multipart", "form_json", "facebook"]
SignatureScheme = Literal[
    "none",
    "facebook",
    "typeform",
    "hubspot-v1",
    "hubspot-v3",
    "hmac-sha256",
    "calendly",
    "webflow",
    "standard-webhooks",
]
PresetName = Literal[
    "hubspot",
    "unbounce",
    "gravity-forms",
    "typeform",
    "facebook",
    "zapier",
    "google-ads",
    "webflow",
    "calendly",
    "activecampaign",
    "elementor",
    "formstack",
    "jotform",
    "wpforms",
]


class SourceIn(msgspec.Struct, forbid_unknown_fields=True):
    """POST /v1/sources: a new source for the caller's org."""

    name: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=200,
            description="The source's name: every lead it makes carries it as `source`.",
            examples=["hubspot-workflow"],
        ),
    ]
    preset: Annotated[
        PresetName | None,
        Meta(description="Start from a vendor preset (its format, signature and mapping)."),
    ] = None
    format: Annotated[
        SourceFormat | None,
        Meta(
            description="The body it receives: `json`, `form` (urlencoded or multipart), "
            "`multipart`, `form_json` (a form with the fields as JSON in one field, as "
            "Unbounce sends), `facebook` (Lead Ads notifications). Default: the preset's, "
            "else `json`."
        ),
    ] = None
    json_field: (
        Annotated[
            str,
            Meta(
                max_length=200,
                description="`form_json`: the field holding the JSON.",
                examples=["data.json"],
            ),
        ]
        | None
    ) = None
    mapping: Annotated[
        dict[str, Any] | None,
        Meta(
            description='Lead field -> rule (docs/lead-sources.md, "Mappings"). Required '
            "without a preset; replaces the preset's whole.",
            examples=[
                {"phone": "/properties/phone/value", "first_name": "/properties/firstname/value"}
            ],
        ),
    ] = None
    options: Annotated[
        dict[str, Any] | None,
        Meta(description="`unmapped`, `unmapped_from`, `ignore`, ... (docs/lead-sources.md)."),
    ] = None
    signature: Annotated[
        SignatureScheme | None,
        Meta(
            description="The signature checked on posts without an API key. Default: the "
            "preset's, else `none`."
        ),
    ] = None
    secret: (
        Annotated[
            str,
            Meta(
                max_length=1000,
                description="The shared signing secret (Facebook: the app secret). Sealed; "
                "never shown.",
            ),
        ]
        | None
    ) = None
    verify_token: (
        Annotated[
            str,
            Meta(max_length=1000, description="`facebook`: the webhook's verify token. Sealed."),
        ]
        | None
    ) = None
    page_token: (
        Annotated[
            str,
            Meta(
                max_length=4000,
                description="`facebook`: the page access token for the Graph API. Sealed.",
            ),
        ]
        | None
    ) = None
    body_secret: (
        Annotated[
            str,
            Meta(
                max_length=4000,
                description="A secret the vendor puts in the body (Google Ads' `google_key`, "
                "Formstack's `HandshakeKey`), expected at `options.body_secret_at` (a JSON "
                "Pointer or a form field's name) on every post without an API key; compared in "
                "constant time. Sealed.",
            ),
        ]
        | None
    ) = None
    sandbox: Annotated[
        bool, Meta(description="Signed posts act as a test key: leads stored, never queued.")
    ] = False
    rate_limit: Annotated[
        int,
        Meta(
            ge=1,
            le=1_000_000,
            description="Posts per minute through its signature or its URL.",
            examples=[120],
        ),
    ] = 120
    success_status: Annotated[
        Literal[200, 201] | None,
        Meta(
            description="What a new lead answers: 201 (as POST /v1/leads) or 200 for vendors "
            "that count anything else as a failure (Webflow). Default: the preset's, else 201. "
            "A duplicate is 200 either way."
        ),
    ] = None


class SourcePatch(msgspec.Struct, forbid_unknown_fields=True):
    """PATCH /v1/sources/{source_id}: fix a mapping (then replay what it refused)."""

    mapping: Annotated[
        dict[str, Any] | None, Meta(description="A new mapping (replaces the whole).")
    ] = None
    options: Annotated[
        dict[str, Any] | None, Meta(description="New mapping options (replace the whole).")
    ] = None
    success_status: Annotated[
        Literal[200, 201] | None, Meta(description="What a new lead answers.")
    ] = None
    secret: (
        Annotated[
            str,
            Meta(
                min_length=1,
                max_length=4096,
                description="A new shared secret for the signature check (the vendor's signing "
                "key, after it rotated it); write-only, never shown again.",
            ),
        ]
        | None
    ) = None
    verify_token: (
        Annotated[
            str, Meta(min_length=1, max_length=4096, description="A new Facebook verify token.")
        ]
        | None
    ) = None
    page_token: (
        Annotated[
            str,
            Meta(
                min_length=1,
                max_length=4096,
                description="A new Facebook page access token (after the old one expired).",
            ),
        ]
        | None
    ) = None


class FacebookFetches(msgspec.Struct):
    """How many of a Facebook source's notifications are in one fetch status."""

    count: Annotated[int, Meta(description="How many.")]
    last_error: Annotated[
        str | None,
        Meta(description="The latest error among them (a `failed` one: why it gave up)."),
    ]


class SourceOut(msgspec.Struct):
    """A lead source as shown (which secrets it has, never their values)."""

    source_id: Annotated[str, Meta(description="Its id (a UUID).")]
    name: Annotated[str, Meta(description="Its name: the `source` of its leads.")]
    preset: Annotated[str | None, Meta(description="The preset it started from.")]
    format: Annotated[str, Meta(description="The body format it receives.")]
    json_field: Annotated[str | None, Meta(description="`form_json`: the JSON field.")]
    mapping: Annotated[dict[str, Any], Meta(description="Lead field -> rule.")]
    options: Annotated[dict[str, Any], Meta(description="Mapping options.")]
    signature: Annotated[str, Meta(description="The signature scheme (`none`: API keys only).")]
    secrets: Annotated[list[str], Meta(description="The names of the secrets it holds.")]
    sandbox: Annotated[bool, Meta(description="Signed posts act as a test key.")]
    rate_limit: Annotated[int, Meta(description="Posts per minute (signature or URL).")]
    success_status: Annotated[int, Meta(description="What a new lead answers: 200 or 201.")]
    ingest_url: Annotated[
        str,
        Meta(
            description="Where a vendor that sends a key or a signature posts.",
            examples=["/v1/sources/0190.../leads"],
        ),
    ]
    created_at: Annotated[Timestamp, Meta(description="When it was made.")]
    facebook_leads: (
        Annotated[
            dict[str, FacebookFetches],
            Meta(
                description="`facebook`, `GET /v1/sources/{id}` only: its notifications by fetch "
                "status (`pending`, `done`, `failed`), each with the latest error."
            ),
        ]
        | None
    ) = None
    hook_url: (
        Annotated[
            str,
            Meta(
                description="Only in the creation answer, shown once: the source's URL that is "
                "its own credential (`/v1/hooks/l2i_hook_...`), for vendors that can be given a "
                "URL and nothing else. Stored only as a digest; rotate it with "
                "`POST /v1/sources/{source_id}/urls`.",
                examples=["/v1/hooks/l2i_hook_AbC123dEf456_..."],
            ),
        ]
        | None
    ) = None


class SourceUrl(msgspec.Struct):
    """One of a source's URLs (never its token: only the public part)."""

    hook_id: Annotated[str, Meta(description="The token's public id.")]
    url_hint: Annotated[
        str, Meta(description="What logs show of it.", examples=["l2i_hook_AbC123dEf456_…"])
    ]
    created_at: Annotated[Timestamp, Meta(description="When it was made.")]
    expires_at: Annotated[
        Timestamp | None, Meta(description="When it stops working (rotated: the overlap's end).")
    ]
    revoked_at: Annotated[Timestamp | None, Meta(description="When it was revoked.")]
    active: Annotated[bool, Meta(description="It works now.")]


class SourceUrlList(msgspec.Struct):
    """GET /v1/sources/{source_id}/urls: oldest first."""

    data: list[SourceUrl]


class SourceUrlIn(msgspec.Struct, forbid_unknown_fields=True):
    """POST /v1/sources/{source_id}/urls: a new URL; the older ones end after the overlap."""

    overlap_s: Annotated[
        int,
        Meta(
            ge=0,
            le=2_592_000,
            description="How long the older URLs keep working (seconds; 0: they stop now), so "
            "the vendor's settings can be changed without a lost post.",
            examples=[86400],
        ),
    ] = 86_400


class SourceUrlCreated(msgspec.Struct):
    """The new URL, shown once."""

    hook_id: Annotated[str, Meta(description="The token's public id.")]
    hook_url: Annotated[
        str,
        Meta(
            description="The path to paste into the vendor's settings (after the service's "
            "address). Shown once; stored only as a digest.",
            examples=["/v1/hooks/l2i_hook_AbC123dEf456_..."],
        ),
    ]
    urls: Annotated[list[SourceUrl], Meta(description="All the source's URLs, after this one.")]


class SourceUrlRevoked(msgspec.Struct):
    """DELETE /v1/sources/{source_id}/urls/{hook_id}."""

    hook_id: Annotated[str, Meta(description="The revoked URL's id.")]
    revoked: Literal[True]


class SourceDelivery(msgspec.Struct):
    """What a vendor sent to a source (docs/lead-sources.md, "Deliveries")."""

    delivery_id: Annotated[str, Meta(description="Its id (a UUID).")]
    received_at: Annotated[Timestamp, Meta(description="When it arrived.")]
    outcome: Annotated[
        Literal["created", "duplicate", "refused", "unauthorized"],
        Meta(
            description="`created` / `duplicate`: it made (or matched) a lead; `refused`: a "
            "4xx (mapping, phone, unreadable body), kept with its body; `unauthorized`: a bad "
            "signature or body secret, counted without its body."
        ),
    ]
    status: Annotated[int, Meta(description="What the vendor was answered.")]
    problem: Annotated[
        dict[str, Any] | None, Meta(description="The refusal: `code`, `detail`, `errors`.")
    ]
    content_type: Annotated[str | None, Meta(description="As sent.")]
    headers: Annotated[
        dict[str, str],
        Meta(description="As sent, without credentials, cookies and signatures."),
    ]
    body: Annotated[
        str | None,
        Meta(
            description="The raw body as text (the source's body secret cut out), for a "
            "delivery that made no lead; null otherwise."
        ),
    ]
    lead_id: Annotated[str | None, Meta(description="The lead it made (or a replay made).")]
    replayed_at: Annotated[Timestamp | None, Meta(description="When it was last replayed.")]
    replay_status: Annotated[int | None, Meta(description="What its last replay answered.")]


class SourceDeliveryList(msgspec.Struct):
    """GET /v1/sources/{source_id}/deliveries: newest first."""

    data: list[SourceDelivery]


class SourceList(msgspec.Struct):
    """GET /v1/sources: the org's sources, oldest first."""

    data: list[SourceOut]


class SourceDeleted(msgspec.Struct):
    """DELETE /v1/sources/{source_id}."""

    source_id: Annotated[str, Meta(description="The deleted source's id.")]
    deleted: Literal[True]


class SourcePreview(msgspec.Struct):
    """POST /v1/sources/{source_id}/preview: what the payload would make; nothing is stored."""

    valid: Annotated[bool, Meta(description="`true`: the payload makes a lead (201 or 200).")]
    stored: Annotated[Literal[False], Meta(description="Always `false`: a preview stores nothing.")]
    lead: Annotated[
        dict[str, Any] | None,
        Meta(
            description="The lead the mapping makes (before validation), as POST /v1/leads "
            "would take it."
        ),
    ]
    sources: Annotated[
        dict[str, str],
        Meta(description="Lead field (JSON Pointer) -> the payload path its value came from."),
    ]
    problems: Annotated[
        list[ErrorItem], Meta(description="Every reason the payload would be refused (a 4xx).")
    ]
    warnings: Annotated[
        list[str], Meta(description="Paths with no value, unmapped fields left out.")
    ]
    phone: Annotated[str | None, Meta(description="The E.164 phone, when it is possible.")]
    eligible: Annotated[
        bool | None, Meta(description="Before the store's gates (duplicates, suppressions, DNC).")
    ]
    reasons: Annotated[list[str], Meta(description="Reasons known before the store's gates.")]
    checks: Annotated[dict[str, str], Meta(description="The checks known before the store.")]


class FacebookReceived(msgspec.Struct):
    """A Facebook Lead Ads notification, kept: its leads are fetched in the background."""

    received: Annotated[
        int, Meta(ge=0, description="Distinct leadgen ids in the notification (each charged).")
    ]
    kept: Annotated[int, Meta(ge=0, description="Of those, new (not seen before).")]
    refused: Annotated[
        int,
        Meta(ge=0, description="Leadgen changes whose id is not digits: never fetched."),
    ] = 0


# Where msgspec's types say less than the answers do (a union of untagged Structs), the OpenAPI
# document is told more: schema name -> property -> schema (openapi.build applies these).
class ErasureIn(msgspec.Struct, forbid_unknown_fields=True):
    """What to erase: a phone in any format, or an email address (exactly one)."""

    phone: (
        Annotated[
            Annotated[str, Meta(max_length=100)],
            Meta(description="Any format; normalized like a lead's.", examples=["(512) 555-0177"]),
        ]
        | None
    ) = None
    email: (
        Annotated[
            Annotated[str, Meta(max_length=320)],
            Meta(
                description="Every lead carrying this address is erased, with every other lead "
                "of its numbers.",
                examples=["jane@example.com"],
            ),
        ]
        | None
    ) = None


class ErasureResult(msgspec.Struct):
    """The record of an erasure (the first one, when the request was made before)."""

    erasure_id: Annotated[str, Meta(description="The record's id (UUIDv7).")]
    leads_erased: Annotated[int, Meta(description="Leads whose personal data was removed.")]
    requested_at: Annotated[str, Meta(description="When (RFC 3339).")]
    requested_by: Annotated[str, Meta(description="The key id that asked, or `cli`.")]
    suppressed: Annotated[
        int, Meta(description="Numbers on the org's suppression list with reason `erasure`.")
    ]


SCHEMA_PATCHES: dict[str, dict[str, Any]] = {
    "BatchItem": {
        "body": {
            "description": "`LeadResult` for 201/200, `Problem` otherwise.",
            "anyOf": [
                {"$ref": "#/components/schemas/LeadResult"},
                {"$ref": "#/components/schemas/Problem"},
            ],
        }
    }
}


# --- events (docs/events.md) ----------------------------------------------------------------------


class Event(msgspec.Struct):
    """One entry of the org's event log: something that happened, recorded in the same
    transaction as the change (it exists if and only if the change committed)."""

    id: Annotated[
        str,
        Meta(
            description="The event's id (UUIDv7, roughly time ordered); also the webhook's "
            "`webhook-id` and the stream's `id:`.",
            examples=["01970f3e-8c4a-7d2e-9b1a-3f5c6d7e8f91"],
        ),
    ]
    type: Annotated[
        str,
        Meta(
            description="`lead.created`, `lead.duplicate`, `lead.queued`, `lead.held`, "
            "`lead.claimed`, `lead.released`, `lead.attempted`, `lead.completed`, "
            "`lead.suppressed`, `lead.dnc_scrubbed`, `suppression.added`, `suppression.removed`, "
            "`source.lead_failed`, `webhook_endpoint.disabled` (docs/events.md).",
            examples=["lead.created"],
        ),
    ]
    org: Annotated[str, Meta(description="The org's id.")]
    created_at: Annotated[Timestamp, Meta(description="When it was recorded.")]
    sandbox: Annotated[bool, Meta(description="Caused through a test (`l2i_test_`) key.")]
    lead_id: Annotated[str | None, Meta(description="The lead concerned, if any.")]
    request_id: Annotated[
        str | None, Meta(description="The `X-Request-Id` of the request that caused it.")
    ]
    data: Annotated[
        dict[str, Any],
        Meta(
            description="The object concerned: for `lead.*` the lead as `GET /v1/leads/{id}` "
            "showed it then (without `callable_at`), with the event's own keys (`outcome`, "
            "`reason`, `duplicate`, `claimed_by`); for `suppression.*` the number; for "
            "`source.lead_failed` the source and the problem."
        ),
    ]


class EventList(msgspec.Struct):
    """GET /v1/events, GET /v1/leads/{id}/events: a page of events."""

    data: list[Event]
    has_more: Annotated[bool, Meta(description="More events follow this page.")]
    next_cursor: Annotated[
        str | None,
        Meta(
            description="Newest-first pages: pass as `starting_after`. Oldest-first pages "
            "(`after`): the last event's id, to pass as `after`. Null when nothing follows."
        ),
    ]


# --- webhook endpoints (docs/events.md) ---------------------------------------------------------


class WebhookEndpointIn(msgspec.Struct, forbid_unknown_fields=True):
    """A URL that receives the org's events, signed (Standard Webhooks)."""

    url: Annotated[
        str,
        Meta(
            max_length=2048,
            description="https URL (http only where the operator allows it); its host must "
            "resolve to public addresses unless the operator allows private ones.",
            examples=["https://crm.example.com/hooks/l2i"],
        ),
    ]
    types: Annotated[
        list[str],
        Meta(
            min_length=1,
            max_length=50,
            description="Event types to receive: `*` (all), a family (`lead.*`) or exact types.",
            examples=[["lead.created", "lead.completed"]],
        ),
    ] = msgspec.field(default_factory=lambda: ["*"])
    description: Annotated[str, Meta(max_length=500)] | None = None
    enabled: bool = True


class WebhookEndpointPatch(msgspec.Struct, forbid_unknown_fields=True):
    """The fields to change; the others stay as they are."""

    url: Annotated[str, Meta(max_length=2048)] | msgspec.UnsetType = msgspec.UNSET
    types: (
        Annotated[list[str], Meta(min_length=1, max_length=50, description="As when created.")]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    description: Annotated[str, Meta(max_length=500)] | msgspec.UnsetType | None = msgspec.UNSET
    enabled: (
        Annotated[
            bool,
            Meta(
                description="false: nothing is sent until it is true again (its deliveries "
                "wait); true: on again, also after the service disabled it (410 Gone, failing "
                "5 days), and the events recorded meanwhile are sent."
            ),
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET


class WebhookTestSent(msgspec.Struct):
    """What the endpoint answered to a test event (sent once, now; not logged or retried)."""

    id: Annotated[str, Meta(description="The test message's `webhook-id`.")]
    status: Annotated[int | None, Meta(description="The HTTP status, or null: no answer.")]
    response: Annotated[str | None, Meta(description="The answer's first 1 KB.")] = None
    error: Annotated[str | None, Meta(description="Why there was no answer.")] = None


class WebhookEndpoint(msgspec.Struct):
    """A webhook endpoint (its secret is shown only when created or rotated)."""

    id: Annotated[str, Meta(description="The endpoint's id.")]
    url: str
    types: list[str]
    description: str | None
    enabled: Annotated[bool, Meta(description="False once disabled (410 Gone, failing 5 days).")]
    disabled_reason: Annotated[
        str | None,
        Meta(description="`gone`, `failing` (the service's) or `disabled` (the org's); else null."),
    ]
    sandbox: Annotated[bool, Meta(description="Receives sandbox events (made with a test key).")]
    created_at: Timestamp


class WebhookEndpointCreated(WebhookEndpoint):
    """The new endpoint and its signing secret, shown this once."""

    secret: Annotated[
        str, Meta(description="The signing secret (`whsec_...`), shown once: keep it.")
    ]


class WebhookEndpointList(msgspec.Struct):
    data: list[WebhookEndpoint]


class WebhookEndpointDeleted(msgspec.Struct):
    id: str
    deleted: bool


class WebhookRotateIn(msgspec.Struct, forbid_unknown_fields=True):
    overlap_seconds: Annotated[
        int,
        Meta(
            ge=0,
            le=604800,
            description="How long the old secret still signs deliveries (both signatures are "
            "sent), default one day.",
        ),
    ] = 86400


class WebhookSecret(msgspec.Struct):
    secret: Annotated[str, Meta(description="The new signing secret, shown this once.")]


class WebhookReplayIn(msgspec.Struct, forbid_unknown_fields=True):
    """One event, or every event of a time range (at most 10,000 per call)."""

    event_id: Annotated[str, Meta(description="An event id of this org.")] | None = None
    since: Annotated[str, Meta(description="RFC 3339: events from this time on.")] | None = None
    until: Annotated[str, Meta(description="RFC 3339: events before this time.")] | None = None


class WebhookReplayed(msgspec.Struct):
    scheduled: Annotated[int, Meta(description="Deliveries scheduled (same webhook-id as before).")]


class WebhookAttempt(msgspec.Struct):
    id: str
    event_id: str
    event_type: str | None
    attempt: Annotated[int, Meta(description="1 for the first try of this delivery.")]
    attempted_at: Timestamp
    status: Annotated[int | None, Meta(description="The HTTP status; null: no answer.")]
    duration_ms: int
    response: Annotated[str | None, Meta(description="The answer's first 1 KB.")]
    error: Annotated[str | None, Meta(description="Why there was no answer.")]


class WebhookAttemptList(msgspec.Struct):
    data: list[WebhookAttempt]
    has_more: bool
    next_cursor: Annotated[str | None, Meta(description="Pass as `starting_after`.")]


class WebhookPayload(msgspec.Struct):
    """The JSON body of a webhook delivery (Standard Webhooks' `{type, timestamp, data}`, with
    the event's id, org, lead, request and mode alongside)."""

    type: Annotated[str, Meta(description="The event type.", examples=["lead.created"])]
    timestamp: Annotated[Timestamp, Meta(description="When the event was recorded.")]
    id: Annotated[str, Meta(description="The event id; also the `webhook-id` header.")]
    org: str
    sandbox: bool
    lead_id: str | None
    request_id: str | None
    data: Annotated[dict[str, Any], Meta(description="As in `Event.data`.")]
