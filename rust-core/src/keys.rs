//! API keys: `l2i_<env>_<key_id>_<secret><crc>`, and publishable form keys
//! `l2i_pk_<env>_<key_id>_<secret><crc>` (safe to put in a web page; see docs/web-forms.md).
//!
//! * `pk_`    = present only on a publishable key: people and secret scanners tell it apart
//! * `env`    = `live` | `test`
//! * `key_id` = 12 base62 characters (public, used for the database look-up)
//! * `secret` = 32 base62 characters from the OS CSPRNG (~190 bits)
//! * `crc`    = 6 base62 characters: CRC32/IEEE of the ASCII bytes of `<key_id>_<secret>`,
//!   alphabet `0-9A-Za-z`, left-padded with `0` (GitHub's token checksum scheme)
//!
//! [`parse_key`] rejects typos and garbage with no store involved. The stored value is
//! [`key_digest`]: HMAC-SHA256 under a server-side pepper over the whole presented key, checked by
//! [`verify_key`] in constant time. No Python types in here: the bindings live in `py_keys`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The base62 alphabet, in the order GitHub uses for its checksums.
pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

pub const PREFIX: &str = "l2i_";
/// What a publishable key adds after [`PREFIX`]; the rest of its layout is a secret key's.
pub const PUBLISHABLE: &str = "pk_";
pub const ENV_LEN: usize = 4;
pub const KEY_ID_LEN: usize = 12;
pub const SECRET_LEN: usize = 32;
pub const CRC_LEN: usize = 6;
/// Length of a digest from [`key_digest`].
pub const DIGEST_LEN: usize = 32;

// Byte offsets inside a key.
const ENV_AT: usize = PREFIX.len(); // 4
const ENV_SEP_AT: usize = ENV_AT + ENV_LEN; // 8
const KEY_ID_AT: usize = ENV_SEP_AT + 1; // 9
const ID_SEP_AT: usize = KEY_ID_AT + KEY_ID_LEN; // 21
const SECRET_AT: usize = ID_SEP_AT + 1; // 22
const CRC_AT: usize = SECRET_AT + SECRET_LEN; // 54

/// Total length of a key: "l2i_" (4) + "live_" (5) + key id and "_" (13) + secret and crc (38).
pub const KEY_LEN: usize = PREFIX.len() + (ENV_LEN + 1) + (KEY_ID_LEN + 1) + SECRET_LEN + CRC_LEN;
const _: () = assert!(KEY_LEN == 60);
/// Total length of a publishable key: [`KEY_LEN`] plus "pk_".
pub const PUBLISHABLE_KEY_LEN: usize = KEY_LEN + PUBLISHABLE.len();
const _: () = assert!(PUBLISHABLE_KEY_LEN == 63);
const _: () = assert!(CRC_AT + CRC_LEN == KEY_LEN);
// Every u32 fits in six base62 digits: 62^6 = 56_800_235_584 > u32::MAX.
const _: () = assert!(62u64.pow(6) > u32::MAX as u64);

/// The deployment environment a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Env {
    Live,
    Test,
}

impl Env {
    pub fn as_str(self) -> &'static str {
        match self {
            Env::Live => "live",
            Env::Test => "test",
        }
    }

    /// `live` or `test`, exactly (no case folding, no whitespace).
    pub fn from_name(name: &str) -> Option<Env> {
        match name {
            "live" => Some(Env::Live),
            "test" => Some(Env::Test),
            _ => None,
        }
    }
}

/// A key that passed the format and checksum check. Borrows from the presented string; the secret
/// is deliberately not exposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    pub env: Env,
    pub key_id: &'a str,
    /// The last four characters of the full key, for display.
    pub last4: &'a str,
    /// `l2i_pk_...`: a publishable form key.
    pub publishable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// The OS random source failed (never expected on a healthy machine).
    Random(String),
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::Random(e) => write!(f, "OS random source failed: {e}"),
        }
    }
}

impl std::error::Error for KeyError {}

