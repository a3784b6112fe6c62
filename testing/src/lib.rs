//! # wasmesh-testing
//!
//! Test support for wasmesh filters, used as a dev-dependency: an emulator of the
//! proxy-wasm host (Envoy), a counting allocator, and the benchmark's request and policy.
//!
//! The emulator defines the `proxy_*` host functions, so a test drives a filter through the
//! real proxy-wasm dispatcher exactly as Envoy does (context create, configure, request and
//! response headers, log, done, delete), then reads back what the host saw: headers sent
//! upstream, the local reply, metrics, log lines. The same test runs on either of two
//! [`Backend`]s, chosen by the environment variable `WASMESH_EMULATOR`:
//!
//! - **native** (unset or `native`): the filter's Rust code compiled into the test binary,
//!   with the dispatcher it links; the host functions are native symbols.
//! - **dist** (`WASMESH_EMULATOR=dist`): the module `make build` ships,
//!   `dist/<name>.wasm` (another directory with `WASMESH_DIST`), run by wasmtime; the
//!   host functions are its imports, backed by the same emulator state. A module that is
//!   not there fails the test.
//!
//! Either way the emulator makes only the callbacks the module exports, as Envoy does:
//! natively the ones its build keeps ([`Exports`]), in the `.wasm` the ones it has.
//!
//! ```ignore
//! let host = Host::of::<Hello>();
//! assert!(host.configure(r#"{"greeting": "hi"}"#));
//! let stream = host.stream();
//! stream.send_request_headers(&[(":method", "GET"), (":path", "/")]);
//! assert_eq!(stream.request_header("x-greeting").as_deref(), Some("hi"));
//! stream.finish();
//! assert_eq!(host.counter("wasmesh_hello_requests_total"), Some(1));
//! ```
//!
//! Each test thread has its own host state and its own modules (both are thread-local), so
//! tests run in parallel without seeing each other. Hosts of one thread share the state
//! (logs, metrics, host call counts), which each new [`Host`] starts afresh, and each keeps
//! its own module.
//!
//! For tests that prove a code path allocates nothing, [`CountingAllocator`] and
//! [`count_allocations`] count a thread's allocations.
#![cfg(not(target_arch = "wasm32"))]
// Test support: a failed expectation is reported by panicking, as an assertion does.
#![allow(clippy::panic)]

mod allocation;
mod calls;
mod memory;
mod native;
mod state;
mod vm;
#[cfg(feature = "dist")]
mod wasm;

pub use allocation::{count_allocations, CountingAllocator};
pub use memory::{MemoryHost, MemoryStat};
pub use proxy_wasm::types::{Action, LogLevel};
pub use state::{LogLine, Metric, SentReply};

use state::{with, Pairs, StreamState};
use std::path::PathBuf;
use vm::Callback;
use wasmesh_sdk::{Filter, Hooks};

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

/// Fails the test with `message`.
#[track_caller]
pub(crate) fn fail(message: &str) -> ! {
    panic!("wasmesh-testing: {message}")
}

// ---------------------------------------------------------------------------------------
// Modules and backends

/// The proxy-wasm callbacks a built module exports, which are the ones Envoy makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exports {
    /// Pruned by `make build` to the hooks the filter declares ([`Filter::HOOKS`], which
    /// `export_filter!` records in the module's `wasmesh.hooks` section), plus those the
    /// dispatcher always needs: VM start, configure, context create and delete. Not
    /// `proxy_on_done`.
    Declared(Hooks),
    /// Every callback the proxy-wasm crate exports: a module without the `wasmesh.hooks`
    /// section, which the build leaves as it is, or one built without the prune step.
    All,
}

impl Exports {
    /// Whether the module exports `name` (`proxy_on_request_headers`, ...).
    pub fn has(self, name: &str) -> bool {
        let hooks = match self {
            Exports::All => return true,
            Exports::Declared(hooks) => hooks,
        };
        match name {
            "proxy_on_memory_allocate"
            | "proxy_on_vm_start"
            | "proxy_on_configure"
            | "proxy_on_context_create"
            | "proxy_on_delete" => true,
            "proxy_on_request_headers" => hooks.contains(Hooks::REQUEST_HEADERS),
            "proxy_on_response_headers" => hooks.contains(Hooks::RESPONSE_HEADERS),
            "proxy_on_response_trailers" => hooks.contains(Hooks::RESPONSE_TRAILERS),
            "proxy_on_log" => hooks.contains(Hooks::LOG),
            _ => false,
        }
    }
}

/// A module the emulator can load: its name (its build is `dist/<name>.wasm`), the entry
/// point of its native build, and what its build exports.
#[derive(Debug, Clone, Copy)]
pub struct Module {
    name: &'static str,
    register: fn(),
    exports: Exports,
}

