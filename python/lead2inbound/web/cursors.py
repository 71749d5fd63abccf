"""Opaque page cursors that grant nothing by themselves.

A cursor is a keyset position (e.g. `(created_at, lead_id)`) with an HMAC-SHA256 tag under a
server secret derived from the key pepper, bound to the org id and to the list it came from. The
org filter of a listing always comes from the caller's key; the cursor only says where to resume,
and a cursor minted for another org (or tampered with) fails the tag check: 422.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

_TAG_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorSigner:
    def __init__(self, pepper: bytes):
        self._secret = hmac.new(pepper, b"l2i cursor secret v1", hashlib.sha256).digest()

    def _tag(self, org_id: str, kind: str, payload: bytes) -> bytes:
        msg = org_id.encode() + b"\0" + kind.encode() + b"\0" + payload
        return hmac.new(self._secret, msg, hashlib.sha256).digest()[:_TAG_BYTES]

    def sign(self, org_id: str, kind: str, parts: tuple[str, ...]) -> str:
        payload = "\x1f".join(parts).encode()
        return _b64(payload) + "." + _b64(self._tag(org_id, kind, payload))

    def verify(self, org_id: str, kind: str, cursor: str) -> tuple[str, ...] | None:
        """The position, or None for a tampered, foreign or malformed cursor."""
        body, sep, tag = cursor.partition(".")
        if not sep or len(cursor) > 512:
            return None
        try:
            payload, given = _unb64(body), _unb64(tag)
        except (ValueError, TypeError):
            return None
        if not hmac.compare_digest(given, self._tag(org_id, kind, payload)):
            return None
        try:
            return tuple(payload.decode().split("\x1f"))
        except UnicodeDecodeError:
            return None
