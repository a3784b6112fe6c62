// Minimal proxy-wasm host in Node.js for profiling wasmesh.wasm under V8.
//
// usage: node [--no-liftoff] [--cpu-prof ...] harness.mjs [--wasm shipped.wasm] [--warmup 20000]
//             [--requests 200000] [--check-only] [--verbose] [--log-level 3]
//
// Drives the module the way Envoy does: _initialize, root context 1 (context_create, vm_start,
// configure), then per request a fresh context id: context_create, request_headers,
// response_headers, log, delete. Checks once that the request path did its job, then loops.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
function opt(name, dflt) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
}
const WASM = path.resolve(
  opt("--wasm", path.join(HERE, "..", "results", "v8-profile", "shipped.wasm")),
);
const WARMUP = Number(opt("--warmup", 20000));
const REQUESTS = Number(opt("--requests", 200000));
const CHECK_ONLY = args.includes("--check-only");
const VERBOSE = args.includes("--verbose");
const PROFILE = opt("--profile", null); // write a .cpuprofile of the measured loop only
const INTERVAL = Number(opt("--interval", 50)); // sampling interval, microseconds
// Under valgrind --tool=callgrind --instr-atstart=no: switch instrumentation on for the measured loop only.
const CALLGRIND = args.includes("--callgrind");
const LOG_LEVEL = Number(opt("--log-level", 3)); // Envoy in the bench runs with -l warning -> Warn = 3

// ---------------------------------------------------------------------------------------------
const enc = new TextEncoder();
const dec = new TextDecoder();

// Inputs (as in BENCHMARKS.md / the bench's envoy config)
const CONFIG = JSON.stringify({
  chain: [
    { name: "header-normalization", config: {} },
    {
      name: "access-control",
      config: {
        identity: {
          sources: ["caller_header"],
          caller_header: { name: "x-service-name", trusted_cidrs: ["127.0.0.1/32"] },
        },
        rules: [
          { name: "orders-read", action: "allow", callers: ["frontend"], methods: ["GET", "HEAD"], paths: [{ prefix: "/api/v1/orders" }] },
          { name: "orders-write", action: "allow", callers: ["checkout"], methods: ["POST"], paths: [{ exact: "/api/v1/orders" }] },
        ],
      },
    },
    { name: "trace-propagation", config: { new_span_id: true, inject: ["w3c", "b3"], response_trace_id_header: "x-trace-id" } },
    {
      name: "service-metrics",
      config: {
        direction: "inbound",
        service: "orders",
        trusted_source_header: { name: "x-wasmesh-caller", format: "service", from_cidrs: ["127.0.0.1/32"] },
      },
    },
  ],
});

const REQUEST_HEADERS = [
  [":authority", "orders.shop.svc.cluster.local"],
  [":path", "/api/v1/orders/12345?expand=items"],
  [":method", "GET"],
  [":scheme", "http"],
  ["traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"],
  ["tracestate", "shop=t61rcWkgMzE"],
  ["x-service-name", "frontend"],
  ["user-agent", "shop-frontend/2.14.1 (okhttp/4.12.0)"],
  ["accept", "application/json"],
  ["accept-encoding", "gzip, deflate, br"],
  ["accept-language", "en-US,en;q=0.9"],
  ["authorization", "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJl"],
  ["cookie", "session=7f3e9a1c; theme=dark"],
  ["x-request-id", "2b8f4c1e-6d3a-4f5b-9e7c-1a2b3c4d5e6f"],
  ["x-forwarded-for", "203.0.113.7,127.0.0.1"],
  ["x-forwarded-proto", "http"],
  ["cache-control", "no-cache"],
  ["referer", "https://shop.example.com/cart"],
  ["baggage", "user.tier=gold,session.region=eu-west-1"],
  ["x-envoy-external-address", "127.0.0.1"],
];
const CONFIG_BYTES = enc.encode(CONFIG);
const RESPONSE_HEADERS = [
  [":status", "200"],
  ["content-type", "text/plain"],
];

