//! The packed wire form of a sequence of changes: what the body's compression cannot remove.
//!
//! An Automerge change chunk is `magic(4) checksum(4) type(1) len(uleb) data`, and `data` opens
//! with the change's dependencies as 32-byte SHA-256 hashes. Hashes are random bytes, so DEFLATE
//! keeps every one; yet most of them name a change sent just before in the same body (a visit
//! saved, then the form saved: the second change depends on the first), and the checksum is the
//! first 4 bytes of the chunk's hash, which the receiver computes anyway. A packed entry drops
//! the magic, checksum and length and refers to such a dependency by its distance back in the
//! sequence; the receiver rebuilds the chunk byte for byte (its hash is the change's identity,
//! so nothing else would do), and automerge then verifies it as it would any chunk. On the W1
//! evening sync this is ≈ 40 bytes a household of ≈ 160.
//!
//! This is a byte-level transform of automerge's documented chunk layout, not a re-encoding of
//! changes: automerge 0.12 has no API to build a chunk from parts, and its own compact form (the
//! saved document) needs the whole history on both sides. Anything the packer does not
//! recognise travels in full, so the receiver's view of a chunk is never a guess.
//!
//! ```text
//! packed entry = 0x01, uleb(deps), per dependency: uleb(0) + 32-byte hash | uleb(k ≥ 1) = the
//!                hash of the entry k places earlier, then the rest of the chunk's data
//! full entry   = the chunk as automerge writes it (begins with the magic bytes 85 6f 4a 83)
//! ```

use sha2::{Digest, Sha256};

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// The chunk type of an uncompressed change (compressed ones travel in full).
const CHANGE_CHUNK: u8 = 1;
const PACKED_TAG: u8 = 1;
/// More dependencies than this travel in full: bounds what one packed entry can expand to.
const MAX_PACKED_DEPS: u64 = 64;

/// Why a sequence could not be unpacked as a whole.
#[derive(Debug, thiserror::Error)]
#[error("变更数据解包后超过 {limit} 字节上限")]
pub struct UnpackTooLarge {
    pub limit: u64,
}

/// Packs changes (full chunks, each dependency before what depends on it) for the wire.
pub fn pack_changes<'a>(changes: impl IntoIterator<Item = &'a [u8]>) -> Vec<Vec<u8>> {
    let mut seen: Vec<[u8; 32]> = Vec::new();
    let mut out = Vec::new();
    for chunk in changes {
        let packed = Chunk::parse(chunk).and_then(|c| {
            let entry = c.pack(&seen);
            seen.push(c.hash());
            entry
        });
        out.push(packed.unwrap_or_else(|| chunk.to_vec()));
    }
    out
}

/// Rebuilds the full chunks of a packed sequence. An entry that is neither packed nor a change
/// chunk passes through untouched, for the change decoder to refuse with its own error; only
/// the total size can fail the whole sequence (against entries that expand many times over).
pub fn unpack_changes(entries: Vec<Vec<u8>>, limit: u64) -> Result<Vec<Vec<u8>>, UnpackTooLarge> {
    // `None` for an entry whose hash is unknown: a reference to it cannot be resolved.
    let mut hashes: Vec<Option<[u8; 32]>> = Vec::with_capacity(entries.len());
    let mut total = 0u64;
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        // A rebuilt chunk's hash comes with it; only a full entry is hashed here.
        let (full, hash) = match entry.first() {
            Some(&PACKED_TAG) => match unpack_one(&entry[1..], &hashes) {
                Some((chunk, hash)) => (chunk, Some(hash)),
                None => (entry, None),
            },
            _ => {
                let hash = Chunk::parse(&entry).map(|c| c.hash());
                (entry, hash)
            }
        };
        hashes.push(hash);
        total += full.len() as u64;
        if total > limit {
            return Err(UnpackTooLarge { limit });
        }
        out.push(full);
    }
    Ok(out)
}

fn unpack_one(mut rest: &[u8], earlier: &[Option<[u8; 32]>]) -> Option<(Vec<u8>, [u8; 32])> {
    let count = read_uleb(&mut rest)?;
    if count > MAX_PACKED_DEPS {
        return None;
    }
    let mut data = Vec::with_capacity(rest.len() + 32 * count as usize + 2);
    write_uleb(&mut data, count);
    for _ in 0..count {
        match read_uleb(&mut rest)? {
            0 => {
                let (hash, tail) = rest.split_at_checked(32)?;
                data.extend_from_slice(hash);
                rest = tail;
            }
            back => {
                let at = earlier.len().checked_sub(usize::try_from(back).ok()?)?;
                data.extend_from_slice(earlier[at].as_ref()?);
            }
        }
    }
    data.extend_from_slice(rest);
    let hash = chunk_hash(&data);
    let mut chunk = Vec::with_capacity(data.len() + 14);
    chunk.extend_from_slice(&MAGIC);
    chunk.extend_from_slice(&hash[..4]);
    chunk.push(CHANGE_CHUNK);
    write_uleb(&mut chunk, data.len() as u64);
    chunk.extend_from_slice(&data);
    Some((chunk, hash))
}

/// An uncompressed change chunk whose header is as automerge writes it.
struct Chunk<'a> {
    data: &'a [u8],
    hash: [u8; 32],
}

