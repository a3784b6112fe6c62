#!/usr/bin/env python3
"""Aggregates a V8 .cpuprofile of harness.mjs by wasm function (Rust names demangled).

usage: analyze.py PROFILE.cpuprofile [MORE.cpuprofile ...] --wasm shipped.wasm [--top 30]

Each sample counts once (the sampler's interval is uniform, its actual rate on a busy
two-core machine is not; counts are what the percentages are of). A sample is:
  wasm      its leaf frame is a wasm function: self time of that function;
  wrapper   js-to-wasm (callback entry) or wasm-to-js (host import call) wrapper code;
  host      JS (or a V8 builtin/runtime frame) below a wasm frame: the host stub that
            implements a proxy-wasm / WASI import, by import name;
  driver    JS not below wasm: the harness loop (copying header maps, ...);
  gc        (garbage collector): the JS heap, i.e. the host stubs' and driver's garbage.
Wasm functions generic over the filter (`<F as wasmesh_sdk::chain::Stage>::on_request_headers`
exists once per filter, told apart only by the symbol hash) are assigned to their filter by
the filter crates their code calls (static call graph from wasm-dis), or by elimination.
"""
import argparse, collections, json, os, re, shutil, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from callees import callgraph  # noqa: E402

CALLBACKS = {
    "cbCreate": "proxy_on_context_create",
    "cbRequestHeaders": "proxy_on_request_headers",
    "cbResponseHeaders": "proxy_on_response_headers",
    "cbLog": "proxy_on_log",
    "cbDelete": "proxy_on_delete",
}
FILTERS = ["header_normalization", "access_control", "trace_propagation", "service_metrics"]


# ---------------------------------------------------------------------------------------------
def demangle_all(names):
    """mangled -> demangled (without hash); rustfilt if available, else a legacy-only fallback."""
    names = list(names)
    tool = os.path.join(HERE, ".tools/bin/rustfilt")
    if not os.path.exists(tool):
        tool = shutil.which("rustfilt")
    if tool:
        out = subprocess.run([tool], input="\n".join(names) + "\n", capture_output=True, text=True, check=True).stdout
        lines = out.split("\n")
        return {n: lines[i] for i, n in enumerate(names)}
    return {n: legacy_demangle(n) for n in names}


LEGACY_ESC = {"$LT$": "<", "$GT$": ">", "$u20$": " ", "$C$": ",", "$RF$": "&", "$BP$": "*", "$SP$": "@",
              "$LP$": "(", "$RP$": ")", "$u7b$": "{", "$u7d$": "}", "$u5b$": "[", "$u5d$": "]",
              "$u7e$": "~", "$u27$": "'", "$u22$": '"', "$u3b$": ";", "$u2b$": "+", "$u21$": "!"}


def legacy_demangle(name):
    m = re.match(r"_ZN(.*)E$", name)
    if not m:
        return name
    rest, parts = m.group(1), []
    while rest and rest[0].isdigit():
        n = re.match(r"\d+", rest).group(0)
        seg = rest[len(n):len(n) + int(n)]
        rest = rest[len(n) + int(n):]
        parts.append(seg)
    if parts and re.fullmatch(r"h[0-9a-f]{16}", parts[-1]):
        parts.pop()
    s = "::".join(parts)
    for k, v in LEGACY_ESC.items():
        s = s.replace(k, v)
    return s.replace("..", "::").lstrip("_")


def symbol_hash(name):
    m = re.search(r"17(h[0-9a-f]{16})E$", name)
    return m.group(1) if m else ""


# ---------------------------------------------------------------------------------------------
def owners_of_generics(wasm, demangled):
    """For functions generic over the filter (`<F as ...>`), which filter crate each instance is."""
    graph = callgraph(wasm)
    generic = [f for f in graph if "<F as " in demangled.get(f, "")]
    owner, how = {}, {}
    for f in generic:
        votes = collections.Counter()
        for c in graph[f]:
            for crate in FILTERS:
                if re.search(r"\d+%s\d|_%s\.\.|%s::" % (crate, crate, crate), c) or crate in demangled.get(c, ""):
                    votes[crate] += 1
        if votes:
            owner[f] = votes.most_common(1)[0][0]
            how[f] = "calls"
    # elimination within each group of same-named instances
    groups = collections.defaultdict(list)
    for f in generic:
        groups[demangled[f]].append(f)
    for name, fs in groups.items():
        left = [f for f in fs if f not in owner]
        free = [c for c in FILTERS if c not in {owner.get(f) for f in fs}]
        if len(left) == 1 and len(free) == 1 and len(fs) == len(FILTERS):
            owner[left[0]] = free[0]
            how[left[0]] = "elimination"
    return owner, how


