//! Whole requests for the emulator: pseudo-headers, 0 to 20 other headers (repeated,
//! hostile, oversized), the connection attributes Envoy provides, and how the exchange
//! ends.

use crate::Bytes;
use proptest::prelude::*;
use proptest::sample::select;
use std::fmt;
use wasmesh_testing::{Action, Host, HttpStream};

/// Header fields in order, as raw bytes: `(name, value)`.
pub type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// A request as Envoy hands it to the first filter, with its connection.
#[derive(Clone)]
pub struct Request {
    /// Header fields in order, pseudo-headers included.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// The connection it came on.
    pub connection: Connection,
    /// How the exchange ends.
    pub end: End,
}

/// The connection attributes a filter can read (`None`: Envoy does not provide it).
#[derive(Clone, Default)]
pub struct Connection {
    /// `connection.mtls`.
    pub mtls: Option<bool>,
    /// `connection.uri_san_peer_certificate`, raw bytes.
    pub peer_uri_san: Option<Vec<u8>>,
    /// `source.address`, raw bytes.
    pub source_address: Option<Vec<u8>>,
    /// `destination.port`.
    pub destination_port: Option<i64>,
}

/// The end of an exchange: the response and the attributes Envoy has when it logs.
#[derive(Clone, Default)]
pub struct End {
    /// Response headers sent by the upstream, if any.
    pub response_headers: Option<Vec<(String, String)>>,
    /// `response.code`.
    pub code: Option<i64>,
    /// `response.flags`.
    pub flags: Option<i64>,
    /// `request.total_size`, `response.total_size`.
    pub sizes: Option<(i64, i64)>,
    /// `request.protocol`.
    pub protocol: Option<String>,
    /// `xds.cluster_name`.
    pub cluster: Option<String>,
    /// Nanoseconds the host clock moves between request and end.
    pub elapsed_nanos: u64,
}

impl Request {
    /// Every value of `name` (ASCII case ignored).
    pub fn values(&self, name: &str) -> Vec<&[u8]> {
        values_of(&self.headers, name)
    }

    /// The request with its `:path` values replaced by one `path`.
    pub fn with_path(&self, path: &[u8]) -> Request {
        let mut request = self.clone();
        request.headers.retain(|(n, _)| n.as_slice() != b":path");
        request
            .headers
            .insert(0, (b":path".to_vec(), path.to_vec()));
        request
    }

    /// Sends the request headers on a new stream of `host`, with the connection's
    /// attributes set first.
    pub fn send(&self, host: &Host) -> (HttpStream, Action) {
        let stream = host.stream();
        self.connection.apply(&stream);
        let action = stream.send_request_headers_bytes(self.headers.clone());
        (stream, action)
    }
}

/// Every value of `name` in `headers` (ASCII case ignored).
pub fn values_of<'a>(headers: &'a [(Vec<u8>, Vec<u8>)], name: &str) -> Vec<&'a [u8]> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| v.as_slice())
        .collect()
}

impl Connection {
    /// Sets the attributes on `stream`.
    pub fn apply(&self, stream: &HttpStream) {
        if let Some(mtls) = self.mtls {
            stream.set_property(&["connection", "mtls"], mtls);
        }
        if let Some(san) = &self.peer_uri_san {
            stream.set_property(&["connection", "uri_san_peer_certificate"], san.as_slice());
        }
        if let Some(address) = &self.source_address {
            stream.set_property(&["source", "address"], address.as_slice());
        }
        if let Some(port) = self.destination_port {
            stream.set_property(&["destination", "port"], port);
        }
    }
}

impl End {
    /// Ends the exchange as Envoy does: the response headers (when the filter did not
    /// reply itself), the attributes, then log and done.
    pub fn finish(&self, host: &Host, stream: HttpStream, replied: bool) {
        host.set_time_nanos(1_700_000_000_000_000_000u64.saturating_add(self.elapsed_nanos));
        if let Some(code) = self.code {
            stream.set_property(&["response", "code"], code);
        }
        if let Some(flags) = self.flags {
            stream.set_property(&["response", "flags"], flags);
        }
        if let Some((request, response)) = self.sizes {
            stream.set_property(&["request", "total_size"], request);
            stream.set_property(&["response", "total_size"], response);
        }
        if let Some(protocol) = &self.protocol {
            stream.set_property(&["request", "protocol"], protocol.as_str());
        }
        if let Some(cluster) = &self.cluster {
            stream.set_property(&["xds", "cluster_name"], cluster.as_str());
        }
        if !replied {
            if let Some(headers) = &self.response_headers {
                let headers: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                stream.send_response_headers(&headers);
            }
        }
        stream.finish();
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(Bytes, Bytes)> = self
            .headers
            .iter()
            .map(|(n, v)| (Bytes(n.clone()), Bytes(v.clone())))
            .collect();
        f.debug_struct("Request")
            .field("headers", &headers)
            .field("connection", &self.connection)
            .field("end", &self.end)
            .finish()
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("mtls", &self.mtls)
            .field("peer_uri_san", &self.peer_uri_san.clone().map(Bytes))
            .field("source_address", &self.source_address.clone().map(Bytes))
            .field("destination_port", &self.destination_port)
            .finish()
    }
}

