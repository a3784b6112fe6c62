//! The wasmesh bundle: header normalization, access control, trace propagation and
//! service metrics in one module, run as a chain whose order and stages come from the
//! configuration (see `wasmesh_sdk::chain`). One VM and one set of wasm crossings per
//! request instead of four.

use wasmesh_sdk::chain::{stage, Bundle, Chain, StageFactory};

/// The filters the bundle offers.
pub struct Wasmesh;

impl Bundle for Wasmesh {
    const NAME: &'static str = "wasmesh";

    fn stages() -> Vec<(&'static str, StageFactory)> {
        vec![
            stage::<header_normalization::HeaderNormalization>(),
            stage::<access_control::AccessControl>(),
            stage::<trace_propagation::TracePropagation>(),
            stage::<service_metrics::ServiceMetrics>(),
        ]
    }
}

/// The bundle as a filter.
pub type WasmeshChain = Chain<Wasmesh>;

wasmesh_sdk::export_filter!(WasmeshChain);
