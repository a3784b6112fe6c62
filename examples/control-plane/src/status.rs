//! The status document served at `GET /status`: the declarative file as
//! loaded, every filter version with its checks, each canary's progress, and
//! every node's state with its push-to-ACK latencies.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::canary::{Controller, Phase, Progress};
use crate::declaration::Selector;
use crate::log::rfc3339;
use crate::registry::{Desired, FilterState, LatencyStats, NodeState, Registry, VersionRef};
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

/// Milliseconds, to the microsecond.
fn ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

fn selector(selector: &Selector) -> Value {
    json!({
        "all": selector.all,
        "node_ids": selector.node_ids,
        "clusters": selector.clusters,
        "metadata": selector.metadata,
    })
}

/// The whole status document.
pub fn render(
    snapshot: &Snapshot,
    reload: &ReloadStatus,
    registry: &Registry,
    canaries: &Controller,
) -> Value {
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
                "node_ids": r.selector.node_ids,
                "clusters": r.selector.clusters,
                "metadata": r.selector.metadata,
            })).collect::<Vec<_>>(),
            "canary": canaries.progress().get(&filter.spec.name).map(render_canary),
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

fn render_canary(progress: &Progress) -> Value {
    let (stage, since, at, reason) = match &progress.phase {
        Phase::Stage {
            index, since_at, ..
        } => (Some(index + 1), Some(rfc3339(*since_at)), None, None),
        Phase::Complete { at } => (None, None, Some(rfc3339(*at)), None),
        Phase::Halted { at, reason } => (None, None, Some(rfc3339(*at)), Some(reason.clone())),
    };
    json!({
        "version": progress.spec.version,
        "fingerprint": progress.target.as_ref().ok().map(|t| t.fingerprint.clone()),
        "stages": progress.spec.stages.iter().map(selector).collect::<Vec<_>>(),
        "ack_timeout_s": progress.spec.ack_timeout.as_secs_f64(),
        "hold_s": progress.spec.hold.as_secs_f64(),
        "started_at": rfc3339(progress.started_at),
        "state": progress.phase.as_str(),
        "stage": stage,
        "stage_since": since,
        "ended_at": at,
        "reason": reason,
        "reached": progress.reached,
        "waiting_for": progress.waiting_for,
    })
}

fn render_latency(stats: &LatencyStats) -> Value {
    if stats.samples == 0 {
        return json!({"samples": 0});
    }
    json!({
        "samples": stats.samples,
        "last": ms(stats.last),
        "min": ms(stats.min),
        "mean": stats.mean().map(ms),
        "max": ms(stats.max),
    })
}

fn render_node(id: &str, node: &NodeState) -> Value {
    json!({
        "id": id,
        "cluster": node.cluster,
        "metadata": node.metadata,
        "connected": node.streams > 0,
        "streams": node.streams,
        "last_seen": rfc3339(node.last_seen),
        "ack_latency_ms": render_latency(&node.ack_latency),
        "filters": node.filters.iter().map(|(name, state)| render_filter(name, state)).collect::<Vec<_>>(),
        "history": node.history.iter().map(|event| json!({
            "at": rfc3339(event.at),
            "filter": event.filter,
            "version": event.version,
            "fingerprint": event.fingerprint,
            "result": event.outcome.as_str(),
            "detail": event.detail,
            "latency_ms": event.latency.map(ms),
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
        "acked": state.acked.as_ref().map(|acked| {
            let ack = state.last_ack.as_ref().filter(|ack| ack.version == *acked);
            json!({
                "version": acked.version,
                "fingerprint": acked.fingerprint,
                "at": ack.map(|ack| rfc3339(ack.at)),
                "latency_ms": ack.map(|ack| ms(ack.latency)),
            })
        }),
        "nacked": state.nacked.as_ref().map(|nack| json!({
            "version": nack.refused.version,
            "fingerprint": nack.refused.fingerprint,
            "error_detail": nack.error_detail,
            "at": rfc3339(nack.at),
            "latency_ms": ms(nack.latency),
        })),
        "nacks": state.nacks,
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
        registry.connected(&crate::declaration::Node::new("node-a", "demo"));
        let v1 = VersionRef {
            version: "v1".into(),
            fingerprint: "f".into(),
        };
        registry.desire("node-a", "hello", Desired::Ready(v1.clone()));
        registry.acked(
            "node-a",
            &[("hello".into(), v1)],
            Duration::from_micros(2500),
        );
        let reload = ReloadStatus::new();
        reload.failed("cp.json: line 1");
        let canaries = Controller::new();

        let status = render(&snapshot, &reload, &registry, &canaries);
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
        assert_eq!(hello["acked"]["latency_ms"], 2.5);
        assert_eq!(hello["nacks"], 0);
        assert_eq!(node["ack_latency_ms"]["samples"], 1);
        assert_eq!(node["ack_latency_ms"]["max"], 2.5);
        assert_eq!(node["history"][0]["result"], "ACK");
        assert_eq!(node["history"][0]["latency_ms"], 2.5);
        assert!(status["filters"][0]["canary"].is_null());

        reload.succeeded();
        let status = render(&snapshot, &reload, &registry, &canaries);
        assert!(status["declaration"]["reload_error"].is_null());
    }
}
