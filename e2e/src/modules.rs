//! Variants of a built module for delivery tests: the same filter as another module, and
//! a module Envoy refuses although its framing and exports are intact.

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

/// `module` with its code section's content overwritten by 0xff: the header, the section
/// framing and the exports are intact (wasmesh-cp's checks pass), the code is not (Envoy's
/// V8 refuses the module). `None` when `module` has no code section.
pub fn corrupt_code(module: &[u8]) -> Option<Vec<u8>> {
    let range = wasmparser::Parser::new(0)
        .parse_all(module)
        .find_map(|payload| match payload {
            Ok(wasmparser::Payload::CodeSectionStart {
                unchecked_range, ..
            }) => Some(unchecked_range),
            _ => None,
        })?;
    let start = usize::try_from(range.start).ok()?;
    let end = usize::try_from(range.end).ok()?;
    let mut out = module.to_vec();
    out.get_mut(start..end)?.fill(0xff);
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

    #[test]
    fn variants_parse_as_expected() {
        let extended = with_custom_section(MODULE, "x", b"v2");
        assert!(wasmparser::Validator::new().validate_all(&extended).is_ok());
        assert_ne!(extended, MODULE);
        let corrupt = corrupt_code(MODULE).unwrap();
        assert_eq!(corrupt.len(), MODULE.len());
        assert!(wasmparser::Validator::new().validate_all(&corrupt).is_err());
    }
}
