"""Generate rust-core/src/phone_meta.rs from the installed `phonenumbers` package.

The Rust port of libphonenumber's parse / possibility / validity logic is driven only by data
taken from the oracle package itself, so the two can never drift apart silently:

* every region's and every non-geographic entity's PhoneMetadata (patterns, possible lengths,
  prefixes, leading digits, ...);
* the country-code -> regions map;
* the parser's own location-independent regular expressions (`_VALID_PHONE_NUMBER_PATTERN`,
  `_EXTN_PATTERN`, the RFC 3966 phone-context patterns), translated from Python's regex syntax
  (IGNORECASE + Unicode semantics, Python's `\\d`, Python's `$`) into an equivalent `regex`-crate
  pattern by walking the parse tree of Python's own regex parser;
* the character tables Python uses (`str.isdecimal` for `\\d`, `str.isalnum` for `\\w`,
  `unicodedata.digit` for digit normalization, `str.upper` for vanity letters).

Usage: python tools/gen_phone_metadata.py [--check] [OUTPUT]
With --check, exit 1 when OUTPUT differs from a fresh generation.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path

try:  # Python >= 3.11
    from re import _constants as sre_c  # type: ignore[attr-defined]
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_constants as sre_c  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

import phonenumbers
from phonenumbers import phonenumberutil as pnu
from phonenumbers.phonemetadata import PhoneMetadata

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "rust-core" / "src" / "phone_meta.rs"

DESC_FIELDS = [
    "general_desc",
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "voip",
    "pager",
    "uan",
    "voicemail",
]

MAX_CP = 0x110000


# --- character tables ------------------------------------------------------------------------


def ranges(cps: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for cp in sorted(set(cps)):
        if out and out[-1][1] == cp - 1:
            out[-1] = (out[-1][0], cp)
        else:
            out.append((cp, cp))
    return out


DECIMAL = [cp for cp in range(MAX_CP) if chr(cp).isdecimal()]
ALNUM = [cp for cp in range(MAX_CP) if chr(cp).isalnum()]
CASED = [cp for cp in range(MAX_CP) if chr(cp).lower() != chr(cp) or chr(cp).upper() != chr(cp)]


def digit_table() -> list[tuple[int, int, int]]:
    """Runs of consecutive code points whose unicodedata.digit values are consecutive."""
    out: list[tuple[int, int, int]] = []
    for cp in range(MAX_CP):
        d = unicodedata.digit(chr(cp), -1)
        if d == -1:
            continue
        if out and out[-1][1] == cp - 1 and out[-1][2] + (cp - out[-1][0]) == d:
            out[-1] = (out[-1][0], cp, out[-1][2])
        else:
            out.append((cp, cp, d))
    return out


def alpha_table() -> list[tuple[int, str]]:
    """Characters that _normalize_helper maps (via str.upper) in the vanity/alpha path."""
    out = []
    for cp in range(MAX_CP):
        up = chr(cp).upper()
        v = pnu._ALPHA_PHONE_MAPPINGS.get(up)
        if v is not None:
            out.append((cp, v))
    return out


# --- Python regex -> regex-crate translation ---------------------------------------------------


def ci_equivalents(cp: int) -> set[int]:
    """Every code point Python's re matches for `cp` under IGNORECASE | UNICODE."""
    pat = re.compile(re.escape(chr(cp)), re.IGNORECASE)
    found = {cp}
    for other in CASED:
        if pat.fullmatch(chr(other)):
            found.add(other)
    return found


def class_text(cps: set[int] | list[int], negate: bool = False) -> str:
    parts = []
    for lo, hi in ranges(list(cps)):
        parts.append(f"\\x{{{lo:x}}}" if lo == hi else f"\\x{{{lo:x}}}-\\x{{{hi:x}}}")
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


def set_items(items, ignorecase: bool) -> tuple[set[int], bool]:
    cps: set[int] = set()
    negate = False
    for op, av in items:
        if op is sre_c.NEGATE:
            negate = True
        elif op is sre_c.LITERAL:
            cps |= ci_equivalents(av) if ignorecase else {av}
        elif op is sre_c.RANGE:
            for cp in range(av[0], av[1] + 1):
                cps |= ci_equivalents(cp) if ignorecase else {cp}
        elif op is sre_c.CATEGORY:
            if av is sre_c.CATEGORY_DIGIT:
                cps |= set(DECIMAL)
            elif av is sre_c.CATEGORY_WORD:
                cps |= set(ALNUM) | {ord("_")}
            else:
                raise ValueError(f"unsupported category {av}")
        else:
            raise ValueError(f"unsupported set item {op}")
    return cps, negate


