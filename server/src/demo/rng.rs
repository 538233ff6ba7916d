//! The generator's random numbers.
//!
//! ChaCha8 from `rand_chacha` (already the server's generator for spot checks): a published
//! cipher whose stream for a given seed is the same on every platform and in every version of
//! the crate, so a seed names one county. ChaCha8 rather than ChaCha20 because the numbers
//! only have to look random, not be unpredictable. `rand_core` gives raw output only; the few
//! ways of drawing from it are the shared [`Draw`] (`below` takes the output modulo `n`: its
//! bias, at most n / 2^64, is of no consequence for synthetic data) and the few the generator
//! alone needs, here. Not the shared SplitMix64: a seed already names a county.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng as _, SeedableRng};
pub(super) use zoufang_shared::rng::Draw;

pub(super) struct Rng(ChaCha8Rng);

impl Draw for Rng {
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
}

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// Uniform in `lo..=hi`.
    pub(super) fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// An index drawn with the given weights.
    pub(super) fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }

    /// 16 random bytes shaped as a version-4 UUID, in the simple form the ids use.
    pub(super) fn uuid(&mut self) -> String {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_be_bytes());
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .simple()
            .to_string()
    }
}
