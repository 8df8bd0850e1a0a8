//! Distinct values (live users) over a sliding window of seconds: exact, by remembering when
//! each value was last seen, up to a bound; past the bound, a sliding HyperLogLog estimate
//! (each register keeps the last second each rank was seen, so old seconds simply age out).

use std::collections::HashMap;

/// Registers of the sketch: 2^12, a standard error of about 1.6%.
const PRECISION: u32 = 12;
const REGISTERS: usize = 1 << PRECISION;
/// Ranks 1..=MAX_RANK (leading zeros of the remaining 52 bits, plus one).
const MAX_RANK: usize = 64 - PRECISION as usize + 1;

/// Counts distinct 64-bit hashes seen in the last `window` seconds.
#[derive(Debug)]
pub struct DistinctCounter {
    window: u32,
    max_exact: usize,
    /// Hash → last second seen, while at most `max_exact` values are in the window. The keys
    /// are hashes already: foldhash only spreads them, SipHash would hash them again.
    last_seen: HashMap<u64, u32, foldhash::fast::RandomState>,
    /// The last second a value had to be left out of `last_seen` (the exact count is valid
    /// again once that second has left the window).
    overflowed_at: Option<u32>,
    /// For each register and rank, the last second (plus one; 0 = never) a hash landed there.
    sketch: Vec<u32>,
}

impl DistinctCounter {
    /// A counter over `window` seconds, exact up to `max_exact` distinct values.
    pub fn new(window: u32, max_exact: usize) -> DistinctCounter {
        DistinctCounter {
            window: window.max(1),
            max_exact,
            last_seen: HashMap::default(),
            overflowed_at: None,
            sketch: vec![0; REGISTERS * MAX_RANK],
        }
    }

    /// Records `hash` (a well-mixed hash of the value) as seen at `second`.
    pub fn insert(&mut self, hash: u64, second: u32) {
        let register = (hash >> (64 - PRECISION)) as usize;
        let rest = hash << PRECISION;
        let rank = (rest.leading_zeros() as usize + 1).min(MAX_RANK);
        if let Some(slot) = self.sketch.get_mut(register * MAX_RANK + rank - 1) {
            *slot = second + 1;
        }
        if let Some(seen) = self.last_seen.get_mut(&hash) {
            *seen = second;
        } else if self.last_seen.len() < self.max_exact {
            self.last_seen.insert(hash, second);
        } else {
            self.overflowed_at = Some(second);
        }
    }

    /// Forgets what left the window: values last seen before `now - window + 1`.
    pub fn expire(&mut self, now: u32) {
        let oldest = self.oldest(now);
        self.last_seen.retain(|_, seen| *seen >= oldest);
        if self.overflowed_at.is_some_and(|second| second < oldest) {
            self.overflowed_at = None;
        }
    }

    /// The number of distinct values seen in the window ending at `now`, and whether it
    /// is exact.
    pub fn count(&self, now: u32) -> (u64, bool) {
        if self.overflowed_at.is_none() {
            let oldest = self.oldest(now);
            let exact = self.last_seen.values().filter(|s| **s >= oldest).count();
            return (exact as u64, true);
        }
        (self.estimate(now), false)
    }

    fn oldest(&self, now: u32) -> u32 {
        (now + 1).saturating_sub(self.window)
    }

    /// The HyperLogLog estimate over the registers' ranks still in the window.
    fn estimate(&self, now: u32) -> u64 {
        let oldest = self.oldest(now) + 1;
        let mut sum = 0.0;
        let mut zero_registers = 0;
        for register in self.sketch.chunks_exact(MAX_RANK) {
            let rank = register
                .iter()
                .rposition(|seen| *seen >= oldest && *seen != 0)
                .map_or(0, |index| index + 1);
            if rank == 0 {
                zero_registers += 1;
            }
            sum += 2f64.powi(-(rank as i32));
        }
        let m = REGISTERS as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let raw = alpha * m * m / sum;
        let estimate = if raw <= 2.5 * m && zero_registers > 0 {
            m * (m / f64::from(zero_registers)).ln()
        } else {
            raw
        };
        estimate.round() as u64
    }
}

/// Mixes a 64-bit value into a well-distributed hash (the SplitMix64 finaliser), so that
/// FNV hashes of similar strings spread over the sketch's registers.
pub fn mix(mut value: u64) -> u64 {
    value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_value_once_while_it_is_in_the_window() {
        let mut counter = DistinctCounter::new(10, 1000);
        for second in 0..5 {
            for value in 0..3u64 {
                counter.insert(mix(value), second);
            }
        }
        counter.insert(mix(7), 5);
        assert_eq!(counter.count(5), (4, true));
    }

    #[test]
    fn values_leave_when_their_last_second_leaves_the_window() {
        let mut counter = DistinctCounter::new(10, 1000);
        counter.insert(mix(1), 0);
        counter.insert(mix(2), 0);
        counter.insert(mix(2), 6);
        // Window of 10 s ending at 9 holds seconds 0..=9.
        assert_eq!(counter.count(9), (2, true));
        // Ending at 10: second 0 has left; value 2 was seen again at 6.
        counter.expire(10);
        assert_eq!(counter.count(10), (1, true));
        assert_eq!(counter.count(16), (0, true));
    }

    #[test]
    fn past_the_bound_the_count_is_an_estimate_within_a_few_percent() {
        let mut counter = DistinctCounter::new(60, 1000);
        for value in 0..50_000u64 {
            counter.insert(mix(value), (value / 1000) as u32);
        }
        let (estimate, exact) = counter.count(49);
        assert!(!exact);
        let error = (estimate as f64 - 50_000.0).abs() / 50_000.0;
        assert!(error < 0.05, "estimate {estimate}");
    }

    #[test]
    fn the_estimate_forgets_old_seconds_and_exact_counting_resumes() {
        let mut counter = DistinctCounter::new(10, 100);
        for value in 0..5_000u64 {
            counter.insert(mix(value), 0);
        }
        for value in 0..20u64 {
            counter.insert(mix(1_000_000 + value), 5);
        }
        counter.expire(5);
        let (estimate, exact) = counter.count(5);
        assert!(!exact);
        assert!((4_700..5_300).contains(&estimate), "estimate {estimate}");
        // At 10 second 0 has left the window; the 20 of second 5 came while the exact map
        // was full, so the count stays an estimate until second 5 leaves too.
        counter.expire(10);
        let (estimate, exact) = counter.count(10);
        assert!(!exact);
        assert!((18..=22).contains(&estimate), "estimate {estimate}");
        for value in 0..3u64 {
            counter.insert(mix(2_000_000 + value), 15);
        }
        counter.expire(15);
        assert_eq!(counter.count(15), (3, true));
    }
}
