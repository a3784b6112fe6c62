//! The checks a module passes before it is pushed: what can be known without
//! running it.
//!
//! Checked here: that the file is a valid WebAssembly module (wasmparser's
//! validator: the binary format, types, every function's instructions), and
//! that it exports the entry point of a proxy-wasm module (`_initialize` or
//! `proxy_on_memory_allocate`) as a function. Not checked (only Envoy can
//! tell, and it NACKs): imports Envoy does not provide, a start that traps, and
//! whether the filter accepts its configuration.

use wasmparser::{ExternalKind, Parser, Payload, Validator};

/// Exports that show the module is a proxy-wasm module; one is enough.
const ENTRY_POINTS: [&str; 2] = ["_initialize", "proxy_on_memory_allocate"];

/// What the checks learnt about a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleSummary {
    /// The module's size in bytes.
    pub bytes: usize,
    /// How many functions it exports.
    pub function_exports: usize,
}

/// Checks `bytes` as a proxy-wasm module; the error says what is wrong.
pub fn check(bytes: &[u8]) -> Result<ModuleSummary, String> {
    let invalid = |error: wasmparser::BinaryReaderError| {
        format!("not a valid wasm module ({} bytes): {error}", bytes.len())
    };
    Validator::new().validate_all(bytes).map_err(invalid)?;
    let mut functions = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        if let Payload::ExportSection(exports) = payload.map_err(invalid)? {
            for export in exports {
                let export = export.map_err(invalid)?;
                if export.kind == ExternalKind::Func {
                    functions.push(export.name);
                }
            }
        }
    }
    if !functions.iter().any(|name| ENTRY_POINTS.contains(name)) {
        return Err(format!(
            "not a proxy-wasm module: it exports neither {} ({} function exports)",
            ENTRY_POINTS.join(" nor "),
            functions.len()
        ));
    }
    Ok(ModuleSummary {
        bytes: bytes.len(),
        function_exports: functions.len(),
    })
}

/// The smallest module that passes [`check`]: one empty function, exported as
/// `_initialize`.
#[cfg(test)]
pub(crate) const MINIMAL_MODULE: &[u8] = b"\0asm\x01\0\0\0\
    \x01\x04\x01\x60\x00\x00\
    \x03\x02\x01\x00\
    \x07\x0f\x01\x0b_initialize\x00\x00\
    \x0a\x04\x01\x02\x00\x0b";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn module(wat: &str) -> Vec<u8> {
        wat::parse_str(wat).unwrap()
    }

    #[test]
    fn accepts_a_proxy_wasm_module() {
        let summary = check(MINIMAL_MODULE).unwrap();
        assert_eq!(summary.function_exports, 1);
        assert_eq!(summary.bytes, MINIMAL_MODULE.len());
        let summary = check(&module(
            r#"(module
                (memory (export "memory") 1)
                (func (export "proxy_on_memory_allocate") (param i32) (result i32) (local.get 0))
                (func (export "a")))"#,
        ))
        .unwrap();
        assert_eq!(summary.function_exports, 2);
    }

    #[test]
    fn refuses_what_is_not_wasm() {
        for bytes in [
            &b""[..],
            b"\x7fELF\x02\x01\x01\x00rest",
            b"garbage, not a wasm module",
            &[0, 0x61, 0x73, 0x6d, 2, 0, 0, 0],
        ] {
            let error = check(bytes).unwrap_err();
            assert!(error.starts_with("not a valid wasm module"), "{error}");
        }
        let error = check(b"\x7fELF\x02\x01\x01\x00").unwrap_err();
        assert!(error.contains("magic header not detected"), "{error}");
    }

    #[test]
    fn refuses_a_module_without_the_entry_point() {
        let error = check(&module(
            r#"(module (global (export "_initialize") i32 (i32.const 0)) (func (export "main")))"#,
        ))
        .unwrap_err();
        assert!(error.contains("not a proxy-wasm module"), "{error}");
        assert!(error.contains("(1 function exports)"), "{error}");
        let error = check(b"\0asm\x01\0\0\0").unwrap_err();
        assert!(error.contains("0 function exports"), "{error}");
    }

    #[test]
    fn refuses_truncated_or_inconsistent_sections() {
        for cut in 1..MINIMAL_MODULE.len() {
            assert!(check(&MINIMAL_MODULE[..cut]).is_err(), "cut at {cut}");
        }
        let mut unknown = MINIMAL_MODULE.to_vec();
        unknown.extend_from_slice(&[0x7f, 0]);
        let error = check(&unknown).unwrap_err();
        assert!(error.contains("section"), "{error}");
        let mut twice = MINIMAL_MODULE.to_vec();
        twice.extend_from_slice(b"\x07\x0f\x01\x0b_initialize\x00\x00");
        assert!(check(&twice).is_err());
    }

    #[test]
    fn refuses_code_that_does_not_validate() {
        // The function promises an i32 and returns nothing.
        let bad = module(r#"(module (func (export "_initialize") (result i32)))"#);
        let error = check(&bad).unwrap_err();
        assert!(error.contains("type mismatch"), "{error}");
    }
}
