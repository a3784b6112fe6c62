//! Property-style checks over generated targets: no panic, idempotence, and
//! the shape of every accepted result.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use super::options_with;
use crate::{
    by_rules, canonicalize, is_plainly_canonical, DotSegmentParams, EscapedSlashes, Fragment,
    PathOptions, PathParams,
};

/// Pieces that exercise every rule and their interactions.
const TOKENS: &[&[u8]] = &[
    b"/",
    b"/",
    b"/",
    b".",
    b"..",
    b"%2e",
    b"%2E",
    b"%2f",
    b"%2F",
    b"%5c",
    b"%5C",
    b";",
    b";x",
    b";x=1",
    b"%25",
    b"%41",
    b"%61",
    b"a",
    b"A",
    b"b",
    b"~",
    b"-",
    b"?",
    b"#",
    b"%c3%a9",
    b"%C3%A9",
    b"%c0",
    b"%af",
    b"%",
    b"\\",
    b"//",
    b"%3f",
    b"%3B",
    b"%00",
    b"%7f",
    b"%2",
    b"4",
    b"e",
    b"F",
    b"%e2%82%ac",
    b"%ed%a0%80",
    b"%f0%9f%98%80",
    b"%20",
    b"*",
    b"=",
    b"&",
];

/// Raw bytes that must always be refused, mixed in now and then.
const RAW_BYTES: &[u8] = &[0x00, 0x09, 0x0A, 0x20, 0x7F, 0x80, 0xC3, 0xFF];

const PATHS: usize = 20_000;

/// Deterministic xorshift64 generator.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, bound: usize) -> usize {
        usize::try_from(self.next() % bound.max(1) as u64).unwrap_or_default()
    }
}

fn generate(rng: &mut XorShift) -> Vec<u8> {
    let mut target = Vec::new();
    if rng.below(50) != 0 {
        target.push(b'/');
    }
    for _ in 0..rng.below(14) {
        if rng.below(40) == 0 {
            target.push(
                RAW_BYTES
                    .get(rng.below(RAW_BYTES.len()))
                    .copied()
                    .unwrap_or(0),
            );
        } else {
            let token = TOKENS.get(rng.below(TOKENS.len())).copied().unwrap_or(b"/");
            target.extend_from_slice(token);
        }
    }
    target
}

fn option_sets() -> [PathOptions; 5] {
    [
        PathOptions::default(),
        options_with(|o| {
            o.escaped_slashes = EscapedSlashes::UnescapeAndForward;
            o.dot_segment_params = DotSegmentParams::AsDotSegment;
            o.path_params = PathParams::Strip;
            o.fragment = Fragment::Strip;
            o.lowercase = true;
        }),
        options_with(|o| {
            o.escaped_slashes = EscapedSlashes::Keep;
            o.merge_slashes = false;
            o.dot_segment_params = DotSegmentParams::AsDotSegment;
        }),
        options_with(|o| {
            o.escaped_slashes = EscapedSlashes::UnescapeAndRedirect;
            o.merge_slashes = false;
            o.path_params = PathParams::Strip;
            o.fragment = Fragment::Strip;
        }),
        options_with(|o| {
            o.escaped_slashes = EscapedSlashes::Keep;
            o.lowercase = true;
            o.fragment = Fragment::Strip;
        }),
    ]
}

/// The query the input carries once any fragment is gone.
fn input_query(target: &[u8]) -> Option<&[u8]> {
    let before_fragment = target.split(|&b| b == b'#').next().unwrap_or_default();
    let at = before_fragment.iter().position(|&b| b == b'?')?;
    before_fragment.get(at + 1..)
}

fn check_accepted(target: &[u8], output: &str, options: &PathOptions) {
    let context = format!(
        "{:?} -> {output:?} under {options:?}",
        String::from_utf8_lossy(target)
    );
    let again = canonicalize(output.as_bytes(), options);
    let again = again.map(|c| (c.as_str().to_owned(), c.is_changed(), c.needs_redirect()));
    assert_eq!(
        again,
        Ok((output.to_owned(), false, false)),
        "not idempotent: {context}"
    );

    assert!(
        output.bytes().all(|b| (0x21..0x7F).contains(&b)),
        "bad byte: {context}"
    );
    if output == "*" {
        assert_eq!(target, b"*", "{context}");
        return;
    }
    let (path, query) = match output.split_once('?') {
        Some((path, query)) => (path, Some(query.as_bytes())),
        None => (output, None),
    };
    assert_eq!(query, input_query(target), "query changed: {context}");
    assert!(path.starts_with('/'), "{context}");
    assert!(!path.contains('\\') && !path.contains('#'), "{context}");
    assert!(
        !path.contains("/./") && !path.contains("/../"),
        "dot segment: {context}"
    );
    assert!(
        !path.ends_with("/.") && !path.ends_with("/.."),
        "dot segment: {context}"
    );
    if options.merge_slashes {
        assert!(!path.contains("//"), "repeated slash: {context}");
    }
    check_escapes(path, options, &context);
}

