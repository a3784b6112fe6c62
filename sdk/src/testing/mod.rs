//! A native emulator of the proxy-wasm host, for `cargo test`.
//!
//! It defines the `proxy_*` host functions the `proxy-wasm` crate imports, so a filter's
//! tests drive it through the real proxy-wasm dispatcher exactly as Envoy does (context
//! create, configure, request and response headers, log, done, delete), then read back
//! what the host saw: headers sent upstream, the local reply, metrics, log lines.
//!
//! Each test thread has its own host and its own dispatcher (both are thread-local), so
//! tests run in parallel without seeing each other.
//!
//! ```ignore
//! let host = Host::new(wasmesh_sdk::register::<Hello>);
//! assert!(host.configure(r#"{"greeting": "hi"}"#));
//! let stream = host.stream();
//! stream.send_request_headers(&[(":method", "GET"), (":path", "/")]);
//! assert_eq!(stream.request_header("x-greeting").as_deref(), Some("hi"));
//! stream.finish();
//! assert_eq!(host.counter("wasmesh_hello_requests_total"), Some(1));
//! ```
//!
//! For tests that prove a code path allocates nothing, [`CountingAllocator`] and
//! [`count_allocations`] count a thread's allocations.

mod abi;
mod allocation;
mod state;

pub use allocation::{count_allocations, CountingAllocator};
pub use proxy_wasm::types::{Action, LogLevel};
pub use state::{LogLine, Metric, SentReply};

use state::{with, Pairs, StreamState};

#[allow(improper_ctypes)]
extern "C" {
    fn proxy_on_context_create(context_id: u32, root_context_id: u32);
    fn proxy_on_vm_start(context_id: u32, vm_configuration_size: usize) -> bool;
    fn proxy_on_configure(context_id: u32, plugin_configuration_size: usize) -> bool;
    fn proxy_on_request_headers(context_id: u32, num_headers: usize, end_of_stream: bool)
        -> Action;
    fn proxy_on_response_headers(
        context_id: u32,
        num_headers: usize,
        end_of_stream: bool,
    ) -> Action;
    fn proxy_on_response_trailers(context_id: u32, num_trailers: usize) -> Action;
    fn proxy_on_done(context_id: u32) -> bool;
    fn proxy_on_log(context_id: u32);
    fn proxy_on_delete(context_id: u32);
}

/// The request every benchmark variant serves (bench/variants.toml `[request]`) as Envoy hands
/// it to the first filter: pseudo-headers first, `host` as `:authority`, names lowercase.
/// Envoy's connection manager also adds `x-envoy-external-address` and rewrites
/// `x-forwarded-*` and `x-request-id` before any filter (see `bench/host-calls`); tests that need
/// those add them. The tests and cost harnesses of the filters measure on this request.
pub const BENCHMARK_REQUEST: &[(&str, &str)] = &[
    (":authority", "orders.shop.svc.cluster.local"),
    (":path", "/api/v1/orders/12345?expand=items"),
    (":method", "GET"),
    (":scheme", "http"),
    (
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ),
    ("tracestate", "shop=t61rcWkgMzE"),
    ("x-service-name", "frontend"),
    ("user-agent", "shop-frontend/2.14.1 (okhttp/4.12.0)"),
    ("accept", "application/json"),
    ("accept-encoding", "gzip, deflate, br"),
    ("accept-language", "en-US,en;q=0.9"),
    (
        "authorization",
        "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJl",
    ),
    ("cookie", "session=7f3e9a1c; theme=dark"),
    ("x-request-id", "2b8f4c1e-6d3a-4f5b-9e7c-1a2b3c4d5e6f"),
    ("x-forwarded-for", "203.0.113.7"),
    ("x-forwarded-proto", "https"),
    ("cache-control", "no-cache"),
    ("referer", "https://shop.example.com/cart"),
    ("baggage", "user.tier=gold,session.region=eu-west-1"),
];

