//! Counts the proxy-wasm host calls a benchmark variant makes per request.
//!
//! Every call a filter makes into Envoy costs Envoy 1 000 to 13 000 instructions
//! (BENCHMARKS.md), so `bench/bench.py` shows, beside each variant's instructions per
//! request, how many host calls its request costs. They are counted here, in the host
//! emulator (wasmesh-testing), natively: it runs the same Rust code as the `.wasm`
//! through the same proxy-wasm dispatcher: exact and repeatable, without Envoy.
//!
//! Each wasm filter of a variant is its own VM in Envoy, so each runs here on its own thread
//! (the emulator and the dispatcher are thread-local) with its own [`Host`], configured
//! with the JSON Envoy gets and the connection Envoy has in the benchmark. The request goes
//! through the chain as in Envoy: request headers in filter order (each filter sees what
//! the previous one left), response headers in reverse order, then the end of the stream.
//! It is sent twice and the second is counted (caches warm, metrics defined, as after the
//! benchmark's warm-up). Only the calls made during that request are counted.
//!
//! What is counted, per module and request:
//!
//! - **host calls**: the calls of the `proxy_*` functions the emulator counts
//!   ([`Host::host_calls`]), by name (not WASI's `random_get`, which it does not count);
//! - **VM entries**: the callbacks Envoy makes into the module for this request, from what
//!   the built module exports ([`Exports`]): `proxy_on_context_create`, the hooks among
//!   request headers, response headers and log (no trailers: the upstream sends none),
//!   `proxy_on_delete`, and for a module with every export (unpruned) also
//!   `proxy_on_response_body` (the response has a body) and `proxy_on_done`. The
//!   `proxy_on_memory_allocate` entries by which Envoy hands data to the module during a
//!   host call are not counted.
//!
//! `src/main.rs` reads the variants as JSON on stdin and prints the counts (see [`run`]).

#![cfg(not(target_arch = "wasm32"))]

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::mpsc;
use std::thread;
use wasmesh_sdk::{Filter, Hooks};
use wasmesh_testing::{Action, Host, HttpStream, LogLevel};

/// How many times the request is sent; the last one is counted.
const ROUNDS: usize = 2;
/// The client's address as the benchmark's Envoy sees it (h2load on 127.0.0.1).
const CLIENT_IP: &str = "127.0.0.1";
/// The client's port and the front listener's: the benchmark picks free ports per run; the
/// filters read these only as numbers.
const CLIENT_PORT: i64 = 40000;
const FRONT_PORT: i64 = 10000;
/// The upstream listener's response body (`bench/envoy.yaml.in`: `{"ok":true}\n`).
const RESPONSE_BODY_BYTES: usize = 12;

/// A module of this workspace: how the emulator loads it, and what its `.wasm` exports.
#[derive(Debug, Clone, Copy)]
pub struct Module {
    name: &'static str,
    register: fn(),
    exports: Exports,
}

/// The proxy-wasm callbacks a built module exports.
#[derive(Debug, Clone, Copy)]
pub enum Exports {
    /// `make build` pruned the module to the hooks its filter declares
    /// (`tools/prune`): those, context create and delete.
    Declared(Hooks),
    /// Every callback the proxy-wasm crate exports: a module built without the prune step,
    /// or one without the `wasmesh.hooks` section.
    All,
}

fn sdk_filter<F: Filter>() -> Module {
    Module {
        name: F::NAME,
        register: wasmesh_sdk::register::<F>,
        exports: Exports::Declared(F::HOOKS),
    }
}

/// The modules of this workspace the tool counts, by the name of their `dist/<name>.wasm`;
/// `None` for any other. A new module is added here (and its crate to Cargo.toml).
pub fn module(name: &str) -> Option<Module> {
    Some(match name {
        "hello" => sdk_filter::<hello::Hello>(),
        "header-normalization" => sdk_filter::<header_normalization::HeaderNormalization>(),
        "access-control" => sdk_filter::<access_control::AccessControl>(),
        "trace-propagation" => sdk_filter::<trace_propagation::TracePropagation>(),
        "service-metrics" => sdk_filter::<service_metrics::ServiceMetrics>(),
        "wasmesh" => sdk_filter::<wasmesh::WasmeshChain>(),
        // A plain proxy-wasm crate module: no `wasmesh.hooks` section, so nothing pruned.
        "plain-access-control" => Module {
            name: "plain-access-control",
            register: plain_access_control::register,
            exports: Exports::All,
        },
        _ => return None,
    })
}

