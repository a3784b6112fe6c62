//! The demo mesh behind `make run` (see `examples/mesh/README.md`).
//!
//! * [`app`]: the services' application, a tiny HTTP/1.1 server that answers with what it
//!   received and calls its dependencies through its outbound sidecar, copying the trace
//!   headers it received — the only tracing duty an application has in a wasmesh mesh.
//! * [`topology`]: the workloads, who calls whom, the fixed ports of the Envoy
//!   configurations in `examples/mesh/envoy/`.
//! * [`mesh`]: [`mesh::Mesh::start`] runs it all (certificates, applications, four Envoys)
//!   and stops it on drop; used by the `mesh` binary and by the e2e test.
//! * [`render`], [`certs`], [`server`], [`guide`], [`cli`]: its parts.
//!
//! Only [`app`] and [`topology`] exist on wasm32 (the workspace lints every crate for
//! wasm32); the orchestrator runs Envoy and is native only.

pub mod app;
pub mod topology;

#[cfg(not(target_family = "wasm"))]
pub mod certs;
#[cfg(not(target_family = "wasm"))]
pub mod cli;
#[cfg(not(target_family = "wasm"))]
pub mod guide;
#[cfg(not(target_family = "wasm"))]
pub mod mesh;
#[cfg(not(target_family = "wasm"))]
pub mod render;
#[cfg(not(target_family = "wasm"))]
pub mod server;

#[cfg(not(target_family = "wasm"))]
pub use mesh::{Mesh, Ports};