/// The access-control policy of the benchmark (bench/variants.toml `[configs]`): the caller
/// named by `x-service-name` from 127.0.0.1, `frontend` may read orders and `checkout` create
/// them. The tests of the filters that implement it (access-control, and the same policy
/// written the usual proxy-wasm way) use it as the benchmark does.
pub const BENCHMARK_ACCESS_POLICY: &str = r#"{
  "identity": {
    "sources": ["caller_header"],
    "caller_header": {"name": "x-service-name", "trusted_cidrs": ["127.0.0.1/32"]}
  },
  "rules": [
    {"name": "orders-read", "action": "allow", "callers": ["frontend"],
     "methods": ["GET", "HEAD"], "paths": [{"prefix": "/api/v1/orders"}]},
    {"name": "orders-write", "action": "allow", "callers": ["checkout"],
     "methods": ["POST"], "paths": [{"exact": "/api/v1/orders"}]}
  ]
}"#;

/// A deterministic generator (xorshift64*) for tests: the same seed gives the same
/// sequence, so a failure on generated input is reproducible. The emulator's random source
/// is one; property tests draw their inputs from one.
#[derive(Debug, Clone)]
pub struct TestRng(u64);

impl TestRng {
    /// A generator seeded with `seed` (0, which xorshift cannot leave, is taken as 1).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next 64 bits.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (`n` must not be 0).
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }

    /// One of `items` (which must not be empty).
    #[allow(clippy::indexing_slicing)]
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Fills `buf` from this thread's seeded generator (the host's random source in tests).
pub(crate) fn fill_random(buf: &mut [u8]) {
    with(|s| {
        for chunk in buf.chunks_mut(8) {
            let word = s.rng.next().to_le_bytes();
            for (dst, src) in chunk.iter_mut().zip(word) {
                *dst = src;
            }
        }
    });
}

/// Records the hooks of the filter being registered: the emulator then calls only those,
/// as Envoy does once the build has pruned the other exports.
pub(crate) fn declare_hooks(hooks: crate::hooks::Hooks) {
    with(|s| s.hooks = hooks);
}

fn has_hook(hook: crate::hooks::Hooks) -> bool {
    with(|s| s.hooks.contains(hook))
}

fn pruned() -> bool {
    with(|s| s.hooks != crate::hooks::Hooks::ALL)
}

fn pairs(headers: &[(&str, &str)]) -> Pairs {
    headers
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

fn text_pairs(pairs: &Pairs) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect()
}

/// A property value as Envoy encodes it.
pub trait PropertyValue {
    /// The encoded bytes.
    fn encode(&self) -> Vec<u8>;
}

impl PropertyValue for &str {
    fn encode(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}

impl PropertyValue for bool {
    fn encode(&self) -> Vec<u8> {
        vec![u8::from(*self)]
    }
}

impl PropertyValue for i64 {
    fn encode(&self) -> Vec<u8> {
        self.to_le_bytes().to_vec()
    }
}

impl PropertyValue for &[u8] {
    fn encode(&self) -> Vec<u8> {
        self.to_vec()
    }
}

fn property_key(path: &[&str]) -> Vec<u8> {
    crate::wire::encode_property_path(path)
}

/// The emulated host of one test thread, with one plugin (root context) loaded.
#[derive(Debug)]
pub struct Host {
    root_id: u32,
}

impl Host {
    /// Loads a module whose entry point is `register` (e.g.
    /// `wasmesh_sdk::register::<MyFilter>`) into a fresh host on this thread.
    pub fn new(register: fn()) -> Self {
        let root_id = with(|s| {
            let next = s.next_context_id;
            *s = state::State {
                next_context_id: next + 1,
                ..state::State::default()
            };
            next
        });
        crate::random::reseed();
        register();
        // SAFETY: calls into the proxy-wasm dispatcher linked into this binary.
        unsafe { proxy_on_context_create(root_id, 0) };
        with(|s| s.current = root_id);
        // SAFETY: as above.
        unsafe { proxy_on_vm_start(root_id, 0) };
        Self { root_id }
    }

    /// Delivers a plugin configuration, as Envoy does when it loads the filter; returns
    /// whether the filter accepted it.
    pub fn configure(&self, json: &str) -> bool {
        let size = with(|s| {
            s.plugin_config = json.as_bytes().to_vec();
            s.current = self.root_id;
            s.plugin_config.len()
        });
        // SAFETY: calls into the proxy-wasm dispatcher linked into this binary.
        unsafe { proxy_on_configure(self.root_id, size) }
    }

