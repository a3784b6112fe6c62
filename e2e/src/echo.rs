//! An HTTP/1.1 upstream application for tests: by default it answers every
//! request with `200` and a JSON description of what it received, so tests see
//! exactly what reached the application after Envoy and the filters.
//!
//! The JSON body is
//! `{"method": "...", "path": "...", "headers": [["name", "value"], ...], "body_bytes": N}`
//! with header fields in the order received, repeated fields as separate
//! entries, names lowercased and values as received (lossy UTF-8).
//! Every response carries `x-echo: 1`, which tells an application response
//! from a reply Envoy generated itself.

use std::io::{BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::wire::{self, BodyFraming};

/// How long a connection may stay idle before the server closes it.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A request as the application received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoRequest {
    /// The method, as sent.
    pub method: String,
    /// The request target, as sent (path and query, not decoded).
    pub path: String,
    /// The protocol version, e.g. `HTTP/1.1`.
    pub version: String,
    /// Header fields in order; names lowercased, values as received.
    pub headers: Vec<(String, String)>,
    /// The body with any chunked framing removed.
    pub body: Vec<u8>,
}

impl EchoRequest {
    /// The value of the first header field named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        wire::header_values(&self.headers, name).next()
    }

    /// The values of every header field named `name` (case-insensitive), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        wire::header_values(&self.headers, name).collect()
    }

    /// The JSON description the default handler answers with.
    pub fn to_json(&self) -> serde_json::Value {
        let headers: Vec<serde_json::Value> = self
            .headers
            .iter()
            .map(|(n, v)| serde_json::json!([n, v]))
            .collect();
        serde_json::json!({
            "method": self.method,
            "path": self.path,
            "headers": headers,
            "body_bytes": self.body.len(),
        })
    }
}

/// The response a handler returns. The server adds `content-length`,
/// `x-echo: 1` and, when closing, `connection: close`; handler fields with
/// the names `content-length`, `transfer-encoding` or `connection` are dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoResponse {
    /// The status code.
    pub status: u16,
    /// Header fields to send, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl EchoResponse {
    /// An empty response with `status`.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// The default answer: `200`, `content-type: application/json`, and the
    /// JSON description of `request` (see [`EchoRequest::to_json`]).
    pub fn echo(request: &EchoRequest) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".to_string(), "application/json".to_string())],
            body: request.to_json().to_string().into_bytes(),
        }
    }

    /// Adds a header field.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

type Handler = dyn Fn(&EchoRequest) -> EchoResponse + Send + Sync;

/// State shared by the server handle and its threads.
struct Shared {
    stopping: AtomicBool,
    handler: Box<Handler>,
    received: Mutex<Vec<EchoRequest>>,
    connections: Mutex<Vec<(TcpStream, JoinHandle<()>)>>,
}

/// Locks `mutex`, ignoring poisoning (a panicking handler must not wedge the server).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A threaded HTTP/1.1 server on `127.0.0.1` with keep-alive; stops on drop.
pub struct EchoServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for EchoServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl EchoServer {
    /// Starts a server that answers every request with [`EchoResponse::echo`].
    pub fn start() -> Result<Self, String> {
        Self::start_with(EchoResponse::echo)
    }

    /// Starts a server that answers every request with `handler(request)`.
    pub fn start_with(
        handler: impl Fn(&EchoRequest) -> EchoResponse + Send + Sync + 'static,
    ) -> Result<Self, String> {
        Self::start_on(0, handler)
    }

