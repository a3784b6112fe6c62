//! The services' application: answers every request with JSON describing what it
//! received, after calling its dependencies through its outbound sidecar.
//!
//! HTTP/1.1 is hyper's, on tokio: the server keeps connections alive, and the calls go
//! through hyper-util's pooling client, so a request through the mesh opens no new
//! connection once the pools are warm. Both sides set `TCP_NODELAY`: a small response
//! or request goes out at once instead of waiting, up to 40 ms, for the peer's delayed
//! ACK of the previous segment.

use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// How long a call may take to connect to the outbound sidecar.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a call may take from sending the request to the end of the answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a pooled connection to the outbound sidecar may stay idle.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest request or call answer body read.
const MAX_BODY_BYTES: usize = 1 << 20;
/// The pause after a failed `accept` (out of file descriptors, say) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

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

/// The client the application calls its dependencies with.
type CallClient = Client<HttpConnector, Empty<Bytes>>;

/// A pooling HTTP/1.1 client with `TCP_NODELAY` and a connect timeout.
fn call_client() -> CallClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .build(connector)
}

/// A tokio runtime for one application: one thread does it all.
pub(crate) fn runtime(name: &str) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("{name}: cannot start a runtime: {e}"))
}

/// `error` and its sources, as `error: source: source`.
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A request as the application reads it.
struct Received {
    method: String,
    path: String,
    /// Names lowercased, values lossy UTF-8.
    headers: Vec<(String, String)>,
    /// The trace headers to copy onto the calls, as received.
    trace: Vec<(HeaderName, HeaderValue)>,
}

impl Received {
    fn of(request: &Request<Incoming>) -> Self {
        let headers = request.headers();
        Self {
            method: request.method().to_string(),
            path: request.uri().to_string(),
            headers: headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_owned(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            trace: headers
                .iter()
                .filter(|(name, _)| TRACE_HEADERS.contains(&name.as_str()))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
        }
    }
}

/// An [`App`] with the client it calls its dependencies with.
struct Service {
    app: App,
    client: CallClient,
}

impl Service {
    /// Answers one request: reads it whole, makes the calls, answers with JSON.
    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let received = Received::of(&request);
        // The body is read (so that the connection stays usable) and not used.
        if let Err(error) = Limited::new(request.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
        {
            let error = format!("cannot read the request body: {}", describe(&*error));
            return json_response(400, &json!({"service": self.app.name, "error": error}));
        }
        let (status, body) = self.answer(&received).await;
        json_response(status, &body)
    }

    /// The answer to one request: status and JSON body.
    async fn answer(&self, request: &Received) -> (u16, Value) {
        let app = &self.app;
        let forwarded = match forwarded_call(&request.path) {
            None => None,
            Some(Ok((service, path))) => Some(Dependency {
                service: service.to_owned(),
                method: request.method.clone(),
                path,
            }),
            Some(Err(error)) => return (400, json!({"service": app.name, "error": error})),
        };
        let calls: Vec<Value> = match (app.outbound, &forwarded) {
            (Some(outbound), Some(dep)) => vec![self.call(outbound, dep, &request.trace).await],
            (Some(outbound), None) => {
                // One after the other, in the configured order, as the guide's trace shows.
                let mut calls = Vec::with_capacity(app.dependencies.len());
                for dep in &app.dependencies {
                    calls.push(self.call(outbound, dep, &request.trace).await);
                }
                calls
            }
            (None, Some(_)) => {
                let error = format!("{} calls no other service", app.name);
                return (404, json!({"service": app.name, "error": error}));
            }
            (None, None) => Vec::new(),
        };
        let headers: Vec<String> = request
            .headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}"))
            .collect();
        let body = json!({
            "service": app.name,
            "method": request.method,
            "path": request.path,
            "headers": headers,
            "calls": calls,
        });
        (answer_status(forwarded.is_some(), &calls), body)
    }

    /// Makes one call through the outbound sidecar: the callee's status and JSON body
    /// (or its body as a string), or status 0 and what went wrong.
    async fn call(
        &self,
        outbound: SocketAddr,
        dep: &Dependency,
        trace: &[(HeaderName, HeaderValue)],
    ) -> Value {
        let outcome = tokio::time::timeout(CALL_TIMEOUT, self.try_call(outbound, dep, trace))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {} s", CALL_TIMEOUT.as_secs())));
        match outcome {
            Ok((status, body)) => {
                json!({"service": dep.service, "path": dep.path, "status": status, "body": body})
            }
            Err(error) => {
                json!({"service": dep.service, "path": dep.path, "status": 0, "error": error})
            }
        }
    }

    async fn try_call(
        &self,
        outbound: SocketAddr,
        dep: &Dependency,
        trace: &[(HeaderName, HeaderValue)],
    ) -> Result<(u16, Value), String> {
        let method = Method::from_bytes(dep.method.as_bytes())
            .map_err(|e| format!("method {:?}: {e}", dep.method))?;
        let uri: Uri = format!("http://{outbound}{}", dep.path)
            .parse()
            .map_err(|e| format!("path {:?}: {e}", dep.path))?;
        let host = HeaderValue::from_str(&dep.service)
            .map_err(|e| format!("service {:?}: {e}", dep.service))?;
        let mut request = Request::new(Empty::new());
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        // The outbound sidecar routes on the service name.
        headers.insert(header::HOST, host);
        for (name, value) in trace {
            headers.append(name.clone(), value.clone());
        }
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {}", describe(&*e)))?
            .to_bytes();
        let body = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        Ok((status, body))
    }
}