    /// Sets a host-wide property (e.g. `&["connection", "mtls"]`, `true`); a stream's own
    /// properties take precedence.
    pub fn set_property(&self, path: &[&str], value: impl PropertyValue) {
        with(|s| s.properties.insert(property_key(path), value.encode()));
    }

    /// Sets the host clock, in nanoseconds since the Unix epoch.
    pub fn set_time_nanos(&self, nanos: u64) {
        with(|s| s.now_nanos = nanos);
    }

    /// Sets the host log level the filter sees.
    pub fn set_log_level(&self, level: LogLevel) {
        with(|s| s.log_level = level);
    }

    /// Reseeds the host's random source.
    pub fn set_random_seed(&self, seed: u64) {
        with(|s| s.rng = TestRng::new(seed));
        crate::random::reseed();
    }

    /// Makes the host refuse its foreign functions, as a host without Envoy's CEL
    /// functions (`expr_create`, `expr_evaluate`) does: attribute batches then fall back
    /// to one property read per attribute.
    pub fn refuse_foreign_functions(&self) {
        with(|s| s.foreign_functions = false);
    }

    /// Starts a new HTTP stream (request) on this plugin.
    pub fn stream(&self) -> HttpStream {
        let id = with(|s| {
            let id = s.next_context_id;
            s.next_context_id += 1;
            s.streams.insert(id, StreamState::default());
            s.current = id;
            id
        });
        // SAFETY: calls into the proxy-wasm dispatcher linked into this binary.
        unsafe { proxy_on_context_create(id, self.root_id) };
        HttpStream {
            id,
            finished: false,
        }
    }

    /// Every line logged so far.
    pub fn logs(&self) -> Vec<LogLine> {
        with(|s| s.logs.clone())
    }

    /// Whether any logged line at `level` contains `needle`.
    pub fn logged(&self, level: LogLevel, needle: &str) -> bool {
        with(|s| {
            s.logs
                .iter()
                .any(|l| l.level == level && l.message.contains(needle))
        })
    }

    /// How many times the filter has called host function `name` (e.g.
    /// `proxy_get_header_map_pairs`) since the host was created. Counted: the header,
    /// property, metric, local-reply, clock and log functions, whose calls cost a filter
    /// the most in Envoy (a call returning data costs about as much as a small filter).
    pub fn host_calls(&self, name: &str) -> u64 {
        with(|s| s.host_calls.get(name).copied().unwrap_or(0))
    }

    /// Every host function the filter has called since the host was created, with the
    /// number of calls (the functions [`Host::host_calls`] counts; those never called are
    /// absent). Take it before and after a request and subtract to count that request's.
    pub fn host_call_counts(&self) -> std::collections::BTreeMap<&'static str, u64> {
        with(|s| s.host_calls.clone())
    }

    /// The property paths the filter has read from the host (`connection.mtls`), in order,
    /// since the host was created; [`Host::take_property_reads`] empties the list.
    pub fn take_property_reads(&self) -> Vec<String> {
        with(|s| std::mem::take(&mut s.property_reads))
    }

    /// Every metric defined so far.
    pub fn metrics(&self) -> Vec<Metric> {
        with(|s| s.metrics.clone())
    }

    /// The metric with this exact stat name.
    pub fn metric(&self, name: &str) -> Option<Metric> {
        with(|s| s.metrics.iter().find(|m| m.name == name).cloned())
    }

    /// The value of the counter or gauge with this exact stat name.
    pub fn counter(&self, name: &str) -> Option<u64> {
        self.metric(name).map(|m| m.value)
    }

    /// The stat name for `name` with these tags, as the SDK encodes it.
    pub fn stat_name(name: &str, tags: &[(&str, &str)]) -> String {
        let names: Vec<&str> = tags.iter().map(|(n, _)| *n).collect();
        let values: Vec<&str> = tags.iter().map(|(_, v)| *v).collect();
        let mut out = String::new();
        crate::metrics::write_stat_name(&mut out, name, &names, &values);
        out
    }
}

/// One HTTP request/response exchange through the filter.
#[derive(Debug)]
pub struct HttpStream {
    id: u32,
    finished: bool,
}

