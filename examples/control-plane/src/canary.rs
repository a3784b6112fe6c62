//! Canary rollouts gated on ACKs.
//!
//! A filter's `canary` rolls a version out stage by stage. Stage `k` reaches
//! the nodes selected by stages `0..=k`. The gate of a stage opens when every
//! connected node it reaches (and that asks for the filter, and that no
//! rollout pins to another version) has ACKed exactly the canary version, and
//! `hold` has passed since; then the next stage starts, and after the last
//! one the canary is complete.
//!
//! A NACK of the canary version by any reached node, a stage that is not
//! ACKed within `ack_timeout`, or a canary version that fails the checks
//! halts the canary: every node is sent `serve` again (the rollback).
//!
//! The progress lives in memory. A reload of the declarative file keeps it
//! while the canary (its version, stages, timings, and the version's
//! fingerprint) is unchanged; any change starts it again from the first
//! stage. [`Controller`] holds the gating logic without I/O; [`run`] feeds it
//! the loaded snapshots and the registry's changes, and publishes the
//! snapshot the ADS streams serve, whose `reach` says how far each canary got.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

use crate::declaration::{Canary, CanaryReach, FilterSpec, Node};
use crate::log;
use crate::registry::{millis, NodeState, Registry, VersionRef};
use crate::snapshot::Snapshot;

/// How often running canaries are re-evaluated for `hold` and `ack_timeout`
/// when nothing else happens.
const TICK: Duration = Duration::from_millis(100);

/// Where a canary is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Stage `index` is running: its nodes have been sent the canary version.
    Stage {
        /// The stage, from 0.
        index: usize,
        /// When it started.
        since: Instant,
        /// When it started, for display.
        since_at: SystemTime,
        /// Since when every node it reaches has ACKed, if they all have.
        all_acked: Option<Instant>,
    },
    /// Every stage was ACKed.
    Complete {
        /// When.
        at: SystemTime,
    },
    /// Stopped; every node gets `serve`.
    Halted {
        /// When.
        at: SystemTime,
        /// Why: the NACK, the timeout, or the failed check.
        reason: String,
    },
}

impl Phase {
    fn stage(index: usize, now: Instant) -> Self {
        Phase::Stage {
            index,
            since: now,
            since_at: SystemTime::now(),
            all_acked: None,
        }
    }

    /// Which nodes get the canary version.
    pub fn reach(&self) -> CanaryReach {
        match self {
            Phase::Stage { index, .. } => CanaryReach::Stages(*index),
            Phase::Complete { .. } => CanaryReach::Complete,
            Phase::Halted { .. } => CanaryReach::Halted,
        }
    }

    /// `stage`, `complete` or `halted`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Phase::Stage { .. } => "stage",
            Phase::Complete { .. } => "complete",
            Phase::Halted { .. } => "halted",
        }
    }
}

/// One filter's canary and how far it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The canary as declared.
    pub spec: Canary,
    /// The version as Envoy receives it, or why it cannot be sent.
    pub target: Result<VersionRef, String>,
    /// The version nodes go back to when it halts.
    pub serve: String,
    /// When this canary started.
    pub started_at: SystemTime,
    /// Where it is.
    pub phase: Phase,
    /// The nodes the current stage reaches.
    pub reached: Vec<String>,
    /// Those of them that have not ACKed the canary version yet.
    pub waiting_for: Vec<String>,
}

impl Progress {
    fn new(spec: Canary, target: Result<VersionRef, String>, serve: &str, now: Instant) -> Self {
        Self {
            spec,
            target,
            serve: serve.to_string(),
            started_at: SystemTime::now(),
            phase: Phase::stage(0, now),
            reached: Vec::new(),
            waiting_for: Vec::new(),
        }
    }

    fn same_canary(&self, spec: &Canary, target: &Result<VersionRef, String>) -> bool {
        self.spec == *spec && self.target == *target
    }
}

/// What a stage's gate decides.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Gate {
    /// Not every reached node has ACKed yet (or none is connected).
    Wait,
    /// Every reached node ACKed; `hold` has not passed yet.
    Hold,
    /// Every reached node ACKed and `hold` passed.
    Open,
    /// Stop the canary.
    Halt(String),
}

/// The canaries of every filter.
#[derive(Debug, Default)]
pub struct Controller {
    progress: BTreeMap<String, Progress>,
}

