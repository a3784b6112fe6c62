//! The status document served at `GET /status`: the declarative file as
//! loaded, every filter version with its checks, and every node's state.

use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use serde_json::{json, Value};

use crate::log::rfc3339;
use crate::registry::{Desired, FilterState, NodeState, Registry, VersionRef};
use crate::snapshot::Snapshot;

/// The outcome of the latest reload of the declarative file.
#[derive(Debug, Default)]
pub struct ReloadStatus {
    last_error: Mutex<Option<(SystemTime, String)>>,
}

impl ReloadStatus {
    /// No reload has failed yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Option<(SystemTime, String)>> {
        self.last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The latest reload failed with `message`; the previous snapshot stays.
    pub fn failed(&self, message: &str) {
        *self.lock() = Some((SystemTime::now(), message.to_string()));
    }

    /// The latest reload succeeded.
    pub fn succeeded(&self) {
        *self.lock() = None;
    }

    /// The error of the latest reload, if it failed.
    pub fn last_error(&self) -> Option<(SystemTime, String)> {
        self.lock().clone()
    }
}

/// The whole status document.
pub fn render(snapshot: &Snapshot, reload: &ReloadStatus, registry: &Registry) -> Value {
    let reload_error = reload
        .last_error()
        .map(|(at, message)| json!({"at": rfc3339(at), "message": message}));
    json!({
        "declaration": {
            "path": snapshot.path.display().to_string(),
            "generation": snapshot.generation,
            "loaded_at": rfc3339(snapshot.loaded_at),
            "reload_error": reload_error,
        },
        "filters": snapshot.filters.iter().map(|filter| json!({
            "name": filter.spec.name,
            "serve": filter.spec.serve,
            "failure_policy": filter.spec.failure_policy.as_str(),
            "code": filter.spec.code.as_str(),
            "rollouts": filter.spec.rollouts.iter().map(|r| json!({
                "version": r.version,
                "node_ids": r.node_ids,
                "clusters": r.clusters,
            })).collect::<Vec<_>>(),
            "versions": filter.versions.iter().map(|v| json!({
                "version": v.spec.label,
                "wasm": v.spec.wasm.display().to_string(),
                "wasm_bytes": v.wasm_bytes,
                "config": v.spec.config,
                "valid": v.outcome.is_ok(),
                "fingerprint": v.outcome.as_ref().ok().map(|r| r.fingerprint.clone()),
                "error": v.outcome.as_ref().err(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "nodes": registry.nodes().iter().map(|(id, node)| render_node(id, node)).collect::<Vec<_>>(),
    })
}

fn render_node(id: &str, node: &NodeState) -> Value {
    json!({
        "id": id,
        "cluster": node.cluster,
        "connected": node.streams > 0,
        "streams": node.streams,
        "last_seen": rfc3339(node.last_seen),
        "filters": node.filters.iter().map(|(name, state)| render_filter(name, state)).collect::<Vec<_>>(),
        "history": node.history.iter().map(|event| json!({
            "at": rfc3339(event.at),
            "filter": event.filter,
            "version": event.version,
            "fingerprint": event.fingerprint,
            "result": event.outcome.as_str(),
            "detail": event.detail,
        })).collect::<Vec<_>>(),
    })
}

fn render_filter(name: &str, state: &FilterState) -> Value {
    let version = |v: &VersionRef| json!({"version": v.version, "fingerprint": v.fingerprint});
    let (desired, blocked) = match &state.desired {
        Some(Desired::Ready(v)) => (Some(v.version.clone()), None),
        Some(Desired::Blocked { version, reason }) => (
            Some(version.clone()),
            Some(json!({"version": version, "reason": reason})),
        ),
        None => (None, None),
    };
    json!({
        "name": name,
        "state": state.state(),
        "desired": desired,
        "blocked": blocked,
        "sent": state.sent.as_ref().map(version),
        "acked": state.acked.as_ref().map(version),
        "nacked": state.nacked.as_ref().map(|nack| json!({
            "version": nack.refused.version,
            "fingerprint": nack.refused.fingerprint,
            "error_detail": nack.error_detail,
            "at": rfc3339(nack.at),
        })),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::declaration;
    use crate::snapshot;
    use std::path::Path;

    #[test]
    fn renders_versions_nodes_and_reload_errors() {
        let declaration = declaration::parse(
            r#"{"filters": {"hello": {"versions": {"v1": {"wasm": "/nonexistent.wasm",
                "config": {"greeting": "x"}}}, "serve": "v1"}}}"#,
            Path::new("/"),
        )
        .unwrap();
        let snapshot = snapshot::build(Path::new("/etc/cp.json"), 3, declaration);
        let registry = Registry::new();
        registry.connected("node-a", "demo");
        let v1 = VersionRef {
            version: "v1".into(),
            fingerprint: "f".into(),
        };
        registry.desire("node-a", "hello", Desired::Ready(v1.clone()));
        registry.acked("node-a", &[("hello".into(), v1)]);
        let reload = ReloadStatus::new();
        reload.failed("cp.json: line 1");

        let status = render(&snapshot, &reload, &registry);
        assert_eq!(status["declaration"]["generation"], 3);
        assert_eq!(
            status["declaration"]["reload_error"]["message"],
            "cp.json: line 1"
        );
        let version = &status["filters"][0]["versions"][0];
        assert_eq!(version["valid"], false);
        assert_eq!(version["config"], r#"{"greeting":"x"}"#);
        assert!(version["error"].as_str().unwrap().contains("cannot read"));
        let node = &status["nodes"][0];
        assert_eq!(node["id"], "node-a");
        assert_eq!(node["connected"], true);
        let hello = &node["filters"][0];
        assert_eq!(hello["state"], "in_sync");
        assert_eq!(hello["acked"]["version"], "v1");
        assert_eq!(node["history"][0]["result"], "ACK");

        reload.succeeded();
        let status = render(&snapshot, &reload, &registry);
        assert!(status["declaration"]["reload_error"].is_null());
    }
}
