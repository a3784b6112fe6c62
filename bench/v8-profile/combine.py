#!/usr/bin/env python3
"""Side by side: sampled self time (analyze.py's data) and callgrind instructions (functions.tsv).
usage: combine.py PROFILE.cpuprofile FUNCTIONS.tsv [--wasm shipped.wasm] [--top 30]"""
import argparse, collections, json, os, sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from analyze import demangle_all, owners_of_generics, group_of  # noqa: E402
from callees import callgraph  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("profile"); ap.add_argument("tsv")
ap.add_argument("--wasm", default=os.path.join(HERE, "shipped.wasm"))
ap.add_argument("--top", type=int, default=30)
a = ap.parse_args()
p = json.load(open(a.profile))
nodes = {n["id"]: n["callFrame"] for n in p["nodes"]}
self_t = collections.Counter()
for s in p["samples"]:
    cf = nodes[s]
    if cf["url"].startswith("wasm://") and not cf["functionName"].startswith(("wasm-to-js", "js-to-wasm")):
        self_t[cf["functionName"]] += 1
wt = sum(self_t.values())
ir = {}
for line in list(open(a.tsv))[1:]:
    f = line.rstrip("\n").split("\t")
    ir[f[-1]] = (float(f[0]), float(f[2]))
irt = sum(v[0] for v in ir.values())
names = set(callgraph(a.wasm).keys())
dm = demangle_all(names | set(self_t))
owner, how = owners_of_generics(a.wasm, dm)
print(f"| # | time % of wasm (sampled) | Ir/req (callgrind) | Ir % of wasm | calls/req | function | group |")
print("|---:|---:|---:|---:|---:|---|---|")
for i, (f, n) in enumerate(self_t.most_common(a.top), 1):
    d = dm.get(f, f) + (f"  [{owner[f]}{'*' if how[f] == 'elimination' else ''}]" if f in owner else "")
    r, c = ir.get(f, (0.0, 0.0))
    print(f"| {i} | {100 * n / wt:.1f}% | {r:,.0f} | {100 * r / irt:.1f}% | {c:.0f} | `{d}` | {group_of(f, dm.get(f, f), owner.get(f))} |")
