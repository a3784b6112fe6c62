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
//!       "canary": {"version": "v2", "stages": [{"node_ids": ["node-a"]}, {"all": true}],
//!                  "ack_timeout_s": 30, "hold_s": 10},
//!       "failure_policy": "FAIL_CLOSED",
//!       "code": "inline"
//!     }
//!   }
//! }
//! ```
//!
//! A node gets the version of the first rollout that selects it (a fixed pin),
//! else the canary version if the canary has reached a stage that selects it
//! (see [`crate::canary`]), else `serve`. Relative `wasm` paths are relative to
//! the directory of the declarative file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    /// A version rolled out in stages, each widened only once every node of
    /// the stages so far ACKed it.
    pub canary: Option<Canary>,
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

/// A node as it introduces itself on its ADS stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    /// `node.id`.
    pub id: String,
    /// `node.cluster`.
    pub cluster: String,
    /// The string fields of `node.metadata` (top level).
    pub metadata: BTreeMap<String, String>,
}

impl Node {
    /// A node with this id and cluster and no metadata.
    pub fn new(id: &str, cluster: &str) -> Self {
        Self {
            id: id.to_string(),
            cluster: cluster.to_string(),
            metadata: BTreeMap::new(),
        }
    }
}

/// Which nodes something applies to: every node (`all`), or those named by
/// id, by cluster, or whose metadata has every listed key with that value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// Every node.
    pub all: bool,
    /// Node ids (Envoy's `node.id`).
    pub node_ids: Vec<String>,
    /// Node clusters (Envoy's `node.cluster`).
    pub clusters: Vec<String>,
    /// String fields of `node.metadata`; all of them must match.
    pub metadata: BTreeMap<String, String>,
}

impl Selector {
    /// Whether the selector selects `node`.
    pub fn selects(&self, node: &Node) -> bool {
        self.all
            || self.node_ids.contains(&node.id)
            || self.clusters.contains(&node.cluster)
            || (!self.metadata.is_empty()
                && self
                    .metadata
                    .iter()
                    .all(|(key, value)| node.metadata.get(key) == Some(value)))
    }

    /// Whether it can select any node at all.
    fn is_empty(&self) -> bool {
        !self.all
            && self.node_ids.is_empty()
            && self.clusters.is_empty()
            && self.metadata.is_empty()
    }

    /// `all`, or the ids, `cluster X` and `key=value` it names, for the log.
    pub fn describe(&self) -> String {
        if self.all {
            return "all nodes".to_string();
        }
        let mut targets = self.node_ids.clone();
        targets.extend(self.clusters.iter().map(|c| format!("cluster {c}")));
        targets.extend(self.metadata.iter().map(|(k, v)| format!("{k}={v}")));
        targets.join(" ")
    }
}

/// Nodes that get a version other than `serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    /// The version these nodes get.
    pub version: String,
    /// The nodes.
    pub selector: Selector,
}

/// A version rolled out stage by stage. Stage `k` reaches the nodes of stages
/// `0..=k`; the next stage starts once every connected node reached so far
/// ACKed the version and `hold` has passed. A NACK, or a stage not ACKed
/// within `ack_timeout`, halts the canary: every node goes back to `serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canary {
    /// The version being rolled out.
    pub version: String,
    /// The stages, narrowest first.
    pub stages: Vec<Selector>,
    /// How long a stage may wait for its ACKs.
    pub ack_timeout: Duration,
    /// How long a stage keeps running, fully ACKed, before the next one starts.
    pub hold: Duration,
}

/// How far a filter's canary has got: which nodes get the canary version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanaryReach {
    /// Stages `0..=k` get it.
    Stages(usize),
    /// Every stage got it and ACKed it.
    Complete,
    /// Halted: no node gets it.
    Halted,
}

impl FilterSpec {
    /// The version label `node` gets when the canary has reached `reach`
    /// (`None`: its first stage).
    pub fn version_for(&self, node: &Node, reach: Option<CanaryReach>) -> &str {
        if let Some(pin) = self.pinned(node) {
            return &pin.version;
        }
        if let Some(canary) = &self.canary {
            let reached = match reach.unwrap_or(CanaryReach::Stages(0)) {
                CanaryReach::Stages(last) => canary.stages.get(..=last).unwrap_or(&canary.stages),
                CanaryReach::Complete => &canary.stages,
                CanaryReach::Halted => &[],
            };
            if reached.iter().any(|stage| stage.selects(node)) {
                return &canary.version;
            }
        }
        &self.serve
    }