impl HttpStream {
    fn enter<R>(&self, f: impl FnOnce(&mut StreamState) -> R) -> R {
        with(|s| {
            s.current = self.id;
            let stream = s.streams.entry(self.id).or_default();
            f(stream)
        })
    }

    /// Sets a property of this stream only (e.g. `&["response", "code"]`, `200i64`).
    pub fn set_property(&self, path: &[&str], value: impl PropertyValue) {
        self.enter(|s| s.properties.insert(property_key(path), value.encode()));
    }

    /// The client sends request headers (end of stream: no body).
    pub fn send_request_headers(&self, headers: &[(&str, &str)]) -> Action {
        self.send_request_headers_bytes(pairs(headers))
    }

    /// The client sends request headers given as raw bytes (for non-UTF-8 values).
    pub fn send_request_headers_bytes(&self, headers: Vec<(Vec<u8>, Vec<u8>)>) -> Action {
        let count = headers.len();
        self.enter(|s| s.request_headers = headers);
        if !has_hook(crate::hooks::Hooks::REQUEST_HEADERS) {
            return Action::Continue;
        }
        // SAFETY: calls into the proxy-wasm dispatcher linked into this binary.
        unsafe { proxy_on_request_headers(self.id, count, true) }
    }

    /// The upstream sends response headers.
    pub fn send_response_headers(&self, headers: &[(&str, &str)]) -> Action {
        let count = headers.len();
        self.enter(|s| s.response_headers = pairs(headers));
        if !has_hook(crate::hooks::Hooks::RESPONSE_HEADERS) {
            return Action::Continue;
        }
        // SAFETY: calls into the proxy-wasm dispatcher linked into this binary.
        unsafe { proxy_on_response_headers(self.id, count, false) }
    }

    /// The upstream sends response trailers (e.g. `grpc-status`).
    pub fn send_response_trailers(&self, trailers: &[(&str, &str)]) -> Action {
        let count = trailers.len();
        self.enter(|s| s.response_trailers = pairs(trailers));
        if !has_hook(crate::hooks::Hooks::RESPONSE_TRAILERS) {
            return Action::Continue;
        }
        // SAFETY: calls into the proxy-wasm dispatcher linked into this binary.
        unsafe { proxy_on_response_trailers(self.id, count) }
    }

    /// The request headers as they are now: what goes upstream if the filter continues.
    pub fn request_headers(&self) -> Vec<(String, String)> {
        self.enter(|s| text_pairs(&s.request_headers))
    }

    /// The request headers as they are now, as raw bytes (non-UTF-8 values included).
    pub fn request_headers_bytes(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.enter(|s| s.request_headers.clone())
    }

    /// Every value of one request header, as it is now.
    pub fn request_header_values(&self, name: &str) -> Vec<String> {
        self.request_headers()
            .into_iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .collect()
    }

    /// The first value of one request header, as it is now.
    pub fn request_header(&self, name: &str) -> Option<String> {
        self.request_header_values(name).into_iter().next()
    }

    /// The response headers as they are now: what goes downstream.
    pub fn response_headers(&self) -> Vec<(String, String)> {
        self.enter(|s| text_pairs(&s.response_headers))
    }

    /// The first value of one response header, as it is now.
    pub fn response_header(&self, name: &str) -> Option<String> {
        self.response_headers()
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The local reply the filter sent, if any.
    pub fn local_reply(&self) -> Option<SentReply> {
        self.enter(|s| s.local_reply.clone())
    }

    /// Ends the stream as Envoy does: done, log, delete (only the exports a pruned module
    /// keeps: see [`crate::hooks`]).
    pub fn finish(mut self) {
        self.end();
    }

    fn end(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        with(|s| s.current = self.id);
        // A pruned module exports neither `proxy_on_done` nor the hooks it does not declare.
        // SAFETY: calls into the proxy-wasm dispatcher linked into this binary.
        unsafe {
            if !pruned() {
                proxy_on_done(self.id);
            }
            if has_hook(crate::hooks::Hooks::LOG) {
                proxy_on_log(self.id);
            }
            proxy_on_delete(self.id);
        }
        with(|s| s.streams.remove(&self.id));
    }
}

impl Drop for HttpStream {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.end();
        }
    }
}
