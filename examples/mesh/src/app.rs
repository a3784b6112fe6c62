//! A small HTTP/1.1 service on std only.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Headers an application copies from the request it serves onto the calls it makes.
pub const TRACE_HEADERS: &[&str] = &[
    "traceparent",
    "tracestate",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-sampled",
    "x-b3-flags",
    "x-request-id",
    "baggage",
];

/// One dependency: requests to `path` on `service`, sent through the outbound sidecar with
/// `Host: service`.
#[derive(Debug, Clone)]
pub struct Dependency {
    /// Service name, used as the `Host` header the outbound sidecar routes on.
    pub service: String,
    /// Method and path of the call.
    pub method: String,
    /// Path of the call.
    pub path: String,
}

impl Dependency {
    /// Parses `service:METHOD:/path` (method optional: `service:/path` is a GET).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut parts = spec.splitn(3, ':');
        let service = parts.next().unwrap_or_default();
        let (method, path) = match (parts.next(), parts.next()) {
            (Some(path), None) => ("GET", path),
            (Some(method), Some(path)) => (method, path),
            _ => {
                return Err(format!(
                    "`{spec}`: expected service:/path or service:METHOD:/path"
                ))
            }
        };
        if service.is_empty() || !path.starts_with('/') {
            return Err(format!(
                "`{spec}`: expected service:/path or service:METHOD:/path"
            ));
        }
        Ok(Self {
            service: service.to_owned(),
            method: method.to_owned(),
            path: path.to_owned(),
        })
    }
}

/// What the service does.
#[derive(Debug, Clone)]
pub struct App {
    /// Its name, in answers.
    pub name: String,
    /// The outbound sidecar listener its calls go through.
    pub outbound: Option<SocketAddr>,
    /// The calls it makes for every request it serves.
    pub dependencies: Vec<Dependency>,
}

/// A parsed request.
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    reader.read_line(&mut line).ok().filter(|n| *n > 0)?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim().to_owned();
        if name == "content-length" {
            length = value.parse().ok()?;
        }
        headers.push((name, value));
    }
    let mut body = vec![0; length.min(1 << 20)];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
    })
}

/// The reason phrase of the statuses the application sends.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        502 => "Bad Gateway",
        _ => "Status",
    }
}

fn respond(stream: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<()> {
    let body = body.to_string();
    write!(
        stream,
        "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        reason(status),
        body.len()
    )?;
    stream.flush()
}

/// Sends one call through the outbound sidecar; returns the status and JSON body.
fn call(outbound: SocketAddr, dep: &Dependency, trace: &[(String, String)]) -> Value {
    let attempt = || -> Result<(u16, Value), String> {
        let mut stream = TcpStream::connect_timeout(&outbound, Duration::from_secs(5))
            .map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let mut request = format!(
            "{} {} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-length: 0\r\n",
            dep.method, dep.path, dep.service
        );
        for (name, value) in trace {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream
            .write_all(request.as_bytes())
            .map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_owned()
        };
        Ok((
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        ))
    };
    match attempt() {
        Ok((status, body)) => {
            json!({"service": dep.service, "path": dep.path, "status": status, "body": body})
        }
        Err(error) => {
            json!({"service": dep.service, "path": dep.path, "status": 0, "error": error})
        }
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 {
            break;
        }
        out.push_str(after.get(..size).unwrap_or(after));
        rest = after.get(size + 2..).unwrap_or_default();
    }
    out
}

/// The prefix of paths that make the application call one service with the rest of the
/// path: `GET /call/c/items/7` calls `GET /items/7` on `c` and answers with its status.
pub const CALL_PREFIX: &str = "/call/";

/// What a request asks the application to call: (service, path) for a `/call/` path.
fn forwarded_call(path: &str) -> Option<Result<(&str, String), String>> {
    let rest = path.strip_prefix(CALL_PREFIX)?;
    let (service, path) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let valid = !service.is_empty()
        && service
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Some(Err(format!(
            "`{CALL_PREFIX}<service>/<path>` needs a service name of a-z, 0-9 and `-`, found {service:?}"
        )));
    }
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    Some(Ok((service, path)))
}

/// The status of the answer: the forwarded call's own status, or for the configured
/// calls 200 when all of them succeeded and 502 otherwise.
fn answer_status(forwarded: bool, calls: &[Value]) -> u16 {
    let mut statuses = calls.iter().map(|call| {
        call.get("status")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or(0)
    });
    if forwarded {
        return statuses.next().filter(|s| *s != 0).unwrap_or(502);
    }
    if statuses.all(|s| (200..300).contains(&s)) {
        200
    } else {
        502
    }
}

