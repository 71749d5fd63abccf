"""Property tests for `_core.normalize`: never crashes, agrees with the oracle, is idempotent."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lead2inbound import _core
from tests.phone_corpus import ALL_REGIONS, EXT_STYLES, UNICODE_DIGIT_SETS, describe, oracle

try:  # tests/ is a rootdir-style test directory (no __init__.py)...
    from phone_corpus import ALL_REGIONS, EXT_STYLES, UNICODE_DIGIT_SETS, describe, oracle
except ImportError:  # ...or a package, once someone adds an __init__.py
    from tests.phone_corpus import ALL_REGIONS, EXT_STYLES, UNICODE_DIGIT_SETS, describe, oracle

REGIONS = st.sampled_from(["US", "US", "GB", "DE", "IN", "BR", "CA", "AR", "IT", "", "us", "ZZ"])
ANY_REGION = st.sampled_from(ALL_REGIONS)

PHONE_CHARS = st.sampled_from(
    [*"0123456789" * 4, *"+-(). /xX#*;,~_ext", "\u00a0", "\u2013", "\uff0b", "\u3000"]
)
phoneish = st.text(PHONE_CHARS, min_size=0, max_size=30)


@st.composite
def structured(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(["", "+", "+1 ", "1-", "00", "011 ", "0", "(", "tel:+"]))
    groups = draw(st.lists(st.text("0123456789", min_size=1, max_size=5), min_size=1, max_size=5))
    sep = draw(st.sampled_from([" ", "-", ".", "", ") ", "/"]))
    body = prefix + sep.join(groups)
    if draw(st.booleans()):
        body += draw(st.sampled_from(EXT_STYLES)).format(draw(st.integers(0, 10**8)))
    if draw(st.integers(0, 4)) == 0:
        table = draw(st.sampled_from(UNICODE_DIGIT_SETS))
        body = "".join(table[int(c)] if "0" <= c <= "9" else c for c in body)
    return body


def core(raw: str, region: str) -> tuple:
    try:
        return describe(_core.normalize(raw, region))
    except _core.InvalidPhone as e:
        assert e.reason in {
            "not_a_number",
            "invalid_country_code",
            "too_short",
            "too_long",
            "invalid_length",
        }
        return describe(e)


COMMON = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@COMMON
@given(st.text(max_size=60), REGIONS)
def test_arbitrary_text_agrees_with_oracle(raw: str, region: str) -> None:
    assert core(raw, region) == oracle(raw, region)


@COMMON
@given(phoneish, REGIONS)
def test_phoneish_text_agrees_with_oracle(raw: str, region: str) -> None:
    assert core(raw, region) == oracle(raw, region)


@COMMON
@given(structured(), st.one_of(REGIONS, ANY_REGION))
def test_structured_agrees_with_oracle(raw: str, region: str) -> None:
    assert core(raw, region) == oracle(raw, region)


@COMMON
@given(structured(), REGIONS)
def test_e164_is_idempotent(raw: str, region: str) -> None:
    try:
        first = _core.normalize(raw, region)
    except _core.InvalidPhone:
        return
    # Re-normalizing the E.164 form agrees with the oracle, whatever it is...
    assert core(first.e164, region) == oracle(first.e164, region)
    # ...and is a fixed point for valid numbers. (Not for every possible one: libphonenumber
    # itself maps "000 0 0 0" in DE to +4900000 and that to +490000.)
    if first.valid:
        again = _core.normalize(first.e164, region)
        assert (again.e164, again.valid, again.region) == (first.e164, True, first.region)
        assert _core.normalize(again.e164, "ZZ").e164 == again.e164


@COMMON
@given(st.lists(st.one_of(structured(), phoneish, st.text(max_size=20)), max_size=20), REGIONS)
def test_normalize_many_is_map_normalize(raws: list[str], region: str) -> None:
    many = [describe(r) for r in _core.normalize_many(raws, region)]
    assert many == [core(raw, region) for raw in raws]


def test_surrogates_do_not_crash() -> None:
    raw = "650\ud800253\udfff0000"
    assert core(raw, "US") == oracle(raw, "US")
    assert [describe(r) for r in _core.normalize_many([raw], "US")] == [oracle(raw, "US")]


def test_phone_number_is_frozen_and_repr() -> None:
    p = _core.normalize("(650) 253-0000 ext. 12")
    assert repr(p) == 'PhoneNumber(e164="+16502530000", valid=True, region="US", extension="12")'
    try:
        p.e164 = "x"  # type: ignore[misc]
    except AttributeError:
        pass
    else:
        raise AssertionError("PhoneNumber must be read-only")
    assert isinstance(_core.InvalidPhone("x"), ValueError)
