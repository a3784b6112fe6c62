//! Envoy configurations for tests.
//!
//! The files in `envoy-test-configs/` are also configurations users copy as-is,
//! so they use fixed ports and relative paths. [`EnvoyConfig::render`] turns
//! them into configurations that many tests can run at once, by these textual
//! conventions (applied to YAML text, after the explicit replacements added
//! with [`EnvoyConfig::replace`]):
//!
//! | written in the file                          | becomes                                 |
//! |----------------------------------------------|-----------------------------------------|
//! | `port_value: 10000` .. `port_value: 10099`   | `port_value: 0` (listeners)             |
//! | `port_value: 9901` .. `port_value: 9999`     | `port_value: 0` (admin)                 |
//! | `port_value: 8000` .. `port_value: 8099`     | the port given by [`EnvoyConfig::upstream`] for it (the application) |
//! | `address: 0.0.0.0`                           | `address: 127.0.0.1`                    |
//! | `filename: dist/...`                         | `filename: <repo>/dist/...`             |
//!
//! The port rules apply to `port_value:` followed by blanks and digits
//! (optionally quoted); the address and filename rules also match the value in
//! double or single quotes. Listener names are how tests find listeners, so
//! each listener needs a `name`.

use std::path::Path;

use crate::paths;

/// Listener ports in checked-in configs; rendered as port 0 (any free port).
const LISTENER_PORTS: std::ops::RangeInclusive<u16> = 10000..=10099;
/// Admin ports in checked-in configs (9901, or 9902.. where several Envoys run side by
/// side as-is); rendered as port 0.
const ADMIN_PORTS: std::ops::RangeInclusive<u16> = 9901..=9999;
/// Upstream application ports in checked-in configs; mapped to test servers.
const UPSTREAM_PORTS: std::ops::RangeInclusive<u16> = 8000..=8099;

/// An Envoy bootstrap configuration (YAML) plus the rewrites a test wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvoyConfig {
    source: String,
    yaml: String,
    upstreams: Vec<(u16, u16)>,
    replacements: Vec<(String, String)>,
    keep_ports: bool,
}

impl EnvoyConfig {
    /// Loads a YAML file; a relative path is taken relative to
    /// `envoy-test-configs/` in the repository.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, String> {
        let path = paths::test_configs_dir().join(path.as_ref());
        let yaml = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read Envoy config {}: {e}", path.display()))?;
        Ok(Self {
            source: path.display().to_string(),
            yaml,
            upstreams: Vec::new(),
            replacements: Vec::new(),
            keep_ports: false,
        })
    }

    /// Uses `yaml` as the configuration text.
    pub fn from_yaml(yaml: impl Into<String>) -> Self {
        Self {
            source: "inline YAML".to_string(),
            yaml: yaml.into(),
            upstreams: Vec::new(),
            replacements: Vec::new(),
            keep_ports: false,
        }
    }

    /// Where the configuration came from (a file path or `inline YAML`), for messages.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The configuration text as loaded, before any rewrite.
    pub fn original(&self) -> &str {
        &self.yaml
    }

    /// Maps the application port `config_port` (8000..=8099) written in the
    /// config to `actual_port`, typically [`crate::EchoServer::port`].
    pub fn upstream(mut self, config_port: u16, actual_port: u16) -> Self {
        self.upstreams.retain(|(from, _)| *from != config_port);
        self.upstreams.push((config_port, actual_port));
        self
    }

    /// Replaces every occurrence of `from` by `to` before the conventions apply.
    /// Rendering fails if `from` does not occur, so a stale test is noticed.
    pub fn replace(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.replacements.push((from.into(), to.into()));
        self
    }

    /// Leaves every `port_value` as written: no port rule of this module applies
    /// (for a configuration that runs on its own fixed ports, or whose ports
    /// the caller has already chosen, like the demo mesh's).
    pub fn keep_ports(mut self) -> Self {
        self.keep_ports = true;
        self
    }

    /// The configuration Envoy runs: explicit replacements, then the
    /// conventions of this module. Fails when a replacement does not match or
    /// the config uses an application port that has no [`EnvoyConfig::upstream`].
    pub fn render(&self) -> Result<String, String> {
        self.render_with(true)
    }

    /// Like [`EnvoyConfig::render`], but application ports without a mapping
    /// are left unchanged (for validation, which opens no connection).
    pub fn render_unmapped_ok(&self) -> Result<String, String> {
        self.render_with(false)
    }

    fn render_with(&self, require_upstreams: bool) -> Result<String, String> {
        let mut yaml = self.yaml.clone();
        for (from, to) in &self.replacements {
            if !yaml.contains(from.as_str()) {
                return Err(format!(
                    "{}: text to replace not found: {from:?}",
                    self.source
                ));
            }
            yaml = yaml.replace(from.as_str(), to);
        }
        let yaml = rewrite_ports(&yaml, |port| {
            if self.keep_ports {
                return Ok(port);
            }
            if LISTENER_PORTS.contains(&port) || ADMIN_PORTS.contains(&port) {
                return Ok(0);
            }
            if UPSTREAM_PORTS.contains(&port) {
                if let Some((_, actual)) = self.upstreams.iter().find(|(from, _)| *from == port) {
                    return Ok(*actual);
                }
                if require_upstreams {
                    return Err(format!(
                        "{}: application port {port} has no upstream; add .upstream({port}, server.port())",
                        self.source
                    ));
                }
            }
            Ok(port)
        })?;
        let mut yaml = replace_value(&yaml, "address:", "0.0.0.0", "127.0.0.1");
        let dist = format!("{}/", paths::dist_dir().display());
        yaml = replace_value(&yaml, "filename:", "dist/", &dist);
        Ok(yaml)
    }
}

