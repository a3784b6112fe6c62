//! The demo mesh's application: a tiny HTTP/1.1 service that answers with what it received
//! and calls its dependencies through its outbound sidecar, copying the trace headers it
//! received — the only tracing duty an application has in a wasmesh mesh.

pub mod app;
