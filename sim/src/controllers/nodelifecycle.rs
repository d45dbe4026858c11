//! The node lifecycle controller (pkg/controller/nodelifecycle/node_lifecycle_controller.go,
//! scheduler/rate_limited_queue.go, pkg/controller/util/node/controller_utils.go).
//!
//! Every `--node-monitor-period` (5 s) it looks at every node (`monitorNodeHealth`):
//!
//! - **Health** (`tryUpdateNodeHealth`): a node's probe time is when *this controller* last saw its
//!   Ready condition's `lastHeartbeatTime` change or its Lease's `renewTime` advance, on its own
//!   clock. A node seen for the first time (also after the controller restarts) gets a fresh probe
//!   time, so the control plane's own downtime never counts against nodes. When the probe time is
//!   older than `--node-monitor-grace-period` (`--node-startup-grace-period` for a node that never
//!   posted status), Ready, MemoryPressure, DiskPressure and PIDPressure become `Unknown`,
//!   `NodeStatusUnknown`, "Kubelet stopped posting node status." (`NodeStatusNeverUpdated`, "Kubelet
//!   never posted node status." for missing ones).
//! - On the transition from Ready: a `NodeNotReady` event "Node x status is now: NodeNotReady" and
//!   every pod on the node gets `Ready=False` plus a Warning `NodeNotReady` "Node is not ready"
//!   (`MarkPodsNotReady`).
//! - **Taint-based eviction** (`processTaintBaseEviction`): a node observed `False`/`Unknown` is
//!   queued in its zone's rate-limited queue (`--node-eviction-rate`, burst 1) to get
//!   `node.kubernetes.io/not-ready` / `unreachable` `:NoExecute`; a Ready node loses them.
//! - **Zones** (`handleDisruption`): a zone is FullDisruption when no node is Ready,
//!   PartialDisruption when more than 2 nodes and at least `--unhealthy-zone-threshold` of them are
//!   not Ready, else Normal. PartialDisruption uses `--secondary-node-eviction-rate` in zones larger
//!   than `--large-cluster-size-threshold` and stops tainting otherwise; when every zone is fully
//!   disrupted all NoExecute taints are removed and tainting stops.
//! - **TaintNodesByCondition** (`doNoScheduleTaintingPass`, on every node change): conditions map to
//!   `:NoSchedule` taints (Ready False → not-ready, Unknown → unreachable, pressure conditions,
//!   NetworkUnavailable, `spec.unschedulable` → unschedulable).
//!
//! Events are recorded as `node-controller`; nodes it sees first get `RegisteredNode`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::informers::Informer;
use super::queue::WorkQueue;
use super::{Ctx, SyncError, feed, klog, util, work};
use crate::client::events::Recorder;
use crate::client::{Change, Client, path};

/// `node.kubernetes.io/not-ready`.
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// `node.kubernetes.io/unreachable`.
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// How often the NoExecute tainting queues are worked (`NodeEvictionPeriod`, 100 ms).
pub const EVICTION_PERIOD: Duration = Duration::from_millis(100);

/// Timing and rate options.
#[derive(Debug, Clone)]
pub struct Config {
    /// `--node-monitor-period`.
    pub monitor_period: Duration,
    /// `--node-monitor-grace-period`.
    pub grace: Duration,
    /// `--node-startup-grace-period`.
    pub startup_grace: Duration,
    /// `--node-eviction-rate`.
    pub eviction_qps: f64,
    /// `--secondary-node-eviction-rate`.
    pub secondary_qps: f64,
    /// `--large-cluster-size-threshold`.
    pub large_cluster_threshold: usize,
    /// `--unhealthy-zone-threshold`.
    pub unhealthy_zone_threshold: f64,
}

impl Config {
    /// From the controller manager's options.
    pub fn from_options(o: &super::options::Options) -> Config {
        Config {
            monitor_period: o.node_monitor_period,
            grace: o.node_monitor_grace_period,
            startup_grace: o.node_startup_grace_period,
            eviction_qps: o.node_eviction_rate,
            secondary_qps: o.secondary_node_eviction_rate,
            large_cluster_threshold: o.large_cluster_size_threshold,
            unhealthy_zone_threshold: o.unhealthy_zone_threshold,
        }
    }
}

/// What the controller remembers of a node (`nodeHealthData`).
#[derive(Debug, Clone)]
pub struct NodeHealth {
    /// The status last seen (or written).
    pub status: Value,
    /// When the node was last heard from, on the controller's clock.
    pub probe: Instant,
    /// When its Ready condition last changed, on the controller's clock.
    pub ready_transition: Instant,
    /// The Lease renewTime last seen.
    pub lease_renew: Option<jiff::Timestamp>,
}

/// The outcome of one health check of a node.
#[derive(Debug, Clone)]
pub struct HealthUpdate {
    /// The grace period that applied.
    pub grace: Duration,
    /// The Ready condition as the node had it before this check (synthesised `Unknown` when the
    /// kubelet never posted one).
    pub observed_ready: Value,
    /// The Ready condition after this check (`None` when the node has none and none was set).
    pub current_ready: Option<Value>,
    /// The status to write when the controller changed it.
    pub new_status: Option<Value>,
}

/// A zone's state (`ZoneState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneState {
    /// Just seen.
    Initial,
    /// Some nodes Ready, few unhealthy.
    Normal,
    /// No node Ready.
    FullDisruption,
    /// Many nodes unhealthy.
    PartialDisruption,
}

