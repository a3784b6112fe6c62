#!/usr/bin/env python3
"""What one proxy-wasm host call costs in Envoy, measured the way bench.py measures filters.

Generates minimal proxy-wasm modules (WebAssembly text, assembled by wasm-opt) whose
on_request_headers makes one host call 1 or 5 times, runs them as benchmark variants with
callgrind, and prints for each call its first-call cost (instructions per request over a
module that makes no call) and its cost per further call ((5 calls - 1 call) / 4).

usage: python3 bench/hostcalls.py [--requests N]    (about 2 minutes)
"""

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402

MODULE = r"""
(module
  (import "env" "proxy_replace_header_map_value" (func $replace (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_pairs" (func $pairs (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $value (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_remove_header_map_value" (func $remove (param i32 i32 i32) (result i32)))
  (import "env" "proxy_define_metric" (func $define (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_increment_metric" (func $increment (param i32 i64) (result i32)))
  (import "env" "proxy_get_property" (func $property (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_call_foreign_function"
    (func $foreign (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_current_time_nanoseconds" (func $now (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (data (i32.const 16) "x-hello")
  (data (i32.const 32) "hi")
  (data (i32.const 48) ":path")
  (data (i32.const 64) "wasmcustom_probe_total")
  (data (i32.const 96) "source\00address")
  (data (i32.const 128) "x-absent")
  (data (i32.const 256) "expr_create")
  (data (i32.const 272) "expr_evaluate")
  (data (i32.const 1024) "@EXPR@")
  (func (export "proxy_abi_version_0_2_1"))
  ;; The host asks for memory to return data in: a bump allocator, reset per request.
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $at i32)
    (local.set $at (global.get $heap))
    (global.set $heap (i32.add (global.get $heap)
      (i32.and (i32.add (local.get $size) (i32.const 15)) (i32.const -16))))
    (local.get $at))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $define (i32.const 0) (i32.const 64) (i32.const 22) (i32.const 200)))
    ;; A CEL expression for the expr_evaluate rows: its token is kept at 240; a host
    ;; that refuses it refuses the configuration.
    (if (i32.gt_u (i32.const @EXPR_LEN@) (i32.const 0)) (then
      (if (call $foreign (i32.const 256) (i32.const 11) (i32.const 1024) (i32.const @EXPR_LEN@)
                         (i32.const 216) (i32.const 220))
        (then (return (i32.const 0))))
      (i32.store (i32.const 240) (i32.load (i32.load (i32.const 216))))))
    (i32.const 1))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (local $i i32)
    (global.set $heap (i32.const 65536))
    (block $done (loop $again
      (br_if $done (i32.ge_u (local.get $i) (i32.const @COUNT@)))
      @CALL@
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $again)))
    (i32.const 0))
  @EXTRA@
)
"""

# Callbacks besides the request headers': both empty, or the response headers' making the
# call (`@RESPONSE_CALL@`) as the request headers' does.
RESPONSE_CALLBACKS = r"""
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (local $i i32)
    (block $done (loop $again
      (br_if $done (i32.ge_u (local.get $i) (i32.const @COUNT@)))
      @RESPONSE_CALL@
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $again)))
    (i32.const 0))
  (func (export "proxy_on_log") (param i32))
"""

# An evaluation that fails traps, so that the benchmark's every-response-2xx check fails.
EVALUATE = ("(if (call $foreign (i32.const 272) (i32.const 13) (i32.const 240) (i32.const 4) "
            "(i32.const 208) (i32.const 212)) (then unreachable))")

# CEL expressions evaluated by the expr_evaluate rows.
EXPRESSIONS = {
    "expr_evaluate_1": "source.address",
    "expr_evaluate_5": "[source.address, connection.mtls, request.total_size, "
                       "request.protocol, destination.port]",
}

# name -> the call the response headers' callback makes (the request's makes none); these
# modules also export an empty `proxy_on_log`.
RESPONSE_CALLS = {
    "callbacks": "",
    "replace_response_header": "(drop (call $replace (i32.const 2) (i32.const 16) (i32.const 7) "
                               "(i32.const 32) (i32.const 2)))",
}

