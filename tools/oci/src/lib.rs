//! Packs the wasmesh modules as OCI images that Istio's `WasmPlugin` and Envoy
//! Gateway's Wasm extension fetch, writes them as OCI image layouts, and pushes
//! them to (and pulls them from) a registry.
//!
//! * [`image`]: the two variants of one module (oci and compat), byte for byte
//!   reproducible.
//! * [`layout`]: one OCI image layout per module on disk (`dist/oci/<module>/`),
//!   written and read back with every digest checked.
//! * [`registry`]: push and pull with `oci-client`.
//! * [`cli`]: the `wasmesh-oci` command line.
//!
//! A native tool: built for wasm32 (as the workspace's filter lint does) the
//! crate is empty.

#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
#[cfg(not(target_arch = "wasm32"))]
pub mod image;
#[cfg(not(target_arch = "wasm32"))]
pub mod layout;
#[cfg(not(target_arch = "wasm32"))]
pub mod registry;
