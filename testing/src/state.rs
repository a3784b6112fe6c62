//! The emulated host's state, one per test thread, whichever backend runs the module.

use proxy_wasm::types::LogLevel;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use wasmesh_sdk::metrics::MetricKind;

pub(crate) type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// A local reply the filter sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentReply {
    /// Status code.
    pub status: u16,
    /// Response code details.
    pub details: String,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl SentReply {
    /// The body as UTF-8 text (lossy).
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A metric as the host recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    /// The stat name the filter defined (without Envoy's `wasmcustom.` prefix).
    pub name: String,
    /// What kind of metric it is.
    pub kind: MetricKind,
    /// Counter or gauge value.
    pub value: u64,
    /// Histogram samples, in order.
    pub samples: Vec<u64>,
}

/// One line the filter logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The level.
    pub level: LogLevel,
    /// The message.
    pub message: String,
}

#[derive(Debug, Default)]
pub(crate) struct StreamState {
    pub request_headers: Pairs,
    pub request_trailers: Pairs,
    pub response_headers: Pairs,
    pub response_trailers: Pairs,
    pub properties: HashMap<Vec<u8>, Vec<u8>>,
    pub local_reply: Option<SentReply>,
}

#[derive(Debug)]
pub(crate) struct State {
    pub plugin_config: Vec<u8>,
    pub vm_config: Vec<u8>,
    pub log_level: LogLevel,
    pub logs: Vec<LogLine>,
    pub now_nanos: u64,
    pub rng: crate::TestRng,
    pub properties: HashMap<Vec<u8>, Vec<u8>>,
    pub metrics: Vec<Metric>,
    pub current: u32,
    pub next_context_id: u32,
    pub streams: HashMap<u32, StreamState>,
    /// How many times each host function was called, by name.
    pub host_calls: BTreeMap<&'static str, u64>,
    /// The property paths read, dotted, in order.
    pub property_reads: Vec<String>,
    /// Whether `expr_create` and `expr_evaluate` are offered.
    pub foreign_functions: bool,
    /// The expressions `expr_create` compiled, by token: each a list of encoded attribute
    /// paths, and whether it is a list (`[a.b, c]`) rather than one attribute.
    pub expressions: Vec<(Vec<Vec<u8>>, bool)>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            plugin_config: Vec::new(),
            vm_config: Vec::new(),
            log_level: LogLevel::Trace,
            logs: Vec::new(),
            now_nanos: 1_700_000_000_000_000_000,
            rng: crate::TestRng::new(0x2545_f491_4f6c_dd1d),
            properties: HashMap::new(),
            metrics: Vec::new(),
            current: 0,
            next_context_id: 1,
            streams: HashMap::new(),
            host_calls: BTreeMap::new(),
            property_reads: Vec::new(),
            foreign_functions: true,
            expressions: Vec::new(),
        }
    }
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// Runs `f` on this thread's host state.
pub(crate) fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|state| f(&mut state.borrow_mut()))
}

impl State {
    pub fn stream(&mut self) -> Option<&mut StreamState> {
        self.streams.get_mut(&self.current)
    }

    pub fn property(&mut self, path: &[u8]) -> Option<Vec<u8>> {
        if let Some(value) = self.stream().and_then(|s| s.properties.get(path)) {
            return Some(value.clone());
        }
        self.properties.get(path).cloned()
    }
}