impl fmt::Debug for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("End")
            .field("response_headers", &self.response_headers)
            .field("code", &self.code)
            .field("flags", &self.flags)
            .field("sizes", &self.sizes)
            .field("protocol", &self.protocol)
            .field("cluster", &self.cluster)
            .field("elapsed_nanos", &self.elapsed_nanos)
            .finish()
    }
}

/// A pseudo-header: usually once, sometimes missing or repeated.
fn pseudo(
    name: &'static str,
    value: impl Strategy<Value = Vec<u8>> + Clone + 'static,
) -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>)>> + Clone {
    let field = value.prop_map(move |v| (name.as_bytes().to_vec(), v));
    prop_oneof![
        40 => field.clone().prop_map(|f| vec![f]),
        1 => Just(Vec::new()),
        1 => prop::collection::vec(field, 2..3),
    ]
}

/// Pseudo-headers with `path` as the target generator.
pub fn pseudo_headers(
    path: impl Strategy<Value = Vec<u8>> + Clone + 'static,
) -> BoxedStrategy<Vec<(Vec<u8>, Vec<u8>)>> {
    (
        pseudo(":method", crate::headers::method()),
        pseudo(
            ":scheme",
            select(&["http", "http", "https", "HTTP", "ftp"][..])
                .prop_map(|s| s.as_bytes().to_vec()),
        ),
        pseudo(":authority", crate::headers::authority()),
        pseudo(":path", path),
    )
        .prop_map(|(method, scheme, authority, path)| [method, scheme, authority, path].concat())
        .boxed()
}

/// Pseudo-headers a well-behaved client sends, each once, with `path` as the target
/// generator.
pub fn ordinary_pseudo_headers(
    path: impl Strategy<Value = Vec<u8>> + Clone + 'static,
) -> BoxedStrategy<Vec<(Vec<u8>, Vec<u8>)>> {
    let method = select(
        &[
            "GET", "GET", "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
        ][..],
    );
    let authority = select(
        &[
            "orders.example.org",
            "orders.example.org",
            "svc",
            "ORDERS.example.org",
            "orders.example.org.",
            "orders.example.org:80",
            "orders.example.org:8443",
            "admin.internal.example.org",
            "127.0.0.1:8080",
            "[::1]:80",
        ][..],
    );
    (method, select(&["http", "https"][..]), authority, path)
        .prop_map(|(method, scheme, authority, path)| {
            vec![
                (b":method".to_vec(), method.as_bytes().to_vec()),
                (b":scheme".to_vec(), scheme.as_bytes().to_vec()),
                (b":authority".to_vec(), authority.as_bytes().to_vec()),
                (b":path".to_vec(), path),
            ]
        })
        .boxed()
}

/// 0 to 20 header fields: each a hostile name with a value, a name repeated, or a
/// trace-context or identity header with a value made for it.
pub fn fields() -> BoxedStrategy<Vec<(Vec<u8>, Vec<u8>)>> {
    fields_named(crate::headers::name(), crate::headers::value())
}

/// 0 to 20 header fields with ordinary names and values, some repeated, and
/// trace-context and identity headers.
pub fn ordinary_fields() -> BoxedStrategy<Vec<(Vec<u8>, Vec<u8>)>> {
    fields_named(
        crate::headers::ordinary_name(),
        crate::headers::ordinary_value(),
    )
}

fn fields_named(
    name: BoxedStrategy<Vec<u8>>,
    value: BoxedStrategy<Vec<u8>>,
) -> BoxedStrategy<Vec<(Vec<u8>, Vec<u8>)>> {
    let field = prop_oneof![
        10 => (name, value),
        4 => crate::trace::traceparent().prop_map(|v| (b"traceparent".to_vec(), v)),
        1 => crate::trace::tracestate().prop_map(|v| (b"tracestate".to_vec(), v)),
        1 => crate::trace::baggage().prop_map(|v| (b"baggage".to_vec(), v)),
        1 => crate::trace::b3_single().prop_map(|v| (b"b3".to_vec(), v)),
        1 => crate::identity::xfcc().prop_map(|v| (b"x-forwarded-client-cert".to_vec(), v)),
        1 => select(&["frontend", "backoffice", "batch", " frontend", "a,b", ""][..])
            .prop_map(|v| (b"x-service-name".to_vec(), v.as_bytes().to_vec())),
    ];
    (
        prop::collection::vec(field, 0..14),
        crate::trace::b3_multi(),
        any::<bool>(),
        prop::collection::vec(any::<prop::sample::Index>(), 0..3),
    )
        .prop_map(|(mut fields, multi, with_multi, repeats)| {
            if with_multi {
                fields.extend(multi.headers());
            }
            // Repeat a few fields, name and value, elsewhere in the list.
            for index in repeats {
                if fields.is_empty() {
                    break;
                }
                let at = index.index(fields.len());
                if let Some(field) = fields.get(at).cloned() {
                    fields.push(field);
                }
            }
            fields.truncate(20);
            fields
        })
        .boxed()
}

