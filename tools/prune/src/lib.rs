//! Removes the proxy-wasm callback exports a wasmesh module does not use, and the code
//! only they reached.
//!
//! Envoy calls every callback a module exports, and each call crosses into the VM. The
//! `proxy-wasm` crate exports all of them. A module built with
//! `wasmesh_sdk::export_filter!` records the hooks its filter implements in the custom
//! section [`HOOKS_SECTION`] (one byte, the bits of `wasmesh_sdk::Hooks`). [`prune`]
//! keeps the exports the proxy-wasm dispatcher needs ([`ALWAYS_KEPT`]), those of the
//! declared hooks ([`HOOK_EXPORTS`]) and every export not named `proxy_on_*`; it drops
//! the other `proxy_on_*` exports, then removes the functions, globals, data and types
//! nothing reaches any more (walrus's garbage collection). The other custom sections
//! stay, the hooks section and the `name` section too, except DWARF (`.debug_*`) and
//! `producers`, which the release profile (`strip = true`) does not write anyway (walrus
//! would add itself to `producers`). A module without the hooks section is returned
//! unchanged.
//!
//! `make build` runs the `wasmesh-prune IN.wasm OUT.wasm` binary on every module before
//! `wasm-opt`.

use walrus::{Module, ModuleConfig, RawCustomSection};

/// The custom section holding the hooks a filter implements (one byte).
pub const HOOKS_SECTION: &str = "wasmesh.hooks";

/// The prefix of the proxy-wasm callback exports; other exports are always kept.
pub const CALLBACK_PREFIX: &str = "proxy_on_";

/// The callbacks the dispatcher needs whatever the filter does: VM start,
/// configuration, contexts, and the tick by which the SDK follows Envoy's log level.
pub const ALWAYS_KEPT: [&str; 6] = [
    "proxy_on_memory_allocate",
    "proxy_on_vm_start",
    "proxy_on_configure",
    "proxy_on_context_create",
    "proxy_on_delete",
    "proxy_on_tick",
];

/// Bit of the [`HOOKS_SECTION`] byte, and the export serving that hook.
pub const HOOK_EXPORTS: [(u8, &str); 4] = [
    (1, "proxy_on_request_headers"),
    (2, "proxy_on_response_headers"),
    (4, "proxy_on_response_trailers"),
    (8, "proxy_on_log"),
];

/// A pruned module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pruned {
    /// The module's bytes.
    pub wasm: Vec<u8>,
    /// The names of the removed exports, in the module's order.
    pub removed: Vec<String>,
}

/// Whether the export `name` stays in a module whose hooks byte is `hooks`.
pub fn is_kept(name: &str, hooks: u8) -> bool {
    !name.starts_with(CALLBACK_PREFIX)
        || ALWAYS_KEPT.contains(&name)
        || HOOK_EXPORTS
            .iter()
            .any(|&(bit, export)| hooks & bit != 0 && name == export)
}

/// The hooks byte of `module`: the first byte of its first [`HOOKS_SECTION`], if that
/// section exists and is not empty.
pub fn hooks_byte(module: &Module) -> Option<u8> {
    module
        .customs
        .iter()
        .filter_map(|(_, section)| section.as_any().downcast_ref::<RawCustomSection>())
        .find(|section| section.name == HOOKS_SECTION)
        .and_then(|section| section.data.first().copied())
}

/// Prunes the module `wasm` as the module documentation says; the error says why
/// `wasm` could not be read as a module.
pub fn prune(wasm: &[u8]) -> Result<Pruned, String> {
    let mut module = ModuleConfig::new()
        .generate_producers_section(false)
        .parse(wasm)
        .map_err(|error| format!("not a valid wasm module: {error:#}"))?;
    let Some(hooks) = hooks_byte(&module) else {
        return Ok(Pruned {
            wasm: wasm.to_vec(),
            removed: Vec::new(),
        });
    };
    let dropped: Vec<_> = module
        .exports
        .iter()
        .filter(|export| !is_kept(&export.name, hooks))
        .map(|export| (export.id(), export.name.clone()))
        .collect();
    for (id, _) in &dropped {
        module.exports.delete(*id);
    }
    walrus::passes::gc::run(&mut module);
    Ok(Pruned {
        wasm: module.emit_wasm(),
        removed: dropped.into_iter().map(|(_, name)| name).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unused_callbacks_are_dropped() {
        let request_and_log = 1 | 8;
        for name in ALWAYS_KEPT {
            assert!(is_kept(name, 0), "{name}");
        }
        for name in ["memory", "_initialize", "proxy_abi_version_0_2_1", "malloc"] {
            assert!(is_kept(name, 0), "{name}");
        }
        assert!(is_kept("proxy_on_request_headers", request_and_log));
        assert!(is_kept("proxy_on_log", request_and_log));
        assert!(!is_kept("proxy_on_response_headers", request_and_log));
        assert!(!is_kept("proxy_on_response_trailers", request_and_log));
        assert!(!is_kept("proxy_on_queue_ready", 15));
        assert!(!is_kept("proxy_on_request_body", 15));
    }
}
