#!/usr/bin/env python3
"""Instruction counts per wasm function, from callgrind run on node + V8's perf map.

usage: cgprof.py callgrind.out.PID /tmp/perf-PID.map --requests N [--wasm shipped.wasm] [--top 30]

callgrind (run with --dump-instr=yes --compress-pos=no --compress-strings=no) cannot name
V8-generated code: it reports such code as `fn=0x...` in object `???`. node --perf-basic-prof
writes every code object V8 creates (wasm functions included, see harness.mjs) with address,
size and name to /tmp/perf-PID.map; this script maps each instruction's address to the code
object holding it. Native code (V8 runtime, builtins embedded in node, libc) keeps
callgrind's own function names. Counts are divided by the number of measured requests.
"""
import argparse, bisect, collections, os, re, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from analyze import demangle_all, owners_of_generics, group_of  # noqa: E402
from callees import callgraph  # noqa: E402


def load_perf_map(path):
    entries = []  # (start, end, seq, name)
    for seq, line in enumerate(open(path, errors="replace")):
        parts = line.rstrip("\n").split(" ", 2)
        if len(parts) < 3:
            continue
        start, size = int(parts[0], 16), int(parts[1], 16)
        entries.append((start, start + size, seq, parts[2]))
    entries.sort()
    starts = [e[0] for e in entries]
    maxlen = max((e[1] - e[0] for e in entries), default=0)

    def lookup(addr):
        i = bisect.bisect_right(starts, addr) - 1
        best = None
        while i >= 0 and entries[i][0] >= addr - maxlen:
            s, e, seq, name = entries[i]
            if s <= addr < e and (best is None or seq > best[0]):
                best = (seq, name, s)
            i -= 1
        return (best[1], best[2]) if best else (None, None)

    return lookup