/// The connection attributes.
pub fn connection() -> BoxedStrategy<Connection> {
    let san = prop_oneof![
        8 => crate::identity::spiffe_id().prop_map(String::into_bytes),
        1 => Just(Vec::new()),
        1 => prop::collection::vec(any::<u8>(), 0..12),
    ];
    let address = prop_oneof![
        8 => crate::identity::source_address().prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..12),
    ];
    (
        prop::option::weighted(0.9, any::<bool>()),
        prop::option::weighted(0.6, san),
        prop::option::weighted(0.8, address),
        prop::option::weighted(0.5, select(&[80i64, 443, 8080, 8443, 0, -1, 70_000][..])),
    )
        .prop_map(
            |(mtls, peer_uri_san, source_address, destination_port)| Connection {
                mtls,
                peer_uri_san,
                source_address,
                destination_port,
            },
        )
        .boxed()
}

/// How the exchange ends.
pub fn end() -> BoxedStrategy<End> {
    let code = select(
        &[
            200i64,
            200,
            204,
            302,
            403,
            404,
            500,
            503,
            0,
            -1,
            99,
            1000,
            i64::MAX,
        ][..],
    );
    let response = (
        select(&["200", "404", "503", "x", ""][..]),
        prop::option::of(select(&["application/grpc", "text/plain", ""][..])),
        prop::option::of(select(&["0", "14", "16", "17", "-1", "x"][..])),
    )
        .prop_map(|(status, content_type, grpc)| {
            let mut headers = vec![(":status".to_owned(), status.to_owned())];
            if let Some(content_type) = content_type {
                headers.push(("content-type".to_owned(), content_type.to_owned()));
            }
            if let Some(grpc) = grpc {
                headers.push(("grpc-status".to_owned(), grpc.to_owned()));
            }
            headers
        });
    (
        prop::option::weighted(0.8, response),
        prop::option::weighted(0.9, code),
        prop::option::weighted(
            0.7,
            select(&[0i64, 1 << 5, 1 << 8, (1 << 15) | 1, -1, i64::MAX][..]),
        ),
        prop::option::weighted(
            0.8,
            (
                select(&[0i64, 120, -5, i64::MAX][..]),
                select(&[0i64, 80, -1][..]),
            ),
        ),
        prop::option::weighted(
            0.5,
            select(&["HTTP/1.1", "HTTP/2", "HTTP/3", "", "gopher"][..]).prop_map(str::to_owned),
        ),
        prop::option::weighted(
            0.5,
            select(
                &[
                    "reviews",
                    "outbound|9080||reviews.default.svc.cluster.local",
                    "",
                    "a b",
                ][..],
            )
            .prop_map(str::to_owned),
        ),
        select(&[0u64, 1, 12_345_678, 3_600_000_000_000, u64::MAX / 2][..]),
    )
        .prop_map(
            |(response_headers, code, flags, sizes, protocol, cluster, elapsed_nanos)| End {
                response_headers,
                code,
                flags,
                sizes,
                protocol,
                cluster,
                elapsed_nanos,
            },
        )
        .boxed()
}

/// A whole request: pseudo-headers with `path` as target generator, other fields, the
/// connection and the end, pseudo-headers sometimes moved among the other fields. Three
/// in five are made of ordinary names and values (so that they get past the first
/// refusals), the others of hostile ones.
pub fn request_with(
    path: impl Strategy<Value = Vec<u8>> + Clone + 'static,
) -> BoxedStrategy<Request> {
    let ordinary_path = prop_oneof![2 => crate::path::ordinary_target(), 1 => path.clone()];
    let ordinary = (ordinary_pseudo_headers(ordinary_path), ordinary_fields());
    let hostile = (pseudo_headers(path), fields());
    (
        prop_oneof![3 => ordinary, 2 => hostile],
        connection(),
        end(),
        prop::option::weighted(
            0.1,
            (any::<prop::sample::Index>(), any::<prop::sample::Index>()),
        ),
    )
        .prop_map(|((pseudo, fields), connection, end, swap)| {
            let mut headers = [pseudo, fields].concat();
            if let Some((a, b)) = swap {
                if !headers.is_empty() {
                    let (a, b) = (a.index(headers.len()), b.index(headers.len()));
                    headers.swap(a, b);
                }
            }
            Request {
                headers,
                connection,
                end,
            }
        })
        .boxed()
}

/// [`request_with`] the path generator of [`crate::path::target`].
pub fn request() -> BoxedStrategy<Request> {
    request_with(crate::path::target())
}