/// A token bucket (client-go flowcontrol), or a limiter that never accepts (rate 0).
#[derive(Debug, Clone)]
pub struct TokenBucket {
    qps: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket of `burst` refilled at `qps`.
    pub fn new(qps: f64, burst: f64, now: Instant) -> TokenBucket {
        TokenBucket {
            qps,
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// The rate.
    pub fn qps(&self) -> f64 {
        self.qps
    }

    /// Takes a token when one is available.
    pub fn try_accept(&mut self, now: Instant) -> bool {
        if self.qps <= 0.0 {
            return false;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.qps).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A node waiting in a zone's tainting queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// Node name.
    pub name: String,
    /// When it may be processed.
    pub process_at: Instant,
}

/// A zone's NoExecute tainting queue (`RateLimitedTimedQueue` with a `UniqueQueue`: a node is
/// processed once until it is removed, which happens when it becomes reachable again).
#[derive(Debug, Clone)]
pub struct ZoneTainter {
    limiter: TokenBucket,
    queue: VecDeque<Queued>,
    set: HashSet<String>,
}

impl ZoneTainter {
    fn new(qps: f64, now: Instant) -> ZoneTainter {
        ZoneTainter {
            limiter: TokenBucket::new(qps, 1.0, now),
            queue: VecDeque::new(),
            set: HashSet::new(),
        }
    }

    /// `SwapLimiter`: a new rate; a new bucket starts drained when the old one was.
    pub fn swap_limiter(&mut self, qps: f64, now: Instant) {
        if (self.limiter.qps() - qps).abs() < f64::EPSILON {
            return;
        }
        let mut new = TokenBucket::new(qps, 1.0, now);
        if qps > 0.0 && !self.limiter.try_accept(now) {
            new.try_accept(now);
        }
        self.limiter = new;
    }

    fn add(&mut self, name: &str, now: Instant) -> bool {
        if !self.set.insert(name.to_string()) {
            return false;
        }
        self.queue.push_back(Queued {
            name: name.to_string(),
            process_at: now,
        });
        true
    }

    fn remove(&mut self, name: &str) {
        self.set.remove(name);
        self.queue.retain(|q| q.name != name);
    }

    /// The rate in use.
    pub fn qps(&self) -> f64 {
        self.limiter.qps()
    }
}

/// The NoExecute taint a node gets for its Ready status, and the one it loses.
pub fn no_execute_for(ready_status: Option<&str>) -> Option<(&'static str, &'static str)> {
    match ready_status {
        Some("False") => Some((NOT_READY, UNREACHABLE)),
        Some("Unknown") => Some((UNREACHABLE, NOT_READY)),
        _ => None,
    }
}

/// What `processTaintBaseEviction` decides for a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaintDecision {
    /// Replace one NoExecute taint by the other at once (the node flipped between False and
    /// Unknown while tainted).
    Swap {
        /// Taint key to add.
        add: &'static str,
        /// Taint key to remove.
        remove: &'static str,
    },
    /// The node was queued for tainting (false when it already was).
    Queued(bool),
    /// Remove both NoExecute taints and forget the node in the queue.
    MarkReachable,
}

/// `nodetopology.GetZoneKey`: `region:\0:zone`, empty without topology labels.
pub fn zone_key(node: &Value) -> String {
    let l = &node["metadata"]["labels"];
    let get = |beta: &str, ga: &str| {
        l[beta]
            .as_str()
            .or(l[ga].as_str())
            .unwrap_or_default()
            .to_string()
    };
    let zone = get(
        "failure-domain.beta.kubernetes.io/zone",
        "topology.kubernetes.io/zone",
    );
    let region = get(
        "failure-domain.beta.kubernetes.io/region",
        "topology.kubernetes.io/region",
    );
    if region.is_empty() && zone.is_empty() {
        String::new()
    } else {
        format!("{region}:\0:{zone}")
    }
}

fn condition<'a>(status: &'a Value, typ: &str) -> Option<&'a Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == typ)
}

fn wall_to_instant(t: jiff::Timestamp, now: Instant) -> Instant {
    let ago = util::now().duration_since(t).as_secs_f64();
    if ago <= 0.0 {
        now
    } else {
        now.checked_sub(Duration::from_secs_f64(ago)).unwrap_or(now)
    }
}

/// The controller's state: what it knows of nodes and zones.
#[derive(Debug)]
pub struct Lifecycle {
    /// Options.
    pub cfg: Config,
    health: HashMap<String, NodeHealth>,
    known: HashMap<String, String>,
    zone_states: HashMap<String, ZoneState>,
    tainters: HashMap<String, ZoneTainter>,
    retry: HashSet<String>,
}

impl Lifecycle {
    /// A controller that has seen nothing yet (as after a start).
    pub fn new(cfg: Config) -> Lifecycle {
        Lifecycle {
            cfg,
            health: HashMap::new(),
            known: HashMap::new(),
            zone_states: HashMap::new(),
            tainters: HashMap::new(),
            retry: HashSet::new(),
        }
    }

    /// The zone states.
    pub fn zone_state(&self, zone: &str) -> Option<ZoneState> {
        self.zone_states.get(zone).copied()
    }

    /// The rate of a zone's tainting queue.
    pub fn zone_qps(&self, zone: &str) -> Option<f64> {
        self.tainters.get(zone).map(ZoneTainter::qps)
    }

    fn add_zone(&mut self, zone: &str, now: Instant) {
        if !self.zone_states.contains_key(zone) {
            self.zone_states
                .insert(zone.to_string(), ZoneState::Initial);
            self.tainters.insert(
                zone.to_string(),
                ZoneTainter::new(self.cfg.eviction_qps, now),
            );
        }
    }

    /// `classifyNodes` and the bookkeeping of new and deleted nodes: returns (added, deleted).
    pub fn classify(&mut self, nodes: &[Value], now: Instant) -> (Vec<Value>, Vec<String>) {
        let names: HashSet<&str> = nodes.iter().map(util::name).collect();
        let mut added = vec![];
        for n in nodes {
            let name = util::name(n);
            self.add_zone(&zone_key(n), now);
            if !self.known.contains_key(name) {
                self.known
                    .insert(name.to_string(), util::uid(n).to_string());
                added.push(n.clone());
            }
        }
        let deleted: Vec<String> = self
            .known
            .keys()
            .filter(|k| !names.contains(k.as_str()))
            .cloned()
            .collect();
        for d in &deleted {
            self.known.remove(d);
            self.health.remove(d);
        }
        (added, deleted)
    }