impl Module {
    /// The module of filter `F`, built with `export_filter!(F)`: `dist/<F::NAME>.wasm`,
    /// [`wasmesh_sdk::register::<F>`] natively, the exports its hooks keep.
    pub fn of<F: Filter>() -> Self {
        Self::new(
            F::NAME,
            wasmesh_sdk::register::<F>,
            Exports::Declared(F::HOOKS),
        )
    }

    /// Any module: `dist/<name>.wasm`, `register` as its native entry point (what its
    /// `proxy_wasm::main!` runs), and what its build exports.
    pub fn new(name: &'static str, register: fn(), exports: Exports) -> Self {
        Self {
            name,
            register,
            exports,
        }
    }

    /// The module's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// What the module's build exports.
    pub fn exports(&self) -> Exports {
        self.exports
    }
}

/// Which build of a module the emulator runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The module's Rust code linked into the test binary (the default).
    Native,
    /// The shipped `dist/<name>.wasm` under wasmtime (`WASMESH_EMULATOR=dist`).
    Dist,
}

impl Backend {
    /// The backend `WASMESH_EMULATOR` selects: `dist`, or `native` when unset or empty.
    /// Any other value fails the test.
    pub fn selected() -> Backend {
        match std::env::var("WASMESH_EMULATOR").as_deref() {
            Err(_) | Ok("" | "native") => Backend::Native,
            Ok("dist") => Backend::Dist,
            Ok(other) => fail(&format!(
                "WASMESH_EMULATOR={other}: expected `native` or `dist`"
            )),
        }
    }
}

/// Where the built modules are: `$WASMESH_DIST`, or the workspace's `dist/`.
pub fn dist_dir() -> PathBuf {
    match std::env::var_os("WASMESH_DIST") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist"),
    }
}

// ---------------------------------------------------------------------------------------
// The host

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
    wasmesh_sdk::wire::encode_property_path(path)
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

/// The emulated host of one test thread, with one module and its plugin (root context)
/// loaded.
#[derive(Debug)]
pub struct Host {
    root_id: u32,
    backend: Backend,
}

impl Host {
    /// Loads filter `F`'s module into a fresh host on this thread, on the backend
    /// `WASMESH_EMULATOR` selects ([`Backend::selected`]).
    pub fn of<F: Filter>() -> Self {
        Self::load(Module::of::<F>())
    }

    /// Loads `module` into a fresh host on this thread, on the selected backend.
    pub fn load(module: Module) -> Self {
        Self::start(module, Backend::selected())
    }

    /// Loads filter `F` natively whatever the selected backend: for a filter defined by a
    /// test (a probe, a test bundle), which has no built module.
    pub fn native<F: Filter>() -> Self {
        Self::native_module(Module::of::<F>())
    }

    /// Loads `module` natively whatever the selected backend: for tools that measure the
    /// native build (bench/host-calls).
    pub fn native_module(module: Module) -> Self {
        Self::start(module, Backend::Native)
    }

    fn start(module: Module, backend: Backend) -> Self {
        let root_id = with(|s| {
            let next = s.next_context_id;
            *s = state::State {
                next_context_id: next + 1,
                ..state::State::default()
            };
            next
        });
        wasmesh_sdk::random::reseed();
        vm::load(root_id, &module, backend);
        let host = Self { root_id, backend };
        host.call(Callback::ContextCreate {
            id: root_id,
            root: 0,
        });
        with(|s| s.current = root_id);
        host.call(Callback::VmStart {
            root: root_id,
            size: 0,
        });
        host
    }

    fn call(&self, callback: Callback) -> Option<u32> {
        vm::call(self.root_id, callback)
    }