/// Every escape left in an accepted path is well formed, uppercase, and of a
/// byte that must stay encoded; no letter outside escapes is uppercase when
/// lowercasing is on.
fn check_escapes(path: &str, options: &PathOptions, context: &str) {
    let bytes = path.as_bytes();
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte != b'%' {
            assert!(
                !(options.lowercase && byte.is_ascii_uppercase()),
                "uppercase: {context}"
            );
            index += 1;
            continue;
        }
        let hex = bytes.get(index + 1..index + 3).unwrap_or_default();
        assert!(
            hex.len() == 2
                && hex
                    .iter()
                    .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b)),
            "escape not uppercase hex: {context}"
        );
        let value = std::str::from_utf8(hex)
            .ok()
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or_default();
        assert!(
            !(value.is_ascii_alphanumeric() || b"-._~".contains(&value)),
            "unreserved left encoded: {context}"
        );
        assert!(value >= 0x20 && value != 0x7F, "control escape: {context}");
        if matches!(value, b'/' | b'\\') {
            assert_eq!(options.escaped_slashes, EscapedSlashes::Keep, "{context}");
        }
        index += 3;
    }
}

#[test]
fn generated_paths_are_canonicalized_safely_and_idempotently() {
    let option_sets = option_sets();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0usize;
    let mut rejected = 0usize;
    for _ in 0..PATHS {
        let target = generate(&mut rng);
        for options in &option_sets {
            match canonicalize(&target, options) {
                Ok(canonical) => {
                    accepted += 1;
                    check_accepted(&target, canonical.as_str(), options);
                }
                Err(_) => rejected += 1,
            }
        }
    }
    // Both outcomes must be well represented for the run to mean anything.
    assert!(accepted > PATHS / 2, "accepted {accepted}");
    assert!(rejected > PATHS / 2, "rejected {rejected}");
}

#[test]
fn arbitrary_bytes_never_panic() {
    let options = option_sets();
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    for _ in 0..2_000 {
        let length = rng.below(24);
        let mut target: Vec<u8> = (0..length).map(|_| (rng.next() & 0xFF) as u8).collect();
        if rng.below(2) == 0 {
            target.insert(0, b'/');
        }
        for options in &options {
            let _ = canonicalize(&target, options);
        }
    }
}

/// Pieces of targets that are often already canonical.
const PLAIN_TOKENS: &[&[u8]] = &[
    b"/", b"/", b"/", b"a", b"b", b"A", b"z9", b".", b"..", b"...", b".a", b";", b";x", b";..",
    b"?", b"=", b"&", b"~", b"-", b"_", b"//", b"*", b"4", b"%41", b"#", b"\\",
];

#[test]
fn the_one_pass_check_agrees_with_the_rules() {
    let option_sets = option_sets();
    let mut rng = XorShift(0x1234_5678_9ABC_DEF1);
    let mut agreed = 0usize;
    for round in 0..PATHS {
        let target = if round % 2 == 0 {
            generate(&mut rng)
        } else {
            let mut target = vec![b'/'];
            for _ in 0..rng.below(10) {
                let token = PLAIN_TOKENS.get(rng.below(PLAIN_TOKENS.len()));
                target.extend_from_slice(token.copied().unwrap_or(b"/"));
            }
            target
        };
        if target.first() != Some(&b'/') {
            continue;
        }
        for options in &option_sets {
            let plain = is_plainly_canonical(&target, options);
            if plain {
                agreed += 1;
                let unchanged = by_rules(&target, options).map(|c| {
                    (
                        c.as_str().as_bytes() == target,
                        c.is_changed(),
                        c.needs_redirect(),
                    )
                });
                assert_eq!(
                    unchanged,
                    Ok((true, false, false)),
                    "{:?} under {options:?}",
                    String::from_utf8_lossy(&target)
                );
            }
            // Whichever way it is found, the result is the same.
            assert_eq!(
                canonicalize(&target, options),
                by_rules(&target, options),
                "{:?} under {options:?}",
                String::from_utf8_lossy(&target)
            );
        }
    }
    assert!(
        agreed > PATHS,
        "only {agreed} targets were found canonical in one pass"
    );
}
