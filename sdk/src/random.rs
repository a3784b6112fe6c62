//! Random bytes for per-request ids, from a generator seeded once per VM.
//!
//! Trace and span ids need randomness (W3C Trace Context §3.2.2.3: unique, unpredictable
//! enough not to collide), not a host call per id: asking Envoy (WASI `random_get`) costs
//! about 5 000 instructions a call. The SDK asks the host once, for 32 bytes, when the VM
//! first needs randomness, and draws every id after that from xoshiro256++ (Blackman and
//! Vigna), a few instructions per 8 bytes. Not for secrets: nothing in the SDK uses it for
//! keys or tokens.

use std::cell::Cell;

thread_local! {
    /// The generator's state; `None` until first used (or after [`reseed`]).
    static STATE: Cell<Option<[u64; 4]>> = const { Cell::new(None) };
}

/// Fills `buf` with random bytes.
pub fn fill(buf: &mut [u8]) {
    let mut state = STATE.with(Cell::get).unwrap_or_else(seed);
    for chunk in buf.chunks_mut(8) {
        let word = next(&mut state).to_le_bytes();
        for (dst, src) in chunk.iter_mut().zip(word) {
            *dst = src;
        }
    }
    STATE.with(|cell| cell.set(Some(state)));
}

/// A random `u64`.
pub fn next_u64() -> u64 {
    let mut bytes = [0u8; 8];
    fill(&mut bytes);
    u64::from_le_bytes(bytes)
}

/// Forgets the state, so that the next draw seeds again from the host (the emulator does
/// this when a test changes its random seed).
pub fn reseed() {
    STATE.with(|cell| cell.set(None));
}

/// A state from 32 bytes of the host's randomness (never all zero, which xoshiro cannot
/// leave).
fn seed() -> [u64; 4] {
    let mut bytes = [0u8; 32];
    host_random(&mut bytes);
    let mut state = [0u64; 4];
    for (word, chunk) in state.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(chunk);
        *word = u64::from_le_bytes(eight);
    }
    if state == [0; 4] {
        state = [
            0x9e37_79b9_7f4a_7c15,
            0xbf58_476d_1ce4_e5b9,
            0x94d0_49bb_1331_11eb,
            1,
        ];
    }
    state
}

/// The host's randomness (none without the `host` feature: a fixed seed).
fn host_random(buf: &mut [u8]) {
    #[cfg(feature = "host")]
    crate::host::random_bytes(buf);
    #[cfg(not(feature = "host"))]
    buf.fill(0);
}

/// One step of xoshiro256++.
fn next(s: &mut [u64; 4]) -> u64 {
    let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
    let t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s[3].rotate_left(45);
    result
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn xoshiro_matches_its_reference_output() {
        // First outputs of the reference implementation from state {1, 2, 3, 4}.
        let mut state = [1, 2, 3, 4];
        assert_eq!(next(&mut state), 41_943_041);
        assert_eq!(next(&mut state), 58_720_359);
        assert_eq!(next(&mut state), 3_588_806_011_781_223);
    }

    #[test]
    fn draws_differ_and_fill_any_length() {
        reseed();
        let mut a = [0u8; 13];
        let mut b = [0u8; 13];
        fill(&mut a);
        fill(&mut b);
        assert_ne!(a, b);
        assert_ne!(next_u64(), next_u64());
    }
}