/// A response with `status` and `body` as JSON.
fn json_response(status: u16, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Serves the requests of one connection.
async fn serve_connection(stream: TcpStream, service: Arc<Service>) {
    let _ = stream.set_nodelay(true);
    let handler = service_fn(move |request| {
        let service = Arc::clone(&service);
        async move { Ok::<_, Infallible>(service.handle(request).await) }
    });
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), handler)
        .await;
}

impl App {
    /// Serves on `listener` until the process ends, on a runtime of the calling thread.
    pub fn serve(self, listener: std::net::TcpListener) -> Result<(), String> {
        let runtime = runtime(&self.name)?;
        let listener = {
            let _context = runtime.enter();
            async_listener(&self.name, listener)?
        };
        runtime.block_on(self.serve_until(listener, std::future::pending()));
        Ok(())
    }

    /// Serves on `listener` until `shutdown` completes, one task per connection.
    /// Connections still open then stay with the runtime, which closes them when dropped.
    pub async fn serve_until(self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let service = Arc::new(Service {
            app: self,
            client: call_client(),
        });
        tokio::pin!(shutdown);
        loop {
            let stream = tokio::select! {
                () = &mut shutdown => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                },
            };
            tokio::spawn(serve_connection(stream, Arc::clone(&service)));
        }
    }
}

/// `listener` for the runtime entered on the calling thread.
pub(crate) fn async_listener(
    name: &str,
    listener: std::net::TcpListener,
) -> Result<TcpListener, String> {
    listener
        .set_nonblocking(true)
        .and_then(|()| TcpListener::from_std(listener))
        .map_err(|e| format!("{name}: cannot use the listener: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::AppServer;
    use wasmesh_e2e::http;

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

    /// An application serving on a free port of 127.0.0.1.
    fn serve(name: &str, outbound: Option<SocketAddr>, calls: &[&str]) -> AppServer {
        let app = App {
            name: name.to_owned(),
            outbound,
            dependencies: calls
                .iter()
                .map(|c| Dependency::parse(c).unwrap())
                .collect(),
        };
        AppServer::start(app, std::net::TcpListener::bind("127.0.0.1:0").unwrap()).unwrap()
    }

    /// The values of `name` in an answer's `"headers": ["name: value", ...]`.
    fn header_values<'a>(answer: &'a Value, name: &str) -> Vec<&'a str> {
        answer["headers"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|field| field.as_str()?.split_once(": "))
            .filter(|(found, _)| *found == name)
            .map(|(_, value)| value)
            .collect()
    }

    #[test]
    fn answers_with_what_it_received_on_a_kept_alive_connection() {
        let c = serve("c", None, &[]);
        let mut connection = http::Connection::open(c.address()).unwrap();
        for path in ["/items/1", "/items/2?x=1"] {
            let request = format!(
                "PUT {path} HTTP/1.1\r\nhost: c\r\nx-rep: 1\r\ncontent-length: 2\r\nx-rep: 2\r\n\r\n{{}}"
            );
            let response = connection.send(request.as_bytes()).unwrap();
            assert_eq!(response.status, 200, "{}", response.body_str());
            assert_eq!(response.header("content-type"), Some("application/json"));
            let answer = response.json().unwrap();
            assert_eq!(
                (&answer["service"], &answer["method"], &answer["path"]),
                (&json!("c"), &json!("PUT"), &json!(path))
            );
            assert_eq!(header_values(&answer, "x-rep"), ["1", "2"]);
            assert_eq!(answer["calls"], json!([]));
            assert!(!connection.is_closed());
        }
        let refused = http::get(c.address(), "/call/b/api", &[]).unwrap();
        assert_eq!(refused.status, 404, "{}", refused.body_str());
        let invalid = http::get(c.address(), "/call/B/api", &[]).unwrap();
        assert_eq!(invalid.status, 400, "{}", invalid.body_str());
    }

    #[test]
    fn calls_its_dependencies_with_the_trace_headers() {
        // The callee stands in for the outbound sidecar: the calls reach it directly.
        let c = serve("c", None, &[]);
        let a = serve("a", Some(c.address()), &["c:/items/1", "c:POST:/items"]);
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let headers = [("traceparent", traceparent), ("x-other", "1")];
        for _ in 0..2 {
            let response = http::get(a.address(), "/hello", &headers).unwrap();
            assert_eq!(response.status, 200, "{}", response.body_str());
            let answer = response.json().unwrap();
            let calls = answer["calls"].as_array().unwrap();
            assert_eq!(calls.len(), 2, "{answer}");
            for (call, (method, path)) in
                calls.iter().zip([("GET", "/items/1"), ("POST", "/items")])
            {
                assert_eq!(call["status"], 200, "{answer}");
                let body = &call["body"];
                assert_eq!(
                    (&body["method"], &body["path"]),
                    (&json!(method), &json!(path))
                );
                assert_eq!(header_values(body, "host"), ["c"]);
                assert_eq!(header_values(body, "traceparent"), [traceparent]);
                assert!(header_values(body, "x-other").is_empty(), "{body}");
            }
        }
        let forwarded = http::get(a.address(), "/call/c/items/7?q=1", &[]).unwrap();
        assert_eq!(forwarded.status, 200, "{}", forwarded.body_str());
        let answer = forwarded.json().unwrap();
        assert_eq!(answer["calls"][0]["body"]["path"], "/items/7?q=1");
    }

    #[test]
    fn a_failed_call_answers_502_with_the_error() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let nowhere = closed.local_addr().unwrap();
        drop(closed);
        let a = serve("a", Some(nowhere), &["b:/api"]);
        let response = http::get(a.address(), "/hello", &[]).unwrap();
        assert_eq!(response.status, 502, "{}", response.body_str());
        let call = &response.json().unwrap()["calls"][0];
        assert_eq!(call["status"], 0, "{call}");
        assert!(!call["error"].as_str().unwrap().is_empty(), "{call}");
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
}
