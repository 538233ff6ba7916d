//! Daily random spot checks (随机抽查) for the county inspection team (督查组).
//!
//! The county work plan asks the inspection team to check, every day, "不少于10户结对帮扶联系人
//! 帮扶走访情况 … 不少于5户专班排查入户情况", with the village and household lists "由县扶贫办负责
//! 提供". This module turns a township's candidate households into that list. It is pure: the
//! caller supplies the candidates and the number to draw (10, 5, …) and gets the sample back.
//!
//! # Why stratified by village
//!
//! A plain random sample of a township regularly lands all of its draws in one or two large
//! villages, and a village that is never visited is exactly where the roster work is least
//! watched. The draw therefore splits `n` across villages in proportion to the number of
//! candidates each holds (largest-remainder rounding), and as long as `n` is at least the number
//! of villages each village with candidates gets at least one check. Within a village households
//! are drawn uniformly without replacement.
//!
//! If `n` is *below* the number of villages, some villages necessarily get none. The seats then go
//! to the villages with the largest proportional remainders, which with fixed village sizes are the
//! same villages every day; callers who need rotating coverage should make `n` at least the number
//! of villages.
//!
//! # Why seeded rather than random
//!
//! The list has to be defensible: a township must not be able to say the inspectors picked the
//! households they wanted to find fault with, and the inspectors must be able to show the list was
//! not picked by hand. So the draw is not random at all — it is a deterministic function of
//!
//! * the candidate set (as a set: input order does not matter, exact duplicate household ids
//!   collapse),
//! * the township's area code,
//! * the day, and
//! * a `salt`.
//!
//! Anyone holding those four can re-run [`draw`] and get the identical list, so the 督查组 (or a
//! reviewer afterwards) can re-draw in front of the township. The salt decides who can predict the
//! list in advance: a county secret held by 县扶贫办 keeps townships from knowing tomorrow's
//! households (disclosed afterwards to let anyone verify), while a publicly announced number of
//! the day (for example a lottery result published after the roster is frozen) makes the draw
//! verifiable by everyone without trusting the county.
//!
//! # What exactly is reproducible (algorithm `v1`)
//!
//! 1. Candidates are sorted by `(household_id, village)` and deduplicated by `household_id` (the
//!    first, i.e. lexicographically smallest village, wins if one id is listed twice).
//! 2. The seed is `SHA-256("zoufang.spot_check.v1" ‖ field(township) ‖ field(day) ‖ field(salt))`,
//!    where `field(s)` is the byte length of `s` as a big-endian `u64` followed by its UTF-8 bytes
//!    and `day` is written `YYYY-MM-DD`. [`seed`] returns it so it can be printed on the list.
//! 3. The 32-byte seed keys a ChaCha20 generator (`rand_chacha::ChaCha20Rng::from_seed`, stream 0);
//!    every random number below is one `next_u64` of that generator.
//! 4. One `u64` is drawn per village, villages in ascending code order, as tie-breakers for equal
//!    remainders in the allocation (larger value wins).
//! 5. Allocation: if `n` ≥ number of candidates every candidate is returned. Otherwise, when `n` ≥
//!    number of villages, villages whose proportional quota is below one are fixed at one seat and
//!    the quotas of the rest are recomputed over the remaining seats, until no quota is below one.
//!    The remaining villages get the integer part of their quota, and the leftover seats go to the
//!    largest remainders (tie-breakers from step 4). All arithmetic is exact integer arithmetic.
//! 6. Within each village (ascending code order, households in ascending id order) a partial
//!    Fisher–Yates shuffle picks the village's seats: for position `i`, swap with `i + r` where `r`
//!    is uniform in `0..len-i`, drawn by rejection (`x = next_u64`, reject while
//!    `x < 2^64 mod bound`, take `x mod bound`).
//! 7. The result is sorted by village then household id.
//!
//! Only the raw ChaCha20 output is taken from a crate; the sampling itself lives here, so a
//! dependency upgrade cannot silently change past lists. Any change to steps 1–7 must change the
//! `v1` tag so that old and new lists are never confused.
//!
//! # Why `rand_chacha`
//!
//! * ChaCha20 is a fixed, published cipher: its output for a given key is the same on every
//!   platform and in every version of the crate, and `rand_chacha` tests it against reference
//!   vectors and documents its generators as portable. `rand::rngs::StdRng` by contrast is
//!   documented as free to change algorithm between `rand` releases (it did in 0.10), and `rand`'s
//!   sampling helpers are not value-stable either — both unacceptable for a list that must be
//!   re-drawable years later.
//! * It is a cryptographic generator, so with a secret salt the list cannot be predicted from
//!   earlier days' lists; a small non-cryptographic PRNG (PCG, xorshift) would not give that.
//! * It is maintained by the Rust Random project next to `rand_core`, whose 0.10 traits the
//!   workspace already builds (via `rand` 0.10 in `automerge`/`proptest`/`sqlx`), and it is used
//!   with `default-features = false`, adding only `ppv-lite86` (and its `zerocopy`) to the build.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Version tag of the draw algorithm, hashed into every seed.
const DOMAIN: &[u8] = b"zoufang.spot_check.v1";