/// Rewrites the number after every `port_value:` with `map`.
fn rewrite_ports(yaml: &str, map: impl Fn(u16) -> Result<u16, String>) -> Result<String, String> {
    const KEY: &str = "port_value:";
    let mut out = String::with_capacity(yaml.len());
    let mut rest = yaml;
    while let Some(at) = rest.find(KEY) {
        let (before, from_key) = rest.split_at(at);
        out.push_str(before);
        out.push_str(KEY);
        let after_key = from_key.get(KEY.len()..).unwrap_or_default();
        let blanks = after_key.len() - after_key.trim_start_matches([' ', '\t']).len();
        let (spacing, value) = after_key.split_at(blanks);
        out.push_str(spacing);
        let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'');
        let (opening, value) = value.split_at(quote.map_or(0, char::len_utf8));
        out.push_str(opening);
        let digits = value.len() - value.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let (number, remainder) = value.split_at(digits);
        match number.parse::<u16>() {
            Ok(port) => out.push_str(&map(port)?.to_string()),
            Err(_) => out.push_str(number),
        }
        rest = remainder;
    }
    out.push_str(rest);
    Ok(out)
}

/// Replaces `from` by `to` where it begins the value of `key` (after blanks,
/// plain or in single or double quotes).
fn replace_value(yaml: &str, key: &str, from: &str, to: &str) -> String {
    let mut out = yaml.to_string();
    for spacing in [" ", "  ", "\t"] {
        for quote in ["", "\"", "'"] {
            let pattern = format!("{key}{spacing}{quote}{from}");
            let replacement = format!("{key}{spacing}{quote}{to}");
            out = out.replace(&pattern, &replacement);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    const SAMPLE: &str = "\
admin:
  address: {socket_address: {address: 0.0.0.0, port_value: 9901}}
listeners:
- address: {socket_address: {address: \"0.0.0.0\", port_value: 10000}}
- address: {socket_address: {address: 127.0.0.1, port_value:  10099 }}
- address: {socket_address: {address: 127.0.0.1, port_value: 10100}}
clusters:
- endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 8000}}}
- endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: \"8001\"}}}
vm: {code: {local: {filename: dist/filter.wasm}}}
other: {code: {local: {filename: \"dist/other.wasm\"}}}
";

    #[test]
    fn conventions_rewrite_ports_addresses_and_dist() {
        let rendered = EnvoyConfig::from_yaml(SAMPLE)
            .upstream(8000, 41000)
            .upstream(8001, 41001)
            .render()
            .unwrap();
        let dist = paths::dist_dir().display().to_string();
        let expected = SAMPLE
            .replace("0.0.0.0", "127.0.0.1")
            .replace("port_value: 9901", "port_value: 0")
            .replace("port_value: 10000", "port_value: 0")
            .replace("port_value:  10099", "port_value:  0")
            .replace("port_value: 8000", "port_value: 41000")
            .replace("port_value: \"8001\"", "port_value: \"41001\"")
            .replace("filename: dist/", &format!("filename: {dist}/"))
            .replace("filename: \"dist/", &format!("filename: \"{dist}/"));
        assert_eq!(rendered, expected);
        assert!(rendered.contains("port_value: 10100"));
    }

    #[test]
    fn unmapped_upstream_is_an_error_unless_allowed() {
        let config = EnvoyConfig::from_yaml(SAMPLE).upstream(8000, 1);
        let error = config.render().unwrap_err();
        assert!(error.contains("8001"), "{error}");
        assert!(config
            .render_unmapped_ok()
            .unwrap()
            .contains("port_value: \"8001\""));
    }

    #[test]
    fn replacements_apply_first_and_must_match() {
        let config = EnvoyConfig::from_yaml("a: X\nport_value: 5\n")
            .replace("port_value: 5", "port_value: 10001");
        assert_eq!(config.render().unwrap(), "a: X\nport_value: 0\n");
        let missing = EnvoyConfig::from_yaml("a: X").replace("nope", "y");
        assert!(missing.render().unwrap_err().contains("nope"));
    }

    #[test]
    fn keep_ports_leaves_every_port_as_written() {
        let rendered = EnvoyConfig::from_yaml(SAMPLE)
            .keep_ports()
            .render()
            .unwrap();
        let dist = paths::dist_dir().display().to_string();
        let expected = SAMPLE
            .replace("0.0.0.0", "127.0.0.1")
            .replace("filename: dist/", &format!("filename: {dist}/"))
            .replace("filename: \"dist/", &format!("filename: \"{dist}/"));
        assert_eq!(rendered, expected);
    }

    #[test]
    fn rewrite_ports_leaves_non_numbers_alone() {
        let out = rewrite_ports("port_value: abc\nport_value:", |_| Ok(1)).unwrap();
        assert_eq!(out, "port_value: abc\nport_value:");
        let out = rewrite_ports("port_value: 99999", |_| Ok(1)).unwrap();
        assert_eq!(out, "port_value: 99999");
    }
}
