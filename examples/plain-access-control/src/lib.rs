//! The benchmark's access-control policy written the way the proxy-wasm crate's examples
//! teach: the configuration through `serde_json`, one host call per request header,
//! `get_property` for the peer address. A comparison row in BENCHMARKS.md, not a product:
//! use `filters/access-control`.

use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

use log::warn;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, MetricType};
use serde::Deserialize;

const METRIC: &str = "wasmesh_plain_access_control_requests_total";

#[derive(Deserialize)]
struct Config {
    identity: Identity,
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
struct Identity {
    caller_header: CallerHeader,
}

#[derive(Deserialize)]
struct CallerHeader {
    name: String,
    trusted_cidrs: Vec<String>,
}

#[derive(Deserialize)]
struct Rule {
    name: String,
    action: RuleAction,
    callers: Option<Vec<String>>,
    methods: Option<Vec<String>>,
    paths: Option<Vec<PathMatch>>,
}

#[derive(Deserialize, PartialEq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum RuleAction {
    Allow,
    Deny,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum PathMatch {
    Exact(String),
    Prefix(String),
}

impl Rule {
    fn matches(&self, caller: Option<&str>, method: &str, path: &str) -> bool {
        self.callers
            .as_ref()
            .is_none_or(|callers| caller.is_some_and(|c| callers.iter().any(|x| x == c)))
            && self
                .methods
                .as_ref()
                .is_none_or(|methods| methods.iter().any(|m| m.eq_ignore_ascii_case(method)))
            && self
                .paths
                .as_ref()
                .is_none_or(|paths| paths.iter().any(|p| p.matches(path)))
    }
}

impl PathMatch {
    fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Exact(exact) => path == exact,
            // Segment-aware, as in access-control: `/api` matches `/api/x`, not `/apix`.
            PathMatch::Prefix(prefix) => path
                .strip_prefix(prefix.trim_end_matches('/'))
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
        }
    }
}

/// `10.0.0.0/8` -> (address, prefix length).
fn parse_cidr(cidr: &str) -> Option<(IpAddr, u32)> {
    let (address, bits) = cidr.split_once('/')?;
    let address: IpAddr = address.parse().ok()?;
    let bits: u32 = bits.parse().ok()?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((address, bits))
}

fn in_cidr(ip: IpAddr, (network, bits): (IpAddr, u32)) -> bool {
    match (ip, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            (u32::from(a) ^ u32::from(n))
                .checked_shr(32 - bits)
                .unwrap_or(0)
                == 0
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            (u128::from(a) ^ u128::from(n))
                .checked_shr(128 - bits)
                .unwrap_or(0)
                == 0
        }
        _ => false,
    }
}

/// The configuration, compiled once per plugin and shared by every request.
struct Policy {
    caller_header: String,
    trusted: Vec<(IpAddr, u32)>,
    rules: Vec<Rule>,
    allowed: u32,
    denied: u32,
}

#[derive(Default)]
struct PlainAccessControlRoot {
    policy: Option<Rc<Policy>>,
}

impl Context for PlainAccessControlRoot {}

impl RootContext for PlainAccessControlRoot {
    fn on_configure(&mut self, _: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        let config: Config = match serde_json::from_slice(&bytes) {
            Ok(config) => config,
            Err(err) => {
                warn!("plain-access-control: bad configuration: {err}");
                return false;
            }
        };
        let trusted: Option<Vec<_>> = (config.identity.caller_header.trusted_cidrs.iter())
            .map(|cidr| parse_cidr(cidr))
            .collect();
        let Some(trusted) = trusted else {
            warn!("plain-access-control: bad configuration: invalid CIDR");
            return false;
        };
        let counter = |decision: &str| {
            let name = format!("{METRIC}.decision=.={decision};.;");
            hostcalls::define_metric(MetricType::Counter, &name).ok()
        };
        let (Some(allowed), Some(denied)) = (counter("allowed"), counter("denied")) else {
            return false;
        };
        self.policy = Some(Rc::new(Policy {
            caller_header: config.identity.caller_header.name,
            trusted,
            rules: config.rules,
            allowed,
            denied,
        }));
        true
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        let policy = self.policy.clone()?;
        Some(Box::new(PlainAccessControl { policy }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct PlainAccessControl {
    policy: Rc<Policy>,
}

impl PlainAccessControl {
    fn peer_is_trusted(&self) -> bool {
        let peer = self
            .get_property(vec!["source", "address"])
            .unwrap_or_default();
        let peer = String::from_utf8(peer).unwrap_or_default();
        peer.parse::<SocketAddr>()
            .is_ok_and(|peer| self.policy.trusted.iter().any(|&c| in_cidr(peer.ip(), c)))
    }
}

impl Context for PlainAccessControl {}

impl HttpContext for PlainAccessControl {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        let policy = Rc::clone(&self.policy);
        let method = self.get_http_request_header(":method").unwrap_or_default();
        let path = self.get_http_request_header(":path").unwrap_or_default();
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let caller = self
            .get_http_request_header(&policy.caller_header)
            .filter(|_| self.peer_is_trusted());

        let first = |action| {
            (policy.rules.iter())
                .find(|r| r.action == action && r.matches(caller.as_deref(), &method, path))
        };
        match (first(RuleAction::Deny), first(RuleAction::Allow)) {
            (None, Some(_)) => {
                self.set_http_request_header(&policy.caller_header, None);
                self.set_http_request_header("x-wasmesh-caller", caller.as_deref());
                let _ = hostcalls::increment_metric(policy.allowed, 1);
                Action::Continue
            }
            (deny, _) => {
                let rule = deny.map_or("default", |r| r.name.as_str());
                let body = serde_json::json!({"error": "forbidden", "rule": rule}).to_string();
                self.send_http_response(
                    403,
                    vec![("content-type", "application/json")],
                    Some(body.as_bytes()),
                );
                let _ = hostcalls::increment_metric(policy.denied, 1);
                Action::Pause
            }
        }
    }
}

/// Registers the root context with the proxy-wasm dispatcher (the module's entry point;
/// the tests' emulator calls it too).
pub fn register() {
    proxy_wasm::set_root_context(|_| Box::<PlainAccessControlRoot>::default());
}

#[cfg(target_arch = "wasm32")]
proxy_wasm::main! {{
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Warn);
    register();
}}
