//! Prunes a small proxy-wasm-shaped module and checks the result with wasmparser.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use wasmesh_prune::{prune, HOOKS_SECTION};
use wasmparser::{Parser, Payload, Validator};

/// A module exporting what the `proxy-wasm` crate exports, with `hooks` (a WAT string
/// literal) as its `wasmesh.hooks` section when given. `proxy_on_response_headers` is
/// the only user of the `proxy_send_local_response` import and of `$respond`.
fn module(hooks: Option<&str>) -> Vec<u8> {
    let hooks = hooks
        .map(|bytes| format!(r#"(@custom "{HOOKS_SECTION}" "{bytes}")"#))
        .unwrap_or_default();
    wat::parse_str(format!(
        r#"(module
            (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
            (import "env" "proxy_send_local_response"
                (func $send (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
            (memory (export "memory") 1)
            (data (i32.const 16) "hello")
            (func $respond (result i32)
                (call $send (i32.const 403) (i32.const 0) (i32.const 0) (i32.const 0)
                    (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
            (func (export "_initialize"))
            (func (export "proxy_abi_version_0_2_1"))
            (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 16))
            (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
            (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
            (func (export "proxy_on_context_create") (param i32 i32))
            (func (export "proxy_on_delete") (param i32))
            (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
                (drop (call $log (i32.const 2) (i32.const 16) (i32.const 5)))
                (i32.const 0))
            (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
                (drop (call $respond))
                (i32.const 1))
            (func (export "proxy_on_response_trailers") (param i32 i32) (result i32) (i32.const 0))
            (func (export "proxy_on_log") (param i32))
            (func (export "proxy_on_tick") (param i32))
            (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32) (i32.const 0))
            (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
            {hooks}
        )"#
    ))
    .expect("the test module parses")
}

/// What the checks look at in a module.
#[derive(Debug, Default)]
struct Summary {
    exports: Vec<String>,
    imports: u32,
    functions: u32,
    customs: Vec<(String, Vec<u8>)>,
}

/// Validates `wasm` and summarises it.
fn summary(wasm: &[u8]) -> Summary {
    Validator::new()
        .validate_all(wasm)
        .expect("the module validates");
    let mut summary = Summary::default();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.unwrap() {
            Payload::ExportSection(reader) => {
                for export in reader {
                    summary.exports.push(export.unwrap().name.to_string());
                }
            }
            Payload::ImportSection(reader) => summary.imports = reader.count(),
            Payload::FunctionSection(reader) => summary.functions = reader.count(),
            Payload::CustomSection(reader) => summary
                .customs
                .push((reader.name().to_string(), reader.data().to_vec())),
            _ => {}
        }
    }
    summary
}

#[test]
fn removes_the_callbacks_the_hooks_do_not_name_and_what_only_they_reached() {
    // Request headers (1) and log (8).
    let input = module(Some("\\09"));
    let before = summary(&input);
    assert_eq!(before.exports.len(), 15);

    let pruned = prune(&input).unwrap();
    let after = summary(&pruned.wasm);
    assert_eq!(
        after.exports,
        [
            "memory",
            "_initialize",
            "proxy_abi_version_0_2_1",
            "proxy_on_memory_allocate",
            "proxy_on_vm_start",
            "proxy_on_configure",
            "proxy_on_context_create",
            "proxy_on_delete",
            "proxy_on_request_headers",
            "proxy_on_log",
            "proxy_on_tick",
        ]
    );
    assert_eq!(
        pruned.removed,
        [
            "proxy_on_response_headers",
            "proxy_on_response_trailers",
            "proxy_on_request_body",
            "proxy_on_done",
        ]
    );
    // The four callbacks, `$respond` and the import only `$respond` called are gone.
    assert_eq!(before.functions - after.functions, 5);
    assert_eq!((before.imports, after.imports), (2, 1));
    assert!(
        after
            .customs
            .contains(&(HOOKS_SECTION.to_string(), vec![9])),
        "{:?}",
        after.customs
    );
}

#[test]
fn every_hook_keeps_every_hook_export() {
    let pruned = prune(&module(Some("\\0f"))).unwrap();
    assert_eq!(pruned.removed, ["proxy_on_request_body", "proxy_on_done"]);
    let after = summary(&pruned.wasm);
    assert!(after
        .exports
        .iter()
        .any(|name| name == "proxy_on_response_trailers"));
    assert_eq!(after.imports, 2);
}

#[test]
fn a_module_without_hooks_is_left_as_it_is() {
    for input in [module(None), module(Some(""))] {
        let pruned = prune(&input).unwrap();
        assert_eq!(pruned.wasm, input);
        assert!(pruned.removed.is_empty());
    }
}

#[test]
fn what_is_not_wasm_is_refused() {
    let error = prune(b"\x7fELF\x02\x01\x01\x00").unwrap_err();
    assert!(error.contains("not a valid wasm module"), "{error}");
}