def translate(tree, ignorecase: bool, search_end: bool) -> str:
    out = []
    for op, av in tree:
        if op is sre_c.LITERAL:
            cps = ci_equivalents(av) if ignorecase else {av}
            out.append(class_text(cps))
        elif op is sre_c.NOT_LITERAL:
            cps = ci_equivalents(av) if ignorecase else {av}
            out.append(class_text(cps, negate=True))
        elif op is sre_c.IN:
            cps, negate = set_items(av, ignorecase)
            out.append(class_text(cps, negate))
        elif op is sre_c.ANY:
            out.append(".")  # Python without DOTALL: anything but \n, like the regex crate
        elif op is sre_c.BRANCH:
            alts = [translate(alt, ignorecase, search_end) for alt in av[1]]
            out.append("(?:" + "|".join(alts) + ")")
        elif op is sre_c.SUBPATTERN:
            group, add_flags, del_flags, sub = av
            if add_flags or del_flags:
                raise ValueError("inline flags in a group are not supported")
            inner = translate(sub, ignorecase, search_end)
            out.append(("(" if group is not None else "(?:") + inner + ")")
        elif op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT):
            lo, hi, sub = av
            inner = "(?:" + translate(sub, ignorecase, search_end) + ")"
            hi_txt = "" if hi is sre_c.MAXREPEAT else str(hi)
            rep = f"{{{lo},{hi_txt}}}"
            out.append(inner + rep + ("?" if op is sre_c.MIN_REPEAT else ""))
        elif op is sre_c.AT:
            if av is sre_c.AT_BEGINNING or av is sre_c.AT_BEGINNING_STRING:
                out.append("\\A")
            elif av is sre_c.AT_END:
                # Python's `$` also matches before a final "\n". In a search whose match end is
                # never used, consuming that "\n" is equivalent; in a full match it never applies.
                out.append("(?:\\n?\\z)" if search_end else "\\z")
            elif av is sre_c.AT_END_STRING:
                out.append("\\z")
            else:
                raise ValueError(f"unsupported anchor {av}")
        else:
            raise ValueError(f"unsupported regex op {op}")
    return "".join(out)


def translate_pattern(compiled: re.Pattern[str], *, search_end: bool) -> str:
    ignorecase = bool(compiled.flags & re.IGNORECASE)
    tree = sre_parse.parse(compiled.pattern, compiled.flags)
    return translate(tree, ignorecase, search_end)


# --- metadata ----------------------------------------------------------------------------------


def rust_str(s: str | None) -> str:
    if s is None:
        return "None"
    return "Some(" + rust_lit(s) + ")"


def rust_lit(s: str) -> str:
    # A raw string with enough hashes; our inputs never contain a quote followed by '#' runs.
    hashes = "#"
    while ('"' + hashes) in s:
        hashes += "#"
    return f'r{hashes}"{s}"{hashes}'


def python_template_to_rust(rule: str | None) -> str | None:
    """`\\1` (re.sub template) -> `${1}` (regex-crate replacement syntax)."""
    if rule is None or rule == "":
        return rule
    if "$" in rule:
        raise ValueError(f"unexpected '$' in transform rule {rule!r}")
    return re.sub(r"\\(\d)", r"${\1}", rule)


def desc_text(desc) -> str:
    if desc is None:
        return "None"
    pat = desc.national_number_pattern
    possible = ", ".join(str(x) for x in (desc.possible_length or ()))
    local = ", ".join(str(x) for x in (desc.possible_length_local_only or ()))
    return (
        f"Some(Desc {{ pattern: {rust_str(pat)}, possible: &[{possible}], "
        f"local_only: &[{local}] }})"
    )


def meta_text(m) -> str:
    lines = [
        "    Meta {",
        f"        id: {rust_lit(m.id)},",
        f"        country_code: {m.country_code},",
        f"        international_prefix: {rust_str(m.international_prefix)},",
        f"        national_prefix_for_parsing: {rust_str(m.national_prefix_for_parsing)},",
        "        national_prefix_transform_rule: "
        f"{rust_str(python_template_to_rust(m.national_prefix_transform_rule))},",
        f"        leading_digits: {rust_str(m.leading_digits)},",
        f"        same_mobile_and_fixed_line_pattern: {str(bool(m.same_mobile_and_fixed_line_pattern)).lower()},",  # noqa: E501
        "        descs: [",
    ]
    for field in DESC_FIELDS:
        lines.append(f"            {desc_text(getattr(m, field))},")
    lines.append("        ],")
    lines.append("    },")
    return "\n".join(lines)


