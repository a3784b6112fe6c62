//! proptest generators for the property tests of the wasmesh parsers and of the filters:
//! request targets, header names and values, trace-context headers, identities, CIDRs,
//! whole requests with their connection attributes, and filter configurations.
//!
//! The generators are biased toward each grammar (a path is built from segments, escapes,
//! dot segments and parameters, not from random bytes) and mix in hostile pieces: bytes
//! that are never valid, non-UTF-8, oversized values, repeated headers. [`run`] runs a
//! property with an explicit number of cases; [`note_input`] keeps the input of the case
//! being run so that a panic that aborts the process (a filter panicking inside the
//! proxy-wasm dispatcher's `extern "C"` callbacks) still prints it.
#![cfg(not(target_arch = "wasm32"))]

pub mod config;
pub mod headers;
pub mod identity;
pub mod path;
pub mod request;
pub mod trace;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestError, TestRunner};
use std::cell::RefCell;
use std::fmt::Debug;
use std::sync::Once;

/// Runs `property` on `cases` inputs drawn from `strategy` (the `PROPTEST_CASES`
/// environment variable overrides the count) and panics with the minimal failing input if
/// it fails. proptest keeps the seed of each failure in `<source_file>.proptest-regressions`
/// (`source_file` is the test's `file!()`) and replays those seeds first on every run.
pub fn run<S>(
    source_file: &'static str,
    cases: u32,
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: Debug,
{
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(cases);
    let config = Config {
        cases,
        source_file: Some(source_file),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        // Shrinking a failure re-runs the property; keep it bounded.
        max_shrink_iters: 4096,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    match runner.run(&strategy, property) {
        Ok(()) => {}
        Err(TestError::Fail(reason, input)) => {
            report_failure(&format!("{reason}\nminimal failing input: {input:#?}"))
        }
        Err(TestError::Abort(reason)) => report_failure(&format!("aborted: {reason}")),
    }
}

#[allow(clippy::panic)]
fn report_failure(message: &str) {
    panic!("property failed: {message}");
}

thread_local! {
    static CURRENT_INPUT: RefCell<Option<Box<dyn Debug>>> = const { RefCell::new(None) };
}

/// Remembers `input` as the input of the case being run on this thread: when the process
/// aborts on a panic (as it does for a panic inside an `extern "C"` callback of the
/// emulated host), the panic hook prints it first. Returns a guard that forgets it.
pub fn note_input<T: Debug + Clone + 'static>(input: &T) -> InputGuard {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // `try_with`: the hook may run while this thread's locals are being destroyed.
            let _ = CURRENT_INPUT.try_with(|current| {
                if let Ok(current) = current.try_borrow() {
                    if let Some(input) = current.as_ref() {
                        eprintln!("input of the case that panicked:\n{input:#?}");
                    }
                }
            });
            previous(info);
        }));
    });
    CURRENT_INPUT.with(|current| *current.borrow_mut() = Some(Box::new(input.clone())));
    InputGuard(())
}

/// Forgets the noted input when dropped (see [`note_input`]).
#[derive(Debug)]
pub struct InputGuard(());

impl Drop for InputGuard {
    fn drop(&mut self) {
        let _ = CURRENT_INPUT.try_with(|current| *current.borrow_mut() = None);
    }
}

/// Bytes shown as escaped text (`b"/a%2F\xff"`), long ones cut, in `Debug` output.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Bytes(pub Vec<u8>);

impl Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const SHOWN: usize = 160;
        match self.0.get(..SHOWN) {
            Some(head) if self.0.len() > SHOWN => write!(
                f,
                "b\"{}\"... ({} bytes)",
                head.escape_ascii(),
                self.0.len()
            ),
            _ => write!(f, "b\"{}\"", self.0.escape_ascii()),
        }
    }
}

/// Strings matching `pattern`, a regular expression written in this crate. The pattern is
/// parsed once here, not once per generated value as a `&str` strategy would.
#[allow(clippy::expect_used)]
pub fn regex(pattern: &str) -> proptest::strategy::BoxedStrategy<String> {
    proptest::string::string_regex(pattern)
        .expect("a valid pattern")
        .boxed()
}

/// Concatenates byte pieces.
pub fn concat(pieces: Vec<Vec<u8>>) -> Vec<u8> {
    pieces.concat()
}

/// `text` as a JSON string literal.
pub fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