    /// `tryUpdateNodeHealth`: updates the probe time from the node's heartbeat and Lease, and
    /// sets the conditions to Unknown when the grace period is over.
    pub fn try_update_node_health(
        &mut self,
        node: &Value,
        lease: Option<&Value>,
        now: Instant,
    ) -> HealthUpdate {
        let name = util::name(node).to_string();
        let mut health = self.health.get(&name).cloned();
        let status = node["status"].clone();
        let created = util::created(node);
        let current = condition(&status, "Ready").cloned();
        let (observed, grace) = match &current {
            None => {
                let created_at = wall_to_instant(created, now);
                match &mut health {
                    Some(h) => h.status = status.clone(),
                    None => {
                        health = Some(NodeHealth {
                            status: status.clone(),
                            probe: created_at,
                            ready_transition: created_at,
                            lease_renew: None,
                        })
                    }
                }
                (
                    json!({"type": "Ready", "status": "Unknown",
                           "lastHeartbeatTime": node["metadata"]["creationTimestamp"],
                           "lastTransitionTime": node["metadata"]["creationTimestamp"]}),
                    self.cfg.startup_grace,
                )
            }
            Some(c) => (c.clone(), self.cfg.grace),
        };
        let saved = health
            .as_ref()
            .and_then(|h| condition(&h.status, "Ready").cloned());
        let saved_lease = health.as_ref().and_then(|h| h.lease_renew);
        let fresh = |probe: Instant, transition: Instant| NodeHealth {
            status: status.clone(),
            probe,
            ready_transition: transition,
            lease_renew: saved_lease,
        };
        match (&health, &saved, &current) {
            (None, _, _) => health = Some(fresh(now, now)),
            (Some(_), None, Some(_)) => health = Some(fresh(now, now)),
            (Some(_), Some(_), None) => health = Some(fresh(now, now)),
            (Some(h), Some(s), Some(c)) if s["lastHeartbeatTime"] != c["lastHeartbeatTime"] => {
                let transition = if s["lastTransitionTime"] != c["lastTransitionTime"] {
                    now
                } else {
                    h.ready_transition
                };
                health = Some(fresh(now, transition));
            }
            _ => {}
        }
        let mut h = health.expect("health set above");
        // Always update the probe time when the Lease was renewed.
        let renew = lease.and_then(|l| util::parse_time(&l["spec"]["renewTime"]));
        if let Some(r) = renew
            && h.lease_renew.is_none_or(|s| s < r)
        {
            h.lease_renew = Some(r);
            h.probe = now;
        }
        let mut update = HealthUpdate {
            grace,
            observed_ready: observed.clone(),
            current_ready: current.clone(),
            new_status: None,
        };
        if now > h.probe + grace {
            let mut new_status = status.clone();
            let ts = util::now_time();
            let mut conds = util::array(&new_status["conditions"]);
            for typ in ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"] {
                match conds.iter_mut().find(|c| c["type"] == typ) {
                    None => conds.push(json!({"type": typ, "status": "Unknown",
                        "reason": "NodeStatusNeverUpdated", "message": "Kubelet never posted node status.",
                        "lastHeartbeatTime": node["metadata"]["creationTimestamp"], "lastTransitionTime": ts})),
                    Some(c) => {
                        if c["status"] != "Unknown" {
                            c["status"] = json!("Unknown");
                            c["reason"] = json!("NodeStatusUnknown");
                            c["message"] = json!("Kubelet stopped posting node status.");
                            c["lastTransitionTime"] = json!(ts);
                        }
                    }
                }
            }
            new_status["conditions"] = json!(conds);
            let new_ready = condition(&new_status, "Ready").cloned();
            if new_ready.as_ref() != Some(&observed) {
                update.current_ready = new_ready;
                update.new_status = Some(new_status);
            }
        }
        self.health.insert(name, h);
        update
    }

    /// Records that the status the check asked for was written (`nodeHealth` after
    /// `UpdateStatus`).
    pub fn status_written(&mut self, name: &str, status: Value, now: Instant) {
        if let Some(h) = self.health.get_mut(name) {
            h.status = status;
            h.ready_transition = now;
        }
    }

    /// `processTaintBaseEviction` for a node whose Ready status was `observed` before this pass.
    pub fn taint_decision(&mut self, node: &Value, observed: &str, now: Instant) -> TaintDecision {
        let taints = util::array(&node["spec"]["taints"]);
        let has = |k: &str| {
            taints
                .iter()
                .any(|t| t["key"] == k && t["effect"] == "NoExecute")
        };
        let zone = zone_key(node);
        match observed {
            "False" if has(UNREACHABLE) => TaintDecision::Swap {
                add: NOT_READY,
                remove: UNREACHABLE,
            },
            "Unknown" if has(NOT_READY) => TaintDecision::Swap {
                add: UNREACHABLE,
                remove: NOT_READY,
            },
            "False" | "Unknown" => {
                self.add_zone(&zone, now);
                let added = self
                    .tainters
                    .get_mut(&zone)
                    .is_some_and(|t| t.add(util::name(node), now));
                TaintDecision::Queued(added)
            }
            _ => {
                self.forget(node);
                TaintDecision::MarkReachable
            }
        }
    }

    /// Forgets a node in its zone's tainting queue (`markNodeAsReachable`'s `Remove`).
    pub fn forget(&mut self, node: &Value) {
        if let Some(t) = self.tainters.get_mut(&zone_key(node)) {
            t.remove(util::name(node));
        }
    }

    /// Whether a node's pods must be marked not ready again (an earlier attempt failed).
    pub fn needs_retry(&self, name: &str) -> bool {
        self.retry.contains(name)
    }

    /// Sets or clears the retry mark of a node.
    pub fn set_retry(&mut self, name: &str, on: bool) {
        if on {
            self.retry.insert(name.to_string());
        } else {
            self.retry.remove(name);
        }
    }

    /// `ComputeZoneState` over the Ready statuses of a zone's nodes (`None`: no condition).
    pub fn compute_zone_state(&self, ready: &[Option<String>]) -> (usize, ZoneState) {
        let ready_n = ready
            .iter()
            .filter(|r| r.as_deref() == Some("True"))
            .count();
        let not_ready = ready.len() - ready_n;
        if ready_n == 0 && not_ready > 0 {
            (not_ready, ZoneState::FullDisruption)
        } else if not_ready > 2
            && not_ready as f64 / ready.len() as f64 >= self.cfg.unhealthy_zone_threshold
        {
            (not_ready, ZoneState::PartialDisruption)
        } else {
            (not_ready, ZoneState::Normal)
        }
    }

    fn qps_for(&self, state: ZoneState, zone_size: usize) -> f64 {
        match state {
            // ReducedQPSFunc: secondary rate in large clusters, none in small ones.
            ZoneState::PartialDisruption => {
                if zone_size > self.cfg.large_cluster_threshold {
                    self.cfg.secondary_qps
                } else {
                    0.0
                }
            }
            // HealthyQPSFunc.
            _ => self.cfg.eviction_qps,
        }
    }

    /// `handleDisruption`: updates zone states and rates; returns the nodes whose NoExecute
    /// taints must be removed (everything, when the whole cluster just became fully disrupted).
    pub fn handle_disruption(
        &mut self,
        zones: &HashMap<String, Vec<Option<String>>>,
        nodes: &[Value],
        now: Instant,
    ) -> Vec<String> {
        let mut new_states = HashMap::new();
        let mut all_fully = true;
        for (zone, ready) in zones {
            let (_, state) = self.compute_zone_state(ready);
            if state != ZoneState::FullDisruption {
                all_fully = false;
            }
            new_states.insert(zone.clone(), state);
            self.add_zone(zone, now);
        }
        let mut all_were_fully = true;
        let known: Vec<String> = self.zone_states.keys().cloned().collect();
        for zone in known {
            if !zones.contains_key(&zone) {
                self.zone_states.remove(&zone);
                continue;
            }
            if self.zone_states[&zone] != ZoneState::FullDisruption {
                all_were_fully = false;
                break;
            }
        }
        if all_fully && all_were_fully {
            return vec![];
        }
        if all_fully {
            klog(
                'I',
                "node_lifecycle_controller.go",
                "\"Controller detected that all Nodes are not-Ready. Entering master disruption mode\"",
            );
            for t in self.tainters.values_mut() {
                t.swap_limiter(0.0, now);
            }
            for s in self.zone_states.values_mut() {
                *s = ZoneState::FullDisruption;
            }
            for n in nodes {
                self.forget(n);
            }
            return nodes.iter().map(|n| util::name(n).to_string()).collect();
        }
        if all_were_fully {
            klog(
                'I',
                "node_lifecycle_controller.go",
                "\"Controller detected that some Nodes are Ready. Exiting master disruption mode\"",
            );
            for h in self.health.values_mut() {
                h.probe = now;
                h.ready_transition = now;
            }
            let zones_now: Vec<String> = self.zone_states.keys().cloned().collect();
            for zone in zones_now {
                let state = new_states.get(&zone).copied().unwrap_or(ZoneState::Normal);
                let size = zones.get(&zone).map_or(0, Vec::len);
                let qps = self.qps_for(state, size);
                if let Some(t) = self.tainters.get_mut(&zone) {
                    t.swap_limiter(qps, now);
                }
                self.zone_states.insert(zone, state);
            }
            return vec![];
        }
        let zones_now: Vec<String> = self.zone_states.keys().cloned().collect();
        for zone in zones_now {
            let new = new_states.get(&zone).copied().unwrap_or(ZoneState::Normal);
            if self.zone_states[&zone] == new {
                continue;
            }
            klog(
                'I',
                "node_lifecycle_controller.go",
                &format!(
                    "\"Controller detected that zone is now in new state\" zone=\"{}\" newState=\"{new:?}\"",
                    zone.replace('\0', "")
                ),
            );
            let size = zones.get(&zone).map_or(0, Vec::len);
            let qps = self.qps_for(new, size);
            if let Some(t) = self.tainters.get_mut(&zone) {
                t.swap_limiter(qps, now);
            }
            self.zone_states.insert(zone, new);
        }
        vec![]
    }

    /// One pass of the tainting queues (`doNoExecuteTaintingPass` with `Try`): the nodes the rate
    /// limiters let through now, taken off the queues (they stay known until forgotten).
    pub fn tainting_pass(&mut self, now: Instant) -> Vec<(String, Queued)> {
        let mut out = vec![];
        for (zone, t) in self.tainters.iter_mut() {
            while let Some(head) = t.queue.front() {
                if !t.limiter.try_accept(now) {
                    break;
                }
                if now < head.process_at {
                    break;
                }
                let item = t.queue.pop_front().expect("head exists");
                out.push((zone.clone(), item));
            }
        }
        out
    }

    /// Puts a node back at the head of its queue after a failed tainting (`Replace` with
    /// `ProcessAt = now + 1ns`).
    pub fn requeue(&mut self, zone: &str, mut item: Queued, now: Instant) {
        if let Some(t) = self.tainters.get_mut(zone) {
            item.process_at = now + Duration::from_nanos(1);
            t.queue.push_front(item);
        }
    }
}

