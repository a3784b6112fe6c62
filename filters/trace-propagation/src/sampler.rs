//! Sampling decisions: keep a trusted incoming decision, otherwise sample with a fixed
//! probability.
//!
//! The probability becomes a threshold on a 32-bit random number once, when the
//! configuration is compiled; a decision is one integer comparison. When the trace id is
//! known to be random (W3C `random-trace-id` flag, or a trace this filter started), its
//! last 4 bytes are the random number, so every sidecar that decides on the same trace
//! with the same probability decides the same way; otherwise the host supplies it.

use wasmesh_sdk::trace::{Sampling, TraceId};

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
    /// A rule sampling with `probability`; `None` when it is not within 0.0 to 1.0.
    pub fn new(probability: f64, trust_incoming: bool) -> Option<Self> {
        if !(0.0..=1.0).contains(&probability) {
            return None;
        }
        // Exact for 0 and 1; a float-to-int `as` saturates, so nothing can overflow.
        let threshold = (probability * ALWAYS as f64) as u64;
        Some(Self {
            threshold: threshold.min(ALWAYS),
            trust_incoming,
        })
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

    #[test]
    fn probabilities_outside_zero_to_one_are_refused() {
        assert!(Sampler::new(-0.01, true).is_none());
        assert!(Sampler::new(1.0001, true).is_none());
        assert!(Sampler::new(f64::NAN, true).is_none());
        assert!(Sampler::new(f64::INFINITY, true).is_none());
        assert_eq!(Sampler::new(0.0, true).unwrap().threshold, 0);
        assert_eq!(Sampler::new(1.0, true).unwrap().threshold, ALWAYS);
        assert_eq!(Sampler::new(0.5, true).unwrap().threshold, 1 << 31);
    }

    #[test]
    fn trusted_incoming_decisions_are_kept() {
        let never = Sampler::new(0.0, true).unwrap();
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
        let always = Sampler::new(1.0, false).unwrap();
        let never = Sampler::new(0.0, false).unwrap();
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
        let half = Sampler::new(0.5, true).unwrap();
        let decide = |tail| half.decide(Sampling::Deferred, &trace_id(tail), true, &mut no_random);
        assert_eq!(decide(0), Sampling::Sampled);
        assert_eq!(decide(0x7fff_ffff), Sampling::Sampled);
        assert_eq!(decide(0x8000_0000), Sampling::NotSampled);
        assert_eq!(decide(u32::MAX), Sampling::NotSampled);
    }

    #[test]
    fn other_trace_ids_use_the_host_random_source() {
        let half = Sampler::new(0.5, true).unwrap();
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
        let quarter = Sampler::new(0.25, true).unwrap();
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
