"""Webhook signatures, checked over the raw body in constant time before anything is parsed.

Schemes (docs/lead-sources.md, "Signed webhooks"):

- `facebook`: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, body)>` (Meta's Graph
  API webhooks).
- `typeform`: `Typeform-Signature: sha256=<base64 HMAC-SHA256(secret, body)>`.
- `hubspot-v3`: `X-HubSpot-Signature-v3: <base64 HMAC-SHA256(client secret, method + URI + body +
  timestamp)>` with `X-HubSpot-Request-Timestamp` (ms); older than 5 minutes is refused.
- `hubspot-v1`: `X-HubSpot-Signature: <hex SHA-256(client secret + body)>` (what workflow
  webhooks send with "Include request signature in header"; no timestamp, so no replay window).
- `hmac-sha256`: our own for partner systems: `L2I-Signature: t=<unix seconds>,v1=<hex
  HMAC-SHA256(secret, "<t>." + body)>`; older than 5 minutes is refused.
- `calendly`: `Calendly-Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(signing key,
  "<t>." + body)>` (Calendly's "Webhook Signatures"); older than 5 minutes is refused.
- `webflow`: `x-webflow-timestamp: <unix ms>`, `x-webflow-signature: <hex HMAC-SHA256(client
  secret, "<timestamp>:" + body)>` (Webflow's "Verifying webhook signatures"; only webhooks
  made by an OAuth app are signed); older than 5 minutes is refused.
- `standard-webhooks`: `webhook-id`, `webhook-timestamp` (unix seconds), `webhook-signature:
  v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>." + body)>` (space-separated, any one may
  match), the key being the base64 after `whsec_` (the Standard Webhooks specification);
  older than 5 minutes is refused.

Where a timestamp is signed, a signature is also accepted only once within the window (a
replayed request is refused even inside it): `Replays` remembers it in Redis.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Sequence
from typing import get_args

from lead2inbound.contract.schemas import SignatureScheme

SCHEMES: tuple[str, ...] = get_args(SignatureScheme)  # the contract names them
REPLAY_WINDOW_S = 300


class BadSignature(Exception):
    """Missing, malformed, wrong or stale: the request is a 401 and nothing is read further."""


Header = Callable[[str], str | None]


def _mac(secret: str, data: bytes) -> bytes:
    return hmac.new(secret.encode(), data, hashlib.sha256).digest()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def verify(
    scheme: str,
    secret: str,
    body: bytes,
    header: Header,
    *,
    method: str = "POST",
    urls: Sequence[str] = (),
    now: float | None = None,
) -> str | None:
    """Check the request; returns the replay token (None when the scheme has no timestamp) or
    raises BadSignature."""
    now = time.time() if now is None else now
    if scheme == "facebook":
        given = header("X-Hub-Signature-256") or ""
        expected = "sha256=" + _mac(secret, body).hex()
        if not _same(given.strip().lower(), expected):
            raise BadSignature("X-Hub-Signature-256")
        return None
    if scheme == "typeform":
        given = header("Typeform-Signature") or ""
        expected = "sha256=" + base64.b64encode(_mac(secret, body)).decode()
        if not _same(given.strip(), expected):
            raise BadSignature("Typeform-Signature")
        return None
    if scheme == "hubspot-v1":
        given = header("X-HubSpot-Signature") or ""
        expected = hashlib.sha256(secret.encode() + body).hexdigest()
        if not _same(given.strip().lower(), expected):
            raise BadSignature("X-HubSpot-Signature")
        return None
    if scheme == "hubspot-v3":
        given = (header("X-HubSpot-Signature-v3") or "").strip()
        stamp = (header("X-HubSpot-Request-Timestamp") or "").strip()
        if not given or not _digits(stamp):
            raise BadSignature("X-HubSpot-Signature-v3")
        _fresh(int(stamp) / 1000, now)
        ok = False
        for url in urls:  # every candidate is computed: the time does not depend on which matched
            data = method.upper().encode() + url.encode() + body + stamp.encode()
            ok |= _same(given, base64.b64encode(_mac(secret, data)).decode())
        if not ok:
            raise BadSignature("X-HubSpot-Signature-v3")
        return "hs3:" + given
    if scheme in ("hmac-sha256", "calendly"):  # the same layout, each its own header
        name = "L2I-Signature" if scheme == "hmac-sha256" else "Calendly-Webhook-Signature"
        raw = header(name) or ""
        parts = dict(p.strip().partition("=")[::2] for p in raw.split(",") if "=" in p)
        stamp, given = parts.get("t", ""), parts.get("v1", "")
        if not _digits(stamp) or not given:
            raise BadSignature(name)
        _fresh(int(stamp), now)
        expected = _mac(secret, stamp.encode() + b"." + body).hex()
        if not _same(given.lower(), expected):
            raise BadSignature(name)
        return f"{scheme}:{given.lower()}"
    if scheme == "webflow":
        stamp = (header("x-webflow-timestamp") or "").strip()
        given = (header("x-webflow-signature") or "").strip().lower()
        if not _digits(stamp) or not given:
            raise BadSignature("x-webflow-signature")
        _fresh(int(stamp) / 1000, now)
        expected = _mac(secret, stamp.encode() + b":" + body).hex()
        if not _same(given, expected):
            raise BadSignature("x-webflow-signature")
        return "webflow:" + given
    if scheme == "standard-webhooks":
        msg_id = (header("webhook-id") or "").strip()
        stamp = (header("webhook-timestamp") or "").strip()
        given = (header("webhook-signature") or "").split()
        if not msg_id or not _digits(stamp) or not given:
            raise BadSignature("webhook-signature")
        _fresh(int(stamp), now)
        key = _standard_key(secret)
        data = msg_id.encode() + b"." + stamp.encode() + b"." + body
        expected = base64.b64encode(hmac.new(key, data, hashlib.sha256).digest()).decode()
        ok = False
        for item in given[:10]:  # each is compared: the time does not say which matched
            version, _, sig = item.partition(",")
            ok |= version == "v1" and _same(sig, expected)
        if not ok:
            raise BadSignature("webhook-signature")
        return "sw:" + msg_id  # the message id is the sender's idempotency key
    raise BadSignature("no signature scheme")


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 15


def _standard_key(secret: str) -> bytes:
    """A Standard Webhooks secret (`whsec_<base64>`) as its HMAC key; one that is not base64 is
    used as its bytes (a secret the source's owner typed)."""
    try:
        return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        return secret.encode()


def _fresh(stamp_s: float, now: float) -> None:
    if abs(now - stamp_s) > REPLAY_WINDOW_S:
        raise BadSignature("timestamp outside the replay window")


def sign_hmac(secret: str, body: bytes, stamp: int | None = None) -> str:
    """An `L2I-Signature` header value (for partners' code and for tests)."""
    stamp = int(time.time()) if stamp is None else stamp
    return f"t={stamp},v1={_mac(secret, str(stamp).encode() + b'.' + body).hex()}"
