//! What each node was sent, ACKed and NACKed, per filter and version, and how
//! long each push took to be answered (push-to-ACK latency); read by the
//! status endpoint and the canary gates, and logged as it happens.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

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
    /// For an ACK or NACK: the time from sending the response to the answer.
    pub latency: Option<Duration>,
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
    /// The time from sending the refused response to the NACK.
    pub latency: Duration,
}

/// An accepted version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The version.
    pub version: VersionRef,
    /// When the ACK arrived.
    pub at: SystemTime,
    /// The time from sending the response that carried it to the ACK.
    pub latency: Duration,
}

/// Push-to-answer latencies of one node's ACKs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencyStats {
    /// How many ACKs were timed.
    pub samples: u64,
    /// The latest.
    pub last: Duration,
    /// The smallest.
    pub min: Duration,
    /// The largest.
    pub max: Duration,
    /// Their sum, for the mean.
    pub total: Duration,
}

impl LatencyStats {
    fn record(&mut self, latency: Duration) {
        self.min = if self.samples == 0 {
            latency
        } else {
            self.min.min(latency)
        };
        self.samples += 1;
        self.last = latency;
        self.max = self.max.max(latency);
        self.total += latency;
    }

    /// The mean, if anything was recorded.
    pub fn mean(&self) -> Option<Duration> {
        u32::try_from(self.samples)
            .ok()
            .filter(|&n| n > 0)
            .map(|n| self.total / n)
    }
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
    /// When and how fast the version in `acked` was accepted.
    pub last_ack: Option<Ack>,
    /// The last refusal.
    pub nacked: Option<Nack>,
    /// How many pushes of this filter Envoy refused.
    pub nacks: u64,
    /// The node asks for a filter the declarative file does not have.
    pub undeclared: bool,
}

