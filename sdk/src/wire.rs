//! The proxy-wasm wire formats for header maps and property paths.
//!
//! A header map is serialized as a little-endian `u32` pair count, then a `u32` key
//! length and a `u32` value length per pair, then each key and value followed by a NUL.

/// Encodes header pairs into the proxy-wasm map format.
pub fn encode_pairs<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> Vec<u8> {
    let data_len: usize = pairs
        .iter()
        .map(|(k, v)| k.as_ref().len() + v.as_ref().len() + 2)
        .sum();
    let mut out = Vec::with_capacity(4 + pairs.len() * 8 + data_len);
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (key, value) in pairs {
        out.extend_from_slice(&(key.as_ref().len() as u32).to_le_bytes());
        out.extend_from_slice(&(value.as_ref().len() as u32).to_le_bytes());
    }
    for (key, value) in pairs {
        out.extend_from_slice(key.as_ref());
        out.push(0);
        out.extend_from_slice(value.as_ref());
        out.push(0);
    }
    out
}

fn read_u32(bytes: &[u8], at: usize) -> Option<usize> {
    let word: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    usize::try_from(u32::from_le_bytes(word)).ok()
}

/// Decodes the proxy-wasm map format; `None` when the bytes are malformed.
pub fn decode_pairs(bytes: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let count = read_u32(bytes, 0)?;
    let mut sizes_at = 4usize;
    let mut data_at = count.checked_mul(8)?.checked_add(4)?;
    let mut pairs = Vec::with_capacity(count.min(bytes.len() / 8));
    for _ in 0..count {
        let key_len = read_u32(bytes, sizes_at)?;
        let value_len = read_u32(bytes, sizes_at + 4)?;
        sizes_at += 8;
        let key = bytes.get(data_at..data_at.checked_add(key_len)?)?;
        data_at = data_at.checked_add(key_len + 1)?;
        let value = bytes.get(data_at..data_at.checked_add(value_len)?)?;
        data_at = data_at.checked_add(value_len + 1)?;
        pairs.push((key.to_vec(), value.to_vec()));
    }
    Some(pairs)
}

/// Encodes a property path (`["connection", "mtls"]`) as NUL-separated segments.
pub fn encode_property_path(path: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.iter().map(|s| s.len() + 1).sum());
    for (i, segment) in path.iter().enumerate() {
        if i > 0 {
            out.push(0);
        }
        out.extend_from_slice(segment.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn pairs_round_trip() {
        let pairs = vec![
            (b":path".to_vec(), b"/x".to_vec()),
            (b"a".to_vec(), vec![0xff, 0x00, 0x41]),
            (b"a".to_vec(), Vec::new()),
        ];
        assert_eq!(decode_pairs(&encode_pairs(&pairs)), Some(pairs));
    }

    #[test]
    fn malformed_pairs_are_refused() {
        let good = encode_pairs(&[("k", "v")]);
        for cut in 0..good.len() - 1 {
            assert_eq!(
                decode_pairs(good.get(..cut).unwrap_or_default()),
                None,
                "cut {cut}"
            );
        }
        assert_eq!(decode_pairs(&[0xff, 0xff, 0xff, 0xff]), None);
    }

    #[test]
    fn property_path_is_nul_separated() {
        assert_eq!(encode_property_path(&["a", "bc"]), b"a\0bc".to_vec());
    }
}