impl Controller {
    /// No canary yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Each filter's canary, by filter name.
    pub fn progress(&self) -> &BTreeMap<String, Progress> {
        &self.progress
    }

    /// How far each canary got, for [`Snapshot::reach`].
    pub fn reach(&self) -> BTreeMap<String, CanaryReach> {
        self.progress
            .iter()
            .map(|(name, progress)| (name.clone(), progress.phase.reach()))
            .collect()
    }

    /// Whether a stage is running (and so needs evaluating as time passes).
    pub fn running(&self) -> bool {
        self.progress
            .values()
            .any(|p| matches!(p.phase, Phase::Stage { .. }))
    }

    /// Takes a newly loaded declarative file: keeps the progress of unchanged
    /// canaries, starts new or changed ones at their first stage, forgets
    /// removed ones.
    pub fn reconcile(&mut self, snapshot: &Snapshot, now: Instant) {
        let mut next = BTreeMap::new();
        for filter in &snapshot.filters {
            let Some(canary) = &filter.spec.canary else {
                continue;
            };
            let target = match filter.selection(&canary.version) {
                Some(selection) => match selection.outcome {
                    Ok(resource) => Ok(VersionRef {
                        version: canary.version.clone(),
                        fingerprint: resource.fingerprint.clone(),
                    }),
                    Err(reason) => Err(reason.clone()),
                },
                None => Err(format!("no version {:?}", canary.version)),
            };
            let name = &filter.spec.name;
            let progress = match self.progress.remove(name) {
                Some(mut kept) if kept.same_canary(canary, &target) => {
                    kept.serve.clone_from(&filter.spec.serve);
                    kept
                }
                _ => {
                    log::info(&format!(
                        "canary {name} {}: stage 1/{} ({}) starts",
                        canary.version,
                        canary.stages.len(),
                        canary
                            .stages
                            .first()
                            .map(|stage| stage.describe())
                            .unwrap_or_default()
                    ));
                    Progress::new(canary.clone(), target, &filter.spec.serve, now)
                }
            };
            next.insert(name.clone(), progress);
        }
        for name in self.progress.keys() {
            log::info(&format!("canary {name} removed from the declarative file"));
        }
        self.progress = next;
    }

    /// Evaluates every running stage against the nodes' ACKs and NACKs at
    /// `now`: widens, completes or halts. Returns whether any canary's reach
    /// changed (the served snapshot must then change).
    pub fn evaluate(
        &mut self,
        snapshot: &Snapshot,
        nodes: &BTreeMap<String, NodeState>,
        now: Instant,
    ) -> bool {
        let mut changed = false;
        for (name, progress) in &mut self.progress {
            let Some(filter) = snapshot.filter(name) else {
                continue;
            };
            let before = progress.phase.reach();
            step(name, &filter.spec, progress, nodes, now);
            changed |= progress.phase.reach() != before;
        }
        changed
    }
}

/// Moves one canary on, as far as the gates allow at `now`.
fn step(
    name: &str,
    filter: &FilterSpec,
    progress: &mut Progress,
    nodes: &BTreeMap<String, NodeState>,
    now: Instant,
) {
    // Several stages may open at once (e.g. nodes that already run the version).
    while let Phase::Stage { index, .. } = progress.phase {
        match gate(name, filter, progress, nodes, now) {
            Gate::Wait | Gate::Hold => return,
            Gate::Open => {
                let stages = progress.spec.stages.len();
                let latencies = ack_latencies(name, &progress.reached, nodes);
                if index + 1 < stages {
                    log::info(&format!(
                        "canary {name} {}: stage {}/{stages} ACKed by {latencies}; widening to stage {}/{stages} ({})",
                        progress.spec.version,
                        index + 1,
                        index + 2,
                        progress
                            .spec
                            .stages
                            .get(index + 1)
                            .map(|stage| stage.describe())
                            .unwrap_or_default()
                    ));
                    progress.phase = Phase::stage(index + 1, now);
                } else {
                    log::info(&format!(
                        "canary {name} {}: complete, stage {}/{stages} ACKed by {latencies}",
                        progress.spec.version,
                        index + 1
                    ));
                    progress.phase = Phase::Complete {
                        at: SystemTime::now(),
                    };
                }
            }
            Gate::Halt(reason) => {
                log::warn(&format!(
                    "canary {name} {} halted at stage {}/{}: {reason}; every node goes back to {}",
                    progress.spec.version,
                    index + 1,
                    progress.spec.stages.len(),
                    progress.serve
                ));
                progress.phase = Phase::Halted {
                    at: SystemTime::now(),
                    reason,
                };
            }
        }
    }
}