impl App {
    /// The answer to one request: status and JSON body.
    fn answer(&self, request: &Request) -> (u16, Value) {
        let trace: Vec<(String, String)> = request
            .headers
            .iter()
            .filter(|(name, _)| TRACE_HEADERS.contains(&name.as_str()))
            .cloned()
            .collect();
        let forwarded = match forwarded_call(&request.path) {
            None => None,
            Some(Ok((service, path))) => Some(Dependency {
                service: service.to_owned(),
                method: request.method.clone(),
                path,
            }),
            Some(Err(error)) => return (400, json!({"service": self.name, "error": error})),
        };
        let calls: Vec<Value> = match (self.outbound, &forwarded) {
            (Some(outbound), Some(dep)) => vec![call(outbound, dep, &trace)],
            (Some(outbound), None) => self
                .dependencies
                .iter()
                .map(|dep| call(outbound, dep, &trace))
                .collect(),
            (None, Some(_)) => {
                let error = format!("{} calls no other service", self.name);
                return (404, json!({"service": self.name, "error": error}));
            }
            (None, None) => Vec::new(),
        };
        let headers: Vec<String> = request
            .headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}"))
            .collect();
        let body = json!({
            "service": self.name,
            "method": request.method,
            "path": request.path,
            "headers": headers,
            "calls": calls,
        });
        (answer_status(forwarded.is_some(), &calls), body)
    }

    fn handle(&self, stream: TcpStream) {
        let Ok(clone) = stream.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(clone);
        let mut stream = stream;
        while let Some(request) = read_request(&mut reader) {
            let (status, body) = self.answer(&request);
            if respond(&mut stream, status, &body).is_err() {
                return;
            }
        }
    }

    /// Serves on `listener` until the process ends, one thread per connection.
    pub fn serve(self, listener: TcpListener) {
        self.serve_until(listener, &AtomicBool::new(false));
    }

    /// Serves on `listener` until `stop` is set and a connection arrives (the owner
    /// connects once to wake it up), one thread per connection.
    pub fn serve_until(self, listener: TcpListener, stop: &AtomicBool) {
        let app = Arc::new(self);
        for stream in listener.incoming() {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let Ok(stream) = stream else {
                continue;
            };
            let app = Arc::clone(&app);
            // A connection the system cannot give a thread is dropped (closed).
            let _ = std::thread::Builder::new()
                .name(format!("{}-connection", app.name))
                .spawn(move || app.handle(stream));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependency_specs() {
        let dep = Dependency::parse("c:/items/1").unwrap();
        assert_eq!(
            (dep.service.as_str(), dep.method.as_str(), dep.path.as_str()),
            ("c", "GET", "/items/1")
        );
        let dep = Dependency::parse("c:POST:/items").unwrap();
        assert_eq!(dep.method, "POST");
        assert!(Dependency::parse("c").is_err());
        assert!(Dependency::parse(":/x").is_err());
    }

    #[test]
    fn call_paths_name_a_service_and_a_path() {
        assert_eq!(forwarded_call("/api"), None);
        assert_eq!(
            forwarded_call("/call/c/items/7?x=1"),
            Some(Ok(("c", "/items/7?x=1".to_owned())))
        );
        assert_eq!(forwarded_call("/call/c"), Some(Ok(("c", "/".to_owned()))));
        assert_eq!(
            forwarded_call("/call/c?x"),
            Some(Ok(("c", "/?x".to_owned())))
        );
        assert!(matches!(forwarded_call("/call//x"), Some(Err(_))));
        assert!(matches!(forwarded_call("/call/c%0d/x"), Some(Err(_))));
        assert!(matches!(forwarded_call("/call/C/x"), Some(Err(_))));
    }

    #[test]
    fn answer_status_reflects_the_calls() {
        let ok = json!({"status": 200});
        let denied = json!({"status": 403});
        let failed = json!({"status": 0});
        assert_eq!(answer_status(false, &[]), 200);
        assert_eq!(answer_status(false, &[ok.clone(), ok.clone()]), 200);
        assert_eq!(answer_status(false, &[ok.clone(), denied.clone()]), 502);
        assert_eq!(answer_status(true, &[denied]), 403);
        assert_eq!(answer_status(true, &[ok]), 200);
        assert_eq!(answer_status(true, &[failed]), 502);
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(dechunk("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), "abcde");
    }
}