const le64 = (n) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, BigInt(n), true);
  return b;
};
const PROPERTIES = new Map([
  ["source.address", enc.encode("127.0.0.1:5000")],
  ["connection.mtls", Uint8Array.of(0)],
  ["response.code", le64(200)],
  ["response.flags", le64(0)],
  ["request.total_size", le64(500)],
  ["response.total_size", le64(100)],
]);

// Property paths as they arrive: segments separated by NUL (with or without a trailing NUL).
const PROPERTIES_RAW = new Map();
for (const [k, v] of PROPERTIES) {
  PROPERTIES_RAW.set(k.split(".").join("\0"), v);
  PROPERTIES_RAW.set(k.split(".").join("\0") + "\0", v);
}

// Header maps as JS arrays of [name, value] strings; keys are pre-encoded lazily.
const maps = { 0: [], 1: [], 2: [], 3: [] }; // MapType: 0 req headers, 1 req trailers, 2 resp headers, 3 resp trailers

// ---------------------------------------------------------------------------------------------
const module = new WebAssembly.Module(fs.readFileSync(WASM));
let inst, mem, u8cache, dvcache, bufCache; // bufCache: a Node Buffer over memory, for latin1Slice
function u8() {
  // memory.grow detaches the old ArrayBuffer: its views then have length 0.
  if (u8cache === undefined || u8cache.length === 0) {
    u8cache = new Uint8Array(mem.buffer);
    bufCache = Buffer.from(mem.buffer);
    dvcache = new DataView(mem.buffer);
  }
  return u8cache;
}
function dv() {
  u8();
  return dvcache;
}
// Short strings (header names, values, property paths) decoded without TextDecoder.
// Bytes as latin1 (header names and values are ASCII here; this is the host's hot path).
function str(p, n) {
  u8();
  return bufCache.latin1Slice(p, p + n);
}
// Encoded-bytes cache: the same header names and values come back on every request.
const encCache = new Map();
function encode(s) {
  let e = encCache.get(s);
  if (e === undefined) {
    e = enc.encode(s);
    if (encCache.size < 10000) encCache.set(s, e);
  }
  return e;
}
const bytes = (p, n) => u8().slice(p, p + n);

// Copies `data` into guest memory obtained from proxy_on_memory_allocate, writes ptr/len.
function give(data, retPtr, retLen) {
  const p = inst.exports.proxy_on_memory_allocate(data.length);
  u8().set(data, p);
  const d = dv();
  d.setUint32(retPtr, p, true);
  d.setUint32(retLen, data.length, true);
  return 0;
}

