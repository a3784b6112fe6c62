//! The declarative file: which filters exist, their versions (a `.wasm` plus a
//! JSON configuration each), and which nodes get which version.
//!
//! ```json
//! {
//!   "filters": {
//!     "hello": {
//!       "versions": {
//!         "v1": {"wasm": "dist/hello.wasm", "config": {"greeting": "hello v1"}},
//!         "v2": {"wasm": "dist/hello.wasm", "config": {"greeting": "hello v2"}}
//!       },
//!       "serve": "v1",
//!       "rollouts": [{"version": "v2", "node_ids": ["node-b"], "clusters": ["canary"]}],
//!       "failure_policy": "FAIL_CLOSED",
//!       "code": "inline"
//!     }
//!   }
//! }
//! ```
//!
//! A node gets the version of the first rollout that names its node id or its
//! cluster, else `serve`. Relative `wasm` paths are relative to the directory
//! of the declarative file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// What Envoy does when the filter's VM fails (Envoy's `failure_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailurePolicy {
    /// Requests get 503 while the VM is failed (Envoy's default).
    #[default]
    FailClosed,
    /// Requests pass without the filter while the VM is failed.
    FailOpen,
    /// Envoy starts a fresh VM for the next request.
    FailReload,
}

impl FailurePolicy {
    /// The name Envoy's API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            FailurePolicy::FailClosed => "FAIL_CLOSED",
            FailurePolicy::FailOpen => "FAIL_OPEN",
            FailurePolicy::FailReload => "FAIL_RELOAD",
        }
    }
}

/// How the module travels to Envoy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CodeDelivery {
    /// The module's bytes inside the ECDS resource (`local.inline_bytes`).
    #[default]
    Inline,
    /// The module's absolute path (`local.filename`); Envoy must see the same file system.
    File,
}

impl CodeDelivery {
    /// The name used in the declarative file.
    pub fn as_str(self) -> &'static str {
        match self {
            CodeDelivery::Inline => "inline",
            CodeDelivery::File => "file",
        }
    }
}

/// A parsed and checked declarative file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declaration {
    /// The filters, sorted by name.
    pub filters: Vec<FilterSpec>,
}

/// One HTTP filter delivered over ECDS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterSpec {
    /// The ECDS resource name: the `name` of the `http_filters` entry in Envoy.
    pub name: String,
    /// The versions, sorted by label.
    pub versions: Vec<VersionSpec>,
    /// The version of nodes that no rollout selects.
    pub serve: String,
    /// Version overrides for selected nodes; the first match wins.
    pub rollouts: Vec<Rollout>,
    /// Envoy's `failure_policy` for the filter.
    pub failure_policy: FailurePolicy,
    /// How the module travels.
    pub code: CodeDelivery,
}

/// One version of a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionSpec {
    /// The label, e.g. `v2`.
    pub label: String,
    /// The module, as an absolute (or declaration-relative, resolved) path.
    pub wasm: PathBuf,
    /// The filter's configuration as compact JSON text.
    pub config: String,
}

/// Nodes that get a version other than `serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    /// The version these nodes get.
    pub version: String,
    /// Node ids (Envoy's `node.id`).
    pub node_ids: Vec<String>,
    /// Node clusters (Envoy's `node.cluster`).
    pub clusters: Vec<String>,
}

impl Rollout {
    /// Whether the rollout selects the node with this id and cluster.
    pub fn selects(&self, node_id: &str, cluster: &str) -> bool {
        self.node_ids.iter().any(|id| id == node_id) || self.clusters.iter().any(|c| c == cluster)
    }
}

impl FilterSpec {
    /// The version label a node gets.
    pub fn version_for(&self, node_id: &str, cluster: &str) -> &str {
        self.rollouts
            .iter()
            .find(|rollout| rollout.selects(node_id, cluster))
            .map_or(self.serve.as_str(), |rollout| rollout.version.as_str())
    }

