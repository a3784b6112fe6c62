//! The configuration compiled once: validated, names lowercased into sets, CIDRs parsed.

use crate::config::{AuthorityConfig, Config, RepeatedSingletons, Underscores};
use crate::methods::Methods;
use crate::names::{check_name, is_hop_by_hop, NameSet, NameTable};
use crate::read::entry_path;
use crate::trust::Trust;
use wasmesh_path::PathOptions;
use wasmesh_sdk::ConfigError;

/// Headers that are always singletons (besides every pseudo-header). `host` counts
/// together with `:authority`.
pub const BUILTIN_SINGLETONS: [&str; 4] =
    ["host", "authorization", "content-length", "traceparent"];

/// (legacy name, canonical name) pairs, both lowercase.
pub(crate) type Renames = Vec<(Box<str>, Box<str>)>;

/// The compiled configuration: what every request is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalizer {
    pub(crate) path: PathOptions,
    pub(crate) original_path_header: Option<Box<str>>,
    pub(crate) methods: Methods,
    pub(crate) underscores: Underscores,
    pub(crate) singletons: NameSet,
    pub(crate) repeated_singletons: RepeatedSingletons,
    pub(crate) strip_hop_by_hop: bool,
    pub(crate) internal: NameSet,
    pub(crate) trust: Trust,
    pub(crate) authority: AuthorityConfig,
    pub(crate) max_headers: usize,
    pub(crate) max_header_bytes: usize,
    pub(crate) trim_whitespace: bool,
    pub(crate) renames: Renames,
    /// Every name some rule treats specially, for the survey of a request.
    pub(crate) names: NameTable,
}

impl Normalizer {
    /// Validates and compiles `config`; errors name the JSON path of the field.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        let methods = Methods::new(&config.allowed_methods, config.lowercase_methods).map_err(
            |(index, reason)| match index {
                Some(index) => ConfigError::at(entry_path("allowed_methods", index, ""), reason),
                None => ConfigError::at("allowed_methods", reason),
            },
        )?;

        let mut singletons = NameSet::default();
        for name in BUILTIN_SINGLETONS {
            singletons
                .insert_exact(name)
                .map_err(|reason| ConfigError::at("singleton_headers", reason))?;
        }
        for (index, name) in config.singleton_headers.iter().enumerate() {
            singletons.insert_exact(name).map_err(|reason| {
                ConfigError::at(entry_path("singleton_headers", index, ""), reason)
            })?;
        }

        let mut internal = NameSet::default();
        for (index, entry) in config.internal_headers.iter().enumerate() {
            internal.insert_pattern(entry).map_err(|reason| {
                ConfigError::at(entry_path("internal_headers", index, ""), reason)
            })?;
        }

        let original_path_header = match &config.original_path_header {
            Some(name) => {
                check_name(name)
                    .and_then(|()| refuse_hop_by_hop(name))
                    .map_err(|reason| ConfigError::at("original_path_header", reason))?;
                // A client must not be able to forge it: it is an internal header.
                internal
                    .insert_exact(name)
                    .map_err(|reason| ConfigError::at("original_path_header", reason))?;
                Some(name.to_ascii_lowercase().into_boxed_str())
            }
            None => None,
        };

        let renames = compile_renames(&config)?;
        let trust = Trust::new(&config.trusted_callers)?;
        let names = NameTable::new(&singletons, &internal, &renames, config.strip_hop_by_hop);

        Ok(Self {
            path: config.path,
            original_path_header,
            methods,
            underscores: config.underscores_in_names,
            singletons,
            repeated_singletons: config.repeated_singletons,
            strip_hop_by_hop: config.strip_hop_by_hop,
            internal,
            trust,
            authority: config.authority,
            max_headers: usize::try_from(config.max_headers).unwrap_or(usize::MAX),
            max_header_bytes: usize::try_from(config.max_header_bytes).unwrap_or(usize::MAX),
            trim_whitespace: config.trim_whitespace,
            renames,
            names,
        })
    }

    /// The canonical name `name` is renamed to, if it is a legacy name.
    pub(crate) fn rename_of(&self, name: &[u8]) -> Option<&str> {
        self.renames
            .iter()
            .find(|(from, _)| name.eq_ignore_ascii_case(from.as_bytes()))
            .map(|(_, to)| &**to)
    }
}

fn refuse_hop_by_hop(name: &str) -> Result<(), String> {
    if is_hop_by_hop(name.as_bytes()) {
        Err(format!("`{name}` is a hop-by-hop header"))
    } else {
        Ok(())
    }
}

