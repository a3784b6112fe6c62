//! A minimal HTTP/1.1 responder for the status endpoint: `GET /status`
//! (JSON), `GET /healthz` (`ok`). One request per connection.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::canary::Controller;
use crate::log;
use crate::registry::Registry;
use crate::snapshot::Snapshot;
use crate::status::{self, ReloadStatus};

/// The largest request head read.
const MAX_HEAD: usize = 8 * 1024;
/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

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

/// Serves `listener` until `shutdown` becomes true.
pub async fn serve(
    listener: TcpListener,
    sources: StatusSources,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let sources = sources.clone();
                    tokio::spawn(async move { answer(stream, &sources).await });
                }
                Err(error) => {
                    log::warn(&format!("status endpoint: accept failed: {error}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}

async fn answer(mut stream: TcpStream, sources: &StatusSources) {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(Some(head)) => head,
        _ => return,
    };
    let (status, content_type, body) = route(&head, sources);
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The status line, content type and body for a request head.
fn route(head: &str, sources: &StatusSources) -> (&'static str, &'static str, String) {
    let request_line = head.lines().next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let path = target.split('?').next().unwrap_or_default();
    if method != "GET" {
        return (
            "405 Method Not Allowed",
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
            ("200 OK", "application/json", body + "\n")
        }
        "/healthz" => ("200 OK", "text/plain", "ok\n".to_string()),
        "/" => (
            "200 OK",
            "text/plain",
            "wasmesh-cp: GET /status (JSON), GET /healthz\n".to_string(),
        ),
        _ => ("404 Not Found", "text/plain", "not found\n".to_string()),
    }
}

/// Reads until the blank line ending the head; `None` if the client sent no
/// complete head within [`MAX_HEAD`] bytes.
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::with_capacity(512);
    let mut buffer = [0u8; 1024];
    loop {
        let read = stream.read(&mut buffer).await.ok()?;
        if read == 0 {
            return None;
        }
        head.extend_from_slice(buffer.get(..read)?);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Some(String::from_utf8_lossy(&head).into_owned());
        }
        if head.len() > MAX_HEAD {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::declaration::Declaration;
    use crate::snapshot;
    use std::path::Path;

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
        let (status, content_type, body) = route("GET /status HTTP/1.1\r\n\r\n", &sources);
        assert_eq!((status, content_type), ("200 OK", "application/json"));
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["declaration"]["path"], "/cp.json");
        assert_eq!(
            route("GET /healthz?x=1 HTTP/1.1\r\n\r\n", &sources).2,
            "ok\n"
        );
        assert_eq!(
            route("GET /nope HTTP/1.1\r\n\r\n", &sources).0,
            "404 Not Found"
        );
        assert_eq!(
            route("POST /status HTTP/1.1\r\n\r\n", &sources).0,
            "405 Method Not Allowed"
        );
        assert_eq!(route("", &sources).0, "405 Method Not Allowed");
    }
}
