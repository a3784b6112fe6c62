//! Tests of [`canonicalize`](super::canonicalize) as a whole: one per rule and
//! option value, the RFC 3986 examples, a table of hostile paths, a
//! property-style run over generated paths, and the no-allocation fast path.

#[cfg(all(test, not(target_arch = "wasm32")))]
mod allocation;
mod hostile;
mod property;
mod rfc3986;
mod rules;

use super::{canonicalize, PathOptions};

/// Canonicalizes `target` and returns the whole canonical target, or the rule name.
fn run(target: &[u8], options: &PathOptions) -> Result<String, &'static str> {
    canonicalize(target, options)
        .map(|canonical| canonical.as_str().to_owned())
        .map_err(|rejection| rejection.rule())
}

/// Default options changed by `change`.
fn options_with(change: impl FnOnce(&mut PathOptions)) -> PathOptions {
    let mut options = PathOptions::default();
    change(&mut options);
    options
}
