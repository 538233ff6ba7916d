//! Raw DEFLATE with a compressor kept per thread and per level.
//!
//! Setting a compressor up allocates and clears its window and hash tables (≈ 300 kB at the
//! default level), which costs more than compressing a household's few kilobytes or a sync
//! answer's tens. A server compresses once per stored document and once per answer, so each
//! thread keeps one compressor per level and resets it between streams.

use std::cell::RefCell;

use flate2::{Compress, CompressError, Compression, FlushCompress, Status};

/// The levels in use: one compressor per thread for each.
#[derive(Debug, Clone, Copy)]
pub enum Level {
    /// Stored documents: written on every merge, read back on the server only.
    Fast,
    /// Sync bodies: a 2G link pays for every byte.
    Default,
}

thread_local! {
    static FAST: RefCell<Compress> = RefCell::new(Compress::new(Compression::fast(), false));
    static DEFAULT: RefCell<Compress> = RefCell::new(Compress::new(Compression::default(), false));
}

/// Appends the raw DEFLATE stream of `input` to `out`. `Err` only if the compressor fails,
/// which it does not for a buffer in memory; `out` then holds a partial stream to discard.
pub fn deflate_into(level: Level, input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressError> {
    let key = match level {
        Level::Fast => &FAST,
        Level::Default => &DEFAULT,
    };
    key.with_borrow_mut(|c| {
        c.reset();
        loop {
            out.reserve(input.len() / 4 + 64);
            let offset = usize::try_from(c.total_in()).unwrap_or(input.len());
            if c.compress_vec(&input[offset..], out, FlushCompress::Finish)? == Status::StreamEnd {
                return Ok(());
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn streams_inflate_back_and_a_reused_compressor_starts_afresh() {
        let inputs: [Vec<u8>; 4] = [
            Vec::new(),
            b"household".repeat(3),
            (0..200_000u32)
                .flat_map(|i| (i % 251).to_le_bytes())
                .collect(),
            "核实家庭收入".repeat(1_000).into_bytes(),
        ];
        for level in [Level::Fast, Level::Default] {
            // Twice over: the second pass runs on compressors that already made a stream.
            for _ in 0..2 {
                for input in &inputs {
                    let mut out = b"prefix".to_vec();
                    deflate_into(level, input, &mut out).expect("deflate");
                    assert_eq!(&out[..6], b"prefix");
                    let mut back = Vec::new();
                    flate2::read::DeflateDecoder::new(&out[6..])
                        .read_to_end(&mut back)
                        .expect("inflate");
                    assert_eq!(&back, input);
                }
            }
        }
    }

    #[test]
    fn the_same_input_gives_the_same_bytes_as_a_fresh_encoder() {
        use std::io::Write;
        let input = b"zoufang sync body ".repeat(5_000);
        let mut fresh = flate2::write::DeflateEncoder::new(Vec::new(), Compression::default());
        fresh.write_all(&input).expect("write");
        let fresh = fresh.finish().expect("finish");
        let mut kept = Vec::new();
        deflate_into(Level::Default, b"something else first", &mut kept).expect("deflate");
        kept.clear();
        deflate_into(Level::Default, &input, &mut kept).expect("deflate");
        assert_eq!(kept, fresh);
    }
}
