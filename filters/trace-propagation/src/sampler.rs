//! Sampling decisions: keep a trusted incoming decision, otherwise sample with a fixed
//! probability.
//!
//! The probability, an exact number of billionths as configured, becomes a threshold on a
//! 32-bit random number once, when the configuration is compiled, in integer arithmetic; a
//! decision is one integer comparison. No floating point is involved: `0.5` samples
//! exactly half of the random numbers, `0.25` exactly a quarter. When the trace id is
//! known to be random (W3C `random-trace-id` flag, or a trace this filter started), its
//! last 4 bytes are the random number, so every sidecar that decides on the same trace
//! with the same probability decides the same way; otherwise the host supplies it.

use crate::trace_context::{Sampling, TraceId};
use wasmesh_sdk::config::reader::Probability;

/// `2^32`: the threshold of probability 1.
const ALWAYS: u64 = 1 << 32;

/// A compiled sampling rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampler {
    /// A trace is sampled when its 32-bit random number is below this (0 to `2^32`).
    threshold: u64,
    /// Whether incoming decisions are kept.
    trust_incoming: bool,
}

impl Sampler {
    /// A rule sampling with `probability`: a trace is sampled when its random number `r`
    /// (0 to `2^32 - 1`) is below `probability * 2^32`. With `p` billionths that is
    /// `r * 10^9 < p * 2^32`, so the threshold is `p * 2^32 / 10^9` rounded up, and the
    /// share sampled is the probability rounded up to a multiple of `2^-32` (exact for 0,
    /// 1, a half, a quarter, ...).
    pub fn new(probability: Probability, trust_incoming: bool) -> Self {
        let billionths = u64::from(probability.billionths());
        let one = u64::from(Probability::ONE.billionths());
        // At most 10^9 * 2^32 < 2^62: no overflow; at most ALWAYS.
        let threshold = (billionths << 32).div_ceil(one);
        Self {
            threshold,
            trust_incoming,
        }
    }

    /// Whether incoming decisions are kept.
    pub fn trusts_incoming(&self) -> bool {
        self.trust_incoming
    }

    /// The decision for a trace: `incoming` when it is a decision and trusted, else a new
    /// one for `trace_id`. Never [`Sampling::Deferred`].
    pub fn decide(
        &self,
        incoming: Sampling,
        trace_id: &TraceId,
        random_trace_id: bool,
        random: &mut dyn FnMut(&mut [u8]),
    ) -> Sampling {
        if self.trust_incoming && incoming != Sampling::Deferred {
            return incoming;
        }
        let sampled = match self.threshold {
            0 => false,
            ALWAYS => true,
            threshold => u64::from(random_number(trace_id, random_trace_id, random)) < threshold,
        };
        Sampling::from_sampled_flag(sampled)
    }
}

