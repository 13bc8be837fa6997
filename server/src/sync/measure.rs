//! What a sync message would add to a document, measured before automerge sees it.
//!
//! A sync message carries chunks in automerge's binary format: changes, deflate-compressed
//! changes and whole documents (whose columns may be compressed one by one). Both ways of making
//! something large out of little are cheap for a sender: deflate expands about 1000:1, and a
//! run-length encoded column states "this operation, a million times" in a few bytes. Handing
//! such a chunk to automerge grows the document first and asks afterwards, so a 261 KB message
//! once became a 256 MiB story on the server.
//!
//! [`measure`] reads the chunks' headers and walks the one column that counts operations (the
//! action column) run by run, without expanding anything: the work is proportional to the bytes
//! received, never to what they claim. Compressed parts are inflated only up to the byte cap.
//! The result is the chunks' uncompressed size, their operations and their changes; the hub
//! compares those with its limits per message and per document before applying anything.
//!
//! This is a measure, not a validation: automerge still parses and checks everything that gets
//! through. A chunk this module cannot read is refused as invalid, which automerge would do too.

use std::borrow::Cow;
use std::io::Read;

/// The binary format's magic bytes, which start every chunk.
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT: u8 = 0;
const CHANGE: u8 = 1;
const COMPRESSED_CHANGE: u8 = 2;
/// A column whose data is deflate-compressed (document chunks only).
const DEFLATE_BIT: u32 = 0b1000;
/// The action column (id 4, unsigned integers): one entry per operation.
const ACTION_COLUMN: u32 = (4 << 4) | 2;
/// A document's change-metadata actor column (id 0, actor indices): one entry per change.
const CHANGE_ACTOR_COLUMN: u32 = 1;

/// What chunks add, uncompressed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    pub bytes: u64,
    pub ops: u64,
    pub changes: u64,
}

impl Cost {
    fn add(&mut self, other: Cost) {
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.ops = self.ops.saturating_add(other.ops);
        self.changes = self.changes.saturating_add(other.changes);
    }
}

/// The most a measured message may hold; measuring stops as soon as one is passed.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub bytes: u64,
    pub ops: u64,
    pub changes: u64,
}

