//! A minimal HTTP/1.1 client over `std::net::TcpStream`.
//!
//! Requests are sent byte for byte as given, so tests can send request lines
//! and header fields that ordinary client libraries would normalize or refuse
//! (`GET /%2e%2e/admin HTTP/1.1`, duplicate headers, odd casing ...).
//! Every socket operation has a timeout ([`IO_TIMEOUT`]) so a test never hangs.

use std::io::{BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use crate::wire::{self, BodyFraming};

/// Timeout applied to connecting, each read and each write.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A response as received: status, header fields in order, and the decoded body
/// (chunked framing removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The reason phrase of the status line.
    pub reason: String,
    /// Header fields in the order received; names lowercased, repeated fields
    /// kept as separate entries.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// The value of the first header field named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        wire::header_values(&self.headers, name).next()
    }

    /// The values of every header field named `name` (case-insensitive), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        wire::header_values(&self.headers, name).collect()
    }

    /// The body as text; invalid UTF-8 is replaced by U+FFFD.
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; the error includes the status and body text.
    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| {
            format!(
                "response body is not JSON ({e}); status {}, body: {}",
                self.status,
                self.body_str()
            )
        })
    }
}

/// One client connection, usable for several requests while the server keeps it open.
#[derive(Debug)]
pub struct Connection {
    reader: BufReader<TcpStream>,
    closed: bool,
}

impl Connection {
    /// Connects to `addr` with [`IO_TIMEOUT`] on connect, reads and writes.
    pub fn open(addr: SocketAddr) -> Result<Self, String> {
        Self::open_with_timeout(addr, IO_TIMEOUT)
    }

    /// Connects to `addr` using `timeout` for connect, reads and writes.
    pub fn open_with_timeout(addr: SocketAddr, timeout: Duration) -> Result<Self, String> {
        let stream = TcpStream::connect_timeout(&addr, timeout)
            .map_err(|e| format!("connecting to {addr} failed: {e}"))?;
        stream
            .set_read_timeout(Some(timeout))
            .and_then(|()| stream.set_write_timeout(Some(timeout)))
            .and_then(|()| stream.set_nodelay(true))
            .map_err(|e| format!("configuring socket to {addr} failed: {e}"))?;
        Ok(Self {
            reader: BufReader::new(stream),
            closed: false,
        })
    }

    /// Whether the server has ended the connection (after `Connection: close`
    /// or a close-delimited response), so no further request can be sent.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Sends `raw` (a complete request, byte for byte) and reads one response.
    /// Interim 1xx responses other than 101 are skipped. If the server answers
    /// and closes before the whole request was written, that answer is returned.
    pub fn send(&mut self, raw: &[u8]) -> Result<Response, String> {
        if self.closed {
            return Err("connection already closed by the server".to_string());
        }
        let write_result = {
            let stream = self.reader.get_mut();
            stream.write_all(raw).and_then(|()| stream.flush())
        };
        let is_head = raw.starts_with(b"HEAD ");
        match (write_result, self.read_response(is_head)) {
            (_, Ok(response)) => Ok(response),
            (Err(write_error), Err(_)) => {
                self.closed = true;
                Err(format!("sending request failed: {write_error}"))
            }
            (Ok(()), Err(read_error)) => {
                self.closed = true;
                Err(read_error)
            }
        }
    }

    /// Half-closes the sending side, as a client that has nothing more to send.
    pub fn shutdown_write(&mut self) -> Result<(), String> {
        self.reader
            .get_ref()
            .shutdown(Shutdown::Write)
            .map_err(|e| format!("shutdown failed: {e}"))
    }

    fn read_response(&mut self, is_head: bool) -> Result<Response, String> {
        loop {
            let head = wire::read_head(&mut self.reader)?
                .ok_or_else(|| "connection closed by the server before a response".to_string())?;
            let (version, status, reason) = parse_status_line(&head.start_line)?;
            if (100..200).contains(&status) && status != 101 {
                continue;
            }
            let framing =
                if is_head || (100..200).contains(&status) || status == 204 || status == 304 {
                    BodyFraming::Empty
                } else {
                    wire::declared_framing(&head.headers)?.unwrap_or(BodyFraming::UntilClose)
                };
            let body = wire::read_body(&mut self.reader, framing)?;
            let keep_alive = if version == "HTTP/1.0" {
                wire::has_token(&head.headers, "connection", "keep-alive")
            } else {
                !wire::has_token(&head.headers, "connection", "close")
            };
            if framing == BodyFraming::UntilClose || !keep_alive {
                self.closed = true;
            }
            return Ok(Response {
                status,
                reason,
                headers: head.headers,
                body,
            });
        }
    }
}

/// Splits `HTTP/1.1 200 OK` into version, status code and reason phrase.
fn parse_status_line(line: &str) -> Result<(String, u16, String), String> {
    let invalid = || format!("invalid status line {line:?}");
    let (version, rest) = line.split_once(' ').ok_or_else(invalid)?;
    if !version.starts_with("HTTP/") {
        return Err(invalid());
    }
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let status = code.parse().map_err(|_| invalid())?;
    Ok((version.to_string(), status, reason.to_string()))
}

/// Opens a connection to `addr`, sends `raw` byte for byte, and reads one response.
pub fn request(addr: SocketAddr, raw: &[u8]) -> Result<Response, String> {
    Connection::open(addr)?.send(raw)
}

/// Builds a request: `{method} {target} HTTP/1.1`, a `Host: localhost` field
/// unless `headers` has one, `headers` verbatim and in order, a
/// `Content-Length` when `body` is not empty, and `Connection: close`.
/// The target is used verbatim (no normalization or escaping).
pub fn build_request(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut raw = format!("{method} {target} HTTP/1.1\r\n").into_bytes();
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        raw.extend_from_slice(b"Host: localhost\r\n");
    }
    for (name, value) in headers {
        raw.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    if !body.is_empty() {
        raw.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    raw.extend_from_slice(b"Connection: close\r\n\r\n");
    raw.extend_from_slice(body);
    raw
}

/// Sends `GET {path} HTTP/1.1` with `headers` (see [`build_request`]).
pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Result<Response, String> {
    request(addr, &build_request("GET", path, headers, b""))
}

/// Sends `POST {path} HTTP/1.1` with `headers` and `body` (see [`build_request`]).
pub fn post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, String> {
    request(addr, &build_request("POST", path, headers, body))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn status_line_parsing() {
        assert_eq!(
            parse_status_line("HTTP/1.1 404 Not Found").unwrap(),
            ("HTTP/1.1".to_string(), 404, "Not Found".to_string())
        );
        assert_eq!(parse_status_line("HTTP/1.1 200").unwrap().1, 200);
        assert!(parse_status_line("HTTP/1.1 20 OK").is_err());
        assert!(parse_status_line("FTP 200 OK").is_err());
    }

    #[test]
    fn build_request_keeps_target_and_headers_verbatim() {
        let raw = build_request("GET", "/%2e%2e/admin", &[("X-A", "1"), ("x-a", "2")], b"");
        assert_eq!(
            raw,
            b"GET /%2e%2e/admin HTTP/1.1\r\nHost: localhost\r\nX-A: 1\r\nx-a: 2\r\nConnection: close\r\n\r\n"
        );
        let raw = build_request("POST", "/", &[("host", "h")], b"abc");
        assert_eq!(
            raw,
            b"POST / HTTP/1.1\r\nhost: h\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
        );
    }
}
