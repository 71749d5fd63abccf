//! phone: E.164 normalization that agrees exactly with Google's libphonenumber (as shipped by the
//! Python `phonenumbers` package, our test oracle).
//!
//! This is a faithful port of the parts of `phonenumberutil.py` that `parse`,
//! `is_possible_number_with_reason`, `is_valid_number`, `region_code_for_number` and
//! `format_number(E164)` need. All data (metadata, the parser's own regular expressions already
//! translated to `regex` syntax, and Python's Unicode character tables) is generated from the
//! oracle package into `phone_meta.rs` by `tools/gen_phone_metadata.py`.
//!
//! Regexes are compiled lazily, one `OnceLock` per pattern, so only the regions a process actually
//! sees cost memory. US-style input takes a table-free fast path for the location-independent
//! checks (see `fast_ascii_viable`).

use std::sync::OnceLock;

use regex::{Regex, RegexBuilder};

use crate::phone_meta::{
    ALPHA_PHONE, COUNTRY_CODE_TO_REGIONS, EXTN, NON_GEO, PY_ALNUM, PY_DECIMAL, REGIONS,
    RFC3966_DOMAINNAME, RFC3966_GLOBAL_NUMBER_DIGITS, UNICODE_DIGITS, VALID_PHONE_NUMBER,
};

/// One `PhoneNumberDesc` of libphonenumber's metadata.
#[derive(Debug)]
pub struct Desc {
    pub pattern: Option<&'static str>,
    pub possible: &'static [i8],
    pub local_only: &'static [i8],
}

/// The part of `PhoneMetadata` the parser needs.
#[derive(Debug)]
pub struct Meta {
    pub id: &'static str,
    pub country_code: u16,
    pub international_prefix: Option<&'static str>,
    pub national_prefix_for_parsing: Option<&'static str>,
    /// Already in `regex` replacement syntax (`${1}`).
    pub national_prefix_transform_rule: Option<&'static str>,
    pub leading_digits: Option<&'static str>,
    pub same_mobile_and_fixed_line_pattern: bool,
    /// In the order of `phone_meta::DESC_NAMES`.
    pub descs: [Option<Desc>; 11],
}

const GENERAL: usize = 0;
const FIXED_LINE: usize = 1;
const MOBILE: usize = 2;
/// `_number_type_helper` checks these (after the general description) before fixed line/mobile.
const OTHER_TYPES: [usize; 8] = [4, 3, 5, 7, 6, 8, 9, 10];

const MIN_LENGTH_FOR_NSN: usize = 2;
const MAX_LENGTH_FOR_NSN: usize = 17;
const MAX_INPUT_STRING_LENGTH: usize = 250;
const MAX_LENGTH_COUNTRY_CODE: usize = 3;

/// Why an input is not a possible phone number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    NotANumber,
    InvalidCountryCode,
    TooShort,
    TooLong,
    InvalidLength,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NotANumber => "not_a_number",
            Reason::InvalidCountryCode => "invalid_country_code",
            Reason::TooShort => "too_short",
            Reason::TooLong => "too_long",
            Reason::InvalidLength => "invalid_length",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A possible phone number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phone {
    pub country_code: u16,
    /// The national significant number (digits only, leading zeros kept).
    pub national_number: String,
    /// The raw extension digits as written (they may be non-ASCII digits, like the oracle's).
    pub extension: Option<String>,
    pub region: Option<&'static str>,
    pub valid: bool,
}

impl Phone {
    pub fn e164(&self) -> String {
        let mut s = String::with_capacity(1 + 3 + self.national_number.len());
        s.push('+');
        s.push_str(&self.country_code.to_string());
        s.push_str(&self.national_number);
        s
    }
}

// --- lazily compiled regexes -----------------------------------------------------------------

struct Lazy {
    descs: [OnceLock<Option<Regex>>; 11],
    idd: OnceLock<Option<Regex>>,
    npp: OnceLock<Option<Regex>>,
    leading: OnceLock<Option<Regex>>,
}

impl Lazy {
    const fn new() -> Self {
        Lazy {
            descs: [const { OnceLock::new() }; 11],
            idd: OnceLock::new(),
            npp: OnceLock::new(),
            leading: OnceLock::new(),
        }
    }
}

static LAZY_REGIONS: [Lazy; REGIONS.len()] = [const { Lazy::new() }; REGIONS.len()];
static LAZY_NON_GEO: [Lazy; NON_GEO.len()] = [const { Lazy::new() }; NON_GEO.len()];

/// Metadata patterns only ever see ASCII digits, so ASCII mode is equivalent and much smaller.
fn compile_ascii(pattern: &str, full: bool) -> Option<Regex> {
    let wrapped = if full {
        format!(r"\A(?:{pattern})\z")
    } else {
        format!(r"\A(?:{pattern})")
    };
    RegexBuilder::new(&wrapped).unicode(false).build().ok()
}

