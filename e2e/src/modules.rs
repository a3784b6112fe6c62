//! Variants of a built module for delivery tests: the same filter as another module, and
//! a valid module with intact exports that Envoy refuses to load.

/// `module` with a custom section appended: the same filter, a different module (another
/// hash, so Envoy starts a new VM for it).
pub fn with_custom_section(module: &[u8], name: &str, payload: &[u8]) -> Vec<u8> {
    let mut content = leb128(name.len());
    content.extend_from_slice(name.as_bytes());
    content.extend_from_slice(payload);
    let mut out = module.to_vec();
    out.push(0);
    out.extend(leb128(content.len()));
    out.extend(content);
    out
}

/// `module` with the name of its first import overwritten by `x`s (the same length, so
/// nothing else moves): still a valid module with its exports intact (wasmesh-cp's
/// checks pass), but one Envoy refuses to load, as it provides no such host function.
/// `None` when `module` has no (named) import.
pub fn with_unknown_import(module: &[u8]) -> Option<Vec<u8>> {
    let (offset, import) = wasmparser::Parser::new(0)
        .parse_all(module)
        .find_map(|payload| match payload {
            Ok(wasmparser::Payload::ImportSection(imports)) => {
                imports.into_iter().find_map(|group| match group {
                    Ok(wasmparser::Imports::Single(offset, import)) => Some((offset, import)),
                    _ => None,
                })
            }
            _ => None,
        })?;
    if import.name.is_empty() {
        return None;
    }
    let start = usize::try_from(offset).ok()?
        + leb128(import.module.len()).len()
        + import.module.len()
        + leb128(import.name.len()).len();
    let mut out = module.to_vec();
    out.get_mut(start..start + import.name.len())?.fill(b'x');
    Some(out)
}

/// `value` as unsigned LEB128.
fn leb128(mut value: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The smallest module with one empty function: type, function and code sections.
    const MODULE: &[u8] = &[
        0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 10, 4, 1, 2, 0, 0x0b,
    ];

    /// A module importing the function `env.f` and nothing else.
    const IMPORTING: &[u8] = b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0\x02\x09\x01\x03env\x01f\0\0";

    #[test]
    fn variants_parse_as_expected() {
        let extended = with_custom_section(MODULE, "x", b"v2");
        assert!(wasmparser::Validator::new().validate_all(&extended).is_ok());
        assert_ne!(extended, MODULE);
        assert_eq!(with_unknown_import(MODULE), None);
        let renamed = with_unknown_import(IMPORTING).unwrap();
        assert_eq!(renamed.len(), IMPORTING.len());
        assert!(wasmparser::Validator::new().validate_all(&renamed).is_ok());
        assert!(renamed.windows(6).any(|w| w == b"\x03env\x01x"));
        assert_ne!(renamed, IMPORTING);
    }
}
