//! Per-route configuration: a filter's `routes` section.
//!
//! One listener serves many routes, and a filter's policy often differs per route. Every
//! filter that lists [`Filter::ROUTE_FIELDS`] accepts an optional `routes` array next to
//! its other fields. Each entry has a `match` and overrides some of the top-level fields
//! for the requests it matches; the first matching entry wins, and a request no entry
//! matches gets the top-level configuration:
//!
//! ```json
//! {"rules": [...],
//!  "routes": [
//!    {"match": {"route_name": "health"},
//!     "rules": [{"name": "probes", "action": "allow", "paths": [{"exact": "/healthz"}]}]},
//!    {"match": {"path_prefix": "/admin", "host": "*.internal"}, "default_action": "deny"}
//!  ]}
//! ```
//!
//! A `match` holds one or more of these keys, all of which must hold:
//!
//! - `route_name`: Envoy's route name (`xds.route_name`, the `name` of the route in the
//!   route configuration), compared exactly;
//! - `virtual_host`: Envoy's virtual host name (`xds.virtual_host_name`), exactly;
//! - `path_prefix`: the request's `:path` (without its query) is this path or below it,
//!   by whole segments: `/admin` matches `/admin` and `/admin/users`, not
//!   `/administrator`; a prefix ending in `/` matches what starts with it;
//! - `host`: the `:authority` without user information, port and a trailing dot, ignoring
//!   ASCII case; `*.example.com` matches any name ending in `.example.com`.
//!
//! An entry's fields replace the top-level fields of the same name (a whole field, not a
//! merge inside it), and the result is compiled like a top-level configuration when the
//! configuration is loaded, by [`Filter::compile_route`]: an entry that does not compile
//! refuses the whole configuration, with the JSON path inside the entry
//! (`routes[1].rules[0].path`).
//!
//! What a lookup costs per request: nothing when there is no `routes` section; reading
//! Envoy's route name (or virtual host name) once when an entry matches on it, shared by
//! every stage of a chain and every callback of the request; paths and hosts are read
//! from the request headers the filter reads anyway.
//!
//! **A request whose route changed.** Envoy names the route it chose before the filters
//! ran, and routes the request again after them; when a filter changes the path, the
//! authority or the method, the names it reports are the old route's. In a chain the SDK
//! knows: a stage whose entries need Envoy's names, after a stage that changed one of
//! those (header-normalization making a path canonical), does not guess. It answers 307 to
//! the changed path when only the path changed (the client asks again for the path as
//! Envoy will route it, and the names then agree), else 400 `{"error": "bad_request",
//! "rule": "rerouted"}`. Across separate filters in Envoy's chain nobody knows: put
//! header-normalization and the filters matching on route names in one bundle, or let
//! Envoy normalize before routing (`normalize_path`, `merge_slashes`).
//!
//! Path and host matches see the request as it reaches the filter (in a chain, after the
//! stages before it). Unless the path is canonical by then, prefer `route_name`.

use crate::config::reader::{describe, one_of, Node};
use crate::config::{ConfigError, Value};
use crate::filter::Filter;
use crate::headers::HeaderMap;
use crate::reply::LocalReply;
use crate::seam::{Host, Rerouted};
use std::rc::Rc;

/// What a `match` may name, in the order a request is compared with them.
const KEYS: [&str; 4] = ["route_name", "virtual_host", "path_prefix", "host"];
/// The Envoy attributes holding the route's and the virtual host's names.
const NAMES: [&[&str]; 2] = [&["xds", "route_name"], &["xds", "virtual_host_name"]];

/// A filter compiled for the listener and for each entry of its `routes` section.
pub struct Routed<F> {
    /// The listener's configuration, then each entry's.
    filters: Vec<F>,
    /// Each entry's match.
    matchers: Vec<RouteMatch>,
}

/// Which configuration a request got, kept for its later callbacks (see
/// [`Routed::for_stream`]); not chosen yet by default.
#[derive(Debug, Default, Clone, Copy)]
pub struct RouteChoice(Option<Result<usize, Rerouted>>);

/// When a `routes` entry applies to a request: the value of each of [`KEYS`] it names.
#[derive(Debug, Default, PartialEq, Eq)]
struct RouteMatch([Option<Box<str>>; 4]);

/// What a request is matched on, read when first needed: Envoy's two names, the headers.
struct RequestFacts<'h> {
    host: &'h dyn Host,
    names: [Option<Option<Rc<[u8]>>>; 2],
    headers: Option<Rc<HeaderMap>>,
    /// Set when a match needed one of Envoy's names, which were stale.
    stale: Rerouted,
}