fn compile_unicode(pattern: &str, full: bool) -> Regex {
    let wrapped = if full {
        format!(r"\A(?:{pattern})\z")
    } else {
        pattern.to_string()
    };
    // The generated patterns are checked to compile by the unit tests.
    RegexBuilder::new(&wrapped)
        .size_limit(64 << 20)
        .build()
        .expect("generated phone regex compiles")
}

fn valid_phone_number_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| compile_unicode(VALID_PHONE_NUMBER, true))
}

fn extn_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| compile_unicode(EXTN, false))
}

fn rfc_global_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| compile_unicode(RFC3966_GLOBAL_NUMBER_DIGITS, true))
}

fn rfc_domain_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| compile_unicode(RFC3966_DOMAINNAME, true))
}

/// A metadata entry: `(meta, lazily compiled regexes)`.
#[derive(Clone, Copy)]
struct M {
    meta: &'static Meta,
    lazy: &'static Lazy,
}

impl M {
    fn desc(&self, i: usize) -> Option<&'static Desc> {
        self.meta.descs[i].as_ref()
    }

    fn desc_re(&self, i: usize) -> Option<&'static Regex> {
        let pat = self.desc(i)?.pattern?;
        if pat.is_empty() {
            return None;
        }
        self.lazy.descs[i]
            .get_or_init(|| compile_ascii(pat, true))
            .as_ref()
    }

    fn idd_re(&self) -> Option<&'static Regex> {
        let pat = self.meta.international_prefix?;
        self.lazy
            .idd
            .get_or_init(|| compile_ascii(pat, false))
            .as_ref()
    }

    fn npp_re(&self) -> Option<&'static Regex> {
        let pat = self.meta.national_prefix_for_parsing?;
        if pat.is_empty() {
            return None;
        }
        self.lazy
            .npp
            .get_or_init(|| compile_ascii(pat, false))
            .as_ref()
    }

    fn leading_re(&self) -> Option<&'static Regex> {
        let pat = self.meta.leading_digits?;
        self.lazy
            .leading
            .get_or_init(|| compile_ascii(pat, false))
            .as_ref()
    }
}

/// Region index by two-letter id (`A`..`Z` squared), `u16::MAX` for none.
fn region_index() -> &'static [u16; 676] {
    static T: OnceLock<[u16; 676]> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = [u16::MAX; 676];
        for (i, m) in REGIONS.iter().enumerate() {
            if let Some(k) = region_key(m.id) {
                t[k] = i as u16;
            }
        }
        t
    })
}

fn region_key(id: &str) -> Option<usize> {
    match id.as_bytes() {
        [a @ b'A'..=b'Z', b @ b'A'..=b'Z'] => {
            Some(usize::from(a - b'A') * 26 + usize::from(b - b'A'))
        }
        _ => None,
    }
}

fn metadata_for_region(id: &str) -> Option<M> {
    let i = match region_key(id) {
        Some(k) => usize::from(region_index()[k]),
        None => REGIONS.binary_search_by(|m| m.id.cmp(id)).ok()?,
    };
    if i >= REGIONS.len() {
        return None;
    }
    Some(M {
        meta: &REGIONS[i],
        lazy: &LAZY_REGIONS[i],
    })
}

fn metadata_for_non_geo(cc: u16) -> Option<M> {
    let i = NON_GEO.binary_search_by(|m| m.country_code.cmp(&cc)).ok()?;
    Some(M {
        meta: &NON_GEO[i],
        lazy: &LAZY_NON_GEO[i],
    })
}

fn metadata_for_region_or_calling_code(cc: u16, region: &str) -> Option<M> {
    if region == "001" {
        metadata_for_non_geo(cc)
    } else {
        metadata_for_region(region)
    }
}

fn regions_for_country_code(cc: u32) -> Option<&'static [&'static str]> {
    static T: OnceLock<[u16; 1000]> = OnceLock::new();
    let t = T.get_or_init(|| {
        let mut t = [u16::MAX; 1000];
        for (i, (c, _)) in COUNTRY_CODE_TO_REGIONS.iter().enumerate() {
            if let Some(slot) = t.get_mut(usize::from(*c)) {
                *slot = i as u16;
            }
        }
        t
    });
    let i = *t.get(usize::try_from(cc).ok()?)?;
    COUNTRY_CODE_TO_REGIONS.get(usize::from(i)).map(|e| e.1)
}

// --- Python character classes ----------------------------------------------------------------

fn in_ranges(table: &[(u32, u32)], c: char) -> bool {
    let cp = c as u32;
    table
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                std::cmp::Ordering::Less
            } else if lo > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Python's `\d` (`str.isdecimal`).
fn py_is_decimal(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    in_ranges(PY_DECIMAL, c)
}

/// Python's `str.isalnum`.
fn py_is_alnum(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric();
    }
    in_ranges(PY_ALNUM, c)
}

