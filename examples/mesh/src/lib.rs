//! The demo mesh behind `make run` (see `examples/mesh/README.md`).
//!
//! * [`app`]: the services' application, a small HTTP/1.1 service (hyper on tokio) that
//!   answers with what it received and calls its dependencies through its outbound sidecar,
//!   copying the trace headers it received — the only tracing duty an application has in a
//!   wasmesh mesh.
//! * [`topology`]: the workloads, who calls whom, the fixed ports of the Envoy
//!   configurations in `examples/mesh/envoy/`.
//! * [`mesh`]: [`mesh::Mesh::start`] runs it all (certificates, applications, four Envoys)
//!   and stops it on drop; used by the `mesh` binary and by the e2e test.
//! * [`prometheus`]: Prometheus scraping every sidecar with the SLO rules loaded
//!   (`make run PROMETHEUS=1`, the dashboard tests).
//! * [`render`], [`certs`], [`server`], [`guide`], [`cli`]: its parts.
//!
//! Only [`topology`] exists on wasm32 (the workspace lints every crate for wasm32): the
//! applications run on tokio and the orchestrator runs Envoy, both native only.

pub mod topology;

#[cfg(not(target_family = "wasm"))]
pub mod app;
#[cfg(not(target_family = "wasm"))]
pub mod certs;
#[cfg(not(target_family = "wasm"))]
pub mod cli;
#[cfg(not(target_family = "wasm"))]
pub mod guide;
#[cfg(not(target_family = "wasm"))]
pub mod mesh;
#[cfg(not(target_family = "wasm"))]
pub mod prometheus;
#[cfg(not(target_family = "wasm"))]
pub mod render;
#[cfg(not(target_family = "wasm"))]
pub mod server;

#[cfg(not(target_family = "wasm"))]
pub use mesh::{Mesh, Ports};