impl Caps {
    pub const NONE: Caps = Caps {
        bytes: u64::MAX,
        ops: u64::MAX,
        changes: u64::MAX,
    };
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MeasureError {
    #[error("more than {cap} {what}")]
    Exceeds { what: &'static str, cap: u64 },
    #[error("not an automerge chunk: {0}")]
    Invalid(&'static str),
}

/// Measure every chunk of a sync message (each element may hold several chunks back to back).
pub fn measure<B: AsRef<[u8]>>(chunks: &[B], caps: Caps) -> Result<Cost, MeasureError> {
    let mut total = Cost::default();
    for data in chunks {
        let mut rest = data.as_ref();
        while !rest.is_empty() {
            let (cost, after) = chunk(rest, caps, total)?;
            total.add(cost);
            over(total, caps)?;
            rest = after;
        }
    }
    Ok(total)
}

fn over(cost: Cost, caps: Caps) -> Result<(), MeasureError> {
    if cost.bytes > caps.bytes {
        return Err(MeasureError::Exceeds {
            what: "bytes",
            cap: caps.bytes,
        });
    }
    if cost.ops > caps.ops {
        return Err(MeasureError::Exceeds {
            what: "operations",
            cap: caps.ops,
        });
    }
    if cost.changes > caps.changes {
        return Err(MeasureError::Exceeds {
            what: "changes",
            cap: caps.changes,
        });
    }
    Ok(())
}

/// One chunk: its cost and the bytes after it. `so_far` is what earlier chunks cost, so that an
/// inflation stops at what is left of the byte cap.
fn chunk(input: &[u8], caps: Caps, so_far: Cost) -> Result<(Cost, &[u8]), MeasureError> {
    let mut r = Reader(input);
    if r.take(4)? != MAGIC {
        return Err(MeasureError::Invalid("bad magic bytes"));
    }
    r.take(4)?; // checksum: automerge checks it
    let kind = r.take(1)?[0];
    let len = r.uleb()?;
    let body = r.take(usize::try_from(len).map_err(|_| MeasureError::Invalid("chunk length"))?)?;
    let room = caps.bytes.saturating_sub(so_far.bytes);
    let cost = match kind {
        CHANGE => change(body)?,
        COMPRESSED_CHANGE => change(&inflate(body, room)?)?,
        DOCUMENT => document(body, room)?,
        _ => return Err(MeasureError::Invalid("unsupported chunk type")),
    };
    Ok((cost, r.0))
}

/// A change's body: deps, actor, seq, start op, time, message, other actors, then its columns.
fn change(body: &[u8]) -> Result<Cost, MeasureError> {
    let mut r = Reader(body);
    let deps = r.uleb()?;
    r.take(usize::try_from(deps.saturating_mul(32)).map_err(|_| MeasureError::Invalid("deps"))?)?;
    r.prefixed()?; // actor
    r.uleb()?; // seq
    r.uleb()?; // start op
    r.sleb()?; // time
    r.prefixed()?; // message
    for _ in 0..r.uleb()? {
        r.prefixed()?; // other actors
    }
    let columns = r.columns()?;
    let mut ops = 0;
    for (spec, data) in columns.split(&mut r)? {
        if spec & DEFLATE_BIT != 0 {
            return Err(MeasureError::Invalid("compressed column in a change"));
        }
        if spec == ACTION_COLUMN {
            ops = rle_len(data)?;
        }
    }
    Ok(Cost {
        bytes: body.len() as u64,
        ops,
        changes: 1,
    })
}

/// A document's body: actors, heads, change columns, op columns (each column possibly
/// compressed), head indices.
fn document(body: &[u8], room: u64) -> Result<Cost, MeasureError> {
    let mut r = Reader(body);
    for _ in 0..r.uleb()? {
        r.prefixed()?; // actors
    }
    let heads = r.uleb()?;
    r.take(usize::try_from(heads.saturating_mul(32)).map_err(|_| MeasureError::Invalid("heads"))?)?;
    let change_columns = r.columns()?;
    let op_columns = r.columns()?;
    let mut cost = Cost {
        bytes: body.len() as u64,
        ..Cost::default()
    };
    // A compressed column counts with its inflated size, inflated no further than the cap.
    fn plain<'d>(
        spec: u32,
        data: &'d [u8],
        room: u64,
        bytes: &mut u64,
    ) -> Result<Cow<'d, [u8]>, MeasureError> {
        if spec & DEFLATE_BIT == 0 {
            return Ok(Cow::Borrowed(data));
        }
        let inflated = inflate(data, room.saturating_sub(*bytes))?;
        *bytes = bytes.saturating_sub(data.len() as u64) + inflated.len() as u64;
        Ok(Cow::Owned(inflated))
    }
    for (spec, data) in change_columns.split(&mut r)? {
        if spec & !DEFLATE_BIT == CHANGE_ACTOR_COLUMN {
            cost.changes = rle_len(&plain(spec, data, room, &mut cost.bytes)?)?;
        } else if spec & DEFLATE_BIT != 0 {
            plain(spec, data, room, &mut cost.bytes)?;
        }
    }
    for (spec, data) in op_columns.split(&mut r)? {
        if spec & !DEFLATE_BIT == ACTION_COLUMN {
            cost.ops = rle_len(&plain(spec, data, room, &mut cost.bytes)?)?;
        } else if spec & DEFLATE_BIT != 0 {
            plain(spec, data, room, &mut cost.bytes)?;
        }
    }
    Ok(cost)
}

/// Inflate at most `cap` bytes; more is an error, so memory never exceeds the cap.
fn inflate(data: &[u8], cap: u64) -> Result<Vec<u8>, MeasureError> {
    let mut out = Vec::new();
    let mut decoder = flate2::read::DeflateDecoder::new(data).take(cap.saturating_add(1));
    decoder
        .read_to_end(&mut out)
        .map_err(|_| MeasureError::Invalid("bad deflate data"))?;
    if out.len() as u64 > cap {
        return Err(MeasureError::Exceeds { what: "bytes", cap });
    }
    Ok(out)
}

/// The number of entries in a run-length encoded column, read run by run: a positive count is
/// one value repeated, a negative count that many literal values, zero a run of nulls.
fn rle_len(data: &[u8]) -> Result<u64, MeasureError> {
    let mut r = Reader(data);
    let mut n: u64 = 0;
    while !r.0.is_empty() {
        let count = r.sleb()?;
        match count {
            c if c > 0 => {
                r.uleb()?;
                n = n.saturating_add(c as u64);
            }
            c if c < 0 => {
                let literals = c.unsigned_abs();
                for _ in 0..literals {
                    r.uleb()?;
                }
                n = n.saturating_add(literals);
            }
            _ => n = n.saturating_add(r.uleb()?),
        }
    }
    Ok(n)
}

/// Column specifications and lengths, in the order their data follows.
struct Columns(Vec<(u32, u64)>);

impl Columns {
    /// Take each column's data from `r`.
    fn split<'a>(&self, r: &mut Reader<'a>) -> Result<Vec<(u32, &'a [u8])>, MeasureError> {
        self.0
            .iter()
            .map(|(spec, len)| {
                let len =
                    usize::try_from(*len).map_err(|_| MeasureError::Invalid("column length"))?;
                Ok((*spec, r.take(len)?))
            })
            .collect()
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MeasureError> {
        if n > self.0.len() {
            return Err(MeasureError::Invalid("truncated"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn uleb(&mut self) -> Result<u64, MeasureError> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(MeasureError::Invalid("number too long"))
    }

    fn sleb(&mut self) -> Result<i64, MeasureError> {
        let mut value: i64 = 0;
        let mut shift = 0;
        loop {
            let byte = self.take(1)?[0];
            if shift >= 64 {
                return Err(MeasureError::Invalid("number too long"));
            }
            value |= i64::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                if shift < 64 && byte & 0x40 != 0 {
                    value |= -1i64 << shift;
                }
                return Ok(value);
            }
        }
    }

    fn prefixed(&mut self) -> Result<&'a [u8], MeasureError> {
        let len = self.uleb()?;
        self.take(usize::try_from(len).map_err(|_| MeasureError::Invalid("length"))?)
    }

    fn columns(&mut self) -> Result<Columns, MeasureError> {
        let n = self.uleb()?;
        // Each column takes at least two bytes to describe: a count beyond that is a lie.
        if n > self.0.len() as u64 {
            return Err(MeasureError::Invalid("column count"));
        }
        let mut columns = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let spec = u32::try_from(self.uleb()?).map_err(|_| MeasureError::Invalid("column"))?;
            columns.push((spec, self.uleb()?));
        }
        Ok(Columns(columns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ObjType, ROOT, ReadDoc};

    fn uleb(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn sleb(mut v: i64, out: &mut Vec<u8>) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            let done = (v == 0 && byte & 0x40 == 0) || (v == -1 && byte & 0x40 != 0);
            out.push(if done { byte } else { byte | 0x80 });
            if done {
                return;
            }
        }
    }

    /// A change chunk written by hand whose action column says "one operation, `n` times".
    fn rle_bomb(n: i64) -> Vec<u8> {
        let mut column = Vec::new();
        sleb(n, &mut column);
        uleb(1, &mut column);
        let mut body = vec![0]; // no deps
        body.extend([1, 0xab]); // actor
        body.extend([1, 1, 0, 0, 0]); // seq, start op, time, message, other actors
        uleb(1, &mut body);
        uleb(u64::from(ACTION_COLUMN), &mut body);
        uleb(column.len() as u64, &mut body);
        body.extend(column);
        let mut chunk = MAGIC.to_vec();
        chunk.extend([0; 4]);
        chunk.push(CHANGE);
        uleb(body.len() as u64, &mut chunk);
        chunk.extend(body);
        chunk
    }

    fn story(text: &str) -> AutoCommit {
        let mut doc = AutoCommit::new();
        let body = doc.put_object(ROOT, "body", ObjType::Text).expect("text");
        doc.splice_text(&body, 0, 0, text).expect("splice");
        doc.put(ROOT, "title", "Een verhaal").expect("put");
        doc
    }

    #[test]
    fn changes_and_documents_count_what_automerge_holds() {
        let mut doc = story("Ze vertelde over de eerste weken met de baby.");
        doc.commit();
        doc.put(ROOT, "title", "Anders").expect("put");
        doc.commit();
        let ops = doc.document().stats().num_ops;
        let changes: Vec<Vec<u8>> = doc
            .get_changes(&[])
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        let cost = measure(&changes, Caps::NONE).expect("changes");
        assert_eq!((cost.ops, cost.changes), (ops, 2));

        let saved = doc.save();
        let cost = measure(std::slice::from_ref(&saved), Caps::NONE).expect("document");
        assert_eq!((cost.ops, cost.changes), (ops, 2));
        assert!(cost.bytes >= saved.len() as u64 - 20);
    }

    #[test]
    fn deflate_bombs_stop_at_the_byte_cap() {
        // 8 MiB of one letter compresses to a few kilobytes.
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "title", "a".repeat(8 << 20)).expect("put");
        let mut change = doc.get_last_local_change().expect("change").clone();
        let compressed = change.bytes().to_vec();
        assert!(compressed.len() < 64 * 1024, "{}", compressed.len());
        let caps = Caps {
            bytes: 1 << 20,
            ..Caps::NONE
        };
        assert_eq!(
            measure(std::slice::from_ref(&compressed), caps),
            Err(MeasureError::Exceeds {
                what: "bytes",
                cap: 1 << 20
            })
        );
        let cost = measure(&[compressed], Caps::NONE).expect("uncapped");
        assert!(cost.bytes > 8 << 20);
        // The same, whole document (its value column compressed on its own).
        let caps = Caps {
            bytes: 1 << 20,
            ..Caps::NONE
        };
        assert!(matches!(
            measure(&[doc.save()], caps),
            Err(MeasureError::Exceeds { what: "bytes", .. })
        ));
    }

    #[test]
    fn run_length_bombs_are_counted_without_expanding() {
        let bomb = rle_bomb(4_000_000_000);
        assert!(bomb.len() < 40);
        let caps = Caps {
            ops: 100_000,
            ..Caps::NONE
        };
        assert_eq!(
            measure(&[bomb], caps),
            Err(MeasureError::Exceeds {
                what: "operations",
                cap: 100_000
            })
        );
        // Many characters typed at once: counted one operation each.
        let doc = story(&"x".repeat(300_000));
        let cost = measure(&[doc.clone().save()], Caps::NONE).expect("document");
        assert!(cost.ops > 300_000, "{}", cost.ops);
    }

    #[test]
    fn what_is_not_a_chunk_is_invalid() {
        assert!(matches!(
            measure(&[b"hello".to_vec()], Caps::NONE),
            Err(MeasureError::Invalid(_))
        ));
        let mut truncated = rle_bomb(5);
        truncated.pop();
        assert!(matches!(
            measure(&[truncated], Caps::NONE),
            Err(MeasureError::Invalid(_))
        ));
        assert_eq!(measure::<Vec<u8>>(&[], Caps::NONE), Ok(Cost::default()));
    }
}
