//! Which callers are trusted to send internal headers.
//!
//! A caller is trusted when it meets every condition of at least one configured entry;
//! with no entries (the default) nobody is.

use crate::config::TrustedCallerConfig;
use crate::facts::ConnectionFacts;
use crate::read::entry_path;
use wasmesh_identity::Cidr;
use wasmesh_sdk::ConfigError;

/// One compiled entry of `trusted_callers`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TrustedCaller {
    source_cidrs: Vec<Cidr>,
    mtls: bool,
    peer_uri_sans: Vec<SanPattern>,
}

/// A URI SAN, exact or as a prefix (written with a trailing `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum SanPattern {
    Exact(String),
    Prefix(String),
}

impl SanPattern {
    fn matches(&self, san: &str) -> bool {
        match self {
            SanPattern::Exact(exact) => san == exact,
            SanPattern::Prefix(prefix) => san.starts_with(prefix.as_str()),
        }
    }
}

/// The compiled `trusted_callers`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    callers: Vec<TrustedCaller>,
}

impl Trust {
    /// Compiles the entries; errors name the field (`trusted_callers[0].source_cidrs[1]`).
    pub fn new(entries: &[TrustedCallerConfig]) -> Result<Self, ConfigError> {
        let mut callers = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let at = |field: &str| entry_path("trusted_callers", index, field);
            if entry.source_cidrs.is_empty() && !entry.mtls && entry.peer_uri_sans.is_empty() {
                return Err(ConfigError::at(
                    at(""),
                    "an entry needs at least one of `source_cidrs`, `mtls`, `peer_uri_sans` \
                     (to trust every caller, list 0.0.0.0/0 and ::/0)",
                ));
            }
            let mut source_cidrs = Vec::with_capacity(entry.source_cidrs.len());
            for (cidr_index, text) in entry.source_cidrs.iter().enumerate() {
                let cidr = Cidr::parse(text).map_err(|error| {
                    ConfigError::at(
                        at(&entry_path(".source_cidrs", cidr_index, "")),
                        error.to_string(),
                    )
                })?;
                source_cidrs.push(cidr);
            }
            let mut peer_uri_sans = Vec::with_capacity(entry.peer_uri_sans.len());
            for (san_index, text) in entry.peer_uri_sans.iter().enumerate() {
                let pattern = match text.strip_suffix('*') {
                    Some(prefix) if !prefix.is_empty() && !prefix.contains('*') => {
                        SanPattern::Prefix(prefix.to_owned())
                    }
                    None if !text.is_empty() && !text.contains('*') => {
                        SanPattern::Exact(text.clone())
                    }
                    _ => {
                        return Err(ConfigError::at(
                            at(&entry_path(".peer_uri_sans", san_index, "")),
                            format!(
                                "`{text}` must be a non-empty URI SAN, with `*` only as a final \
                                 prefix wildcard"
                            ),
                        ))
                    }
                };
                peer_uri_sans.push(pattern);
            }
            callers.push(TrustedCaller {
                source_cidrs,
                mtls: entry.mtls,
                peer_uri_sans,
            });
        }
        Ok(Self { callers })
    }

    /// Whether nobody can be trusted (no entries), so no fact needs reading.
    pub fn trusts_nobody(&self) -> bool {
        self.callers.is_empty()
    }

    /// Whether the caller described by `facts` is trusted.
    pub fn is_trusted(&self, facts: &mut dyn ConnectionFacts) -> bool {
        self.callers.iter().any(|caller| {
            let source_ok = caller.source_cidrs.is_empty()
                || facts
                    .source_ip()
                    .is_some_and(|ip| caller.source_cidrs.iter().any(|cidr| cidr.contains(ip)));
            let mtls_ok = !caller.mtls || facts.mtls();
            let san_ok = caller.peer_uri_sans.is_empty()
                || facts.peer_uri_san().is_some_and(|san| {
                    caller
                        .peer_uri_sans
                        .iter()
                        .any(|pattern| pattern.matches(&san))
                });
            source_ok && mtls_ok && san_ok
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use std::net::IpAddr;

    #[derive(Default)]
    struct Facts {
        ip: Option<&'static str>,
        mtls: bool,
        san: Option<&'static str>,
    }

    impl ConnectionFacts for Facts {
        fn source_ip(&mut self) -> Option<IpAddr> {
            self.ip.map(|ip| ip.parse().unwrap())
        }
        fn mtls(&mut self) -> bool {
            self.mtls
        }
        fn peer_uri_san(&mut self) -> Option<String> {
            self.san.map(str::to_owned)
        }
        fn listener_port(&mut self) -> Option<u16> {
            None
        }
    }

    fn entry(cidrs: &[&str], mtls: bool, sans: &[&str]) -> TrustedCallerConfig {
        TrustedCallerConfig {
            source_cidrs: cidrs.iter().map(|c| (*c).to_owned()).collect(),
            mtls,
            peer_uri_sans: sans.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn nobody_is_trusted_by_default() {
        let trust = Trust::new(&[]).unwrap();
        assert!(trust.trusts_nobody());
        let mut facts = Facts {
            ip: Some("127.0.0.1"),
            mtls: true,
            san: Some("spiffe://mesh/x"),
        };
        assert!(!trust.is_trusted(&mut facts));
    }

    #[test]
    fn every_condition_of_an_entry_must_hold() {
        let trust =
            Trust::new(&[entry(&["10.0.0.0/8"], true, &["spiffe://mesh/ns/edge/*"])]).unwrap();
        let mut all = Facts {
            ip: Some("10.1.2.3"),
            mtls: true,
            san: Some("spiffe://mesh/ns/edge/sa/gw"),
        };
        assert!(trust.is_trusted(&mut all));
        let mut wrong_ip = Facts {
            ip: Some("192.168.0.1"),
            ..all
        };
        assert!(!trust.is_trusted(&mut wrong_ip));
        let mut no_mtls = Facts {
            ip: Some("10.1.2.3"),
            mtls: false,
            san: Some("spiffe://mesh/ns/edge/sa/gw"),
        };
        assert!(!trust.is_trusted(&mut no_mtls));
        let mut other_san = Facts {
            ip: Some("10.1.2.3"),
            mtls: true,
            san: Some("spiffe://mesh/ns/app/sa/x"),
        };
        assert!(!trust.is_trusted(&mut other_san));
    }

    #[test]
    fn any_entry_is_enough() {
        let trust =
            Trust::new(&[entry(&["127.0.0.1"], false, &[]), entry(&[], true, &[])]).unwrap();
        assert!(trust.is_trusted(&mut Facts {
            ip: Some("127.0.0.1"),
            ..Facts::default()
        }));
        assert!(trust.is_trusted(&mut Facts {
            ip: Some("8.8.8.8"),
            mtls: true,
            san: None,
        }));
        assert!(!trust.is_trusted(&mut Facts {
            ip: Some("8.8.8.8"),
            ..Facts::default()
        }));
        assert!(!trust.is_trusted(&mut Facts::default()));
    }

    #[test]
    fn exact_sans_match_exactly() {
        let trust = Trust::new(&[entry(&[], false, &["spiffe://mesh/gw"])]).unwrap();
        let mut exact = Facts {
            san: Some("spiffe://mesh/gw"),
            ..Facts::default()
        };
        assert!(trust.is_trusted(&mut exact));
        let mut longer = Facts {
            san: Some("spiffe://mesh/gw2"),
            ..Facts::default()
        };
        assert!(!trust.is_trusted(&mut longer));
    }

    #[test]
    fn bad_entries_name_their_field() {
        let error = Trust::new(&[entry(&[], false, &[])]).unwrap_err();
        assert_eq!(error.path(), "trusted_callers[0]");
        let error = Trust::new(&[entry(&["10.0.0.0/8", "10.0.0.1/8"], false, &[])]).unwrap_err();
        assert_eq!(error.path(), "trusted_callers[0].source_cidrs[1]");
        for bad in ["", "*", "a*b*", "spiffe://*/x"] {
            let error = Trust::new(&[entry(&[], false, &[bad])]).unwrap_err();
            assert_eq!(error.path(), "trusted_callers[0].peer_uri_sans[0]", "{bad}");
        }
    }
}
