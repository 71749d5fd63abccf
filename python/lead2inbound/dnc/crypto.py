"""Provider credentials sealed with AES-256-GCM (`cryptography`) under `L2I_SECRET_KEY`.

The AES key is HKDF-SHA256 of the configured secret; its id (8 bytes of a hash of the derived key,
hex) is stored next to each sealed value, so a rotation can keep the previous secret in
`L2I_SECRET_KEY_OLD` for reading while `l2i dnc rekey` re-seals every row under the new one.
The org id and the provider name are the associated data: a sealed value copied to another org's
row does not open.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"lead2inbound dnc provider credentials v1"
_NONCE = 12


class SecretError(Exception):
    """No key configured, or a sealed value that does not open under any configured key."""


def _derive(secret: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO)
    return hkdf.derive(secret.encode())


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"l2i key id\x00" + key).hexdigest()[:16]


def associated_data(org_id: str, provider: str) -> bytes:
    return f"{org_id}\x00{provider}".encode()


class SecretBox:
    def __init__(self, current: str, old: str = ""):
        self._keys: dict[str, AESGCM] = {}
        self.current_id: str | None = None
        for i, secret in enumerate((current, old)):
            if not secret:
                continue
            key = _derive(secret)
            kid = _key_id(key)
            self._keys.setdefault(kid, AESGCM(key))
            if i == 0:
                self.current_id = kid

    def seal(self, plaintext: bytes, aad: bytes) -> tuple[bytes, str]:
        """`(nonce || ciphertext+tag, key id)` under the current key."""
        if self.current_id is None:
            raise SecretError("L2I_SECRET_KEY is not set: provider credentials cannot be stored")
        nonce = os.urandom(_NONCE)
        return nonce + self._keys[self.current_id].encrypt(nonce, plaintext, aad), self.current_id

    def open(self, sealed: bytes, key_id: str | None, aad: bytes) -> bytes:
        aead = self._keys.get(key_id or "")
        if aead is None:
            raise SecretError(
                f"the credentials were sealed under key {key_id}, which is neither "
                "L2I_SECRET_KEY nor L2I_SECRET_KEY_OLD"
            )
        try:
            return aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], aad)
        except InvalidTag:
            raise SecretError("the sealed credentials do not authenticate") from None
