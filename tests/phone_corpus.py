"""Deterministic phone-ish inputs for the differential test, and the `phonenumbers` oracle.

`corpus(n, seed)` yields `(raw, default_region)` pairs: NANP numbers in every punctuation style
with and without extensions, realistic numbers of many countries (from phonenumbers' example
numbers plus digit mutations) in national and international form, vanity numbers, unicode
digits, RFC 3966 forms, lengths around every boundary, and junk.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType
from phonenumbers import ValidationResult as VR

PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "invalid_country_code",
    NumberParseException.NOT_A_NUMBER: "not_a_number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too_short",
    NumberParseException.TOO_SHORT_NSN: "too_short",
    NumberParseException.TOO_LONG: "too_long",
}
POSSIBLE_REASONS = {
    VR.TOO_SHORT: "too_short",
    VR.TOO_LONG: "too_long",
    VR.INVALID_COUNTRY_CODE: "invalid_country_code",
    VR.INVALID_LENGTH: "invalid_length",
}


def oracle(raw: str, region: str = "US") -> tuple:
    """What libphonenumber says, in the shape `describe()` gives for `_core` results."""
    try:
        p = phonenumbers.parse(raw, region)
    except NumberParseException as e:
        return ("invalid", PARSE_REASONS[e.error_type])
    if not phonenumbers.is_possible_number(p):
        return ("invalid", POSSIBLE_REASONS[phonenumbers.is_possible_number_with_reason(p)])
    return (
        "ok",
        phonenumbers.format_number(p, PhoneNumberFormat.E164),
        True,
        phonenumbers.is_valid_number(p),
        phonenumbers.region_code_for_number(p),
        p.country_code,
        phonenumbers.national_significant_number(p),
        p.extension or None,
    )


def describe(result: object) -> tuple:
    """A `_core.PhoneNumber` or `_core.InvalidPhone` as a comparable tuple."""
    if isinstance(result, ValueError):
        return ("invalid", result.reason)  # type: ignore[attr-defined]
    r = result
    return (
        "ok",
        r.e164,  # type: ignore[attr-defined]
        r.possible,  # type: ignore[attr-defined]
        r.valid,  # type: ignore[attr-defined]
        r.region,  # type: ignore[attr-defined]
        r.country_code,  # type: ignore[attr-defined]
        r.national_number,  # type: ignore[attr-defined]
        r.extension,  # type: ignore[attr-defined]
    )


COUNTRIES = [
    "GB", "DE", "FR", "IN", "BR", "MX", "AU", "JP", "CN", "IT", "ES", "NL", "SE", "CH", "ZA",
    "NG", "KR", "RU", "AR", "PL", "IE", "NZ", "SG", "CA", "AT", "BE", "DK", "NO", "FI", "PT",
    "GR", "TR", "IL", "AE", "SA", "EG", "KE", "PH", "ID", "TH", "VN", "MY", "PK", "CO", "CL",
    "PE", "UA", "HU", "CZ", "RO", "HK", "TW", "SM", "VA", "GG", "JE", "IM", "KZ", "UZ", "BY",
    "PR", "JM", "BS", "BB", "TT", "DO", "AG", "GU", "AS", "VI", "MQ", "GP", "RE", "YT", "CI",
]  # fmt: skip
ALL_REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
NON_GEO = sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS)
TYPES = [
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.MOBILE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.PAGER,
    PhoneNumberType.UAN,
    PhoneNumberType.VOICEMAIL,
]
OTHER_DEFAULTS = ["US", "GB", "DE", "IN", "BR", "CA", "FR", "AU", "JP", "IT", "AR", "MX", "RU"]
ODD_DEFAULTS = ["", "us", "ZZ", "001", "XX", "gb", "UK"]

EXT_STYLES = [
    " x{}", "x{}", " X{}", " ext {}", " ext. {}", " ext.{}", " extension {}", " #{}", "#{}",
    ";ext={}", " ext: {}", ", {}", ",,{}", " - {}#", " ~{}", " int {}", " anexo {}", " доб {}",
    " extn {}", " ｘ{}",
]  # fmt: skip
UNICODE_DIGIT_SETS = [
    "0123456789",
    "٠١٢٣٤٥٦٧٨٩",  # Arabic-Indic
    "۰۱۲۳۴۵۶۷۸۹",  # Extended Arabic-Indic
    "０１２３４５６７８９",  # fullwidth
    "०१२३४५६७८९",  # Devanagari
    "০১২৩৪৫৬৭৮৯",  # Bengali
    "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗",  # mathematical bold
    "⁰¹²³⁴⁵⁶⁷⁸⁹",  # superscripts: unicodedata.digit but not \d
    "⓪①②③④⑤⑥⑦⑧⑨",  # circled
]
JUNK_CHARS = (
    "0123456789+-()./ xX#*;,:=~_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "\t\n\u00a0\u2010\u2013\u2212\u3000\uff0b\uff0d\uff08\uff09٠١٢۳４ßıİſKé"
    "\u200b\u2060\ufffd'\"[]{}<>@!?$%^&|\\"
)
VANITY_WORDS = ["FLOWERS", "GOFEDEX", "CALLNOW", "PIZZA", "LAWYER", "HELP", "MATTRESS", "NOW"]


def _example_pool() -> list[tuple[str, int, str]]:
    """(region, country code, national significant number) for every example number."""
    pool = []
    for region in ALL_REGIONS:
        for t in TYPES:
            ex = phonenumbers.example_number_for_type(region, t)
            if ex is not None:
                nsn = phonenumbers.national_significant_number(ex)
                pool.append((region, ex.country_code, nsn))
    for cc in NON_GEO:
        ex = phonenumbers.example_number_for_non_geo_entity(cc)
        if ex is not None:
            pool.append(("001", cc, phonenumbers.national_significant_number(ex)))
    return pool


_POOL: list[tuple[str, int, str]] | None = None


def example_pool() -> list[tuple[str, int, str]]:
    global _POOL
    if _POOL is None:
        _POOL = _example_pool()
    return _POOL


def _mutate(rng: random.Random, digits: str) -> str:
    d = list(digits)
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
        op = rng.random()
        if op < 0.5 and d:
            d[rng.randrange(len(d))] = rng.choice("0123456789")
        elif op < 0.75:
            d.insert(rng.randrange(len(d) + 1), rng.choice("0123456789"))
        elif d:
            del d[rng.randrange(len(d))]
    return "".join(d)


def _punctuate(rng: random.Random, digits: str) -> str:
    style = rng.randrange(6)
    if style == 0 or len(digits) < 4:
        return digits
    seps = [" ", "-", ".", " ", "/", "\u00a0", "\u2013"]
    sep = rng.choice(seps)
    out, i = [], 0
    while i < len(digits):
        n = rng.choice([2, 3, 3, 4])
        out.append(digits[i : i + n])
        i += n
    if style == 5 and len(out) > 1:
        out[0] = f"({out[0]})"
    return sep.join(out)


def _nanp(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.5:  # realistic-ish: NXX-NXX-XXXX
        area = f"{rng.randint(2, 9)}{rng.randint(0, 9)}{rng.randint(0, 9)}"
        exch = f"{rng.randint(2, 9)}{rng.randint(0, 9)}{rng.randint(0, 9)}"
    elif kind < 0.6:
        area = rng.choice(["800", "888", "877", "866", "855", "844", "833", "900", "555", "911"])
        exch = f"{rng.randint(0, 9)}{rng.randint(0, 9)}{rng.randint(0, 9)}"
    else:  # anything, including invalid area codes and exchanges starting 0/1
        area = f"{rng.randint(0, 999):03d}"
        exch = f"{rng.randint(0, 999):03d}"
    line = f"{rng.randint(0, 9999):04d}"
    if rng.random() < 0.1:
        line = _mutate(rng, line)
    a, e, ln = area, exch, line
    style = rng.randrange(14)
    body = [
        f"{a}{e}{ln}",
        f"({a}) {e}-{ln}",
        f"{a}.{e}.{ln}",
        f"{a}-{e}-{ln}",
        f"{a} {e} {ln}",
        f"1{a}{e}{ln}",
        f"1-{a}-{e}-{ln}",
        f"+1 {a}-{e}-{ln}",
        f"+1 ({a}) {e}-{ln}",
        f"+1{a}{e}{ln}",
        f"001 {a} {e} {ln}",
        f"011 1 {a} {e} {ln}",
        f"1 ({a}) {e}.{ln}",
        f"({a}){e}-{ln}",
    ][style]
    if rng.random() < 0.2:
        body += rng.choice(EXT_STYLES).format(rng.randint(1, 10 ** rng.randint(1, 7)))
    if rng.random() < 0.05:
        body = rng.choice(["Tel: ", "phone ", " ", "tel:", "call "]) + body
    if rng.random() < 0.05:
        body += rng.choice([" ", ".", "!", " (mobile)", "\n", "  ", "/x123", " / x 4"])
    return body


def _international(rng: random.Random) -> tuple[str, str]:
    region, cc, nsn = rng.choice(example_pool())
    if rng.random() < 0.6:
        nsn = _mutate(rng, nsn)
    form = rng.randrange(7)
    body = _punctuate(rng, nsn)
    if form == 0:
        raw = f"+{cc} {body}"
    elif form == 1:
        raw = f"+{cc}{nsn}"
    elif form == 2:
        raw = f"00{cc} {body}"
    elif form == 3:
        raw = f"011 {cc} {body}"
    elif form == 4 and region != "001":
        # National form with the region's national prefix, parsed in that region.
        meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
        prefix = (meta.national_prefix or "") if meta else ""
        return f"{prefix}{body}", region
    elif form == 5 and region != "001":
        return body, region
    else:
        raw = f"+{cc} ({nsn[:2]}) {nsn[2:]}"
    default = rng.choice(OTHER_DEFAULTS) if rng.random() < 0.5 else "US"
    return raw, default


def _unicode_digits(rng: random.Random, raw: str) -> str:
    table = rng.choice(UNICODE_DIGIT_SETS[1:])
    return "".join(table[int(c)] if c.isascii() and c.isdigit() else c for c in raw)


def _vanity(rng: random.Random) -> str:
    word = rng.choice(VANITY_WORDS)
    prefix = rng.choice(["1-800-", "800-", "+1 800 ", "1 888 ", "(877) ", "1-900-", "0800 "])
    if rng.random() < 0.3:
        word = word.lower()
    return prefix + word + rng.choice(["", "", " x12", "1", "22"])


def _lengths(rng: random.Random) -> str:
    n = rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 25])
    digits = "".join(rng.choice("0123456789") for _ in range(n))
    return rng.choice(["", "", "+", "0", "00", "1", "+1"]) + digits


def _junk(rng: random.Random) -> str:
    n = rng.choice([0, 1, 2, 3, 5, 8, 12, 16, 20, 30, 60])
    return "".join(rng.choice(JUNK_CHARS) for _ in range(n))


def _rfc3966(rng: random.Random) -> str:
    _region, cc, nsn = rng.choice(example_pool())
    forms = [
        f"tel:+{cc}-{nsn}",
        f"tel:{nsn};phone-context=+{cc}",
        f"tel:{nsn};phone-context=example.com",
        f"tel:+{cc}{nsn};ext=123",
        f"tel:+{cc}{nsn};isub=12345",
        f"{nsn};phone-context=+{cc}",
        f"tel:{nsn};phone-context=",
        f"tel:{nsn};phone-context=+",
        f"tel:{nsn};phone-context=a.b-c",
    ]
    return rng.choice(forms)


def corpus(n: int, seed: int = 20240611) -> Iterator[tuple[str, str]]:
    rng = random.Random(seed)
    fixed = [
        "", " ", "\t", "\n", "+", "1", "12", "123", "(512) 555-0143", "512.555.0143",
        "+1 512-555-0143", "5551234567", "1-800-FLOWERS", "1-800-flowers", "x", "ext 12",
        "１２３４５６７８９０", "٠١٢٣٤٥٦٧٨٩", "tel:+1-650-253-0000", "+44 (0) 20 7031 3000",
    ]  # fmt: skip
    count = 0
    for raw in fixed:
        if count >= n:
            return
        yield raw, "US"
        count += 1
    while count < n:
        k = rng.random()
        if k < 0.40:
            raw, region = _nanp(rng), "US" if rng.random() < 0.9 else rng.choice(OTHER_DEFAULTS)
        elif k < 0.75:
            raw, region = _international(rng)
        elif k < 0.79:
            raw, region = _vanity(rng), "US"
        elif k < 0.84:
            raw, region = _unicode_digits(rng, _nanp(rng)), "US"
        elif k < 0.88:
            base, region = _international(rng)
            raw = _unicode_digits(rng, base)
        elif k < 0.93:
            raw, region = _lengths(rng), rng.choice(OTHER_DEFAULTS)
        elif k < 0.97:
            raw, region = _junk(rng), rng.choice(OTHER_DEFAULTS)
        else:
            raw, region = _rfc3966(rng), rng.choice(OTHER_DEFAULTS)
        if rng.random() < 0.02:
            region = rng.choice(ODD_DEFAULTS + ALL_REGIONS)
        yield raw, region
        count += 1
