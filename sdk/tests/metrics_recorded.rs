//! `add_checked` / `record_checked`: recordings report whether they went to the overflow set.
//! The families run against an in-memory host that keeps the stats they define.
#![cfg(not(target_arch = "wasm32"))]

use wasmesh_sdk::metrics::{Counter, Histogram, Recorded};
use wasmesh_testing::MemoryHost;

#[test]
fn checked_recordings_tell_tagged_from_overflow() {
    let host = MemoryHost::new();
    let counter = Counter::new("m_total", &["who"]).with_tag_set_cap(1);
    let histogram = Histogram::new("h", &["who"]).with_tag_set_cap(1);
    assert_eq!(counter.add_checked(&host, &["a"], 2), Recorded::Tagged);
    assert_eq!(counter.add_checked(&host, &["a"], 1), Recorded::Tagged);
    assert_eq!(counter.add_checked(&host, &["b"], 1), Recorded::Overflow);
    assert_eq!(histogram.record_checked(&host, &["a"], 5), Recorded::Tagged);
    assert_eq!(
        histogram.record_checked(&host, &["b"], 6),
        Recorded::Overflow
    );
    assert_eq!(host.counter("m_total", &[("who", "a")]), Some(3));
    assert_eq!(host.counter("m_total", &[("who", "other")]), Some(1));
    let other = host
        .stats()
        .into_iter()
        .find(|s| s.name.starts_with("h.who=.=other"));
    assert_eq!(other.map(|s| s.samples), Some(vec![6]));
    assert_eq!(counter.value(&host, &["a"]), Some(3));
}

#[test]
fn values_cut_to_the_same_tag_are_one_tag_set() {
    let host = MemoryHost::new();
    let counter = Counter::new("long_total", &["who", "what"]).with_tag_set_cap(2);
    let prefix = "x".repeat(wasmesh_sdk::metrics::MAX_TAG_VALUE_LEN);
    let (one, two) = (format!("{prefix}-one"), format!("{prefix}-two"));
    assert_eq!(
        counter.add_checked(&host, &[&one, "a"], 1),
        Recorded::Tagged
    );
    assert_eq!(
        counter.add_checked(&host, &[&two, "a"], 1),
        Recorded::Tagged
    );
    // Values are not run together: ("a", "b") and ("ab", "") are two tag sets.
    assert_eq!(counter.add_checked(&host, &["a", "b"], 1), Recorded::Tagged);
    assert_eq!(
        counter.add_checked(&host, &["ab", ""], 1),
        Recorded::Overflow
    );
    assert_eq!(counter.add_checked(&host, &["a", "b"], 1), Recorded::Tagged);
    assert_eq!(
        host.counter("long_total", &[("who", &prefix), ("what", "a")]),
        Some(2)
    );
    let defined = host
        .stats()
        .iter()
        .filter(|s| s.name.starts_with("long_total"))
        .count();
    assert_eq!(defined, 3);
}
