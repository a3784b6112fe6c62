//! End-to-end test harness for wasmesh: runs a real Envoy with the project's
//! wasm filters in front of an [`EchoServer`], and talks to it with a raw
//! HTTP/1.1 client.
//!
//! ```no_run
//! use wasmesh_e2e::{http, EchoServer, Envoy, EnvoyConfig};
//!
//! let app = EchoServer::start()?;
//! let config = EnvoyConfig::from_file("basic.yaml")?.upstream(8000, app.port());
//! let envoy = Envoy::start(&config)?;
//! let response = http::get(envoy.listener("ingress")?, "/%2e%2e/admin", &[])?;
//! assert_eq!(response.status, 200);
//! # Ok::<(), String>(())
//! ```
//!
//! * [`paths`]: where the repository, `dist/` and the Envoy binary are.
//! * [`EnvoyConfig`]: a config file plus the textual rewrites that let it run in tests.
//! * [`Envoy`]: a running Envoy, stopped and reaped on drop.
//! * [`EchoServer`]: the upstream application, answering with what it received.
//! * [`http`]: the raw HTTP/1.1 client.
//! * [`lenient`]: how a lenient application reads a request path, for checking that a
//!   denied path never reaches one.
//! * [`modules`]: variants of a built module for delivery tests.
//! * [`prometheus`]: a real Prometheus scraping Envoys, queried through its HTTP API.
//! * [`pki`]: test certificates (a CA and the leaf certificates it issues), made with
//!   the `rcgen` crate.
//! * [`registry`]: a local OCI registry (Debian's `docker-registry`) and the
//!   `wasmesh-oci` tool that pushes the module images to it.

pub mod config;
pub mod control_plane;
pub mod echo;
pub mod envoy;
pub mod http;
pub mod lenient;
pub mod modules;
pub mod paths;
pub mod pki;
pub mod process;
pub mod prometheus;
pub mod registry;
mod wire;

pub use config::EnvoyConfig;
pub use echo::{EchoRequest, EchoResponse, EchoServer};
pub use envoy::Envoy;
pub use http::Response;
pub use paths::{dist_dir, envoy_bin, repo_root, test_configs_dir};
pub use process::process_exists;
pub use prometheus::{Prometheus, PrometheusConfig};
