//! # wasmesh-sdk
//!
//! A small SDK for Envoy proxy-wasm HTTP filters in Rust, and the base of the wasmesh
//! filters (header normalization, access control, trace propagation, service metrics).
//!
//! A filter is a compile step and per-request callbacks — see [`Filter`]. The SDK wires
//! the proxy-wasm contexts, reads the plugin configuration (refusing a bad one with one log
//! line naming the JSON path), and shares the compiled filter with every request. Several
//! filters can run in one module as a [`chain`].
//!
//! Every callback gets the [`Host`], the one seam to Envoy: request and response headers,
//! connection facts, the caller an earlier filter verified, time, randomness and metrics.
//! A filter keeps its request logic a plain function with no host calls, returning an
//! [`Outcome`] (header edits, verified caller, local reply) that the SDK applies:
//!
//! ```ignore
//! use wasmesh_sdk::config::reader::Node;
//! use wasmesh_sdk::{ConfigError, Filter, Flow, HeaderEdit, HeaderMap, Host, Outcome};
//!
//! struct Hello { greeting: String }
//!
//! impl Hello {
//!     /// The request logic: no host calls, tested with a plain `HeaderMap`.
//!     fn decide(&self, _request: &HeaderMap) -> Outcome<'_> {
//!         Outcome::edit(vec![HeaderEdit::Set("x-hello", self.greeting.as_bytes().into())])
//!     }
//! }
//!
//! impl Filter for Hello {
//!     const NAME: &'static str = "hello";
//!     type Stream = ();
//!     fn compile(config: &Node<'_>, _: &dyn Host) -> Result<Self, ConfigError> {
//!         let fields = config.object(&["greeting"])?;
//!         Ok(Hello { greeting: fields.present("greeting")?.string()? })
//!     }
//!     fn on_request_headers(&self, _: &mut (), host: &dyn Host) -> Flow {
//!         host.apply_to_request(self.decide(&host.request_headers()))
//!     }
//! }
//!
//! wasmesh_sdk::export_filter!(Hello);
//! ```
//!
//! Modules that talk to the host need the default `host` feature. Tests drive a filter
//! through the real proxy-wasm dispatcher with the `wasmesh-testing` emulator, natively
//! and against the built module.

#![warn(missing_docs)]

pub mod allocator;
pub mod config;
pub mod headers;
pub mod hooks;
pub mod metrics;
pub mod random;
pub mod reply;
pub mod wire;

#[cfg(feature = "host")]
pub mod chain;
#[cfg(feature = "host")]
pub mod filter;
#[cfg(feature = "host")]
mod host;
#[cfg(feature = "host")]
mod http;
#[cfg(feature = "host")]
mod logging;
#[cfg(feature = "host")]
pub mod properties;
#[cfg(feature = "host")]
pub mod routes;
#[cfg(feature = "host")]
pub mod seam;

pub use config::ConfigError;
pub use headers::HeaderMap;
pub use hooks::Hooks;
pub use reply::{Flow, LocalReply};

#[cfg(feature = "host")]
pub use filter::{load, load_routed, register, Filter};
#[cfg(feature = "host")]
pub use properties::{AttributeBatch, AttributeValues};
#[cfg(feature = "host")]
pub use seam::{HeaderEdit, Host, MetricChange, Outcome, Rerouted, VerifiedCaller};

// The unit tests run natively, where the host functions the SDK calls (WASI's `random_get`
// among them) are the host emulator's.
#[cfg(all(test, not(target_arch = "wasm32")))]
use wasmesh_testing as _;

/// Re-exported for [`export_filter!`]; not part of the SDK's API.
#[cfg(feature = "host")]
#[doc(hidden)]
pub use proxy_wasm as __proxy_wasm;
