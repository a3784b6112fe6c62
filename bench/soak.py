#!/usr/bin/env python3
"""A million requests through one Envoy with the bundle: its memory must stay flat.

One Envoy 1.40 (`--concurrency 1`, 127.0.0.1 only) runs dist/wasmesh.wasm configured as
the benchmark's `bundle` variant (bench/variants.toml, rendered into bench/envoy.yaml.in)
in front of a direct_response upstream. The requests come in rounds (10 of 100 000); every
round sends each request class below its fixed share, all classes at once: one h2load per
class, one HTTP/1.1 connection per 5 000 requests of the class, so every connection sends
the same number of requests and the classes stay interleaved until the round ends.

After every round: Envoy's resident memory (VmRSS of the Envoy binary's own pid), the bytes
tcmalloc has allocated (admin /memory), and the counters of Envoy and of the four filters. The first round is the warm-up; the growth is
the RSS after the last round minus the RSS after the first, and must stay under 2 MiB.

The run fails (exit status 1) when
  - a request got a status other than its class expects: h2load's per-request log is
    counted, so a 400 where a 403 was due is caught, not only a non-2xx;
  - a request failed at the connection level or timed out;
  - a round's counters disagree with what was sent (upstream 2xx, access-control allowed
    and denied, header-normalization refusals and rewrites, trace-propagation contexts,
    service-metrics requests);
  - the RSS grew by 2 MiB or more after the warm-up.

Results: a table on stdout, bench/results/soak.json and bench/results/soak.md.

usage: soak.py [--rounds 10] [--per-round 100000] [--max-growth-mib 2] [--keep]
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no bench/__pycache__ from the import below
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (bench/bench.py: the variant table, module copies, the request)

RESULTS = bench.BENCH / "results"
# Requests per HTTP/1.1 connection of one class in one round (a class sends its share of a
# round on share / this many connections).
PER_CONNECTION = 5_000


class SoakError(Exception):
    """The soak cannot go on: Envoy did not start, a tool is missing."""


# ---------------------------------------------------------------------------------------
# The request classes


class RequestClass:
    """A share of every round: the benchmark request with some changes, the status every
    one of its requests must get, and the counters each of them must raise by one."""

    def __init__(self, name, weight, status, counters, what, method=None, path=None,
                 remove=(), replace=(), add=()):
        self.name = name
        self.weight = weight  # share of a round, in thousandths
        self.status = status
        self.counters = counters
        self.what = what
        self.method = method
        self.path = path
        self.remove = remove
        self.replace = replace
        self.add = add

    def headers(self, spec):
        """h2load `-H` arguments: the benchmark's headers, changed as the class says. The
        host goes as `:authority` (any other spelling makes h2load send two)."""
        headers = bench.request_headers(spec, self.replace)
        headers = [h for h in headers if h[0] not in self.remove] + list(self.add)
        args = []
        if self.method:
            args += ["-H", f":method: {self.method}"]
        for name, value in headers:
            args += ["-H", f"{':authority' if name == 'host' else name}: {value}"]
        return args

    def describe(self):
        return {"name": self.name, "weight": self.weight, "status": self.status,
                "what": self.what, "method": self.method, "path": self.path,
                "remove": list(self.remove), "replace": [list(h) for h in self.replace],
                "add": [list(h) for h in self.add], "counters": self.counters}


# Every answered request raises Envoy's front listener counter of its status class and
# service-metrics' request counter; the rest is the class's own.
FORWARDED = ["front_2xx", "upstream_2xx", "ac_allowed", "sm_requests"]
DENIED = ["front_4xx", "ac_denied", "sm_requests"]
REFUSED = ["front_4xx", "hn_rejected", "sm_requests"]

CLASSES = [
    RequestClass("allowed", 450, 200, FORWARDED + ["tp_continued"],
                 "the benchmark request: caller frontend, GET /api/v1/orders/12345, valid "
                 "W3C traceparent and tracestate"),
    RequestClass("allowed-rewritten", 50, 200, FORWARDED + ["tp_continued", "hn_path"],
                 "the same with dot segments: header-normalization rewrites the path",
                 path="/api/v1/orders/./items/../12345?expand=items"),
    RequestClass("trace-none", 100, 200, FORWARDED + ["tp_started"],
                 "no traceparent or tracestate: trace-propagation starts a trace",
                 remove=("traceparent", "tracestate")),
    RequestClass("trace-invalid", 100, 200, FORWARDED + ["tp_invalid"],
                 "traceparent with the forbidden version ff: refused, a new trace instead",
                 replace=[("traceparent",
                           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]),
    RequestClass("denied-caller", 100, 403, DENIED,
                 "caller intruder (trusted header from 127.0.0.1): no rule allows it",
                 replace=[("x-service-name", "intruder")]),
    RequestClass("denied-method", 50, 403, DENIED,
                 "DELETE by frontend: the orders-read rule allows GET and HEAD only",
                 method="DELETE"),
    RequestClass("denied-path", 50, 403, DENIED,
                 "GET /api/v1/payments/7 by frontend: no rule for the path",
                 path="/api/v1/payments/7"),
    RequestClass("malformed-escaped-slash", 50, 400, REFUSED,
                 "escaped slash in the path (/api/v1/orders%2F12345): refused by "
                 "header-normalization (escaped_slash)",
                 path="/api/v1/orders%2F12345?expand=items"),
    RequestClass("malformed-repeated-authorization", 50, 400, REFUSED,
                 "authorization twice: refused by header-normalization (repeated_header)",
                 add=[("authorization", "Bearer second")]),
]
assert sum(c.weight for c in CLASSES) == 1000


# ---------------------------------------------------------------------------------------
# Counters


def tally(stats):
    """The counters the classes raise, summed over their tags."""

    def total(prefix, *parts):
        return sum(v for k, v in stats.items()
                   if k.startswith(prefix) and all(p in k for p in parts))

    ac = "wasmcustom.wasmesh_access_control_requests_total."
    tp = "wasmcustom.wasmesh_trace_propagation_requests_total."
    return {
        "front_2xx": stats.get("http.front.downstream_rq_2xx", 0),
        "front_4xx": stats.get("http.front.downstream_rq_4xx", 0),
        "front_5xx": stats.get("http.front.downstream_rq_5xx", 0),
        "upstream_2xx": stats.get("http.upstream.downstream_rq_2xx", 0),
        "ac_allowed": total(ac, "decision=.=allowed;"),
        "ac_denied": total(ac, "decision=.=denied;"),
        "hn_rejected": total("wasmcustom.wasmesh_header_normalization_rejected_total"),
        "hn_path": total("wasmcustom.wasmesh_header_normalization_normalized_total",
                         "rule=.=path;"),
        "tp_continued": total(tp, "context=.=continued;"),
        "tp_started": total(tp, "context=.=started;"),
        "tp_invalid": total(tp, "context=.=invalid;"),
        "sm_requests": total("wasmcustom.wasmesh_service_requests_total."),
        "sm_overflow": stats.get("wasmcustom.wasmesh_service_metrics_overflow_total", 0),
        "front_cx": stats.get("http.front.downstream_cx_total", 0),
    }


# Counters whose change over a round must equal what the classes predict (those no class
# raises must not move).
CHECKED = ["front_2xx", "front_4xx", "front_5xx", "upstream_2xx", "ac_allowed", "ac_denied",
           "hn_rejected", "hn_path", "tp_continued", "tp_started", "tp_invalid",
           "sm_requests", "sm_overflow"]


# ---------------------------------------------------------------------------------------
# Envoy


class Envoy:
    """One Envoy with the bundle: 127.0.0.1 only, ports picked free, its own --base-id."""

    ATTEMPTS = 3

    def __init__(self, binary, variant, template, run_dir):
        self.dir = run_dir
        self.proc = None
        self.output = None
        for attempt in range(self.ATTEMPTS):
            try:
                self._start(binary, variant, template, attempt)
                return
            except SoakError:
                if self.proc.poll() is None:
                    self.stop()
                    raise
                self.output.close()
                log = (self.dir / "output.log").read_text(errors="replace")
                # A load generator's connection can take a port picked free before Envoy
                # binds it: then Envoy says so and is started again on other ports.
                if "Address already in use" not in log or attempt == self.ATTEMPTS - 1:
                    raise SoakError("Envoy did not start:\n" + "\n".join(log.splitlines()[-20:]))

    def _start(self, binary, variant, template, attempt):
        address_file = self.dir / "admin.address"
        address_file.unlink(missing_ok=True)
        self.front_port, self.upstream_port = bench.free_ports(2)
        config = self.dir / "envoy.yaml"
        config.write_text(variant.render(template, self.front_port, self.upstream_port))
        # Envoy names its shared memory after base_id * 10, which must fit in a u32; pids
        # are below 2^22, so this is unique across processes.
        base_id = (os.getpid() % 4_294_967) * 100 + attempt
        self.output = open(self.dir / "output.log", "w")
        self.proc = subprocess.Popen(
            [binary, "-c", str(config), "--concurrency", "1", "--base-id", str(base_id),
             "--admin-address-path", str(address_file), "--log-path", str(self.dir / "envoy.log"),
             "-l", "warning"],
            stdout=self.output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.admin, why = bench.wait_for_envoy(self.proc, address_file, self.front_port, 60)
        if why == "exited":
            raise SoakError("Envoy exited")
        if why:
            raise SoakError(f"Envoy not ready after 60 s ({self.dir})")

    @property
    def pid(self):
        return self.proc.pid

    def admin_get(self, path, method="GET"):
        return bench.admin_get(self.admin, path, method)

    def stats(self):
        return bench.admin_stats(self.admin)

    def heap_kib(self):
        """tcmalloc's figures from the admin /memory page, read now (the server.memory_*
        stats are refreshed only when stats are flushed, every 60 s here), in KiB."""
        return {k: int(v) // 1024 for k, v in json.loads(self.admin_get("/memory")).items()}

    def memory_kib(self):
        """VmRSS and VmHWM of the Envoy process, in KiB."""
        fields = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0])
        return fields["VmRSS"], fields["VmHWM"]

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.admin_get("/quitquitquit", method="POST")
                self.proc.wait(timeout=30)
            except Exception:  # noqa: BLE001 - the kill below is the fallback
                self.proc.kill()
                self.proc.wait()
        if self.output:
            self.output.close()


# ---------------------------------------------------------------------------------------
# Load


def h2load_command(envoy, spec, cls, count, log):
    clients = max(1, min(count, round(count / PER_CONNECTION)))
    path = cls.path or spec["request"]["path"]
    return ["h2load", "--h1", "-n", str(count), "-c", str(clients), "-m", "1",
            "--log-file", str(log), *cls.headers(spec),
            f"http://127.0.0.1:{envoy.front_port}{path}"]


def h2load_result(cls, count, out, log):
    """(status counts, problems) of one class's h2load run."""
    problems = []
    statuses = {}
    if log.exists():
        with log.open() as f:
            for line in f:
                fields = line.split("\t")
                if len(fields) >= 2:
                    statuses[fields[1]] = statuses.get(fields[1], 0) + 1
        log.unlink()
    requests = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                         r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if not requests or not codes:
        return statuses, [f"{cls.name}: h2load output not understood: {out.strip()[-400:]!r}"]
    total, _, done, _, _, errored, timeout = map(int, requests.groups())
    if done != count or total != count:
        problems.append(f"{cls.name}: {done} of {count} requests done")
    if errored or timeout:
        problems.append(f"{cls.name}: {errored} errored, {timeout} timed out")
    if int(codes.group(4)):
        problems.append(f"{cls.name}: {codes.group(4)} 5xx")
    expected = str(cls.status)
    if statuses.get(expected, 0) != count or sum(statuses.values()) != count:
        problems.append(f"{cls.name}: statuses {statuses}, expected {count} × {expected}")
    class_index = {2: 1, 3: 2, 4: 3, 5: 4}[cls.status // 100]
    if int(codes.group(class_index)) != count:
        problems.append(f"{cls.name}: h2load counted {codes.group(0)!r}, "
                        f"expected {count} {cls.status // 100}xx")
    return statuses, problems


def shares(per_round):
    counts = [per_round * c.weight // 1000 for c in CLASSES]
    counts[0] += per_round - sum(counts)  # rounding, if any, to the first class
    return counts


def run_round(envoy, spec, counts, work, running):
    """Every class at once, each its share: ({class: status counts}, unexpected, problems,
    seconds), where unexpected counts the requests not answered with their class's status."""
    started = time.monotonic()
    procs = []
    for cls, count in zip(CLASSES, counts):
        if count == 0:
            continue
        log = work / f"h2load-{cls.name}.log"
        log.unlink(missing_ok=True)
        proc = subprocess.Popen(h2load_command(envoy, spec, cls, count, log),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True)
        running.append(proc)
        procs.append((cls, count, log, proc))
    results, unexpected, problems = {}, 0, []
    for cls, count, log, proc in procs:
        out, _ = proc.communicate()
        running.remove(proc)
        statuses, trouble = h2load_result(cls, count, out, log)
        results[cls.name] = statuses
        unexpected += count - min(count, statuses.get(str(cls.status), 0))
        problems += trouble
    return results, unexpected, problems, time.monotonic() - started


def expected_deltas(counts):
    expected = {name: 0 for name in CHECKED}
    for cls, count in zip(CLASSES, counts):
        for name in cls.counters:
            expected[name] += count
    return expected


# ---------------------------------------------------------------------------------------
# Report


def mib(kib):
    return kib / 1024


def fmt_int(n):
    return f"{n:,}".replace(",", " ")


def status_totals(round_result):
    totals = {}
    for statuses in round_result["statuses"].values():
        for code, n in statuses.items():
            totals[code] = totals.get(code, 0) + n
    return totals


def console_row(r, warm_kib):
    totals = status_totals(r)
    delta = "(warm-up)" if r["round"] == 1 else f"{mib(r['rss_kib'] - warm_kib):+.2f}"
    return (f"{r['round']:>5} {r['requests_so_far']:>10,} {r['seconds']:>6.1f} "
            f"{r['requests'] / r['seconds']:>7,.0f} {mib(r['rss_kib']):>8.1f} {delta:>10} "
            f"{mib(r['heap_allocated']):>9.1f} {totals.get('200', 0):>7,} "
            f"{totals.get('403', 0):>7,} {totals.get('400', 0):>7,} {r['unexpected']:>10,}")


CONSOLE_HEADER = (f"{'round':>5} {'requests':>10} {'s':>6} {'req/s':>7} {'RSS MiB':>8} "
                  f"{'Δ warm-up':>10} {'heap MiB':>9} {'200':>7} {'403':>7} {'400':>7} "
                  f"{'unexpected':>10}")


def markdown(result):
    out = []
    out.append("| round | requests so far | time | req/s | RSS | Δ since warm-up "
               "| heap allocated | 200 | 403 | 400 | unexpected |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    warm = result["rounds"][0]["rss_kib"] if result["rounds"] else 0
    for r in result["rounds"]:
        totals = status_totals(r)
        delta = "warm-up" if r["round"] == 1 else f"{mib(r['rss_kib'] - warm):+.2f} MiB"
        out.append(
            f"| {r['round']} | {fmt_int(r['requests_so_far'])} | {r['seconds']:.1f} s "
            f"| {fmt_int(round(r['requests'] / r['seconds']))} | {mib(r['rss_kib']):.2f} MiB "
            f"| {delta} | {mib(r['heap_allocated']):.2f} MiB | {fmt_int(totals.get('200', 0))} "
            f"| {fmt_int(totals.get('403', 0))} | {fmt_int(totals.get('400', 0))} "
            f"| {fmt_int(r['unexpected'])} |")
    out.append("")
    out.append("| class | per round | expected | what |")
    out.append("|---|---:|---:|---|")
    for c in result["classes"]:
        out.append(f"| {c['name']} | {fmt_int(c['per_round'])} | {c['status']} | {c['what']} |")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------
# Main


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=10, help="rounds (10); the first is the warm-up")
    p.add_argument("--per-round", type=int, default=100_000, help="requests per round (100 000)")
    p.add_argument("--max-growth-mib", type=float, default=2.0,
                   help="most RSS growth after the warm-up round (2 MiB, exclusive)")
    p.add_argument("--keep", action="store_true",
                   help="keep the temporary folder (Envoy's config and logs)")
    p.add_argument("--results", default=str(RESULTS))
    args = p.parse_args(argv)
    if args.rounds < 2:
        p.error("--rounds: at least 2 (the first is the warm-up)")
    if args.per_round < 1000:
        p.error("--per-round: at least 1000")
    return args


def main(argv):
    args = parse_args(argv)
    if not shutil.which("h2load"):
        raise SoakError("h2load is missing: `make bench-tools` installs it")
    started = time.monotonic()
    spec = bench.load_spec(bench.BENCH / "variants.toml")
    raw = next(v for v in spec["variant"] if v["name"] == "bundle")
    template = (bench.BENCH / "envoy.yaml.in").read_text()
    binary = bench.envoy_binary()
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    version = (re.search(r"/(\d+\.\d+\.\d+)/", version) or re.search("(.*)", "?")).group(1)
    results_dir = Path(args.results).resolve()
    results_dir.mkdir(parents=True, exist_ok=True)

    work = Path(tempfile.mkdtemp(prefix="wasmesh-soak-"))
    envoy = None
    running = []  # h2load processes of the round in progress

    def terminate(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    counts = shares(args.per_round)
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"), "envoy": version,
        "rounds_planned": args.rounds, "per_round": args.per_round,
        "max_growth_mib": args.max_growth_mib, "per_connection": PER_CONNECTION,
        "classes": [dict(c.describe(), per_round=n) for c, n in zip(CLASSES, counts)],
        "rounds": [], "failures": [],
    }
    try:
        # The module is copied from dist/ into the temporary folder first, so a rebuild
        # during the run cannot change it under Envoy.
        variant = bench.Variant(spec, raw, work)
        bench.prepare_modules([variant], work, bench.DEFAULT_WASM_OPT_FLAGS)
        module = work / "modules" / "wasmesh.wasm"
        result["module"] = {"file": "dist/wasmesh.wasm", "bytes": module.stat().st_size,
                            "sha256": hashlib.sha256(module.read_bytes()).hexdigest()}
        run_dir = work / "envoy"
        run_dir.mkdir()
        envoy = Envoy(binary, variant, template, run_dir)
        time.sleep(0.5)
        idle_kib, _ = envoy.memory_kib()
        result["rss_idle_kib"] = idle_kib
        print(f"soak: Envoy {version} (pid {envoy.pid}), dist/wasmesh.wasm as the bench's bundle "
              f"variant; RSS idle {mib(idle_kib):.1f} MiB", flush=True)
        print(f"soak: {args.rounds} rounds of {args.per_round:,} requests, round 1 is the "
              f"warm-up; classes per round: "
              + ", ".join(f"{c.name} {n:,} ({c.status})" for c, n in zip(CLASSES, counts)),
              flush=True)
        print(CONSOLE_HEADER, flush=True)
        before = tally(envoy.stats())
        expected = expected_deltas(counts)
        so_far = 0
        for index in range(1, args.rounds + 1):
            statuses, unexpected, problems, seconds = run_round(envoy, spec, counts, work,
                                                                running)
            so_far += sum(counts)
            # The last responses' connections are closed and their memory handed back.
            time.sleep(1)
            rss_kib, hwm_kib = envoy.memory_kib()
            heap = envoy.heap_kib()
            after = tally(envoy.stats())
            deltas = {name: after[name] - before[name] for name in after}
            for name in CHECKED:
                if deltas[name] != expected[name]:
                    problems.append(f"counter {name}: +{deltas[name]}, expected +{expected[name]}")
            before = after
            entry = {"round": index, "requests": sum(counts), "requests_so_far": so_far,
                     "seconds": round(seconds, 2), "rss_kib": rss_kib, "hwm_kib": hwm_kib,
                     "heap_allocated": heap["allocated"], "heap": heap,
                     "statuses": statuses, "unexpected": unexpected, "counters": deltas,
                     "problems": problems}
            result["rounds"].append(entry)
            print(console_row(entry, result["rounds"][0]["rss_kib"]), flush=True)
            for problem in problems:
                print(f"      round {index}: {problem}", flush=True)
                result["failures"].append(f"round {index}: {problem}")
        if envoy.proc.poll() is not None:
            result["failures"].append("Envoy exited during the run")
    finally:
        for proc in running:
            proc.kill()
            proc.wait()
        if envoy:
            try:
                result["envoy_log_tail"] = (run_dir / "envoy.log").read_text(
                    errors="replace").splitlines()[-20:]
            except OSError:
                pass
            envoy.stop()
        if args.keep:
            print(f"soak: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    rounds = result["rounds"]
    warm, last = rounds[0]["rss_kib"], rounds[-1]["rss_kib"]
    growth = last - warm
    heap_growth = rounds[-1]["heap_allocated"] - rounds[0]["heap_allocated"]
    result.update({"rss_warmup_kib": warm, "rss_last_kib": last, "growth_kib": growth,
                   "heap_growth_kib": heap_growth,
                   "requests": sum(r["requests"] for r in rounds),
                   "unexpected": sum(r["unexpected"] for r in rounds),
                   "minutes": round((time.monotonic() - started) / 60, 2)})
    if growth >= args.max_growth_mib * 1024:
        result["failures"].append(f"RSS grew by {mib(growth):.2f} MiB after the warm-up "
                                  f"(limit {args.max_growth_mib:g} MiB)")
    (results_dir / "soak.json").write_text(json.dumps(result, indent=1) + "\n")
    (results_dir / "soak.md").write_text(markdown(result))
    print()
    print(f"soak: {result['requests']:,} requests in {result['minutes']:.1f} min; RSS after "
          f"warm-up {mib(warm):.2f} MiB, after round {len(rounds)} {mib(last):.2f} MiB: "
          f"growth {mib(growth):+.2f} MiB (limit {args.max_growth_mib:g} MiB); heap allocated "
          f"{mib(heap_growth):+.2f} MiB; "
          f"unexpected responses: {result['unexpected']}; "
          f"failures: {len(result['failures'])}")
    print(f"soak: results in {results_dir / 'soak.json'} and {results_dir / 'soak.md'}")
    for failure in result["failures"]:
        print(f"soak: FAILED: {failure}", file=sys.stderr)
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (SoakError, bench.BenchError) as error:
        print(f"soak: {error}", file=sys.stderr)
        sys.exit(1)