# name -> (what it is, the call)
CALLS = {
    "none": ("no host call: the VM entries and Envoy's per-stream wasm context", ""),
    "get_header_map_value": ("read `:path`",
        "(drop (call $value (i32.const 0) (i32.const 48) (i32.const 5) (i32.const 208) (i32.const 212)))"),
    "get_header_map_pairs": ("read every request header",
        "(drop (call $pairs (i32.const 0) (i32.const 208) (i32.const 212)))"),
    "get_property": ("read `source.address`",
        "(drop (call $property (i32.const 96) (i32.const 14) (i32.const 208) (i32.const 212)))"),
    "replace_header_map_value": ("set a request header",
        "(drop (call $replace (i32.const 0) (i32.const 16) (i32.const 7) (i32.const 32) (i32.const 2)))"),
    "remove_header_map_value": ("remove an absent request header",
        "(drop (call $remove (i32.const 0) (i32.const 128) (i32.const 8)))"),
    "increment_metric": ("add one to a counter",
        "(drop (call $increment (i32.load (i32.const 200)) (i64.const 1)))"),
    "callbacks": ("two more callbacks, response headers and log, both empty (the row's "
                  "figure is for both)", ""),
    "replace_response_header": ("set a response header (in the response headers' callback, "
                                "over a module exporting it and `proxy_on_log` empty)", ""),
    "get_current_time_nanoseconds": ("read the host's clock",
        "(drop (call $now (i32.const 208)))"),
    "random_get": ("16 random bytes (WASI `random_get`)",
        "(drop (call $random (i32.const 208) (i32.const 16)))"),
    "expr_evaluate_1": ("`proxy_call_foreign_function(\"expr_evaluate\")` of a CEL expression "
                        "created once: `source.address`", EVALUATE),
    "expr_evaluate_5": ("the same, of a list of 5 attributes: `[source.address, "
                        "connection.mtls, request.total_size, request.protocol, destination.port]`",
                        EVALUATE),
}


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--calls", help="comma-separated subset of the calls (default: all)")
    p.add_argument("--results", default=str(bench.BENCH / "results"))
    args = p.parse_args(argv)
    calls = {name: call for name, call in CALLS.items()
             if not args.calls or name == "none" or name in args.calls.split(",")}
    work = Path(args.results).resolve() / "work" / "hostcalls"
    work.mkdir(parents=True, exist_ok=True)
    spec = bench.load_spec(bench.BENCH / "variants.toml")
    lines = [f'floor = "none-1"', "", "[request]",
             f'method = "{spec["request"]["method"]}"', f'path = "{spec["request"]["path"]}"',
             "headers = ["]
    lines += [f'  ["{n}", "{v}"],' for n, v in spec["request"]["headers"]]
    lines += ["]", "", '[[variant]]\nname = "baseline"\nfilters = []']
    for name, (_, call) in calls.items():
        for count in (1, 5):
            wat = work / f"{name}-{count}.wat"
            expr = EXPRESSIONS.get(name, "")
            extra = ""
            if name in RESPONSE_CALLS:
                extra = RESPONSE_CALLBACKS.replace("@RESPONSE_CALL@", RESPONSE_CALLS[name])
            wat.write_text(MODULE.replace("@EXTRA@", extra).replace("@COUNT@", str(count))
                           .replace("@CALL@", call)
                           .replace("@EXPR_LEN@", str(len(expr))).replace("@EXPR@", expr))
            subprocess.run(["wasm-opt", "--enable-bulk-memory", "-O1", str(wat),
                            "-o", str(work / f"{name}-{count}.wasm")], check=True)
            lines.append(f'[[variant]]\nname = "{name}-{count}"\n'
                         f'filters = [{{wasm = "raw", file = "{name}-{count}.wasm", config = "{{}}"}}]')
    spec_path = work / "hostcalls.toml"
    spec_path.write_text("\n".join(lines) + "\n")
    code = bench.main(["--quick", "--spec", str(spec_path), "--results", str(work / "results"),
                       "--requests", str(args.requests)])
    if code:
        return code
    runs = sorted((work / "results").glob("run-*.json"))
    rows = bench.json.loads(runs[-1].read_text())["rows"]
    base = rows["baseline"]["instructions"]
    none = rows["none-1"]["instructions"]
    print(f"\nHost call costs, instructions per request (Envoy, {len(spec['request']['headers'])} "
          "request headers):\n")
    print("| host call | what | first call, over a module making none | each further call |")
    print("|---|---|---:|---:|")
    print(f"| (none) | {CALLS['none'][0]} | {bench.fmt_signed(none - base)} over the baseline | |")
    for name, (what, _) in list(calls.items())[1:]:
        one, five = rows[f"{name}-1"]["instructions"], rows[f"{name}-5"]["instructions"]
        if name == "replace_response_header" and "callbacks" in calls:
            none = rows["callbacks-1"]["instructions"]
        elif name == "callbacks":
            print(f"| (callbacks) | {what} | {bench.fmt_signed(one - none)} | |")
            continue
        else:
            none = rows["none-1"]["instructions"]
        call = name if name.startswith("expr_") or name == "random_get" else f"proxy_{name}"
        print(f"| `{call}` | {what} | {bench.fmt_signed(one - none)} "
              f"| {bench.fmt_int((five - one) / 4)} |")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except bench.BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        sys.exit(1)
