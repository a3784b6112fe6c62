//! What each node was sent, ACKed and NACKed, per filter and version; read by
//! the status endpoint, and logged as it happens.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use crate::log;

/// History entries kept per node.
const HISTORY_LIMIT: usize = 50;

/// A filter version as Envoy receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRef {
    /// The version label from the declarative file.
    pub version: String,
    /// The resource fingerprint (changes with the module, config or policy).
    pub fingerprint: String,
}

/// What the declarative file wants a node to run for a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Desired {
    /// A version that can be sent.
    Ready(VersionRef),
    /// A version that failed the checks before sending; it is not sent.
    Blocked {
        /// The version label.
        version: String,
        /// Why it cannot be sent.
        reason: String,
    },
}

/// Envoy's answer to a response, or the sending itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The control plane sent the version.
    Sent,
    /// Envoy accepted it.
    Ack,
    /// Envoy refused it.
    Nack,
    /// The control plane did not send it: it failed the checks.
    Blocked,
}

impl Outcome {
    /// The name shown in the status and the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Sent => "SENT",
            Outcome::Ack => "ACK",
            Outcome::Nack => "NACK",
            Outcome::Blocked => "BLOCKED",
        }
    }
}

/// One line of a node's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// When it happened.
    pub at: SystemTime,
    /// The filter.
    pub filter: String,
    /// The version label.
    pub version: String,
    /// The resource fingerprint (empty for a blocked version).
    pub fingerprint: String,
    /// What happened.
    pub outcome: Outcome,
    /// Envoy's `error_detail` for a NACK, the reason for a blocked version.
    pub detail: Option<String>,
}

/// A NACK Envoy sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nack {
    /// The refused version.
    pub refused: VersionRef,
    /// Envoy's `error_detail.message`.
    pub error_detail: String,
    /// When it arrived.
    pub at: SystemTime,
}

/// A node's state for one filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterState {
    /// What the declarative file wants.
    pub desired: Option<Desired>,
    /// The version last sent.
    pub sent: Option<VersionRef>,
    /// The version Envoy last accepted.
    pub acked: Option<VersionRef>,
    /// The last refusal.
    pub nacked: Option<Nack>,
}

impl FilterState {
    /// `in_sync`, `pending`, `rejected` (Envoy NACKed the desired version),
    /// `blocked` (the desired version failed the checks) or `unknown`.
    pub fn state(&self) -> &'static str {
        match &self.desired {
            None => "unknown",
            Some(Desired::Blocked { .. }) => "blocked",
            Some(Desired::Ready(want)) => {
                if self.acked.as_ref() == Some(want) {
                    "in_sync"
                } else if self.nacked.as_ref().is_some_and(|n| &n.refused == want) {
                    "rejected"
                } else {
                    "pending"
                }
            }
        }
    }
}

/// A node (Envoy's `node.id`) as seen on its ADS streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeState {
    /// Envoy's `node.cluster`.
    pub cluster: String,
    /// Open ADS streams from this node.
    pub streams: usize,
    /// When the node last sent a request.
    pub last_seen: SystemTime,
    /// Per filter name.
    pub filters: BTreeMap<String, FilterState>,
    /// The latest events, oldest first.
    pub history: VecDeque<Event>,
}