    /// The first rollout that pins `node` to a version.
    pub fn pinned(&self, node: &Node) -> Option<&Rollout> {
        self.rollouts
            .iter()
            .find(|rollout| rollout.selector.selects(node))
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
    canary: Option<RawCanary>,
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
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    #[serde(default)]
    all: bool,
    #[serde(default)]
    node_ids: Vec<String>,
    #[serde(default)]
    clusters: Vec<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCanary {
    version: String,
    stages: Vec<RawStage>,
    #[serde(default = "default_ack_timeout_s")]
    ack_timeout_s: f64,
    #[serde(default)]
    hold_s: f64,
}

/// How long a canary stage waits for its ACKs unless the file says otherwise.
pub const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(30);

fn default_ack_timeout_s() -> f64 {
    DEFAULT_ACK_TIMEOUT.as_secs_f64()
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
        let selector = Selector {
            all: false,
            node_ids: rollout.node_ids,
            clusters: rollout.clusters,
            metadata: rollout.metadata,
        };
        if selector.is_empty() {
            return Err(format!(
                "{rollout_at}: selects no node; give node_ids, clusters or metadata"
            ));
        }
        rollouts.push(Rollout {
            version: rollout.version,
            selector,
        });
    }
    let canary = match raw.canary {
        Some(canary) => Some(check_canary(&at, canary, &raw.serve, &labels())?),
        None => None,
    };
    Ok(FilterSpec {
        name,
        versions,
        serve: raw.serve,
        rollouts,
        canary,
        failure_policy: raw.failure_policy,
        code: raw.code,
    })
}

fn check_canary(at: &str, raw: RawCanary, serve: &str, labels: &str) -> Result<Canary, String> {
    let at = format!("{at}.canary");
    if !labels.split(", ").any(|label| label == raw.version) {
        return Err(format!(
            "{at}.version: unknown version {:?} (versions: {labels})",
            raw.version
        ));
    }
    if raw.version == serve {
        return Err(format!(
            "{at}.version: {serve:?} is already served to every node; a canary rolls out another version"
        ));
    }
    if raw.stages.is_empty() {
        return Err(format!("{at}.stages: at least one stage is needed"));
    }
    let last = raw.stages.len() - 1;
    let mut stages = Vec::with_capacity(raw.stages.len());
    for (index, stage) in raw.stages.into_iter().enumerate() {
        let selector = Selector {
            all: stage.all,
            node_ids: stage.node_ids,
            clusters: stage.clusters,
            metadata: stage.metadata,
        };
        if selector.is_empty() {
            return Err(format!(
                "{at}.stages[{index}]: selects no node; give all, node_ids, clusters or metadata"
            ));
        }
        if selector.all && index != last {
            return Err(format!(
                "{at}.stages[{index}]: \"all\" selects every node, so it must be the last stage"
            ));
        }
        stages.push(selector);
    }
    let ack_timeout = seconds(
        &format!("{at}.ack_timeout_s"),
        raw.ack_timeout_s,
        0.1,
        3600.0,
    )?;
    let hold = seconds(&format!("{at}.hold_s"), raw.hold_s, 0.0, 86_400.0)?;
    Ok(Canary {
        version: raw.version,
        stages,
        ack_timeout,
        hold,
    })
}

fn seconds(at: &str, value: f64, min: f64, max: f64) -> Result<Duration, String> {
    if !(min..=max).contains(&value) {
        return Err(format!(
            "{at}: {value} is not a number of seconds from {min} to {max}"
        ));
    }
    Duration::try_from_secs_f64(value).map_err(|e| format!("{at}: {e}"))
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
        let version = |id: &str, cluster: &str| hello.version_for(&Node::new(id, cluster), None);
        assert_eq!(version("node-a", "any"), "v1");
        assert_eq!(version("node-b", "stable"), "v2");
        assert_eq!(version("node-c", "canary"), "v2");
        assert_eq!(version("node-c", "stable"), "v1");
    }

