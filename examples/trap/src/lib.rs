//! trap: a test fixture for Envoy's wasm `failure_policy`, not a filter to deploy.
//!
//! A request carrying the trigger header makes the module execute the wasm
//! `unreachable` instruction: a trap, which leaves the VM failed the way a
//! faulty build would (not a Rust panic, which the SDK would never let out).
//! Every other request gets the header `x-trap-filter: passed`, so a test can
//! tell whether the filter ran (FAIL_RELOAD: a fresh VM runs it) or was
//! skipped (FAIL_OPEN).
//!
//! Configuration: `{"trigger_header": "x-trap"}` (the default when the
//! configuration is empty).

use wasmesh_sdk::config::reader::Node;
use wasmesh_sdk::hooks::Hooks;
use wasmesh_sdk::{ConfigError, Filter, Flow, HeaderEdit, Host, Outcome};

/// The header added to every request the filter lets through.
pub const PASSED_HEADER: &str = "x-trap-filter";

/// The compiled filter.
pub struct Trap {
    trigger_header: String,
}

impl Filter for Trap {
    const NAME: &'static str = "trap";
    const HOOKS: Hooks = Hooks::REQUEST_HEADERS;
    type Stream = ();
    const DEFAULT_CONFIG: Option<&'static str> = Some(r#"{"trigger_header": "x-trap"}"#);

    /// `{"trigger_header": "<name>"}`: a request with this header (any value) traps.
    fn compile(config: &Node<'_>, _: &dyn Host) -> Result<Self, ConfigError> {
        let fields = config.object(&["trigger_header"])?;
        let name = fields
            .present("trigger_header")?
            .string()?
            .to_ascii_lowercase();
        if name.is_empty() || name.starts_with(':') {
            return Err(ConfigError::at(
                "trigger_header",
                "must be a regular header name",
            ));
        }
        Ok(Trap {
            trigger_header: name,
        })
    }

    fn on_request_headers(&self, _: &mut (), host: &dyn Host) -> Flow {
        if host.request_headers().count(&self.trigger_header) > 0 {
            trap();
        }
        let passed = HeaderEdit::Set(PASSED_HEADER, b"passed".as_slice().into());
        host.apply_to_request(Outcome::edit(vec![passed]))
    }
}

/// Stops the VM with a wasm trap (natively, as in emulator tests: aborts the process).
fn trap() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    std::process::abort();
}

wasmesh_sdk::export_filter!(Trap);