#[inline]
fn is_base62(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// CRC32/IEEE of `bytes` as six base62 digits, left-padded with `0`.
pub fn checksum(bytes: &[u8]) -> [u8; CRC_LEN] {
    let mut n = crc32fast::hash(bytes);
    let mut out = [b'0'; CRC_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// Fill `out` with uniformly random base62 characters from the OS CSPRNG. Rejection sampling:
/// a random byte is used only when it is below 248 = 4 * 62, so `byte % 62` is unbiased.
fn fill_base62(out: &mut [u8]) -> Result<(), KeyError> {
    let mut pool = [0u8; 64];
    let mut used = pool.len();
    for slot in out.iter_mut() {
        loop {
            if used == pool.len() {
                getrandom::fill(&mut pool).map_err(|e| KeyError::Random(e.to_string()))?;
                used = 0;
            }
            let b = pool[used];
            used += 1;
            if b < 248 {
                *slot = BASE62[(b % 62) as usize];
                break;
            }
        }
    }
    // Do not leave secret material lying around on the stack longer than needed.
    pool.fill(0);
    Ok(())
}

/// A new secret key: `(full_key, key_id)`.
pub fn mint_key(env: Env) -> Result<(String, String), KeyError> {
    mint_key_of_kind(env, false)
}

/// A new key, publishable (`l2i_pk_<env>_...`) or secret: `(full_key, key_id)`.
pub fn mint_key_of_kind(env: Env, publishable: bool) -> Result<(String, String), KeyError> {
    // The publishable marker sits between "l2i_" and the env; everything after it is laid out
    // exactly as in a secret key, `o` bytes further on.
    let o = if publishable { PUBLISHABLE.len() } else { 0 };
    let mut key = [0u8; PUBLISHABLE_KEY_LEN];
    let key = &mut key[..KEY_LEN + o];
    key[..ENV_AT].copy_from_slice(PREFIX.as_bytes());
    key[ENV_AT..ENV_AT + o].copy_from_slice(&PUBLISHABLE.as_bytes()[..o]);
    key[o + ENV_AT..o + ENV_SEP_AT].copy_from_slice(env.as_str().as_bytes());
    key[o + ENV_SEP_AT] = b'_';
    fill_base62(&mut key[o + KEY_ID_AT..o + ID_SEP_AT])?;
    key[o + ID_SEP_AT] = b'_';
    fill_base62(&mut key[o + SECRET_AT..o + CRC_AT])?;
    let crc = checksum(&key[o + KEY_ID_AT..o + CRC_AT]);
    key[o + CRC_AT..].copy_from_slice(&crc);
    // All bytes are ASCII by construction.
    let full = String::from_utf8(key.to_vec()).expect("ASCII key");
    let key_id = full[o + KEY_ID_AT..o + ID_SEP_AT].to_owned();
    key.fill(0);
    Ok((full, key_id))
}

/// Strict format and checksum check. `None` for anything that is not exactly a well-formed key:
/// surrounding whitespace, wrong prefix or env, wrong segment lengths, a non-base62 character or a
/// wrong checksum.
pub fn parse_key(presented: &str) -> Option<ParsedKey<'_>> {
    let whole = presented.as_bytes();
    if !whole.starts_with(PREFIX.as_bytes()) {
        return None;
    }
    let publishable = whole[ENV_AT..].starts_with(PUBLISHABLE.as_bytes());
    let o = if publishable { PUBLISHABLE.len() } else { 0 };
    if whole.len() != KEY_LEN + o {
        return None;
    }
    // From here on `b` is laid out as a secret key's bytes after the prefix (and "pk_").
    let b = &whole[o..];
    let env = match &b[ENV_AT..ENV_SEP_AT] {
        b"live" => Env::Live,
        b"test" => Env::Test,
        _ => return None,
    };
    if b[ENV_SEP_AT] != b'_' || b[ID_SEP_AT] != b'_' {
        return None;
    }
    if !b[KEY_ID_AT..ID_SEP_AT].iter().all(|&c| is_base62(c))
        || !b[SECRET_AT..].iter().all(|&c| is_base62(c))
    {
        return None;
    }
    if checksum(&b[KEY_ID_AT..CRC_AT]) != b[CRC_AT..] {
        return None;
    }
    // Every byte was checked to be ASCII, so these slices are on char boundaries.
    Some(ParsedKey {
        env,
        key_id: &presented[o + KEY_ID_AT..o + ID_SEP_AT],
        last4: &presented[o + KEY_LEN - 4..],
        publishable,
    })
}

fn mac(pepper: &[u8], presented: &str) -> HmacSha256 {
    // HMAC accepts keys of any length (long keys are hashed first), so this cannot fail.
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(pepper).expect("HMAC takes any key length");
    m.update(presented.as_bytes());
    m
}

/// HMAC-SHA256 under `pepper` over the whole presented key string.
pub fn key_digest(pepper: &[u8], presented: &str) -> [u8; DIGEST_LEN] {
    mac(pepper, presented).finalize().into_bytes().into()
}

/// Recompute the digest of `presented` and compare it with `digest` in constant time. `false`
/// for a digest of the wrong length.
pub fn verify_key(pepper: &[u8], presented: &str, digest: &[u8]) -> bool {
    // `verify_slice` checks the length first, then compares with `subtle::ConstantTimeEq`.
    mac(pepper, presented).verify_slice(digest).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed key: GitHub-style checksum over `<id>_<secret>`.
    fn fixed_key() -> String {
        let body = "AbCdEf123456_0123456789abcdefghijABCDEFGHIJ01";
        let crc = checksum(body.as_bytes());
        format!("l2i_live_{body}{}", std::str::from_utf8(&crc).unwrap())
    }

    #[test]
    fn length_is_sixty() {
        assert_eq!(KEY_LEN, 60);
        let (k, id) = mint_key(Env::Live).unwrap();
        assert_eq!(k.len(), 60);
        assert_eq!(id.len(), 12);
        let (k, _) = mint_key(Env::Test).unwrap();
        assert_eq!(k.len(), 60);
    }

    #[test]
    fn publishable_keys_parse_and_differ_from_secret_ones() {
        for env in [Env::Live, Env::Test] {
            for _ in 0..500 {
                let (k, id) = mint_key_of_kind(env, true).unwrap();
                assert_eq!(k.len(), PUBLISHABLE_KEY_LEN);
                assert!(k.starts_with(&format!("l2i_pk_{}_", env.as_str())));
                let p = parse_key(&k).expect("minted publishable key parses");
                assert!(p.publishable);
                assert_eq!(p.env, env);
                assert_eq!(p.key_id, id);
                assert_eq!(p.last4, &k[59..]);
                // The same id, secret and checksum without "pk_" is a well-formed secret key,
                // which is why the digest covers the whole key (it never verifies as the other).
                let secret = k.replacen("l2i_pk_", "l2i_", 1);
                let q = parse_key(&secret).unwrap();
                assert!(!q.publishable);
                let d = key_digest(b"p", &k);
                assert!(!verify_key(b"p", &secret, &d));
            }
            let (s, _) = mint_key(env).unwrap();
            assert!(!parse_key(&s).unwrap().publishable);
        }
    }

    #[test]
    fn publishable_key_typos_are_rejected() {
        let (k, _) = mint_key_of_kind(Env::Live, true).unwrap();
        for pos in 7..k.len() {
            for &c in BASE62.iter().chain(b"_-") {
                let mut b = k.clone().into_bytes();
                if b[pos] == c {
                    continue;
                }
                b[pos] = c;
                let s = String::from_utf8(b).unwrap();
                assert!(parse_key(&s).is_none(), "accepted {s:?}");
            }
        }
        for bad in [
            k.replacen("l2i_pk_", "l2i_pK_", 1),
            k.replacen("l2i_pk_", "l2i_pk", 1),
            format!("{k}0"),
            k[..62].to_owned(),
        ] {
            assert!(parse_key(&bad).is_none(), "accepted {bad:?}");
        }
    }

    #[test]
    fn checksum_known_values() {
        // zlib.crc32(b"") == 0, zlib.crc32(b"a") == 0xE8B7BE43 == 3904355907
        assert_eq!(&checksum(b""), b"000000");
        let mut n: u64 = 3_904_355_907;
        let mut want = [b'0'; 6];
        for slot in want.iter_mut().rev() {
            *slot = BASE62[(n % 62) as usize];
            n /= 62;
        }
        assert_eq!(checksum(b"a"), want);
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn minted_keys_parse() {
        for env in [Env::Live, Env::Test] {
            for _ in 0..2000 {
                let (k, id) = mint_key(env).unwrap();
                let p = parse_key(&k).expect("minted key parses");
                assert_eq!(p.env, env);
                assert_eq!(p.key_id, id);
                assert_eq!(p.last4, &k[56..]);
                assert!(k.starts_with(&format!("l2i_{}_", env.as_str())));
            }
        }
    }

    #[test]
    fn minted_keys_differ_and_cover_alphabet() {
        let mut seen = [0usize; 128];
        let mut keys = std::collections::HashSet::new();
        for _ in 0..2000 {
            let (k, _) = mint_key(Env::Live).unwrap();
            for &c in &k.as_bytes()[SECRET_AT..CRC_AT] {
                seen[c as usize] += 1;
            }
            assert!(keys.insert(k));
        }
        // 64_000 secret characters: each of the 62 should appear ~1032 times.
        for &c in BASE62.iter() {
            let n = seen[c as usize];
            assert!(
                (800..1300).contains(&n),
                "char {} seen {n} times",
                c as char
            );
        }
    }

    #[test]
    fn every_single_substitution_is_rejected() {
        let k = fixed_key();
        assert!(parse_key(&k).is_some());
        let mut alphabet: Vec<u8> = BASE62.to_vec();
        alphabet.extend_from_slice(b"_- .\n\t/+=~\x00\x7f");
        let mut tried = 0;
        for pos in 0..k.len() {
            for &c in &alphabet {
                let mut b = k.clone().into_bytes();
                if b[pos] == c {
                    continue;
                }
                b[pos] = c;
                let s = String::from_utf8(b).unwrap();
                // "live" and "test" differ in every position, so one substitution cannot switch env.
                assert!(parse_key(&s).is_none(), "accepted {s:?}");
                tried += 1;
            }
        }
        assert!(tried > 60 * 62);
    }

    #[test]
    fn rejects_malformed() {
        let k = fixed_key();
        let bad = [
            String::new(),
            format!(" {k}"),
            format!("{k} "),
            format!("{k}\n"),
            k[..59].to_owned(),
            format!("{k}0"),
            k.replacen("l2i_", "L2I_", 1),
            k.replacen("live", "prod", 1),
            k.replacen("live", "LIVE", 1),
            k.replacen("_", "-", 1),
        ];
        for s in &bad {
            assert!(parse_key(s).is_none(), "accepted {s:?}");
        }
        // The checksum covers only `<id>_<secret>` (GitHub's scheme), so rewriting the whole env
        // segment of a valid key yields a well-formed key of the other env. That is why the digest
        // covers the whole key: the rewritten key never verifies against the original's digest.
        let other = k.replacen("live", "test", 1);
        assert_eq!(parse_key(&other).unwrap().env, Env::Test);
        let d = key_digest(b"p", &k);
        assert!(!verify_key(b"p", &other, &d));
        // Non-ASCII of the same byte length must not panic or parse.
        let mut s = k.clone();
        s.replace_range(20..22, "é");
        assert_eq!(s.len(), 60);
        assert!(parse_key(&s).is_none());
    }

    #[test]
    fn digest_and_verify() {
        let (k, _) = mint_key(Env::Live).unwrap();
        let d = key_digest(b"pepper-1", &k);
        assert_eq!(d.len(), 32);
        assert!(verify_key(b"pepper-1", &k, &d));
        assert!(!verify_key(b"pepper-2", &k, &d));
        assert!(!verify_key(b"pepper-1", &k, &d[..31]));
        assert!(!verify_key(b"pepper-1", &k, &[]));
        let mut longer = d.to_vec();
        longer.push(0);
        assert!(!verify_key(b"pepper-1", &k, &longer));
        let mut flipped = d;
        flipped[31] ^= 1;
        assert!(!verify_key(b"pepper-1", &k, &flipped));
        let (k2, _) = mint_key(Env::Live).unwrap();
        assert!(!verify_key(b"pepper-1", &k2, &d));
    }

    #[test]
    fn digest_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let d = key_digest(b"Jefe", "what do ya want for nothing?");
        let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