impl Module {
    /// The module as the emulator loads it, with the callbacks its build exports (which are
    /// the ones the emulator makes).
    fn emulated(self) -> wasmesh_testing::Module {
        let exports = match self.exports {
            Exports::Declared(hooks) => wasmesh_testing::Exports::Declared(hooks),
            Exports::All => wasmesh_testing::Exports::All,
        };
        wasmesh_testing::Module::new(self.name, self.register, exports)
    }
}

impl Exports {
    /// The callbacks Envoy makes into the module for the benchmark's request: a GET without
    /// a body, answered with a 200 with a body and no trailers, ended normally.
    pub fn callbacks(self) -> Vec<&'static str> {
        let has = |hook| match self {
            Exports::Declared(hooks) => hooks.contains(hook),
            Exports::All => true,
        };
        let all = matches!(self, Exports::All);
        let mut callbacks = vec!["proxy_on_context_create"];
        if has(Hooks::REQUEST_HEADERS) {
            callbacks.push("proxy_on_request_headers");
        }
        if has(Hooks::RESPONSE_HEADERS) {
            callbacks.push("proxy_on_response_headers");
        }
        if all {
            callbacks.push("proxy_on_response_body");
        }
        if has(Hooks::LOG) {
            callbacks.push("proxy_on_log");
        }
        if all {
            callbacks.push("proxy_on_done");
        }
        callbacks.push("proxy_on_delete");
        callbacks
    }
}

/// The request the load generators send (`[request]` in `bench/variants.toml`).
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The headers in the order sent, `host` included.
    pub headers: Vec<(String, String)>,
}

/// One wasm filter of a variant, in chain order.
#[derive(Debug, Clone)]
pub struct WasmFilter {
    /// The module's name (`dist/<module>.wasm`).
    pub module: String,
    /// The configuration JSON Envoy passes to it.
    pub config: String,
    /// Built without the prune step: every callback exported.
    pub unpruned: bool,
    /// Stat name prefixes (without Envoy's `wasmcustom.`) that every request must raise:
    /// the filter reached the decision the benchmark expects.
    pub counters: Vec<String>,
}

/// One module's count for one request.
#[derive(Debug, Clone)]
pub struct ModuleCount {
    /// The module's name.
    pub module: String,
    /// Host calls by function name.
    pub by_function: BTreeMap<String, u64>,
    /// The callbacks Envoy makes into the module ([`Exports::callbacks`]).
    pub callbacks: Vec<&'static str>,
}

impl ModuleCount {
    /// Host calls in all.
    pub fn host_calls(&self) -> u64 {
        self.by_function.values().sum()
    }
}

/// A variant's count for one request.
#[derive(Debug, Clone)]
pub struct Count {
    /// Each wasm filter's, in chain order.
    pub modules: Vec<ModuleCount>,
}

impl Count {
    /// Host calls in all.
    pub fn host_calls(&self) -> u64 {
        self.modules.iter().map(ModuleCount::host_calls).sum()
    }

    /// Host calls by function name, over every module.
    pub fn by_function(&self) -> BTreeMap<String, u64> {
        let mut all = BTreeMap::new();
        for module in &self.modules {
            for (name, calls) in &module.by_function {
                *all.entry(name.clone()).or_default() += calls;
            }
        }
        all
    }

    /// VM entries in all.
    pub fn vm_entries(&self) -> usize {
        self.modules.iter().map(|m| m.callbacks.len()).sum()
    }
}

/// Why a variant has no count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A module this tool does not know (not from this workspace): nothing to count.
    NotCounted(String),
    /// The variant does not do in the emulator what the benchmark expects of it (a refused
    /// configuration, a local reply, a counter not raised), or a module's thread failed.
    Failed(String),
}

/// Counts one variant's host calls for the second of two identical requests.
pub fn count(request: &Request, filters: &[WasmFilter]) -> Result<Count, Problem> {
    let mut chain = Vec::new();
    for (index, filter) in filters.iter().enumerate() {
        let Some(mut module) = module(&filter.module) else {
            return Err(Problem::NotCounted(format!(
                "{} is not a module of this workspace",
                filter.module
            )));
        };
        if filter.unpruned {
            module.exports = Exports::All;
        }
        let vm = VmThread::start(&filter.module).map_err(Problem::Failed)?;
        let root_id = format!("{}-{index}", filter.module);
        let (emulated, config) = (module.emulated(), filter.config.clone());
        vm.run(move |vm| load(vm, emulated, &root_id, &config))
            .and_then(|loaded| loaded)
            .map_err(|e| Problem::Failed(format!("{}: {e}", filter.module)))?;
        chain.push((filter, module, vm));
    }
    let mut last = Vec::new();
    for _ in 0..ROUNDS {
        last = one_request(request, &chain).map_err(Problem::Failed)?;
    }
    Ok(Count {
        modules: chain
            .iter()
            .zip(last)
            .map(|((filter, module, _), by_function)| ModuleCount {
                module: filter.module.clone(),
                by_function,
                callbacks: module.exports.callbacks(),
            })
            .collect(),
    })
}

