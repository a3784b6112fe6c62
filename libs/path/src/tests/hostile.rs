//! A table of hostile request targets with their canonical form or rejection rule.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use super::run;
use crate::canonicalize;
use crate::examples::{Profile, HOSTILE_TARGETS};

#[test]
fn hostile_table() {
    assert!(HOSTILE_TARGETS.len() >= 45);
    for &(target, profile, expected) in HOSTILE_TARGETS {
        let options = profile.options();
        let got = run(target, &options);
        let seen = got.as_deref().map_err(|rule| *rule);
        assert_eq!(
            seen,
            expected,
            "{:?} under {profile:?}",
            String::from_utf8_lossy(target)
        );
        if let Ok(canonical) = got {
            let again = run(canonical.as_bytes(), &options);
            assert_eq!(again.as_deref(), Ok(canonical.as_str()), "not idempotent");
        }
    }
}

#[test]
fn redirect_is_flagged_only_for_unescaped_slashes() {
    let options = Profile::RedirectSlashes.options();
    let flagged = canonicalize(b"/admin%2fusers", &options).map(|c| c.needs_redirect());
    assert_eq!(flagged, Ok(true));
    let plain = canonicalize(b"/admin/%2e%2e/users", &options).map(|c| c.needs_redirect());
    assert_eq!(plain, Ok(false));
}