def generate() -> str:
    regions = sorted(phonenumbers.SUPPORTED_REGIONS)
    nongeo = sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS)
    out: list[str] = []
    w = out.append
    w("// @generated by tools/gen_phone_metadata.py from the `phonenumbers` package. DO NOT EDIT.")
    w("// Regenerate with `make phone-meta`; a test fails when this file is stale.")
    w("// (rustfmt and clippy are switched off for this module in lib.rs.)")
    w("")
    w("use crate::phone::{Desc, Meta};")
    w("")
    w(f'pub const PHONENUMBERS_VERSION: &str = "{phonenumbers.__version__}";')
    w(f'pub const UNICODE_VERSION: &str = "{unicodedata.unidata_version}";')
    w("")
    w("/// Order of `Meta::descs`.")
    w("pub const DESC_NAMES: [&str; 11] = [" + ", ".join(f'"{f}"' for f in DESC_FIELDS) + "];")
    w("")
    w("/// Every supported region, sorted by id.")
    w(f"pub static REGIONS: [Meta; {len(regions)}] = [")
    for r in regions:
        w(meta_text(PhoneMetadata.metadata_for_region(r)))
    w("];")
    w("")
    w('/// Every non-geographic entity (region id "001"), sorted by country code.')
    w(f"pub static NON_GEO: [Meta; {len(nongeo)}] = [")
    for cc in nongeo:
        w(meta_text(PhoneMetadata.metadata_for_nongeo_region(cc)))
    w("];")
    w("")
    w("/// Country calling code -> region ids (main region first), sorted by code.")
    w("pub static COUNTRY_CODE_TO_REGIONS: &[(u16, &[&str])] = &[")
    for cc in sorted(pnu.COUNTRY_CODE_TO_REGION_CODE):
        regs = ", ".join(f'"{r}"' for r in pnu.COUNTRY_CODE_TO_REGION_CODE[cc])
        w(f"    ({cc}, &[{regs}]),")
    w("];")
    w("")
    w("/// `unicodedata.digit`: (first, last, value of first) runs.")
    w("pub static UNICODE_DIGITS: &[(u32, u32, u8)] = &[")
    for lo, hi, d in digit_table():
        w(f"    (0x{lo:x}, 0x{hi:x}, {d}),")
    w("];")
    w("")
    w("/// Python's `str.isalnum` (its regex `\\w` minus `_`), as inclusive ranges.")
    w("pub static PY_ALNUM: &[(u32, u32)] = &[")
    for lo, hi in ranges(ALNUM):
        w(f"    (0x{lo:x}, 0x{hi:x}),")
    w("];")
    w("")
    w("/// Python's `str.isdecimal` (its regex `\\d`), as inclusive ranges.")
    w("pub static PY_DECIMAL: &[(u32, u32)] = &[")
    for lo, hi in ranges(DECIMAL):
        w(f"    (0x{lo:x}, 0x{hi:x}),")
    w("];")
    w("")
    w("/// Characters whose `str.upper()` is a key of `_ALPHA_PHONE_MAPPINGS`, with the digit.")
    w("pub static ALPHA_PHONE: &[(u32, u8)] = &[")
    for cp, v in alpha_table():
        w(f"    (0x{cp:x}, b'{v}'),")
    w("];")
    w("")
    w("/// `_VALID_PHONE_NUMBER_PATTERN`, for a full match.")
    w(
        "pub const VALID_PHONE_NUMBER: &str = "
        + rust_lit(translate_pattern(pnu._VALID_PHONE_NUMBER_PATTERN, search_end=False))
        + ";"
    )
    w("/// `_EXTN_PATTERN`, for a search (only the start and groups are used).")
    w(
        "pub const EXTN: &str = "
        + rust_lit(translate_pattern(pnu._EXTN_PATTERN, search_end=True))
        + ";"
    )
    w("/// `_RFC3966_GLOBAL_NUMBER_DIGITS_PATTERN`, for a full match.")
    w(
        "pub const RFC3966_GLOBAL_NUMBER_DIGITS: &str = "
        + rust_lit(translate_pattern(pnu._RFC3966_GLOBAL_NUMBER_DIGITS_PATTERN, search_end=False))
        + ";"
    )
    w("/// `_RFC3966_DOMAINNAME_PATTERN`, for a full match.")
    w(
        "pub const RFC3966_DOMAINNAME: &str = "
        + rust_lit(translate_pattern(pnu._RFC3966_DOMAINNAME_PATTERN, search_end=False))
        + ";"
    )
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    out = Path(args[0]) if args else DEFAULT_OUT
    text = generate()
    if check:
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current != text:
            print(f"{out.name} is stale: run `make phone-meta`", file=sys.stderr)
            return 1
        return 0
    out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