    /// The backend this host runs its module on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Delivers a plugin configuration, as Envoy does when it loads the filter; returns
    /// whether the filter accepted it.
    pub fn configure(&self, json: &str) -> bool {
        let size = with(|s| {
            s.plugin_config = json.as_bytes().to_vec();
            s.current = self.root_id;
            s.plugin_config.len()
        });
        self.call(Callback::Configure {
            root: self.root_id,
            size,
        }) == Some(1)
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

    /// Reseeds the host's random source (WASI `random_get`). The SDK seeds its own
    /// generator from it at the first draw: natively it draws again from the new seed; a
    /// `.wasm` module keeps the seed it drew, so a test sets the seed before the first
    /// request.
    pub fn set_random_seed(&self, seed: u64) {
        with(|s| s.rng = TestRng::new(seed));
        wasmesh_sdk::random::reseed();
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
        self.call(Callback::ContextCreate {
            id,
            root: self.root_id,
        });
        HttpStream {
            id,
            root_id: self.root_id,
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
        wasmesh_sdk::metrics::write_stat_name(&mut out, name, &names, &values);
        out
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        vm::unload(self.root_id);
    }
}

/// Whether a test of a built filter that can only run natively (it counts the native
/// build's allocations, or calls the filter's internals) is skipped: true, with `reason`
/// printed, when the dist backend is selected.
///
/// ```ignore
/// if wasmesh_testing::skipped_on_dist("counts the native build's allocations") {
///     return;
/// }
/// ```
pub fn skipped_on_dist(reason: &str) -> bool {
    let skipped = Backend::selected() == Backend::Dist;
    if skipped {
        let test = std::thread::current()
            .name()
            .unwrap_or("this test")
            .to_owned();
        println!("{test}: native only ({reason}); skipped with WASMESH_EMULATOR=dist");
    }
    skipped
}

/// One HTTP request/response exchange through the filter.
#[derive(Debug)]
pub struct HttpStream {
    id: u32,
    root_id: u32,
    finished: bool,
}

impl HttpStream {
    fn call(&self, callback: Callback) -> Option<u32> {
        vm::call(self.root_id, callback)
    }

    fn enter<R>(&self, f: impl FnOnce(&mut StreamState) -> R) -> R {
        with(|s| {
            s.current = self.id;
            let stream = s.streams.entry(self.id).or_default();
            f(stream)
        })
    }

    fn action(code: Option<u32>) -> Action {
        match code {
            Some(1) => Action::Pause,
            _ => Action::Continue,
        }
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
    ///
    /// When the filter replies locally, Envoy sends the reply back through the filter's
    /// response callbacks once the request callback has returned; so does the emulator:
    /// the filter's `proxy_on_response_headers` sees the reply's headers.
    pub fn send_request_headers_bytes(&self, headers: Vec<(Vec<u8>, Vec<u8>)>) -> Action {
        let count = headers.len();
        self.enter(|s| {
            s.request_headers = headers;
            s.local_reply = None;
        });
        let action = Self::action(self.call(Callback::RequestHeaders {
            id: self.id,
            count,
            end: true,
        }));
        let reply = self.enter(|s| {
            s.local_reply
                .as_ref()
                .map(|reply| (s.response_headers.len(), reply.body.is_empty()))
        });
        if let Some((count, end)) = reply {
            self.call(Callback::ResponseHeaders {
                id: self.id,
                count,
                end,
            });
        }
        action
    }

    /// The upstream sends response headers.
    pub fn send_response_headers(&self, headers: &[(&str, &str)]) -> Action {
        let count = headers.len();
        self.enter(|s| s.response_headers = pairs(headers));
        Self::action(self.call(Callback::ResponseHeaders {
            id: self.id,
            count,
            end: false,
        }))
    }

    /// The upstream sends response trailers (e.g. `grpc-status`).
    pub fn send_response_trailers(&self, trailers: &[(&str, &str)]) -> Action {
        let count = trailers.len();
        self.enter(|s| s.response_trailers = pairs(trailers));
        Self::action(self.call(Callback::ResponseTrailers { id: self.id, count }))
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

    /// The response headers as they are now: what goes downstream (for a local reply,
    /// what Envoy sends for it).
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

    /// Ends the stream as Envoy 1.40 does: the access log (`proxy_on_log`), then the
    /// filter's destruction (`proxy_on_done`, `proxy_on_delete`); each only if the module
    /// exports it.
    pub fn finish(mut self) {
        self.end();
    }

    fn end(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        with(|s| s.current = self.id);
        self.call(Callback::Log { id: self.id });
        self.call(Callback::Done { id: self.id });
        self.call(Callback::Delete { id: self.id });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pruned_module_keeps_its_hooks_and_what_the_dispatcher_needs() {
        let exports = Exports::Declared(Hooks::REQUEST_HEADERS.and(Hooks::LOG));
        for kept in [
            "proxy_on_memory_allocate",
            "proxy_on_vm_start",
            "proxy_on_configure",
            "proxy_on_context_create",
            "proxy_on_request_headers",
            "proxy_on_log",
            "proxy_on_delete",
        ] {
            assert!(exports.has(kept), "{kept}");
        }
        for pruned in [
            "proxy_on_response_headers",
            "proxy_on_response_trailers",
            "proxy_on_done",
            "proxy_on_tick",
        ] {
            assert!(!exports.has(pruned), "{pruned}");
        }
        assert!(Exports::All.has("proxy_on_done"));
    }

    #[test]
    fn the_generator_is_reproducible() {
        let (mut a, mut b) = (TestRng::new(7), TestRng::new(7));
        assert_eq!(a.next(), b.next());
        assert_ne!(TestRng::new(0).next(), 0);
        assert!(a.below(3) < 3);
    }
}