fn compile_renames(config: &Config) -> Result<Renames, ConfigError> {
    let mut renames: Renames = Vec::with_capacity(config.renames.len());
    for (index, rename) in config.renames.iter().enumerate() {
        let from_at = entry_path("renames", index, ".from");
        let to_at = entry_path("renames", index, ".to");
        check_name(&rename.from)
            .and_then(|()| refuse_hop_by_hop(&rename.from))
            .map_err(|reason| ConfigError::at(from_at.as_str(), reason))?;
        check_name(&rename.to)
            .and_then(|()| refuse_hop_by_hop(&rename.to))
            .map_err(|reason| ConfigError::at(to_at.as_str(), reason))?;
        let from = rename.from.to_ascii_lowercase();
        let to = rename.to.to_ascii_lowercase();
        if from == to {
            return Err(ConfigError::at(
                to_at,
                "a header cannot be renamed to itself",
            ));
        }
        if to.contains('_') && config.underscores_in_names != Underscores::Allow {
            return Err(ConfigError::at(
                to_at,
                format!("`{to}` has `_`, which `underscores_in_names` does not allow"),
            ));
        }
        if renames.iter().any(|(seen, _)| **seen == *from) {
            return Err(ConfigError::at(
                from_at,
                format!("`{from}` is renamed twice"),
            ));
        }
        renames.push((from.into(), to.into()));
    }
    // No chains: a canonical name is never itself a legacy name.
    for (index, (_, to)) in renames.iter().enumerate() {
        if renames.iter().any(|(from, _)| from == to) {
            return Err(ConfigError::at(
                entry_path("renames", index, ".to"),
                format!("`{to}` is also renamed (renames do not chain)"),
            ));
        }
    }
    Ok(renames)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn compile(json: &str) -> Result<Normalizer, ConfigError> {
        Normalizer::new(Config::from_json(json.as_bytes())?)
    }

    fn error_path(json: &str) -> String {
        compile(json).unwrap_err().path().to_owned()
    }

    #[test]
    fn the_default_compiles() {
        let normalizer = compile("{}").unwrap();
        assert!(normalizer.singletons.contains(b"authorization"));
        assert!(normalizer.internal.contains(b"x-envoy-original-path"));
        assert!(normalizer.trust.trusts_nobody());
        assert_eq!(normalizer.max_headers, 100);
    }

    #[test]
    fn names_are_lowercased_once() {
        let normalizer = compile(
            r#"{"singleton_headers": ["X-Tenant"], "renames": [{"from": "X_User", "to": "X-User"}],
                "original_path_header": "X-Original-Path"}"#,
        )
        .unwrap();
        assert!(normalizer.singletons.contains(b"x-tenant"));
        assert_eq!(normalizer.rename_of(b"x_user"), Some("x-user"));
        assert_eq!(
            normalizer.original_path_header.as_deref(),
            Some("x-original-path")
        );
        assert!(normalizer.internal.contains(b"x-original-path"));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (r#"{"allowed_methods": []}"#, "allowed_methods"),
            (
                r#"{"allowed_methods": ["GET", "G T"]}"#,
                "allowed_methods[1]",
            ),
            (
                r#"{"singleton_headers": ["ok", "x y"]}"#,
                "singleton_headers[1]",
            ),
            (r#"{"internal_headers": ["*"]}"#, "internal_headers[0]"),
            (r#"{"original_path_header": "te"}"#, "original_path_header"),
            (
                r#"{"original_path_header": ":path"}"#,
                "original_path_header",
            ),
            (
                r#"{"renames": [{"from": "a b", "to": "c"}]}"#,
                "renames[0].from",
            ),
            (
                r#"{"renames": [{"from": "a", "to": "connection"}]}"#,
                "renames[0].to",
            ),
            (
                r#"{"renames": [{"from": "a", "to": "A"}]}"#,
                "renames[0].to",
            ),
            (
                r#"{"renames": [{"from": "a", "to": "b_c"}]}"#,
                "renames[0].to",
            ),
            (
                r#"{"renames": [{"from": "a", "to": "b"}, {"from": "A", "to": "c"}]}"#,
                "renames[1].from",
            ),
            (
                r#"{"renames": [{"from": "a", "to": "b"}, {"from": "b", "to": "c"}]}"#,
                "renames[0].to",
            ),
            (r#"{"trusted_callers": [{}]}"#, "trusted_callers[0]"),
            (
                r#"{"trusted_callers": [{"source_cidrs": ["nope"]}]}"#,
                "trusted_callers[0].source_cidrs[0]",
            ),
        ];
        for (json, path) in cases {
            assert_eq!(error_path(json), path, "{json}");
        }
    }

    #[test]
    fn an_underscore_target_is_fine_when_underscores_are_allowed() {
        compile(r#"{"underscores_in_names": "allow", "renames": [{"from": "a", "to": "b_c"}]}"#)
            .unwrap();
    }
}
