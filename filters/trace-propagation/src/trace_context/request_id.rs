//! `x-request-id` values: random UUIDs (version 4), lowercase.

use super::value::HeaderValue;

/// The header name.
pub const X_REQUEST_ID: &str = "x-request-id";

/// A new random request id: 16 bytes from `random` formatted by [`uuid_v4`].
pub fn new_request_id(random: &mut dyn FnMut(&mut [u8])) -> String {
    new_request_id_value(random).as_str().to_owned()
}

/// [`new_request_id`] in a fixed buffer, without allocating.
pub fn new_request_id_value(random: &mut dyn FnMut(&mut [u8])) -> HeaderValue {
    let mut bytes = [0u8; 16];
    random(&mut bytes);
    uuid_v4_value(bytes)
}

/// Formats 16 random bytes as a version 4 UUID (`xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx`,
/// `V` in `8`-`b`): the version nibble is set to 4 and the variant bits to `10`.
pub fn uuid_v4(bytes: [u8; 16]) -> String {
    uuid_v4_value(bytes).as_str().to_owned()
}

/// [`uuid_v4`] in a fixed buffer, without allocating.
pub fn uuid_v4_value(mut bytes: [u8; 16]) -> HeaderValue {
    if let Some(version) = bytes.get_mut(6) {
        *version = (*version & 0x0f) | 0x40;
    }
    if let Some(variant) = bytes.get_mut(8) {
        *variant = (*variant & 0x3f) | 0x80;
    }
    HeaderValue::written(&mut |out| {
        let mut rest: &[u8] = &bytes;
        for (index, len) in [4usize, 2, 2, 2, 6].into_iter().enumerate() {
            if index > 0 {
                out.push(b"-");
            }
            let (group, tail) = rest.split_at(len.min(rest.len()));
            out.push_hex(group);
            rest = tail;
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn sets_version_and_variant_bits() {
        assert_eq!(uuid_v4([0; 16]), "00000000-0000-4000-8000-000000000000");
        assert_eq!(uuid_v4([0xff; 16]), "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let bytes: [u8; 16] = core::array::from_fn(|i| (i as u8) * 17);
        assert_eq!(uuid_v4(bytes), "00112233-4455-4677-8899-aabbccddeeff");
    }

    #[test]
    fn new_request_id_is_a_lowercase_uuid_v4() {
        let mut source = |buf: &mut [u8]| buf.fill(0xab);
        let id = new_request_id(&mut source);
        assert_eq!(id, "abababab-abab-4bab-abab-abababababab");
        assert_eq!(id.len(), 36);
        let dashes: Vec<usize> = id.match_indices('-').map(|(i, _)| i).collect();
        assert_eq!(dashes, [8, 13, 18, 23]);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn the_fixed_buffer_request_id_is_the_same() {
        let bytes: [u8; 16] = core::array::from_fn(|i| (i as u8) * 17);
        assert_eq!(uuid_v4_value(bytes), "00112233-4455-4677-8899-aabbccddeeff");
        let mut source = |buf: &mut [u8]| buf.fill(0xab);
        assert_eq!(
            new_request_id_value(&mut source),
            "abababab-abab-4bab-abab-abababababab"
        );
    }
}
