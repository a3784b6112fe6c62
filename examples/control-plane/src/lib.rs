//! wasmesh-cp: a small xDS control plane that delivers wasmesh filters to
//! Envoy as ECDS resources over ADS (gRPC, state of the world).
//!
//! * [`declaration`]: the declarative file (filters, versions, rollouts).
//! * [`wasm_check`]: what is checked about a module before it is sent.
//! * [`resource`]: a filter version as an ECDS `TypedExtensionConfig`.
//! * [`snapshot`]: the declarative file with every module loaded and checked.
//! * [`stream`]: one ADS stream's protocol state (nonces, ACK, NACK, latency).
//! * [`canary`]: staged rollouts, each stage widened once ACKed by every node.
//! * [`ads`]: the gRPC service.
//! * [`registry`] and [`status`]: per node and version ACK/NACK records, and
//!   the `GET /status` document; [`http_status`] serves it.
//! * [`watcher`]: reloads when the declarative file or a module changes.
//! * [`cli`] and [`server`]: the command line and the process.

// A native server: on wasm32 (the target of the workspace's filters) there is nothing to build.
#![cfg(not(target_arch = "wasm32"))]

pub mod ads;
pub mod canary;
pub mod cli;
pub mod declaration;
pub mod http_status;
pub mod log;
pub mod registry;
pub mod resource;
pub mod server;
pub mod snapshot;
pub mod status;
pub mod stream;
pub mod wasm_check;
pub mod watcher;
