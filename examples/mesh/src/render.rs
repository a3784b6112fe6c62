//! From a checked-in mesh configuration to the one a run uses.
//!
//! The files in `examples/mesh/envoy/` are complete Envoy configurations with the fixed
//! ports of [`crate::topology`], certificates in [`CONFIG_CERT_DIR`] and access logs on
//! [`CONFIG_ACCESS_LOG`] (as docker-compose.yaml runs them). A run rewrites exactly
//! those: every `port_value` through a port map that must cover it, the certificate
//! folder, and the access log path.

use crate::topology::{CONFIG_ACCESS_LOG, CONFIG_CERT_DIR};

/// What a run changes in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// (port written in the file, port of this run); every port in the file must be here.
    pub ports: Vec<(u16, u16)>,
    /// The folder holding this run's certificates.
    pub cert_dir: String,
    /// The file every access log line of this run goes to.
    pub access_log: String,
}

impl Rewrite {
    /// Applies the rewrite to `yaml` (read from `source`, named in errors). Fails when
    /// the file has a port the map does not cover, or when it never mentions the
    /// certificate folder or the access log path: the file and the topology disagree.
    pub fn apply(&self, source: &str, yaml: &str) -> Result<String, String> {
        for expected in [CONFIG_CERT_DIR, CONFIG_ACCESS_LOG] {
            if !yaml.contains(expected) {
                return Err(format!("{source}: does not mention {expected}"));
            }
        }
        let yaml = map_ports(yaml, |port| {
            self.ports
                .iter()
                .find(|(from, _)| *from == port)
                .map(|(_, to)| *to)
                .ok_or_else(|| format!("{source}: port {port} is not part of the mesh topology"))
        })?;
        Ok(yaml
            .replace(CONFIG_CERT_DIR, &self.cert_dir)
            .replace(CONFIG_ACCESS_LOG, &self.access_log))
    }
}

/// Replaces the number after every `port_value:` (optionally quoted) with `map(number)`.
fn map_ports(yaml: &str, map: impl Fn(u16) -> Result<u16, String>) -> Result<String, String> {
    const KEY: &str = "port_value:";
    let mut out = String::with_capacity(yaml.len());
    let mut rest = yaml;
    while let Some((before, after_key)) = rest.split_once(KEY) {
        out.push_str(before);
        out.push_str(KEY);
        let value = after_key.trim_start_matches([' ', '\t', '"', '\'']);
        out.push_str(
            after_key
                .get(..after_key.len() - value.len())
                .unwrap_or_default(),
        );
        let digits = value.len() - value.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let (number, remainder) = value.split_at(digits);
        let port = number
            .parse::<u16>()
            .map_err(|_| format!("`{KEY}` followed by {number:?}, not a port number"))?;
        out.push_str(&map(port)?.to_string());
        rest = remainder;
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn rewrite() -> Rewrite {
        Rewrite {
            ports: vec![(10001, 0), (8001, 41234), (10002, 45678)],
            cert_dir: "/tmp/run/certs".into(),
            access_log: "/tmp/run/access.log".into(),
        }
    }

    const YAML: &str = "\
listener: {address: {socket_address: {address: 127.0.0.1, port_value: 10001}}}
app: {port_value: \"8001\"}
peer: {port_value:  10002 }
cert: {filename: /tmp/wasmesh-mesh/certs/a.crt}
log: {path: /dev/stdout}
";

    #[test]
    fn ports_certificates_and_access_log_are_rewritten() {
        let out = rewrite().apply("a.yaml", YAML).unwrap();
        assert_eq!(
            out,
            "\
listener: {address: {socket_address: {address: 127.0.0.1, port_value: 0}}}
app: {port_value: \"41234\"}
peer: {port_value:  45678 }
cert: {filename: /tmp/run/certs/a.crt}
log: {path: /tmp/run/access.log}
"
        );
    }

    #[test]
    fn a_port_outside_the_topology_is_an_error() {
        let yaml = format!("{YAML}other: {{port_value: 10003}}\n");
        let error = rewrite().apply("a.yaml", &yaml).unwrap_err();
        assert_eq!(error, "a.yaml: port 10003 is not part of the mesh topology");
        let error = rewrite()
            .apply("a.yaml", &format!("{YAML}x: {{port_value: abc}}"))
            .unwrap_err();
        assert!(error.contains("not a port number"), "{error}");
    }

    #[test]
    fn the_certificate_folder_and_access_log_must_appear() {
        let error = rewrite()
            .apply("a.yaml", &YAML.replace("/dev/stdout", "/x"))
            .unwrap_err();
        assert_eq!(error, "a.yaml: does not mention /dev/stdout");
        let error = rewrite()
            .apply("a.yaml", &YAML.replace("/tmp/wasmesh-mesh/certs", "/x"))
            .unwrap_err();
        assert_eq!(error, "a.yaml: does not mention /tmp/wasmesh-mesh/certs");
    }
}
