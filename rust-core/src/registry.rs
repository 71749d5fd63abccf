//! The FTC National Do Not Call Registry as a compact on-disk set of numbers.
//!
//! File format (little endian): the 8-byte magic `L2IDNC01`, the count as a `u64`, then that many
//! 10-digit NANP numbers (`NPA NXX XXXX` as one integer) as `u64`s, sorted ascending, no
//! duplicates. 8 bytes per number: the whole registry (~253 million numbers) is about 2 GB. Workers
//! memory-map the file read-only (the page cache is shared by every process on the machine) and
//! binary search it; an import writes a new file next to the old one and renames it into place, so
//! a reader always sees one complete version.
//!
//! Import input: the seller download files. A full list holds one number per line, either
//! `NNNNNNNNNN` or `AAA,NNNNNNN` (both layouts are described in public material; which one the
//! registry uses today is unknown, so both are accepted). A change list (layout *assumed*: the
//! material only says "several data items per record, separated by commas") is the same number
//! followed by an add/delete flag (`A`/`D`, also `ADD`/`DEL`/`DELETE`) and optionally more fields
//! (a date) that are ignored.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;

pub const MAGIC: &[u8; 8] = b"L2IDNC01";
pub const HEADER_LEN: usize = 16;

#[derive(Debug)]
pub enum RegistryError {
    Io(io::Error),
    BadLine {
        line: u64,
        text: String,
        why: &'static str,
    },
    BadFile(String),
    MixedInput,
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::Io(e) => write!(f, "{e}"),
            RegistryError::BadLine { line, text, why } => {
                write!(f, "line {line}: {why}: {text:?}")
            }
            RegistryError::BadFile(why) => write!(f, "not a registry file: {why}"),
            RegistryError::MixedInput => write!(
                f,
                "the input mixes full-list lines (a number) and change-list lines (number, flag)"
            ),
        }
    }
}

impl std::error::Error for RegistryError {}

impl From<io::Error> for RegistryError {
    fn from(e: io::Error) -> Self {
        RegistryError::Io(e)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Add,
    Delete,
}

/// The number of a 10-digit NANP string (first digit 2-9), or `None`.
fn nanp(digits: &[u8]) -> Option<u64> {
    if digits.len() != 10 || !(b'2'..=b'9').contains(&digits[0]) {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() || *first == b'"' {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() || *last == b'"' {
            s = rest;
        } else {
            break;
        }
    }
    s
}

fn flag(field: &[u8]) -> Option<Op> {
    let up: Vec<u8> = field.to_ascii_uppercase();
    match up.as_slice() {
        b"A" | b"ADD" | b"ADDED" => Some(Op::Add),
        b"D" | b"DEL" | b"DELETE" | b"DELETED" => Some(Op::Delete),
        _ => None,
    }
}

/// One line of a download file: `Ok(None)` for a blank line, else the number and its flag (a
/// change-list line) or no flag (a full-list line).
pub fn parse_line(line: &[u8]) -> Result<Option<(u64, Option<Op>)>, &'static str> {
    let line = trim(line);
    if line.is_empty() {
        return Ok(None);
    }
    let mut fields = line.split(|&b| b == b',').map(trim);
    let first = fields.next().unwrap_or_default();
    let number = if first.len() == 3 {
        let rest = fields.next().ok_or("an area code without a number")?;
        if rest.len() != 7 {
            return Err("the number after the area code must have 7 digits");
        }
        let mut ten = first.to_vec();
        ten.extend_from_slice(rest);
        nanp(&ten).ok_or("not a 10-digit NANP number")?
    } else if first.len() == 11 && first[0] == b'1' {
        nanp(&first[1..]).ok_or("not a 10-digit NANP number")?
    } else {
        nanp(first).ok_or("not a 10-digit NANP number")?
    };
    match fields.next() {
        None => Ok(Some((number, None))),
        Some([]) => Ok(Some((number, None))),
        Some(f) => match flag(f) {
            Some(op) => Ok(Some((number, Some(op)))),
            None => Err("the field after the number is not an add/delete flag (A or D)"),
        },
    }
}

/// What an import did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportStats {
    /// numbers in the new file
    pub total: u64,
    /// data lines read
    pub lines: u64,
    /// distinct numbers added by the input
    pub added: u64,
    /// distinct numbers the input deleted
    pub deleted: u64,
    /// true when the input was a change list
    pub change_list: bool,
}

