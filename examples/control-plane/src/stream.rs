//! One ADS stream's protocol state (state of the world): which ECDS
//! resources the node asked for, what was sent under which nonce, and whether
//! Envoy ACKed or NACKed it. No I/O: the [`crate::ads`] service feeds it
//! requests and snapshot changes and sends what it returns.
//!
//! A response always carries every resource the node subscribed to that the
//! declarative file has (an ECDS response without the resource would be
//! refused). Its `version_info` lists each filter's version and fingerprint,
//! e.g. `hello=v2:1a2b3c4d5e6f7a8b`; a response goes out when that changes,
//! and on a stream's first request. After a NACK nothing is resent until the
//! declarative file or a module changes.
//!
//! A version that failed the checks is never sent: the node keeps what this
//! stream last sent it. On a new stream (a restarted Envoy, which has nothing
//! yet) the node is sent a fallback instead, so that its listener does not sit
//! out `initial_fetch_timeout` and then answer 500: the version it last ACKed,
//! if still declared and sendable, else `serve`.
//!
//! An ACK is a request whose `response_nonce` is the last response's nonce,
//! whose `version_info` is that response's, and which carries no
//! `error_detail`; a NACK carries `error_detail`. The time from sending the
//! response to either is recorded per node (push-to-ACK latency).

use std::collections::BTreeMap;
use std::time::Instant;

use envoy_types::pb::envoy::config::core::v3::ControlPlane;
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use envoy_types::pb::google::protobuf::{value, Any, Struct};

pub use crate::declaration::Node as NodeId;
use crate::log;
use crate::registry::{Desired, Registry, VersionRef};
use crate::resource;
use crate::snapshot::{BuiltFilter, Selection, Snapshot};

/// The identifier sent as `control_plane.identifier`.
pub const CONTROL_PLANE_ID: &str = "wasmesh-cp";

#[derive(Debug, Clone)]
struct LastResponse {
    nonce: String,
    version_info: String,
    items: Vec<(String, VersionRef)>,
    sent: Instant,
}