/// The gate of the running stage; records the nodes it reaches and waits for.
fn gate(
    name: &str,
    filter: &FilterSpec,
    progress: &mut Progress,
    nodes: &BTreeMap<String, NodeState>,
    now: Instant,
) -> Gate {
    let Phase::Stage {
        index,
        since,
        ref mut all_acked,
        ..
    } = progress.phase
    else {
        return Gate::Wait;
    };
    let target = match &progress.target {
        Ok(target) => target,
        Err(reason) => {
            return Gate::Halt(format!(
                "{} cannot be sent: {reason}",
                progress.spec.version
            ))
        }
    };
    let stages = progress
        .spec
        .stages
        .get(..=index)
        .unwrap_or(&progress.spec.stages);
    let mut reached = Vec::new();
    let mut waiting_for = Vec::new();
    for (id, state) in nodes {
        let Some(filter_state) = state.filters.get(name) else {
            continue; // not asking for this filter
        };
        let node = Node {
            id: id.clone(),
            cluster: state.cluster.clone(),
            metadata: state.metadata.clone(),
        };
        if state.streams == 0
            || filter.pinned(&node).is_some()
            || !stages.iter().any(|stage| stage.selects(&node))
        {
            continue;
        }
        if let Some(nack) = filter_state
            .nacked
            .as_ref()
            .filter(|nack| nack.refused == *target && nack.at >= progress.started_at)
        {
            return Gate::Halt(format!(
                "node {id} NACKed {}: {}",
                target.version, nack.error_detail
            ));
        }
        if filter_state.acked.as_ref() != Some(target) {
            waiting_for.push(id.clone());
        }
        reached.push(id.clone());
    }
    let passed = !reached.is_empty() && waiting_for.is_empty();
    progress.reached = reached;
    progress.waiting_for = waiting_for;
    if passed {
        let acked_since = *all_acked.get_or_insert(now);
        return if now.saturating_duration_since(acked_since) >= progress.spec.hold {
            Gate::Open
        } else {
            Gate::Hold
        };
    }
    *all_acked = None;
    if now.saturating_duration_since(since) < progress.spec.ack_timeout {
        return Gate::Wait;
    }
    let timeout = progress.spec.ack_timeout.as_secs_f64();
    Gate::Halt(if progress.reached.is_empty() {
        format!(
            "no connected node asking for {name} is selected by stage {} within {timeout} s",
            index + 1
        )
    } else {
        format!(
            "no ACK of {} from {} within {timeout} s",
            target.version,
            progress.waiting_for.join(", ")
        )
    })
}