type Chain<'a> = [(&'a WasmFilter, Module, VmThread)];

/// One request through the chain; each module's host calls during it.
fn one_request(request: &Request, chain: &Chain<'_>) -> Result<Vec<BTreeMap<String, u64>>, String> {
    let request_bytes = i64::try_from(http1_size(
        &format!("{} {} HTTP/1.1", request.method, request.path),
        &request.headers,
        0,
    ))
    .unwrap_or(0);
    let mut headers = envoy_request_headers(request);
    for (filter, _, vm) in chain {
        let counters = filter.counters.clone();
        headers = vm
            .run(move |vm| request_headers(vm, headers, request_bytes, counters))
            .and_then(|sent| sent)
            .map_err(|e| format!("{}: {e}", filter.module))?;
    }
    let mut response = upstream_response_headers();
    let response_bytes = i64::try_from(http1_size(
        "HTTP/1.1 200 OK",
        &response,
        RESPONSE_BODY_BYTES,
    ))
    .unwrap_or(0);
    for (filter, _, vm) in chain.iter().rev() {
        response = vm
            .run(move |vm| response_headers(vm, response, response_bytes))
            .and_then(|sent| sent)
            .map_err(|e| format!("{}: {e}", filter.module))?;
    }
    let mut counts = Vec::new();
    for (filter, _, vm) in chain {
        counts.push(
            vm.run(finish)
                .and_then(|counted| counted)
                .map_err(|e| format!("{}: {e}", filter.module))?,
        );
    }
    Ok(counts)
}

/// The request headers as Envoy 1.40 hands them to the first filter of
/// `bench/envoy.yaml.in` (seen there with a Lua filter logging them): `:authority`,
/// `:path`, `:method`, `:scheme`, then the client's headers in order without `host` (which
/// is `:authority`). With `use_remote_address: true` and a client address that Envoy does
/// not treat as internal, Envoy also sets `x-forwarded-proto` to the connection's scheme,
/// appends an address to `x-forwarded-for`, replaces `x-request-id` and adds
/// `x-envoy-external-address`, which header-normalization strips as an internal header.
pub fn envoy_request_headers(request: &Request) -> Vec<(String, String)> {
    let host = request
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("host"))
        .map_or("", |(_, value)| value.as_str());
    let mut headers: Vec<(String, String)> = [
        (":authority", host),
        (":path", &request.path),
        (":method", &request.method),
        (":scheme", "http"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect();
    headers.extend(
        request
            .headers
            .iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
            .map(|(name, value)| (name.to_ascii_lowercase(), value.clone())),
    );
    let mut set = |name: &str, value: String| match headers.iter_mut().find(|(n, _)| n == name) {
        Some(header) => header.1 = value,
        None => headers.push((name.to_owned(), value)),
    };
    set("x-forwarded-proto", "http".to_owned());
    set(
        "x-request-id",
        "7d1c3b52-9e4f-4a6b-8c2d-0f1e2a3b4c5d".to_owned(),
    );
    let forwarded_for = request
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("x-forwarded-for"))
        .map_or(CLIENT_IP.to_owned(), |(_, v)| format!("{v},{CLIENT_IP}"));
    set("x-forwarded-for", forwarded_for);
    set("x-envoy-external-address", CLIENT_IP.to_owned());
    headers
}