def group_of(name, dm, owner):
    """Crate/module bucket of a wasm function."""
    if owner:
        return owner + " (filter hook, generic instance)"
    low = dm
    for crate in FILTERS:
        if low.startswith(crate + "::") or low.startswith("<" + crate + "::") or re.match(r"<[^>]* as %s::" % crate, low) \
                or ("impl " + crate + "::") in low or low.startswith("<&" + crate):
            return crate
    rules = [
        (r"^(memcpy|memmove|memset|memcmp|bcmp|strlen)$|compiler_builtins|core::slice::copy_from_slice_impl|core::intrinsics", "memcpy/memset/memcmp (compiler_builtins)"),
        (r"__rust_alloc|__rust_dealloc|__rust_realloc|__rdl_|wasmesh_sdk::allocator|dlmalloc|GlobalAlloc|alloc::alloc::", "allocator"),
        (r"alloc::raw_vec|RawVec|finish_grow|grow_one|do_reserve|Vec<T,A>>::reserve|extend_from_slice|Vec<T,A>>::retain|Vec<T,A> as core::clone|<alloc::string::String as core::clone|drop_in_place|as core::ops::drop::Drop>|String>::push|Cow<B>>::into_owned|Cow<B> as core::clone|alloc::str::|alloc::vec::|alloc::string::", "alloc: Vec/String grow, clone, drop"),
        (r"hashbrown|core::hash|std::collections::hash|RandomState|SipHasher|sip::", "hashbrown HashMap (foldhash; proxy_wasm dispatcher)"),
        (r"alloc::collections::btree|BTreeMap", "BTreeMap"),
        (r"^proxy_wasm::|proxy_wasm::dispatcher|^proxy_on_|<proxy_wasm::", "proxy_wasm dispatcher"),
        (r"core::fmt|alloc::fmt|::fmt$|Display|Debug|write_fmt|format", "formatting (core::fmt)"),
        (r"^log::|<log::", "log crate"),
        (r"serde|json", "serde/json"),
        (r"wasmesh_sdk::http", "wasmesh_sdk::http"),
        (r"wasmesh_sdk::headers", "wasmesh_sdk::headers"),
        (r"trace_propagation::trace_context", "trace_propagation::trace_context"),
        (r"wasmesh_sdk::metrics", "wasmesh_sdk::metrics"),
        (r"wasmesh_path::", "wasmesh_path"),
        (r"wasmesh_identity::", "wasmesh_identity"),
        (r"wasmesh_sdk::properties|wasmesh_sdk::wire", "wasmesh_sdk::properties/wire"),
        (r"wasmesh_sdk::host", "wasmesh_sdk::host (import shims)"),
        (r"wasmesh_sdk::filter|wasmesh_sdk::chain", "wasmesh_sdk::filter/chain (dispatch)"),
        (r"wasmesh_sdk::", "wasmesh_sdk (other)"),
        (r"core::str|from_utf8|core::unicode|char", "core::str (utf8, char)"),
        (r"core::iter|core::slice|core::option|core::result|core::ops|Iterator|core::", "core (iterators, slices: generic)"),
    ]
    for pat, g in rules:
        if re.search(pat, dm):
            return g
    return "other"