/// Collects numbers from download files fed in chunks of any size, then writes the new file.
pub struct Builder {
    adds: Vec<u64>,
    deletes: Vec<u64>,
    area_codes: Vec<bool>,
    partial: Vec<u8>,
    line_no: u64,
    lines: u64,
    flagged: u64,
    unflagged: u64,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    pub fn new() -> Self {
        Builder {
            adds: Vec::new(),
            deletes: Vec::new(),
            area_codes: vec![false; 1000],
            partial: Vec::new(),
            line_no: 0,
            lines: 0,
            flagged: 0,
            unflagged: 0,
        }
    }

    fn take_line(&mut self, line: &[u8]) -> Result<(), RegistryError> {
        self.line_no += 1;
        let parsed = parse_line(line).map_err(|why| RegistryError::BadLine {
            line: self.line_no,
            text: String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned(),
            why,
        })?;
        let Some((number, op)) = parsed else {
            return Ok(());
        };
        self.lines += 1;
        match op {
            None => {
                self.unflagged += 1;
                self.adds.push(number);
            }
            Some(Op::Add) => {
                self.flagged += 1;
                self.adds.push(number);
            }
            Some(Op::Delete) => {
                self.flagged += 1;
                self.deletes.push(number);
            }
        }
        // u64 / 10^7 of a 10-digit number is its area code, always < 1000
        self.area_codes[(number / 10_000_000) as usize] = true;
        Ok(())
    }

    /// Feed the next bytes of the input; lines may span chunks.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), RegistryError> {
        let mut rest = chunk;
        if !self.partial.is_empty() {
            match rest.iter().position(|&b| b == b'\n') {
                None => {
                    self.partial.extend_from_slice(rest);
                    return Ok(());
                }
                Some(i) => {
                    let mut line = std::mem::take(&mut self.partial);
                    line.extend_from_slice(&rest[..i]);
                    self.take_line(&line)?;
                    rest = &rest[i + 1..];
                }
            }
        }
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            self.take_line(&rest[..i])?;
            rest = &rest[i + 1..];
        }
        self.partial.extend_from_slice(rest);
        Ok(())
    }

    /// The input ended (a last line without a newline is taken).
    pub fn end_input(&mut self) -> Result<(), RegistryError> {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.take_line(&line)?;
        }
        Ok(())
    }

    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Write the new registry file at `out`, starting from `base` (the current file, if any).
    ///
    /// - Full list: every area code present in the input is replaced by the input's numbers for
    ///   it (the registry publishes one file per area code); other area codes of `base` are kept,
    ///   unless `replace_all`, which drops them.
    /// - Change list: `(base - deletes) + adds`. A number both added and deleted in one input
    ///   stays on the list: the conservative reading when the order is unknown.
    pub fn build(
        mut self,
        base: Option<&Registry>,
        replace_all: bool,
        out: &Path,
    ) -> Result<ImportStats, RegistryError> {
        self.end_input()?;
        if self.flagged > 0 && self.unflagged > 0 {
            return Err(RegistryError::MixedInput);
        }
        let change_list = self.flagged > 0;
        self.adds.sort_unstable();
        self.adds.dedup();
        self.deletes.sort_unstable();
        self.deletes.dedup();
        let area_codes = self.area_codes;
        let base_len = base.map_or(0, Registry::len);
        let kept = (0..base_len)
            .map(|i| base.map_or(0, |b| b.get(i)))
            .filter(|&n| {
                if change_list {
                    self.deletes.binary_search(&n).is_err()
                } else {
                    !replace_all && !area_codes[(n / 10_000_000) as usize]
                }
            });
        let total = write_merged(out, kept, &self.adds)?;
        Ok(ImportStats {
            total,
            lines: self.lines,
            added: self.adds.len() as u64,
            deleted: self.deletes.len() as u64,
            change_list,
        })
    }
}

