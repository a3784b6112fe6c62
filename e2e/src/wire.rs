//! HTTP/1.1 message framing shared by the test client and the echo server:
//! reading a message head (start line and header fields) and a body framed by
//! `Content-Length`, `Transfer-Encoding: chunked`, or the end of the connection.

use std::io::{BufRead, Read};

/// Largest message head (start line plus header fields) either side accepts.
const MAX_HEAD_BYTES: u64 = 256 * 1024;
/// Largest body either side accepts.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Largest chunk-size line (with extensions) or trailer line of a chunked body.
const MAX_CHUNK_LINE_BYTES: u64 = 8 * 1024;

/// A message head: the start line and the header fields in the order received.
#[derive(Debug)]
pub(crate) struct Head {
    /// The request line or status line, without its line ending.
    pub start_line: String,
    /// Header fields: names lowercased, values trimmed of surrounding blanks,
    /// both decoded as lossy UTF-8. Repeated fields stay separate entries.
    pub headers: Vec<(String, String)>,
}

/// How the body of a message is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    /// The message has no body.
    Empty,
    /// The body is exactly this many bytes.
    Length(usize),
    /// The body uses the chunked transfer coding.
    Chunked,
    /// The body runs until the peer closes the connection (responses only).
    UntilClose,
}

/// Reads one line ending in LF, at most `limit` bytes, and strips the CRLF or LF.
/// Returns `None` when the peer closed the connection before sending any byte.
fn read_line(reader: &mut impl BufRead, limit: u64) -> Result<Option<Vec<u8>>, String> {
    let mut line = Vec::new();
    let read = reader
        .by_ref()
        .take(limit)
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("read failed: {e}"))?;
    if read == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return if u64::try_from(line.len()).unwrap_or(u64::MAX) >= limit {
            Err(format!("line longer than {limit} bytes"))
        } else {
            Err("connection closed in the middle of a line".to_string())
        };
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(line))
}

/// Trims spaces and horizontal tabs from both ends of `bytes`.
fn trim_blanks(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| *b != b' ' && *b != b'\t')
        .map_or(start, |i| i + 1);
    bytes.get(start..end).unwrap_or_default()
}

/// Reads a message head. Leading empty lines are skipped (RFC 9112 section 2.2).
/// Returns `None` when the connection was closed before a message started, which
/// is how a persistent connection normally ends.
pub(crate) fn read_head(reader: &mut impl BufRead) -> Result<Option<Head>, String> {
    let mut budget = MAX_HEAD_BYTES;
    let start_line = loop {
        match read_line(reader, budget)? {
            None => return Ok(None),
            Some(line) if line.is_empty() => {
                budget = budget.saturating_sub(2);
                if budget == 0 {
                    return Err("too many empty lines before the start line".to_string());
                }
            }
            Some(line) => {
                budget = budget.saturating_sub(u64::try_from(line.len()).unwrap_or(u64::MAX));
                break String::from_utf8_lossy(&line).into_owned();
            }
        }
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    loop {
        if budget == 0 {
            return Err(format!("message head longer than {MAX_HEAD_BYTES} bytes"));
        }
        let line = read_line(reader, budget)?
            .ok_or_else(|| "connection closed in the middle of the header fields".to_string())?;
        budget = budget.saturating_sub(u64::try_from(line.len()).unwrap_or(u64::MAX) + 2);
        if line.is_empty() {
            return Ok(Some(Head {
                start_line,
                headers,
            }));
        }
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            // Obsolete line folding: the line continues the previous field value.
            let (_, value) = headers
                .last_mut()
                .ok_or_else(|| "header continuation line before any field".to_string())?;
            value.push(' ');
            value.push_str(&String::from_utf8_lossy(trim_blanks(&line)));
            continue;
        }
        let colon = line.iter().position(|b| *b == b':').ok_or_else(|| {
            format!(
                "header line without a colon: {:?}",
                String::from_utf8_lossy(&line)
            )
        })?;
        let (name, rest) = line.split_at(colon);
        let value = rest.get(1..).unwrap_or_default();
        headers.push((
            String::from_utf8_lossy(name).to_ascii_lowercase(),
            String::from_utf8_lossy(trim_blanks(value)).into_owned(),
        ));
    }
}

/// The values of every header field named `name` (compared case-insensitively).
pub(crate) fn header_values<'a, 'n>(
    headers: &'a [(String, String)],
    name: &'n str,
) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Whether any comma-separated element of the `name` fields equals `token`
/// case-insensitively (for `Connection: close`, `Expect: 100-continue` ...).
pub(crate) fn has_token(headers: &[(String, String)], name: &str, token: &str) -> bool {
    header_values(headers, name)
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The framing the headers declare: chunked when the last transfer coding is
/// `chunked`, else the `Content-Length`, else `None` (no framing header).
pub(crate) fn declared_framing(
    headers: &[(String, String)],
) -> Result<Option<BodyFraming>, String> {
    let codings: Vec<&str> = header_values(headers, "transfer-encoding")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if let Some(last) = codings.last() {
        return if last.eq_ignore_ascii_case("chunked") {
            Ok(Some(BodyFraming::Chunked))
        } else {
            Err(format!("unsupported transfer coding {last:?}"))
        };
    }
    let mut length: Option<usize> = None;
    for element in header_values(headers, "content-length").flat_map(|v| v.split(',')) {
        let element = element.trim();
        if element.is_empty() || !element.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("invalid content-length {element:?}"));
        }
        let value: usize = element
            .parse()
            .map_err(|_| format!("content-length too large: {element}"))?;
        if length.is_some_and(|l| l != value) {
            return Err("conflicting content-length values".to_string());
        }
        length = Some(value);
    }
    Ok(length.map(BodyFraming::Length))
}

