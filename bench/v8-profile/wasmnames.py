#!/usr/bin/env python3
"""Reads the `name` custom section of a wasm module.
usage: wasmnames.py --check A.wasm [B.wasm ...]   prints sections summary and function-name count
       wasmnames.py --dump A.wasm                 prints "index<TAB>name" for every named function
"""
import sys

def leb(d, i):
    r = s = 0
    while True:
        b = d[i]; i += 1
        r |= (b & 0x7F) << s; s += 7
        if b < 0x80: return r, i

def sections(d):
    assert d[:4] == b"\0asm"
    i = 8
    while i < len(d):
        sid = d[i]; i += 1
        n, i = leb(d, i)
        yield sid, d[i:i+n]
        i += n

def names(d):
    imports = 0; nfuncs = 0; custom = []
    out = {}
    for sid, body in sections(d):
        if sid == 2:
            cnt, j = leb(body, 0)
            for _ in range(cnt):
                l, j = leb(body, j); j += l
                l, j = leb(body, j); j += l
                kind = body[j]; j += 1
                if kind == 0:
                    imports += 1; _, j = leb(body, j)
                elif kind == 1:
                    j += 1; fl, j = leb(body, j); _, j = leb(body, j)
                    if fl & 1: _, j = leb(body, j)
                elif kind == 2:
                    fl, j = leb(body, j); _, j = leb(body, j)
                    if fl & 1: _, j = leb(body, j)
                elif kind == 3:
                    j += 2
        elif sid == 3:
            nfuncs, _ = leb(body, 0)
        elif sid == 0:
            l, j = leb(body, 0)
            nm = body[j:j+l].decode(); custom.append(nm)
            if nm == "name":
                k = j + l
                while k < len(body):
                    sub = body[k]; k += 1
                    sz, k = leb(body, k)
                    if sub == 1:
                        c, m = leb(body, k)
                        for _ in range(c):
                            idx, m = leb(body, m)
                            ln, m = leb(body, m)
                            out[idx] = body[m:m+ln].decode("utf-8", "replace"); m += ln
                    k += sz
    return out, imports, nfuncs, custom

if __name__ == "__main__":
    mode = sys.argv[1]
    for f in sys.argv[2:]:
        d = open(f, "rb").read()
        n, imp, nf, custom = names(d)
        if mode == "--check":
            print(f"{f}: {len(d)} bytes, {imp} imported + {nf} defined functions, {len(n)} names; custom sections: {custom}")
            if "name" not in custom or len(n) < nf:
                print("  WARNING: missing function names"); 
        else:
            for k in sorted(n): print(f"{k}\t{n[k]}")