    /// Like [`EchoServer::start_with`], on `127.0.0.1:port` (`0`: any free port).
    pub fn start_on(
        port: u16,
        handler: impl Fn(&EchoRequest) -> EchoResponse + Send + Sync + 'static,
    ) -> Result<Self, String> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .map_err(|e| format!("echo server bind to 127.0.0.1:{port} failed: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("echo server address unknown: {e}"))?;
        let shared = Arc::new(Shared {
            stopping: AtomicBool::new(false),
            handler: Box::new(handler),
            received: Mutex::new(Vec::new()),
            connections: Mutex::new(Vec::new()),
        });
        let accept_shared = Arc::clone(&shared);
        let accept_thread = std::thread::Builder::new()
            .name(format!("echo-accept-{}", addr.port()))
            .spawn(move || accept_loop(&listener, &accept_shared))
            .map_err(|e| format!("echo server thread failed to start: {e}"))?;
        Ok(Self {
            addr,
            shared,
            accept_thread: Some(accept_thread),
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request received so far, in order of completion.
    pub fn requests(&self) -> Vec<EchoRequest> {
        lock(&self.shared.received).clone()
    }

    /// How many requests were received so far.
    pub fn request_count(&self) -> usize {
        lock(&self.shared.received).len()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        lock(&self.shared.received).clear();
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.accept_thread.take() {
            let _ = thread.join();
        }
        let connections = std::mem::take(&mut *lock(&self.shared.connections));
        for (stream, _) in &connections {
            let _ = stream.shutdown(Shutdown::Both);
        }
        for (_, thread) in connections {
            let _ = thread.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let Ok(handle_clone) = stream.try_clone() else {
            continue;
        };
        let connection_shared = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name("echo-conn".to_string())
            .spawn(move || serve_connection(stream, &connection_shared));
        if let Ok(thread) = spawned {
            let mut connections = lock(&shared.connections);
            // Forget finished connections so the list stays short.
            connections.retain(|(_, t)| !t.is_finished());
            connections.push((handle_clone, thread));
        }
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream);
    loop {
        let head = match wire::read_head(&mut reader) {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(error) => {
                let _ = write_response(reader.get_mut(), &bad_request(&error), false);
                return;
            }
        };
        let mut parts = head.start_line.split(' ');
        let (Some(method), Some(path), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            let _ = write_response(
                reader.get_mut(),
                &bad_request("malformed request line"),
                false,
            );
            return;
        };
        if wire::has_token(&head.headers, "expect", "100-continue")
            && reader
                .get_mut()
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .is_err()
        {
            return;
        }
        let framing = match wire::declared_framing(&head.headers) {
            Ok(framing) => framing.unwrap_or(BodyFraming::Empty),
            Err(error) => {
                let _ = write_response(reader.get_mut(), &bad_request(&error), false);
                return;
            }
        };
        let body = match wire::read_body(&mut reader, framing) {
            Ok(body) => body,
            Err(error) => {
                let _ = write_response(reader.get_mut(), &bad_request(&error), false);
                return;
            }
        };
        let keep_alive = if version == "HTTP/1.1" {
            !wire::has_token(&head.headers, "connection", "close")
        } else {
            wire::has_token(&head.headers, "connection", "keep-alive")
        };
        let request = EchoRequest {
            method: method.to_string(),
            path: path.to_string(),
            version: version.to_string(),
            headers: head.headers,
            body,
        };
        let response = (shared.handler)(&request);
        lock(&shared.received).push(request);
        if write_response(reader.get_mut(), &response, keep_alive).is_err() || !keep_alive {
            return;
        }
    }
}

fn bad_request(reason: &str) -> EchoResponse {
    EchoResponse::new(400)
        .with_header("content-type", "text/plain")
        .with_body(format!("bad request: {reason}\n"))
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn write_response(
    stream: &mut TcpStream,
    response: &EchoResponse,
    keep_alive: bool,
) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason_phrase(response.status)
    );
    for (name, value) in &response.headers {
        let lower = name.to_ascii_lowercase();
        if lower == "content-length" || lower == "transfer-encoding" || lower == "connection" {
            continue;
        }
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("x-echo: 1\r\n");
    let bodiless =
        (100..200).contains(&response.status) || response.status == 204 || response.status == 304;
    if !bodiless {
        out.push_str(&format!("content-length: {}\r\n", response.body.len()));
    }
    if !keep_alive {
        out.push_str("connection: close\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if !bodiless {
        bytes.extend_from_slice(&response.body);
    }
    stream.write_all(&bytes)?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::http;

    #[test]
    fn echoes_method_path_headers_and_chunked_body() {
        let server = EchoServer::start().unwrap();
        let raw = b"PUT /a/../b?q=%20 HTTP/1.1\r\nHost: x\r\nX-Rep: 1\r\nX-Rep: 2\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\nabcd\r\n0\r\n\r\n";
        let response = http::request(server.addr(), raw).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.header("x-echo"), Some("1"));
        let json = response.json().unwrap();
        assert_eq!(json["method"], "PUT");
        assert_eq!(json["path"], "/a/../b?q=%20");
        assert_eq!(json["body_bytes"], 4);
        assert_eq!(
            json["headers"],
            serde_json::json!([
                ["host", "x"],
                ["x-rep", "1"],
                ["x-rep", "2"],
                ["transfer-encoding", "chunked"],
                ["connection", "close"]
            ])
        );
        assert_eq!(server.requests()[0].body, b"abcd");
    }

    #[test]
    fn keeps_connections_alive_and_uses_custom_handler() {
        let server = EchoServer::start_with(|request| {
            EchoResponse::new(503)
                .with_header("x-path", &request.path)
                .with_body("down")
        })
        .unwrap();
        let mut connection = http::Connection::open(server.addr()).unwrap();
        for path in ["/one", "/two"] {
            let raw = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi");
            let response = connection.send(raw.as_bytes()).unwrap();
            assert_eq!(response.status, 503);
            assert_eq!(response.header("x-path"), Some(path));
            assert_eq!(response.body_str(), "down");
            assert!(!connection.is_closed());
        }
        assert_eq!(server.request_count(), 2);
    }

    #[test]
    fn malformed_request_gets_400() {
        let server = EchoServer::start().unwrap();
        let response = http::request(server.addr(), b"GET /\r\n\r\n").unwrap();
        assert_eq!(response.status, 400);
        assert_eq!(server.request_count(), 0);
    }
}