impl<F: Filter> Routed<F> {
    /// Compiles the listener's configuration and every entry of its `routes` section (see
    /// the module documentation). A filter without [`Filter::ROUTE_FIELDS`] has no
    /// `routes` section: the field is refused as unknown.
    pub fn compile(config: &Node<'_>, host: &dyn Host) -> Result<Self, ConfigError> {
        let mut filters: Vec<F> = Vec::new();
        let matchers = compile_documents(config, F::ROUTE_FIELDS, &mut |document| {
            let filter = match filters.first() {
                Some(listener) => listener.compile_route(document, host)?,
                None => F::compile(document, host)?,
            };
            filters.push(filter);
            Ok(())
        })?;
        Ok(Self { filters, matchers })
    }

    /// The configuration for the request being served, the same from its first callback to
    /// its last: the first matching entry's, or the listener's, chosen in the first callback
    /// and remembered in `choice`. Reads nothing without route entries.
    ///
    /// When an entry that matches on Envoy's route or virtual host name has to be looked at
    /// and a stage before this one in the module changed what Envoy routed the request by
    /// ([`Host::rerouted`]), Envoy's names are stale and the request is not served: the
    /// reply asks the client for the request as it was changed: 307 to the changed path
    /// when only the path changed, else 400 (see the module documentation).
    pub fn for_stream(&self, choice: &mut RouteChoice, host: &dyn Host) -> Result<&F, LocalReply> {
        match self.chosen(choice, host) {
            Ok(Some(filter)) => Ok(filter),
            Ok(None) => Err(LocalReply::error(500, "internal", "no_configuration")),
            Err(rerouted) => Err(rerouted_reply(rerouted, host)),
        }
    }

    /// Like [`Routed::for_stream`], for the callbacks after the request headers (response,
    /// log): a request that was not served for its stale route (or that an earlier stage
    /// answered before this one chose) is counted and logged with the listener's
    /// configuration.
    pub fn after_request(&self, choice: &mut RouteChoice, host: &dyn Host) -> Option<&F> {
        self.chosen(choice, host)
            .ok()
            .flatten()
            .or(self.filters.first())
    }

    /// The configuration chosen for the request (in its first callback); how it was
    /// rerouted when its route cannot be told. `None` only if nothing was compiled.
    fn chosen(&self, choice: &mut RouteChoice, host: &dyn Host) -> Result<Option<&F>, Rerouted> {
        let index = (*choice.0.get_or_insert_with(|| choose(&self.matchers, host)))?;
        Ok(self.filters.get(index).or(self.filters.first()))
    }
}

/// The answer to a request whose route a stage before cannot tell (see
/// [`Routed::for_stream`]): when only its path changed, 307 to the changed path (so the
/// client sends it again as Envoy will route it; a path not starting with a single `/`
/// would redirect elsewhere, and gets the 400); else 400, rule `rerouted`.
fn rerouted_reply(rerouted: Rerouted, host: &dyn Host) -> LocalReply {
    let headers = host.request_headers();
    let path = headers
        .first(":path")
        .and_then(|p| std::str::from_utf8(p).ok());
    match path {
        Some(path)
            if rerouted == Rerouted::Path && path.starts_with('/') && !path.starts_with("//") =>
        {
            LocalReply::new(307)
                .with_header("location", path)
                .with_details("wasmesh_rerouted")
        }
        _ => LocalReply::error(400, "bad_request", "rerouted").with_details("wasmesh_rerouted"),
    }
}