/// The trace id's last 4 bytes when they are random, else 4 random bytes from `random`.
fn random_number(
    trace_id: &TraceId,
    random_trace_id: bool,
    random: &mut dyn FnMut(&mut [u8]),
) -> u32 {
    let mut bytes = [0u8; 4];
    match trace_id.0.get(12..) {
        Some(tail) if random_trace_id => bytes.copy_from_slice(tail),
        _ => random(&mut bytes),
    }
    u32::from_be_bytes(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    fn trace_id(tail: u32) -> TraceId {
        let mut bytes = [0xaa; 16];
        bytes[12..].copy_from_slice(&tail.to_be_bytes());
        TraceId(bytes)
    }

    fn no_random(_: &mut [u8]) {
        panic!("the host random source was used");
    }

    fn probability(billionths: u32) -> Probability {
        Probability::from_billionths(billionths).unwrap()
    }

    fn sampler(billionths: u32, trust_incoming: bool) -> Sampler {
        Sampler::new(probability(billionths), trust_incoming)
    }

    #[test]
    fn thresholds_are_exact() {
        assert_eq!(Sampler::new(Probability::ZERO, true).threshold, 0);
        assert_eq!(Sampler::new(Probability::ONE, true).threshold, ALWAYS);
        assert_eq!(sampler(500_000_000, true).threshold, 1 << 31);
        assert_eq!(sampler(250_000_000, true).threshold, 1 << 30);
        assert_eq!(sampler(125_000_000, true).threshold, 1 << 29);
        // 0.1 * 2^32 = 429496729.6: random numbers 0 to 429496729 are sampled.
        assert_eq!(sampler(100_000_000, true).threshold, 429_496_730);
        // One billionth: 4.29...: 0 to 4.
        assert_eq!(sampler(1, true).threshold, 5);
        assert_eq!(sampler(999_999_999, true).threshold, ALWAYS - 4);
    }

    #[test]
    fn the_threshold_is_the_first_random_number_not_below_the_probability() {
        // r is sampled iff r < p * 2^32, i.e. r * 10^9 < billionths * 2^32.
        let mut billionths = 0u32;
        while billionths <= 1_000_000_000 {
            let threshold = u128::from(sampler(billionths, true).threshold);
            let scaled = u128::from(billionths) << 32;
            assert!(threshold * 1_000_000_000 >= scaled, "{billionths}");
            if threshold > 0 {
                assert!((threshold - 1) * 1_000_000_000 < scaled, "{billionths}");
            }
            billionths += 999_983;
        }
    }

    #[test]
    fn trusted_incoming_decisions_are_kept() {
        let never = Sampler::new(Probability::ZERO, true);
        let id = trace_id(0);
        for incoming in [Sampling::Sampled, Sampling::NotSampled, Sampling::Debug] {
            assert_eq!(never.decide(incoming, &id, true, &mut no_random), incoming);
        }
        assert_eq!(
            never.decide(Sampling::Deferred, &id, true, &mut no_random),
            Sampling::NotSampled
        );
    }

    #[test]
    fn distrusted_incoming_decisions_are_replaced() {
        let always = Sampler::new(Probability::ONE, false);
        let never = Sampler::new(Probability::ZERO, false);
        let id = trace_id(0);
        assert_eq!(
            always.decide(Sampling::NotSampled, &id, false, &mut no_random),
            Sampling::Sampled
        );
        assert_eq!(
            never.decide(Sampling::Debug, &id, false, &mut no_random),
            Sampling::NotSampled
        );
    }

    #[test]
    fn random_trace_ids_decide_by_their_last_four_bytes() {
        let half = sampler(500_000_000, true);
        let decide = |tail| half.decide(Sampling::Deferred, &trace_id(tail), true, &mut no_random);
        assert_eq!(decide(0), Sampling::Sampled);
        assert_eq!(decide(0x7fff_ffff), Sampling::Sampled);
        assert_eq!(decide(0x8000_0000), Sampling::NotSampled);
        assert_eq!(decide(u32::MAX), Sampling::NotSampled);
        let tenth = sampler(100_000_000, true);
        let decide = |tail| tenth.decide(Sampling::Deferred, &trace_id(tail), true, &mut no_random);
        assert_eq!(decide(429_496_729), Sampling::Sampled);
        assert_eq!(decide(429_496_730), Sampling::NotSampled);
    }

    #[test]
    fn other_trace_ids_use_the_host_random_source() {
        let half = sampler(500_000_000, true);
        let id = trace_id(0);
        let mut high = |buf: &mut [u8]| buf.fill(0xff);
        assert_eq!(
            half.decide(Sampling::Deferred, &id, false, &mut high),
            Sampling::NotSampled
        );
        let mut low = |buf: &mut [u8]| buf.fill(0x01);
        assert_eq!(
            half.decide(Sampling::Deferred, &id, false, &mut low),
            Sampling::Sampled
        );
    }

    #[test]
    fn the_sampled_share_follows_the_probability() {
        let quarter = sampler(250_000_000, true);
        let mut state = 0x2545_f491_u32;
        let mut xorshift = |buf: &mut [u8]| {
            for byte in buf.iter_mut() {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                *byte = state as u8;
            }
        };
        let id = trace_id(0);
        let sampled = (0..10_000)
            .filter(|_| {
                quarter.decide(Sampling::Deferred, &id, false, &mut xorshift) == Sampling::Sampled
            })
            .count();
        assert!((2_300..2_700).contains(&sampled), "{sampled}");
    }
}