/// Reads a body delimited as `framing` says.
pub(crate) fn read_body(
    reader: &mut impl BufRead,
    framing: BodyFraming,
) -> Result<Vec<u8>, String> {
    match framing {
        BodyFraming::Empty => Ok(Vec::new()),
        BodyFraming::Length(length) => read_exact_body(reader, length),
        BodyFraming::Chunked => read_chunked_body(reader),
        BodyFraming::UntilClose => {
            let mut body = Vec::new();
            reader
                .by_ref()
                .take(u64::try_from(MAX_BODY_BYTES).unwrap_or(u64::MAX) + 1)
                .read_to_end(&mut body)
                .map_err(|e| format!("reading body failed: {e}"))?;
            if body.len() > MAX_BODY_BYTES {
                return Err(format!("body longer than {MAX_BODY_BYTES} bytes"));
            }
            Ok(body)
        }
    }
}

fn read_exact_body(reader: &mut impl BufRead, length: usize) -> Result<Vec<u8>, String> {
    if length > MAX_BODY_BYTES {
        return Err(format!(
            "body of {length} bytes is over the {MAX_BODY_BYTES} byte limit"
        ));
    }
    let mut body = vec![0; length];
    reader
        .read_exact(&mut body)
        .map_err(|e| format!("reading {length} body bytes failed: {e}"))?;
    Ok(body)
}

fn read_chunked_body(reader: &mut impl BufRead) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader, MAX_CHUNK_LINE_BYTES)?
            .ok_or_else(|| "connection closed before the last chunk".to_string())?;
        let size_field = line
            .split(|b| *b == b';')
            .next()
            .map(trim_blanks)
            .unwrap_or_default();
        let size_text = std::str::from_utf8(size_field).unwrap_or("");
        let size = usize::from_str_radix(size_text, 16).map_err(|_| {
            format!(
                "invalid chunk size line {:?}",
                String::from_utf8_lossy(&line)
            )
        })?;
        if size == 0 {
            // Trailer section: fields until an empty line; they are not kept.
            loop {
                let trailer = read_line(reader, MAX_CHUNK_LINE_BYTES)?
                    .ok_or_else(|| "connection closed in the chunked trailer".to_string())?;
                if trailer.is_empty() {
                    return Ok(body);
                }
            }
        }
        if size > MAX_BODY_BYTES.saturating_sub(body.len()) {
            return Err(format!("chunked body longer than {MAX_BODY_BYTES} bytes"));
        }
        let chunk = read_exact_body(reader, size)?;
        body.extend_from_slice(&chunk);
        let end = read_line(reader, MAX_CHUNK_LINE_BYTES)?
            .ok_or_else(|| "connection closed after a chunk".to_string())?;
        if !end.is_empty() {
            return Err("chunk data not followed by CRLF".to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn head_of(bytes: &[u8]) -> Head {
        read_head(&mut &bytes[..]).unwrap().unwrap()
    }

    #[test]
    fn head_keeps_order_repeats_and_raw_values() {
        let head = head_of(b"GET /a%2Fb HTTP/1.1\r\nX-A: 1\r\nx-a:  2 \r\nHost: h\r\n\r\n");
        assert_eq!(head.start_line, "GET /a%2Fb HTTP/1.1");
        assert_eq!(
            head.headers,
            vec![
                ("x-a".to_string(), "1".to_string()),
                ("x-a".to_string(), "2".to_string()),
                ("host".to_string(), "h".to_string()),
            ]
        );
    }

    #[test]
    fn head_on_closed_connection_is_none() {
        assert!(read_head(&mut &b""[..]).unwrap().is_none());
    }

    #[test]
    fn head_without_colon_is_an_error() {
        assert!(read_head(&mut &b"GET / HTTP/1.1\r\nbroken\r\n\r\n"[..]).is_err());
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers() {
        let mut input = &b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nx-trailer: t\r\n\r\nrest"[..];
        assert_eq!(
            read_body(&mut input, BodyFraming::Chunked).unwrap(),
            b"abcde"
        );
        assert_eq!(input, b"rest");
    }

    #[test]
    fn framing_prefers_chunked_and_rejects_conflicts() {
        let h = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            declared_framing(&h(&[
                ("content-length", "5"),
                ("transfer-encoding", "chunked")
            ]))
            .unwrap(),
            Some(BodyFraming::Chunked)
        );
        assert_eq!(
            declared_framing(&h(&[("content-length", "5, 5")])).unwrap(),
            Some(BodyFraming::Length(5))
        );
        assert!(declared_framing(&h(&[("content-length", "5"), ("content-length", "6")])).is_err());
        assert!(declared_framing(&h(&[("content-length", "-1")])).is_err());
        assert_eq!(declared_framing(&h(&[])).unwrap(), None);
    }
}
