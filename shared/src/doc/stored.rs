//! The stored form of a household document: automerge's saved bytes without its own per-column
//! DEFLATE, compressed once as a whole.
//!
//! automerge 0.12 deflates every column over 256 bytes with a compressor it sets up afresh, and
//! setting one up (allocating and clearing its window and hash tables) costs more than
//! compressing a household's few kilobytes: on a typical household after 50 edits
//! (`shared/examples/doc_size.rs`), `save` took 66–92 µs, the same save without DEFLATE 11 µs,
//! and one DEFLATE of the whole at level 1 with a compressor kept per thread 12–23 µs more, for
//! 2.1 kB against automerge's 1.9 kB. A server saves a document on every merge, so that is
//! about a twentieth of a merge's CPU. Loading is no slower (inflating is a small part of it).
//!
//! ```text
//! stored = "ZFD" 0x01 | u32 LE length of the saved bytes | raw DEFLATE of the saved bytes
//! ```
//!
//! Bytes that begin otherwise are automerge's own (documents stored before this form, or any
//! automerge save) and are loaded as they are; automerge's chunks begin with 85 6f 4a 83, so the
//! two never mistake each other.

use std::borrow::Cow;
use std::cell::RefCell;

use automerge::{AutoCommit, SaveOptions};
use flate2::{Decompress, FlushDecompress, Status};

use super::DocError;
use crate::deflate::{Level, deflate_into};

const MAGIC: [u8; 4] = *b"ZFD\x01";
const HEADER: usize = MAGIC.len() + 4;
/// A stored document never inflates past this (a household with decades of visits is a few
/// hundred kilobytes): a corrupt or forged length cannot make a reader allocate gigabytes.
const MAX_SAVED_BYTES: usize = 64 << 20;

thread_local! {
    // Kept per thread, reset between documents, as the compressors of `crate::deflate` are.
    static DECOMPRESSOR: RefCell<Decompress> = RefCell::new(Decompress::new(false));
}

/// The document's stored form.
pub(crate) fn save(doc: &mut AutoCommit) -> Vec<u8> {
    let saved = doc.save_with_options(SaveOptions {
        deflate: false,
        retain_orphans: true,
    });
    let Ok(len) = u32::try_from(saved.len()) else {
        // Past 4 GiB (never a household): automerge's own form, which loads as it is.
        return doc.save();
    };
    let mut out = Vec::with_capacity(HEADER + saved.len() / 2 + 64);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&len.to_le_bytes());
    match deflate_into(Level::Fast, &saved, &mut out) {
        Ok(()) => out,
        // Compressing a buffer in memory does not fail; should it, the uncompressed save is
        // still a document automerge loads.
        Err(_) => saved,
    }
}

/// The bytes automerge loads: inflated when `stored` is in this module's form.
// Not `wire::inflate_limited`: that one grows its buffer with what comes out and takes a stream
// followed by more bytes; a stored document states its length, so the buffer is sized once and
// a stream that ends anywhere else, or leaves bytes after it, is refused as corrupt.
pub(crate) fn saved_bytes(stored: &[u8]) -> Result<Cow<'_, [u8]>, DocError> {
    let Some(rest) = stored.strip_prefix(&MAGIC) else {
        return Ok(Cow::Borrowed(stored));
    };
    let corrupt = || DocError::Layout("文档压缩数据损坏".into());
    let (len, deflated) = rest.split_first_chunk::<4>().ok_or_else(corrupt)?;
    let len = usize::try_from(u32::from_le_bytes(*len)).map_err(|_| corrupt())?;
    if len > MAX_SAVED_BYTES {
        return Err(corrupt());
    }
    let mut out = Vec::with_capacity(len);
    DECOMPRESSOR.with_borrow_mut(|d| {
        d.reset(false);
        // The output is sized to the stated length: a stream that would write more stops there
        // and is refused below, as is one that ends short of it.
        match d.decompress_vec(deflated, &mut out, FlushDecompress::Finish) {
            Ok(Status::StreamEnd) if out.len() == len && d.total_in() == deflated.len() as u64 => {
                Ok(())
            }
            _ => Err(corrupt()),
        }
    })?;
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::ReadDoc;
    use automerge::transaction::Transactable;

    fn doc_with(n: usize) -> AutoCommit {
        let mut doc = AutoCommit::new();
        for i in 0..n {
            doc.put(
                automerge::ROOT,
                format!("field{i}"),
                format!("value {i} 核实家庭收入"),
            )
            .expect("put");
        }
        doc
    }

    #[test]
    fn a_stored_document_loads_as_automerge_saved_it() {
        for n in [0, 1, 50, 5_000] {
            let mut doc = doc_with(n);
            let stored = save(&mut doc);
            assert_eq!(&stored[..4], b"ZFD\x01");
            let mut loaded =
                AutoCommit::load(&saved_bytes(&stored).expect("inflate")).expect("load");
            assert_eq!(loaded.get_heads(), doc.get_heads());
            assert_eq!(loaded.length(automerge::ROOT), n);
        }
    }

    #[test]
    fn automerges_own_bytes_pass_through() {
        let mut doc = doc_with(20);
        let plain = doc.save();
        assert!(matches!(saved_bytes(&plain), Ok(Cow::Borrowed(b)) if b == plain.as_slice()));
    }

    #[test]
    fn corrupt_stored_bytes_are_refused_not_trusted() {
        let mut doc = doc_with(200);
        let stored = save(&mut doc);
        // Cut anywhere: the stream ends short of the stated length, or the header is incomplete.
        for cut in [4, 7, 8, stored.len() / 2, stored.len() - 1] {
            assert!(saved_bytes(&stored[..cut]).is_err(), "cut at {cut}");
        }
        // A stated length that is not the stream's, smaller or larger.
        for len in [1u32, u32::MAX] {
            let mut forged = stored.clone();
            forged[4..8].copy_from_slice(&len.to_le_bytes());
            assert!(saved_bytes(&forged).is_err(), "length {len}");
        }
        // Bytes after the stream's end.
        let mut longer = stored.clone();
        longer.push(0);
        assert!(saved_bytes(&longer).is_err());
    }
}