/// The NoSchedule taints a node's conditions and `spec.unschedulable` call for
/// (`doNoScheduleTaintingPass` with `nodeConditionToTaintKeyStatusMap`).
pub fn no_schedule_taints(node: &Value) -> Vec<String> {
    let mut keys = vec![];
    for c in util::array(&node["status"]["conditions"]) {
        let key = match (c["type"].as_str(), c["status"].as_str()) {
            (Some("Ready"), Some("False")) => NOT_READY,
            (Some("Ready"), Some("Unknown")) => UNREACHABLE,
            (Some("MemoryPressure"), Some("True")) => "node.kubernetes.io/memory-pressure",
            (Some("DiskPressure"), Some("True")) => "node.kubernetes.io/disk-pressure",
            (Some("NetworkUnavailable"), Some("True")) => "node.kubernetes.io/network-unavailable",
            (Some("PIDPressure"), Some("True")) => "node.kubernetes.io/pid-pressure",
            _ => continue,
        };
        keys.push(key.to_string());
    }
    if node["spec"]["unschedulable"] == true {
        keys.push("node.kubernetes.io/unschedulable".into());
    }
    keys
}

const CONDITION_TAINT_KEYS: &[&str] = &[
    NOT_READY,
    UNREACHABLE,
    "node.kubernetes.io/memory-pressure",
    "node.kubernetes.io/disk-pressure",
    "node.kubernetes.io/network-unavailable",
    "node.kubernetes.io/pid-pressure",
    "node.kubernetes.io/unschedulable",
];

