//! The filter as a stage of a chain (as in the `wasmesh` bundle), in the host emulator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use header_normalization::HeaderNormalization;
use wasmesh_sdk::chain::{stage, Bundle, Chain, StageFactory};
use wasmesh_testing::{Host, LogLevel};

struct OnlyNormalization;

impl Bundle for OnlyNormalization {
    const NAME: &'static str = "bundle";

    fn stages() -> Vec<(&'static str, StageFactory)> {
        vec![stage::<HeaderNormalization>()]
    }
}

/// The bundle of this test, natively: it has no built module (the `wasmesh` bundle's own
/// tests run its chains against dist/wasmesh.wasm too).
fn bundle_host() -> Host {
    Host::native::<Chain<OnlyNormalization>>()
}

fn chain_host(config: &str) -> Host {
    let host = bundle_host();
    assert!(host.configure(config), "{:?}", host.logs());
    host
}

#[test]
fn the_stage_normalizes_and_refuses_as_alone() {
    let host = chain_host(
        r#"{"chain": [{"name": "header-normalization",
                       "config": {"path": {"escaped_slashes": "unescape_and_redirect"}}}]}"#,
    );
    let outcome = common::send(&host, &common::get("/a/./b", &[("x_a", "1")]));
    assert_eq!(outcome.path(), "/a/b");
    assert_eq!(outcome.values("x_a"), Vec::<&str>::new());
    let outcome = common::send(&host, &common::get("/a%2fb", &[]));
    assert_eq!(outcome, common::Outcome::Redirected("/a/b".to_owned()));
    let outcome = common::send(&host, &common::get("/a#b", &[]));
    assert_eq!(outcome.rule(), "fragment");
    assert_eq!(common::counter(&host, "rejected", "fragment"), Some(1));
}

#[test]
fn a_stage_without_config_uses_the_defaults() {
    let host = chain_host(r#"{"chain": [{"name": "header-normalization"}]}"#);
    let outcome = common::send(&host, &common::get("/a%2fb", &[]));
    assert_eq!(outcome.rule(), "escaped_slash");
}

#[test]
fn stage_config_errors_carry_the_chain_path() {
    let host = bundle_host();
    assert!(!host.configure(
        r#"{"chain": [{"name": "header-normalization", "config": {"renames": [{"from": "a", "to": "a"}]}}]}"#
    ));
    assert!(
        host.logged(
            LogLevel::Critical,
            "bundle: config.chain[0].config.renames[0].to: "
        ),
        "{:?}",
        host.logs()
    );
}

#[test]
fn the_stage_takes_its_own_routes() {
    let host = chain_host(
        r#"{"chain": [{"name": "header-normalization", "config": {"routes": [
            {"match": {"route_name": "admin"}, "underscores_in_names": "reject"}]}}]}"#,
    );
    let headers = common::get("/a", &[("x_a", "1")]);
    let stream = host.stream();
    stream.set_property(&["xds", "route_name"], "admin");
    let action = stream.send_request_headers(&headers);
    assert_eq!(common::outcome(&stream, action).rule(), "underscore_header");
    let outcome = common::send(&host, &headers);
    assert_eq!(outcome.values("x_a"), Vec::<&str>::new());

    let host = bundle_host();
    assert!(!host.configure(
        r#"{"chain": [{"name": "header-normalization", "config": {"routes": [
            {"match": {"route_name": "admin"}, "max_headers": 0}]}}]}"#
    ));
    assert!(
        host.logged(
            LogLevel::Critical,
            "bundle: config.chain[0].config.routes[0].max_headers: `0` (no limit) is weaker \
             than the listener's `100`"
        ),
        "{:?}",
        host.logs()
    );
}
