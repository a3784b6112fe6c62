//! Proof that an already-canonical target is returned without allocating.
//!
//! The test binary's global allocator is the SDK's
//! [`CountingAllocator`](wasmesh_testing::CountingAllocator), which tallies
//! allocations per thread, so tests running in parallel on other threads do
//! not disturb the count.

use std::borrow::Cow;

use super::options_with;
use crate::{canonicalize, EscapedSlashes, Fragment, PathOptions, PathParams};
use wasmesh_testing::{count_allocations, CountingAllocator};

#[global_allocator]
static COUNTING_ALLOCATOR: CountingAllocator = CountingAllocator;

/// Canonicalizes `target` and reports (allocations made, result was borrowed, canonical text).
fn measure(target: &[u8], options: &PathOptions) -> (usize, bool, Option<String>) {
    let ((result, borrowed), allocations) = count_allocations(|| {
        let result = canonicalize(target, options);
        let borrowed = matches!(
            result.as_ref().map(|c| c.clone().into_cow()),
            Ok(Cow::Borrowed(_))
        );
        (result, borrowed)
    });
    (
        allocations,
        borrowed,
        result.ok().map(|c| c.as_str().to_owned()),
    )
}

#[test]
fn canonical_targets_do_not_allocate() {
    let all_options = [
        PathOptions::default(),
        options_with(|o| {
            o.escaped_slashes = EscapedSlashes::Keep;
            o.path_params = PathParams::Strip;
            o.lowercase = true;
        }),
    ];
    let targets: [&[u8]; 7] = [
        b"*",
        b"/",
        b"/admin",
        b"/api/v1/users/42?limit=10&next=%2Fa%2F..%2F&x=\\",
        b"/static/app.min.js",
        b"/caf%C3%A9/%3F/%20/100%25/",
        b"/a-b_c~d/.well-known/e",
    ];
    for options in &all_options {
        for target in targets {
            let (allocations, borrowed, text) = measure(target, options);
            assert_eq!(text.as_deref().map(str::as_bytes), Some(target));
            assert!(borrowed, "{:?}", String::from_utf8_lossy(target));
            assert_eq!(allocations, 0, "{:?}", String::from_utf8_lossy(target));
        }
    }
}

#[test]
fn stripping_a_fragment_borrows_too() {
    let options = options_with(|o| o.fragment = Fragment::Strip);
    let (allocations, borrowed, text) = measure(b"/admin?q=1#top", &options);
    assert_eq!(text.as_deref(), Some("/admin?q=1"));
    assert!(borrowed);
    assert_eq!(allocations, 0);
}

#[test]
fn rewritten_targets_are_counted() {
    let (allocations, borrowed, text) = measure(b"/a/../b", &PathOptions::default());
    assert_eq!(text.as_deref(), Some("/b"));
    assert!(!borrowed);
    assert!(allocations > 0);
}