impl FilterState {
    /// `in_sync`, `pending`, `rejected` (Envoy NACKed the desired version),
    /// `blocked` (the desired version failed the checks), `undeclared` (the
    /// declarative file has no such filter) or `unknown`.
    pub fn state(&self) -> &'static str {
        match &self.desired {
            None if self.undeclared => "undeclared",
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
    /// Push-to-ACK latencies.
    pub ack_latency: LatencyStats,
    /// The node's metadata (string fields), as on its latest stream.
    pub metadata: BTreeMap<String, String>,
}

/// Every node's state, shared by the ADS streams, the canary gates and the
/// status endpoint.
#[derive(Debug)]
pub struct Registry {
    nodes: Mutex<BTreeMap<String, NodeState>>,
    /// Counts changes that can move a canary (connections, ACKs, NACKs).
    changes: watch::Sender<u64>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            nodes: Mutex::new(BTreeMap::new()),
            changes: watch::Sender::new(0),
        }
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A receiver that sees a change whenever a node connects, disconnects,
    /// ACKs or NACKs.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn changed(&self) {
        self.changes
            .send_modify(|count| *count = count.wrapping_add(1));
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
                ack_latency: LatencyStats::default(),
                metadata: BTreeMap::new(),
            });
        node.last_seen = SystemTime::now();
        f(node)
    }

    /// The version `node_id` last ACKed for `filter`, on any stream.
    pub fn acked_version(&self, node_id: &str, filter: &str) -> Option<VersionRef> {
        self.lock().get(node_id)?.filters.get(filter)?.acked.clone()
    }

    /// A stream from the node opened.
    pub fn connected(&self, node: &crate::declaration::Node) {
        let streams = self.with_node(&node.id, |state| {
            state.cluster.clone_from(&node.cluster);
            state.metadata.clone_from(&node.metadata);
            state.streams += 1;
            state.streams
        });
        self.changed();
        log::info(&format!(
            "node {} (cluster {:?}) connected; {streams} stream(s) open",
            node.id, node.cluster
        ));
    }

    /// A stream from the node closed.
    pub fn disconnected(&self, node_id: &str, why: &str) {
        let streams = self.with_node(node_id, |node| {
            node.streams = node.streams.saturating_sub(1);
            node.streams
        });
        self.changed();
        log::info(&format!(
            "node {node_id} disconnected ({why}); {streams} stream(s) open"
        ));
    }

    /// The node sent a request (keeps `last_seen` current).
    pub fn seen(&self, node_id: &str) {
        self.with_node(node_id, |_| ());
    }

    /// The node asks for `filter`, which the declarative file does not have:
    /// nothing is sent, so Envoy waits `initial_fetch_timeout`, then applies
    /// its `default_config` (without one, the filter answers 500). Logged once.
    pub fn undeclared(&self, node_id: &str, filter: &str) {
        let newly = self.with_node(node_id, |node| {
            let state = node.filters.entry(filter.to_string()).or_default();
            state.desired = None;
            !std::mem::replace(&mut state.undeclared, true)
        });
        if newly {
            log::warn(&format!(
                "node {node_id} asks for filter {filter:?}, which the declarative file does not have: \
                 nothing is sent; Envoy waits initial_fetch_timeout, then uses its default_config \
                 (without one, requests through that filter get 500)"
            ));
        }
    }

    /// What the declarative file wants the node to run for `filter`. A newly
    /// blocked version is logged and recorded in the history.
    pub fn desire(&self, node_id: &str, filter: &str, desired: Desired) {
        let newly_blocked = self.with_node(node_id, |node| {
            let state = node.filters.entry(filter.to_string()).or_default();
            let changed = state.desired.as_ref() != Some(&desired);
            state.undeclared = false;
            state.desired = Some(desired.clone());
            match desired {
                Desired::Blocked { version, reason } if changed => {
                    push_event(
                        node,
                        filter,
                        &version,
                        "",
                        Outcome::Blocked,
                        Some(&reason),
                        None,
                    );
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

    /// Envoy accepted the response that carried `items`, `latency` after it was sent.
    pub fn acked(&self, node_id: &str, items: &[(String, VersionRef)], latency: Duration) {
        let at = SystemTime::now();
        self.with_node(node_id, |node| {
            node.ack_latency.record(latency);
            for (filter, version) in items {
                let state = node.filters.entry(filter.clone()).or_default();
                if state.acked.as_ref() == Some(version) {
                    continue;
                }
                state.acked = Some(version.clone());
                state.last_ack = Some(Ack {
                    version: version.clone(),
                    at,
                    latency,
                });
                push_event(
                    node,
                    filter,
                    &version.version,
                    &version.fingerprint,
                    Outcome::Ack,
                    None,
                    Some(latency),
                );
            }
        });
        self.changed();
        log::info(&format!(
            "node {node_id}: ACK {} after {}",
            describe(items),
            millis(latency)
        ));
    }

    /// Envoy refused the response that carried `items`, `latency` after it
    /// was sent, saying `error_detail`. Only versions the node does not
    /// already run are marked refused.
    pub fn nacked(
        &self,
        node_id: &str,
        items: &[(String, VersionRef)],
        error_detail: &str,
        latency: Duration,
    ) {
        self.with_node(node_id, |node| {
            for (filter, version) in items {
                let state = node.filters.entry(filter.clone()).or_default();
                if state.acked.as_ref() == Some(version) {
                    continue;
                }
                state.nacks += 1;
                state.nacked = Some(Nack {
                    refused: version.clone(),
                    error_detail: error_detail.to_string(),
                    at: SystemTime::now(),
                    latency,
                });
                push_event(
                    node,
                    filter,
                    &version.version,
                    &version.fingerprint,
                    Outcome::Nack,
                    Some(error_detail),
                    Some(latency),
                );
            }
        });
        self.changed();
        log::warn(&format!(
            "node {node_id}: NACK {} after {}: {error_detail}",
            describe(items),
            millis(latency)
        ));
    }
}

/// `3.2 ms`.
pub fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

fn push_event(
    node: &mut NodeState,
    filter: &str,
    version: &str,
    fingerprint: &str,
    outcome: Outcome,
    detail: Option<&str>,
    latency: Option<Duration>,
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
        latency,
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
    use crate::declaration::Node;

    fn version(label: &str, fingerprint: &str) -> VersionRef {
        VersionRef {
            version: label.to_string(),
            fingerprint: fingerprint.to_string(),
        }
    }

    fn items(label: &str, fingerprint: &str) -> Vec<(String, VersionRef)> {
        vec![("hello".to_string(), version(label, fingerprint))]
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn ack_nack_and_states() {
        let registry = Registry::new();
        registry.connected(&Node::new("a", "demo"));
        let state = |r: &Registry| r.nodes()["a"].filters["hello"].clone();

        registry.desire("a", "hello", Desired::Ready(version("v1", "f1")));
        assert_eq!(state(&registry).state(), "pending");
        registry.sent("a", "1", &items("v1", "f1"));
        registry.acked("a", &items("v1", "f1"), 3 * MS);
        assert_eq!(state(&registry).state(), "in_sync");
        let ack = state(&registry).last_ack.unwrap();
        assert_eq!((ack.version, ack.latency), (version("v1", "f1"), 3 * MS));

        registry.desire("a", "hello", Desired::Ready(version("v2", "f2")));
        registry.sent("a", "2", &items("v2", "f2"));
        assert_eq!(state(&registry).state(), "pending");
        registry.nacked(
            "a",
            &items("v2", "f2"),
            "Unable to create Wasm HTTP filter hello",
            7 * MS,
        );
        let hello = state(&registry);
        assert_eq!(hello.state(), "rejected");
        assert_eq!(hello.acked, Some(version("v1", "f1")));
        assert_eq!(hello.nacks, 1);
        let nack = hello.nacked.unwrap();
        assert_eq!(nack.refused, version("v2", "f2"));
        assert_eq!(nack.latency, 7 * MS);
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
        registry.acked("a", &items("v1", "f1"), MS);
        registry.nacked("a", &items("v1", "f1"), "later failure", MS);
        assert_eq!(registry.nodes()["a"].filters["hello"].nacked, None);
    }

    #[test]
    fn ack_latency_statistics_per_node() {
        let registry = Registry::new();
        let changes = registry.subscribe();
        for (n, ms) in [4u32, 2, 9].iter().enumerate() {
            registry.acked("a", &items("v1", &n.to_string()), *ms * MS);
        }
        let stats = registry.nodes()["a"].ack_latency;
        assert_eq!(stats.samples, 3);
        assert_eq!((stats.last, stats.min, stats.max), (9 * MS, 2 * MS, 9 * MS));
        assert_eq!(stats.mean(), Some(5 * MS));
        assert_eq!(LatencyStats::default().mean(), None);
        assert!(changes.has_changed().unwrap());
        let latencies: Vec<Option<Duration>> = registry.nodes()["a"]
            .history
            .iter()
            .map(|e| e.latency)
            .collect();
        assert_eq!(latencies, vec![Some(4 * MS), Some(2 * MS), Some(9 * MS)]);
        assert_eq!(millis(Duration::from_micros(3250)), "3.2 ms");
    }

    #[test]
    fn undeclared_filters_are_reported_until_declared() {
        let registry = Registry::new();
        registry.undeclared("a", "hello");
        registry.undeclared("a", "hello");
        let state = |r: &Registry| r.nodes()["a"].filters["hello"].state();
        assert_eq!(state(&registry), "undeclared");
        registry.desire("a", "hello", Desired::Ready(version("v1", "f1")));
        assert_eq!(state(&registry), "pending");
    }

    #[test]
    fn streams_are_counted_and_history_is_bounded() {
        let registry = Registry::new();
        let mut node = Node::new("a", "demo");
        node.metadata.insert("zone".into(), "z1".into());
        registry.connected(&node);
        registry.connected(&node);
        registry.disconnected("a", "closed");
        assert_eq!(registry.nodes()["a"].streams, 1);
        assert_eq!(registry.nodes()["a"].metadata["zone"], "z1");
        for n in 0..(HISTORY_LIMIT + 5) {
            registry.acked("a", &items("v1", &n.to_string()), MS);
        }
        let history = &registry.nodes()["a"].history;
        assert_eq!(history.len(), HISTORY_LIMIT);
        assert_eq!(history[0].fingerprint, "5");
    }
}
