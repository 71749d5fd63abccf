"""API keys: format, checksum, digest under a pepper, constant-time verification."""

from __future__ import annotations

import hashlib
import hmac
import re
import string
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lead2inbound._core import ParsedKey, key_digest, mint_key, parse_key, verify_key

B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
KEY_RE = re.compile(r"l2i_(live|test)_([0-9A-Za-z]{12})_([0-9A-Za-z]{32})([0-9A-Za-z]{6})")
PEPPER = b"test-pepper-0123456789abcdef"


def b62(n: int, width: int = 6) -> str:
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = B62[r] + out
    return out.rjust(width, "0")


def reference_key(env: str, key_id: str, secret: str) -> str:
    """The key format from the product document, written independently in Python."""
    crc = b62(zlib.crc32(f"{key_id}_{secret}".encode()))
    return f"l2i_{env}_{key_id}_{secret}{crc}"


def test_minted_key_shape() -> None:
    for env in ("live", "test"):
        key, key_id = mint_key(env)
        assert len(key) == 4 + 5 + 13 + 38 == 60
        m = KEY_RE.fullmatch(key)
        assert m is not None
        assert m.group(1) == env
        assert m.group(2) == key_id


@pytest.mark.parametrize("env", ["", "prod", "LIVE", "Live", " live", "live ", "tes", "testt"])
def test_mint_rejects_bad_env(env: str) -> None:
    with pytest.raises(ValueError):
        mint_key(env)


def test_checksum_matches_python_reference() -> None:
    for i in range(5000):
        key, key_id = mint_key("live" if i % 2 else "test")
        m = KEY_RE.fullmatch(key)
        assert m is not None
        env, kid, secret, crc = m.groups()
        assert kid == key_id
        assert crc == b62(zlib.crc32(f"{kid}_{secret}".encode()))
        assert reference_key(env, kid, secret) == key


def test_reference_built_key_parses() -> None:
    key = reference_key("test", "A" * 12, "z" * 32)
    parsed = parse_key(key)
    assert isinstance(parsed, ParsedKey)
    assert (parsed.env, parsed.key_id, parsed.last4) == ("test", "A" * 12, key[-4:])


def test_secret_is_not_exposed() -> None:
    key, _ = mint_key("live")
    parsed = parse_key(key)
    assert parsed is not None
    secret = key[22:54]
    assert not any(secret in str(getattr(parsed, a, "")) for a in dir(parsed))
    assert secret not in repr(parsed)


def test_every_single_substitution_is_rejected() -> None:
    others = "_-. +/=\t\n\x00é€"
    for _ in range(3):
        key, _ = mint_key("live")
        assert parse_key(key) is not None
        for pos in range(len(key)):
            for ch in B62 + others:
                if key[pos] == ch:
                    continue
                typo = key[:pos] + ch + key[pos + 1 :]
                assert parse_key(typo) is None, (pos, ch)


def test_rejects_malformed() -> None:
    key, _ = mint_key("live")
    bad = [
        "",
        " " + key,
        key + " ",
        key + "\n",
        "\t" + key,
        key[:-1],
        key + "0",
        key.upper(),
        "L2I" + key[3:],
        "l2i_prod" + key[8:],
        key.replace("_", "-"),
        key[:21] + key[22:] + "0",  # separator moved
        "x" * 60,
    ]
    for s in bad:
        assert parse_key(s) is None, s


def test_digest_matches_python_hmac() -> None:
    for _ in range(200):
        key, _ = mint_key("live")
        want = hmac.new(PEPPER, key.encode(), hashlib.sha256).digest()
        got = key_digest(PEPPER, key)
        assert isinstance(got, bytes)
        assert len(got) == 32
        assert got == want
        assert verify_key(PEPPER, key, want)


def test_digest_covers_the_whole_key() -> None:
    key, _ = mint_key("live")
    other_env = "l2i_test" + key[8:]  # same id, secret and checksum: still well-formed
    assert parse_key(other_env) is not None
    assert key_digest(PEPPER, key) != key_digest(PEPPER, other_env)
    assert not verify_key(PEPPER, other_env, key_digest(PEPPER, key))


def test_verify_rejects_wrong_pepper_and_digest() -> None:
    key, _ = mint_key("test")
    digest = key_digest(PEPPER, key)
    assert verify_key(PEPPER, key, digest)
    assert not verify_key(PEPPER + b"x", key, digest)
    assert not verify_key(b"another pepper", key, digest)
    for i in range(32):
        flipped = bytearray(digest)
        flipped[i] ^= 0x01
        assert not verify_key(PEPPER, key, bytes(flipped))
    assert not verify_key(PEPPER, key, digest[:31])
    assert not verify_key(PEPPER, key, digest + b"\x00")
    assert not verify_key(PEPPER, key, b"")
    other, _ = mint_key("test")
    assert not verify_key(PEPPER, other, digest)


def test_empty_pepper_is_a_configuration_error() -> None:
    with pytest.raises(ValueError):
        key_digest(b"", "l2i_live_x")
    with pytest.raises(ValueError):
        verify_key(b"", "l2i_live_x", b"\x00" * 32)


def test_surrogates_never_raise_in_parse_or_verify() -> None:
    assert parse_key("l2i_live_\ud800") is None
    assert verify_key(PEPPER, "\udcff" * 60, b"\x00" * 32) is False


# --- property tests ------------------------------------------------------------------------------

b62_text = st.text(alphabet=B62, min_size=0, max_size=80)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["live", "test"]))
def test_prop_minted_keys_always_parse(env: str) -> None:
    key, key_id = mint_key(env)
    parsed = parse_key(key)
    assert parsed is not None
    assert (parsed.env, parsed.key_id, parsed.last4) == (env, key_id, key[-4:])


@settings(max_examples=2000, deadline=None)
@given(st.one_of(st.text(), b62_text, st.text(alphabet=B62 + "_l2ivetsL", max_size=70)))
def test_prop_parse_never_raises(text: str) -> None:
    result = parse_key(text)
    if result is not None:
        # Anything accepted is exactly a well-formed key with a correct checksum.
        m = KEY_RE.fullmatch(text)
        assert m is not None
        assert m.group(4) == b62(zlib.crc32(f"{m.group(2)}_{m.group(3)}".encode()))


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(["live", "test"]),
    st.text(alphabet=B62, min_size=12, max_size=12),
    st.text(alphabet=B62, min_size=32, max_size=32),
)
def test_prop_round_trip(env: str, key_id: str, secret: str) -> None:
    key = reference_key(env, key_id, secret)
    parsed = parse_key(key)
    assert parsed is not None
    assert parsed.env == env
    assert parsed.key_id == key_id
    assert parsed.last4 == key[-4:]
    # Any wrong checksum is rejected.
    wrong = key[:-6] + b62((zlib.crc32(f"{key_id}_{secret}".encode()) + 1) % 2**32)
    assert parse_key(wrong) is None


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=100), st.text(max_size=100))
def test_prop_digest_equals_python(pepper: bytes, text: str) -> None:
    want = hmac.new(pepper, text.encode(), hashlib.sha256).digest()
    assert key_digest(pepper, text) == want
    assert verify_key(pepper, text, want)