/// The upstream listener's response headers as the front listener's filters get them.
fn upstream_response_headers() -> Vec<(String, String)> {
    [
        (":status", "200"),
        ("content-length", "12"),
        ("content-type", "text/plain"),
        ("date", "Mon, 07 Dec 2026 12:00:00 GMT"),
        ("server", "envoy"),
        ("x-envoy-upstream-service-time", "0"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect()
}

/// The size of an HTTP/1.1 message: its first line, its headers and its body.
fn http1_size(first_line: &str, headers: &[(String, String)], body: usize) -> usize {
    let head: usize = headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
    first_line.len() + 2 + head + 2 + body
}

// ---------------------------------------------------------------------------------------
// One module's VM: its thread, and the steps that run on it.

/// What lives on a module's thread: its host and the request in flight.
#[derive(Default)]
struct Vm {
    host: Option<Host>,
    stream: Option<HttpStream>,
    /// Host calls so far when the request began.
    before: BTreeMap<&'static str, u64>,
    /// The expected counters' sums when the request began.
    counters: Vec<(String, u64)>,
}

type Job = Box<dyn FnOnce(&mut Vm) + Send>;

/// A module's own thread, running the jobs it is sent in order.
struct VmThread {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl VmThread {
    fn start(name: &str) -> Result<Self, String> {
        let (jobs, received) = mpsc::channel::<Job>();
        let thread = thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let mut vm = Vm::default();
                for job in received {
                    job(&mut vm);
                }
            })
            .map_err(|e| format!("no thread for {name}: {e}"))?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Runs `job` on the module's thread and waits for its result.
    fn run<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Vm) -> R + Send + 'static,
    ) -> Result<R, String> {
        let (result, answer) = mpsc::channel();
        let stopped = || "its thread stopped (the filter panicked)".to_owned();
        self.jobs
            .as_ref()
            .ok_or_else(stopped)?
            .send(Box::new(move |vm| {
                let _ = result.send(job(vm));
            }))
            .map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())
    }
}

impl Drop for VmThread {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Loads and configures the module, with the connection the benchmark's Envoy has.
fn load(
    vm: &mut Vm,
    module: wasmesh_testing::Module,
    root_id: &str,
    config: &str,
) -> Result<(), String> {
    // The native build, whatever WASMESH_EMULATOR says: the counts are the native code's.
    let host = Host::native_module(module);
    // Envoy runs with `-l warning`; the SDK formats no line below the host's level.
    host.set_log_level(LogLevel::Warn);
    host.set_property(&["plugin_name"], root_id);
    host.set_property(&["plugin_root_id"], root_id);
    host.set_property(
        &["source", "address"],
        &*format!("{CLIENT_IP}:{CLIENT_PORT}"),
    );
    host.set_property(&["source", "port"], CLIENT_PORT);
    host.set_property(
        &["destination", "address"],
        &*format!("127.0.0.1:{FRONT_PORT}"),
    );
    host.set_property(&["destination", "port"], FRONT_PORT);
    host.set_property(&["connection", "mtls"], false);
    host.set_property(&["xds", "cluster_name"], "upstream");
    // bench/envoy.yaml.in's front route and virtual host.
    host.set_property(&["xds", "route_name"], "orders");
    host.set_property(&["xds", "virtual_host_name"], "front");
    if !host.configure(config) {
        let logs: Vec<String> = host.logs().into_iter().map(|l| l.message).collect();
        return Err(format!("configuration refused: {}", logs.join("; ")));
    }
    vm.host = Some(host);
    Ok(())
}

fn counter_sum(host: &Host, prefix: &str) -> u64 {
    host.metrics()
        .iter()
        .filter(|m| m.name.starts_with(prefix))
        .map(|m| m.value)
        .sum()
}

/// A new stream's request headers; what the module passes on.
fn request_headers(
    vm: &mut Vm,
    headers: Vec<(String, String)>,
    request_bytes: i64,
    counters: Vec<String>,
) -> Result<Vec<(String, String)>, String> {
    let host = vm.host.as_ref().ok_or("not loaded")?;
    vm.before = host.host_call_counts();
    vm.counters = counters
        .into_iter()
        .map(|prefix| {
            let sum = counter_sum(host, &prefix);
            (prefix, sum)
        })
        .collect();
    let stream = host.stream();
    stream.set_property(&["request", "protocol"], "HTTP/1.1");
    stream.set_property(&["request", "total_size"], request_bytes);
    let borrowed: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let action = stream.send_request_headers(&borrowed);
    if let Some(reply) = stream.local_reply() {
        return Err(format!(
            "the request got a local reply: {} {}",
            reply.status,
            reply.body_str()
        ));
    }
    if action != Action::Continue {
        return Err("the request was paused".to_owned());
    }
    let passed = stream.request_headers();
    vm.stream = Some(stream);
    Ok(passed)
}

/// The response headers, with the response's attributes; what the module passes on.
fn response_headers(
    vm: &mut Vm,
    headers: Vec<(String, String)>,
    response_bytes: i64,
) -> Result<Vec<(String, String)>, String> {
    let stream = vm.stream.as_ref().ok_or("no request")?;
    stream.set_property(&["response", "code"], 200i64);
    stream.set_property(&["response", "code_details"], "via_upstream");
    stream.set_property(&["response", "flags"], 0i64);
    stream.set_property(&["response", "total_size"], response_bytes);
    let borrowed: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    if stream.send_response_headers(&borrowed) != Action::Continue {
        return Err("the response was paused".to_owned());
    }
    Ok(stream.response_headers())
}

/// Ends the stream; the host calls made since the request began.
fn finish(vm: &mut Vm) -> Result<BTreeMap<String, u64>, String> {
    let stream = vm.stream.take().ok_or("no request")?;
    let host = vm.host.as_ref().ok_or("not loaded")?;
    stream.set_property(&["request", "duration"], 1_000_000i64);
    stream.finish();
    for (prefix, before) in &vm.counters {
        if counter_sum(host, prefix) <= *before {
            return Err(format!(
                "stat {prefix} did not increase: not the decision the benchmark expects"
            ));
        }
    }
    let mut calls = BTreeMap::new();
    for (name, after) in host.host_call_counts() {
        let made = after - vm.before.get(name).copied().unwrap_or(0);
        if made > 0 {
            calls.insert(name.to_owned(), made);
        }
    }
    Ok(calls)
}

// ---------------------------------------------------------------------------------------
// JSON in and out

fn string(value: &Value, what: &str) -> Result<String, String> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{what}: expected a string"))
}