/// Every node's state, shared by the ADS streams and the status endpoint.
#[derive(Debug, Default)]
pub struct Registry {
    nodes: Mutex<BTreeMap<String, NodeState>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, NodeState>> {
        self.nodes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A copy of every node's state, by node id.
    pub fn nodes(&self) -> BTreeMap<String, NodeState> {
        self.lock().clone()
    }

    fn with_node<T>(&self, node_id: &str, f: impl FnOnce(&mut NodeState) -> T) -> T {
        let mut nodes = self.lock();
        let node = nodes
            .entry(node_id.to_string())
            .or_insert_with(|| NodeState {
                cluster: String::new(),
                streams: 0,
                last_seen: SystemTime::now(),
                filters: BTreeMap::new(),
                history: VecDeque::new(),
            });
        node.last_seen = SystemTime::now();
        f(node)
    }

    /// A stream from the node opened.
    pub fn connected(&self, node_id: &str, cluster: &str) {
        let streams = self.with_node(node_id, |node| {
            node.cluster = cluster.to_string();
            node.streams += 1;
            node.streams
        });
        log::info(&format!(
            "node {node_id} (cluster {cluster:?}) connected; {streams} stream(s) open"
        ));
    }

    /// A stream from the node closed.
    pub fn disconnected(&self, node_id: &str, why: &str) {
        let streams = self.with_node(node_id, |node| {
            node.streams = node.streams.saturating_sub(1);
            node.streams
        });
        log::info(&format!(
            "node {node_id} disconnected ({why}); {streams} stream(s) open"
        ));
    }

    /// The node sent a request (keeps `last_seen` current).
    pub fn seen(&self, node_id: &str) {
        self.with_node(node_id, |_| ());
    }

    /// What the declarative file wants the node to run for `filter`. A newly
    /// blocked version is logged and recorded in the history.
    pub fn desire(&self, node_id: &str, filter: &str, desired: Desired) {
        let newly_blocked = self.with_node(node_id, |node| {
            let state = node.filters.entry(filter.to_string()).or_default();
            let changed = state.desired.as_ref() != Some(&desired);
            state.desired = Some(desired.clone());
            match desired {
                Desired::Blocked { version, reason } if changed => {
                    push_event(node, filter, &version, "", Outcome::Blocked, Some(&reason));
                    Some((version, reason))
                }
                _ => None,
            }
        });
        if let Some((version, reason)) = newly_blocked {
            log::warn(&format!(
                "node {node_id}: {filter} {version} not sent, it failed the checks: {reason}"
            ));
        }
    }

    /// A response carrying these filter versions went to the node.
    pub fn sent(&self, node_id: &str, nonce: &str, items: &[(String, VersionRef)]) {
        self.with_node(node_id, |node| {
            for (filter, version) in items {
                let state = node.filters.entry(filter.clone()).or_default();
                if state.sent.as_ref() != Some(version) {
                    push_event(
                        node,
                        filter,
                        &version.version,
                        &version.fingerprint,
                        Outcome::Sent,
                        None,
                    );
                }
                if let Some(state) = node.filters.get_mut(filter) {
                    state.sent = Some(version.clone());
                }
            }
        });
        log::info(&format!(
            "node {node_id}: sent {} (nonce {nonce})",
            describe(items)
        ));
    }

    /// Envoy accepted the response that carried `items`.
    pub fn acked(&self, node_id: &str, items: &[(String, VersionRef)]) {
        self.with_node(node_id, |node| {
            for (filter, version) in items {
                let state = node.filters.entry(filter.clone()).or_default();
                if state.acked.as_ref() == Some(version) {
                    continue;
                }
                state.acked = Some(version.clone());
                push_event(
                    node,
                    filter,
                    &version.version,
                    &version.fingerprint,
                    Outcome::Ack,
                    None,
                );
            }
        });
        log::info(&format!("node {node_id}: ACK {}", describe(items)));
    }

    /// Envoy refused the response that carried `items`, saying `error_detail`.
    /// Only versions the node does not already run are marked refused.
    pub fn nacked(&self, node_id: &str, items: &[(String, VersionRef)], error_detail: &str) {
        self.with_node(node_id, |node| {
            for (filter, version) in items {
                let state = node.filters.entry(filter.clone()).or_default();
                if state.acked.as_ref() == Some(version) {
                    continue;
                }
                state.nacked = Some(Nack {
                    refused: version.clone(),
                    error_detail: error_detail.to_string(),
                    at: SystemTime::now(),
                });
                push_event(
                    node,
                    filter,
                    &version.version,
                    &version.fingerprint,
                    Outcome::Nack,
                    Some(error_detail),
                );
            }
        });
        log::warn(&format!(
            "node {node_id}: NACK {}: {error_detail}",
            describe(items)
        ));
    }
}

fn push_event(
    node: &mut NodeState,
    filter: &str,
    version: &str,
    fingerprint: &str,
    outcome: Outcome,
    detail: Option<&str>,
) {
    if node.history.len() >= HISTORY_LIMIT {
        node.history.pop_front();
    }
    node.history.push_back(Event {
        at: SystemTime::now(),
        filter: filter.to_string(),
        version: version.to_string(),
        fingerprint: fingerprint.to_string(),
        outcome,
        detail: detail.map(str::to_string),
    });
}

/// `hello v2 (fingerprint), other v1 (fingerprint)`.
fn describe(items: &[(String, VersionRef)]) -> String {
    items
        .iter()
        .map(|(filter, v)| format!("{filter} {} ({})", v.version, v.fingerprint))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn version(label: &str, fingerprint: &str) -> VersionRef {
        VersionRef {
            version: label.to_string(),
            fingerprint: fingerprint.to_string(),
        }
    }

    fn items(label: &str, fingerprint: &str) -> Vec<(String, VersionRef)> {
        vec![("hello".to_string(), version(label, fingerprint))]
    }

    #[test]
    fn ack_nack_and_states() {
        let registry = Registry::new();
        registry.connected("a", "demo");
        let state = |r: &Registry| r.nodes()["a"].filters["hello"].clone();

        registry.desire("a", "hello", Desired::Ready(version("v1", "f1")));
        assert_eq!(state(&registry).state(), "pending");
        registry.sent("a", "1", &items("v1", "f1"));
        registry.acked("a", &items("v1", "f1"));
        assert_eq!(state(&registry).state(), "in_sync");

        registry.desire("a", "hello", Desired::Ready(version("v2", "f2")));
        registry.sent("a", "2", &items("v2", "f2"));
        assert_eq!(state(&registry).state(), "pending");
        registry.nacked(
            "a",
            &items("v2", "f2"),
            "Unable to create Wasm HTTP filter hello",
        );
        let hello = state(&registry);
        assert_eq!(hello.state(), "rejected");
        assert_eq!(hello.acked, Some(version("v1", "f1")));
        let nack = hello.nacked.unwrap();
        assert_eq!(nack.refused, version("v2", "f2"));
        assert!(nack.error_detail.contains("Unable to create"));

        registry.desire(
            "a",
            "hello",
            Desired::Blocked {
                version: "v3".to_string(),
                reason: "not a wasm module".to_string(),
            },
        );
        assert_eq!(state(&registry).state(), "blocked");

        let history: Vec<(String, &str)> = registry.nodes()["a"]
            .history
            .iter()
            .map(|e| (e.version.clone(), e.outcome.as_str()))
            .collect();
        assert_eq!(
            history,
            vec![
                ("v1".to_string(), "SENT"),
                ("v1".to_string(), "ACK"),
                ("v2".to_string(), "SENT"),
                ("v2".to_string(), "NACK"),
                ("v3".to_string(), "BLOCKED"),
            ]
        );
    }

    #[test]
    fn a_nack_of_a_resend_does_not_mark_the_running_version() {
        let registry = Registry::new();
        registry.acked("a", &items("v1", "f1"));
        registry.nacked("a", &items("v1", "f1"), "later failure");
        assert_eq!(registry.nodes()["a"].filters["hello"].nacked, None);
    }

    #[test]
    fn streams_are_counted_and_history_is_bounded() {
        let registry = Registry::new();
        registry.connected("a", "demo");
        registry.connected("a", "demo");
        registry.disconnected("a", "closed");
        assert_eq!(registry.nodes()["a"].streams, 1);
        for n in 0..(HISTORY_LIMIT + 5) {
            registry.acked("a", &items("v1", &n.to_string()));
        }
        let history = &registry.nodes()["a"].history;
        assert_eq!(history.len(), HISTORY_LIMIT);
        assert_eq!(history[0].fingerprint, "5");
    }
}
