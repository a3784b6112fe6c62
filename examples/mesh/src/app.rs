//! A small HTTP/1.1 service on std only.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
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

fn respond(stream: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<()> {
    let body = body.to_string();
    write!(
        stream,
        "HTTP/1.1 {status} OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
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

impl App {
    fn handle(&self, stream: TcpStream) {
        let Ok(clone) = stream.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(clone);
        let mut stream = stream;
        while let Some(request) = read_request(&mut reader) {
            let trace: Vec<(String, String)> = request
                .headers
                .iter()
                .filter(|(name, _)| TRACE_HEADERS.contains(&name.as_str()))
                .cloned()
                .collect();
            let calls: Vec<Value> = match self.outbound {
                Some(outbound) => self
                    .dependencies
                    .iter()
                    .map(|dep| call(outbound, dep, &trace))
                    .collect(),
                None => Vec::new(),
            };
            let headers: Vec<Value> = request.headers.iter().map(|(n, v)| json!([n, v])).collect();
            let body = json!({
                "service": self.name,
                "method": request.method,
                "path": request.path,
                "headers": headers,
                "calls": calls,
            });
            if respond(&mut stream, 200, &body).is_err() {
                return;
            }
        }
    }

    /// Serves on `listener` until the process ends, one thread per connection.
    pub fn serve(self, listener: TcpListener) {
        let app = std::sync::Arc::new(self);
        for stream in listener.incoming().flatten() {
            let app = std::sync::Arc::clone(&app);
            std::thread::spawn(move || app.handle(stream));
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
    fn chunked_bodies_are_joined() {
        assert_eq!(dechunk("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), "abcde");
    }
}