def classify(name):
    """(kind, clean name) of a perf-map name."""
    if name.startswith("JS:wasm-to-js:") or name.startswith("JS:js-to-wasm:"):
        return "wrapper", name[3:]
    m = re.match(r"JS:(.*)-(\d+)-(turbofan|liftoff)$", name)
    if m and "file://" not in name and "node:" not in name:
        return "wasm", m.group(1)
    if name.startswith("Builtin:") or name.startswith("BytecodeHandler:"):
        return "builtin", name
    return "js", name


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("callgrind")
    ap.add_argument("perfmap")
    ap.add_argument("--requests", type=int, required=True)
    ap.add_argument("--wasm", default=os.path.join(HERE, "shipped.wasm"))
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--all", help="write every wasm function (Ir/request, calls/request) to this TSV")
    a = ap.parse_args()
    lookup = load_perf_map(a.perfmap)

    self_cost = collections.Counter()       # (kind, name) -> Ir
    calls_to = collections.Counter()        # target (kind, name, entry?) -> inclusive Ir of calls to it
    call_counts = collections.Counter()
    site_counts_raw = collections.Counter()
    site_calls_raw = collections.Counter()  # (caller (kind,name), callee target) -> inclusive
    ob = fn = None
    jit = False
    pending_call = None
    addr_cache = {}

    def key_of(addr):
        k = addr_cache.get(addr)
        if k is None:
            name, start = lookup(addr)
            if name is None:
                k = ("jit-unknown", "(unmapped V8 code)", False)
            else:
                kind, clean = classify(name)
                k = (kind, clean, start == addr)
            addr_cache[addr] = k
        return k

    fn_keys = collections.defaultdict(collections.Counter)  # JIT fn (callgrind's name) -> code objects in it
    cob = None  # object of the next call's target, when it differs from ob
    cfn = None
    with open(a.callgrind, errors="replace") as f:
        for line in f:
            c0 = line[:1]
            if c0 == "0":
                parts = line.split()
                addr, cost = int(parts[0], 16), int(parts[1])
                if jit:
                    k = key_of(addr)
                    who = (k[0], k[1])
                    fn_keys[fn][who] += cost
                else:
                    who = ("native", fn)
                if pending_call is not None:
                    tgt, cnt = pending_call
                    calls_to[tgt] += cost
                    call_counts[tgt] += cnt
                    site_calls_raw[(who, tgt)] += cost
                    site_counts_raw[(who, tgt)] += cnt
                    pending_call = None
                else:
                    self_cost[who] += cost
            elif line.startswith("calls="):
                parts = line.split()
                cnt, taddr = int(parts[0][6:]), int(parts[1], 16)
                target_ob = cob if cob is not None else ob
                tgt = ("jit-addr", taddr, True) if target_ob == "???" else ("native", cfn, True)
                pending_call = (tgt, cnt)
                cob = None
            elif line.startswith("ob="):
                ob = line[3:].strip()
                jit = ob == "???"
            elif line.startswith("fn="):
                fn = line[3:].strip()
                cob = None
            elif line.startswith("cob="):
                cob = line[4:].strip()
            elif line.startswith("cfn="):
                cfn = line[4:].strip()

    # Calls into V8 code target a wasm jump-table slot (or a function start); callgrind merges the
    # slot's jmp and the function behind it into one `fn=0x<slot>`: resolve a call target to the
    # code object holding most of that fn's instructions.
    def resolve(t):
        if t[0] != "jit-addr":
            return t
        addr = t[1]
        k = key_of(addr)
        if k[0] != "jit-unknown" and k[2]:
            return k
        keys = fn_keys.get("0x%016x" % addr)
        if keys:
            (kind, name), _ = keys.most_common(1)[0]
            return (kind, name, True)
        return (k[0], k[1], False)

    def merge(counter, pair=False):
        out = collections.Counter()
        for k, n in counter.items():
            if pair:
                out[(k[0], (lambda r: (r[0], r[1]))(resolve(k[1])) if isinstance(k[1], tuple) and len(k[1]) == 3 else k[1])] += n
            else:
                out[resolve(k)] += n
        return out

    calls_to = merge(calls_to)
    call_counts = merge(call_counts)
    site_calls = collections.Counter({(w, (lambda r: (r[0], r[1]))(resolve(t))): n for (w, t), n in site_calls_raw.items()})
    N = a.requests
    total = sum(self_cost.values())
    by_kind = collections.Counter()
    for (kind, name), n in self_cost.items():
        by_kind[kind] += n
    wasm_total = by_kind["wasm"]
    wasm_names = {name for (kind, name) in self_cost if kind == "wasm"}
    wasm_names |= {k[1] for k in calls_to if k[0] == "wasm"}
    dm = demangle_all(set(callgraph(a.wasm).keys()) | wasm_names)
    owner, how = owners_of_generics(a.wasm, dm)

    def label(name):
        d = dm.get(name, name)
        if name in owner:
            d += f"  [{owner[name]}{'*' if how[name] == 'elimination' else ''}]"
        return d

    incl = collections.Counter()
    for (kind, name, entry), n in calls_to.items():
        if kind == "wasm" and entry:
            incl[name] += n

    out = []
    out.append(f"## Instructions per request (callgrind, {N} requests; Ir of the measured loop / {N})\n")
    out.append("| where | Ir / request | % |")
    out.append("|---|---:|---:|")
    names = {"wasm": "wasm functions (V8 TurboFan code)", "wrapper": "wasm-to-js / js-to-wasm wrappers",
             "js": "JS (harness host stubs + driver)", "builtin": "V8 builtins (perf-map named)",
             "native": "native: V8 runtime/builtins, node, libc", "jit-unknown": "V8 code not in the perf map"}
    for kind, n in by_kind.most_common():
        out.append(f"| {names.get(kind, kind)} | {n / N:,.0f} | {100 * n / total:.1f}% |")
    out.append(f"| total | {total / N:,.0f} | |")

    out.append(f"\n## Top {a.top} wasm functions by self instructions (wasm total {wasm_total / N:,.0f} Ir/request)\n")
    callers = collections.defaultdict(collections.Counter)  # wasm callee -> caller -> calls
    for ((ck, cn), t), n in site_counts_raw.items():
        r = resolve(t)
        if ck == "wasm" and r[0] == "wasm":
            callers[r[1]][cn] += n

    def short(x, n=60):
        x = label(x)
        return x if len(x) <= n else x[:n - 3] + "..."

    def top_callers(name, width=60, n=2):
        return "; ".join(f"{short(c, width)} ×{k / N:.0f}" for c, k in callers[name].most_common(n))

    out.append("| # | self Ir/req | % of wasm | incl. Ir/req | calls/req | function | group | main callers (calls/req) |")
    out.append("|---:|---:|---:|---:|---:|---|---|---|")
    ws = collections.Counter({name: n for (kind, name), n in self_cost.items() if kind == "wasm"})
    cc = collections.Counter()
    for (kind, name, entry), n in call_counts.items():
        if kind == "wasm" and entry:
            cc[name] += n
    for i, (name, n) in enumerate(ws.most_common(a.top), 1):
        out.append(f"| {i} | {n / N:,.0f} | {100 * n / wasm_total:.1f}% | {incl[name] / N:,.0f} | {cc[name] / N:.1f} | `{label(name)}` | {group_of(name, dm.get(name, name), owner.get(name))} | {top_callers(name)} |")

    if a.all:
        with open(a.all, "w") as t:
            t.write("self_ir_per_req\tincl_ir_per_req\tcalls_per_req\tgroup\tfunction\tcallers\tmangled\n")
            for name, n in ws.most_common():
                t.write(f"{n / N:.1f}\t{incl[name] / N:.1f}\t{cc[name] / N:.2f}\t{group_of(name, dm.get(name, name), owner.get(name))}\t{label(name)}\t{top_callers(name, 200, 4)}\t{name}\n")

    groups = collections.Counter()
    nf = collections.Counter()
    for name, n in ws.items():
        g = group_of(name, dm.get(name, name), owner.get(name))
        groups[g] += n
        nf[g] += 1
    out.append("\n## Wasm self instructions by crate/module\n")
    out.append("| group | Ir/req | % of wasm | functions |")
    out.append("|---|---:|---:|---:|")
    for g, n in groups.most_common():
        out.append(f"| {g} | {n / N:,.0f} | {100 * n / wasm_total:.1f}% | {nf[g]} |")

    out.append("\n## Per callback: inclusive instructions of the exported wasm function (wasm + host calls below it)\n")
    out.append("| export | Ir/req incl. | calls/req |")
    out.append("|---|---:|---:|")
    for name in ["proxy_on_context_create", "proxy_on_request_headers", "proxy_on_response_headers", "proxy_on_log", "proxy_on_delete", "proxy_on_memory_allocate"]:
        if incl[name] or cc[name]:
            out.append(f"| {name} | {incl[name] / N:,.0f} | {cc[name] / N:.1f} |")

    # gprof-style split of every wasm function's self cost (and of its calls out to the host)
    # over the exported callbacks, in proportion to the calls it receives from each caller.
    exports = ["proxy_on_context_create", "proxy_on_request_headers", "proxy_on_response_headers",
               "proxy_on_log", "proxy_on_delete", "proxy_on_memory_allocate"]
    def make_share(roots):
        memo = {}

        def share(f, depth=0):
            if f in roots:
                return {f: 1.0}
            if f in memo:
                return memo[f]
            if depth > 60:
                return {}
            memo[f] = {}  # cycle guard
            total = sum(callers[f].values())
            acc = collections.Counter()
            for c, k in callers[f].items():
                for e, x in share(c, depth + 1).items():
                    acc[e] += x * k / total
            memo[f] = dict(acc)
            return memo[f]
        return share

    share = make_share(set(exports))

    per_cb_wasm = collections.Counter()
    per_cb_host = collections.Counter()
    for name, n in ws.items():
        for e, x in share(name).items():
            per_cb_wasm[e] += n * x
    for ((ck, cn), t), n in site_calls_raw.items():
        r = resolve(t)
        if ck == "wasm" and r[0] != "wasm":
            for e, x in share(cn).items():
                per_cb_host[e] += n * x
    unattributed = wasm_total - sum(per_cb_wasm.values())
    out.append("\n## Per callback: wasm self instructions attributed to it (gprof-style: by call counts from each caller), and the host calls made under it\n")
    out.append("| export | wasm Ir/req | % of wasm | host (wrappers+JS+V8 runtime) Ir/req |")
    out.append("|---|---:|---:|---:|")
    for e in exports:
        if per_cb_wasm[e] or per_cb_host[e]:
            out.append(f"| {e} | {per_cb_wasm[e] / N:,.0f} | {100 * per_cb_wasm[e] / wasm_total:.1f}% | {per_cb_host[e] / N:,.0f} |")
    if abs(unattributed) / N >= 1:
        out.append(f"| (not reached from an export in the call graph) | {unattributed / N:,.0f} | {100 * unattributed / wasm_total:.1f}% | |")

    # The same split over the filters' hooks (the generic `<F as Stage>::*` instances) and the
    # SDK/dispatcher code around them (everything reached from an export but not from a hook).
    hooks = {f for f in ws if f in owner} | {k[1] for k in calls_to if k[0] == "wasm" and k[1] in owner}
    hshare = make_share(hooks | set(exports))
    per_hook = collections.Counter()
    for name, n in ws.items():
        for e, x in hshare(name).items():
            per_hook[e] += n * x
    out.append("\n## Per filter hook: wasm self instructions attributed to it (same method); exports = SDK/dispatcher code outside the hooks\n")
    out.append("| hook | wasm Ir/req | % of wasm |")
    out.append("|---|---:|---:|")
    for e, n in per_hook.most_common():
        out.append(f"| `{label(e) if e in owner else e + ' (outside the hooks)'}` | {n / N:,.0f} | {100 * n / wasm_total:.1f}% |")

    out.append("\n## Host side: inclusive instructions of calls from wasm into wrappers (import calls), by calling wasm function\n")
    out.append("| wasm caller (import shim) | Ir/req incl. |")
    out.append("|---|---:|")
    hc = collections.Counter()
    for ((ck, cn), (tk, tn)), n in site_calls.items():
        if ck == "wasm" and tk in ("wrapper", "builtin", "native", "js"):
            hc[(cn, tk)] += n
    for (cn, tk), n in hc.most_common(25):
        out.append(f"| `{label(cn)}` → {tk} | {n / N:,.0f} |")

    out.append("\n## Native functions called directly from wasm code\n")
    out.append("| callee | calls/req | Ir/req incl. |")
    out.append("|---|---:|---:|")
    nat = collections.Counter(); natc = collections.Counter()
    for ((ck, cn), t), n in site_calls_raw.items():
        if ck == "wasm" and t[0] == "native":
            nat[t[1]] += n
    for ((ck, cn), t), n in site_counts_raw.items():
        if ck == "wasm" and t[0] == "native":
            natc[t[1]] += n
    for name, n in nat.most_common(10):
        out.append(f"| `{name[:100]}` | {natc[name] / N:.1f} | {n / N:,.0f} |")

    out.append("\n## Top 20 non-wasm self costs\n")
    out.append("| Ir/req | kind | name |")
    out.append("|---:|---|---|")
    for (kind, name), n in collections.Counter({k: v for k, v in self_cost.items() if k[0] != "wasm"}).most_common(20):
        out.append(f"| {n / N:,.0f} | {kind} | `{name[:110]}` |")
    print("\n".join(out))


if __name__ == "__main__":
    main()
