//! `add_checked` / `record_checked`: recordings report whether they went to the overflow set.
#![cfg(not(target_arch = "wasm32"))]

use wasmesh_sdk::metrics::{Counter, Histogram, Recorded};
use wasmesh_sdk::testing::Host;
use wasmesh_sdk::{ConfigError, Filter};

struct Nothing;

impl Filter for Nothing {
    const NAME: &'static str = "nothing";
    type Config = ();
    type Stream = ();

    fn compile(_: ()) -> Result<Self, ConfigError> {
        Ok(Nothing)
    }
}

#[test]
fn checked_recordings_tell_tagged_from_overflow() {
    let host = Host::new(wasmesh_sdk::register::<Nothing>);
    let counter = Counter::new("m_total", &["who"]).with_tag_set_cap(1);
    let histogram = Histogram::new("h", &["who"]).with_tag_set_cap(1);
    assert_eq!(counter.add_checked(&["a"], 2), Recorded::Tagged);
    assert_eq!(counter.add_checked(&["a"], 1), Recorded::Tagged);
    assert_eq!(counter.add_checked(&["b"], 1), Recorded::Overflow);
    assert_eq!(histogram.record_checked(&["a"], 5), Recorded::Tagged);
    assert_eq!(histogram.record_checked(&["b"], 6), Recorded::Overflow);
    assert_eq!(
        host.counter(&Host::stat_name("m_total", &[("who", "a")])),
        Some(3)
    );
    assert_eq!(
        host.counter(&Host::stat_name("m_total", &[("who", "other")])),
        Some(1)
    );
    let other = host
        .metric(&Host::stat_name("h", &[("who", "other")]))
        .unwrap_or_else(|| {
            unreachable!("the overflow histogram is defined");
        });
    assert_eq!(other.samples, vec![6]);
}

#[test]
fn values_cut_to_the_same_tag_are_one_tag_set() {
    let host = Host::new(wasmesh_sdk::register::<Nothing>);
    let counter = Counter::new("long_total", &["who", "what"]).with_tag_set_cap(2);
    let prefix = "x".repeat(wasmesh_sdk::metrics::MAX_TAG_VALUE_LEN);
    let (one, two) = (format!("{prefix}-one"), format!("{prefix}-two"));
    assert_eq!(counter.add_checked(&[&one, "a"], 1), Recorded::Tagged);
    assert_eq!(counter.add_checked(&[&two, "a"], 1), Recorded::Tagged);
    // Values are not run together: ("a", "b") and ("ab", "") are two tag sets.
    assert_eq!(counter.add_checked(&["a", "b"], 1), Recorded::Tagged);
    assert_eq!(counter.add_checked(&["ab", ""], 1), Recorded::Overflow);
    assert_eq!(counter.add_checked(&["a", "b"], 1), Recorded::Tagged);
    assert_eq!(
        host.counter(&Host::stat_name(
            "long_total",
            &[("who", &prefix), ("what", "a")]
        )),
        Some(2)
    );
    let defined = host
        .metrics()
        .iter()
        .filter(|m| m.name.starts_with("long_total"))
        .count();
    assert_eq!(defined, 3, "{:?}", host.metrics());
}
