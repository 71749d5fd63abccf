"""A web form and a JSON body carrying the same lead become the same lead (or the same 422s)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lead2inbound.contract.problems import ProblemError
from lead2inbound.intake.forms import parse_form, unflatten
from lead2inbound.intake.pipeline import OrgPolicy, prepare
from lead2inbound.web.resources.leads import decode_lead

ORG = "0196f000-0000-7000-8000-000000000001"


class FakeReq:
    def __init__(self, content_type: str):
        self.content_type = content_type


def stored(content_type: str, body: bytes) -> Any:
    """What would be stored (the writer's row without the lead id), or the 422's errors."""
    try:
        lead, names = decode_lead(FakeReq(content_type), body)
        prepared = prepare(lead, policy=OrgPolicy(ORG), key_id="k" * 12, sandbox=False, names=names)
    except ProblemError as exc:
        return exc.status, sorted((e.pointer, e.code) for e in exc.errors or [])
    row = list(prepared.row())
    row[1] = None  # lead id
    return row


def to_form(data: dict[str, Any]) -> bytes:
    pairs: list[tuple[str, str]] = []

    def walk(value: Any, name: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{name}[{k}]" if name else k)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{name}[{i}]")
        else:
            pairs.append((name, str(value)))

    walk(data, "")
    return urlencode(pairs).encode()


text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=30)
phones = st.sampled_from(
    [
        "5125550143",
        "(512) 555-0143",
        "+1 512-555-0143",
        "512.555.0143 x12",
        "12",
        "abc",
        "+442079460958",
        "5551234567",
    ]
)
consent = st.fixed_dictionaries(
    {},
    optional={
        "consent_timestamp": st.sampled_from(
            ["2026-07-05T12:00:00Z", "yesterday", "2999-01-01T00:00:00Z"]
        ),
        "consent_text_version": text,
        "source_url": text,
        "sellers": st.lists(text, min_size=1, max_size=3),
        "nope": text,  # unknown inside the block: a 422
    },
).filter(bool)  # a form cannot send an empty object
leads = st.fixed_dictionaries(
    {"phone": phones},
    optional={
        "source": text,
        "first_name": text,
        "state": st.sampled_from(["TX", "tx", "ZZ", "Texas"]),
        "email": st.sampled_from(["a@b.co", "nope"]),
        "consent": consent,
        "attribution": st.fixed_dictionaries(
            {}, optional={"utm_source": text, "gclid": text}
        ).filter(bool),
        "custom_fields": st.dictionaries(
            st.text("abcdefghij_", min_size=1, max_size=12), text, min_size=1, max_size=4
        ),
        "frist_name": text,  # a typo: a 422 naming it
    },
)


@given(leads)
def test_form_and_json_store_the_same_lead(lead: dict[str, Any]) -> None:
    as_json = stored("application/json", json.dumps(lead).encode())
    as_form = stored("application/x-www-form-urlencoded", to_form(lead))
    assert as_json == as_form


@given(leads)
def test_flat_names_store_the_same_lead(lead: dict[str, Any]) -> None:
    """Zapier-style flat names (bare and double-underscore) mean the nested fields."""
    flat: dict[str, Any] = {k: v for k, v in lead.items() if k not in ("consent", "attribution")}
    for k, v in lead.get("consent", {}).items():
        flat[k if k != "nope" else "consent__nope"] = v
    for k, v in lead.get("attribution", {}).items():
        flat[f"attribution__{k}"] = v
    nested = stored("application/json", json.dumps(lead).encode())
    assert stored("application/json", json.dumps(flat).encode()) == nested
    assert stored("application/x-www-form-urlencoded", to_form(flat)) == nested


def test_errors_name_the_field_as_sent() -> None:
    cases = [
        ("phone=5125550143&consent%5Bconsent_timestamp%5D=1&consent%5Bx%5D=1", "consent[x]"),
        ("phone=5125550143&consent__x=1", "consent__x"),
        ("phone=12&consent_timestamp=2026-07-05T12:00:00Z", "phone"),
        ("phone=5125550143&state=ZZ", "state"),
        ("phone=5125550143&consent%5Bsellers%5D%5B0%5D=" + "x" * 300, "consent[sellers][0]"),
    ]
    for body, param in cases:
        with pytest.raises(ProblemError) as err:
            lead, names = decode_lead(FakeReq("application/x-www-form-urlencoded"), body.encode())
            prepare(lead, policy=OrgPolicy(ORG), key_id="k" * 12, sandbox=False, names=names)
        assert param in [e.param for e in err.value.errors or []], (body, err.value.errors)
    with pytest.raises(ProblemError) as err:
        decode_lead(FakeReq("application/json"), b'{"phone": "5125550143", "utm_source": 5}')
    assert [e.param for e in err.value.errors or []] == ["utm_source"]
    assert [e.pointer for e in err.value.errors or []] == ["#/attribution/utm_source"]


def test_form_charset_and_lists() -> None:
    data, _ = parse_form(b"first_name=Ren%E9e&phone=1", "latin-1")
    assert data["first_name"] == "Renée"
    data, _ = parse_form(b"a[0][b]=1&a[0][c]=2&a[1][b]=3", "utf-8")
    assert data == {"a": [{"b": "1", "c": "2"}, {"b": "3"}]}
    for bad in (b"a[0]=1&a[0]=2", b"a=1&a[b]=2", b"a[5]=1", b"a[b][c][d][e]=1", b"]x=1"):
        with pytest.raises(ProblemError):
            parse_form(bad)
    with pytest.raises(ProblemError) as err:
        decode_lead(FakeReq("text/plain"), b"phone=1")
    assert err.value.status == 415
    with pytest.raises(ProblemError):
        unflatten({"consent": "x", "consent_timestamp": "y"})
    with pytest.raises(ProblemError):
        unflatten({"consent": {"consent_timestamp": "a"}, "consent_timestamp": "b"})
