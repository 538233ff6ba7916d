//! The bounded inflater of sync bodies (`zoufang_shared::wire::inflate_limited`). Input: two
//! bytes of limit (little-endian, in units of 16 bytes, so up to 1 MiB), then a DEFLATE stream.
//! What must hold: the inflater never returns more than the limit; what it returns is exactly
//! the stream's output; it says `TooLarge` only when the stream really inflates past the limit,
//! and `Compression` only for a stream that is not valid DEFLATE within the limit.

use std::io::Read;

use zoufang_shared::wire::{WireError, inflate_limited};

/// Inflates `stream` independently, in small steps, stopping after `cap` bytes.
fn reference(stream: &[u8], cap: u64) -> Result<Vec<u8>, ()> {
    let mut out = Vec::new();
    let mut decoder = flate2::read::DeflateDecoder::new(stream);
    let mut buf = [0u8; 97];
    while (out.len() as u64) <= cap {
        match decoder.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => return Err(()),
        }
    }
    Ok(out)
}

/// The limit and stream of an input.
pub fn split(data: &[u8]) -> (u64, &[u8]) {
    match data {
        [a, b, rest @ ..] => (u64::from(u16::from_le_bytes([*a, *b])) * 16, rest),
        _ => (0, data),
    }
}

pub fn run(data: &[u8]) {
    let (limit, stream) = split(data);
    let expected = reference(stream, limit);
    match inflate_limited(stream, limit) {
        Ok(out) => {
            assert!(out.len() as u64 <= limit, "{} over {limit}", out.len());
            assert_eq!(Ok(out), expected, "differs from a stepwise inflate");
        }
        Err(WireError::TooLarge(l)) => {
            assert_eq!(l, limit);
            let got = expected.expect("a stream refused as too large inflates that far");
            assert!(got.len() as u64 > limit);
        }
        Err(WireError::Compression) => {
            // Invalid before the limit was reached (past it, the stream's tail is not read).
            assert!(expected.is_err(), "valid DEFLATE refused as corrupt");
        }
        Err(e) => panic!("unexpected error {e}"),
    }
}