    /// The version with this label.
    pub fn version(&self, label: &str) -> Option<&VersionSpec> {
        self.versions.iter().find(|v| v.label == label)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeclaration {
    filters: BTreeMap<String, RawFilter>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFilter {
    versions: BTreeMap<String, RawVersion>,
    serve: String,
    #[serde(default)]
    rollouts: Vec<RawRollout>,
    #[serde(default)]
    failure_policy: FailurePolicy,
    #[serde(default)]
    code: CodeDelivery,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVersion {
    wasm: String,
    config: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRollout {
    version: String,
    #[serde(default)]
    node_ids: Vec<String>,
    #[serde(default)]
    clusters: Vec<String>,
}

/// Reads and checks the declarative file at `path`. The error names the file
/// and, for a JSON error, the line and column; for a semantic error, the field
/// (e.g. `filters.hello.rollouts[0].version`).
pub fn load(path: &Path) -> Result<Declaration, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    parse(&text, base).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses declarative JSON text; relative `wasm` paths are joined to `base`.
pub fn parse(text: &str, base: &Path) -> Result<Declaration, String> {
    let raw: RawDeclaration = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut filters = Vec::with_capacity(raw.filters.len());
    for (name, filter) in raw.filters {
        filters.push(check_filter(name, filter, base)?);
    }
    Ok(Declaration { filters })
}

fn check_filter(name: String, raw: RawFilter, base: &Path) -> Result<FilterSpec, String> {
    let at = format!("filters.{name}");
    if name.is_empty() || name.chars().any(|c| c.is_control() || c == ',') {
        return Err(format!(
            "filters: {name:?} is not a usable filter name (it must equal the Envoy http_filters name)"
        ));
    }
    if raw.versions.is_empty() {
        return Err(format!("{at}.versions: at least one version is needed"));
    }
    let mut versions = Vec::with_capacity(raw.versions.len());
    for (label, version) in raw.versions {
        if !is_label(&label) {
            return Err(format!(
                "{at}.versions: {label:?} is not a version label (letters, digits, `.`, `_`, `-`)"
            ));
        }
        let wasm_at = format!("{at}.versions.{label}.wasm");
        if version.wasm.is_empty() {
            return Err(format!("{wasm_at}: empty path"));
        }
        let config = match &version.config {
            serde_json::Value::String(text) => {
                return Err(format!(
                    "{at}.versions.{label}.config: give the configuration as JSON, not as a string \
                     (found {:?})",
                    truncate(text, 40)
                ))
            }
            value => value.to_string(),
        };
        versions.push(VersionSpec {
            label,
            wasm: base.join(version.wasm),
            config,
        });
    }
    let known = |label: &str| versions.iter().any(|v| v.label == label);
    let labels = || {
        versions
            .iter()
            .map(|v| v.label.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !known(&raw.serve) {
        return Err(format!(
            "{at}.serve: unknown version {:?} (versions: {})",
            raw.serve,
            labels()
        ));
    }
    let mut rollouts = Vec::with_capacity(raw.rollouts.len());
    for (index, rollout) in raw.rollouts.into_iter().enumerate() {
        let rollout_at = format!("{at}.rollouts[{index}]");
        if !known(&rollout.version) {
            return Err(format!(
                "{rollout_at}.version: unknown version {:?} (versions: {})",
                rollout.version,
                labels()
            ));
        }
        if rollout.node_ids.is_empty() && rollout.clusters.is_empty() {
            return Err(format!(
                "{rollout_at}: selects no node; give node_ids or clusters"
            ));
        }
        rollouts.push(Rollout {
            version: rollout.version,
            node_ids: rollout.node_ids,
            clusters: rollout.clusters,
        });
    }
    Ok(FilterSpec {
        name,
        versions,
        serve: raw.serve,
        rollouts,
        failure_policy: raw.failure_policy,
        code: raw.code,
    })
}

/// Version labels go into xDS version strings: keep them short and plain.
fn is_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 64
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}...", text.get(..cut).unwrap_or_default()),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    const EXAMPLE: &str = r#"{
      "filters": {
        "hello": {
          "versions": {
            "v1": {"wasm": "dist/hello.wasm", "config": {"greeting": "one"}},
            "v2": {"wasm": "/abs/hello-v2.wasm", "config": {"greeting": "two"}}
          },
          "serve": "v1",
          "rollouts": [
            {"version": "v2", "node_ids": ["node-b"]},
            {"version": "v1", "clusters": ["stable"]},
            {"version": "v2", "clusters": ["canary"]}
          ],
          "failure_policy": "FAIL_OPEN"
        }
      }
    }"#;

    fn error(text: &str) -> String {
        parse(text, Path::new("/base")).unwrap_err()
    }

    #[test]
    fn parses_versions_rollouts_and_defaults() {
        let declaration = parse(EXAMPLE, Path::new("/base")).unwrap();
        let hello = &declaration.filters[0];
        assert_eq!(hello.name, "hello");
        assert_eq!(hello.failure_policy, FailurePolicy::FailOpen);
        assert_eq!(hello.code, CodeDelivery::Inline);
        let v1 = hello.version("v1").unwrap();
        assert_eq!(v1.wasm, PathBuf::from("/base/dist/hello.wasm"));
        assert_eq!(v1.config, r#"{"greeting":"one"}"#);
        assert_eq!(
            hello.version("v2").unwrap().wasm,
            PathBuf::from("/abs/hello-v2.wasm")
        );
    }

    #[test]
    fn first_matching_rollout_wins_else_serve() {
        let declaration = parse(EXAMPLE, Path::new("/base")).unwrap();
        let hello = &declaration.filters[0];
        assert_eq!(hello.version_for("node-a", "any"), "v1");
        assert_eq!(hello.version_for("node-b", "stable"), "v2");
        assert_eq!(hello.version_for("node-c", "canary"), "v2");
        assert_eq!(hello.version_for("node-c", "stable"), "v1");
    }

    #[test]
    fn json_errors_give_line_and_column() {
        let message = error("{\n  \"filters\": {\n    \"hello\": {\"serve\": 1}\n  }\n}");
        assert!(message.contains("line 3"), "{message}");
        let message = error(r#"{"filters": {}, "extra": 1}"#);
        assert!(message.contains("unknown field `extra`"), "{message}");
        let message = error(
            r#"{"filters": {"h": {"versions": {"v1": {"wasm": "a", "config": {}}}, "serve": "v1", "failure_policy": "FAIL_SOMETIMES"}}}"#,
        );
        assert!(message.contains("FAIL_SOMETIMES"), "{message}");
    }

    #[test]
    fn semantic_errors_name_the_field() {
        let message = error(
            r#"{"filters": {"h": {"versions": {"v1": {"wasm": "a", "config": {}}}, "serve": "v9"}}}"#,
        );
        assert_eq!(
            message,
            "filters.h.serve: unknown version \"v9\" (versions: v1)"
        );
        let message = error(
            r#"{"filters": {"h": {"versions": {"v1": {"wasm": "a", "config": {}}}, "serve": "v1", "rollouts": [{"version": "v1"}]}}}"#,
        );
        assert_eq!(
            message,
            "filters.h.rollouts[0]: selects no node; give node_ids or clusters"
        );
        let message = error(
            r#"{"filters": {"h": {"versions": {"v1": {"wasm": "a", "config": {}}}, "serve": "v1", "rollouts": [{"version": "v3", "node_ids": ["n"]}]}}}"#,
        );
        assert!(message.starts_with("filters.h.rollouts[0].version: unknown version \"v3\""));
        let message = error(r#"{"filters": {"h": {"versions": {}, "serve": "v1"}}}"#);
        assert_eq!(
            message,
            "filters.h.versions: at least one version is needed"
        );
        let message = error(
            r#"{"filters": {"h": {"versions": {"v 1": {"wasm": "a", "config": {}}}, "serve": "v 1"}}}"#,
        );
        assert!(message.contains("not a version label"), "{message}");
        let message = error(
            r#"{"filters": {"h": {"versions": {"v1": {"wasm": "a", "config": "{\"greeting\": 1}"}}, "serve": "v1"}}}"#,
        );
        assert!(message.contains("not as a string"), "{message}");
        let message = error(
            r#"{"filters": {"": {"versions": {"v1": {"wasm": "a", "config": {}}}, "serve": "v1"}}}"#,
        );
        assert!(message.contains("not a usable filter name"), "{message}");
    }

    #[test]
    fn the_example_file_parses() {
        let base = Path::new(env!("CARGO_MANIFEST_DIR"));
        let declaration = parse(include_str!("../wasmesh-cp.json"), base).unwrap();
        let hello = &declaration.filters[0];
        assert_eq!(hello.version_for("node-a", "wasmesh-demo"), "v1");
        assert_eq!(hello.version_for("node-b", "wasmesh-demo"), "v2");
        assert_eq!(hello.version_for("node-c", "wasmesh-canary"), "v2");
        assert!(hello
            .version("v1")
            .unwrap()
            .wasm
            .ends_with("dist/hello.wasm"));
    }

    #[test]
    fn load_names_the_file() {
        let message = load(Path::new("/nonexistent/wasmesh-cp.json")).unwrap_err();
        assert!(
            message.starts_with("/nonexistent/wasmesh-cp.json: cannot read"),
            "{message}"
        );
    }
}
