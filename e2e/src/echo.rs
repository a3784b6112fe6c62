//! An HTTP/1.1 upstream application for tests: by default it answers every
//! request with `200` and a JSON description of what it received, so tests see
//! exactly what reached the application after Envoy and the filters.
//!
//! The JSON body is
//! `{"method": "...", "path": "...", "headers": [["name", "value"], ...], "body_bytes": N}`
//! with names lowercased and values as received (lossy UTF-8). Header fields come
//! grouped by name, the names in the order each first appeared; the fields of a
//! repeated name are separate entries in the order received.
//! Every response carries `x-echo: 1`, which tells an application response
//! from a reply Envoy generated itself.
//!
//! HTTP is hyper's, on a tokio runtime of the server's own thread, with
//! `TCP_NODELAY` on every connection. Handlers are plain functions and may block
//! (a handler calling another service is the usual case): each runs on tokio's
//! blocking pool. A request hyper cannot parse gets hyper's own `400` (no
//! `x-echo`) and never reaches the handler.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::wire;

/// How long a client may take to send a request head, including the wait for
/// the next request on a kept-alive connection.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The most header fields a request may have (hyper's default is 100; a request
/// Envoy accepted with 100 fields arrives with the ones Envoy adds).
const MAX_HEADERS: usize = 1024;
/// The largest request body read.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// How long a stopping server waits for handlers still running.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// The pause after a failed `accept` (out of file descriptors, say) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

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
/// A status or header field that is not valid HTTP makes the server answer
/// `500` instead, saying which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoResponse {
    /// The status code.
    pub status: u16,
    /// Header fields to send, in order (the fields of a repeated name are sent
    /// together, where the name first appears).
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

/// State shared by the server handle and its connections.
struct Shared {
    handler: Box<Handler>,
    received: Mutex<Vec<EchoRequest>>,
}

/// Locks `mutex`, ignoring poisoning (a panicking handler must not wedge the server).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An HTTP/1.1 server on `127.0.0.1` with keep-alive; stops on drop.
pub struct EchoServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// Dropped to stop the server.
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
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
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))
            .map_err(|e| format!("echo server bind to 127.0.0.1:{port} failed: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("echo server address unknown: {e}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("echo server listener: {e}"))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("echo server runtime failed to start: {e}"))?;
        let listener = {
            let _context = runtime.enter();
            TcpListener::from_std(listener).map_err(|e| format!("echo server listener: {e}"))?
        };
        let shared = Arc::new(Shared {
            handler: Box::new(handler),
            received: Mutex::new(Vec::new()),
        });
        let (stop, stopped) = oneshot::channel();
        let serving = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("echo-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(accept_loop(listener, serving, stopped));
                // Closes every connection; waits a little for handlers still running.
                runtime.shutdown_timeout(STOP_GRACE);
            })
            .map_err(|e| format!("echo server thread failed to start: {e}"))?;
        Ok(Self {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
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
        // Ends the accept loop; the server's thread then closes every connection.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts connections until `stop` fires (or its sender is dropped).
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: oneshot::Receiver<()>) {
    loop {
        let stream = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        tokio::spawn(serve_connection(stream, Arc::clone(&shared)));
    }
}

/// Serves the requests of one connection.
async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    // Small responses go out at once instead of waiting for the peer's delayed ACK.
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| answer(request, Arc::clone(&shared)));
    let _ = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(IDLE_TIMEOUT)
        .max_headers(MAX_HEADERS)
        .auto_date_header(false)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// Reads one request, records it and answers with the handler's response.