    const CANARY: &str = r#"{"filters": {"h": {
        "versions": {"v1": {"wasm": "a", "config": {}}, "v2": {"wasm": "a", "config": {}}},
        "serve": "v1",
        "rollouts": [{"version": "v1", "node_ids": ["pinned"]}],
        "canary": {"version": "v2", "hold_s": 0.5, "stages": [
            {"node_ids": ["a"]},
            {"metadata": {"zone": "z1", "tier": "edge"}},
            {"all": true}
        ]}
    }}}"#;

    #[test]
    fn canary_reaches_stage_by_stage_after_pins() {
        let declaration = parse(CANARY, Path::new("/base")).unwrap();
        let h = &declaration.filters[0];
        let canary = h.canary.as_ref().unwrap();
        assert_eq!(canary.ack_timeout, DEFAULT_ACK_TIMEOUT);
        assert_eq!(canary.hold, Duration::from_millis(500));
        let a = Node::new("a", "c");
        let mut edge = Node::new("e", "c");
        edge.metadata.insert("zone".into(), "z1".into());
        edge.metadata.insert("tier".into(), "edge".into());
        let mut zone_only = Node::new("z", "c");
        zone_only.metadata.insert("zone".into(), "z1".into());
        let pinned = Node::new("pinned", "c");
        let at = |node: &Node, reach| h.version_for(node, reach);

        // The first stage before any progress is known.
        assert_eq!(at(&a, None), "v2");
        assert_eq!(at(&edge, None), "v1");
        assert_eq!(at(&edge, Some(CanaryReach::Stages(0))), "v1");
        assert_eq!(at(&edge, Some(CanaryReach::Stages(1))), "v2");
        assert_eq!(at(&zone_only, Some(CanaryReach::Stages(1))), "v1");
        assert_eq!(at(&zone_only, Some(CanaryReach::Stages(2))), "v2");
        assert_eq!(at(&zone_only, Some(CanaryReach::Complete)), "v2");
        assert_eq!(at(&a, Some(CanaryReach::Halted)), "v1");
        // A pin wins over the canary, even complete.
        assert_eq!(at(&pinned, Some(CanaryReach::Complete)), "v1");
    }

    #[test]
    fn canary_errors_name_the_field() {
        let with = |canary: &str| {
            error(&format!(
                r#"{{"filters": {{"h": {{"versions": {{"v1": {{"wasm": "a", "config": {{}}}},
                "v2": {{"wasm": "a", "config": {{}}}}}}, "serve": "v1", "canary": {canary}}}}}}}"#
            ))
        };
        assert_eq!(
            with(r#"{"version": "v3", "stages": [{"all": true}]}"#),
            "filters.h.canary.version: unknown version \"v3\" (versions: v1, v2)"
        );
        assert!(with(r#"{"version": "v1", "stages": [{"all": true}]}"#).contains("already served"));
        assert_eq!(
            with(r#"{"version": "v2", "stages": []}"#),
            "filters.h.canary.stages: at least one stage is needed"
        );
        assert!(with(r#"{"version": "v2", "stages": [{}]}"#)
            .starts_with("filters.h.canary.stages[0]: selects no node"));
        assert!(
            with(r#"{"version": "v2", "stages": [{"all": true}, {"node_ids": ["a"]}]}"#)
                .contains("must be the last stage")
        );
        assert!(
            with(r#"{"version": "v2", "stages": [{"all": true}], "ack_timeout_s": 0}"#)
                .starts_with("filters.h.canary.ack_timeout_s: 0 is not")
        );
        assert!(
            with(r#"{"version": "v2", "stages": [{"all": true}], "hold_s": -1}"#)
                .starts_with("filters.h.canary.hold_s")
        );
        assert!(
            with(r#"{"version": "v2", "stages": [{"all": true}], "pause": 1}"#)
                .contains("unknown field `pause`")
        );
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
            "filters.h.rollouts[0]: selects no node; give node_ids, clusters or metadata"
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
        let version = |id: &str, cluster: &str| hello.version_for(&Node::new(id, cluster), None);
        assert_eq!(version("node-a", "wasmesh-demo"), "v1");
        assert_eq!(version("node-b", "wasmesh-demo"), "v2");
        assert_eq!(version("node-c", "wasmesh-canary"), "v2");
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
