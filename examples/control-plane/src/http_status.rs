//! The status endpoint's HTTP/1.1 server (hyper, on the control plane's tokio
//! runtime): `GET /status` (JSON), `GET /healthz` (`ok`), `GET /` (a line
//! naming both). Connections are kept alive between requests and closed on
//! shutdown once their answer in progress is written.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::canary::Controller;
use crate::log;
use crate::registry::Registry;
use crate::snapshot::Snapshot;
use crate::status::{self, ReloadStatus};

/// The largest request head (request line and header fields) accepted;
/// larger ones are answered `431 Request Header Fields Too Large`.
const MAX_HEAD: usize = 8 * 1024;
/// How long a client may take to send a request head, and how long an idle
/// connection stays open waiting for the next one.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause after a failed `accept` (out of file descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How long answers in progress get to finish after the stop signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// What the status endpoint reports on.
#[derive(Debug, Clone)]
pub struct StatusSources {
    /// The snapshot being served.
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// The latest reload's outcome.
    pub reload: Arc<ReloadStatus>,
    /// The nodes.
    pub registry: Arc<Registry>,
    /// The canaries' progress.
    pub canaries: Arc<Mutex<Controller>>,
}

/// Serves `listener` until `shutdown` becomes true (or its sender is
/// dropped), then gives answers in progress two seconds to finish; idle
/// connections are closed at once.
///
/// Runs on the caller's tokio runtime; each connection is a task of its own.
pub async fn serve(
    listener: TcpListener,
    sources: StatusSources,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(READ_TIMEOUT)
        .max_header_size(MAX_HEAD);
    let connections = GracefulShutdown::new();
    let stop = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    log::warn(&format!("status endpoint: accept failed: {error}"));
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        // No Nagle delay on the small answers; failing to set it only costs latency.
        let _ = stream.set_nodelay(true);
        let sources = sources.clone();
        let service = service_fn(move |request: Request<Incoming>| {
            std::future::ready(Ok::<_, Infallible>(respond(&request, &sources)))
        });
        let connection = connections.watch(http.serve_connection(TokioIo::new(stream), service));
        // A client that goes away or sends garbage only ends its own connection.
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
    if tokio::time::timeout(DRAIN_TIMEOUT, connections.shutdown())
        .await
        .is_err()
    {
        log::warn(&format!(
            "status endpoint: connections still open after {} s; stopping anyway",
            DRAIN_TIMEOUT.as_secs()
        ));
    }
}

/// The response to `request`.
fn respond<B>(request: &Request<B>, sources: &StatusSources) -> Response<Full<Bytes>> {
    let (status, content_type, body) = route(request.method(), request.uri().path(), sources);
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        headers.insert(header::ALLOW, HeaderValue::from_static("GET"));
    }
    response
}