/// Hands `compile` the listener's document (without `routes`), then each entry's fields
/// over the listener's, naming an entry's errors `routes[i]...`; returns the entries'
/// matches. Without a `routes` section, or when `fields` is empty (the filter has none),
/// `config` as it is.
fn compile_documents(
    config: &Node<'_>,
    fields: &[&str],
    compile: &mut dyn FnMut(&Node<'_>) -> Result<(), ConfigError>,
) -> Result<Vec<RouteMatch>, ConfigError> {
    let Some((listener, entries)) = documents(config.value(), fields)? else {
        compile(config)?;
        return Ok(Vec::new());
    };
    compile(&Node::root(&listener))?;
    let mut matchers = Vec::with_capacity(entries.len());
    for (index, (matcher, document)) in entries.into_iter().enumerate() {
        compile(&Node::root(&document)).map_err(|e| e.nested_in(&format!("routes[{index}]")))?;
        matchers.push(matcher);
    }
    Ok(matchers)
}

/// 0 for the listener, `i + 1` for route entry `i`; how the request was rerouted when an
/// entry needed Envoy's stale names to tell.
fn choose(matchers: &[RouteMatch], host: &dyn Host) -> Result<usize, Rerouted> {
    let mut facts = RequestFacts {
        host,
        names: [None, None],
        headers: None,
        stale: Rerouted::No,
    };
    for (index, matcher) in matchers.iter().enumerate() {
        if matcher.matches(&mut facts) {
            return Ok(index + 1);
        }
        if facts.stale != Rerouted::No {
            return Err(facts.stale);
        }
    }
    Ok(0)
}

/// The listener's document (without `routes`) and each entry's match and document (its
/// fields over the listener's); `None` without a `routes` section or when `fields` is
/// empty (the filter has none).
#[allow(clippy::type_complexity)]
fn documents(
    config: &Value,
    fields: &[&str],
) -> Result<Option<(Value, Vec<(RouteMatch, Value)>)>, ConfigError> {
    let Value::Object(members) = config else {
        return Ok(None);
    };
    let mut routes = members.iter().filter(|(key, _)| key == "routes");
    let (first, second) = (routes.next(), routes.next());
    if second.is_some() {
        return Err(ConfigError::at("routes", "duplicate field `routes`"));
    }
    let routes = first;
    let entries: &[Value] = match routes {
        None => return Ok(None),
        _ if fields.is_empty() => return Ok(None),
        Some((_, Value::Null)) => &[],
        Some((_, Value::Array(entries))) => entries,
        Some(_) => return Err(ConfigError::at("routes", "expected an array of routes")),
    };
    let listener: Vec<(String, Value)> = members
        .iter()
        .filter(|(key, _)| key != "routes")
        .cloned()
        .collect();
    let mut known = vec!["match"];
    known.extend_from_slice(fields);
    let mut documents = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let node = Node::root(entry);
        let merged = node
            .object(&known)
            .and_then(|fields| RouteMatch::read(&fields.present("match")?))
            .map(|matcher| (matcher, merge(&listener, entry)))
            .map_err(|e| e.nested_in(&format!("routes[{index}]")))?;
        documents.push(merged);
    }
    Ok(Some((Value::Object(listener), documents)))
}

/// The listener's fields with those of `entry` (but `match`) in their place.
fn merge(listener: &[(String, Value)], entry: &Value) -> Value {
    let mut merged = listener.to_vec();
    if let Value::Object(members) = entry {
        for (key, value) in members.iter().filter(|(key, _)| key != "match") {
            match merged.iter_mut().find(|(k, _)| k == key) {
                Some((_, slot)) => *slot = value.clone(),
                None => merged.push((key.clone(), value.clone())),
            }
        }
    }
    Value::Object(merged)
}

impl RouteMatch {
    /// Reads a `match` object (see the module documentation).
    fn read(node: &Node<'_>) -> Result<Self, ConfigError> {
        let fields = node.object(&KEYS)?;
        let mut keys: [Option<Box<str>>; 4] = Default::default();
        for (slot, key) in keys.iter_mut().zip(KEYS) {
            if let Some(value) = fields.member(key) {
                *slot = Some(read_key(key, &value)?);
            }
        }
        if keys.iter().all(Option::is_none) {
            return Err(node.error(format!("needs at least one of {}", one_of(&KEYS))));
        }
        Ok(Self(keys))
    }

    /// Whether the request matches every key of this match.
    fn matches(&self, facts: &mut RequestFacts<'_>) -> bool {
        self.0.iter().enumerate().all(|(key, expected)| {
            expected
                .as_deref()
                .is_none_or(|expected| facts.fits(key, expected))
        })
    }
}

/// One key of a `match`, checked (see the module documentation); a host in lowercase.
fn read_key(key: &str, node: &Node<'_>) -> Result<Box<str>, ConfigError> {
    let text = node.str()?;
    let refused = match key {
        "path_prefix" if !text.starts_with('/') => Some("must start with `/`"),
        "path_prefix" if text.contains(['?', '#']) || text.contains(char::is_control) => {
            Some("a path prefix holds no query, fragment or control character")
        }
        "host" if !is_host_pattern(text) => {
            Some("expected a host name or `*.` and a domain, without port")
        }
        _ if text.is_empty() => Some("must not be empty"),
        _ => None,
    };
    match (refused, key) {
        (Some(reason), _) => Err(node.error(format!("{reason}, found {}", describe(node.value())))),
        (None, "host") => Ok(text.to_ascii_lowercase().into()),
        _ => Ok(text.into()),
    }
}