/// `SwapNodeControllerTaint`: adds `add` (with `timeAdded`) and removes `remove` (by key and
/// effect) on the live node, retrying on conflicts. Returns false when the node is gone.
///
/// # Errors
/// The API's error after retries.
pub async fn swap_taints(
    client: &Client,
    node: &str,
    add: &[(String, &str)],
    remove: &[(String, &str)],
) -> Result<bool, SyncError> {
    let p = path("", "v1", "nodes", None, Some(node));
    let mut last = None;
    for _ in 0..5 {
        let Some(mut n) = client.get_opt(&p).await? else {
            return Ok(false);
        };
        let mut taints: Vec<Value> = util::array(&n["spec"]["taints"])
            .into_iter()
            .filter(|t| {
                !remove
                    .iter()
                    .any(|(k, e)| t["key"] == k.as_str() && t["effect"] == *e)
            })
            .collect();
        let now = util::now_time();
        for (k, e) in add {
            if !taints
                .iter()
                .any(|t| t["key"] == k.as_str() && t["effect"] == *e)
            {
                taints.push(json!({"key": k, "effect": e, "timeAdded": now}));
            }
        }
        if taints == util::array(&n["spec"]["taints"]) {
            return Ok(true);
        }
        if taints.is_empty() {
            if let Some(s) = n["spec"].as_object_mut() {
                s.remove("taints");
            }
        } else {
            n["spec"]["taints"] = json!(taints);
        }
        match client.update(&p, &n).await {
            Ok(_) => return Ok(true),
            Err(e) if e.is_conflict() => last = Some(e),
            Err(e) if e.is_not_found() => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last
        .map(SyncError::from)
        .unwrap_or_else(|| SyncError::Invalid("taint update kept conflicting".into())))
}

/// `MarkPodsNotReady`: sets every pod's Ready condition on `node` to False and records
/// `NodeNotReady` "Node is not ready" on it.
///
/// # Errors
/// The first API error.
pub async fn mark_pods_not_ready(
    client: &Client,
    recorder: &Recorder,
    pods: &[Value],
    node: &str,
) -> Result<(), SyncError> {
    for pod in pods.iter().filter(|p| util::spec_node(p) == node) {
        let mut p = pod.clone();
        let mut changed = false;
        if let Some(conds) = p["status"]["conditions"].as_array_mut()
            && let Some(c) = conds.iter_mut().find(|c| c["type"] == "Ready")
            && c["status"] != "False"
        {
            c["status"] = json!("False");
            c["lastTransitionTime"] = json!(util::now_time());
            changed = true;
        }
        if !changed {
            continue;
        }
        let pp = path(
            "",
            "v1",
            "pods",
            Some(util::namespace(pod)),
            Some(util::name(pod)),
        );
        match client.update(&format!("{pp}/status"), &p).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        }
        let _ = recorder
            .warning(
                &util::typed(p, "v1", "Pod"),
                "NodeNotReady",
                "Node is not ready",
            )
            .await;
    }
    Ok(())
}

/// A Node reference for events (`RecordNodeStatusChange`, `RecordNodeEvent`).
fn node_ref(node: &Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": util::name(node), "uid": util::uid(node)}})
}

struct Nlc {
    ctx: Ctx,
    nodes: Informer,
    pods: Informer,
    leases: Informer,
    state: Mutex<Lifecycle>,
    recorder: Arc<Recorder>,
}

/// Runs the controller.
pub async fn run(ctx: Ctx) {
    let nodes = ctx.informers.get("nodes");
    let pods = ctx.informers.get("pods");
    let leases = ctx.informers.get("leases");
    nodes.wait_ready().await;
    pods.wait_ready().await;
    leases.wait_ready().await;
    let nlc = Arc::new(Nlc {
        state: Mutex::new(Lifecycle::new(Config::from_options(&ctx.opts))),
        recorder: ctx.recorder("node-controller"),
        ctx,
        nodes: nodes.clone(),
        pods,
        leases,
    });
    // TaintNodesByCondition on every node change.
    let q = WorkQueue::new();
    let all = nodes.clone();
    feed(
        &nodes,
        q.clone(),
        |c| match c {
            Change::Applied(n) => vec![util::name(n).to_string()],
            _ => vec![],
        },
        move || super::all_keys(&all),
    );
    let n2 = nlc.clone();
    tokio::spawn(work("node_lifecycle_controller.go", q, move |name| {
        let nlc = n2.clone();
        async move { nlc.no_schedule_pass(&name).await }
    }));
    // The NoExecute tainting queues.
    let n3 = nlc.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(EVICTION_PERIOD).await;
            n3.no_execute_pass().await;
        }
    });
    let period = nlc.state.lock().expect("state").cfg.monitor_period;
    loop {
        if let Err(e) = nlc.monitor().await {
            klog(
                'E',
                "node_lifecycle_controller.go",
                &format!("\"Error monitoring node health\" err=\"{e}\""),
            );
        }
        tokio::time::sleep(period).await;
    }
}