fn array<'a>(value: &'a Value, what: &str) -> Result<&'a Vec<Value>, String> {
    value
        .as_array()
        .ok_or_else(|| format!("{what}: expected an array"))
}

fn parse_request(value: &Value) -> Result<Request, String> {
    let headers = array(&value["headers"], "request.headers")?
        .iter()
        .map(|pair| match pair.as_array().map(Vec::as_slice) {
            Some([name, value]) => Ok((
                string(name, "request.headers[]")?,
                string(value, "request.headers[]")?,
            )),
            _ => Err("request.headers[]: expected [name, value]".to_owned()),
        })
        .collect::<Result<_, _>>()?;
    Ok(Request {
        method: string(&value["method"], "request.method")?,
        path: string(&value["path"], "request.path")?,
        headers,
    })
}

fn parse_filter(value: &Value) -> Result<WasmFilter, String> {
    let counters = match value.get("counters") {
        None => Vec::new(),
        Some(list) => array(list, "counters")?
            .iter()
            .map(|c| string(c, "counters[]"))
            .collect::<Result<_, _>>()?,
    };
    Ok(WasmFilter {
        module: string(&value["module"], "filters[].module")?,
        config: string(&value["config"], "filters[].config")?,
        unpruned: value["unpruned"].as_bool().unwrap_or(false),
        counters,
    })
}

/// The tool's JSON interface. Input:
///
/// ```json
/// {"request": {"method": "GET", "path": "/", "headers": [["host", "h"]]},
///  "variants": [{"name": "hello", "filters": [
///     {"module": "hello", "config": "{\"greeting\":\"hi\"}", "unpruned": false,
///      "counters": ["wasmesh_hello_requests_total.outcome=.=forwarded;"]}]}]}
/// ```
///
/// Output, by variant name: `{"host_calls": n, "by_function": {name: n}, "vm_entries": n,
/// "modules": [{"module", "host_calls", "by_function", "vm_entries", "callbacks"}]}`, or
/// `{"not_counted": why}` for a module not from this workspace, or `{"error": why}`.
pub fn run(input: &Value) -> Result<Value, String> {
    let request = parse_request(&input["request"])?;
    let mut out = Map::new();
    for variant in array(&input["variants"], "variants")? {
        let name = string(&variant["name"], "variants[].name")?;
        let filters = array(&variant["filters"], "variants[].filters")?
            .iter()
            .map(parse_filter)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("variant {name}: {e}"))?;
        let result = match count(&request, &filters) {
            Ok(count) => counted(&count),
            Err(Problem::NotCounted(why)) => json!({ "not_counted": why }),
            Err(Problem::Failed(why)) => json!({ "error": why }),
        };
        out.insert(name, result);
    }
    Ok(json!({ "variants": out }))
}

fn counted(count: &Count) -> Value {
    let modules: Vec<Value> = count
        .modules
        .iter()
        .map(|m| {
            json!({
                "module": m.module,
                "host_calls": m.host_calls(),
                "by_function": m.by_function,
                "vm_entries": m.callbacks.len(),
                "callbacks": m.callbacks,
            })
        })
        .collect();
    json!({
        "host_calls": count.host_calls(),
        "by_function": count.by_function(),
        "vm_entries": count.vm_entries(),
        "modules": modules,
    })
}
