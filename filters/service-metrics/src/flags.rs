//! Envoy's response flags, from the `response.flags` bit set to the short form Envoy's
//! access logs use (`UF`, `URX`, `NR`, ...; `-` when no flag is set).
//!
//! Bit `n` of the set is Envoy's `CoreResponseFlag` number `n`; the table below lists the
//! flags in that order. Several flags are joined with `,` in bit order (`UF,URX`). Bits
//! past the table (flags newer than this filter) are left out.

use std::borrow::Cow;

/// The value when no flag is set.
pub const NONE: &str = "-";

/// Short names indexed by bit number.
const SHORT_NAMES: [&str; 30] = [
    "LH",    // 0  failed local health check
    "UH",    // 1  no healthy upstream
    "UT",    // 2  upstream request timeout
    "LR",    // 3  local reset
    "UR",    // 4  upstream remote reset
    "UF",    // 5  upstream connection failure
    "UC",    // 6  upstream connection termination
    "UO",    // 7  upstream overflow (circuit breaker)
    "NR",    // 8  no route
    "DI",    // 9  delay injected
    "FI",    // 10 fault injected
    "RL",    // 11 rate limited
    "UAEX",  // 12 unauthorized by external authorization
    "RLSE",  // 13 rate limit service error
    "DC",    // 14 downstream connection termination
    "URX",   // 15 upstream retry limit exceeded
    "SI",    // 16 stream idle timeout
    "IH",    // 17 invalid x-envoy-* request headers
    "DPE",   // 18 downstream protocol error
    "UMSDR", // 19 upstream max stream duration reached
    "RFCF",  // 20 response from cache filter
    "NFCF",  // 21 no filter config found
    "DT",    // 22 duration timeout
    "UPE",   // 23 upstream protocol error
    "NC",    // 24 no cluster found
    "OM",    // 25 overload manager
    "DF",    // 26 DNS resolution failed
    "DO",    // 27 drop overload
    "DR",    // 28 downstream remote reset
    "UDO",   // 29 unconditional drop overload
];

/// The short form of `flags`: the names of the set bits in bit order joined by `,`, or
/// [`NONE`]. Allocates only when more than one flag is set.
pub fn short_form(flags: u64) -> Cow<'static, str> {
    let mut names = SHORT_NAMES
        .iter()
        .enumerate()
        .filter(|(bit, _)| flags & (1u64 << bit) != 0)
        .map(|(_, name)| *name);
    let Some(first) = names.next() else {
        return Cow::Borrowed(NONE);
    };
    let Some(second) = names.next() else {
        return Cow::Borrowed(first);
    };
    let mut joined = String::with_capacity(16);
    joined.push_str(first);
    for name in std::iter::once(second).chain(names) {
        joined.push(',');
        joined.push_str(name);
    }
    Cow::Owned(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_flag_is_a_dash() {
        assert_eq!(short_form(0), "-");
    }

    #[test]
    fn single_flags_by_bit() {
        assert_eq!(short_form(1 << 5), "UF");
        assert_eq!(short_form(1 << 8), "NR");
        assert_eq!(short_form(1 << 15), "URX");
        assert_eq!(short_form(1 << 0), "LH");
        assert_eq!(short_form(1 << 29), "UDO");
    }

    #[test]
    fn several_flags_join_in_bit_order() {
        assert_eq!(short_form((1 << 15) | (1 << 5)), "UF,URX");
        assert_eq!(short_form((1 << 4) | (1 << 2) | (1 << 14)), "UT,UR,DC");
    }

    #[test]
    fn unknown_bits_are_left_out() {
        assert_eq!(short_form(1 << 40), "-");
        assert_eq!(short_form((1 << 40) | (1 << 6)), "UC");
        assert_eq!(short_form(u64::MAX).split(',').count(), SHORT_NAMES.len());
    }
}
