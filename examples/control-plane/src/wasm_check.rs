//! The checks a module passes before it is pushed: what can be known without
//! running it.
//!
//! Checked here: the wasm magic and version, that every section's declared
//! size fits the file, and that the export section exports the entry point of
//! a proxy-wasm module (`_initialize` or `proxy_on_memory_allocate`). Not
//! checked (only Envoy can tell, and it NACKs): the code itself (instructions,
//! types), imports Envoy does not provide, and whether the filter accepts its
//! configuration.

/// The wasm binary magic and version 1.
const WASM_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
/// The id of the export section.
const EXPORT_SECTION: u8 = 7;
/// The highest section id wasm 2.0 defines (12: data count).
const MAX_SECTION_ID: u8 = 12;
/// The export kind of a function.
const FUNCTION_EXPORT: u8 = 0;
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
    let Some((header, mut rest)) = bytes.split_at_checked(WASM_HEADER.len()) else {
        return Err(format!(
            "not a wasm module: {} bytes, shorter than the wasm header",
            bytes.len()
        ));
    };
    if header != WASM_HEADER {
        return Err("not a wasm module: the file does not start with the wasm magic and version 1 (\\0asm 01 00 00 00)".to_string());
    }
    let mut exports: Option<Vec<(String, u8)>> = None;
    while let Some((&id, after_id)) = rest.split_first() {
        let offset = bytes.len() - rest.len();
        let (size, after_size) = read_u32(after_id)
            .ok_or_else(|| format!("truncated section header at byte {offset}"))?;
        let size = usize::try_from(size).map_err(|_| "section size overflow".to_string())?;
        let (payload, next) = after_size.split_at_checked(size).ok_or_else(|| {
            format!(
                "section {id} at byte {offset} declares {size} bytes, but only {} remain",
                after_size.len()
            )
        })?;
        if id > MAX_SECTION_ID {
            return Err(format!("unknown section id {id} at byte {offset}"));
        }
        if id == EXPORT_SECTION {
            if exports.is_some() {
                return Err("two export sections".to_string());
            }
            exports = Some(parse_exports(payload)?);
        }
        rest = next;
    }
    let exports = exports.unwrap_or_default();
    let functions: Vec<&str> = exports
        .iter()
        .filter(|(_, kind)| *kind == FUNCTION_EXPORT)
        .map(|(name, _)| name.as_str())
        .collect();
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

/// Parses an export section's payload into (name, kind) pairs.
fn parse_exports(payload: &[u8]) -> Result<Vec<(String, u8)>, String> {
    let bad = |what: &str| format!("malformed export section: {what}");
    let (count, mut rest) = read_u32(payload).ok_or_else(|| bad("count"))?;
    let mut exports = Vec::new();
    for _ in 0..count {
        let (name_len, after_len) = read_u32(rest).ok_or_else(|| bad("name length"))?;
        let name_len = usize::try_from(name_len).map_err(|_| bad("name length"))?;
        let (name, after_name) = after_len
            .split_at_checked(name_len)
            .ok_or_else(|| bad("name past the end"))?;
        let name = std::str::from_utf8(name).map_err(|_| bad("name is not UTF-8"))?;
        let (&kind, after_kind) = after_name.split_first().ok_or_else(|| bad("kind"))?;
        let (_index, after_index) = read_u32(after_kind).ok_or_else(|| bad("index"))?;
        exports.push((name.to_string(), kind));
        rest = after_index;
    }
    if !rest.is_empty() {
        return Err(bad("bytes after the last export"));
    }
    Ok(exports)
}

/// Reads an unsigned LEB128 `u32` (at most 5 bytes); returns it and the rest.
fn read_u32(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let mut value: u32 = 0;
    for (index, &byte) in bytes.iter().enumerate().take(5) {
        let bits = u32::from(byte & 0x7f);
        let shift = 7 * u32::try_from(index).ok()?;
        if index == 4 && bits > 0x0f {
            return None;
        }
        value |= bits << shift;
        if byte & 0x80 == 0 {
            return Some((value, bytes.get(index + 1..)?));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    /// A module with one export section exporting the given (name, kind) pairs.
    fn module(exports: &[(&str, u8)]) -> Vec<u8> {
        let mut payload = vec![u8::try_from(exports.len()).unwrap()];
        for (name, kind) in exports {
            payload.push(u8::try_from(name.len()).unwrap());
            payload.extend_from_slice(name.as_bytes());
            payload.push(*kind);
            payload.push(0);
        }
        let mut bytes = WASM_HEADER.to_vec();
        // A custom section first, as toolchains write.
        bytes.extend_from_slice(&[0, 3, 1, b'x', 9]);
        bytes.push(EXPORT_SECTION);
        bytes.push(u8::try_from(payload.len()).unwrap());
        bytes.extend_from_slice(&payload);
        bytes
    }

    #[test]
    fn accepts_a_proxy_wasm_module() {
        let summary = check(&module(&[("memory", 2), ("_initialize", 0)])).unwrap();
        assert_eq!(summary.function_exports, 1);
        let summary = check(&module(&[("proxy_on_memory_allocate", 0), ("a", 0)])).unwrap();
        assert_eq!(summary.function_exports, 2);
    }

    #[test]
    fn refuses_what_is_not_wasm() {
        assert!(check(b"")
            .unwrap_err()
            .contains("shorter than the wasm header"));
        assert!(check(b"\x7fELF\x02\x01\x01\x00rest")
            .unwrap_err()
            .contains("wasm magic"));
        assert!(check(&[0, 0x61, 0x73, 0x6d, 2, 0, 0, 0])
            .unwrap_err()
            .contains("wasm magic"));
    }

    #[test]
    fn refuses_a_module_without_the_entry_point() {
        let error = check(&module(&[("_initialize", 2), ("main", 0)])).unwrap_err();
        assert!(error.contains("not a proxy-wasm module"), "{error}");
        assert!(check(&WASM_HEADER)
            .unwrap_err()
            .contains("0 function exports"));
    }

    #[test]
    fn refuses_truncated_or_inconsistent_sections() {
        let whole = module(&[("_initialize", 0)]);
        for cut in WASM_HEADER.len() + 1..whole.len() {
            assert!(check(&whole[..cut]).is_err(), "cut at {cut}");
        }
        let mut unknown = WASM_HEADER.to_vec();
        unknown.extend_from_slice(&[13, 0]);
        assert!(check(&unknown)
            .unwrap_err()
            .contains("unknown section id 13"));
        let mut twice = module(&[("_initialize", 0)]);
        let export_section = twice[WASM_HEADER.len() + 5..].to_vec();
        twice.extend_from_slice(&export_section);
        assert_eq!(check(&twice).unwrap_err(), "two export sections");
    }

    #[test]
    fn leb128() {
        assert_eq!(read_u32(&[0x05, 9]), Some((5, &[9u8][..])));
        assert_eq!(read_u32(&[0xe5, 0x8e, 0x26]), Some((624_485, &[][..])));
        assert_eq!(
            read_u32(&[0xff, 0xff, 0xff, 0xff, 0x0f]),
            Some((u32::MAX, &[][..]))
        );
        assert_eq!(read_u32(&[0xff, 0xff, 0xff, 0xff, 0x1f]), None);
        assert_eq!(read_u32(&[0x80, 0x80]), None);
        assert_eq!(read_u32(&[]), None);
    }
}
