//! Seeded random numbers for synthetic data, benchmarks and randomized tests: [`SplitMix64`],
//! and the ways of drawing from a generator ([`Draw`]) that those callers share.
//!
//! # Why hand-written
//!
//! A seed must name one roster, one bench run or one failing test case for good: the sequence
//! may never change under us. SplitMix64 (Steele, Lea and Flood, 2014) is a few lines whose
//! output is fixed by its definition, pinned below by the reference values of Vigna's
//! `splitmix64.c`. `rand`'s `StdRng` and sampling helpers are documented as free to change
//! between releases, and `rand_chacha` (which the server has for spot checks) would add a
//! dependency to the client and the shared crate for no gain: none of these callers needs
//! numbers that cannot be predicted.
//!
//! It is not for anything that must be unpredictable. The spot-check draw keeps its ChaCha20
//! and its own rejection-sampled draws (`zoufang_server::spot_check`, a published algorithm
//! whose lists must re-draw identically), and the demo county its ChaCha8 (with [`Draw`] over
//! it), because lists already drawn and demo counties already shown must stay the same.
//!
//! `below` takes the output modulo `n`: its bias, at most n / 2^64, is of no consequence here.

/// SplitMix64: a tiny, seedable generator whose sequence never changes.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub const fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }
}

impl Draw for SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Drawing from a generator of `u64`s. Every method is a fixed function of the raw output, so
/// a seed gives the same draws with any version of this crate.
pub trait Draw {
    /// The generator's next raw output.
    fn next_u64(&mut self) -> u64;

    /// Uniform in `0..n` (`0` when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// An index into a slice of `len` items (`0` when `len` is 0).
    fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// True `percent` times in a hundred.
    fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One of `items` (not empty), each as likely as the others.
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// One of `items` (not empty), each as likely as its whole-number weight says.
    fn pick_weighted<'a, T>(&mut self, items: &'a [(T, u32)]) -> &'a T {
        let total: u32 = items.iter().map(|(_, w)| w).sum();
        let mut roll = self.below(u64::from(total)) as u32;
        for (item, w) in items {
            if roll < *w {
                return item;
            }
            roll -= w;
        }
        &items[0].0
    }

    /// `k` distinct items of `items` (all of them if fewer), in a seeded order: a partial
    /// Fisher–Yates shuffle of the indexes.
    fn sample<T: Clone>(&mut self, items: &[T], k: usize) -> Vec<T> {
        let mut idx: Vec<usize> = (0..items.len()).collect();
        let k = k.min(items.len());
        for i in 0..k {
            let j = i + self.index(idx.len() - i);
            idx.swap(i, j);
        }
        idx[..k].iter().map(|&i| items[i].clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first outputs for seed 1234567 of the reference implementation (`splitmix64.c`).
    #[test]
    fn gives_the_reference_sequence() {
        let mut rng = SplitMix64::new(1_234_567);
        let got: Vec<u64> = (0..5).map(|_| rng.next_u64()).collect();
        assert_eq!(
            got,
            [
                6_457_827_717_110_365_317,
                3_203_168_211_198_807_973,
                9_817_491_932_198_370_423,
                4_593_380_528_125_082_431,
                16_408_922_859_458_223_821,
            ]
        );
    }

    #[test]
    fn is_seeded_and_spreads() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        let xs: Vec<u64> = (0..100).map(|_| a.below(10)).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.below(10)).collect();
        assert_eq!(xs, ys);
        for v in 0..10 {
            assert!(xs.contains(&v), "{v} never drawn: {xs:?}");
        }
    }

    #[test]
    fn a_sample_is_distinct_and_bounded() {
        let items: Vec<u32> = (0..20).collect();
        let mut rng = SplitMix64::new(3);
        let mut got = rng.sample(&items, 8);
        assert_eq!(got.len(), 8);
        got.sort_unstable();
        got.dedup();
        assert_eq!(got.len(), 8);
        assert_eq!(rng.sample(&items[..3], 8).len(), 3);
    }

    #[test]
    fn weights_decide_the_pick() {
        let mut rng = SplitMix64::new(11);
        let items = [("never", 0), ("always", 5)];
        assert!((0..50).all(|_| *rng.pick_weighted(&items) == "always"));
    }
}