async fn answer(
    request: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (head, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(error) => return Ok(to_http(bad_request(&error.to_string()))),
    };
    let request = EchoRequest {
        method: head.method.to_string(),
        path: head.uri.to_string(),
        version: format!("{:?}", head.version),
        headers: head
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    let handled = tokio::task::spawn_blocking(move || {
        let response = (shared.handler)(&request);
        lock(&shared.received).push(request);
        response
    })
    .await;
    let response = handled.unwrap_or_else(|_| {
        EchoResponse::new(500)
            .with_header("content-type", "text/plain")
            .with_body("the echo server's handler panicked\n")
    });
    Ok(to_http(response))
}

fn bad_request(reason: &str) -> EchoResponse {
    EchoResponse::new(400)
        .with_header("content-type", "text/plain")
        .with_body(format!("bad request: {reason}\n"))
}

/// The hyper response for `response`: its status, its header fields but the framing
/// ones (hyper writes those), `x-echo: 1`, and its body unless the status has none.
fn to_http(response: EchoResponse) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(response.status);
    let mut fields = Vec::with_capacity(response.headers.len());
    for (name, value) in &response.headers {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(name), Ok(value)) => fields.push((name, value)),
            _ => return handler_error(&format!("invalid header field {name:?}: {value:?}")),
        }
    }
    let Ok(status) = status else {
        return handler_error(&format!("invalid status {}", response.status));
    };
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let body = if bodiless {
        Bytes::new()
    } else {
        Bytes::from(response.body)
    };
    let mut http = Response::new(Full::new(body));
    *http.status_mut() = status;
    let headers = http.headers_mut();
    for (name, value) in fields {
        if name != header::CONTENT_LENGTH
            && name != header::TRANSFER_ENCODING
            && name != header::CONNECTION
        {
            headers.append(name, value);
        }
    }
    headers.append("x-echo", HeaderValue::from_static("1"));
    http
}

/// A `500` saying what was wrong with the handler's response.
fn handler_error(problem: &str) -> Response<Full<Bytes>> {
    let mut http = Response::new(Full::new(Bytes::from(format!(
        "the echo server's handler answered with an {problem}\n"
    ))));
    *http.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    let headers = http.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert("x-echo", HeaderValue::from_static("1"));
    http
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
    fn closes_when_asked_and_drops_framing_fields_of_the_handler() {
        let server = EchoServer::start_with(|_| {
            EchoResponse::new(200)
                .with_header("Content-Length", "99")
                .with_header("connection", "keep-alive")
                .with_header("x-a", "1")
                .with_body("ok")
        })
        .unwrap();
        let mut connection = http::Connection::open(server.addr()).unwrap();
        let response = connection
            .send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.header_all("content-length"), ["2"]);
        assert_eq!(response.header_all("connection"), ["close"]);
        assert_eq!(response.header("x-a"), Some("1"));
        assert_eq!(response.body_str(), "ok");
        assert!(connection.is_closed());
    }

    #[test]
    fn an_invalid_handler_response_gets_500() {
        let server =
            EchoServer::start_with(|_| EchoResponse::new(200).with_header("x-bad", "a\nb"))
                .unwrap();
        let response = http::get(server.addr(), "/", &[]).unwrap();
        assert_eq!(response.status, 500);
        assert_eq!(response.header("x-echo"), Some("1"));
        assert!(
            response.body_str().contains("x-bad"),
            "{}",
            response.body_str()
        );
    }

    #[test]
    fn a_blocking_handler_holds_up_only_its_own_request() {
        // `/slow` blocks until `/fast` has been answered: 504 if it waited in vain.
        let (entered, slow_entered) = std::sync::mpsc::channel::<()>();
        let (answered, fast_answered) = std::sync::mpsc::channel::<()>();
        let channels = Mutex::new((entered, fast_answered));
        let server = EchoServer::start_with(move |request| {
            if request.path != "/slow" {
                return EchoResponse::echo(request);
            }
            let channels = lock(&channels);
            let _ = channels.0.send(());
            match channels.1.recv_timeout(Duration::from_secs(10)) {
                Ok(()) => EchoResponse::new(200),
                Err(_) => EchoResponse::new(504),
            }
        })
        .unwrap();
        let addr = server.addr();
        let slow = std::thread::spawn(move || http::get(addr, "/slow", &[]).unwrap().status);
        slow_entered.recv().unwrap();
        assert_eq!(http::get(addr, "/fast", &[]).unwrap().status, 200);
        answered.send(()).unwrap();
        assert_eq!(slow.join().unwrap(), 200);
    }

    #[test]
    fn malformed_request_gets_400() {
        let server = EchoServer::start().unwrap();
        let response = http::request(server.addr(), b"GET /\r\n\r\n").unwrap();
        assert_eq!(response.status, 400);
        assert_eq!(server.request_count(), 0);
    }
}