impl<'a> Chunk<'a> {
    fn parse(bytes: &'a [u8]) -> Option<Chunk<'a>> {
        let rest = bytes.strip_prefix(&MAGIC)?;
        let (checksum, rest) = rest.split_at_checked(4)?;
        let (&kind, mut rest) = rest.split_first()?;
        let len = read_uleb(&mut rest)?;
        if kind != CHANGE_CHUNK || len != rest.len() as u64 {
            return None;
        }
        let hash = chunk_hash(rest);
        // A chunk with another length encoding or a wrong checksum would not come back the same.
        let header_len = bytes.len() - rest.len();
        if checksum != &hash[..4] || header_len != 9 + uleb_len(len) {
            return None;
        }
        Some(Chunk { data: rest, hash })
    }

    fn hash(&self) -> [u8; 32] {
        self.hash
    }

    fn pack(&self, earlier: &[[u8; 32]]) -> Option<Vec<u8>> {
        let mut rest = self.data;
        let count = read_uleb(&mut rest)?;
        if count > MAX_PACKED_DEPS || uleb_len(count) != self.data.len() - rest.len() {
            return None;
        }
        let mut out = Vec::with_capacity(self.data.len());
        out.push(PACKED_TAG);
        write_uleb(&mut out, count);
        for _ in 0..count {
            let (dep, tail) = rest.split_at_checked(32)?;
            rest = tail;
            match earlier.iter().rposition(|h| h == dep) {
                Some(at) => write_uleb(&mut out, (earlier.len() - at) as u64),
                None => {
                    out.push(0);
                    out.extend_from_slice(dep);
                }
            }
        }
        out.extend_from_slice(rest);
        Some(out)
    }
}

/// automerge's chunk hash: SHA-256 over the chunk type, the data's length and the data.
fn chunk_hash(data: &[u8]) -> [u8; 32] {
    let mut header = vec![CHANGE_CHUNK];
    write_uleb(&mut header, data.len() as u64);
    let mut hasher = Sha256::new();
    hasher.update(&header);
    hasher.update(data);
    hasher.finalize().into()
}

fn read_uleb(input: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, &byte) in input.iter().enumerate().take(10) {
        let bits = u64::from(byte & 0x7f);
        value |= bits.checked_shl(7 * i as u32)?;
        if byte & 0x80 == 0 {
            // Only the minimal encoding: anything else would not be rebuilt byte for byte.
            if i > 0 && byte == 0 {
                return None;
            }
            *input = &input[i + 1..];
            return Some(value);
        }
    }
    None
}

fn write_uleb(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn uleb_len(value: u64) -> usize {
    (64 - value.leading_zeros() as usize).max(1).div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::IncomingChange;
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    /// Three changes in a chain on one document, then one on a fork.
    fn changes() -> Vec<Vec<u8>> {
        let mut doc = AutoCommit::new();
        for i in 0..3 {
            doc.put(ROOT, "n", i).expect("put");
            doc.commit();
        }
        let mut fork = doc.fork();
        fork.put(ROOT, "m", "分支").expect("put");
        fork.commit();
        doc.merge(&mut fork).expect("merge");
        doc.get_changes(&[])
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect()
    }

    #[test]
    fn round_trips_byte_for_byte_and_is_smaller() {
        let full = changes();
        let packed = pack_changes(full.iter().map(Vec::as_slice));
        assert!(packed.iter().all(|e| e[0] == PACKED_TAG));
        let saved: usize =
            full.iter().map(Vec::len).sum::<usize>() - packed.iter().map(Vec::len).sum::<usize>();
        // Per change the header (magic, checksum, type, length) less the tag, per dependency on
        // an earlier change 31 bytes.
        assert!(saved >= 4 * 9 + 3 * 31, "saved {saved}");
        let back = unpack_changes(packed, u64::MAX).expect("unpack");
        assert_eq!(back, full);
        for chunk in &back {
            IncomingChange::decode(chunk).expect("a rebuilt chunk decodes");
        }
    }

    #[test]
    fn full_and_unknown_entries_pass_through() {
        let full = changes();
        let mut entries = vec![b"garbage".to_vec(), vec![PACKED_TAG, 5, 0]];
        entries.extend(full.iter().cloned());
        let back = unpack_changes(entries.clone(), u64::MAX).expect("unpack");
        assert_eq!(back, entries);
    }

    #[test]
    fn unresolvable_references_are_left_for_the_decoder() {
        let full = changes();
        let mut packed = pack_changes(full.iter().map(Vec::as_slice));
        // The first change loses its bytes: what refers back to it cannot be rebuilt.
        packed[0] = b"lost".to_vec();
        let back = unpack_changes(packed.clone(), u64::MAX).expect("unpack");
        assert_eq!(back[1], packed[1]);
        assert!(IncomingChange::decode(&back[1]).is_err());
    }

    #[test]
    fn a_tampered_entry_fails_the_checksum_of_automerge() {
        let full = changes();
        let mut packed = pack_changes(full.iter().map(Vec::as_slice));
        let last = packed[1].len() - 1;
        packed[1][last] ^= 0x40;
        let back = unpack_changes(packed, u64::MAX).expect("unpack");
        // Rebuilt with a fresh checksum, so the tamper shows as a different change, never as
        // the original one: its hash differs.
        assert_ne!(back[1], full[1]);
    }

    #[test]
    fn expansion_is_bounded() {
        let full = changes();
        let packed = pack_changes(full.iter().map(Vec::as_slice));
        let size: u64 = full.iter().map(|c| c.len() as u64).sum();
        assert!(unpack_changes(packed.clone(), size).is_ok());
        assert!(unpack_changes(packed, size - 1).is_err());
    }

    #[test]
    fn uleb_matches_automerge() {
        for v in [0u64, 1, 127, 128, 300, 16_383, 16_384, u64::MAX] {
            let mut out = Vec::new();
            write_uleb(&mut out, v);
            assert_eq!(out.len(), uleb_len(v));
            let mut slice = out.as_slice();
            assert_eq!(read_uleb(&mut slice), Some(v));
            assert!(slice.is_empty());
        }
        // Non-minimal encodings are refused.
        assert_eq!(read_uleb(&mut [0x80, 0x00].as_slice()), None);
    }
}
