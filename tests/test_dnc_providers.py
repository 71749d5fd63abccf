"""DNC provider adapters against local fake servers speaking each provider's format."""

from __future__ import annotations

import json

import pytest

from lead2inbound.dnc.crypto import SecretBox, SecretError, associated_data
from lead2inbound.dnc.providers import (
    DncScrub,
    ProviderUnavailable,
    RegistryList,
    TcpaLitigatorList,
    dncscrub_outcome,
)
from lead2inbound.dnc.registry_import import import_files
from tests.fakes import dncscrub, tcpa
from tests.fakes.dncscrub import DncScrubFake
from tests.fakes.tcpa import TcpaFake

TIMEOUT = 0.5


@pytest.fixture
def tcpa_fake():
    fake = TcpaFake().start()
    fake.timeout_delay_s = 1.5
    fake.lists = {
        "5125550101": ["dnc_complainers"],
        "5125550102": ["tcpa"],
        "5125550103": ["tcpa", "dnc_complainers"],
        "5125550104": ["dnc_state"],
    }
    yield fake
    fake.stop()


@pytest.fixture
def scrub_fake():
    fake = DncScrubFake().start()
    fake.timeout_delay_s = 1.5
    fake.codes = {
        "5125550101": ("D", "National (USA) 2003-06-01;;;"),
        "5125550102": ("D", "Litigator"),
        "5125550103": ("W", ";;;W"),
        "5125550104": ("P", "Project DNC"),
        "5125550105": ("M", ""),
        "5125550106": ("L", ";;;W"),
    }
    yield fake
    fake.stop()


def tcpa_adapter(fake, *, password=tcpa.PASSWORD, types=None):
    return TcpaLitigatorList(
        username=tcpa.USERNAME, password=password, base_url=fake.url, timeout_s=TIMEOUT, types=types
    )


def scrub_adapter(fake, login=dncscrub.LOGIN_ID):
    return DncScrub(login_id=login, base_url=fake.url, timeout_s=TIMEOUT)


@pytest.mark.parametrize(
    ("phone", "outcome"),
    [
        ("+15125550100", "clear"),
        ("+15125550101", "dnc_hit"),
        ("+15125550102", "litigator_hit"),
        ("+15125550103", "litigator_hit"),  # on both: the litigator match decides
        ("+15125550104", "dnc_hit"),
    ],
)
async def test_tcpa_outcomes(tcpa_fake, phone, outcome):
    adapter = tcpa_adapter(tcpa_fake, types=["tcpa", "dnc", "dnc_state"])
    try:
        result = await adapter.scrub(phone)
    finally:
        await adapter.aclose()
    assert result.outcome == outcome
    assert result.provider == "tcpa-litigator-list"
    assert json.loads(result.raw)  # the provider's own body, kept as evidence
    req = tcpa_fake.requests[-1]
    assert req.path == "/scrub/phone/" and req.form["phone_number"] == phone[2:]


async def test_tcpa_legacy_clean_shape_and_outside_nanp():
    with TcpaFake(legacy_clean=True).start() as fake:
        adapter = tcpa_adapter(fake)
        try:
            assert (await adapter.scrub("+15125550199")).outcome == "clear"
            outside = await adapter.scrub("+442079460000")
        finally:
            await adapter.aclose()
        assert outside.outcome == "clear" and fake.hits == 1  # not sent: no US list holds it


@pytest.mark.parametrize(
    ("phone", "outcome"),
    [
        ("+15125550100", "clear"),  # C
        ("+15125550101", "dnc_hit"),  # D, national registry
        ("+15125550102", "litigator_hit"),  # D, Reason "Litigator"
        ("+15125550103", "clear"),  # W, wireless, not on a list
        ("+15125550104", "dnc_hit"),  # P, the project's own DNC
        ("+15125550106", "dnc_hit"),  # L, wireless in a state that bans solicitation
    ],
)
async def test_dncscrub_outcomes(scrub_fake, phone, outcome):
    adapter = scrub_adapter(scrub_fake)
    try:
        result = await adapter.scrub(phone)
    finally:
        await adapter.aclose()
    assert result.outcome == outcome
    req = scrub_fake.requests[-1]
    assert req.query["phoneList"] == phone[2:] and req.query["version"] == "5"
    assert req.query["output"] == "json" and req.headers["loginId"] == dncscrub.LOGIN_ID


def test_dncscrub_letters_table():
    def one(code, reason=""):
        return dncscrub_outcome(
            [{"Phone": "5125550100", "ResultCode": code, "Reason": reason}], "5125550100"
        )

    assert {c: one(c) for c in "CXWGHEOYRIST"} == dict.fromkeys("CXWGHEOYRIST", "clear")
    assert {c: one(c) for c in "DPBLFV"} == dict.fromkeys("DPBLFV", "dnc_hit")
    assert one("D", "Litigator") == "litigator_hit"
    for bad in ("M", "Z", ""):
        with pytest.raises(ProviderUnavailable):
            one(bad)


@pytest.mark.parametrize("which", ["tcpa", "dncscrub"])
@pytest.mark.parametrize(
    "failure", ["timeout", "error500", "garbage", "down", "bad_credentials", "unknown_code"]
)
async def test_failures_raise_unavailable(tcpa_fake, scrub_fake, which, failure):
    fake = tcpa_fake if which == "tcpa" else scrub_fake
    if which == "tcpa":
        adapter = tcpa_adapter(
            fake, password="wrong" if failure == "bad_credentials" else tcpa.PASSWORD
        )
    else:
        adapter = scrub_adapter(
            fake, login="x" * 44 if failure == "bad_credentials" else dncscrub.LOGIN_ID
        )
    phone = "+15125550105"  # M (malformed) at the DNCScrub fake
    if failure == "unknown_code" and which == "tcpa":
        fake.mode = "garbage"
    elif failure in ("timeout", "error500", "garbage"):
        fake.mode = failure
    elif failure == "down":
        fake.stop()
    try:
        with pytest.raises(ProviderUnavailable) as info:
            await adapter.scrub(phone)
    finally:
        await adapter.aclose()
    assert tcpa.PASSWORD not in str(info.value) and dncscrub.LOGIN_ID not in str(info.value)


async def test_registry_list(tmp_path):
    src = tmp_path / "512.txt"
    src.write_text("5125550101\n512,5550102\n")
    path = tmp_path / "org.dnc"
    import_files([src], path)
    reg = RegistryList(path)
    assert (await reg.scrub("+15125550101")).outcome == "dnc_hit"
    assert (await reg.scrub("+15125550102")).outcome == "dnc_hit"
    clear = await reg.scrub("+15125550103")
    assert clear.outcome == "clear" and json.loads(clear.raw)["numbers"] == 2
    with pytest.raises(ProviderUnavailable):
        await RegistryList(tmp_path / "missing.dnc").scrub("+15125550101")


def test_secret_box_rotation():
    aad = associated_data("org-1", "dncscrub")
    old = SecretBox("o" * 40)
    sealed, kid = old.seal(b'{"login_id": "x"}', aad)
    assert b"login_id" not in sealed
    rotated = SecretBox("n" * 40, "o" * 40)
    assert rotated.open(sealed, kid, aad) == b'{"login_id": "x"}'
    assert rotated.current_id != kid
    with pytest.raises(SecretError):
        rotated.open(sealed, kid, associated_data("org-2", "dncscrub"))  # bound to its row
    with pytest.raises(SecretError):
        SecretBox("n" * 40).open(sealed, kid, aad)  # the old key is gone
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(SecretError):
        old.open(tampered, kid, aad)
