//! RFC 3986 §5.2.4 worked examples and the §5.4 reference-resolution examples
//! whose references are paths (no scheme, no authority), resolved against the
//! base path `/b/c/d;p` of the base URI `http://a/b/c/d;p?q`.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use super::run;
use crate::examples::{RFC3986_ABNORMAL, RFC3986_NORMAL};
use crate::{remove_dot_segments, PathOptions};

const BASE_PATH: &str = "/b/c/d;p";

/// The path component of a relative reference or a resolved target: before
/// any `?` or `#`.
fn reference_path(reference: &str) -> &str {
    reference.split(['?', '#']).next().unwrap_or_default()
}

/// §5.2.3 merge for a base with a path: the reference appended to all but the
/// last segment of the base path.
fn merge(base_path: &str, reference_path: &str) -> String {
    let directory = base_path
        .rfind('/')
        .and_then(|slash| base_path.get(..=slash))
        .unwrap_or_default();
    format!("{directory}{reference_path}")
}

/// The un-normalized path §5.2.2 hands to remove_dot_segments (or, for an
/// empty reference path, the base path itself).
fn merged_path(reference: &str) -> String {
    let path = reference_path(reference);
    if path.is_empty() {
        BASE_PATH.to_owned()
    } else if path.starts_with('/') {
        path.to_owned()
    } else {
        merge(BASE_PATH, path)
    }
}

/// §5.2.2 target path for a reference without scheme or authority.
fn resolve(reference: &str) -> String {
    let path = reference_path(reference);
    if path.is_empty() {
        BASE_PATH.to_owned()
    } else {
        remove_dot_segments(&merged_path(reference))
    }
}

#[test]
fn normal_examples() {
    for (reference, target) in RFC3986_NORMAL {
        assert_eq!(resolve(reference), reference_path(target), "{reference:?}");
    }
}

#[test]
fn abnormal_examples() {
    for (reference, target) in RFC3986_ABNORMAL {
        assert_eq!(resolve(reference), reference_path(target), "{reference:?}");
    }
}

#[test]
fn canonicalize_agrees_on_the_merged_paths() {
    let options = PathOptions::default();
    for (reference, target) in RFC3986_NORMAL.iter().chain(RFC3986_ABNORMAL.iter()) {
        let merged = merged_path(reference);
        assert_eq!(
            run(merged.as_bytes(), &options).as_deref(),
            Ok(reference_path(target)),
            "{reference:?} merged to {merged:?}"
        );
    }
}
