//! The wasmesh bundle: header normalization, access control, trace propagation and
//! service metrics in one module, run as a chain whose order and stages come from the
//! configuration (see `wasmesh_sdk::chain`). One VM and one set of wasm crossings per
//! request instead of four.

use access_control::AccessControl;
use header_normalization::HeaderNormalization;
use service_metrics::ServiceMetrics;
use trace_propagation::TracePropagation;
use wasmesh_sdk::chain::{stage, Bundle, Chain, StageFactory};
use wasmesh_sdk::{Filter, Hooks};

/// The filters the bundle offers.
pub struct Wasmesh;

impl Bundle for Wasmesh {
    const NAME: &'static str = "wasmesh";
    const HOOKS: Hooks = HeaderNormalization::HOOKS
        .and(AccessControl::HOOKS)
        .and(TracePropagation::HOOKS)
        .and(ServiceMetrics::HOOKS);

    fn stages() -> Vec<(&'static str, StageFactory)> {
        vec![
            stage::<HeaderNormalization>(),
            stage::<AccessControl>(),
            stage::<TracePropagation>(),
            stage::<ServiceMetrics>(),
        ]
    }
}

/// The bundle as a filter.
pub type WasmeshChain = Chain<Wasmesh>;

wasmesh_sdk::export_filter!(WasmeshChain);