/// `name.example` or `*.example`: letters, digits, `-`, `.` and `_`.
fn is_host_pattern(text: &str) -> bool {
    let name = text.strip_prefix("*.").unwrap_or(text);
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// Whether `path` (its query and fragment ignored) is `prefix` or below it, by segments.
fn under_prefix(path: &[u8], prefix: &str) -> bool {
    let end = path
        .iter()
        .position(|b| matches!(b, b'?' | b'#'))
        .unwrap_or(path.len());
    let path = path.get(..end).unwrap_or(path);
    let Some(rest) = path.strip_prefix(prefix.as_bytes()) else {
        return false;
    };
    rest.is_empty() || prefix.ends_with('/') || rest.first() == Some(&b'/')
}

/// Whether `authority` matches `pattern` (lowercase; `*.` a suffix), ignoring its user
/// information, its port and one trailing dot, as applications read a host.
fn host_matches(authority: &[u8], pattern: &str) -> bool {
    let authority = match authority.iter().rposition(|b| *b == b'@') {
        Some(at) => authority.get(at + 1..).unwrap_or_default(),
        None => authority,
    };
    let name = match authority.first() {
        // An IPv6 literal keeps its brackets: `[::1]:8080` is `[::1]`.
        Some(b'[') => authority
            .iter()
            .position(|b| *b == b']')
            .and_then(|end| authority.get(..=end))
            .unwrap_or(authority),
        _ => authority.split(|b| *b == b':').next().unwrap_or(authority),
    };
    let name = name.strip_suffix(b".").unwrap_or(name);
    match pattern.strip_prefix('*') {
        Some(suffix) => {
            name.len() > suffix.len()
                && name
                    .get(name.len() - suffix.len()..)
                    .is_some_and(|end| end.eq_ignore_ascii_case(suffix.as_bytes()))
        }
        None => name.eq_ignore_ascii_case(pattern.as_bytes()),
    }
}

impl RequestFacts<'_> {
    /// Whether the request has `expected` for key `key` (an index of [`KEYS`]).
    fn fits(&mut self, key: usize, expected: &str) -> bool {
        let host = self.host;
        match (key, self.names.get_mut(key), NAMES.get(key)) {
            (_, Some(_), Some(_)) if host.rerouted() != Rerouted::No => {
                self.stale = host.rerouted();
                false
            }
            (_, Some(name), Some(path)) => {
                name.get_or_insert_with(|| host.attribute(path)).as_deref()
                    == Some(expected.as_bytes())
            }
            (2, ..) => (self.headers().first(":path")).is_some_and(|p| under_prefix(p, expected)),
            _ => (self.headers().first(":authority")).is_some_and(|a| host_matches(a, expected)),
        }
    }

    /// The request headers, read from the host at the first call.
    fn headers(&mut self) -> &HeaderMap {
        let host = self.host;
        self.headers.get_or_insert_with(|| host.request_headers())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(under_prefix(b"/admin", "/admin"));
        assert!(under_prefix(b"/admin/users?x=1", "/admin"));
        assert!(under_prefix(b"/admin?x", "/admin"));
        assert!(!under_prefix(b"/administrator", "/admin"));
        assert!(under_prefix(b"/api/v1", "/api/"));
        assert!(!under_prefix(b"/api", "/api/"));
        assert!(under_prefix(b"/anything", "/"));
        assert!(!under_prefix(b"/x?/admin", "/x/admin"));
    }

    #[test]
    fn hosts_ignore_port_and_case() {
        assert!(host_matches(b"API.example.com:8443", "api.example.com"));
        assert!(host_matches(b"a.example.com", "*.example.com"));
        assert!(!host_matches(b"example.com", "*.example.com"));
        assert!(!host_matches(b"badexample.com", "*.example.com"));
        assert!(!host_matches(b"[::1]:80", "1"));
        assert!(!host_matches(b"example.com.evil", "example.com"));
        assert!(host_matches(b"admin.example.com.", "admin.example.com"));
        assert!(host_matches(
            b"u@admin.example.com.:80",
            "admin.example.com"
        ));
        assert!(host_matches(b"a%40b@admin.example.com", "*.example.com"));
    }

    #[test]
    fn a_match_needs_a_key_and_refuses_bad_ones() {
        let read = |json: &str| {
            let value = crate::config::json::parse(json.as_bytes()).unwrap();
            RouteMatch::read(&Node::root(&value)).map_err(|e| e.to_string())
        };
        assert!(read(r#"{}"#).unwrap_err().contains("needs at least one of"));
        assert!(read(r#"{"path_prefix": "admin"}"#)
            .unwrap_err()
            .contains("config.path_prefix: must start with `/`"));
        assert!(read(r#"{"host": "a.com:80"}"#)
            .unwrap_err()
            .contains("config.host"));
        assert!(read(r#"{"route": "x"}"#)
            .unwrap_err()
            .contains("unknown field `route`"));
        assert!(read(r#"{"route_name": ""}"#)
            .unwrap_err()
            .contains("must not be empty"));
        assert_eq!(
            read(r#"{"route_name": "r", "host": "*.Example.com"}"#).unwrap(),
            RouteMatch([Some("r".into()), None, None, Some("*.example.com".into())])
        );
    }
}