impl Nlc {
    async fn no_schedule_pass(&self, name: &str) -> Result<Option<Duration>, SyncError> {
        let Some(node) = self.nodes.get(name) else {
            return Ok(None);
        };
        let want = no_schedule_taints(&node);
        let have: Vec<String> = util::array(&node["spec"]["taints"])
            .iter()
            .filter(|t| t["effect"] == "NoSchedule")
            .filter_map(|t| t["key"].as_str())
            .filter(|k| CONDITION_TAINT_KEYS.contains(k))
            .map(str::to_string)
            .collect();
        let add: Vec<(String, &str)> = want
            .iter()
            .filter(|k| !have.contains(k))
            .map(|k| (k.clone(), "NoSchedule"))
            .collect();
        let remove: Vec<(String, &str)> = have
            .iter()
            .filter(|k| !want.contains(k))
            .map(|k| (k.clone(), "NoSchedule"))
            .collect();
        if add.is_empty() && remove.is_empty() {
            return Ok(None);
        }
        swap_taints(&self.ctx.client, name, &add, &remove).await?;
        Ok(None)
    }

    async fn no_execute_pass(&self) {
        let now = Instant::now();
        let items = self.state.lock().expect("state").tainting_pass(now);
        for (zone, item) in items {
            let node = self.nodes.get(&item.name);
            let ready = node
                .as_ref()
                .and_then(|n| condition(&n["status"], "Ready"))
                .and_then(|c| c["status"].as_str().map(str::to_string));
            let Some((add, remove)) = no_execute_for(ready.as_deref()) else {
                continue;
            };
            let r = swap_taints(
                &self.ctx.client,
                &item.name,
                &[(add.to_string(), "NoExecute")],
                &[(remove.to_string(), "NoExecute")],
            )
            .await;
            if r.is_err() {
                self.state
                    .lock()
                    .expect("state")
                    .requeue(&zone, item, Instant::now());
            }
        }
    }

    async fn mark_reachable(&self, node: &Value) -> Result<(), SyncError> {
        self.state.lock().expect("state").forget(node);
        let has = util::array(&node["spec"]["taints"]).iter().any(|t| {
            t["effect"] == "NoExecute" && (t["key"] == NOT_READY || t["key"] == UNREACHABLE)
        });
        if has {
            swap_taints(
                &self.ctx.client,
                util::name(node),
                &[],
                &[
                    (NOT_READY.to_string(), "NoExecute"),
                    (UNREACHABLE.to_string(), "NoExecute"),
                ],
            )
            .await?;
        }
        Ok(())
    }

