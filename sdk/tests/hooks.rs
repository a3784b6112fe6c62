//! The emulator calls only the hooks a filter declares, as Envoy does with a pruned module.
#![cfg(not(target_arch = "wasm32"))]

use std::cell::Cell;
use wasmesh_sdk::config::reader::Node;
use wasmesh_sdk::{ConfigError, Filter, Flow, Hooks, Host};
use wasmesh_testing::Host as Emulator;

thread_local! {
    static LOGGED: Cell<u32> = const { Cell::new(0) };
    static RESPONSES: Cell<u32> = const { Cell::new(0) };
}

struct Declares<const LOG: bool>;

impl<const LOG: bool> Filter for Declares<LOG> {
    const NAME: &'static str = "declares";
    const HOOKS: Hooks = if LOG {
        Hooks::REQUEST_HEADERS.and(Hooks::LOG)
    } else {
        Hooks::REQUEST_HEADERS
    };
    type Stream = ();
    const DEFAULT_CONFIG: Option<&'static str> = Some("{}");

    fn compile(_: &Node<'_>, _: &dyn Host) -> Result<Self, ConfigError> {
        Ok(Declares)
    }

    fn on_response_headers(&self, _: &mut (), _: &dyn Host) -> Flow {
        RESPONSES.with(|r| r.set(r.get() + 1));
        Flow::Continue
    }

    fn on_log(&self, _: &mut (), _: &dyn Host) {
        LOGGED.with(|l| l.set(l.get() + 1));
    }
}

fn run<const LOG: bool>() -> (u32, u32) {
    LOGGED.with(|l| l.set(0));
    RESPONSES.with(|r| r.set(0));
    let host = Emulator::native::<Declares<LOG>>();
    assert!(host.configure(""));
    let stream = host.stream();
    stream.send_request_headers(&[(":path", "/")]);
    stream.send_response_headers(&[(":status", "200")]);
    stream.finish();
    (LOGGED.with(Cell::get), RESPONSES.with(Cell::get))
}

#[test]
fn undeclared_hooks_are_not_called() {
    // on_response_headers is implemented but not declared: a pruned module never gets it.
    assert_eq!(run::<false>(), (0, 0));
    assert_eq!(run::<true>(), (1, 0));
}