/// `unicodedata.digit(c, -1)`.
fn unicode_digit(c: char) -> Option<u8> {
    if c.is_ascii() {
        return c.is_ascii_digit().then(|| c as u8 - b'0');
    }
    let cp = c as u32;
    let i = UNICODE_DIGITS.partition_point(|&(lo, _, _)| lo <= cp);
    if i == 0 {
        return None;
    }
    let (lo, hi, first) = UNICODE_DIGITS[i - 1];
    (cp <= hi).then(|| first + (cp - lo) as u8)
}

/// `_ALPHA_PHONE_MAPPINGS.get(c.upper())`.
fn alpha_phone(c: char) -> Option<u8> {
    let cp = c as u32;
    ALPHA_PHONE
        .binary_search_by(|&(k, _)| k.cmp(&cp))
        .ok()
        .map(|i| ALPHA_PHONE[i].1)
}

fn is_plus(c: char) -> bool {
    c == '+' || c == '\u{FF0B}'
}

/// Length of the leading run of plus characters (`_PLUS_CHARS_PATTERN.match`), in bytes.
fn plus_prefix_len(s: &str) -> usize {
    s.char_indices()
        .find(|&(_, c)| !is_plus(c))
        .map_or(s.len(), |(i, _)| i)
}

// --- the parser ------------------------------------------------------------------------------

/// `_normalize`.
fn normalize_digits(number: &str) -> String {
    let mut out = String::with_capacity(number.len());
    // _VALID_ALPHA_PHONE_PATTERN: at least three ASCII letters, and no "\n" anywhere.
    let letters = number.bytes().filter(u8::is_ascii_alphabetic).count();
    if letters >= 3 && !number.contains('\n') {
        for c in number.chars() {
            if let Some(d) = alpha_phone(c) {
                out.push(d as char);
            }
        }
    } else {
        for c in number.chars() {
            if let Some(d) = unicode_digit(c) {
                out.push((b'0' + d) as char);
            }
        }
    }
    out
}

/// `_extract_possible_number`.
fn extract_possible_number(number: &str) -> &str {
    let Some(start) = number
        .char_indices()
        .find(|&(_, c)| is_plus(c) || py_is_decimal(c))
        .map(|(i, _)| i)
    else {
        return "";
    };
    let mut s = &number[start..];
    // _UNWANTED_END_CHAR_PATTERN: trailing "_" or anything that is neither "#" nor alphanumeric.
    let mut end = s.len();
    for (i, c) in s.char_indices().rev() {
        if c == '_' || (c != '#' && !py_is_alnum(c)) {
            end = i;
        } else {
            break;
        }
    }
    s = &s[..end];
    // _SECOND_NUMBER_START_PATTERN: [\\/] *x
    let b = s.as_bytes();
    for i in 0..b.len() {
        if b[i] == b'\\' || b[i] == b'/' {
            let mut j = i + 1;
            while j < b.len() && b[j] == b' ' {
                j += 1;
            }
            if j < b.len() && b[j] == b'x' {
                return &s[..i];
            }
        }
    }
    s
}

/// `_is_viable_phone_number`.
fn is_viable(number: &str) -> bool {
    if let Some(v) = fast_ascii_viable(number) {
        return v;
    }
    if number.chars().take(MIN_LENGTH_FOR_NSN).count() < MIN_LENGTH_FOR_NSN {
        return false;
    }
    valid_phone_number_re().is_match(number)
}

/// Fast path for `_VALID_PHONE_NUMBER_PATTERN` on input made only of ASCII digits and the plain
/// punctuation US numbers are written with: `+`* then at least three digits, each optionally
/// preceded by punctuation from `-x ().[]/~`. Returns `None` when the input needs the full regex.
fn fast_ascii_viable(number: &str) -> Option<bool> {
    let b = number.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i] == b'+' {
        i += 1;
    }
    let mut digits = 0;
    for &c in &b[i..] {
        match c {
            b'0'..=b'9' => digits += 1,
            b' ' | b'-' | b'(' | b')' | b'.' | b'/' | b'[' | b']' | b'~' => {}
            _ => return None,
        }
    }
    if i == 0 && b.len() == 2 && digits == 2 {
        return Some(true);
    }
    // No '+' may follow the first non-plus character; digits must be >= 3; punctuation-only tails
    // are allowed by the trailing [punct*alpha\d]* part.
    Some(digits >= 3)
}

/// `_build_national_number_for_parsing`.
fn build_national_number_for_parsing(number: &str) -> Result<String, Reason> {
    const PHONE_CONTEXT: &str = ";phone-context=";
    let idx_pc = number.find(PHONE_CONTEXT);
    let mut national;
    if let Some(ipc) = idx_pc {
        let start = ipc + PHONE_CONTEXT.len();
        let pc = if start >= number.len() {
            ""
        } else {
            match number[start..].find(';') {
                Some(e) => &number[start..start + e],
                None => &number[start..],
            }
        };
        if pc.is_empty() || !(rfc_global_re().is_match(pc) || rfc_domain_re().is_match(pc)) {
            return Err(Reason::NotANumber);
        }
        national = if pc.starts_with('+') {
            pc.to_string()
        } else {
            String::new()
        };
        let from = number.find("tel:").map_or(0, |i| i + 4);
        if from < ipc {
            national.push_str(&number[from..ipc]);
        }
    } else {
        national = extract_possible_number(number).to_string();
    }
    if let Some(i) = national.find(";isub=") {
        if i > 0 {
            national.truncate(i);
        }
    }
    Ok(national)
}

