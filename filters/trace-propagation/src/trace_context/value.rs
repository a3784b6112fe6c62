//! Short header values in a fixed buffer, so that writing a trace header allocates nothing.

use std::fmt;

/// A header value of at most [`HeaderValue::CAPACITY`] ASCII bytes, kept inline: what the
/// encoders of this module return (a `traceparent`, a `b3` header, an id, a request id).
/// Making or copying one allocates nothing; [`HeaderValue::as_bytes`] is the value to send.
#[derive(Clone, Copy)]
pub struct HeaderValue {
    len: u8,
    bytes: [u8; HeaderValue::CAPACITY],
}

impl HeaderValue {
    /// The longest value: a `b3` header with a 128-bit trace id, a sampling state and a
    /// parent span id (32 + 1 + 16 + 1 + 1 + 1 + 16 characters).
    pub const CAPACITY: usize = 68;

    /// An empty value.
    pub const fn new() -> Self {
        Self {
            len: 0,
            bytes: [0; Self::CAPACITY],
        }
    }

    /// The value `write` writes (what does not fit is left out, which the encoders never
    /// ask for).
    pub(crate) fn written(write: &mut dyn FnMut(&mut Writer<'_>)) -> Self {
        let mut value = Self::new();
        let mut writer = Writer::new(&mut value.bytes);
        write(&mut writer);
        value.len = u8::try_from(writer.len).unwrap_or(0);
        value
    }

    /// The value's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// The value as text (it is always ASCII).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Writes a header value at the start of a byte buffer, noting whether it fitted.
pub(crate) struct Writer<'b> {
    out: &'b mut [u8],
    len: usize,
    fits: bool,
}

impl<'b> Writer<'b> {
    /// A writer to the start of `out`.
    pub(crate) fn new(out: &'b mut [u8]) -> Self {
        Self {
            out,
            len: 0,
            fits: true,
        }
    }

    /// The room for `count` more bytes; none (and the value does not fit) past the end.
    fn room(&mut self, count: usize) -> Option<&mut [u8]> {
        let end = self.len + count;
        let room = self.out.get_mut(self.len..end);
        match room {
            Some(_) => self.len = end,
            None => self.fits = false,
        }
        room
    }

    /// Appends ASCII bytes (an array: short copies of a known length are a few stores,
    /// not a call).
    pub(crate) fn push<const N: usize>(&mut self, ascii: &[u8; N]) {
        if let Some(room) = self.room(N) {
            room.copy_from_slice(ascii);
        }
    }

    /// Appends `bytes` as lowercase hex digits, two per byte.
    pub(crate) fn push_hex(&mut self, bytes: &[u8]) {
        if let Some(room) = self.room(2 * bytes.len()) {
            super::ids::encode_hex_into(bytes, room);
        }
    }

    /// The length written, or `None` when the value did not fit.
    pub(crate) fn finish(self) -> Option<usize> {
        self.fits.then_some(self.len)
    }
}

impl Default for HeaderValue {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for HeaderValue {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for HeaderValue {}

impl PartialEq<str> for HeaderValue {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for HeaderValue {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl fmt::Debug for HeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for HeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn pushes_text_and_hex_and_never_overflows() {
        let value = HeaderValue::written(&mut |out| {
            out.push(b"id-");
            out.push_hex(&[0x00, 0xab, 0xf1]);
        });
        assert!(HeaderValue::new().is_empty());
        assert_eq!(value, "id-00abf1");
        assert_eq!(value.len(), 9);
        assert_eq!(value.to_string(), "id-00abf1");
        assert_eq!(format!("{value:?}"), "\"id-00abf1\"");
        let overflowing = HeaderValue::written(&mut |out| {
            out.push(b"id-");
            out.push(&[b'x'; HeaderValue::CAPACITY]);
            out.push_hex(&[0; HeaderValue::CAPACITY]);
            out.push(b"!");
        });
        assert_eq!(overflowing, "id-!", "what does not fit is not written");
        let full = HeaderValue::written(&mut |out| out.push(&[b'x'; HeaderValue::CAPACITY]));
        assert_eq!(full.as_bytes(), &[b'x'; HeaderValue::CAPACITY][..]);
    }

    #[test]
    fn a_writer_says_whether_the_value_fitted() {
        let mut buffer = [0u8; 4];
        let mut writer = Writer::new(&mut buffer);
        writer.push(b"ab");
        writer.push_hex(&[0x1f]);
        assert_eq!(writer.finish(), Some(4));
        assert_eq!(&buffer, b"ab1f");
        let mut writer = Writer::new(&mut buffer);
        writer.push_hex(&[1, 2, 3]);
        writer.push(b"x");
        assert_eq!(writer.finish(), None);
    }
}