/// One household that may be drawn. A household is a candidate in its own township; `village` is
/// the area code of its village, the stratum it is drawn in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Candidate {
    pub household_id: String,
    pub village: String,
}

/// The 32-byte seed of a township's draw on `day` (step 2 of the module docs), for printing on the
/// published list so that a re-draw can be checked against it.
pub fn seed(township: &str, day: NaiveDate, salt: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(DOMAIN);
    let day = day.format("%Y-%m-%d").to_string();
    for field in [township, day.as_str(), salt] {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hasher.finalize().into()
}

/// Draws `n` of `candidates` for `township`'s spot check on `day`, stratified by village.
///
/// Same candidate set, `township`, `day` and `salt` give the same households regardless of input
/// order. With `n` at least the number of distinct households, all of them are returned. The result
/// is ordered by village, then household id. See the module docs for the exact algorithm.
pub fn draw(
    candidates: &[Candidate],
    n: usize,
    township: &str,
    day: NaiveDate,
    salt: &str,
) -> Vec<Candidate> {
    let mut sorted: Vec<&Candidate> = candidates.iter().collect();
    sorted.sort_by(|a, b| (&a.household_id, &a.village).cmp(&(&b.household_id, &b.village)));
    sorted.dedup_by(|later, earlier| later.household_id == earlier.household_id);

    let mut villages: BTreeMap<&str, Vec<&Candidate>> = BTreeMap::new();
    for candidate in sorted {
        villages
            .entry(candidate.village.as_str())
            .or_default()
            .push(candidate);
    }
    let total: usize = villages.values().map(Vec::len).sum();
    if n >= total {
        // Already in village, then id order: BTreeMap by village, members pushed in id order.
        return villages.into_values().flatten().cloned().collect();
    }

    let mut rng = ChaCha20Rng::from_seed(seed(township, day, salt));
    let tie_breaks: Vec<u64> = villages.keys().map(|_| rng.next_u64()).collect();
    let sizes: Vec<usize> = villages.values().map(Vec::len).collect();
    let seats = allocate(&sizes, n, &tie_breaks);

    let mut drawn = Vec::with_capacity(n);
    for (mut members, take) in villages.into_values().zip(seats) {
        for i in 0..take {
            let j = i + below(&mut rng, members.len() - i);
            members.swap(i, j);
        }
        let mut picked: Vec<&Candidate> = members[..take].to_vec();
        picked.sort_by(|a, b| a.household_id.cmp(&b.household_id));
        drawn.extend(picked.into_iter().cloned());
    }
    drawn
}

/// Splits `n` (< sum of `sizes`) seats across strata in proportion to `sizes`, largest remainder
/// first, with at least one seat per stratum when `n >= sizes.len()` (step 5 of the module docs).
fn allocate(sizes: &[usize], n: usize, tie_breaks: &[u64]) -> Vec<usize> {
    let mut seats = vec![0usize; sizes.len()];
    let mut fixed = vec![false; sizes.len()];
    let mut free_seats = n as u128;
    let mut pool: u128 = sizes.iter().map(|&s| s as u128).sum();

    if n >= sizes.len() {
        loop {
            // Quota below one: free_seats * size / pool < 1. Never true for every free stratum,
            // because free_seats >= number of free strata (see the sum of quotas).
            let small: Vec<usize> = (0..sizes.len())
                .filter(|&i| !fixed[i] && free_seats * (sizes[i] as u128) < pool)
                .collect();
            if small.is_empty() {
                break;
            }
            for i in small {
                fixed[i] = true;
                seats[i] = 1;
                free_seats -= 1;
                pool -= sizes[i] as u128;
            }
        }
    }

    let mut remainders = Vec::new();
    let mut given: u128 = 0;
    for i in (0..sizes.len()).filter(|&i| !fixed[i]) {
        let quota = free_seats * sizes[i] as u128;
        let whole = quota / pool;
        seats[i] = whole as usize;
        given += whole;
        remainders.push((quota % pool, tie_breaks[i], i));
    }
    // Largest remainder first; equal remainders by the seeded tie-breaker, then by village order.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    for &(_, _, i) in remainders.iter().take((free_seats - given) as usize) {
        seats[i] += 1;
    }
    debug_assert_eq!(seats.iter().sum::<usize>(), n);
    debug_assert!(seats.iter().zip(sizes).all(|(s, size)| s <= size));
    seats
}