    /// One `monitorNodeHealth` pass.
    async fn monitor(&self) -> Result<(), SyncError> {
        let nodes = self.nodes.list();
        let now = Instant::now();
        let (added, deleted) = self.state.lock().expect("state").classify(&nodes, now);
        for n in &added {
            let name = util::name(n);
            klog(
                'I',
                "node_lifecycle_controller.go",
                &format!("\"Controller observed a new Node\" node=\"{name}\""),
            );
            let _ = self
                .recorder
                .normal(
                    &node_ref(n),
                    "RegisteredNode",
                    &format!("Registered Node {name} in Controller"),
                )
                .await;
            self.mark_reachable(n).await?;
        }
        for name in &deleted {
            klog(
                'I',
                "node_lifecycle_controller.go",
                &format!("\"Controller observed a Node deletion\" node=\"{name}\""),
            );
            let r = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "uid": name}});
            let _ = self
                .recorder
                .normal(
                    &r,
                    "RemovingNode",
                    &format!("Removing Node {name} from Controller"),
                )
                .await;
        }
        let mut zones: HashMap<String, Vec<Option<String>>> = HashMap::new();
        for node in &nodes {
            let name = util::name(node).to_string();
            let lease = self.leases.get(&format!("kube-node-lease/{name}"));
            let mut node = node.clone();
            let mut update = None;
            for _ in 0..5 {
                let u = self.state.lock().expect("state").try_update_node_health(
                    &node,
                    lease.as_ref(),
                    Instant::now(),
                );
                let Some(status) = u.new_status.clone() else {
                    update = Some(u);
                    break;
                };
                let mut up = node.clone();
                up["status"] = status.clone();
                match self
                    .ctx
                    .client
                    .update(
                        &format!("{}/status", path("", "v1", "nodes", None, Some(&name))),
                        &up,
                    )
                    .await
                {
                    Ok(_) => {
                        klog(
                            'I',
                            "node_lifecycle_controller.go",
                            &format!(
                                "\"Node hasn't been updated\" node=\"{name}\" ready=\"Unknown\" grace=\"{:?}\"",
                                u.grace
                            ),
                        );
                        self.state.lock().expect("state").status_written(
                            &name,
                            status,
                            Instant::now(),
                        );
                        update = Some(u);
                        break;
                    }
                    Err(e) if e.is_conflict() => {
                        match self
                            .ctx
                            .client
                            .get_opt(&path("", "v1", "nodes", None, Some(&name)))
                            .await?
                        {
                            Some(fresh) => node = util::typed(fresh, "v1", "Node"),
                            None => break,
                        }
                    }
                    Err(e) if e.is_not_found() => break,
                    Err(e) => return Err(e.into()),
                }
            }
            let Some(u) = update else { continue };
            let excluded =
                !node["metadata"]["labels"]["node.kubernetes.io/exclude-disruption"].is_null();
            if !excluded {
                zones.entry(zone_key(&node)).or_default().push(
                    u.current_ready
                        .as_ref()
                        .and_then(|c| c["status"].as_str().map(str::to_string)),
                );
            }
            let Some(current) = &u.current_ready else {
                continue;
            };
            let observed = u.observed_ready["status"]
                .as_str()
                .unwrap_or("Unknown")
                .to_string();
            let decision =
                self.state
                    .lock()
                    .expect("state")
                    .taint_decision(&node, &observed, Instant::now());
            match decision {
                TaintDecision::Swap { add, remove } => {
                    swap_taints(
                        &self.ctx.client,
                        &name,
                        &[(add.to_string(), "NoExecute")],
                        &[(remove.to_string(), "NoExecute")],
                    )
                    .await?;
                }
                TaintDecision::Queued(true) => klog(
                    'I',
                    "node_lifecycle_controller.go",
                    &format!(
                        "\"Node is unresponsive. Adding it to the Taint queue\" node=\"{name}\""
                    ),
                ),
                TaintDecision::Queued(false) => {}
                TaintDecision::MarkReachable => self.mark_reachable(&node).await?,
            }
            let became_not_ready = current["status"] != "True" && observed == "True";
            let retry = self.state.lock().expect("state").needs_retry(&name) && observed != "True";
            if became_not_ready {
                let _ = self
                    .recorder
                    .normal(
                        &node_ref(&node),
                        "NodeNotReady",
                        &format!("Node {name} status is now: NodeNotReady"),
                    )
                    .await;
            }
            if became_not_ready || retry {
                let pods: Vec<Value> = self
                    .pods
                    .list()
                    .into_iter()
                    .filter(|p| util::spec_node(p) == name)
                    .collect();
                if mark_pods_not_ready(&self.ctx.client, &self.recorder, &pods, &name)
                    .await
                    .is_err()
                {
                    self.state.lock().expect("state").set_retry(&name, true);
                    continue;
                }
            }
            self.state.lock().expect("state").set_retry(&name, false);
        }
        let reachable =
            self.state
                .lock()
                .expect("state")
                .handle_disruption(&zones, &nodes, Instant::now());
        for name in reachable {
            if let Some(n) = self.nodes.get(&name) {
                self.mark_reachable(&n).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config {
            monitor_period: Duration::from_secs(5),
            grace: Duration::from_secs(40),
            startup_grace: Duration::from_secs(60),
            eviction_qps: 0.1,
            secondary_qps: 0.01,
            large_cluster_threshold: 50,
            unhealthy_zone_threshold: 0.55,
        }
    }

    fn node(name: &str, ready: &str, heartbeat: &str) -> Value {
        json!({"metadata": {"name": name, "uid": format!("uid-{name}"), "creationTimestamp": "2026-01-01T00:00:00Z"},
               "spec": {},
               "status": {"conditions": [
                   {"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": heartbeat, "lastTransitionTime": "2026-01-01T00:00:00Z"},
                   {"type": "Ready", "status": ready, "reason": "KubeletReady", "lastHeartbeatTime": heartbeat, "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})
    }

    fn lease(renew: &str) -> Value {
        json!({"spec": {"renewTime": renew}})
    }

    #[tokio::test(start_paused = true)]
    async fn grace_expiry_sets_unknown_after_the_grace_period() {
        let mut lc = Lifecycle::new(cfg());
        let n = node("m03", "True", "2026-01-01T00:00:10Z");
        let t0 = Instant::now();
        lc.classify(std::slice::from_ref(&n), t0);
        let u = lc.try_update_node_health(&n, Some(&lease("2026-01-01T00:00:10.000000Z")), t0);
        assert!(u.new_status.is_none());
        // Heartbeats stop. 40 s later: still within grace (strictly after is required).
        tokio::time::advance(Duration::from_secs(40)).await;
        let u = lc.try_update_node_health(
            &n,
            Some(&lease("2026-01-01T00:00:10.000000Z")),
            Instant::now(),
        );
        assert!(
            u.new_status.is_none(),
            "exactly at the grace period: not yet"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        let u = lc.try_update_node_health(
            &n,
            Some(&lease("2026-01-01T00:00:10.000000Z")),
            Instant::now(),
        );
        let s = u.new_status.expect("status changes");
        let ready = condition(&s, "Ready").unwrap();
        assert_eq!(ready["status"], "Unknown");
        assert_eq!(ready["reason"], "NodeStatusUnknown");
        assert_eq!(ready["message"], "Kubelet stopped posting node status.");
        assert_eq!(
            condition(&s, "MemoryPressure").unwrap()["status"],
            "Unknown"
        );
        assert_eq!(
            condition(&s, "DiskPressure").unwrap()["reason"],
            "NodeStatusNeverUpdated"
        );
        assert_eq!(u.observed_ready["status"], "True");
        assert_eq!(u.current_ready.unwrap()["status"], "Unknown");
    }

    #[tokio::test(start_paused = true)]
    async fn lease_renewals_alone_keep_a_node_healthy() {
        let mut lc = Lifecycle::new(cfg());
        let n = node("m02", "True", "2026-01-01T00:00:10Z");
        lc.try_update_node_health(
            &n,
            Some(&lease("2026-01-01T00:00:10.000000Z")),
            Instant::now(),
        );
        for i in 1..=10 {
            tokio::time::advance(Duration::from_secs(10)).await;
            let renew = format!("2026-01-01T00:{:02}:10.000000Z", i);
            let u = lc.try_update_node_health(&n, Some(&lease(&renew)), Instant::now());
            assert!(u.new_status.is_none(), "renewed lease at step {i}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_restarted_controller_gives_every_node_a_fresh_grace_period() {
        // The node's last heartbeat is long past (the control plane was away), but a new
        // controller starts counting when it first sees the node.
        let n = node("m02", "True", "2020-01-01T00:00:00Z");
        let mut restarted = Lifecycle::new(cfg());
        restarted.classify(std::slice::from_ref(&n), Instant::now());
        let u = restarted.try_update_node_health(
            &n,
            Some(&lease("2020-01-01T00:00:00.000000Z")),
            Instant::now(),
        );
        assert!(u.new_status.is_none());
        tokio::time::advance(Duration::from_secs(39)).await;
        assert!(
            restarted
                .try_update_node_health(&n, None, Instant::now())
                .new_status
                .is_none()
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(
            restarted
                .try_update_node_health(&n, None, Instant::now())
                .new_status
                .is_some()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_node_that_never_posted_gets_the_startup_grace_from_its_creation() {
        let mut lc = Lifecycle::new(cfg());
        let created = util::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let n = json!({"metadata": {"name": "new", "creationTimestamp": created}, "spec": {}, "status": {}});
        let u = lc.try_update_node_health(&n, None, Instant::now());
        assert_eq!(u.grace, Duration::from_secs(60));
        assert!(u.new_status.is_none());
        assert!(u.current_ready.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn taint_decisions_follow_the_observed_condition() {
        let mut lc = Lifecycle::new(cfg());
        let now = Instant::now();
        let mut n = node("m03", "Unknown", "x");
        lc.classify(&[n.clone()], now);
        assert_eq!(
            lc.taint_decision(&n, "True", now),
            TaintDecision::MarkReachable
        );
        assert_eq!(
            lc.taint_decision(&n, "Unknown", now),
            TaintDecision::Queued(true)
        );
        assert_eq!(
            lc.taint_decision(&n, "Unknown", now),
            TaintDecision::Queued(false),
            "queued once"
        );
        // First node in a zone: the full bucket lets it through at once.
        let out = lc.tainting_pass(now);
        assert_eq!(out.len(), 1);
        assert_eq!(
            no_execute_for(Some("Unknown")),
            Some((UNREACHABLE, NOT_READY))
        );
        n["spec"]["taints"] = json!([{"key": UNREACHABLE, "effect": "NoExecute"}]);
        assert_eq!(
            lc.taint_decision(&n, "False", now),
            TaintDecision::Swap {
                add: NOT_READY,
                remove: UNREACHABLE
            }
        );
        // Ready again: forgotten, so a later outage queues it again.
        assert_eq!(
            lc.taint_decision(&n, "True", now),
            TaintDecision::MarkReachable
        );
        assert_eq!(
            lc.taint_decision(&n, "Unknown", now),
            TaintDecision::Queued(true)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn tainting_is_rate_limited_per_zone() {
        let mut lc = Lifecycle::new(cfg());
        let now = Instant::now();
        let a = node("a", "Unknown", "x");
        let b = node("b", "Unknown", "x");
        lc.classify(&[a.clone(), b.clone()], now);
        lc.taint_decision(&a, "Unknown", now);
        lc.taint_decision(&b, "Unknown", now);
        assert_eq!(lc.tainting_pass(now).len(), 1);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(
            lc.tainting_pass(Instant::now()).is_empty(),
            "0.1 nodes/s: the next in 10 s"
        );
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(lc.tainting_pass(Instant::now()).len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn zone_rules() {
        let lc = Lifecycle::new(cfg());
        let s = |v: &[&str]| v.iter().map(|x| Some(x.to_string())).collect::<Vec<_>>();
        // 3 nodes, control plane Ready, both workers down: still Normal (not more than 2 unhealthy).
        assert_eq!(
            lc.compute_zone_state(&s(&["True", "Unknown", "Unknown"])).1,
            ZoneState::Normal
        );
        assert_eq!(
            lc.compute_zone_state(&s(&["Unknown", "Unknown", "Unknown"]))
                .1,
            ZoneState::FullDisruption
        );
        assert_eq!(
            lc.compute_zone_state(&s(&["True", "Unknown", "Unknown", "Unknown"]))
                .1,
            ZoneState::PartialDisruption,
            "3 of 4 unhealthy is over 55 %"
        );
        assert_eq!(
            lc.compute_zone_state(&s(&[
                "True", "True", "True", "Unknown", "Unknown", "Unknown"
            ]))
            .1,
            ZoneState::Normal,
            "3 of 6 is under 55 %"
        );
        let mut lc = Lifecycle::new(cfg());
        let now = Instant::now();
        let nodes: Vec<Value> = (0..4)
            .map(|i| node(&format!("n{i}"), "True", "x"))
            .collect();
        lc.classify(&nodes, now);
        let mut zones = HashMap::new();
        zones.insert(String::new(), s(&["True", "True", "True", "True"]));
        lc.handle_disruption(&zones, &nodes, now);
        assert_eq!(lc.zone_state(""), Some(ZoneState::Normal));
        assert_eq!(lc.zone_qps(""), Some(0.1));
        zones.insert(String::new(), s(&["True", "Unknown", "Unknown", "Unknown"]));
        lc.handle_disruption(&zones, &nodes, now);
        assert_eq!(lc.zone_state(""), Some(ZoneState::PartialDisruption));
        assert_eq!(
            lc.zone_qps(""),
            Some(0.0),
            "small clusters stop tainting in partial disruption"
        );
        zones.insert(
            String::new(),
            s(&["Unknown", "Unknown", "Unknown", "Unknown"]),
        );
        let reachable = lc.handle_disruption(&zones, &nodes, now);
        assert_eq!(lc.zone_state(""), Some(ZoneState::FullDisruption));
        assert_eq!(
            reachable.len(),
            4,
            "full disruption removes every NoExecute taint"
        );
        assert_eq!(lc.zone_qps(""), Some(0.0));
        zones.insert(String::new(), s(&["True", "True", "True", "True"]));
        lc.handle_disruption(&zones, &nodes, now);
        assert_eq!(lc.zone_state(""), Some(ZoneState::Normal));
        assert_eq!(lc.zone_qps(""), Some(0.1));
    }

    #[test]
    fn no_schedule_taints_from_conditions() {
        let mut n = node("m02", "False", "x");
        n["spec"]["unschedulable"] = json!(true);
        assert_eq!(
            no_schedule_taints(&n),
            [NOT_READY, "node.kubernetes.io/unschedulable"]
        );
        let n = node("m02", "Unknown", "x");
        assert_eq!(no_schedule_taints(&n), [UNREACHABLE]);
        assert!(no_schedule_taints(&node("m02", "True", "x")).is_empty());
        let zoned = json!({"metadata": {"labels": {"topology.kubernetes.io/zone": "a", "topology.kubernetes.io/region": "r"}}});
        assert_eq!(zone_key(&zoned), "r:\0:a");
    }
}