/// `_maybe_strip_extension`: `(extension, number before it)`.
fn maybe_strip_extension(number: &str) -> (Option<String>, &str) {
    // An extension needs a digit; skip the regex for the common case of plain numbers.
    let b = number.as_bytes();
    let quick_none = number.is_ascii()
        && !b.iter().any(|c| {
            matches!(
                c,
                b'#' | b';' | b',' | b'~' | b'x' | b'X' | b'e' | b'E' | b'i' | b'I' | b'a' | b'A'
            )
        })
        && !has_american_style_extension(b);
    if quick_none {
        return (None, number);
    }
    if let Some(caps) = extn_re().captures(number) {
        let Some(m0) = caps.get(0) else {
            return (None, number);
        };
        let before = &number[..m0.start()];
        if is_viable(before) {
            if let Some(g) = caps.iter().skip(1).flatten().next() {
                return (Some(g.as_str().to_string()), before);
            }
        }
    }
    (None, number)
}

/// The only extension form without a label or a special character is `[- ]+\d{1,6}#`, which
/// needs a `#`; in ASCII input without any of the label characters there is no extension.
fn has_american_style_extension(b: &[u8]) -> bool {
    b.contains(&b'#')
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Validation {
    IsPossible,
    IsPossibleLocalOnly,
    InvalidCountryCode,
    TooShort,
    TooLong,
    InvalidLength,
}

/// `_test_number_length` for `PhoneNumberType.UNKNOWN`.
fn test_number_length(nn: &str, m: M) -> Validation {
    let Some(general) = m.desc(GENERAL) else {
        return Validation::InvalidLength;
    };
    let possible = general.possible;
    let len = nn.len() as i64;
    if general.local_only.iter().any(|&l| i64::from(l) == len) {
        return Validation::IsPossibleLocalOnly;
    }
    let Some(&min) = possible.first() else {
        return Validation::InvalidLength;
    };
    let min = i64::from(min);
    if min == len {
        return Validation::IsPossible;
    } else if min > len {
        return Validation::TooShort;
    } else if possible.last().map_or(0, |&l| i64::from(l)) < len {
        return Validation::TooLong;
    }
    if possible[1..].iter().any(|&l| i64::from(l) == len) {
        Validation::IsPossible
    } else {
        Validation::InvalidLength
    }
}

/// `_match_national_number(number, desc, False)`.
fn match_desc_pattern(nn: &str, m: M, i: usize) -> bool {
    m.desc_re(i).is_some_and(|re| re.is_match(nn))
}

/// `_is_number_matching_desc`.
fn matches_desc(nn: &str, m: M, i: usize) -> bool {
    let Some(desc) = m.desc(i) else {
        return false;
    };
    let len = nn.len() as i64;
    if !desc.possible.is_empty() && !desc.possible.iter().any(|&l| i64::from(l) == len) {
        return false;
    }
    match_desc_pattern(nn, m, i)
}

/// `_number_type_helper(...) != UNKNOWN`. The helper returns a type as soon as any description
/// matches, and matching has no side effects, so the answer is a plain "any": we test the most
/// common descriptions (fixed line, mobile) first.
fn has_known_type(nn: &str, m: M) -> bool {
    if !matches_desc(nn, m, GENERAL) {
        return false;
    }
    if matches_desc(nn, m, FIXED_LINE) {
        return true;
    }
    if !m.meta.same_mobile_and_fixed_line_pattern && matches_desc(nn, m, MOBILE) {
        return true;
    }
    OTHER_TYPES.iter().any(|&i| matches_desc(nn, m, i))
}

/// `_maybe_strip_national_prefix_carrier_code`, returning only the (possibly) stripped number.
fn maybe_strip_national_prefix(number: &str, m: M) -> String {
    if number.is_empty() {
        return number.to_string();
    }
    let Some(re) = m.npp_re() else {
        return number.to_string();
    };
    let Some(caps) = re.captures(number) else {
        return number.to_string();
    };
    let Some(whole) = caps.get(0) else {
        return number.to_string();
    };
    let viable_original = match_desc_pattern(number, m, GENERAL);
    let num_groups = caps.len() - 1;
    let rule = m.meta.national_prefix_transform_rule.unwrap_or("");
    let last_group_none = num_groups == 0 || caps.get(num_groups).is_none();
    if rule.is_empty() || last_group_none {
        let rest = &number[whole.end()..];
        if viable_original && !match_desc_pattern(rest, m, GENERAL) {
            return number.to_string();
        }
        rest.to_string()
    } else {
        let mut transformed = String::new();
        caps.expand(rule, &mut transformed);
        transformed.push_str(&number[whole.end()..]);
        if viable_original && !match_desc_pattern(&transformed, m, GENERAL) {
            return number.to_string();
        }
        transformed
    }
}

#[derive(PartialEq, Eq)]
enum Source {
    Plus,
    Idd,
    Default,
}

/// `_maybe_strip_i18n_prefix_and_normalize`.
fn maybe_strip_i18n_prefix_and_normalize(number: &str, m: Option<M>) -> (Source, String) {
    let p = plus_prefix_len(number);
    if p > 0 {
        return (Source::Plus, normalize_digits(&number[p..]));
    }
    let normalized = normalize_digits(number);
    if let Some(re) = m.and_then(|m| m.idd_re()) {
        if let Some(mt) = re.find(&normalized) {
            let rest = &normalized[mt.end()..];
            if !rest.starts_with('0') {
                return (Source::Idd, rest.to_string());
            }
        }
    }
    (Source::Default, normalized)
}

/// `_extract_country_code`.
fn extract_country_code(number: &str) -> (u16, &str) {
    if number.is_empty() || number.starts_with('0') {
        return (0, number);
    }
    for i in 1..=number.len().min(MAX_LENGTH_COUNTRY_CODE) {
        if let Ok(cc) = number[..i].parse::<u16>() {
            if regions_for_country_code(u32::from(cc)).is_some() {
                return (cc, &number[i..]);
            }
        }
    }
    (0, number)
}

/// `_maybe_extract_country_code`: `(country code or 0, national number when one was found)`.
fn maybe_extract_country_code(number: &str, m: Option<M>) -> Result<(u16, String), Reason> {
    if number.is_empty() {
        return Ok((0, String::new()));
    }
    let (source, full) = maybe_strip_i18n_prefix_and_normalize(number, m);
    if source != Source::Default {
        if full.len() <= MIN_LENGTH_FOR_NSN {
            return Err(Reason::TooShort);
        }
        let (cc, rest) = extract_country_code(&full);
        if cc != 0 {
            return Ok((cc, rest.to_string()));
        }
        return Err(Reason::InvalidCountryCode);
    } else if let Some(m) = m {
        let cc_str = m.meta.country_code.to_string();
        if let Some(potential) = full.strip_prefix(cc_str.as_str()) {
            let potential = maybe_strip_national_prefix(potential, m);
            if (!match_desc_pattern(&full, m, GENERAL)
                && match_desc_pattern(&potential, m, GENERAL))
                || test_number_length(&full, m) == Validation::TooLong
            {
                return Ok((m.meta.country_code, potential));
            }
        }
    }
    Ok((0, String::new()))
}

/// The parsed core of a number: what `phonenumbers.parse` yields that we need.
struct Parsed {
    country_code: u16,
    nsn: String,
    extension: Option<String>,
}

/// `phonenumbers.parse(number, region)`.
fn parse(number: &str, region: &str) -> Result<Parsed, Reason> {
    if number.len() > MAX_INPUT_STRING_LENGTH && number.chars().count() > MAX_INPUT_STRING_LENGTH {
        return Err(Reason::TooLong);
    }
    let national_owned = build_national_number_for_parsing(number)?;
    if !is_viable(&national_owned) {
        return Err(Reason::NotANumber);
    }
    let region_valid = metadata_for_region(region).is_some();
    if !region_valid && (national_owned.is_empty() || plus_prefix_len(&national_owned) == 0) {
        return Err(Reason::InvalidCountryCode);
    }
    let (extension, national) = maybe_strip_extension(&national_owned);
    let mut metadata = if region.bytes().all(|c| c.is_ascii_uppercase()) {
        metadata_for_region(region)
    } else {
        metadata_for_region(&region.to_uppercase())
    };

    let (cc, mut normalized) = match maybe_extract_country_code(national, metadata) {
        Ok(v) => v,
        Err(Reason::InvalidCountryCode) if plus_prefix_len(national) > 0 => {
            let p = plus_prefix_len(national);
            let (cc, nn) = maybe_extract_country_code(&national[p..], metadata)?;
            if cc == 0 {
                return Err(Reason::InvalidCountryCode);
            }
            (cc, nn)
        }
        Err(e) => return Err(e),
    };

    let country_code;
    if cc != 0 {
        let main = regions_for_country_code(u32::from(cc))
            .and_then(|r| r.first())
            .copied()
            .unwrap_or("ZZ");
        metadata = metadata_for_region_or_calling_code(cc, main);
        country_code = cc;
    } else {
        normalized.push_str(&normalize_digits(national));
        match metadata {
            Some(m) => country_code = m.meta.country_code,
            None => return Err(Reason::InvalidCountryCode),
        }
    }
    if normalized.len() < MIN_LENGTH_FOR_NSN {
        return Err(Reason::TooShort);
    }
    if let Some(m) = metadata {
        let potential = maybe_strip_national_prefix(&normalized, m);
        let v = test_number_length(&potential, m);
        if !matches!(
            v,
            Validation::TooShort | Validation::IsPossibleLocalOnly | Validation::InvalidLength
        ) {
            normalized = potential;
        }
    }
    if normalized.len() < MIN_LENGTH_FOR_NSN {
        return Err(Reason::TooShort);
    }
    if normalized.len() > MAX_LENGTH_FOR_NSN {
        return Err(Reason::TooLong);
    }
    Ok(Parsed {
        country_code,
        nsn: normalized,
        extension,
    })
}

/// Whether US metadata has the shape `nanp_fast_parse` relies on (checked once).
fn us_fast_path_applies() -> Option<M> {
    static US: OnceLock<Option<M>> = OnceLock::new();
    *US.get_or_init(|| {
        let m = metadata_for_region("US")?;
        let general = m.desc(GENERAL)?;
        let ok = m.meta.country_code == 1
            && m.meta.international_prefix == Some("011")
            && m.meta.national_prefix_for_parsing == Some("1")
            && m.meta.national_prefix_transform_rule.is_none()
            && general.possible == [10]
            && regions_for_country_code(1).and_then(|r| r.first()) == Some(&"US");
        ok.then_some(m)
    })
}

/// The NANP fast path: default region US and input written only with ASCII digits and
/// `space - ( ) . /`, optionally with leading `+`, whose digits are `NXXNXXXXXX`, `1NXXNXXXXXX`
/// or `+1NXXNXXXXXX` (N = 2..9). For exactly these inputs `parse` provably yields country code 1
/// and the last ten digits as national number (no IDD, no extension; the national prefix "1" is
/// stripped only where the general code path strips it; see the comments in `parse`): we skip
/// the regexes of the general path. Anything else returns `None` and takes the general path.
fn nanp_fast_parse(raw: &str, region: &str) -> Option<Parsed> {
    if region != "US" || raw.len() > 40 {
        return None;
    }
    let mut digits = [0u8; 11];
    let mut n = 0usize;
    let mut plus = false;
    for &c in raw.as_bytes() {
        match c {
            b'0'..=b'9' => {
                if n == 11 {
                    return None;
                }
                digits[n] = c;
                n += 1;
            }
            b'+' if n == 0 => plus = true,
            b' ' | b'-' | b'(' | b')' | b'.' | b'/' => {}
            _ => return None,
        }
    }
    let nsn = match (plus, n) {
        (false, 10) => &digits[..10],
        (_, 11) if digits[0] == b'1' => &digits[1..11],
        _ => return None,
    };
    if !(b'2'..=b'9').contains(&nsn[0]) {
        return None;
    }
    us_fast_path_applies()?;
    Some(Parsed {
        country_code: 1,
        nsn: std::str::from_utf8(nsn).ok()?.to_string(),
        extension: None,
    })
}

/// `is_possible_number_with_reason`.
fn possible_with_reason(cc: u16, nsn: &str) -> Validation {
    let Some(regions) = regions_for_country_code(u32::from(cc)) else {
        return Validation::InvalidCountryCode;
    };
    let Some(m) = regions
        .first()
        .and_then(|r| metadata_for_region_or_calling_code(cc, r))
    else {
        return Validation::InvalidCountryCode;
    };
    test_number_length(nsn, m)
}

/// `region_code_for_number`, plus whether the number is already known to be valid for that
/// region (when the region was chosen by full validation, validity need not be tested again).
fn region_code_for_number(cc: u16, nsn: &str) -> (Option<&'static str>, Option<bool>) {
    let Some(regions) = regions_for_country_code(u32::from(cc)) else {
        return (None, None);
    };
    if regions.len() == 1 {
        return (Some(regions[0]), None);
    }
    for &r in regions {
        let Some(m) = metadata_for_region(r) else {
            continue;
        };
        if m.meta.leading_digits.is_some() {
            if m.leading_re().is_some_and(|re| re.is_match(nsn)) {
                return (Some(r), None);
            }
        } else if has_known_type(nsn, m) {
            return (Some(r), Some(m.meta.country_code == cc));
        }
    }
    (None, None)
}

/// `is_valid_number_for_region(number, region_code_for_number(number))`.
fn is_valid(cc: u16, nsn: &str, region: Option<&'static str>) -> bool {
    let Some(region) = region else {
        return false;
    };
    let Some(m) = metadata_for_region_or_calling_code(cc, region) else {
        return false;
    };
    if region != "001" && m.meta.country_code != cc {
        return false;
    }
    has_known_type(nsn, m)
}

/// Normalize `raw` as libphonenumber would with `default_region`: the result when the number is
/// possible, or why it is not.
pub fn normalize(raw: &str, default_region: &str) -> Result<Phone, Reason> {
    let parsed = match nanp_fast_parse(raw, default_region) {
        Some(p) => p,
        None => parse(raw, default_region)?,
    };
    match possible_with_reason(parsed.country_code, &parsed.nsn) {
        Validation::IsPossible | Validation::IsPossibleLocalOnly => {}
        Validation::TooShort => return Err(Reason::TooShort),
        Validation::TooLong => return Err(Reason::TooLong),
        Validation::InvalidCountryCode => return Err(Reason::InvalidCountryCode),
        Validation::InvalidLength => return Err(Reason::InvalidLength),
    }
    let (region, known_valid) = region_code_for_number(parsed.country_code, &parsed.nsn);
    let valid = match known_valid {
        Some(v) => v,
        None => is_valid(parsed.country_code, &parsed.nsn, region),
    };
    Ok(Phone {
        country_code: parsed.country_code,
        national_number: parsed.nsn,
        extension: parsed.extension,
        region,
        valid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str, region: &str) -> Phone {
        normalize(raw, region).unwrap_or_else(|e| panic!("{raw:?}: {e}"))
    }

    #[test]
    fn every_generated_pattern_compiles() {
        let _ = valid_phone_number_re();
        let _ = extn_re();
        let _ = rfc_global_re();
        let _ = rfc_domain_re();
        let all = REGIONS
            .iter()
            .zip(LAZY_REGIONS.iter())
            .chain(NON_GEO.iter().zip(LAZY_NON_GEO.iter()));
        for (meta, lazy) in all {
            let m = M { meta, lazy };
            for i in 0..11 {
                if m.desc(i)
                    .and_then(|d| d.pattern)
                    .is_some_and(|p| !p.is_empty())
                {
                    assert!(m.desc_re(i).is_some(), "{} desc {i}", meta.id);
                }
            }
            if meta.international_prefix.is_some() {
                assert!(m.idd_re().is_some(), "{} idd", meta.id);
            }
            if meta
                .national_prefix_for_parsing
                .is_some_and(|p| !p.is_empty())
            {
                assert!(m.npp_re().is_some(), "{} npp", meta.id);
            }
            if meta.leading_digits.is_some() {
                assert!(m.leading_re().is_some(), "{} leading", meta.id);
            }
        }
    }

    #[test]
    fn us_formats() {
        for raw in [
            "(512) 555-0143",
            "512.555.0143",
            "+1 512-555-0143",
            "5125550143",
            "15125550143",
            "1-512-555-0143",
            "011 1 512 555 0143",
        ] {
            let p = ok(raw, "US");
            assert_eq!(p.e164(), "+15125550143", "{raw}");
            assert_eq!(p.region, Some("US"));
            assert!(p.valid, "libphonenumber accepts 555-01xx in US patterns");
        }
        let p = ok("(650) 253-0000 x12", "US");
        assert_eq!(p.e164(), "+16502530000");
        assert_eq!(p.extension.as_deref(), Some("12"));
        assert!(p.valid);
        assert_eq!(
            ok("650 253 0000 ext. 7", "US").extension.as_deref(),
            Some("7")
        );
    }

    #[test]
    fn quickstart_number_is_possible_not_valid() {
        let p = ok("5551234567", "US");
        assert_eq!(p.e164(), "+15551234567");
        assert!(!p.valid);
    }

    #[test]
    fn vanity_and_unicode_digits() {
        assert_eq!(ok("1-800-FLOWERS", "US").e164(), "+18003569377");
        assert_eq!(
            ok("\u{FF16}\u{FF15}\u{FF10}2530000", "US").e164(),
            "+16502530000"
        );
        assert_eq!(
            ok("\u{661}\u{662}\u{663}4567890", "US").e164(),
            "+11234567890"
        );
    }

    #[test]
    fn international() {
        let p = ok("+44 20 7031 3000", "US");
        assert_eq!((p.country_code, p.region, p.valid), (44, Some("GB"), true));
        assert_eq!(p.national_number, "2070313000");
        let p = ok("020 7031 3000", "GB");
        assert_eq!(p.e164(), "+442070313000");
        let p = ok("+39 06 1234 5678", "US");
        assert_eq!(p.national_number, "0612345678");
        assert_eq!(ok("+800 1234 5678", "US").region, Some("001"));
    }

    #[test]
    fn impossible_inputs() {
        assert_eq!(normalize("", "US"), Err(Reason::NotANumber));
        assert_eq!(normalize("hello", "US"), Err(Reason::NotANumber));
        assert_eq!(normalize("12345", "US"), Err(Reason::TooShort));
        assert_eq!(normalize("123456789012345", "US"), Err(Reason::TooLong));
        assert_eq!(
            normalize("+999 1234567", "US"),
            Err(Reason::InvalidCountryCode)
        );
        assert_eq!(
            normalize("5125550143", "XX"),
            Err(Reason::InvalidCountryCode)
        );
        assert_eq!(normalize(&"1".repeat(300), "US"), Err(Reason::TooLong));
    }

    #[test]
    fn no_panic_on_odd_input() {
        for raw in [
            "+",
            "++",
            "+0",
            "\u{0}",
            "tel:;phone-context=",
            ";phone-context=+1",
            "x",
            "#",
            "٠٠",
            "00",
            "0000000000000000000",
            "+1;ext=5",
            "tel:+1-650-253-0000;isub=1",
            "1;phone-context=+1;x",
            "\n\n\n",
            "ext 1",
            "(((",
            "ı",
            "1-800-ſſſ",
        ] {
            for region in ["US", "GB", "us", "", "001", "ZZ", "ß"] {
                let _ = normalize(raw, region);
            }
        }
    }

    /// Fuzz-like: random strings over a pool of tricky characters, every default region; the
    /// only requirement here is no panic (agreement is checked against the oracle in Python).
    #[test]
    fn no_panic_on_random_input() {
        let pool: Vec<char> = "0123456789+-(). /xX#*;,:=~_extnsioaEXT\t\n\u{a0}\u{ff0b}\u{ff10}\u{661}\u{6f5}\u{2460}\u{b2}ıİſ\u{212a}доб\u{ff58}\u{301}óté:;phone-context=isub"
            .chars()
            .collect();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let regions = [
            "US", "GB", "DE", "BR", "AR", "IT", "IN", "ZZ", "", "us", "001",
        ];
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let s: String = (0..len)
                .map(|_| pool[(next() % pool.len() as u64) as usize])
                .collect();
            let region = regions[(next() % regions.len() as u64) as usize];
            if let Ok(p) = normalize(&s, region) {
                assert!(
                    p.national_number.len() >= 2 && p.national_number.len() <= 17,
                    "{s:?}"
                );
                assert!(
                    p.national_number.bytes().all(|b| b.is_ascii_digit()),
                    "{s:?}"
                );
            }
        }
    }

    #[test]
    #[ignore = "timing, run with --release -- --ignored --nocapture"]
    fn timing_us() {
        let t = std::time::Instant::now();
        let n = 1_000_000;
        for _ in 0..n {
            std::hint::black_box(normalize(std::hint::black_box("(512) 555-0143"), "US")).ok();
        }
        println!("{:?} per US number", t.elapsed() / n);
    }
}

#[cfg(test)]
mod timing {
    use super::*;
    fn per<F: FnMut()>(name: &str, mut f: F) {
        let n = 50_000u32;
        let mut best = std::time::Duration::MAX;
        for _ in 0..10 {
            let t = std::time::Instant::now();
            for _ in 0..n {
                f();
            }
            best = best.min(t.elapsed() / n);
        }
        println!("{name}: {best:?}");
    }
    #[test]
    #[ignore = "timing breakdown"]
    fn breakdown() {
        let us = metadata_for_region("US").unwrap();
        let nsn = "5125550143";
        per("full", || {
            std::hint::black_box(normalize(std::hint::black_box("(512) 555-0143"), "US")).ok();
        });
        per("parse", || {
            std::hint::black_box(parse(std::hint::black_box("(512) 555-0143"), "US")).ok();
        });
        per("extract", || {
            std::hint::black_box(build_national_number_for_parsing(std::hint::black_box(
                "(512) 555-0143",
            )))
            .ok();
        });
        per("idd", || {
            std::hint::black_box(us.idd_re().unwrap().find(std::hint::black_box(nsn)));
        });
        per("npp", || {
            std::hint::black_box(us.npp_re().unwrap().captures(std::hint::black_box(nsn)));
        });
        per("general", || {
            std::hint::black_box(match_desc_pattern(std::hint::black_box(nsn), us, GENERAL));
        });
        per("fixed", || {
            std::hint::black_box(match_desc_pattern(
                std::hint::black_box(nsn),
                us,
                FIXED_LINE,
            ));
        });
        per("viable", || {
            std::hint::black_box(is_viable(std::hint::black_box("(512) 555-0143")));
        });
        per("strip_ext", || {
            std::hint::black_box(maybe_strip_extension(std::hint::black_box(
                "(512) 555-0143",
            )));
        });
        per("extract_cc", || {
            std::hint::black_box(maybe_extract_country_code(
                std::hint::black_box("(512) 555-0143"),
                Some(us),
            ))
            .ok();
        });
        per("strip_np", || {
            std::hint::black_box(maybe_strip_national_prefix(std::hint::black_box(nsn), us));
        });
        per("normalize_digits", || {
            std::hint::black_box(normalize_digits(std::hint::black_box("(512) 555-0143")));
        });
        per("fast", || {
            std::hint::black_box(nanp_fast_parse(
                std::hint::black_box("(512) 555-0143"),
                "US",
            ));
        });
        per("possible", || {
            std::hint::black_box(possible_with_reason(1, std::hint::black_box(nsn)));
        });
        per("valid", || {
            std::hint::black_box(is_valid(1, std::hint::black_box(nsn), Some("US")));
        });
        per("region", || {
            std::hint::black_box(region_code_for_number(1, std::hint::black_box(nsn)));
        });
    }
}
