//! trap, driven through the proxy-wasm dispatcher by the host emulator. The trapping path
//! runs against dist/trap.wasm only (natively it aborts the process), and in Envoy.

use std::panic::{catch_unwind, AssertUnwindSafe};
use trap::{Trap, PASSED_HEADER};
use wasmesh_testing::{Action, Backend, Host};

#[test]
fn marks_requests_without_the_trigger() {
    let host = Host::of::<Trap>();
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
    let host = Host::of::<Trap>();
    assert!(host.configure(""));
}

#[test]
fn refuses_a_pseudo_header_trigger() {
    let host = Host::of::<Trap>();
    assert!(!host.configure(r#"{"trigger_header": ":path"}"#));
}

#[test]
fn the_trigger_traps_the_module() {
    let host = Host::of::<Trap>();
    if host.backend() == Backend::Native {
        println!("the trap aborts a native process: only the built module (WASMESH_EMULATOR=dist) shows it");
        return;
    }
    assert!(host.configure(r#"{"trigger_header": "X-Boom"}"#));
    let stream = host.stream();
    let trapped = catch_unwind(AssertUnwindSafe(|| {
        stream.send_request_headers(&[(":method", "GET"), (":path", "/"), ("x-boom", "1")])
    }));
    let panic = trapped.expect_err("the trigger traps");
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .unwrap_or_default();
    assert!(
        message.contains("trap.wasm trapped in proxy_on_request_headers"),
        "{message}"
    );
    // As in Envoy, a VM that trapped gets no more callbacks: the stream ends quietly.
    assert_eq!(stream.request_header(PASSED_HEADER), None);
    stream.finish();
}
