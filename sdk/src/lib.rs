//! # wasmesh-sdk
//!
//! A small SDK for Envoy proxy-wasm HTTP filters in Rust, and the base of the wasmesh
//! filters (header normalization, access control, trace propagation, service metrics).
//!
//! A filter is a configuration type, a compile step and per-request callbacks — see
//! [`Filter`]. The SDK wires the proxy-wasm contexts, parses the plugin configuration
//! (refusing a bad one with one log line naming the JSON path), and shares the compiled
//! filter with every request. Several filters can run in one module as a [`chain`].
//!
//! Modules that talk to the host need the default `host` feature; the `testing` feature
//! adds a native emulator of the proxy-wasm host so `cargo test` drives filters through
//! the real proxy-wasm dispatcher (see the `testing` module).
//!
//! ```ignore
//! use wasmesh_sdk::{ConfigError, Filter, Flow, Http};
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Config { greeting: String }
//!
//! struct Hello { greeting: Vec<u8> }
//!
//! impl Filter for Hello {
//!     const NAME: &'static str = "hello";
//!     type Config = Config;
//!     type Stream = ();
//!     fn compile(config: Config) -> Result<Self, ConfigError> {
//!         Ok(Hello { greeting: config.greeting.into_bytes() })
//!     }
//!     fn on_request_headers(&self, _: &mut (), http: &Http) -> Flow {
//!         http.set_request_header("x-greeting", &self.greeting);
//!         Flow::Continue
//!     }
//! }
//!
//! wasmesh_sdk::export_filter!(Hello);
//! ```

pub mod allocator;
pub mod config;
pub mod headers;
pub mod hooks;
pub mod identity;
pub mod metrics;
pub mod path;
pub mod random;
pub mod reply;
pub mod trace;
pub mod wire;
pub mod workload;

#[cfg(feature = "host")]
pub mod chain;
#[cfg(feature = "host")]
pub mod filter;
#[cfg(feature = "host")]
pub mod host;
#[cfg(feature = "host")]
pub mod http;
#[cfg(feature = "host")]
mod logging;
#[cfg(feature = "host")]
pub mod properties;
#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
pub mod testing;

pub use config::ConfigError;
pub use headers::HeaderMap;
pub use hooks::Hooks;
pub use reply::{Flow, LocalReply};

#[cfg(feature = "host")]
pub use filter::{load, register, Filter};
#[cfg(feature = "host")]
pub use http::{Http, VerifiedCaller};

/// Re-exported for [`export_filter!`]; not part of the SDK's API.
#[cfg(feature = "host")]
#[doc(hidden)]
pub use proxy_wasm as __proxy_wasm;