/// `node-a (3.1 ms), node-b (2.0 ms)`: each node's push-to-ACK latency of the
/// version it runs.
fn ack_latencies(name: &str, ids: &[String], nodes: &BTreeMap<String, NodeState>) -> String {
    ids.iter()
        .map(|id| {
            let latency = nodes
                .get(id)
                .and_then(|node| node.filters.get(name))
                .and_then(|state| state.last_ack.as_ref())
                .map(|ack| millis(ack.latency));
            match latency {
                Some(latency) => format!("{id} ({latency})"),
                None => id.clone(),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs the canaries: takes each snapshot `loaded` from the declarative file,
/// evaluates the gates whenever `registry` changes (and every [`TICK`] while a
/// stage runs), and publishes on `serving` the snapshot the ADS streams serve.
/// Stops when `shutdown` becomes true.
pub async fn run(
    mut loaded: watch::Receiver<Arc<Snapshot>>,
    serving: watch::Sender<Arc<Snapshot>>,
    registry: Arc<Registry>,
    controller: Arc<Mutex<Controller>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut changes = registry.subscribe();
    let mut current = Arc::clone(&loaded.borrow_and_update());
    let lock = || controller.lock().unwrap_or_else(PoisonError::into_inner);
    let publish = |snapshot: &Arc<Snapshot>, controller: &Controller| {
        let mut served = Snapshot::clone(snapshot);
        served.reach = controller.reach();
        serving.send_replace(Arc::new(served));
    };
    {
        let mut controller = lock();
        controller.reconcile(&current, Instant::now());
        controller.evaluate(&current, &registry.nodes(), Instant::now());
        publish(&current, &controller);
    }
    loop {
        let running = lock().running();
        let file_changed = tokio::select! {
            changed = loaded.changed() => {
                if changed.is_err() {
                    return;
                }
                current = Arc::clone(&loaded.borrow_and_update());
                true
            }
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
                false
            }
            () = tokio::time::sleep(TICK), if running => false,
            _ = shutdown.changed() => return,
        };
        let mut controller = lock();
        let now = Instant::now();
        if file_changed {
            controller.reconcile(&current, now);
        }
        let reach_changed = controller.evaluate(&current, &registry.nodes(), now);
        if file_changed || reach_changed {
            publish(&current, &controller);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::declaration;
    use crate::registry::Desired;
    use crate::snapshot;
    use std::path::{Path, PathBuf};

    const MODULE: &[u8] = crate::wasm_check::MINIMAL_MODULE;
    const MS: Duration = Duration::from_millis(1);

    struct Fleet {
        dir: PathBuf,
        registry: Registry,
        controller: Controller,
        snapshot: Snapshot,
        start: Instant,
    }

    impl Fleet {
        /// Nodes a, b, c (cluster `edge` for b and c) asking for `hello`;
        /// `canary` is the JSON of the canary.
        fn new(name: &str, canary: &str) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("wasmesh-cp-canary-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("good.wasm"), MODULE).unwrap();
            std::fs::write(dir.join("bad.wasm"), b"not wasm").unwrap();
            let mut fleet = Self {
                dir,
                registry: Registry::new(),
                controller: Controller::new(),
                snapshot: snapshot::build(
                    Path::new("cp.json"),
                    1,
                    declaration::Declaration { filters: vec![] },
                ),
                start: Instant::now(),
            };
            for (id, cluster) in [("a", "edge-a"), ("b", "edge"), ("c", "edge")] {
                fleet.registry.connected(&Node::new(id, cluster));
            }
            fleet.load(canary);
            fleet
        }

        fn load(&mut self, canary: &str) {
            let text = format!(
                r#"{{"filters": {{"hello": {{
                    "versions": {{
                        "v1": {{"wasm": "good.wasm", "config": {{"greeting": "one"}}}},
                        "v2": {{"wasm": "good.wasm", "config": {{"greeting": "two"}}}},
                        "bad": {{"wasm": "bad.wasm", "config": {{}}}}
                    }},
                    "serve": "v1",
                    "rollouts": [{{"version": "v1", "node_ids": ["pinned"]}}],
                    "canary": {canary}
                }}}}}}"#
            );
            let declaration = declaration::parse(&text, &self.dir).unwrap();
            self.snapshot = snapshot::build(Path::new("cp.json"), 1, declaration);
            self.controller.reconcile(&self.snapshot, self.start);
            self.snapshot.reach = self.controller.reach();
            self.publish();
        }

        /// What the streams would do: record each node's desired version.
        fn publish(&mut self) {
            self.snapshot.reach = self.controller.reach();
            for (id, state) in self.registry.nodes() {
                let node = Node::new(&id, &state.cluster);
                let selection = self.snapshot.select("hello", &node).unwrap();
                if let Ok(resource) = selection.outcome {
                    let version = self.version(selection.version, &resource.fingerprint);
                    self.registry.desire(&id, "hello", Desired::Ready(version));
                }
            }
        }

        fn version(&self, label: &str, fingerprint: &str) -> VersionRef {
            VersionRef {
                version: label.to_string(),
                fingerprint: fingerprint.to_string(),
            }
        }

        fn resource(&self, label: &str) -> VersionRef {
            let filter = self.snapshot.filter("hello").unwrap();
            let selection = filter.selection(label).unwrap();
            let fingerprint = selection.outcome.as_ref().unwrap().fingerprint.clone();
            self.version(label, &fingerprint)
        }

        /// The label each node is meant to run now.
        fn desired(&self, id: &str) -> String {
            let cluster = self.registry.nodes()[id].cluster.clone();
            let node = Node::new(id, &cluster);
            self.snapshot
                .select("hello", &node)
                .unwrap()
                .version
                .to_string()
        }

        fn ack(&self, id: &str, label: &str) {
            let items = vec![("hello".to_string(), self.resource(label))];
            self.registry.acked(id, &items, 2 * MS);
        }

        fn nack(&self, id: &str, label: &str) {
            let items = vec![("hello".to_string(), self.resource(label))];
            self.registry
                .nacked(id, &items, "Unable to create Wasm plugin hello", 3 * MS);
        }

        /// Evaluates at `start + at`; returns the phase name and stage index.
        fn at(&mut self, at: Duration) -> (&'static str, Option<usize>) {
            let nodes = self.registry.nodes();
            if self
                .controller
                .evaluate(&self.snapshot, &nodes, self.start + at)
            {
                self.publish();
            }
            let phase = &self.controller.progress()["hello"].phase;
            let index = match phase {
                Phase::Stage { index, .. } => Some(*index),
                _ => None,
            };
            (phase.as_str(), index)
        }

        fn progress(&self) -> &Progress {
            &self.controller.progress()["hello"]
        }
    }

    impl Drop for Fleet {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    const TWO_STAGES: &str = r#"{"version": "v2", "ack_timeout_s": 5, "hold_s": 1,
        "stages": [{"node_ids": ["a"]}, {"all": true}]}"#;

    #[test]
    fn widens_only_after_every_reached_node_acked_and_hold_passed() {
        let mut fleet = Fleet::new("widen", TWO_STAGES);
        for id in ["a", "b", "c"] {
            fleet.ack(id, "v1");
        }
        assert_eq!(fleet.desired("a"), "v2");
        assert_eq!(fleet.desired("b"), "v1");
        assert_eq!(fleet.at(Duration::ZERO), ("stage", Some(0)));
        assert_eq!(fleet.progress().waiting_for, vec!["a"]);

        // a ACKs v2: the gate holds for `hold`, then widens to everyone.
        fleet.ack("a", "v2");
        assert_eq!(fleet.at(100 * MS), ("stage", Some(0)));
        assert!(fleet.progress().waiting_for.is_empty());
        assert_eq!(fleet.desired("b"), "v1", "held before widening");
        assert_eq!(fleet.at(1099 * MS), ("stage", Some(0)));
        assert_eq!(fleet.at(1100 * MS), ("stage", Some(1)));
        assert_eq!(fleet.desired("b"), "v2");
        assert_eq!(fleet.desired("c"), "v2");
        assert_eq!(fleet.progress().waiting_for, vec!["b", "c"]);

        // One ACK is not enough; both are.
        fleet.ack("b", "v2");
        assert_eq!(fleet.at(1200 * MS), ("stage", Some(1)));
        assert_eq!(fleet.progress().waiting_for, vec!["c"]);
        fleet.ack("c", "v2");
        assert_eq!(fleet.at(1300 * MS), ("stage", Some(1)));
        assert_eq!(fleet.at(2300 * MS), ("complete", None));
        assert_eq!(fleet.desired("c"), "v2");
        // Complete is final.
        assert_eq!(fleet.at(60_000 * MS), ("complete", None));
    }

    #[test]
    fn an_ack_of_another_version_or_fingerprint_does_not_open_the_gate() {
        let mut fleet = Fleet::new("other-ack", TWO_STAGES);
        fleet.ack("a", "v1");
        assert_eq!(fleet.at(2000 * MS), ("stage", Some(0)));
        let wrong = vec![("hello".to_string(), fleet.version("v2", "0000"))];
        fleet.registry.acked("a", &wrong, MS);
        assert_eq!(fleet.at(3000 * MS), ("stage", Some(0)));
        assert_eq!(fleet.progress().waiting_for, vec!["a"]);
    }

    #[test]
    fn a_nack_halts_and_sends_everyone_back() {
        let mut fleet = Fleet::new("nack", TWO_STAGES);
        fleet.ack("a", "v2");
        assert_eq!(fleet.at(Duration::ZERO), ("stage", Some(0)));
        assert_eq!(fleet.at(1000 * MS), ("stage", Some(1)));
        fleet.ack("b", "v2");
        fleet.nack("c", "v2");
        assert_eq!(fleet.at(1100 * MS), ("halted", None));
        let Phase::Halted { reason, .. } = &fleet.progress().phase else {
            unreachable!()
        };
        assert!(
            reason.contains("node c NACKed v2: Unable to create"),
            "{reason}"
        );
        for id in ["a", "b", "c"] {
            assert_eq!(fleet.desired(id), "v1", "{id} goes back");
        }
        // Halted is final, even if the NACKing node ACKs later.
        fleet.ack("c", "v2");
        assert_eq!(fleet.at(9000 * MS), ("halted", None));
    }

    #[test]
    fn a_nack_from_before_the_canary_started_does_not_count() {
        let mut fleet = Fleet::new("old-nack", TWO_STAGES);
        fleet.nack("a", "v2");
        // The same canary edited (another timeout) starts again.
        std::thread::sleep(2 * MS);
        fleet.load(
            r#"{"version": "v2", "ack_timeout_s": 6, "hold_s": 1,
            "stages": [{"node_ids": ["a"]}, {"all": true}]}"#,
        );
        assert_eq!(fleet.at(100 * MS), ("stage", Some(0)));
        fleet.ack("a", "v2");
        assert_eq!(fleet.at(100 * MS), ("stage", Some(0)));
        assert_eq!(fleet.at(1100 * MS), ("stage", Some(1)));
    }

    #[test]
    fn a_stage_not_acked_in_time_halts() {
        let mut fleet = Fleet::new("timeout", TWO_STAGES);
        assert_eq!(fleet.at(4999 * MS), ("stage", Some(0)));
        assert_eq!(fleet.at(5000 * MS), ("halted", None));
        let Phase::Halted { reason, .. } = &fleet.progress().phase else {
            unreachable!()
        };
        assert_eq!(reason, "no ACK of v2 from a within 5 s");
        assert_eq!(fleet.desired("a"), "v1");
    }

    #[test]
    fn disconnected_and_pinned_nodes_are_not_waited_for() {
        let mut fleet = Fleet::new(
            "disconnected",
            r#"{"version": "v2", "hold_s": 0, "stages": [{"clusters": ["edge"]}]}"#,
        );
        fleet.registry.connected(&Node::new("pinned", "edge"));
        fleet.publish();
        fleet.registry.disconnected("c", "gone");
        assert_eq!(fleet.at(Duration::ZERO), ("stage", Some(0)));
        assert_eq!(fleet.progress().reached, vec!["b"]);
        assert_eq!(fleet.desired("pinned"), "v1");
        fleet.ack("b", "v2");
        assert_eq!(fleet.at(10 * MS), ("complete", None));
    }

    #[test]
    fn a_stage_without_connected_nodes_waits_then_halts() {
        let mut fleet = Fleet::new(
            "nobody",
            r#"{"version": "v2", "ack_timeout_s": 1, "stages": [{"clusters": ["nowhere"]}]}"#,
        );
        assert_eq!(fleet.at(500 * MS), ("stage", Some(0)));
        assert_eq!(fleet.at(1000 * MS), ("halted", None));
        let Phase::Halted { reason, .. } = &fleet.progress().phase else {
            unreachable!()
        };
        assert!(reason.contains("no connected node"), "{reason}");
    }

    #[test]
    fn a_canary_version_that_fails_the_checks_halts_at_once() {
        let mut fleet = Fleet::new(
            "blocked",
            r#"{"version": "bad", "stages": [{"all": true}]}"#,
        );
        assert_eq!(fleet.at(Duration::ZERO), ("halted", None));
        assert_eq!(fleet.desired("a"), "v1");
    }

    #[test]
    fn stages_already_acked_open_together_and_reloads_keep_progress() {
        let mut fleet = Fleet::new(
            "together",
            r#"{"version": "v2", "stages": [{"node_ids": ["a"]}, {"node_ids": ["b"]}, {"all": true}]}"#,
        );
        for id in ["a", "b"] {
            fleet.ack(id, "v2");
        }
        // Stages 1 and 2 open at once (hold 0); stage 3 waits for c.
        assert_eq!(fleet.at(Duration::ZERO), ("stage", Some(2)));
        assert_eq!(fleet.progress().waiting_for, vec!["c"]);
        // Reloading the same canary keeps its progress; changing it restarts it.
        fleet.load(
            r#"{"version": "v2", "stages": [{"node_ids": ["a"]}, {"node_ids": ["b"]}, {"all": true}]}"#,
        );
        assert_eq!(fleet.at(Duration::ZERO), ("stage", Some(2)));
        fleet.load(r#"{"version": "v2", "stages": [{"node_ids": ["c"]}]}"#);
        let progress = fleet.progress();
        assert!(matches!(progress.phase, Phase::Stage { index: 0, .. }));
        assert_eq!(fleet.desired("a"), "v1");
        assert_eq!(fleet.desired("c"), "v2");
    }
}
