//! A time-windowed bloom filter used as a "definitely not present" hint.
//!
//! The window of `window_seconds` is cut into `generations` time slices of
//! `slice = window_seconds / generations`. Slice number `e = floor(now / slice)` fills the bit
//! array of ring slot `e mod (generations + 1)`; the ring holds `live = generations + 1` slots, so
//! the slice being filled plus the `generations` slices before it are queried together. An entry
//! inserted at `t` (in slice `e`) matches through the end of slice `e + generations`, i.e. at least
//! until `t + window_seconds` (inclusive) and never at or after `t + window_seconds + slice`.
//!
//! Sizing: a query can hit any of the `live` slots. With each slot at false-positive rate `p`, the
//! combined rate is `1 - (1 - p)^live`, so each slot is sized for `p = 1 - (1 - fp_rate)^(1/live)`.
//! Each slot is sized for the full `capacity` (not `capacity / generations`): a burst may put the
//! whole window's keys into one slice, and with at most `capacity` keys per slot the combined rate
//! stays at or below `fp_rate` however the keys are spread over time. Bits per slot:
//! `m = ceil(-capacity * ln p / ln(2)^2)` (rounded up to whole 64-bit words), hash count
//! `k = round(m / capacity * ln 2)`.
//!
//! Concurrency: the bits are `AtomicU64` words (`fetch_or` to insert, plain loads to query); each
//! slot carries the slice number it holds. Reusing a slot for a new slice (zeroing its words) is
//! the only step that takes a lock; queries never lock and ignore slots whose slice has expired.
//!
//! Hashing: one XXH3-128 per operation with a per-filter random seed; the two 64-bit halves drive
//! Kirsch-Mitzenmacher double hashing (`h1 + i * h2`), mapped onto `m` bits by a multiply-shift.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use xxhash_rust::xxh3::xxh3_128_with_seed;

/// Slot holds no slice yet (or was cleared).
const EMPTY: i64 = i64::MIN;
/// Refuse filters above this many bytes in total (all slots together).
pub const MAX_BYTES: u64 = 4 << 30;
/// Upper bound on the number of hash functions (only reached for absurdly small rates).
const MAX_K: u32 = 64;
/// Slice numbers beyond +-2^53 are rejected (a `now` that large is not a clock reading).
const MAX_SLICE: f64 = 9_007_199_254_740_992.0;

#[derive(Debug, Clone, PartialEq)]
pub enum BloomError {
    Capacity,
    FpRate(f64),
    Window(f64),
    Generations,
    TooLarge(u64),
    Time(f64),
}

impl std::fmt::Display for BloomError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BloomError::Capacity => write!(f, "capacity must be at least 1"),
            BloomError::FpRate(p) => write!(f, "fp_rate must be in (0, 1), got {p}"),
            BloomError::Window(w) => write!(f, "window_seconds must be positive, got {w}"),
            BloomError::Generations => write!(f, "generations must be at least 1"),
            BloomError::TooLarge(b) => {
                write!(f, "filter would need {b} bytes (limit {MAX_BYTES})")
            }
            BloomError::Time(t) => write!(f, "now must be a finite time in seconds, got {t}"),
        }
    }
}

impl std::error::Error for BloomError {}

/// The per-slot sizing for a filter: `(bits per slot, hash count, per-slot rate)`.
pub fn sizing(capacity: u64, fp_rate: f64, live: u32) -> (u64, u32, f64) {
    // p = 1 - (1 - fp)^(1/live), computed without cancellation for small fp.
    let p = -((-fp_rate).ln_1p() / f64::from(live)).exp_m1();
    let ln2 = std::f64::consts::LN_2;
    let n = capacity as f64;
    let m = (-n * p.ln() / (ln2 * ln2)).ceil().max(64.0);
    let m = ((m / 64.0).ceil() * 64.0) as u64;
    let k = ((m as f64 / n) * ln2).round().clamp(1.0, f64::from(MAX_K)) as u32;
    (m, k, p)
}