/// The string fields of `node.metadata`, top level.
fn string_fields(metadata: Option<&Struct>) -> BTreeMap<String, String> {
    metadata
        .map(|metadata| {
            metadata
                .fields
                .iter()
                .filter_map(|(key, value)| match &value.kind {
                    Some(value::Kind::StringValue(text)) => Some((key.clone(), text.clone())),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The protocol state of one ADS stream.
#[derive(Debug, Default)]
pub struct StreamState {
    node: Option<NodeId>,
    subscribed: Vec<String>,
    nonces_sent: u64,
    last: Option<LastResponse>,
    /// The resource last sent per filter name, kept while a newer version is blocked.
    sent_resources: BTreeMap<String, (VersionRef, Any)>,
}

impl StreamState {
    /// A stream that has received nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The node, once its first request arrived.
    pub fn node(&self) -> Option<&NodeId> {
        self.node.as_ref()
    }

    /// Handles a request: records the node, an ACK or NACK of the last
    /// response, the subscription, and returns the response to send, if any.
    /// A stream whose first request carries no `node.id` is an error.
    pub fn on_request(
        &mut self,
        request: &DiscoveryRequest,
        snapshot: &Snapshot,
        registry: &Registry,
    ) -> Result<Option<DiscoveryResponse>, String> {
        let node = match (&self.node, &request.node) {
            (Some(node), _) => node.clone(),
            (None, Some(node)) if !node.id.is_empty() => {
                let node = NodeId {
                    id: node.id.clone(),
                    cluster: node.cluster.clone(),
                    metadata: string_fields(node.metadata.as_ref()),
                };
                registry.connected(&node);
                self.node = Some(node.clone());
                node
            }
            (None, _) => return Err("the first request carries no node.id".to_string()),
        };
        registry.seen(&node.id);
        if request.type_url != resource::ecds_type_url() {
            // Only ECDS is served; other types stay unanswered.
            return Ok(None);
        }
        if !request.response_nonce.is_empty() {
            let Some(last) = self
                .last
                .as_ref()
                .filter(|l| l.nonce == request.response_nonce)
            else {
                // A stale nonce: the answer to an older response, superseded.
                return Ok(None);
            };
            let latency = last.sent.elapsed();
            match &request.error_detail {
                Some(status) => {
                    registry.nacked(&node.id, &last.items, &status.message, latency);
                }
                None if request.version_info == last.version_info => {
                    registry.acked(&node.id, &last.items, latency);
                }
                None => log::warn(&format!(
                    "node {}: answer to nonce {} names version {:?}, not the {:?} sent; not counted as an ACK",
                    node.id, last.nonce, request.version_info, last.version_info
                )),
            }
        }
        let mut names = request.resource_names.clone();
        names.sort();
        names.dedup();
        self.subscribed = names;
        Ok(self.respond(snapshot, registry, request.response_nonce.is_empty()))
    }

    /// Handles a new snapshot: the response to send, if what the node should
    /// run changed.
    pub fn on_snapshot(
        &mut self,
        snapshot: &Snapshot,
        registry: &Registry,
    ) -> Option<DiscoveryResponse> {
        self.respond(snapshot, registry, false)
    }

    fn respond(
        &mut self,
        snapshot: &Snapshot,
        registry: &Registry,
        force: bool,
    ) -> Option<DiscoveryResponse> {
        let node = self.node.clone()?;
        let mut items: Vec<(String, VersionRef, Any)> = Vec::new();
        for name in &self.subscribed {
            let (Some(filter), Some(selection)) =
                (snapshot.filter(name), snapshot.select(name, &node))
            else {
                registry.undeclared(&node.id, name);
                continue;
            };
            match selection.outcome {
                Ok(resource) => {
                    let version = VersionRef {
                        version: selection.version.to_string(),
                        fingerprint: resource.fingerprint.clone(),
                    };
                    registry.desire(&node.id, name, Desired::Ready(version.clone()));
                    items.push((name.clone(), version, resource.any.clone()));
                }
                Err(reason) => {
                    let blocked = Desired::Blocked {
                        version: selection.version.to_string(),
                        reason: reason.clone(),
                    };
                    registry.desire(&node.id, name, blocked);
                    if let Some((version, any)) = self.sent_resources.get(name) {
                        items.push((name.clone(), version.clone(), any.clone()));
                    } else if let Some((version, any)) =
                        fallback(filter, registry.acked_version(&node.id, name))
                    {
                        log::warn(&format!(
                            "node {}: {name} {} cannot be sent; sending {} instead, so the node \
                             does not wait for a version it will never get",
                            node.id, selection.version, version.version
                        ));
                        items.push((name.clone(), version, any));
                    }
                }
            }
        }
        if items.is_empty() {
            return None;
        }
        let version_info = items
            .iter()
            .map(|(name, v, _)| format!("{name}={}:{}", v.version, v.fingerprint))
            .collect::<Vec<_>>()
            .join(",");
        let unchanged = self
            .last
            .as_ref()
            .is_some_and(|last| last.version_info == version_info);
        if unchanged && !force {
            return None;
        }
        self.nonces_sent += 1;
        let nonce = self.nonces_sent.to_string();
        let summary: Vec<(String, VersionRef)> = items
            .iter()
            .map(|(name, v, _)| (name.clone(), v.clone()))
            .collect();
        registry.sent(&node.id, &nonce, &summary);
        let mut resources = Vec::with_capacity(items.len());
        for (name, version, any) in items {
            self.sent_resources.insert(name, (version, any.clone()));
            resources.push(any);
        }
        self.last = Some(LastResponse {
            nonce: nonce.clone(),
            version_info: version_info.clone(),
            items: summary,
            sent: Instant::now(),
        });
        Some(DiscoveryResponse {
            version_info,
            resources,
            type_url: resource::ecds_type_url(),
            nonce,
            control_plane: Some(ControlPlane {
                identifier: CONTROL_PLANE_ID.to_string(),
            }),
            ..Default::default()
        })
    }
}

/// What to send a node that has nothing yet when its selected version cannot
/// be sent: the version it last ACKed (on an earlier stream) if still declared
/// and sendable, else `serve` if sendable.
fn fallback(filter: &BuiltFilter, last_acked: Option<VersionRef>) -> Option<(VersionRef, Any)> {
    let sendable = |selection: Selection<'_>| {
        selection.outcome.as_ref().ok().map(|resource| {
            (
                VersionRef {
                    version: selection.version.to_string(),
                    fingerprint: resource.fingerprint.clone(),
                },
                resource.any.clone(),
            )
        })
    };
    last_acked
        .and_then(|acked| filter.selection(&acked.version))
        .and_then(sendable)
        .or_else(|| filter.selection(&filter.spec.serve).and_then(sendable))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::declaration;
    use crate::snapshot;
    use envoy_types::pb::envoy::config::core::v3::Node;
    use envoy_types::pb::google::rpc::Status;
    use std::path::{Path, PathBuf};

    const MODULE: &[u8] = crate::wasm_check::MINIMAL_MODULE;

    struct Fixture {
        dir: PathBuf,
    }

    impl Fixture {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("wasmesh-cp-stream-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("good.wasm"), MODULE).unwrap();
            std::fs::write(dir.join("bad.wasm"), b"not wasm").unwrap();
            Self { dir }
        }

        /// A snapshot serving `serve` to everyone and `canary` to node `b`.
        fn snapshot(&self, serve: &str, canary: &str) -> Snapshot {
            let text = format!(
                r#"{{"filters": {{"hello": {{
                    "versions": {{
                        "v1": {{"wasm": "good.wasm", "config": {{"greeting": "one"}}}},
                        "v2": {{"wasm": "good.wasm", "config": {{"greeting": "two"}}}},
                        "bad": {{"wasm": "bad.wasm", "config": {{}}}}
                    }},
                    "serve": "{serve}",
                    "rollouts": [{{"version": "{canary}", "node_ids": ["b"]}}]
                }}}}}}"#
            );
            let declaration = declaration::parse(&text, &self.dir).unwrap();
            snapshot::build(Path::new("cp.json"), 1, declaration)
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn request(node: Option<&str>, nonce: &str, error: Option<&str>) -> DiscoveryRequest {
        DiscoveryRequest {
            node: node.map(|id| Node {
                id: id.to_string(),
                cluster: "demo".to_string(),
                ..Default::default()
            }),
            resource_names: vec!["hello".to_string()],
            type_url: resource::ecds_type_url(),
            response_nonce: nonce.to_string(),
            error_detail: error.map(|message| Status {
                code: 13,
                message: message.to_string(),
                details: Vec::new(),
            }),
            ..Default::default()
        }
    }

    /// The ACK Envoy sends for `response`.
    fn ack(response: &DiscoveryResponse) -> DiscoveryRequest {
        DiscoveryRequest {
            version_info: response.version_info.clone(),
            ..request(None, &response.nonce, None)
        }
    }

    fn state_of(registry: &Registry, node: &str) -> crate::registry::FilterState {
        registry.nodes()[node].filters["hello"].clone()
    }

    #[test]
    fn first_request_gets_the_version_then_ack_and_changes() {
        let fixture = Fixture::new("ack");
        let registry = Registry::new();
        let mut stream = StreamState::new();
        let v1 = fixture.snapshot("v1", "v1");
        let response = stream
            .on_request(&request(Some("a"), "", None), &v1, &registry)
            .unwrap()
            .unwrap();
        assert_eq!(response.nonce, "1");
        assert_eq!(response.resources.len(), 1);
        assert!(response.version_info.starts_with("hello=v1:"));
        assert_eq!(
            response.control_plane.as_ref().unwrap().identifier,
            "wasmesh-cp"
        );
        assert_eq!(state_of(&registry, "a").state(), "pending");

        // An answer naming another version is not an ACK.
        let mut odd = ack(&response);
        odd.version_info = "hello=v0:0".to_string();
        assert!(stream.on_request(&odd, &v1, &registry).unwrap().is_none());
        assert_eq!(state_of(&registry, "a").state(), "pending");

        // The ACK: nothing new to send; its latency is recorded.
        let answer = stream.on_request(&ack(&response), &v1, &registry).unwrap();
        assert!(answer.is_none());
        let hello = state_of(&registry, "a");
        assert_eq!(hello.state(), "in_sync");
        assert_eq!(hello.last_ack.unwrap().version.version, "v1");
        assert_eq!(registry.nodes()["a"].ack_latency.samples, 1);

        // The same snapshot again sends nothing; a new version does.
        assert!(stream.on_snapshot(&v1, &registry).is_none());
        let v2 = fixture.snapshot("v2", "v2");
        let response = stream.on_snapshot(&v2, &registry).unwrap();
        assert_eq!(response.nonce, "2");
        assert!(response.version_info.starts_with("hello=v2:"));
    }

    #[test]
    fn a_nack_is_recorded_and_not_resent() {
        let fixture = Fixture::new("nack");
        let registry = Registry::new();
        let mut stream = StreamState::new();
        let v1 = fixture.snapshot("v1", "v1");
        let first = stream
            .on_request(&request(Some("a"), "", None), &v1, &registry)
            .unwrap()
            .unwrap();
        stream.on_request(&ack(&first), &v1, &registry).unwrap();
        let v2 = fixture.snapshot("v2", "v2");
        stream.on_snapshot(&v2, &registry).unwrap();
        let after_nack = stream
            .on_request(
                &request(None, "2", Some("Unable to create Wasm HTTP filter hello")),
                &v2,
                &registry,
            )
            .unwrap();
        assert!(after_nack.is_none());
        let hello = state_of(&registry, "a");
        assert_eq!(hello.state(), "rejected");
        assert_eq!(hello.acked.unwrap().version, "v1");
        assert_eq!(hello.nacks, 1);
        assert!(hello
            .nacked
            .unwrap()
            .error_detail
            .contains("Unable to create"));
        // A stale nonce is ignored.
        assert!(stream
            .on_request(&ack(&first), &v2, &registry)
            .unwrap()
            .is_none());
        assert_eq!(state_of(&registry, "a").acked.unwrap().version, "v1");
    }

    #[test]
    fn canary_selects_by_node() {
        let fixture = Fixture::new("canary");
        let registry = Registry::new();
        let snapshot = fixture.snapshot("v1", "v2");
        let mut a = StreamState::new();
        let mut b = StreamState::new();
        let to_a = a
            .on_request(&request(Some("a"), "", None), &snapshot, &registry)
            .unwrap()
            .unwrap();
        let to_b = b
            .on_request(&request(Some("b"), "", None), &snapshot, &registry)
            .unwrap()
            .unwrap();
        assert!(to_a.version_info.starts_with("hello=v1:"));
        assert!(to_b.version_info.starts_with("hello=v2:"));
    }

    #[test]
    fn a_blocked_version_keeps_what_was_sent() {
        let fixture = Fixture::new("blocked");
        let registry = Registry::new();
        let mut stream = StreamState::new();
        let v1 = fixture.snapshot("v1", "v1");
        stream
            .on_request(&request(Some("a"), "", None), &v1, &registry)
            .unwrap();
        let bad = fixture.snapshot("bad", "bad");
        assert!(stream.on_snapshot(&bad, &registry).is_none());
        assert_eq!(state_of(&registry, "a").state(), "blocked");
        // A new stream for the blocked version, with nothing sendable to fall back on, gets nothing.
        let mut fresh = StreamState::new();
        assert!(fresh
            .on_request(&request(Some("c"), "", None), &bad, &registry)
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_new_stream_whose_version_is_blocked_gets_a_fallback() {
        let fixture = Fixture::new("fallback");
        let registry = Registry::new();
        // b's version is blocked: a fresh b gets `serve`.
        let snapshot = fixture.snapshot("v1", "bad");
        let mut b = StreamState::new();
        let to_b = b
            .on_request(&request(Some("b"), "", None), &snapshot, &registry)
            .unwrap()
            .unwrap();
        assert!(
            to_b.version_info.starts_with("hello=v1:"),
            "{}",
            to_b.version_info
        );
        assert_eq!(state_of(&registry, "b").state(), "blocked");

        // A node that ACKed v2 on an earlier stream gets v2 back, not `serve`.
        let v2 = fixture.snapshot("v1", "v2");
        let mut earlier = StreamState::new();
        let sent = earlier
            .on_request(&request(Some("b"), "", None), &v2, &registry)
            .unwrap()
            .unwrap();
        earlier.on_request(&ack(&sent), &v2, &registry).unwrap();
        let mut later = StreamState::new();
        let again = later
            .on_request(&request(Some("b"), "", None), &snapshot, &registry)
            .unwrap()
            .unwrap();
        assert!(
            again.version_info.starts_with("hello=v2:"),
            "{}",
            again.version_info
        );
    }

    #[test]
    fn undeclared_filters_and_node_metadata_are_recorded() {
        let fixture = Fixture::new("undeclared");
        let registry = Registry::new();
        let snapshot = fixture.snapshot("v1", "v1");
        let mut stream = StreamState::new();
        let mut first = request(Some("a"), "", None);
        first.resource_names = vec!["other".to_string()];
        let metadata = Struct {
            fields: [
                ("zone".to_string(), string_value("z1")),
                (
                    "weight".to_string(),
                    envoy_types::pb::google::protobuf::Value {
                        kind: Some(value::Kind::NumberValue(2.0)),
                    },
                ),
            ]
            .into_iter()
            .collect(),
        };
        if let Some(node) = first.node.as_mut() {
            node.metadata = Some(metadata);
        }
        assert!(stream
            .on_request(&first, &snapshot, &registry)
            .unwrap()
            .is_none());
        let node = &registry.nodes()["a"];
        assert_eq!(node.filters["other"].state(), "undeclared");
        assert_eq!(
            stream.node().unwrap().metadata,
            [("zone".to_string(), "z1".to_string())]
                .into_iter()
                .collect()
        );
    }

    fn string_value(text: &str) -> envoy_types::pb::google::protobuf::Value {
        envoy_types::pb::google::protobuf::Value {
            kind: Some(value::Kind::StringValue(text.to_string())),
        }
    }

    #[test]
    fn requests_without_node_or_for_other_types() {
        let fixture = Fixture::new("other");
        let registry = Registry::new();
        let snapshot = fixture.snapshot("v1", "v1");
        let mut stream = StreamState::new();
        assert!(stream
            .on_request(&request(None, "", None), &snapshot, &registry)
            .is_err());
        let mut listeners = request(Some("a"), "", None);
        listeners.type_url = "type.googleapis.com/envoy.config.listener.v3.Listener".into();
        assert!(stream
            .on_request(&listeners, &snapshot, &registry)
            .unwrap()
            .is_none());
        assert_eq!(stream.node().unwrap().id, "a");
        let mut unknown = request(None, "", None);
        unknown.resource_names = vec!["other".to_string()];
        assert!(stream
            .on_request(&unknown, &snapshot, &registry)
            .unwrap()
            .is_none());
    }
}