function serializePairs(pairs) {
  // pairs: array of [Uint8Array|string, Uint8Array|string]
  const bin = pairs.map(([k, v]) => [typeof k === "string" ? encode(k) : k, typeof v === "string" ? encode(v) : v]);
  let size = 4 + 8 * bin.length;
  for (const [k, v] of bin) size += k.length + v.length + 2;
  const out = new Uint8Array(size);
  const d = new DataView(out.buffer);
  d.setUint32(0, bin.length, true);
  let at = 4;
  for (const [k, v] of bin) {
    d.setUint32(at, k.length, true);
    d.setUint32(at + 4, v.length, true);
    at += 8;
  }
  for (const [k, v] of bin) {
    out.set(k, at);
    at += k.length + 1;
    out.set(v, at);
    at += v.length + 1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Host call counting (per request, reported by --verbose / check)
const calls = new Map();
let counting = true; // only during the checked requests
const count = (name) => {
  if (counting) calls.set(name, (calls.get(name) || 0) + 1);
};
const logs = [];
let localReplies = [];
const metrics = []; // {type, name, value}
const expressions = [];
let rng = 0x9e3779b97f4a7c15n & 0xffffffffn;
let rngState = 0x12345678;

// Removes the entries named k at or after index `from`, in place.
function removeFrom(m, k, from) {
  let w = from;
  for (let r = from; r < m.length; r++) if (m[r][0] !== k) m[w++] = m[r];
  m.length = w;
}

const env = {
  proxy_log(level, p, n) {
    count("proxy_log");
    const m = str(p, n);
    logs.push([level, m]);
    if (logs.length > 100) logs.shift();
    if (VERBOSE) console.error(`[wasm log ${level}] ${m}`);
    return 0;
  },
  proxy_get_log_level(ret) {
    count("proxy_get_log_level");
    dv().setUint32(ret, LOG_LEVEL, true);
    return 0;
  },
  proxy_get_current_time_nanoseconds(ret) {
    count("proxy_get_current_time_nanoseconds");
    dv().setBigUint64(ret, BigInt(Date.now()) * 1000000n, true);
    return 0;
  },
  proxy_get_buffer_bytes(type, start, max, retPtr, retLen) {
    count("proxy_get_buffer_bytes");
    if (type === 7) {
      const c = CONFIG_BYTES;
      return give(c.subarray(start, Math.min(c.length, start + max)), retPtr, retLen);
    }
    return 1;
  },
  proxy_get_header_map_pairs(map, retPtr, retLen) {
    count("proxy_get_header_map_pairs");
    const m = maps[map];
    if (!m) return 2;
    // The serialization of an unchanged map is cached on the array (mutations drop it).
    if (!m.wire) m.wire = serializePairs(m);
    return give(m.wire, retPtr, retLen);
  },
  proxy_get_header_map_value(map, kp, kn, retPtr, retLen) {
    count("proxy_get_header_map_value");
    const m = maps[map];
    if (!m) return 2;
    const k = str(kp, kn);
    for (const [name, value] of m) if (name === k) return give(encode(value), retPtr, retLen);
    return 1;
  },
  proxy_replace_header_map_value(map, kp, kn, vp, vn) {
    count("proxy_replace_header_map_value");
    const m = maps[map];
    if (!m) return 2;
    const k = str(kp, kn), v = str(vp, vn);
    m.wire = undefined;
    // Envoy's setCopy: the first entry takes the value, later ones go; appended when absent.
    let i = 0;
    while (i < m.length && m[i][0] !== k) i++;
    if (i === m.length) m.push([k, v]);
    else {
      m[i] = [k, v];
      removeFrom(m, k, i + 1);
    }
    return 0;
  },
  proxy_remove_header_map_value(map, kp, kn) {
    count("proxy_remove_header_map_value");
    const m = maps[map];
    if (!m) return 2;
    const k = str(kp, kn);
    m.wire = undefined;
    removeFrom(m, k, 0);
    return 0;
  },
  proxy_add_header_map_value(map, kp, kn, vp, vn) {
    count("proxy_add_header_map_value");
    const m = maps[map];
    if (!m) return 2;
    m.wire = undefined;
    m.push([str(kp, kn), str(vp, vn)]);
    return 0;
  },
  proxy_get_property(pp, pn, retPtr, retLen) {
    count("proxy_get_property");
    const p = str(pp, pn);
    const v = PROPERTIES_RAW.get(p);
    if (VERBOSE) console.error(`[property] ${JSON.stringify(p)} -> ${v ? "found" : "NotFound"}`);
    if (!v) return 1;
    return give(v, retPtr, retLen);
  },
  proxy_call_foreign_function(np, nn, ap, an, retPtr, retLen) {
    count("proxy_call_foreign_function");
    const name = str(np, nn);
    if (name === "expr_create") {
      // "[response.code, response.flags, ...]" -> list of property names
      const text = str(ap, an).trim();
      const list = text.startsWith("[");
      const inner = list ? text.slice(1, -1) : text;
      const paths = inner.split(",").map((s) => s.trim());
      if (!paths.every((p) => PROPERTIES.has(p))) {
        console.error(`expr_create: unknown attribute in ${text}`);
        return 2;
      }
      if (VERBOSE) console.error(`[expr_create] ${text}`);
      expressions.push({ text, list, result: null, values: paths.map((p) => PROPERTIES.get(p)) });
      const tok = new Uint8Array(4);
      new DataView(tok.buffer).setUint32(0, expressions.length - 1, true);
      return give(tok, retPtr, retLen);
    }
    if (name === "expr_evaluate") {
      const token = dv().getUint32(ap, true);
      const e = expressions[token];
      if (!e || an !== 4) return 1;
      if (!e.result) e.result = e.list ? serializePairs(e.values.map((v) => [v, new Uint8Array(0)])) : e.values[0];
      return give(e.result, retPtr, retLen);
    }
    return 1;
  },
  proxy_send_local_response(code, dp, dn, bp, bn, hp, hn, grpc) {
    count("proxy_send_local_response");
    localReplies.push({ code, details: str(dp, dn), body: str(bp, bn) });
    return 0;
  },
  proxy_define_metric(type, np, nn, retId) {
    count("proxy_define_metric");
    const name = str(np, nn);
    let id = metrics.findIndex((m) => m.name === name && m.type === type);
    if (id < 0) {
      metrics.push({ type, name, value: 0n });
      id = metrics.length - 1;
    }
    dv().setUint32(retId, id, true);
    return 0;
  },
  proxy_increment_metric(id, offset) {
    count("proxy_increment_metric");
    const m = metrics[id];
    if (!m) return 1;
    m.value += offset;
    return 0;
  },
  proxy_record_metric(id, value) {
    count("proxy_record_metric");
    const m = metrics[id];
    if (!m) return 1;
    if (m.type === 2) m.count = (m.count || 0) + 1; // histogram
    else m.value = value;
    return 0;
  },
  proxy_get_metric(id, ret) {
    count("proxy_get_metric");
    const m = metrics[id];
    if (!m) return 1;
    dv().setBigUint64(ret, BigInt.asUintN(64, m.value), true);
    return 0;
  },
  proxy_set_effective_context(id) {
    count("proxy_set_effective_context");
    return 0;
  },
  proxy_set_tick_period_milliseconds() {
    count("proxy_set_tick_period_milliseconds");
    return 0;
  },
  proxy_done() {
    count("proxy_done");
    return 0;
  },
};

const wasi = {
  random_get(p, n) {
    count("random_get");
    const b = u8();
    for (let i = 0; i < n; i++) {
      rngState ^= rngState << 13;
      rngState ^= rngState >>> 17;
      rngState ^= rngState << 5;
      b[p + i] = rngState & 0xff;
    }
    return 0;
  },
  fd_write(fd, iovs, iovsLen, nwritten) {
    count("fd_write");
    const d = dv();
    let total = 0;
    for (let i = 0; i < iovsLen; i++) {
      const p = d.getUint32(iovs + 8 * i, true), n = d.getUint32(iovs + 8 * i + 4, true);
      process.stderr.write(`[wasm fd ${fd}] ` + str(p, n));
      total += n;
    }
    dv().setUint32(nwritten, total, true);
    return 0;
  },
  environ_sizes_get(cp, sp) {
    count("environ_sizes_get");
    dv().setUint32(cp, 0, true);
    dv().setUint32(sp, 0, true);
    return 0;
  },
  environ_get() {
    count("environ_get");
    return 0;
  },
  clock_time_get(id, prec, ret) {
    count("clock_time_get");
    dv().setBigUint64(ret, process.hrtime.bigint(), true);
    return 0;
  },
  proc_exit(code) {
    throw new Error(`proc_exit(${code})`);
  },
};

// Every import the module names; unknown ones get a stub that reports itself.
const imports = { env: {}, wasi_snapshot_preview1: {} };
const unknown = [];
for (const imp of WebAssembly.Module.imports(module)) {
  if (imp.kind !== "function") throw new Error(`unsupported import ${imp.module}.${imp.name} (${imp.kind})`);
  const table = imp.module === "env" ? env : imp.module === "wasi_snapshot_preview1" ? wasi : null;
  let f = table && table[imp.name];
  if (!f) {
    unknown.push(`${imp.module}.${imp.name}`);
    const nm = imp.name;
    const rc = imp.module === "wasi_snapshot_preview1" ? 52 /* ENOSYS */ : 12; /* Unimplemented */
    f = () => {
      count(nm);
      if (VERBOSE) console.error(`[unimplemented host call] ${nm}`);
      return rc;
    };
  }
  imports[imp.module] = imports[imp.module] || {};
  imports[imp.module][imp.name] = f;
}
inst = new WebAssembly.Instance(module, imports);
mem = inst.exports.memory;
const X = inst.exports;
const has = (n) => typeof X[n] === "function";
if (VERBOSE) console.error(`imports without an implementation (never expected on this path): ${unknown.join(", ")}`);

// ---------------------------------------------------------------------------------------------
// Start-up, as Envoy: _initialize, root context, vm_start, configure.
if (has("_initialize")) X._initialize();
else if (has("_start")) X._start();
X.proxy_on_context_create(1, 0);
if (has("proxy_on_vm_start") && X.proxy_on_vm_start(1, 0) !== 1) {
  console.error("proxy_on_vm_start did not return true", logs);
  process.exit(1);
}
const configured = X.proxy_on_configure(1, enc.encode(CONFIG).length);
if (configured !== 1) {
  console.error("proxy_on_configure returned", configured, "logs:");
  for (const [l, m] of logs) console.error(`  [${l}] ${m}`);
  process.exit(1);
}

const onCreate = has("proxy_on_context_create") ? X.proxy_on_context_create : null;
const onReq = has("proxy_on_request_headers") ? X.proxy_on_request_headers : null;
const onResp = has("proxy_on_response_headers") ? X.proxy_on_response_headers : null;
const onLog = has("proxy_on_log") ? X.proxy_on_log : null;
const onDelete = has("proxy_on_delete") ? X.proxy_on_delete : null;

let nextId = 2;
// The request's maps start as copies of these; the serialization of the unchanged map is shared.
const REQUEST_WIRE = serializePairs(REQUEST_HEADERS);
const RESPONSE_WIRE = serializePairs(RESPONSE_HEADERS);
// One request; each callback in its own JS function so the profile can attribute the
// JS->wasm entry cost and the wasm below it to a callback.
function cbCreate(id) {
  if (onCreate) onCreate(id, 1);
}
function cbRequestHeaders(id) {
  return onReq ? onReq(id, maps[0].length, 1) : 0;
}
function cbResponseHeaders(id) {
  return onResp ? onResp(id, maps[2].length, 0) : 0;
}
function cbLog(id) {
  if (onLog) onLog(id);
}
function cbDelete(id) {
  if (onDelete) onDelete(id);
}
function request() {
  const id = nextId++;
  maps[0] = REQUEST_HEADERS.slice();
  maps[0].wire = REQUEST_WIRE;
  maps[2] = RESPONSE_HEADERS.slice();
  maps[2].wire = RESPONSE_WIRE;
  cbCreate(id);
  const action = cbRequestHeaders(id);
  const afterRequest = maps[0];
  cbResponseHeaders(id);
  cbLog(id);
  cbDelete(id);
  return { action, afterRequest };
}

// ---------------------------------------------------------------------------------------------
// One checked request.
function check() {
  calls.clear();
  localReplies = [];
  const logsBefore = logs.length;
  const before = metrics.map((m) => m.value);
  const { action, afterRequest } = request();
  const get = (m, k) => m.filter(([n]) => n === k).map(([, v]) => v);
  const problems = [];
  if (action !== 0) problems.push(`proxy_on_request_headers returned ${action}, not Continue`);
  if (localReplies.length) problems.push(`local reply sent: ${JSON.stringify(localReplies)}`);
  if (get(afterRequest, "x-service-name").length) problems.push("x-service-name not removed");
  if (get(afterRequest, "x-wasmesh-caller").join() !== "frontend") problems.push(`x-wasmesh-caller = ${get(afterRequest, "x-wasmesh-caller")}`);
  const tp = get(afterRequest, "traceparent");
  if (tp.length !== 1 || !/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/.test(tp[0])) problems.push(`traceparent = ${tp}`);
  if (tp[0] === REQUEST_HEADERS[4][1]) problems.push("traceparent span id not replaced (new_span_id)");
  if (get(afterRequest, "b3").length !== 1) problems.push(`b3 = ${get(afterRequest, "b3")}`);
  if (get(afterRequest, "x-envoy-external-address").length) problems.push("x-envoy-external-address not removed");
  if (get(maps[2], "x-trace-id").join() !== "4bf92f3577b34da6a3ce929d0e0e4736") problems.push(`x-trace-id = ${get(maps[2], "x-trace-id")}`);
  const changed = metrics.map((m, i) => [m, m.value - (before[i] ?? 0n)]).filter(([, d]) => d !== 0n);
  if (!changed.length) problems.push("no metric incremented");
  const out = [];
  out.push(`request headers after proxy_on_request_headers:`);
  for (const [k, v] of afterRequest) out.push(`  ${k}: ${v}`);
  out.push(`response headers after proxy_on_response_headers:`);
  for (const [k, v] of maps[2]) out.push(`  ${k}: ${v}`);
  out.push(`metrics changed by this request:`);
  for (const [m, d] of changed) out.push(`  ${m.name} += ${d}`);
  out.push(`host calls by this request: ${[...calls].map(([k, v]) => `${k}×${v}`).join(", ")}`);
  if (logs.length > logsBefore) out.push(`logs: ${JSON.stringify(logs.slice(logsBefore))}`);
  return { problems, text: out.join("\n") };
}

const first = check();
if (VERBOSE || CHECK_ONLY || first.problems.length) console.log("first request:\n" + first.text);
if (first.problems.length) {
  console.error("CHECK FAILED:\n  " + first.problems.join("\n  "));
  process.exit(1);
}
const second = check(); // steady state: metrics defined, expression created
if (VERBOSE || CHECK_ONLY || second.problems.length) console.log("\nsecond request:\n" + second.text);
if (second.problems.length) {
  console.error("CHECK FAILED (second request):\n  " + second.problems.join("\n  "));
  process.exit(1);
}
console.log(`check ok (${path.basename(WASM)}): caller header, traceparent/b3, x-trace-id, metrics as expected; no local reply`);
if (CHECK_ONLY) process.exit(0);

counting = false;
for (let i = 0; i < WARMUP; i++) request();
// Let V8 run its foreground tasks: it logs wasm code (for --perf-basic-prof / --log-code) from one.
await new Promise((resolve) => setTimeout(resolve, 20));
let session, post;
if (PROFILE) {
  const inspector = await import("node:inspector");
  session = new inspector.Session();
  session.connect();
  post = (method, params) => new Promise((res, rej) => session.post(method, params, (e, r) => (e ? rej(e) : res(r))));
  await post("Profiler.enable");
  await post("Profiler.setSamplingInterval", { interval: INTERVAL });
  await post("Profiler.start");
}
let execSync;
if (CALLGRIND) {
  ({ execSync } = await import("node:child_process"));
  execSync(`callgrind_control -i on ${process.pid}`, { stdio: "ignore" });
}
const t0 = process.hrtime.bigint();
for (let i = 0; i < REQUESTS; i++) request();
const t1 = process.hrtime.bigint();
if (CALLGRIND) execSync(`callgrind_control -i off ${process.pid}`, { stdio: "ignore" });
if (PROFILE) {
  const { profile } = await post("Profiler.stop");
  fs.writeFileSync(PROFILE, JSON.stringify(profile));
  session.disconnect();
  console.log(`profile: ${PROFILE} (${profile.samples.length} samples)`);
}
counting = true;
const again = check();
if (again.problems.length) {
  console.error("CHECK FAILED after the loop:\n  " + again.problems.join("\n  "));
  process.exit(1);
}
console.log(`${REQUESTS} requests after ${WARMUP} warm-up: ${(Number(t1 - t0) / REQUESTS).toFixed(0)} ns/request (wall, includes the JS host)`);