pub struct WindowedBloom {
    capacity: u64,
    fp_rate: f64,
    window_seconds: f64,
    generations: u32,
    slice_seconds: f64,
    live: usize,
    bits: u64,
    words_per_slot: usize,
    k: u32,
    seed: u64,
    words: Box<[AtomicU64]>,
    slices: Box<[AtomicI64]>,
    rotate: Mutex<()>,
}

impl std::fmt::Debug for WindowedBloom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowedBloom")
            .field("capacity", &self.capacity)
            .field("fp_rate", &self.fp_rate)
            .field("window_seconds", &self.window_seconds)
            .field("generations", &self.generations)
            .field("bits_per_slot", &self.bits)
            .field("k", &self.k)
            .finish_non_exhaustive()
    }
}

/// The two hashes of a key.
#[derive(Clone, Copy)]
struct Probe {
    h1: u64,
    h2: u64,
}

/// Seconds since the Unix epoch from the system clock.
pub fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl WindowedBloom {
    /// A filter with a random hash seed from the OS.
    pub fn new(
        capacity: u64,
        fp_rate: f64,
        window_seconds: f64,
        generations: u32,
    ) -> Result<Self, BloomError> {
        // A failing OS random source only costs seed unpredictability, not correctness.
        let seed = getrandom::u64().unwrap_or(0x9E37_79B9_7F4A_7C15);
        Self::with_seed(capacity, fp_rate, window_seconds, generations, seed)
    }

    pub fn with_seed(
        capacity: u64,
        fp_rate: f64,
        window_seconds: f64,
        generations: u32,
        seed: u64,
    ) -> Result<Self, BloomError> {
        if capacity == 0 {
            return Err(BloomError::Capacity);
        }
        // Written so that NaN fails too.
        if !(fp_rate > 0.0 && fp_rate < 1.0) {
            return Err(BloomError::FpRate(fp_rate));
        }
        if !(window_seconds > 0.0 && window_seconds.is_finite()) {
            return Err(BloomError::Window(window_seconds));
        }
        if generations == 0 {
            return Err(BloomError::Generations);
        }
        let live = generations as usize + 1;
        let (bits, k, _) = sizing(capacity, fp_rate, live as u32);
        let total_bytes = (bits / 8).saturating_mul(live as u64);
        if total_bytes > MAX_BYTES {
            return Err(BloomError::TooLarge(total_bytes));
        }
        let words_per_slot = (bits / 64) as usize;
        let words = (0..words_per_slot * live)
            .map(|_| AtomicU64::new(0))
            .collect();
        let slices = (0..live).map(|_| AtomicI64::new(EMPTY)).collect();
        Ok(WindowedBloom {
            capacity,
            fp_rate,
            window_seconds,
            generations,
            slice_seconds: window_seconds / f64::from(generations),
            live,
            bits,
            words_per_slot,
            k,
            seed,
            words,
            slices,
            rotate: Mutex::new(()),
        })
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }
    pub fn fp_rate(&self) -> f64 {
        self.fp_rate
    }
    pub fn window_seconds(&self) -> f64 {
        self.window_seconds
    }
    pub fn generations(&self) -> u32 {
        self.generations
    }
    pub fn slice_seconds(&self) -> f64 {
        self.slice_seconds
    }
    /// Bits in each of the `generations + 1` slots.
    pub fn bits_per_slot(&self) -> u64 {
        self.bits
    }
    pub fn hash_count(&self) -> u32 {
        self.k
    }
    /// The designed false-positive rate of one slot holding `capacity` keys.
    pub fn slot_fp_rate(&self) -> f64 {
        sizing(self.capacity, self.fp_rate, self.live as u32).2
    }
    pub fn memory_bytes(&self) -> usize {
        self.words.len() * 8
    }

    /// The slice number of a time in seconds.
    pub fn slice_at(&self, now: f64) -> Result<i64, BloomError> {
        let s = (now / self.slice_seconds).floor();
        if !s.is_finite() || s.abs() > MAX_SLICE {
            return Err(BloomError::Time(now));
        }
        Ok(s as i64)
    }

    #[inline]
    fn probe(&self, key: &[u8]) -> Probe {
        let h = xxh3_128_with_seed(key, self.seed);
        Probe {
            h1: h as u64,
            // Odd, so that the k probe positions differ from one another.
            h2: ((h >> 64) as u64) | 1,
        }
    }

    /// The i-th bit position of a key within a slot.
    #[inline]
    fn bit(&self, p: Probe, i: u32) -> u64 {
        let x = p.h1.wrapping_add(u64::from(i).wrapping_mul(p.h2));
        ((u128::from(x) * u128::from(self.bits)) >> 64) as u64
    }

    #[inline]
    fn slot_words(&self, slot: usize) -> &[AtomicU64] {
        &self.words[slot * self.words_per_slot..(slot + 1) * self.words_per_slot]
    }

    #[inline]
    fn is_live(&self, held: i64, slice: i64) -> bool {
        held != EMPTY && held > slice - self.live as i64
    }

    /// The slot for `slice`, reused (zeroed) first if it still holds an older slice.
    fn slot_for_insert(&self, slice: i64) -> usize {
        let slot = slice.rem_euclid(self.live as i64) as usize;
        let held = self.slices[slot].load(Ordering::Acquire);
        if held < slice {
            let _guard = self.rotate.lock().unwrap_or_else(|e| e.into_inner());
            if self.slices[slot].load(Ordering::Acquire) < slice {
                for w in self.slot_words(slot) {
                    w.store(0, Ordering::Relaxed);
                }
                // Release: whoever sees the new slice number also sees the zeroed words, so
                // their inserts land after the reset, never before it.
                self.slices[slot].store(slice, Ordering::Release);
            }
        }
        // If the slot holds a *newer* slice (the clock went back a whole ring), the key goes into
        // it anyway: it then lives longer than asked, which is safe for a hint.
        slot
    }

    #[inline]
    fn set_bits(&self, slot: usize, p: Probe) {
        let words = self.slot_words(slot);
        for i in 0..self.k {
            let b = self.bit(p, i);
            words[(b >> 6) as usize].fetch_or(1 << (b & 63), Ordering::Relaxed);
        }
    }

    #[inline]
    fn has_bits(&self, slot: usize, p: Probe) -> bool {
        let words = self.slot_words(slot);
        (0..self.k).all(|i| {
            let b = self.bit(p, i);
            words[(b >> 6) as usize].load(Ordering::Relaxed) & (1 << (b & 63)) != 0
        })
    }

    /// Insert `key` at time `now` (seconds).
    pub fn insert(&self, key: &[u8], now: f64) -> Result<(), BloomError> {
        let slice = self.slice_at(now)?;
        self.insert_in_slice(key, slice);
        Ok(())
    }

    /// Insert many keys at one time `now`.
    pub fn insert_many<'k, I>(&self, keys: I, now: f64) -> Result<(), BloomError>
    where
        I: IntoIterator<Item = &'k [u8]>,
    {
        let slice = self.slice_at(now)?;
        let slot = self.slot_for_insert(slice);
        for key in keys {
            self.set_bits(slot, self.probe(key));
        }
        Ok(())
    }

    pub fn insert_in_slice(&self, key: &[u8], slice: i64) {
        let slot = self.slot_for_insert(slice);
        self.set_bits(slot, self.probe(key));
    }

    /// `false` means `key` was definitely not inserted within the window before `now`.
    pub fn contains(&self, key: &[u8], now: f64) -> Result<bool, BloomError> {
        Ok(self.contains_in_slice(key, self.slice_at(now)?))
    }

    pub fn contains_in_slice(&self, key: &[u8], slice: i64) -> bool {
        let p = self.probe(key);
        // Newest slot first: recent keys are the likeliest hits.
        let newest = slice.rem_euclid(self.live as i64) as usize;
        (0..self.live).any(|back| {
            let slot = (newest + self.live - back) % self.live;
            let held = self.slices[slot].load(Ordering::Acquire);
            self.is_live(held, slice) && self.has_bits(slot, p)
        })
    }

    /// Forget everything.
    pub fn clear(&self) {
        let _guard = self.rotate.lock().unwrap_or_else(|e| e.into_inner());
        for s in self.slices.iter() {
            s.store(EMPTY, Ordering::Release);
        }
        for w in self.words.iter() {
            w.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn key(prefix: &str, i: u64) -> Vec<u8> {
        format!("{prefix}:{i}:+1555{i:07}").into_bytes()
    }

    #[test]
    fn validates_arguments() {
        assert_eq!(
            WindowedBloom::new(0, 0.01, 60.0, 4).unwrap_err(),
            BloomError::Capacity
        );
        for p in [0.0, 1.0, -0.1, 1.5, f64::NAN] {
            assert!(matches!(
                WindowedBloom::new(10, p, 60.0, 4),
                Err(BloomError::FpRate(_))
            ));
        }
        for w in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                WindowedBloom::new(10, 0.01, w, 4),
                Err(BloomError::Window(_))
            ));
        }
        assert_eq!(
            WindowedBloom::new(10, 0.01, 60.0, 0).unwrap_err(),
            BloomError::Generations
        );
        assert!(matches!(
            WindowedBloom::new(u64::MAX / 2, 0.01, 60.0, 4),
            Err(BloomError::TooLarge(_))
        ));
        let b = WindowedBloom::new(10, 0.01, 60.0, 1).unwrap();
        assert!(b.insert(b"x", f64::NAN).is_err());
        assert!(b.contains(b"x", f64::INFINITY).is_err());
        assert!(b.contains(b"x", 1e300).is_err());
    }

    #[test]
    fn sizing_math() {
        // One slot: the textbook 9.59 bits/key and k = 7 for 1%.
        let (m, k, p) = sizing(1_000_000, 0.01, 1);
        assert!((p - 0.01).abs() < 1e-12);
        assert_eq!(k, 7);
        assert!((9_585_000..9_586_000).contains(&m), "{m}");
        // Five live slots: p = 1 - 0.99^(1/5) and 1 - (1 - p)^5 == 0.01.
        let (_, _, p) = sizing(1_000_000, 0.01, 5);
        assert!((1.0 - (1.0 - p).powi(5) - 0.01).abs() < 1e-12);
    }

    /// Measured rate of `queries` never-inserted keys.
    fn measured_fp(b: &WindowedBloom, now: f64, queries: u64) -> f64 {
        let hits = (0..queries)
            .filter(|&i| b.contains(&key("absent", i), now).unwrap())
            .count();
        hits as f64 / queries as f64
    }

    #[test]
    fn million_keys_no_false_negatives_and_rate_within_bound() {
        for fp in [0.01, 0.001] {
            let n = 1_000_000;
            let b = WindowedBloom::with_seed(n, fp, 3600.0, 4, 7).unwrap();
            let now = 1_700_000_000.0;
            let ks: Vec<Vec<u8>> = (0..n).map(|i| key("present", i)).collect();
            b.insert_many(ks.iter().map(|k| k.as_slice()), now).unwrap();
            assert!(ks.iter().all(|k| b.contains(k, now).unwrap()));
            let rate = measured_fp(&b, now, n);
            // All keys in one slot: the combined rate is about one slot's rate.
            let slot = b.slot_fp_rate();
            eprintln!("fp={fp}: one full slot measured {rate:.6} (slot design {slot:.6})");
            assert!(rate <= 1.5 * fp);
            assert!(rate <= 1.5 * slot && rate >= slot / 1.5, "{rate} vs {slot}");
        }
    }

    #[test]
    fn every_live_slot_full_keeps_combined_rate() {
        // The worst case the sizing covers: `capacity` keys in each of the live slots.
        for fp in [0.01, 0.001] {
            let n = 200_000;
            let b = WindowedBloom::with_seed(n, fp, 40.0, 4, 11).unwrap();
            let base = 1_000_000.0; // slice 100_000 of 10 s
            for g in 0..5u64 {
                let t = base + 10.0 * g as f64;
                let ks: Vec<Vec<u8>> = (0..n).map(|i| key(&format!("g{g}"), i)).collect();
                b.insert_many(ks.iter().map(|k| k.as_slice()), t).unwrap();
            }
            let now = base + 45.0;
            for g in 0..5u64 {
                assert!((0..n).all(|i| b.contains(&key(&format!("g{g}"), i), now).unwrap()));
            }
            let rate = measured_fp(&b, now, 1_000_000);
            eprintln!("fp={fp}: all 5 slots full, measured {rate:.6}");
            assert!(rate <= 1.5 * fp && rate >= fp / 1.5, "{rate} vs {fp}");
        }
    }

    #[test]
    fn expiry_follows_slices() {
        let window = 60.0;
        let b = WindowedBloom::with_seed(1000, 0.01, window, 4, 1).unwrap();
        let slice = b.slice_seconds();
        assert_eq!(slice, 15.0);
        for (i, t) in [1_000_000.0, 1_000_007.5, 1_000_014.999]
            .into_iter()
            .enumerate()
        {
            b.clear();
            let k = format!("k{i}").into_bytes();
            b.insert(&k, t).unwrap();
            assert!(b.contains(&k, t).unwrap());
            assert!(b.contains(&k, t + window - 1e-3).unwrap());
            assert!(b.contains(&k, t + window).unwrap());
            assert!(!b.contains(&k, t + window + slice).unwrap());
            // Expiry also holds once later inserts reuse the slot.
            b.insert(b"other", t + window + slice).unwrap();
            assert!(!b.contains(&k, t + window + slice).unwrap());
        }
    }

    #[test]
    fn expired_slot_is_reused_without_leftovers() {
        let b = WindowedBloom::with_seed(100, 0.01, 4.0, 4, 3).unwrap();
        b.insert(b"old", 0.5).unwrap();
        // Slice 5 maps to the same slot as slice 0; inserting there zeroes it.
        b.insert(b"new", 5.5).unwrap();
        assert!(!b.contains(b"old", 5.5).unwrap());
        assert!(b.contains(b"new", 5.5).unwrap());
    }

    #[test]
    fn clear_forgets() {
        let b = WindowedBloom::new(100, 0.01, 60.0, 4).unwrap();
        b.insert(b"a", 10.0).unwrap();
        assert!(b.contains(b"a", 10.0).unwrap());
        b.clear();
        assert!(!b.contains(b"a", 10.0).unwrap());
        b.insert(b"a", 10.0).unwrap();
        assert!(b.contains(b"a", 10.0).unwrap());
    }

    #[test]
    fn threads_never_lose_a_key() {
        let b = Arc::new(WindowedBloom::new(400_000, 0.01, 60.0, 4).unwrap());
        let now = now_seconds();
        let handles: Vec<_> = (0..4u64)
            .map(|t| {
                let b = Arc::clone(&b);
                std::thread::spawn(move || {
                    for i in 0..50_000u64 {
                        let k = key(&format!("t{t}"), i);
                        b.insert(&k, now).unwrap();
                        // Our own key, and one another thread may be inserting right now.
                        assert!(b.contains(&k, now).unwrap());
                        let _ = b.contains(&key(&format!("t{}", (t + 1) % 4), i), now);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        for t in 0..4u64 {
            assert!((0..50_000).all(|i| b.contains(&key(&format!("t{t}"), i), now).unwrap()));
        }
    }

    #[test]
    fn threads_across_slot_rotation() {
        // Threads insert while time moves through several slices (slots get reused). Every key
        // must match at its insert time and through the window after it. The threads keep within
        // one slice of each other (a barrier per slice), as clocks of one process do.
        let b = Arc::new(WindowedBloom::new(100_000, 0.01, 4.0, 4).unwrap());
        let barrier = Arc::new(std::sync::Barrier::new(4));
        let handles: Vec<_> = (0..4u64)
            .map(|t| {
                let b = Arc::clone(&b);
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    for slice in 0..20u64 {
                        let now = 1000.0 + slice as f64;
                        for i in slice * 2000..(slice + 1) * 2000 {
                            let k = key(&format!("r{t}"), i);
                            b.insert(&k, now).unwrap();
                            assert!(b.contains(&k, now).unwrap());
                        }
                        barrier.wait();
                        // Keys of the last window (4 slices) still match.
                        let first = slice.saturating_sub(4) * 2000;
                        for i in first..(slice + 1) * 2000 {
                            assert!(b.contains(&key(&format!("r{t}"), i), now + 0.5).unwrap());
                        }
                        barrier.wait();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
}