/// Uniform integer in `0..bound` (`bound > 0`) by rejection sampling, so that no value is favoured.
fn below(rng: &mut ChaCha20Rng, bound: usize) -> usize {
    let bound = bound as u64;
    let reject_below = bound.wrapping_neg() % bound; // 2^64 mod bound
    loop {
        let x = rng.next_u64();
        if x >= reject_below {
            return (x % bound) as usize;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeSet, HashSet};

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).expect("valid date")
    }

    /// `sizes[v]` households in village `V{v}`, ids `H{v}-{i}`.
    fn township(sizes: &[usize]) -> Vec<Candidate> {
        sizes
            .iter()
            .enumerate()
            .flat_map(|(v, &size)| {
                (0..size).map(move |i| Candidate {
                    household_id: format!("H{v}-{i:03}"),
                    village: format!("V{v}"),
                })
            })
            .collect()
    }

    fn per_village(sample: &[Candidate]) -> BTreeMap<&str, usize> {
        let mut counts = BTreeMap::new();
        for c in sample {
            *counts.entry(c.village.as_str()).or_insert(0) += 1;
        }
        counts
    }

    fn assert_ordered(sample: &[Candidate]) {
        assert!(
            sample
                .windows(2)
                .all(|w| (&w[0].village, &w[0].household_id) < (&w[1].village, &w[1].household_id)),
            "not ordered by village then id: {sample:?}"
        );
    }

    #[test]
    fn same_inputs_give_the_same_sample() {
        let candidates = township(&[50, 30, 20]);
        let a = draw(&candidates, 10, "530102001", day(5), "county-secret");
        let b = draw(&candidates, 10, "530102001", day(5), "county-secret");
        assert_eq!(a.len(), 10);
        assert_eq!(a, b);
        assert_ordered(&a);
    }

    #[test]
    fn input_order_does_not_matter() {
        let candidates = township(&[17, 9, 4, 1]);
        let mut reversed = candidates.clone();
        reversed.reverse();
        let mut interleaved: Vec<Candidate> = candidates.iter().step_by(2).cloned().collect();
        interleaved.extend(candidates.iter().skip(1).step_by(2).cloned());
        let expected = draw(&candidates, 10, "530102001", day(5), "s");
        assert_eq!(draw(&reversed, 10, "530102001", day(5), "s"), expected);
        assert_eq!(draw(&interleaved, 10, "530102001", day(5), "s"), expected);
    }

    #[test]
    fn duplicate_ids_collapse() {
        let candidates = township(&[5, 5]);
        let mut doubled = candidates.clone();
        doubled.extend(candidates.iter().cloned());
        assert_eq!(
            draw(&doubled, 4, "t", day(5), "s"),
            draw(&candidates, 4, "t", day(5), "s")
        );
        assert_eq!(draw(&doubled, 100, "t", day(5), "s"), candidates);

        // One id listed in two villages is one household, kept in the smaller village code.
        let conflicting = vec![
            Candidate {
                household_id: "H1".into(),
                village: "V9".into(),
            },
            Candidate {
                household_id: "H1".into(),
                village: "V2".into(),
            },
        ];
        assert_eq!(
            draw(&conflicting, 5, "t", day(5), "s"),
            vec![conflicting[1].clone()]
        );
    }

    #[test]
    fn allocation_is_proportional_to_village_size() {
        let candidates = township(&[50, 30, 20]);
        for d in 1..=28 {
            let sample = draw(&candidates, 10, "530102001", day(d), "s");
            let counts = per_village(&sample);
            assert_eq!(
                counts,
                BTreeMap::from([("V0", 5), ("V1", 3), ("V2", 2)]),
                "day {d}"
            );
        }
    }

    #[test]
    fn a_small_village_still_gets_one() {
        // Quota of V2 is 10 * 2 / 102 < 1; it still gets a check. The other 9 seats are split
        // over the other 100 households: quotas 5.4 and 3.6, so 5 and 4.
        let candidates = township(&[60, 40, 2]);
        let sample = draw(&candidates, 10, "530102001", day(5), "s");
        assert_eq!(
            per_village(&sample),
            BTreeMap::from([("V0", 5), ("V1", 4), ("V2", 1)])
        );

        // Many tiny villages: every one of them is visited.
        let candidates = township(&[200, 1, 1, 1, 1, 1]);
        let sample = draw(&candidates, 6, "530102001", day(5), "s");
        assert_eq!(per_village(&sample).len(), 6);
        assert!(per_village(&sample).values().all(|&c| c == 1));
    }

    #[test]
    fn fewer_seats_than_villages_go_to_the_largest() {
        let candidates = township(&[3, 10, 3, 10, 3]);
        let sample = draw(&candidates, 2, "t", day(5), "s");
        assert_eq!(per_village(&sample), BTreeMap::from([("V1", 1), ("V3", 1)]));
    }

    #[test]
    fn equal_remainders_are_broken_by_the_seed_not_by_village_code() {
        // Seven equal villages, five seats: which villages go unchecked must vary by day.
        let candidates = township(&[4; 7]);
        let unchecked: BTreeSet<BTreeSet<String>> = (1..=28)
            .map(|d| {
                let sample = draw(&candidates, 5, "t", day(d), "s");
                let hit = per_village(&sample);
                assert_eq!(hit.len(), 5);
                (0..7)
                    .map(|v| format!("V{v}"))
                    .filter(|v| !hit.contains_key(v.as_str()))
                    .collect()
            })
            .collect();
        assert!(unchecked.len() > 1, "{unchecked:?}");
    }

    #[test]
    fn n_at_least_total_returns_everyone() {
        let candidates = township(&[3, 2]);
        let mut shuffled = candidates.clone();
        shuffled.rotate_left(2);
        assert_eq!(draw(&shuffled, 5, "t", day(5), "s"), candidates);
        assert_eq!(draw(&shuffled, 50, "t", day(5), "s"), candidates);
        assert!(draw(&[], 10, "t", day(5), "s").is_empty());
        assert!(draw(&candidates, 0, "t", day(5), "s").is_empty());
    }

    #[test]
    fn another_day_township_or_salt_gives_another_sample() {
        let candidates = township(&[50, 30, 20]);
        let base = draw(&candidates, 10, "530102001", day(5), "s");
        assert_ne!(draw(&candidates, 10, "530102001", day(6), "s"), base);
        assert_ne!(draw(&candidates, 10, "530102002", day(5), "s"), base);
        assert_ne!(draw(&candidates, 10, "530102001", day(5), "t"), base);
    }

    #[test]
    fn seed_fields_are_length_prefixed() {
        // Moving a character across a field boundary must change the seed.
        assert_ne!(seed("ab", day(5), "c"), seed("a", day(5), "bc"));
        assert_eq!(seed("t", day(5), "s"), seed("t", day(5), "s"));
    }

    #[test]
    fn seed_and_sample_are_pinned() {
        // Guards the v1 contract: a dependency upgrade or refactor must not change past lists.
        // These values were also reproduced by an independent Python implementation of the
        // module docs (hashlib + the `cryptography` package's ChaCha20 with a zero nonce).
        let hex: String = seed("530102001", day(5), "s")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, PINNED_SEED);
        let ids: Vec<String> = draw(&township(&[50, 30, 20]), 10, "530102001", day(5), "s")
            .into_iter()
            .map(|c| c.household_id)
            .collect();
        assert_eq!(ids, PINNED_SAMPLE);
        let ids: Vec<String> = draw(&township(&[4; 7]), 5, "t", day(1), "s")
            .into_iter()
            .map(|c| c.household_id)
            .collect();
        assert_eq!(ids, PINNED_TIES);
    }

    const PINNED_SEED: &str = "ad88a04c69660109d70bf2e924f4d35134a4f93ad406a418f61d6407a0a13d20";
    const PINNED_SAMPLE: [&str; 10] = [
        "H0-002", "H0-023", "H0-024", "H0-039", "H0-044", "H1-005", "H1-014", "H1-020", "H2-005",
        "H2-007",
    ];
    /// Exercises the seeded tie-break (seven equal villages, five seats).
    const PINNED_TIES: [&str; 5] = ["H1-002", "H2-001", "H3-000", "H5-000", "H6-000"];

    #[test]
    fn below_is_in_range() {
        let mut rng = ChaCha20Rng::from_seed([7; 32]);
        for bound in 1..200 {
            assert!(below(&mut rng, bound) < bound);
        }
    }

    /// 1–8 villages; household ids drawn with repetition (exact duplicates), each id always in
    /// the same village, as in real data.
    fn arbitrary_candidates() -> impl Strategy<Value = Vec<Candidate>> {
        (1u16..=8).prop_flat_map(|villages| {
            prop::collection::vec(0u16..200, 0..150).prop_map(move |ids| {
                ids.into_iter()
                    .map(|h| Candidate {
                        household_id: format!("H{h:03}"),
                        village: format!("V{}", h % villages),
                    })
                    .collect()
            })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn sample_is_a_duplicate_free_subset_of_the_right_size(
            candidates in arbitrary_candidates(),
            n in 0usize..60,
            d in 1u32..=28,
            salt in "[a-z0-9]{0,8}",
        ) {
            let sample = draw(&candidates, n, "530102001", day(d), &salt);
            let distinct: HashSet<&str> =
                candidates.iter().map(|c| c.household_id.as_str()).collect();
            prop_assert_eq!(sample.len(), n.min(distinct.len()));
            let ids: HashSet<&str> = sample.iter().map(|c| c.household_id.as_str()).collect();
            prop_assert_eq!(ids.len(), sample.len());
            prop_assert!(sample.iter().all(|c| candidates.contains(c)));
            assert_ordered(&sample);

            let villages: BTreeSet<&str> = candidates.iter().map(|c| c.village.as_str()).collect();
            if n >= villages.len() {
                prop_assert_eq!(per_village(&sample).len(), villages.len());
            }

            let mut reversed = candidates.clone();
            reversed.reverse();
            prop_assert_eq!(draw(&reversed, n, "530102001", day(d), &salt), sample);
        }
    }
}
