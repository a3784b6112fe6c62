//! trap, driven through the proxy-wasm dispatcher by the native host emulator.
//! (The trapping path itself is exercised in Envoy: natively it aborts the process.)

use trap::{Trap, PASSED_HEADER};
use wasmesh_sdk::testing::{Action, Host};

#[test]
fn marks_requests_without_the_trigger() {
    let host = Host::new(wasmesh_sdk::register::<Trap>);
    assert!(host.configure(r#"{"trigger_header": "X-Boom"}"#));
    let stream = host.stream();
    let action = stream.send_request_headers(&[(":method", "GET"), (":path", "/")]);
    assert_eq!(action, Action::Continue);
    assert_eq!(
        stream.request_header(PASSED_HEADER).as_deref(),
        Some("passed")
    );
}

#[test]
fn an_empty_configuration_uses_x_trap() {
    let host = Host::new(wasmesh_sdk::register::<Trap>);
    assert!(host.configure(""));
}

#[test]
fn refuses_a_pseudo_header_trigger() {
    let host = Host::new(wasmesh_sdk::register::<Trap>);
    assert!(!host.configure(r#"{"trigger_header": ":path"}"#));
}
