#!/usr/bin/env python3
"""Static call graph of a wasm module from `wasm-dis` text: callees of each function.
usage: callees.py module.wasm [name-substring]   (prints callees of the functions matching)"""
import re, subprocess, sys, collections

def callgraph(wasm):
    wat = subprocess.run(["wasm-dis", wasm], capture_output=True, text=True, check=True).stdout
    graph = collections.OrderedDict(); cur = None
    for line in wat.splitlines():
        if line.startswith(" (func "):
            m = re.match(r" \(func \$(\S+)", line)
            cur = m.group(1); graph[cur] = []
        elif cur:
            for c in re.findall(r"\(call \$(\S+?)[\s)]", line + " "):
                graph[cur].append(c)
    return graph

if __name__ == "__main__":
    g = callgraph(sys.argv[1])
    pat = sys.argv[2] if len(sys.argv) > 2 else ""
    for f, cs in g.items():
        if pat in f:
            print(f)
            for c in dict.fromkeys(cs): print("    ->", c)