/// Merge the sorted `kept` iterator and the sorted `adds` into a new file at `out`, atomically.
fn write_merged(
    out: &Path,
    kept: impl Iterator<Item = u64>,
    adds: &[u64],
) -> Result<u64, RegistryError> {
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = dir {
        fs::create_dir_all(dir)?;
    }
    let mut tmp = PathBuf::from(out);
    let name = format!(
        ".{}.tmp-{}",
        out.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("registry"),
        std::process::id()
    );
    tmp.set_file_name(name);
    let result = (|| -> Result<u64, RegistryError> {
        let file = File::create(&tmp)?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        w.write_all(MAGIC)?;
        w.write_all(&0u64.to_le_bytes())?; // the count, patched below
        let mut count = 0u64;
        let mut last: Option<u64> = None;
        let mut push = |n: u64, w: &mut BufWriter<File>| -> io::Result<()> {
            if last != Some(n) {
                w.write_all(&n.to_le_bytes())?;
                count += 1;
                last = Some(n);
            }
            Ok(())
        };
        let mut kept = kept.peekable();
        let mut adds = adds.iter().copied().peekable();
        loop {
            let next = match (kept.peek(), adds.peek()) {
                (Some(&a), Some(&b)) if a <= b => kept.next(),
                (Some(_), Some(_)) => adds.next(),
                (Some(_), None) => kept.next(),
                (None, Some(_)) => adds.next(),
                (None, None) => break,
            };
            if let Some(n) = next {
                push(n, &mut w)?;
            }
        }
        let mut file = w.into_inner().map_err(|e| e.into_error())?;
        use std::io::{Seek, SeekFrom};
        file.seek(SeekFrom::Start(8))?;
        file.write_all(&count.to_le_bytes())?;
        file.sync_all()?;
        Ok(count)
    })();
    match result {
        Ok(count) => {
            fs::rename(&tmp, out)?;
            if let Some(dir) = dir {
                // make the rename durable; best effort (not every filesystem allows it)
                let _ = File::open(dir).and_then(|d| d.sync_all());
            }
            Ok(count)
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// A registry file, memory-mapped read-only.
pub struct Registry {
    map: Mmap,
    len: usize,
}

impl Registry {
    pub fn open(path: &Path) -> Result<Registry, RegistryError> {
        let file = File::open(path)?;
        // SAFETY: the file is only ever replaced by rename, never written in place, so the
        // mapping's contents cannot change under us while it is alive.
        let map = unsafe { Mmap::map(&file)? };
        if map.len() < HEADER_LEN || &map[..8] != MAGIC {
            return Err(RegistryError::BadFile("missing the L2IDNC01 header".into()));
        }
        let count = u64::from_le_bytes(map[8..16].try_into().expect("8 bytes"));
        let body = (map.len() - HEADER_LEN) as u64;
        if body % 8 != 0 || body / 8 != count {
            return Err(RegistryError::BadFile(format!(
                "header says {count} numbers, the file holds {}",
                body / 8
            )));
        }
        #[cfg(unix)]
        {
            let _ = map.advise(memmap2::Advice::Random);
        }
        Ok(Registry {
            map,
            len: count as usize,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `i`th number (`i < len`).
    pub fn get(&self, i: usize) -> u64 {
        let at = HEADER_LEN + i * 8;
        u64::from_le_bytes(self.map[at..at + 8].try_into().expect("8 bytes"))
    }

    /// Binary search: about 28 probes for the whole registry.
    pub fn contains(&self, number: u64) -> bool {
        let (mut lo, mut hi) = (0usize, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let v = self.get(mid);
            if v == number {
                return true;
            }
            if v < number {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        false
    }

    /// Look up a number given as E.164 (`+1` and 10 digits), 11 digits with a leading 1, or 10
    /// digits. Anything else is not a NANP number and so is on no US list: `false`.
    pub fn contains_str(&self, number: &str) -> bool {
        let b = number.as_bytes();
        let ten = match b {
            [b'+', b'1', rest @ ..] => rest,
            [b'1', rest @ ..] if rest.len() == 10 => rest,
            _ => b,
        };
        nanp(ten).is_some_and(|n| self.contains(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("l2i-reg-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn parses_both_layouts_and_flags() {
        assert_eq!(parse_line(b"5125550143"), Ok(Some((5_125_550_143, None))));
        assert_eq!(
            parse_line(b"512,5550143\r"),
            Ok(Some((5_125_550_143, None)))
        );
        assert_eq!(
            parse_line(b"512,5550143,D,2026-01-02"),
            Ok(Some((5_125_550_143, Some(Op::Delete))))
        );
        assert_eq!(
            parse_line(b"\"5125550143\",\"a\""),
            Ok(Some((5_125_550_143, Some(Op::Add))))
        );
        assert_eq!(parse_line(b"  "), Ok(None));
        assert!(parse_line(b"51255501").is_err());
        assert!(parse_line(b"0125550143").is_err());
        assert!(parse_line(b"512,555014x").is_err());
        assert!(parse_line(b"5125550143,2026-01-02").is_err());
    }

    #[test]
    fn full_then_change_list() {
        let dir = tmpdir("fc");
        let path = dir.join("org.dnc");
        let mut b = Builder::new();
        b.feed(b"5125550143\n512,55501").unwrap();
        b.feed(b"44\n2125550100\n5125550143").unwrap();
        let stats = b.build(None, false, &path).unwrap();
        assert_eq!(stats.total, 3);
        assert_eq!(stats.lines, 4);
        let reg = Registry::open(&path).unwrap();
        assert!(reg.contains_str("+15125550143"));
        assert!(reg.contains_str("5125550144"));
        assert!(reg.contains_str("12125550100"));
        assert!(!reg.contains_str("+15125550145"));
        assert!(!reg.contains_str("+445125550143"));

        let mut c = Builder::new();
        c.feed(b"512,5550143,D\n3035550100,A\n9995550100,D\n")
            .unwrap();
        let stats = c.build(Some(&reg), false, &path).unwrap();
        assert!(stats.change_list);
        assert_eq!((stats.total, stats.added, stats.deleted), (3, 1, 2));
        drop(reg);
        let reg = Registry::open(&path).unwrap();
        assert!(!reg.contains_str("+15125550143"));
        assert!(reg.contains_str("+13035550100"));
        assert!(reg.contains_str("+15125550144"));

        // a full list for area code 512 replaces 512 only
        let mut f = Builder::new();
        f.feed(b"5125550199\n").unwrap();
        let stats = f.build(Some(&reg), false, &path).unwrap();
        assert_eq!(stats.total, 3);
        drop(reg);
        let reg = Registry::open(&path).unwrap();
        assert!(!reg.contains_str("+15125550144"));
        assert!(reg.contains_str("+15125550199"));
        assert!(reg.contains_str("+12125550100"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rejects_mixed_input_and_bad_files() {
        let dir = tmpdir("bad");
        let mut b = Builder::new();
        b.feed(b"5125550143\n5125550144,D\n").unwrap();
        assert!(matches!(
            b.build(None, false, &dir.join("x")),
            Err(RegistryError::MixedInput)
        ));
        fs::write(dir.join("junk"), b"hello").unwrap();
        assert!(Registry::open(&dir.join("junk")).is_err());
        let mut b = Builder::new();
        let err = b.feed(b"5125550143\nnope\n").unwrap_err();
        assert!(err.to_string().starts_with("line 2:"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
