//! The configuration, typed. Every field is optional in JSON; the defaults are the safe
//! choices (see the README for the full reference). [`crate::read`] reads it from JSON.

use wasmesh_path::PathOptions;

/// The filter's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Path canonicalization ([`PathOptions`] of `wasmesh-path`).
    pub path: PathOptions,
    /// A header that receives the path as the client sent it, when the filter rewrote it;
    /// `None` (the default) keeps no copy. It is also stripped from untrusted callers.
    pub original_path_header: Option<String>,
    /// The methods let through; default the RFC 9110 methods plus `PATCH`.
    pub allowed_methods: Vec<String>,
    /// What to do with a method written in lowercase (`get`); default `reject`.
    pub lowercase_methods: LowercaseMethods,
    /// What to do with a header whose name has `_`; default `drop`.
    pub underscores_in_names: Underscores,
    /// Headers allowed at most once, besides the built-in `:authority`/`host`,
    /// `authorization`, `content-length`, `traceparent` and the pseudo-headers.
    pub singleton_headers: Vec<String>,
    /// What to do with a repeated singleton header; default `reject`.
    pub repeated_singletons: RepeatedSingletons,
    /// Remove the hop-by-hop headers of RFC 9110 §7.6.1; default `true`.
    pub strip_hop_by_hop: bool,
    /// Headers (exact names, or prefixes ending in `*`) that only trusted callers may send;
    /// default `x-envoy-*`, `x-forwarded-client-cert`, `x-wasmesh-*`.
    pub internal_headers: Vec<String>,
    /// Who is trusted to send internal headers; default nobody.
    pub trusted_callers: Vec<TrustedCallerConfig>,
    /// `:authority` canonicalization.
    pub authority: AuthorityConfig,
    /// Most header fields (pseudo-headers not counted); 0 for no limit; default 100.
    pub max_headers: u32,
    /// Most bytes of header names and values (pseudo-headers included); 0 for no limit;
    /// default 61440 (60 KiB).
    pub max_header_bytes: u32,
    /// Trim spaces and tabs around header values; default `true`.
    pub trim_whitespace: bool,
    /// Legacy header names and the canonical names they become.
    pub renames: Vec<RenameConfig>,
    /// Let a `routes` entry make an option weaker than this configuration's (a listener
    /// field; entries cannot set it); default `false`: an entry may only be stricter.
    pub allow_weaker_routes: bool,
}

/// The methods of RFC 9110 §9 plus `PATCH` (RFC 5789).
pub const DEFAULT_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// The internal headers stripped from untrusted callers by default.
pub const DEFAULT_INTERNAL_HEADERS: [&str; 3] =
    ["x-envoy-*", "x-forwarded-client-cert", "x-wasmesh-*"];

impl Default for Config {
    fn default() -> Self {
        Self {
            path: PathOptions::default(),
            original_path_header: None,
            allowed_methods: DEFAULT_METHODS.iter().map(|m| (*m).to_owned()).collect(),
            lowercase_methods: LowercaseMethods::default(),
            underscores_in_names: Underscores::default(),
            singleton_headers: Vec::new(),
            repeated_singletons: RepeatedSingletons::default(),
            strip_hop_by_hop: true,
            internal_headers: DEFAULT_INTERNAL_HEADERS
                .iter()
                .map(|h| (*h).to_owned())
                .collect(),
            trusted_callers: Vec::new(),
            authority: AuthorityConfig::default(),
            max_headers: 100,
            max_header_bytes: 60 * 1024,
            trim_whitespace: true,
            renames: Vec::new(),
            allow_weaker_routes: false,
        }
    }
}

/// Treatment of a method with lowercase letters (methods are case-sensitive, RFC 9110 §9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LowercaseMethods {
    /// Refuse the request (rule `lowercase_method`).
    #[default]
    Reject,
    /// Uppercase it when the uppercase form is allowed.
    Uppercase,
}

/// Treatment of header names containing `_`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Underscores {
    /// Forward them.
    Allow,
    /// Remove them (rule `underscore_header`).
    #[default]
    Drop,
    /// Refuse the request (rule `underscore_header`).
    Reject,
}

/// Treatment of a singleton header sent more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RepeatedSingletons {
    /// Refuse the request (rule `repeated_header`).
    #[default]
    Reject,
    /// Keep the first value, drop the others (rule `repeated_header`).
    KeepFirst,
}

/// One kind of trusted caller: a caller is trusted when it meets every condition of at
/// least one entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrustedCallerConfig {
    /// The caller's address (`source.address`) is in one of these blocks (`10.0.0.0/8`).
    pub source_cidrs: Vec<String>,
    /// The connection is mutual TLS (`connection.mtls`).
    pub mtls: bool,
    /// The peer certificate's URI SAN is one of these (exact, or a prefix ending in `*`).
    pub peer_uri_sans: Vec<String>,
}

/// `:authority` canonicalization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthorityConfig {
    /// Lowercase the host; default `true`.
    pub lowercase: bool,
    /// Which ports to remove; default `scheme_default`.
    pub strip_port: StripPort,
    /// Remove one trailing dot of the host (`example.com.`); default `true`.
    pub strip_trailing_dot: bool,
}

impl Default for AuthorityConfig {
    fn default() -> Self {
        Self {
            lowercase: true,
            strip_port: StripPort::default(),
            strip_trailing_dot: true,
        }
    }
}

/// Which port of the authority is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StripPort {
    /// None.
    Keep,
    /// The default port of the request's `:scheme` (80 for `http`, 443 for `https`).
    #[default]
    SchemeDefault,
    /// The port of the listener the request came in on (`destination.port`), as
    /// Envoy's `strip_matching_host_port`.
    Matching,
    /// Any port, as Envoy's `strip_any_host_port`.
    Any,
}

/// A legacy header name and the canonical name it becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenameConfig {
    /// The legacy name (may contain `_`: renamed headers escape the underscore rule).
    pub from: String,
    /// The canonical name.
    pub to: String,
}