/// The status code, content type and body answering `method` on `path`.
fn route(
    method: &Method,
    path: &str,
    sources: &StatusSources,
) -> (StatusCode, &'static str, String) {
    if method != Method::GET {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET\n".to_string(),
        );
    }
    match path {
        "/status" => {
            let snapshot = Arc::clone(&sources.snapshots.borrow());
            let canaries = sources
                .canaries
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let document = status::render(&snapshot, &sources.reload, &sources.registry, &canaries);
            drop(canaries);
            let body = serde_json::to_string_pretty(&document).unwrap_or_default();
            (StatusCode::OK, "application/json", body + "\n")
        }
        "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_string()),
        "/" => (
            StatusCode::OK,
            "text/plain",
            "wasmesh-cp: GET /status (JSON), GET /healthz\n".to_string(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
    use crate::declaration::Declaration;
    use crate::snapshot;
    use std::net::SocketAddr;
    use std::path::Path;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    fn sources() -> StatusSources {
        let snapshot = snapshot::build(Path::new("/cp.json"), 1, Declaration { filters: vec![] });
        let (_sender, snapshots) = watch::channel(Arc::new(snapshot));
        StatusSources {
            snapshots,
            reload: Arc::new(ReloadStatus::new()),
            registry: Arc::new(Registry::new()),
            canaries: Arc::new(Mutex::new(Controller::new())),
        }
    }

    #[test]
    fn routes() {
        let sources = sources();
        let (status, content_type, body) = route(&Method::GET, "/status", &sources);
        assert_eq!((status, content_type), (StatusCode::OK, "application/json"));
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["declaration"]["path"], "/cp.json");
        assert_eq!(route(&Method::GET, "/healthz", &sources).2, "ok\n");
        assert_eq!(
            route(&Method::GET, "/nope", &sources).0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            route(&Method::POST, "/status", &sources).0,
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            route(&Method::HEAD, "/healthz", &sources).0,
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[test]
    fn responses_route_on_the_path_alone() {
        let sources = sources();
        let request = Request::get("/healthz?x=1").body(()).unwrap();
        let response = respond(&request, &sources);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/plain");
        let request = Request::post("/status").body(()).unwrap();
        let response = respond(&request, &sources);
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[header::ALLOW], "GET");
    }

    /// A running endpoint: its address, the stop switch and the server task.
    async fn start() -> (SocketAddr, watch::Sender<bool>, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, shutdown) = watch::channel(false);
        let server = tokio::spawn(serve(listener, sources(), shutdown));
        (addr, stop, server)
    }

    /// Reads one response whose body is `content-length` long; returns the
    /// head (lowercased) and the body.
    async fn read_response(stream: &mut TcpStream) -> (String, String) {
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&received).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let head = head.to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length: "))
                    .expect("content-length")
                    .parse()
                    .unwrap();
                if body.len() >= length {
                    return (head, body.to_string());
                }
            }
            let read = stream.read(&mut buffer).await.unwrap();
            assert!(read > 0, "connection closed mid-response: {text:?}");
            received.extend_from_slice(&buffer[..read]);
        }
    }

    #[tokio::test]
    async fn serves_keeps_alive_and_stops() {
        let (addr, stop, server) = start().await;
        let mut stream = TcpStream::connect(addr).await.unwrap();

        stream
            .write_all(b"GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let (head, body) = read_response(&mut stream).await;
        assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
        assert!(
            head.contains("\r\ncontent-type: application/json"),
            "{head}"
        );
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["declaration"]["path"], "/cp.json");
        assert!(body.ends_with("}\n"));

        // The same connection serves the next request.
        stream
            .write_all(b"DELETE /status HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let (head, body) = read_response(&mut stream).await;
        assert!(
            head.starts_with("http/1.1 405 method not allowed\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\ncontent-type: text/plain"), "{head}");
        assert_eq!(body, "only GET\n");

        // Stopping closes the idle connection at once and ends the server.
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(1), server)
            .await
            .expect("the server stops")
            .unwrap();
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(1), stream.read_to_end(&mut rest))
            .await
            .expect("the connection is closed");
        assert_eq!(read.unwrap_or(0), 0);
    }

    #[tokio::test]
    async fn answers_close_requests_and_refuses_large_heads() {
        let (addr, stop, server) = start().await;

        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /nope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut received = String::new();
        stream.read_to_string(&mut received).await.unwrap();
        assert!(
            received.starts_with("HTTP/1.1 404 Not Found\r\n"),
            "{received}"
        );
        assert!(received.ends_with("\r\n\r\nnot found\n"), "{received}");

        let mut stream = TcpStream::connect(addr).await.unwrap();
        let filler = "a".repeat(MAX_HEAD);
        stream
            .write_all(format!("GET / HTTP/1.1\r\nx-filler: {filler}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut received = Vec::new();
        let _ = stream.read_to_end(&mut received).await;
        let received = String::from_utf8_lossy(&received);
        assert!(
            received.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{received}"
        );

        stop.send(true).unwrap();
        server.await.unwrap();
    }
}
