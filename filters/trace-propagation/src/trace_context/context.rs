//! The format-independent span context and sampling decision shared by W3C and B3.

use super::ids::{SpanId, TraceId};

/// A sampling decision as propagated between services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Sampling {
    /// Record this trace (W3C `sampled` flag set, B3 `1`).
    Sampled,
    /// Do not record this trace (W3C `sampled` flag unset, B3 `0`).
    NotSampled,
    /// No decision yet: the receiver decides (B3 sends no sampling state). W3C cannot
    /// express this and sends it as not sampled.
    #[default]
    Deferred,
    /// Forced recording for troubleshooting (B3 `d` or `X-B3-Flags: 1`); implies sampled.
    /// W3C has no debug flag and sends it as sampled.
    Debug,
}

impl Sampling {
    /// `Some(true)` for sampled or debug, `Some(false)` for not sampled, `None` when
    /// deferred.
    pub fn is_sampled(self) -> Option<bool> {
        match self {
            Self::Sampled | Self::Debug => Some(true),
            Self::NotSampled => Some(false),
            Self::Deferred => None,
        }
    }

    /// The decision carried by a W3C `sampled` flag: [`Sampling::Sampled`] or
    /// [`Sampling::NotSampled`].
    pub fn from_sampled_flag(sampled: bool) -> Self {
        if sampled {
            Self::Sampled
        } else {
            Self::NotSampled
        }
    }
}

/// The position of a request in a trace, independent of the header format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanContext {
    /// The trace this request belongs to.
    pub trace_id: TraceId,
    /// The span of the caller that sent the request (W3C `parent-id`, B3 `SpanId`).
    pub span_id: SpanId,
    /// The sampling decision for the trace.
    pub sampling: Sampling,
}

impl SpanContext {
    /// Starts a new trace: random trace and span ids (never zero) with `sampling`.
    ///
    /// The whole trace id is random, so a W3C `traceparent` made from it may set the
    /// random-trace-id flag (see [`TraceParent::from_span_context`](super::TraceParent::from_span_context)).
    pub fn new_root(sampling: Sampling, random: &mut dyn FnMut(&mut [u8])) -> Self {
        Self {
            trace_id: TraceId::random(random),
            span_id: SpanId::random(random),
            sampling,
        }
    }

    /// The context for an outgoing request that continues this trace: same trace id and
    /// sampling, new random span id.
    pub fn child(&self, random: &mut dyn FnMut(&mut [u8])) -> Self {
        Self {
            span_id: SpanId::random(random),
            ..*self
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn sampling_maps_to_a_sampled_bit() {
        assert_eq!(Sampling::Sampled.is_sampled(), Some(true));
        assert_eq!(Sampling::Debug.is_sampled(), Some(true));
        assert_eq!(Sampling::NotSampled.is_sampled(), Some(false));
        assert_eq!(Sampling::Deferred.is_sampled(), None);
        assert_eq!(Sampling::from_sampled_flag(true), Sampling::Sampled);
        assert_eq!(Sampling::from_sampled_flag(false), Sampling::NotSampled);
    }

    #[test]
    fn root_and_child_contexts_have_non_zero_ids() {
        let mut zeros = |buf: &mut [u8]| buf.fill(0);
        let root = SpanContext::new_root(Sampling::Sampled, &mut zeros);
        assert!(!root.trace_id.is_zero());
        assert!(!root.span_id.is_zero());
        let mut sevens = |buf: &mut [u8]| buf.fill(7);
        let child = root.child(&mut sevens);
        assert_eq!(child.trace_id, root.trace_id);
        assert_eq!(child.sampling, Sampling::Sampled);
        assert_eq!(child.span_id, SpanId([7; 8]));
    }
}
