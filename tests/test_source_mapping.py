"""The mapping engine without a server: rules, conversions, body formats, unmapped fields."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from lead2inbound.contract.problems import ProblemError
from lead2inbound.sources.mapping import (
    MappingError,
    apply,
    check_mapping,
    decode,
    to_datetime,
)

FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("2026-07-05T12:00:00Z", "2026-07-05T12:00:00Z"),
        ("2025-07-05T12:00:00+0000", "2025-07-05T12:00:00Z"),  # Facebook's created_time
        ("2026-07-05T07:00:00-05:00", "2026-07-05T07:00:00-05:00"),
        (1751716800, "2025-07-05T12:00:00Z"),
        (1751716800000, "2025-07-05T12:00:00Z"),  # HubSpot's milliseconds
        ("1751716800000", "2025-07-05T12:00:00Z"),
        ("2026-07-05 04:19 PM UTC", "2026-07-05T16:19:00Z"),  # Unbounce
        ("2026-07-05 12:00:00", "2026-07-05T12:00:00Z"),  # Gravity Forms (UTC)
        ("not a time", "not a time"),  # passed on: the consent gate says invalid_consent
    ],
)
def test_to_datetime(raw, want):
    assert to_datetime(raw) == want


def test_rules():
    doc = {
        "a": {"b": ["only"]},
        "name": "  Mary  Ann Smith ",
        "list": [{"k": "x", "v": 5}, {"k": "y", "v": True, "w": ["2"]}],
        "empty": "",
        "flag": "0",
        "when": "2026-07-05T12:00:00Z",
        "a/b": "slash",
    }
    mapping = {
        "phone": "/a/b",  # a list of one is its value
        "first_name": {"split_name": "/name", "part": "first"},
        "last_name": {"split_name": "/name", "part": "last"},
        "email": {"first": ["/empty", "/missing", {"const": "c@example.com"}]},
        "city": {"join": ["/a/b", "/missing", "/list/0/k"], "sep": "-"},
        "address": {"find": "/list", "where": {"/k": "y"}, "get": "/w"},
        "state": {"find": "/list", "where": {"/v": "1"}, "get": "/k"},  # true and "1" alike
        "consent.consent_timestamp": {"path": "/when", "when": "/flag"},  # "0": not taken
        "custom_fields.slash": "/a~1b",
    }
    check_mapping(mapping)
    got = apply(doc, mapping, {"unmapped": "drop"})
    assert got.data == {
        "phone": "only",
        "first_name": "Mary",
        "last_name": "Ann Smith",
        "email": "c@example.com",
        "city": "only-x",
        "address": "2",
        "state": "y",
        "custom_fields": {"slash": "slash"},
    }
    assert got.names[("phone",)] == "/a/b"
    assert got.names[("address",)] == "/list/1/w"
    assert "no value at /missing" in got.warnings


def test_unmapped_fields_go_to_custom_fields_within_bounds():
    doc = {"phone": "1", "keep": {"x": 1, "deep": {"y": "z"}}, "skip": {"s": 1}, "long": "v" * 501}
    got = apply(doc, {"phone": "/phone"}, {"ignore": ["/skip/*"]})
    assert got.data["custom_fields"] == {"keep.x": 1, "keep.deep.y": "z"}
    assert any("left out" in w and "long" in w for w in got.warnings)


@pytest.mark.parametrize(
    ("mapping", "where"),
    [
        ({}, "mapping"),
        ({"email": "/e"}, "phone"),
        ({"phone": "/p", "source": "/s"}, "source"),
        ({"phone": "/p", "consent.nope": "/x"}, "consent.nope"),
        ({"phone": {"path": "/p", "extra": 1}}, "phone"),
        ({"phone": {"split_name": "/n"}}, "phone"),
        ({"phone": {"find": "/l", "where": {}}}, "phone"),
        ({"phone": 12}, "phone"),
        # paths: RFC 6901 escapes only, bounded, no NUL (hostile mappings via PATCH)
        ({"phone": "/a/~2/b"}, "phone"),
        ({"phone": "/a~"}, "phone"),
        ({"phone": "/" + "a/" * 600}, "phone"),
        ({"phone": "ph\x00one"}, "phone"),
        ({"phone": {"find": "/l~x", "where": {"/k": "v"}, "get": "/v"}}, "phone"),
        ({"phone": {"find": "/l", "where": {"/k~": "v"}, "get": "/v"}}, "phone"),
        ({"phone": {"find": "/l", "where": {"/k": "v"}, "get": "/v~9"}}, "phone"),
    ],
)
def test_bad_mappings(mapping, where):
    with pytest.raises(MappingError) as caught:
        check_mapping(mapping)
    assert caught.value.where == where


def test_escaped_pointers_and_names_are_still_good():
    check_mapping({"phone": "/a~1b/~0c", "email": "data[email]", "first_name": "$.odd name"})
    assert apply({"a/b": {"~c": "5125550100"}}, {"phone": "/a~1b/~0c"}).data["phone"] == (
        "5125550100"
    )


def test_body_formats():
    assert decode(b'{"a": 1}', "application/json; charset=utf-8", "json") == {"a": 1}
    form = urlencode([("a", "1"), ("a", "2"), ("b", "")]).encode()
    assert decode(form, FORM, "form") == {"a": ["1", "2"], "b": ""}
    nested = urlencode([("data.json", json.dumps({"phone": ["5"]})), ("page_id", "p")]).encode()
    assert decode(nested, FORM, "form_json", "data.json") == {
        "data.json": {"phone": ["5"]},
        "page_id": "p",
    }
    multipart = (
        b'--XyZ\r\nContent-Disposition: form-data; name="phone"\r\n\r\n5125550143\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nfile body\r\n--XyZ--\r\n"
    )
    ctype = "multipart/form-data; boundary=XyZ"
    assert decode(multipart, ctype, "multipart") == {"phone": "5125550143"}  # files left out
    for body, kind, fmt, status in (
        (b"{", "application/json", "json", 400),
        (b"[1]", "application/json", "json", 400),
        (b"a=1", FORM, "json", 415),
        (b'{"a": 1}', "application/json", "form", 415),
        (urlencode([("data.json", "{")]).encode(), FORM, "form_json", 400),
        (b"x", "multipart/form-data", "multipart", 400),
    ):
        with pytest.raises(ProblemError) as caught:
            decode(body, kind, fmt, "data.json")
        assert caught.value.status == status, (body, kind, fmt)
