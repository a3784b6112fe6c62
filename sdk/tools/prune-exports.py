#!/usr/bin/env python3
"""Removes the proxy-wasm callback exports a wasmesh module does not use.

Envoy calls every callback a module exports, and each call crosses into the VM. The
`proxy-wasm` crate exports all of them. A module built with `wasmesh_sdk::export_filter!`
records the hooks its filter implements in the custom section `wasmesh.hooks` (one byte,
see `sdk/src/hooks.rs`); this script keeps the exports the proxy-wasm dispatcher needs plus
those hooks, and drops the other `proxy_on_*` exports. Run `wasm-opt` afterwards to drop the
code only they reached. A module without the section is copied unchanged.

usage: prune-exports.py IN.wasm OUT.wasm
"""

import sys

# Needed by the dispatcher whatever the filter does: VM start, configuration, contexts.
ALWAYS = {
    "proxy_on_memory_allocate",
    "proxy_on_vm_start",
    "proxy_on_configure",
    "proxy_on_context_create",
    "proxy_on_delete",
}
# Bit of the `wasmesh.hooks` byte -> the export serving it.
HOOK_EXPORTS = {
    1: "proxy_on_request_headers",
    2: "proxy_on_response_headers",
    4: "proxy_on_response_trailers",
    8: "proxy_on_log",
}


def read_leb(data, at):
    result = shift = 0
    while True:
        byte = data[at]
        at += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, at


def write_leb(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def sections(data):
    if data[:8] != b"\0asm\x01\0\0\0":
        raise SystemExit("not a wasm module (version 1)")
    at = 8
    while at < len(data):
        start = at
        section_id = data[at]
        size, body = read_leb(data, at + 1)
        yield section_id, start, body, body + size
        at = body + size


def hooks_byte(data):
    for section_id, _, body, end in sections(data):
        if section_id == 0:
            name_len, name_at = read_leb(data, body)
            if data[name_at:name_at + name_len] == b"wasmesh.hooks":
                payload = data[name_at + name_len:end]
                return payload[0] if payload else None
    return None


def kept(name, hooks):
    if not name.startswith("proxy_on_"):
        return True
    return name in ALWAYS or any(hooks & bit and name == export for bit, export in HOOK_EXPORTS.items())


def prune(data):
    hooks = hooks_byte(data)
    if hooks is None:
        return data, []
    out = bytearray(data[:8])
    dropped = []
    for section_id, start, body, end in sections(data):
        if section_id != 7:
            out += data[start:end]
            continue
        count, at = read_leb(data, body)
        entries = bytearray()
        kept_count = 0
        for _ in range(count):
            entry_start = at
            name_len, name_at = read_leb(data, at)
            name = data[name_at:name_at + name_len].decode()
            _, at = read_leb(data, name_at + name_len + 1)
            if kept(name, hooks):
                entries += data[entry_start:at]
                kept_count += 1
            else:
                dropped.append(name)
        payload = write_leb(kept_count) + bytes(entries)
        out += bytes([7]) + write_leb(len(payload)) + payload
    return bytes(out), dropped


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    pruned, dropped = prune(data)
    with open(sys.argv[2], "wb") as f:
        f.write(pruned)
    if dropped:
        print(f"{sys.argv[2]}: removed {len(dropped)} unused exports", file=sys.stderr)


if __name__ == "__main__":
    main()