# ---------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("profiles", nargs="+")
    ap.add_argument("--wasm", default=os.path.join(HERE, "shipped.wasm"))
    ap.add_argument("--top", type=int, default=30)
    a = ap.parse_args()

    samples = []  # list of stacks (root..leaf) of callFrames (name, url)
    for path in a.profiles:
        p = json.load(open(path))
        nodes = {n["id"]: n for n in p["nodes"]}
        parent = {}
        for n in p["nodes"]:
            for c in n.get("children", []):
                parent[c] = n["id"]
        cache = {}

        def stack(i):
            if i in cache:
                return cache[i]
            out = []
            j = i
            while j is not None:
                cf = nodes[j]["callFrame"]
                out.append((cf["functionName"], cf["url"]))
                j = parent.get(j)
            out.reverse()
            cache[i] = tuple(out)
            return cache[i]

        for s in p["samples"]:
            samples.append(stack(s))

    def kind(frame):
        name, url = frame
        if name.startswith("wasm-to-js:") or name.startswith("js-to-wasm:"):
            return "wrapper"
        if url.startswith("wasm://"):
            return "wasm"
        if name in ("(garbage collector)", "(program)", "(idle)", "(root)"):
            return name
        return "js"

    all_wasm = {f[0] for st in samples for f in st if kind(f) == "wasm"}
    dm = demangle_all(all_wasm)
    owner, how = owners_of_generics(a.wasm, demangle_all(
        set(callgraph_names(a.wasm)) | all_wasm))

    def label(f):
        d = dm.get(f, f)
        if f in owner:
            d += f"  [{owner[f]}{'*' if how[f] == 'elimination' else ''}]"
        return d

    total = len(samples)
    cat = collections.Counter()
    wasm_self = collections.Counter()
    wasm_incl = collections.Counter()
    host_by_import = collections.Counter()
    wrapper_by = collections.Counter()
    per_cb = collections.defaultdict(collections.Counter)
    parent_of = collections.defaultdict(collections.Counter)
    for st in samples:
        leaf = st[-1]
        k = kind(leaf)
        cb = next((CALLBACKS[f[0]] for f in st if f[0] in CALLBACKS), None)
        wasm_idx = [i for i, f in enumerate(st) if kind(f) == "wasm"]
        if k == "wasm":
            c = "wasm"
            wasm_self[leaf[0]] += 1
            # nearest caller that is not a core/alloc generic helper
            for f in reversed(st[:-1]):
                if kind(f) == "wasm":
                    parent_of[leaf[0]][f[0]] += 1
                    break
        elif k == "wrapper":
            c = "wrapper: js-to-wasm (callback entry)" if leaf[0].startswith("js-to-wasm") else "wrapper: wasm-to-js (import call)"
            wrapper_by[c] += 1
        elif k == "js" and wasm_idx:
            c = "host stubs (JS, below wasm)"
            # the JS function directly below the last wasm-to-js wrapper is the import's stub
            imp = "?"
            for i in range(len(st) - 1, -1, -1):
                if st[i][0].startswith("wasm-to-js:") and i + 1 < len(st):
                    imp = st[i + 1][0]
                    break
            host_by_import[imp] += 1
        elif k == "js":
            c = "harness driver (JS)"
        else:
            c = k
        cat[c] += 1
        per_cb[cb or "(outside callbacks)"][c] += 1
        for f in {st[i][0] for i in wasm_idx}:
            wasm_incl[f] += 1

    wasm_total = cat["wasm"]
    out = []
    P = lambda n, d: f"{100.0 * n / d:5.1f}%" if d else "  -  "
    out.append(f"## Samples: {total} ({', '.join(os.path.basename(x) for x in a.profiles)}; module {os.path.basename(a.wasm)})\n")
    out.append("| where | samples | % of all |")
    out.append("|---|---:|---:|")
    for c, n in cat.most_common():
        out.append(f"| {c} | {n} | {P(n, total)} |")

    out.append(f"\n## Top {a.top} wasm functions by self time (% of wasm time = {wasm_total} samples)\n")
    out.append("| # | self % wasm | incl. % all | function (demangled; [filter] for per-filter generic instances, * = by elimination) | group | main caller |")
    out.append("|---:|---:|---:|---|---|---|")
    for i, (f, n) in enumerate(wasm_self.most_common(a.top), 1):
        pc = parent_of[f].most_common(1)
        caller = label(pc[0][0]) if pc else ""
        caller = caller if len(caller) < 90 else caller[:87] + "..."
        out.append(f"| {i} | {P(n, wasm_total)} | {P(wasm_incl[f], total)} | `{label(f)}` | {group_of(f, dm.get(f, f), owner.get(f))} | {caller} |")

    groups = collections.Counter()
    gfuncs = collections.defaultdict(int)
    for f, n in wasm_self.items():
        g = group_of(f, dm.get(f, f), owner.get(f))
        groups[g] += n
        gfuncs[g] += 1
    out.append("\n## Wasm self time by crate/module\n")
    out.append("| group | % of wasm | functions seen |")
    out.append("|---|---:|---:|")
    for g, n in groups.most_common():
        out.append(f"| {g} | {P(n, wasm_total)} | {gfuncs[g]} |")

    out.append("\n## Per callback (all samples under the callback's JS call: wasm + wrappers + host stubs)\n")
    cols = ["wasm", "host stubs (JS, below wasm)", "wrapper: js-to-wasm (callback entry)", "wrapper: wasm-to-js (import call)"]
    out.append("| callback | % of all | % of wasm time | wasm | host stubs | js→wasm entry | wasm→js wrappers |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    for cb in list(CALLBACKS.values()) + ["(outside callbacks)"]:
        c = per_cb.get(cb)
        if not c:
            continue
        n = sum(c.values())
        out.append(f"| {cb} | {P(n, total)} | {P(c['wasm'], wasm_total)} | " + " | ".join(str(c[x]) for x in cols) + " |")

    out.append("\n## Host stubs (JS self+callees below wasm), by import\n")
    out.append("| import stub | samples | % of all |")
    out.append("|---|---:|---:|")
    for f, n in host_by_import.most_common():
        out.append(f"| {f} | {n} | {P(n, total)} |")

    out.append(f"\n## Top 25 wasm functions by inclusive time (% of all samples, includes host calls below)\n")
    out.append("| incl. % | self % wasm | function |")
    out.append("|---:|---:|---|")
    for f, n in wasm_incl.most_common(25):
        out.append(f"| {P(n, total)} | {P(wasm_self[f], wasm_total)} | `{label(f)}` |")
    print("\n".join(out))


def callgraph_names(wasm):
    return list(callgraph(wasm).keys())


if __name__ == "__main__":
    main()
