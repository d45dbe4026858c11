//! A scenario's timeline: every transition of the cluster's nodes, pods and events, with when the
//! harness saw it and, where the object carries one, the server's own time of the change; plus the
//! harness's marks ("worker stopped"). It is the source of timing assertions, of the charts in the
//! HTML report, and of the measured values of claims.
//!
//! - [`Timeline`]: the record (cheap to clone), written line by line to `timeline.jsonl` (redacted)
//!   in the scenario's folder, with queries ([`Timeline::first_after`], [`Timeline::since_mark`],
//!   [`Timeline::held_since`]) and probes for the one waiting primitive ([`crate::wait`]).
//! - [`Recorder`]: kube-rs watchers (`kube::runtime::watcher`) on nodes, pods and events of all
//!   namespaces, and node leases (heartbeats), feeding a timeline. A watcher that loses the API
//!   server keeps retrying (200 ms doubling to 5 s) for as long as the scenario lasts; when it gets
//!   a list again it diffs that list against what it knew and records what changed meanwhile as
//!   transitions *observed late*.
//!
//! The state the timeline knows ([`Snapshot`]) is rebuilt from its own entries only, so a snapshot
//! at any past time ([`Timeline::snapshot_at`]) is what the entries say, nothing else.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event as KubeEvent, Node, Pod};
use kube::api::Api;
use kube::runtime::watcher;
use serde::{Deserialize, Serialize};

use crate::redact::Redactor;
use crate::wait::Probe;

/// The file a timeline is written to, in the scenario's folder.
pub const FILE_NAME: &str = "timeline.jsonl";

/// Errors from timeline queries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimelineError {
    /// A query names a mark that was never set.
    #[error(
        "no mark {mark:?} on the timeline (marks so far: {known}): call `lab.mark({mark:?})` when it happens"
    )]
    NoMark {
        /// The mark asked for.
        mark: String,
        /// The marks that exist, comma-separated.
        known: String,
    },
}

/// Where an entry's knowledge came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A watch event, seen as it happened.
    #[default]
    Watch,
    /// The first list of a resource: the state when the recorder started.
    Initial,
    /// A list after the watch was lost (API server away, or its history compacted): the change
    /// happened while the harness was not looking, and was *observed late*.
    Relist,
    /// Written by the harness itself (marks, watch status).
    Harness,
    /// A periodic list of the recorder's polling mode ([`RecorderMode::Poll`], for benchmarks
    /// only): the change happened at most one interval before.
    Poll,
}

/// What an entry is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    /// A node.
    Node {
        /// Its name.
        name: String,
    },
    /// A pod.
    Pod {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// A Kubernetes event object.
    Event {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// One of the recorder's watches.
    Watch {
        /// The resource watched (`nodes`, `pods`, `events`, `leases`).
        resource: String,
    },
    /// The harness (marks).
    Harness,
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Node { name } => write!(f, "node {name}"),
            Self::Pod { namespace, name } => write!(f, "pod {namespace}/{name}"),
            Self::Event { namespace, name } => write!(f, "event {namespace}/{name}"),
            Self::Watch { resource } => write!(f, "watch on {resource}"),
            Self::Harness => f.write_str("harness"),
        }
    }
}

/// A Kubernetes object an event is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Its kind (`Pod`, `Node`, …).
    pub kind: String,
    /// Its namespace (empty for cluster-scoped objects).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// A node object appeared (registered).
    NodeAdded,
    /// A node object was deleted.
    NodeDeleted,
    /// The node's `Ready` condition changed status or reason.
    NodeReady {
        /// `True`, `False` or `Unknown`.
        status: String,
        /// The condition's reason (`KubeletReady`, `NodeStatusUnknown`, …).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// The condition's message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// The node's taints changed; the full set after the change, as `key=value:Effect`.
    NodeTaints {
        /// The taints now.
        taints: Vec<String>,
    },
    /// `spec.unschedulable` changed (cordon/uncordon).
    NodeUnschedulable {
        /// The value now.
        unschedulable: bool,
    },
    /// The node's lease was renewed (the kubelet's heartbeat, every 10 s by default).
    LeaseRenewed,
    /// A pod object appeared.
    PodAdded {
        /// Its node, if already bound.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node: Option<String>,
        /// Its phase, if already set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phase: Option<String>,
        /// The controller that owns it (`ReplicaSet/hello-world-5d8f`), if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<String>,
    },
    /// The pod was bound to a node.
    PodScheduled {
        /// The node.
        node: String,
    },
    /// `status.phase` changed.
    PodPhase {
        /// The phase now (`Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`).
        phase: String,
    },
    /// The pod's `Ready` condition changed.
    PodReady {
        /// Whether it is ready now.
        ready: bool,
    },
    /// The pod got a `deletionTimestamp` (`Terminating` in kubectl).
    PodTerminating {
        /// When the server will delete it (deletion request + grace period).
        deletion_timestamp: Timestamp,
        /// The grace period, in seconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        grace_seconds: Option<i64>,
    },
    /// A container's restart count changed.
    PodRestarts {
        /// The container.
        container: String,
        /// The restart count now.
        restarts: i32,
    },
    /// The pod object is gone.
    PodDeleted,
    /// A Kubernetes event was created or repeated.
    Event {
        /// `Normal` or `Warning`.
        #[serde(rename = "type")]
        type_: String,
        /// Its reason (`NodeNotReady`, `Killing`, …).
        reason: String,
        /// The object it is about.
        object: ObjectRef,
        /// Its message.
        message: String,
        /// How many times it happened so far.
        count: i32,
    },
    /// A harness mark.
    Mark {
        /// Its name.
        name: String,
    },
    /// The watch failed; the recorder keeps retrying.
    WatchLost {
        /// Why (redacted).
        error: String,
    },
    /// The watch works again (after a relist).
    WatchResumed {
        /// How long it was away, in milliseconds.
        away_ms: u64,
    },
    /// The API server does not serve this resource; the recorder stopped watching it.
    WatchUnavailable {
        /// Why.
        error: String,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NodeAdded => f.write_str("added"),
            Self::NodeDeleted => f.write_str("deleted"),
            Self::NodeReady { status, reason, .. } => match reason {
                Some(r) => write!(f, "Ready={status} ({r})"),
                None => write!(f, "Ready={status}"),
            },
            Self::NodeTaints { taints } if taints.is_empty() => f.write_str("no taints"),
            Self::NodeTaints { taints } => write!(f, "taints {}", taints.join(", ")),
            Self::NodeUnschedulable { unschedulable } => write!(f, "unschedulable={unschedulable}"),
            Self::LeaseRenewed => f.write_str("lease renewed"),
            Self::PodAdded { node, phase, .. } => write!(
                f,
                "added ({}, {})",
                phase.as_deref().unwrap_or("no phase"),
                node.as_deref()
                    .map_or("not scheduled".to_string(), |n| format!("on {n}"))
            ),
            Self::PodScheduled { node } => write!(f, "scheduled on {node}"),
            Self::PodPhase { phase } => write!(f, "phase {phase}"),
            Self::PodReady { ready } => write!(f, "ready={ready}"),
            Self::PodTerminating { .. } => f.write_str("Terminating"),
            Self::PodRestarts {
                container,
                restarts,
            } => write!(f, "container {container} restarts={restarts}"),
            Self::PodDeleted => f.write_str("deleted"),
            Self::Event {
                type_,
                reason,
                object,
                message,
                ..
            } => write!(f, "{type_} {reason} on {object}: {message}"),
            Self::Mark { name } => write!(f, "mark {name:?}"),
            Self::WatchLost { error } => write!(f, "lost: {error}"),
            Self::WatchResumed { away_ms } => write!(f, "resumed after {away_ms} ms"),
            Self::WatchUnavailable { error } => write!(f, "unavailable: {error}"),
        }
    }
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// 1-based position.
    pub seq: u64,
    /// When the harness saw it.
    pub observed: Timestamp,
    /// The server's time of the change, where the object carries one (a condition's
    /// `lastTransitionTime`, an event's `eventTime`/`lastTimestamp`, a deletion request, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<Timestamp>,
    /// Where the knowledge came from.
    #[serde(default)]
    pub origin: Origin,
    /// The object's `metadata.resourceVersion` as seen (watch event or list), which names the
    /// write in the API server's audit log (`scripts/bench` matches them for detection latency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// What it is about.
    pub subject: Subject,
    /// What changed.
    pub change: Change,
}

impl Entry {
    /// Whether it was learned after a reconnect (the change happened while the watch was away).
    #[must_use]
    pub fn late(&self) -> bool {
        self.origin == Origin::Relist
    }

    /// The time to judge it by: the server's time when known and `basis` asks for it, else when
    /// the harness saw it.
    #[must_use]
    pub fn time(&self, basis: TimeBasis) -> Timestamp {
        match basis {
            TimeBasis::Server => self.server.unwrap_or(self.observed),
            TimeBasis::Observed => self.observed,
        }
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.observed, self.subject, self.change)?;
        if self.late() {
            f.write_str(" (observed late)")?;
        }
        Ok(())
    }
}

/// Which clock a measurement reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TimeBasis {
    /// When the harness saw the change (watch latency included; always known).
    #[default]
    Observed,
    /// The server's time of the change when the object carries one (whole seconds for
    /// conditions), else when the harness saw it.
    Server,
}

/// A node as the timeline knows it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NodeState {
    /// The `Ready` condition's status (`True`, `False`, `Unknown`), if reported.
    pub ready: Option<String>,
    /// The `Ready` condition's reason.
    pub reason: Option<String>,
    /// Taints as `key=value:Effect`.
    pub taints: Vec<String>,
    /// `spec.unschedulable`.
    pub unschedulable: bool,
    /// Whether the node object is gone.
    pub deleted: bool,
}

/// A pod as the timeline knows it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PodState {
    /// Its node, once bound.
    pub node: Option<String>,
    /// Its phase.
    pub phase: Option<String>,
    /// Its `Ready` condition.
    pub ready: Option<bool>,
    /// Its `deletionTimestamp`, once deletion was requested.
    pub terminating: Option<Timestamp>,
    /// Restart count per container.
    pub restarts: BTreeMap<String, i32>,
    /// Its controller (`ReplicaSet/x`).
    pub owner: Option<String>,
    /// Whether the pod object is gone.
    pub deleted: bool,
}

impl PodState {
    /// What kubectl's STATUS column would mostly say: `Terminating` once deletion is requested,
    /// else the phase.
    #[must_use]
    pub fn status(&self) -> &str {
        if self.deleted {
            "Deleted"
        } else if self.terminating.is_some() {
            "Terminating"
        } else {
            self.phase.as_deref().unwrap_or("Unknown")
        }
    }
}

/// The cluster as the timeline's entries describe it at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Nodes by name.
    pub nodes: BTreeMap<String, NodeState>,
    /// Pods by `(namespace, name)`.
    pub pods: BTreeMap<(String, String), PodState>,
    /// Events by `(namespace, name)`: the count last seen.
    pub events: BTreeMap<(String, String), i32>,
    /// Node lease renew times by node.
    pub leases: BTreeMap<String, Timestamp>,
}

impl Snapshot {
    /// Applies one entry.
    pub fn apply(&mut self, entry: &Entry) {
        match (&entry.subject, &entry.change) {
            (Subject::Node { name }, change) => {
                if matches!(change, Change::LeaseRenewed) {
                    self.leases
                        .insert(name.clone(), entry.server.unwrap_or(entry.observed));
                    return;
                }
                let node = self.nodes.entry(name.clone()).or_default();
                match change {
                    Change::NodeAdded => *node = NodeState::default(),
                    Change::NodeDeleted => node.deleted = true,
                    Change::NodeReady { status, reason, .. } => {
                        node.ready = Some(status.clone());
                        node.reason.clone_from(reason);
                    }
                    Change::NodeTaints { taints } => node.taints.clone_from(taints),
                    Change::NodeUnschedulable { unschedulable } => {
                        node.unschedulable = *unschedulable;
                    }
                    _ => {}
                }
            }
            (Subject::Pod { namespace, name }, change) => {
                let pod = self
                    .pods
                    .entry((namespace.clone(), name.clone()))
                    .or_default();
                match change {
                    Change::PodAdded { node, phase, owner } => {
                        *pod = PodState {
                            node: node.clone(),
                            phase: phase.clone(),
                            owner: owner.clone(),
                            ..PodState::default()
                        };
                    }
                    Change::PodScheduled { node } => pod.node = Some(node.clone()),
                    Change::PodPhase { phase } => pod.phase = Some(phase.clone()),
                    Change::PodReady { ready } => pod.ready = Some(*ready),
                    Change::PodTerminating {
                        deletion_timestamp, ..
                    } => pod.terminating = Some(*deletion_timestamp),
                    Change::PodRestarts {
                        container,
                        restarts,
                    } => {
                        pod.restarts.insert(container.clone(), *restarts);
                    }
                    Change::PodDeleted => pod.deleted = true,
                    _ => {}
                }
            }
            (Subject::Event { namespace, name }, Change::Event { count, .. }) => {
                self.events
                    .insert((namespace.clone(), name.clone()), *count);
            }
            _ => {}
        }
    }

    /// Pods not deleted, optionally only those whose name starts with `prefix`, in `namespace`.
    pub fn live_pods<'a>(
        &'a self,
        namespace: &'a str,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a PodState)> + 'a {
        self.pods
            .iter()
            .filter(move |((ns, name), p)| {
                ns == namespace && name.starts_with(prefix) && !p.deleted
            })
            .map(|((_, name), p)| (name.as_str(), p))
    }
}

/// A change observed on an object, before it becomes an entry: what changed and the server's
/// time of it.
type Observed = (Change, Option<Timestamp>);

/// The `Ready` condition's parts that matter here.
/// A `Ready` condition: status, reason, message, lastTransitionTime.
type ReadyCondition = (String, Option<String>, Option<String>, Option<Timestamp>);

fn node_ready(node: &Node) -> Option<ReadyCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| {
            (
                c.status.clone(),
                c.reason.clone(),
                c.message.clone(),
                c.last_transition_time.as_ref().map(|t| t.0),
            )
        })
}

/// `key=value:Effect` (kubectl describe's form), sorted.
fn node_taints(node: &Node) -> (Vec<String>, Option<Timestamp>) {
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut out: Vec<String> = taints
        .iter()
        .map(|t| match &t.value {
            Some(v) if !v.is_empty() => format!("{}={v}:{}", t.key, t.effect),
            _ => format!("{}:{}", t.key, t.effect),
        })
        .collect();
    out.sort();
    // `timeAdded` is only written for NoExecute taints (core/v1 `Taint.TimeAdded`,
    // staging/src/k8s.io/api/core/v1/types.go); the newest one dates the change.
    let added = taints
        .iter()
        .filter_map(|t| t.time_added.as_ref().map(|t| t.0))
        .max();
    (out, added)
}

/// What changed on a node compared with `before` (`None`: first seen).
#[must_use]
pub fn node_changes(before: Option<&NodeState>, node: &Node) -> Vec<Observed> {
    let mut out = Vec::new();
    let fresh = NodeState::default();
    let before = match before {
        Some(b) if !b.deleted => b,
        _ => {
            out.push((
                Change::NodeAdded,
                node.metadata.creation_timestamp.as_ref().map(|t| t.0),
            ));
            &fresh
        }
    };
    if let Some((status, reason, message, since)) = node_ready(node)
        && (before.ready.as_deref() != Some(status.as_str()) || before.reason != reason)
    {
        out.push((
            Change::NodeReady {
                status,
                reason,
                message,
            },
            since,
        ));
    }
    let (taints, added) = node_taints(node);
    if taints != before.taints {
        out.push((Change::NodeTaints { taints }, added));
    }
    let unschedulable = node
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false);
    if unschedulable != before.unschedulable {
        out.push((Change::NodeUnschedulable { unschedulable }, None));
    }
    out
}

fn condition_time(pod: &Pod, type_: &str) -> Option<Timestamp> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)?
        .last_transition_time
        .as_ref()
        .map(|t| t.0)
}

fn pod_ready(pod: &Pod) -> Option<bool> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status == "True")
}

fn pod_owner(pod: &Pod) -> Option<String> {
    pod.metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|o| o.controller == Some(true))
        .map(|o| format!("{}/{}", o.kind, o.name))
}

/// What changed on a pod compared with `before` (`None`: first seen).
#[must_use]
pub fn pod_changes(before: Option<&PodState>, pod: &Pod) -> Vec<Observed> {
    let mut out = Vec::new();
    let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
    let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
    let fresh;
    let before = match before {
        Some(b) if !b.deleted => b,
        _ => {
            out.push((
                Change::PodAdded {
                    node: node.clone(),
                    phase: phase.clone(),
                    owner: pod_owner(pod),
                },
                pod.metadata.creation_timestamp.as_ref().map(|t| t.0),
            ));
            fresh = PodState {
                node: node.clone(),
                phase: phase.clone(),
                ..PodState::default()
            };
            &fresh
        }
    };
    if let Some(node) = &node
        && before.node.as_ref() != Some(node)
    {
        out.push((
            Change::PodScheduled { node: node.clone() },
            condition_time(pod, "PodScheduled"),
        ));
    }
    if let Some(phase) = &phase
        && before.phase.as_ref() != Some(phase)
    {
        out.push((
            Change::PodPhase {
                phase: phase.clone(),
            },
            None,
        ));
    }
    if let Some(ready) = pod_ready(pod)
        && before.ready != Some(ready)
    {
        out.push((Change::PodReady { ready }, condition_time(pod, "Ready")));
    }
    if let Some(ts) = &pod.metadata.deletion_timestamp
        && before.terminating.is_none()
    {
        let grace = pod.metadata.deletion_grace_period_seconds;
        // The server sets deletionTimestamp = time of the request + grace period
        // (staging/src/k8s.io/apiserver/pkg/registry/rest/delete.go, BeforeDelete).
        let requested =
            grace.and_then(|g| ts.0.checked_sub(jiff::SignedDuration::from_secs(g)).ok());
        out.push((
            Change::PodTerminating {
                deletion_timestamp: ts.0,
                grace_seconds: grace,
            },
            requested,
        ));
    }
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(Vec::as_slice)
        .unwrap_or_default();
    for c in statuses {
        let known = before.restarts.get(&c.name).copied().unwrap_or(0);
        if c.restart_count != known {
            // The restart happened when the new container started.
            let started = c
                .state
                .as_ref()
                .and_then(|s| s.running.as_ref())
                .and_then(|r| r.started_at.as_ref())
                .map(|t| t.0);
            out.push((
                Change::PodRestarts {
                    container: c.name.clone(),
                    restarts: c.restart_count,
                },
                started,
            ));
        }
    }
    out
}

/// The event as an entry's change, if it is new or repeated since `count_before`.
#[must_use]
pub fn event_change(count_before: Option<i32>, event: &KubeEvent) -> Option<Observed> {
    let count = event.count.unwrap_or(1);
    if count_before == Some(count) {
        return None;
    }
    let o = &event.involved_object;
    // Newer reporters set eventTime (events.k8s.io); core/v1 recorders set lastTimestamp.
    let server = event
        .last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or(event.event_time.as_ref().map(|t| t.0))
        .or(event.first_timestamp.as_ref().map(|t| t.0))
        .or(event.metadata.creation_timestamp.as_ref().map(|t| t.0));
    Some((
        Change::Event {
            type_: event.type_.clone().unwrap_or_else(|| "Normal".into()),
            reason: event.reason.clone().unwrap_or_default(),
            object: ObjectRef {
                kind: o.kind.clone().unwrap_or_default(),
                namespace: o.namespace.clone().unwrap_or_default(),
                name: o.name.clone().unwrap_or_default(),
            },
            message: event.message.clone().unwrap_or_default(),
            count,
        },
        server,
    ))
}

struct Writer {
    path: PathBuf,
    file: Option<File>,
    error: Option<String>,
}

impl Writer {
    fn write(&mut self, line: &str) {
        if self.error.is_some() {
            return;
        }
        if self.file.is_none() {
            let opened = self
                .path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| {
                    OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&self.path)
                });
            match opened {
                Ok(f) => self.file = Some(f),
                Err(e) => {
                    self.error = Some(format!("cannot open {}: {e}", self.path.display()));
                    return;
                }
            }
        }
        if let Some(file) = &mut self.file
            && let Err(e) = file.write_all(line.as_bytes()).and_then(|()| file.flush())
        {
            self.error = Some(format!("cannot write {}: {e}", self.path.display()));
        }
    }
}

struct State {
    entries: Vec<Entry>,
    snapshot: Snapshot,
    listed: BTreeSet<String>,
    writer: Option<Writer>,
}

struct Inner {
    state: Mutex<State>,
    redactor: Redactor,
    /// Signalled at every cluster change recorded ([`Timeline::changed`]).
    changed: tokio::sync::Notify,
}

/// A scenario's timeline. Cheap to clone; clones share the record.
#[derive(Clone)]
pub struct Timeline {
    inner: Arc<Inner>,
}

impl fmt::Debug for Timeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("Timeline")
            .field("entries", &state.entries.len())
            .field("nodes", &state.snapshot.nodes.len())
            .field("pods", &state.snapshot.pods.len())
            .field("file", &state.writer.as_ref().map(|w| w.path.clone()))
            .finish()
    }
}

impl Timeline {
    /// A timeline written to `dir/timeline.jsonl` (created on the first entry), every line
    /// redacted with `redactor`.
    #[must_use]
    pub fn new(dir: &Path, redactor: Redactor) -> Self {
        Self::build(
            Some(Writer {
                path: dir.join(FILE_NAME),
                file: None,
                error: None,
            }),
            redactor,
        )
    }

    /// A timeline kept in memory only (tests, tools).
    #[must_use]
    pub fn in_memory() -> Self {
        Self::build(None, Redactor::new())
    }

    fn build(writer: Option<Writer>, redactor: Redactor) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    entries: Vec::new(),
                    snapshot: Snapshot::default(),
                    listed: BTreeSet::new(),
                    writer,
                }),
                redactor,
                changed: tokio::sync::Notify::new(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Where it is written, if anywhere.
    #[must_use]
    pub fn path(&self) -> Option<PathBuf> {
        self.state().writer.as_ref().map(|w| w.path.clone())
    }

    /// Why it could not be written, if it could not.
    #[must_use]
    pub fn write_error(&self) -> Option<String> {
        self.state().writer.as_ref().and_then(|w| w.error.clone())
    }

    /// Appends one entry now (and writes it).
    pub fn record(
        &self,
        subject: Subject,
        change: Change,
        server: Option<Timestamp>,
        origin: Origin,
    ) -> Entry {
        self.record_at(Timestamp::now(), subject, change, server, origin)
    }

    /// Appends one entry observed at `observed` (tests build timelines with chosen times).
    pub fn record_at(
        &self,
        observed: Timestamp,
        subject: Subject,
        change: Change,
        server: Option<Timestamp>,
        origin: Origin,
    ) -> Entry {
        self.append(observed, subject, change, server, origin, None)
    }

    fn append(
        &self,
        observed: Timestamp,
        subject: Subject,
        change: Change,
        server: Option<Timestamp>,
        origin: Origin,
        resource_version: Option<&str>,
    ) -> Entry {
        let mut state = self.state();
        let entry = Entry {
            seq: state.entries.len() as u64 + 1,
            observed,
            server,
            origin,
            resource_version: resource_version.map(str::to_string),
            subject,
            change,
        };
        state.snapshot.apply(&entry);
        if let Some(writer) = &mut state.writer {
            let mut line = self.inner.redactor.redacted_json_line(&entry);
            line.push('\n');
            writer.write(&line);
        }
        state.entries.push(entry.clone());
        drop(state);
        // Heartbeats and the harness's own marks change nothing a wait looks for.
        if !matches!(entry.origin, Origin::Harness) && !matches!(entry.change, Change::LeaseRenewed)
        {
            self.inner.changed.notify_waiters();
        }
        entry
    }

    /// Resolves at the next cluster change recorded after this call (not lease renewals, not
    /// marks): the change signal for [`crate::wait::Wait::poll_waking`] of a wait that reads the
    /// timeline or the cluster, so that it looks again as soon as the recorder saw something.
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.inner.changed.notified()
    }

    /// Records a harness mark now and returns its time.
    pub fn mark(&self, name: &str) -> Timestamp {
        self.record(
            Subject::Harness,
            Change::Mark { name: name.into() },
            None,
            Origin::Harness,
        )
        .observed
    }

    /// When `name` was last marked.
    ///
    /// # Errors
    /// [`TimelineError::NoMark`] when it never was.
    pub fn mark_time(&self, name: &str) -> Result<Timestamp, TimelineError> {
        let state = self.state();
        state
            .entries
            .iter()
            .rev()
            .find(|e| matches!(&e.change, Change::Mark { name: n } if n == name))
            .map(|e| e.observed)
            .ok_or_else(|| TimelineError::NoMark {
                mark: name.to_string(),
                known: marks_of(&state.entries).join(", "),
            })
    }

    /// Every entry so far.
    #[must_use]
    pub fn entries(&self) -> Vec<Entry> {
        self.state().entries.clone()
    }

    /// The state now.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        self.state().snapshot.clone()
    }

    /// The state the entries observed up to and including `at` describe.
    #[must_use]
    pub fn snapshot_at(&self, at: Timestamp) -> Snapshot {
        let mut snap = Snapshot::default();
        for e in self.state().entries.iter().filter(|e| e.observed <= at) {
            snap.apply(e);
        }
        snap
    }

    /// The first entry after mark `mark` that `query` matches.
    ///
    /// # Errors
    /// [`TimelineError::NoMark`] when the mark was never set.
    pub fn first_after(&self, mark: &str, query: &Query) -> Result<Option<Entry>, TimelineError> {
        let since = self.mark_time(mark)?;
        Ok(self
            .state()
            .entries
            .iter()
            .find(|e| e.observed >= since && query.matches(e))
            .cloned())
    }

    /// Every entry after mark `mark` that `query` matches.
    ///
    /// # Errors
    /// [`TimelineError::NoMark`] when the mark was never set.
    pub fn all_after(&self, mark: &str, query: &Query) -> Result<Vec<Entry>, TimelineError> {
        let since = self.mark_time(mark)?;
        Ok(self
            .state()
            .entries
            .iter()
            .filter(|e| e.observed >= since && query.matches(e))
            .cloned()
            .collect())
    }

    /// How long after mark `mark` the first transition matching `query` came, on `basis`'s clock
    /// (a server time earlier than the mark counts as zero: the clocks are not the same).
    ///
    /// # Errors
    /// [`TimelineError::NoMark`] when the mark was never set.
    pub fn since_mark(
        &self,
        mark: &str,
        query: &Query,
        basis: TimeBasis,
    ) -> Result<Option<Duration>, TimelineError> {
        let since = self.mark_time(mark)?;
        Ok(self
            .first_after(mark, query)?
            .map(|e| duration_between(since, e.time(basis))))
    }

    /// Checks that `query` held at mark `mark` and after every entry since; returns the first
    /// entry after which it did not (with what the query said), if any.
    ///
    /// # Errors
    /// [`TimelineError::NoMark`] when the mark was never set.
    pub fn held_since(
        &self,
        mark: &str,
        query: &StateQuery,
    ) -> Result<Result<(), (Option<Entry>, String)>, TimelineError> {
        let since = self.mark_time(mark)?;
        let state = self.state();
        let mut snap = Snapshot::default();
        let mut entries = state.entries.iter().peekable();
        while let Some(e) = entries.next_if(|e| e.observed < since) {
            snap.apply(e);
        }
        if let Err(why) = (query.test)(&snap) {
            return Ok(Err((None, why)));
        }
        for e in entries {
            snap.apply(e);
            if let Err(why) = (query.test)(&snap) {
                return Ok(Err((Some(e.clone()), why)));
            }
        }
        Ok(Ok(()))
    }

    /// A probe for [`crate::wait::Wait::poll`]: holds (with the entry) once a transition matching
    /// `query` is on the timeline after mark `mark`.
    pub fn transition_probe<'a>(
        &'a self,
        mark: &'a str,
        query: &'a Query,
    ) -> impl FnMut() -> std::future::Ready<Result<Probe<Entry>, TimelineError>> + 'a {
        move || {
            std::future::ready(self.first_after(mark, query).map(|found| match found {
                Some(e) => Probe::Holds(e),
                None => Probe::Fails(self.describe_recent(query.what())),
            }))
        }
    }

    /// A probe for [`crate::wait::Wait::poll`] with [`crate::wait::Expect::StaysFor`]: holds
    /// while `query` has held since mark `mark` (checked on every entry, so a short break between
    /// two looks is caught too).
    pub fn stays_probe<'a>(
        &'a self,
        mark: &'a str,
        query: &'a StateQuery,
    ) -> impl FnMut() -> std::future::Ready<Result<Probe<()>, TimelineError>> + 'a {
        move || {
            std::future::ready(self.held_since(mark, query).map(|held| match held {
                Ok(()) => Probe::Holds(()),
                Err((Some(e), why)) => Probe::Fails(format!("{why} (after {e})")),
                Err((None, why)) => Probe::Fails(format!("{why} (already at mark {mark:?})")),
            }))
        }
    }

    /// The last few entries, for "last seen" in a timeout message.
    fn describe_recent(&self, what: &str) -> String {
        let state = self.state();
        let recent: Vec<String> = state
            .entries
            .iter()
            .rev()
            .filter(|e| !matches!(e.change, Change::LeaseRenewed))
            .take(3)
            .map(ToString::to_string)
            .collect();
        if recent.is_empty() {
            format!("no transition matching {what} yet; the timeline is empty")
        } else {
            format!(
                "no transition matching {what} yet; latest: {}",
                recent.join("; ")
            )
        }
    }

    /// The recorder's view: has `resource` been listed before?
    fn take_first_list(&self, resource: &str) -> bool {
        self.state().listed.insert(resource.to_string())
    }

    /// Records the changes on `subject` (already diffed) with `origin`, seen at the object's
    /// `resource_version`.
    fn record_all(
        &self,
        subject: &Subject,
        changes: Vec<Observed>,
        origin: Origin,
        resource_version: Option<&str>,
    ) {
        let observed = Timestamp::now();
        for (change, server) in changes {
            self.append(
                observed,
                subject.clone(),
                change,
                server,
                origin,
                resource_version,
            );
        }
    }

    /// Intervals between successive lease renewals of `node` (its heartbeats), from the server's
    /// renew times.
    #[must_use]
    pub fn heartbeat_intervals(&self, node: &str) -> Vec<Duration> {
        let state = self.state();
        let times: Vec<Timestamp> = state
            .entries
            .iter()
            .filter(|e| {
                matches!(e.change, Change::LeaseRenewed)
                    && matches!(&e.subject, Subject::Node { name } if name == node)
            })
            .map(|e| e.server.unwrap_or(e.observed))
            .collect();
        times
            .windows(2)
            .map(|w| duration_between(w[0], w[1]))
            .collect()
    }
}

fn marks_of(entries: &[Entry]) -> Vec<String> {
    let mut marks: Vec<String> = entries
        .iter()
        .filter_map(|e| match &e.change {
            Change::Mark { name } => Some(format!("{name:?}")),
            _ => None,
        })
        .collect();
    marks.dedup();
    if marks.is_empty() {
        marks.push("none".into());
    }
    marks
}

/// `to - from`, zero when `to` is earlier.
#[must_use]
pub fn duration_between(from: Timestamp, to: Timestamp) -> Duration {
    Duration::try_from(to.duration_since(from)).unwrap_or(Duration::ZERO)
}

/// A named test on one entry: "which transition".
#[derive(Clone)]
pub struct Query {
    what: String,
    test: Arc<dyn Fn(&Entry) -> bool + Send + Sync>,
}

impl fmt::Debug for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

impl Query {
    /// A query described as `what`, matching entries for which `test` is true.
    pub fn new(
        what: impl Into<String>,
        test: impl Fn(&Entry) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self {
            what: what.into(),
            test: Arc::new(test),
        }
    }

    /// What it matches, in words.
    #[must_use]
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Whether `entry` matches.
    #[must_use]
    pub fn matches(&self, entry: &Entry) -> bool {
        (self.test)(entry)
    }

    /// Node `node`'s `Ready` condition becomes `status` (`True`, `False`, `Unknown`).
    #[must_use]
    pub fn node_ready(node: &str, status: &str) -> Self {
        let (n, s) = (node.to_string(), status.to_string());
        Self::new(format!("node {node} Ready={status}"), move |e| {
            matches!(&e.subject, Subject::Node { name } if *name == n)
                && matches!(&e.change, Change::NodeReady { status, .. } if *status == s)
        })
    }

    /// Node `node` stops being Ready (`False` or `Unknown`: kubectl's `NotReady`).
    #[must_use]
    pub fn node_not_ready(node: &str) -> Self {
        let n = node.to_string();
        Self::new(format!("node {node} NotReady"), move |e| {
            matches!(&e.subject, Subject::Node { name } if *name == n)
                && matches!(&e.change, Change::NodeReady { status, .. } if status != "True")
        })
    }

    /// Node `node` gets a taint with `key` and `effect` (`NoSchedule`, `NoExecute`).
    #[must_use]
    pub fn node_tainted(node: &str, key: &str, effect: &str) -> Self {
        let n = node.to_string();
        let suffix = format!(":{effect}");
        let (k1, k2) = (format!("{key}:"), format!("{key}="));
        Self::new(format!("node {node} tainted {key}:{effect}"), move |e| {
            matches!(&e.subject, Subject::Node { name } if *name == n)
                && matches!(&e.change, Change::NodeTaints { taints } if taints.iter().any(|t| (t.starts_with(&k1) || t.starts_with(&k2)) && t.ends_with(&suffix)))
        })
    }

    /// A pod in `namespace` whose name starts with `prefix` is marked for deletion (Terminating).
    #[must_use]
    pub fn pod_terminating(namespace: &str, prefix: &str) -> Self {
        let (ns, p) = (namespace.to_string(), prefix.to_string());
        Self::new(
            format!("a pod {namespace}/{prefix}* Terminating"),
            move |e| {
                matches!(&e.subject, Subject::Pod { namespace, name } if *namespace == ns && name.starts_with(&p))
                    && matches!(e.change, Change::PodTerminating { .. })
            },
        )
    }

    /// A pod in `namespace` whose name starts with `prefix` reaches `phase`.
    #[must_use]
    pub fn pod_phase(namespace: &str, prefix: &str, phase: &str) -> Self {
        let (ns, p, ph) = (namespace.to_string(), prefix.to_string(), phase.to_string());
        Self::new(format!("a pod {namespace}/{prefix}* {phase}"), move |e| {
            matches!(&e.subject, Subject::Pod { namespace, name } if *namespace == ns && name.starts_with(&p))
                && matches!(&e.change, Change::PodPhase { phase } if *phase == ph)
        })
    }

    /// A pod in `namespace` whose name starts with `prefix` is scheduled on `node`.
    #[must_use]
    pub fn pod_scheduled_on(namespace: &str, prefix: &str, node: &str) -> Self {
        let (ns, p, n) = (namespace.to_string(), prefix.to_string(), node.to_string());
        Self::new(
            format!("a pod {namespace}/{prefix}* scheduled on {node}"),
            move |e| {
                matches!(&e.subject, Subject::Pod { namespace, name } if *namespace == ns && name.starts_with(&p))
                    && matches!(&e.change, Change::PodScheduled { node } if *node == n)
            },
        )
    }

    /// An event with `reason` about an object named `object` (any kind).
    #[must_use]
    pub fn event(reason: &str, object: &str) -> Self {
        let (r, o) = (reason.to_string(), object.to_string());
        Self::new(
            format!("event {reason} on {object}"),
            move |e| matches!(&e.change, Change::Event { reason, object, .. } if *reason == r && object.name == o),
        )
    }
}

/// The test of a [`StateQuery`].
type StateTest = dyn Fn(&Snapshot) -> Result<(), String> + Send + Sync;

/// A named test on the cluster's state: "what must stay true". The test returns `Err` with what
/// it saw instead.
#[derive(Clone)]
pub struct StateQuery {
    what: String,
    test: Arc<StateTest>,
}

impl fmt::Debug for StateQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

impl StateQuery {
    /// A state test described as `what`.
    pub fn new(
        what: impl Into<String>,
        test: impl Fn(&Snapshot) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        Self {
            what: what.into(),
            test: Arc::new(test),
        }
    }

    /// What must hold, in words.
    #[must_use]
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Checks `snapshot`.
    ///
    /// # Errors
    /// What was seen instead, when it does not hold.
    pub fn check(&self, snapshot: &Snapshot) -> Result<(), String> {
        (self.test)(snapshot)
    }

    /// Every pod in `namespace` whose name starts with `prefix` stays on the node it is on, and
    /// none is added or deleted: "nothing is rescheduled". `placement` is the expected
    /// pod → node map (usually read from a snapshot at the mark).
    #[must_use]
    pub fn pods_stay_put(
        namespace: &str,
        prefix: &str,
        placement: BTreeMap<String, String>,
    ) -> Self {
        let (ns, p) = (namespace.to_string(), prefix.to_string());
        Self::new(
            format!("the pods {namespace}/{prefix}* stay where they are"),
            move |snap| {
                let now: BTreeMap<String, String> = snap
                    .live_pods(&ns, &p)
                    .map(|(name, pod)| (name.to_string(), pod.node.clone().unwrap_or_default()))
                    .collect();
                if now == placement {
                    Ok(())
                } else {
                    Err(format!("placement changed from {placement:?} to {now:?}"))
                }
            },
        )
    }

    /// Node `node`'s `Ready` condition is `status`.
    #[must_use]
    pub fn node_ready_is(node: &str, status: &str) -> Self {
        let (n, s) = (node.to_string(), status.to_string());
        Self::new(
            format!("node {node} stays Ready={status}"),
            move |snap| match snap.nodes.get(&n).and_then(|x| x.ready.as_deref()) {
                Some(r) if r == s => Ok(()),
                other => Err(format!(
                    "node {n} Ready={}",
                    other.unwrap_or("not reported")
                )),
            },
        )
    }

    /// A pod in `namespace` whose name starts with `prefix` on `node` is Running and not
    /// Terminating.
    #[must_use]
    pub fn pod_running_on(namespace: &str, prefix: &str, node: &str) -> Self {
        let (ns, p, n) = (namespace.to_string(), prefix.to_string(), node.to_string());
        Self::new(
            format!("a pod {namespace}/{prefix}* stays Running on {node}"),
            move |snap| {
                let on_node: Vec<(&str, &PodState)> = snap
                    .live_pods(&ns, &p)
                    .filter(|(_, pod)| pod.node.as_deref() == Some(n.as_str()))
                    .collect();
                if on_node.iter().any(|(_, pod)| pod.status() == "Running") {
                    Ok(())
                } else {
                    let seen: Vec<String> = on_node
                        .iter()
                        .map(|(name, pod)| format!("{name} {}", pod.status()))
                        .collect();
                    Err(format!(
                        "on {n}: {}",
                        if seen.is_empty() {
                            "no such pod".to_string()
                        } else {
                            seen.join(", ")
                        }
                    ))
                }
            },
        )
    }
}

/// One kind of object the recorder watches.
trait Watched:
    kube::Resource<DynamicType = ()>
    + Clone
    + serde::de::DeserializeOwned
    + fmt::Debug
    + Send
    + Sync
    + 'static
{
    /// The resource name, for watch entries.
    const RESOURCE: &'static str;
    /// The entry subject for `obj`, or `None` to ignore it.
    fn subject(obj: &Self) -> Option<Subject>;
    /// The changes compared with the snapshot.
    fn changes(snap: &Snapshot, subject: &Subject, obj: &Self) -> Vec<Observed>;
    /// The change recording the object's deletion, if it matters.
    fn deleted() -> Option<Change>;
    /// Whether the snapshot knows `subject` as live (for deletions found by a relist).
    fn live(snap: &Snapshot) -> Vec<Subject>;
}

impl Watched for Node {
    const RESOURCE: &'static str = "nodes";
    fn subject(obj: &Self) -> Option<Subject> {
        Some(Subject::Node {
            name: obj.metadata.name.clone()?,
        })
    }
    fn changes(snap: &Snapshot, subject: &Subject, obj: &Self) -> Vec<Observed> {
        let Subject::Node { name } = subject else {
            return Vec::new();
        };
        node_changes(snap.nodes.get(name), obj)
    }
    fn deleted() -> Option<Change> {
        Some(Change::NodeDeleted)
    }
    fn live(snap: &Snapshot) -> Vec<Subject> {
        snap.nodes
            .iter()
            .filter(|(_, n)| !n.deleted)
            .map(|(name, _)| Subject::Node { name: name.clone() })
            .collect()
    }
}

impl Watched for Pod {
    const RESOURCE: &'static str = "pods";
    fn subject(obj: &Self) -> Option<Subject> {
        Some(Subject::Pod {
            namespace: obj.metadata.namespace.clone()?,
            name: obj.metadata.name.clone()?,
        })
    }
    fn changes(snap: &Snapshot, subject: &Subject, obj: &Self) -> Vec<Observed> {
        let Subject::Pod { namespace, name } = subject else {
            return Vec::new();
        };
        pod_changes(snap.pods.get(&(namespace.clone(), name.clone())), obj)
    }
    fn deleted() -> Option<Change> {
        Some(Change::PodDeleted)
    }
    fn live(snap: &Snapshot) -> Vec<Subject> {
        snap.pods
            .iter()
            .filter(|(_, p)| !p.deleted)
            .map(|((namespace, name), _)| Subject::Pod {
                namespace: namespace.clone(),
                name: name.clone(),
            })
            .collect()
    }
}

impl Watched for KubeEvent {
    const RESOURCE: &'static str = "events";
    fn subject(obj: &Self) -> Option<Subject> {
        Some(Subject::Event {
            namespace: obj.metadata.namespace.clone().unwrap_or_default(),
            name: obj.metadata.name.clone()?,
        })
    }
    fn changes(snap: &Snapshot, subject: &Subject, obj: &Self) -> Vec<Observed> {
        let Subject::Event { namespace, name } = subject else {
            return Vec::new();
        };
        event_change(
            snap.events.get(&(namespace.clone(), name.clone())).copied(),
            obj,
        )
        .into_iter()
        .collect()
    }
    fn deleted() -> Option<Change> {
        // Events expire (--event-ttl); that is not a transition of the cluster.
        None
    }
    fn live(_: &Snapshot) -> Vec<Subject> {
        Vec::new()
    }
}

impl Watched for Lease {
    const RESOURCE: &'static str = "leases";
    fn subject(obj: &Self) -> Option<Subject> {
        // Node leases live in kube-node-lease and are named after their node
        // (pkg/kubelet/nodelease, kube-node-lease namespace).
        Some(Subject::Node {
            name: obj.metadata.name.clone()?,
        })
    }
    fn changes(snap: &Snapshot, subject: &Subject, obj: &Self) -> Vec<Observed> {
        let Subject::Node { name } = subject else {
            return Vec::new();
        };
        let Some(renewed) = obj
            .spec
            .as_ref()
            .and_then(|s| s.renew_time.as_ref())
            .map(|t| t.0)
        else {
            return Vec::new();
        };
        if snap.leases.get(name) == Some(&renewed) {
            Vec::new()
        } else {
            vec![(Change::LeaseRenewed, Some(renewed))]
        }
    }
    fn deleted() -> Option<Change> {
        None
    }
    fn live(_: &Snapshot) -> Vec<Subject> {
        Vec::new()
    }
}

/// First and largest delay between attempts to get a watch back.
const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// How the recorder learns of changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecorderMode {
    /// Watches (the default): each change as the API server sends it.
    Watch,
    /// A full list every interval, diffed against the last one: what a harness that polls
    /// would see. For benchmarks only (`scripts/bench` compares it with watching); a change
    /// undone within one interval is missed, and a transition is seen up to one interval late.
    Poll(Duration),
}

impl RecorderMode {
    /// The variable that selects polling: `K8S_LABS_TIMELINE_POLL_MS=1000` polls every second.
    pub const ENV: &str = "K8S_LABS_TIMELINE_POLL_MS";

    /// [`RecorderMode::Poll`] when [`RecorderMode::ENV`] holds a positive number of
    /// milliseconds, else [`RecorderMode::Watch`].
    #[must_use]
    pub fn from_env() -> Self {
        Self::from_value(std::env::var(Self::ENV).ok().as_deref())
    }

    /// The mode a value of [`RecorderMode::ENV`] selects: a positive number of milliseconds
    /// polls, anything else (or nothing) watches.
    #[must_use]
    pub fn from_value(value: Option<&str>) -> Self {
        value
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|ms| *ms > 0)
            .map_or(Self::Watch, |ms| Self::Poll(Duration::from_millis(ms)))
    }
}

/// The watchers feeding one timeline. Dropping it stops them.
#[derive(Debug)]
pub struct Recorder {
    tasks: Vec<Task>,
    /// How many watchers have recorded their first full list.
    synced: tokio::sync::watch::Receiver<usize>,
}

type Task = tokio::task::JoinHandle<()>;

impl Drop for Recorder {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Recorder {
    /// Starts watching nodes, pods and events (all namespaces) and node leases through `client`,
    /// recording into `timeline`, in the mode [`RecorderMode::from_env`] says (watching unless
    /// a benchmark asks for polling). Must be called inside a tokio runtime.
    #[must_use]
    pub fn start(client: &kube::Client, timeline: &Timeline) -> Self {
        Self::start_with(client, timeline, RecorderMode::from_env())
    }

    /// [`Recorder::start`] in a chosen mode.
    #[must_use]
    pub fn start_with(client: &kube::Client, timeline: &Timeline, mode: RecorderMode) -> Self {
        type Synced = tokio::sync::watch::Sender<usize>;
        fn spawn<K: Watched>(
            api: Api<K>,
            timeline: &Timeline,
            mode: RecorderMode,
            synced: &Synced,
        ) -> Task {
            match mode {
                RecorderMode::Watch => {
                    tokio::spawn(watch_loop::<K>(api, timeline.clone(), synced.clone()))
                }
                RecorderMode::Poll(every) => {
                    tokio::spawn(poll_loop::<K>(api, timeline.clone(), every, synced.clone()))
                }
            }
        }
        let (count, synced) = tokio::sync::watch::channel(0usize);
        let tasks = vec![
            spawn::<Node>(Api::all(client.clone()), timeline, mode, &count),
            spawn::<Pod>(Api::all(client.clone()), timeline, mode, &count),
            spawn::<KubeEvent>(Api::all(client.clone()), timeline, mode, &count),
            spawn::<Lease>(
                Api::namespaced(client.clone(), "kube-node-lease"),
                timeline,
                mode,
                &count,
            ),
        ];
        Self { tasks, synced }
    }

    /// Waits up to `budget` until every watcher has recorded its first list (the objects that
    /// existed when it started, origin `initial`): marks set afterwards come after them. Returns
    /// whether they all did.
    pub async fn synced(&self, budget: Duration) -> bool {
        let all = self.tasks.len();
        let mut synced = self.synced.clone();
        matches!(
            tokio::time::timeout(budget, synced.wait_for(|n| *n >= all)).await,
            Ok(Ok(_))
        )
    }

    /// Stops the watchers.
    pub fn stop(self) {
        drop(self);
    }
}

fn watch_subject<K: Watched>() -> Subject {
    Subject::Watch {
        resource: K::RESOURCE.to_string(),
    }
}

/// What a watch or poll loop of `K` records besides the objects themselves: the watch lost,
/// resumed or not served, and its first complete list (counted for [`Recorder::synced`]).
struct LoopState<K> {
    timeline: Timeline,
    synced: tokio::sync::watch::Sender<usize>,
    first_list: bool,
    lost: Option<Timestamp>,
    kind: std::marker::PhantomData<fn() -> K>,
}

impl<K: Watched> LoopState<K> {
    fn new(timeline: Timeline, synced: tokio::sync::watch::Sender<usize>) -> Self {
        Self {
            timeline,
            synced,
            first_list: true,
            lost: None,
            kind: std::marker::PhantomData,
        }
    }

    fn record(&self, change: Change) {
        self.timeline
            .record(watch_subject::<K>(), change, None, Origin::Harness);
    }

    /// A complete list: the watch is back if it was lost, the list is diffed in, and the first
    /// one counts as synced.
    fn listed(&mut self, items: Vec<K>, origin: Origin) {
        if let Some(since) = self.lost.take() {
            let away = duration_between(since, Timestamp::now());
            self.record(Change::WatchResumed {
                away_ms: u64::try_from(away.as_millis()).unwrap_or(u64::MAX),
            });
        }
        relist(&self.timeline, items, origin);
        self.count_first_list();
    }

    /// A failure: recorded once until the next complete list.
    fn lost(&mut self, error: &dyn fmt::Display) {
        if self.lost.is_none() {
            self.lost = Some(Timestamp::now());
            self.record(Change::WatchLost {
                error: error.to_string(),
            });
        }
    }

    /// The API server does not serve `K`: nothing to list, so the recorder is as synced as it
    /// will get.
    fn unavailable(&mut self, error: &dyn fmt::Display) {
        self.record(Change::WatchUnavailable {
            error: error.to_string(),
        });
        self.count_first_list();
    }

    fn count_first_list(&mut self) {
        if std::mem::take(&mut self.first_list) {
            self.synced.send_modify(|n| *n += 1);
        }
    }
}

/// Lists and watches `K` until aborted; after any failure, lists again and diffs.
async fn watch_loop<K: Watched>(
    api: Api<K>,
    timeline: Timeline,
    synced: tokio::sync::watch::Sender<usize>,
) {
    let mut state = LoopState::<K>::new(timeline, synced);
    let mut delay = RETRY_FIRST;
    loop {
        let mut stream = watcher(api.clone(), watcher::Config::default()).boxed();
        let mut listed: Vec<K> = Vec::new();
        loop {
            match stream.try_next().await {
                Ok(Some(watcher::Event::Init)) => listed.clear(),
                Ok(Some(watcher::Event::InitApply(obj))) => listed.push(obj),
                Ok(Some(watcher::Event::InitDone)) => {
                    state.listed(std::mem::take(&mut listed), Origin::Relist);
                    delay = RETRY_FIRST;
                }
                Ok(Some(watcher::Event::Apply(obj))) => {
                    observe(&state.timeline, &obj, Origin::Watch);
                }
                Ok(Some(watcher::Event::Delete(obj))) => {
                    if let (Some(subject), Some(change)) = (K::subject(&obj), K::deleted()) {
                        state.timeline.append(
                            Timestamp::now(),
                            subject,
                            change,
                            None,
                            Origin::Watch,
                            obj.meta().resource_version.as_deref(),
                        );
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    if is_not_served(&e) {
                        state.unavailable(&e);
                        return;
                    }
                    state.lost(&e);
                    break;
                }
            }
        }
        drop(stream);
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(RETRY_MAX);
    }
}

/// Lists `K` every `every` until aborted and records what changed since the last list
/// ([`RecorderMode::Poll`]); a failed list is recorded as the watch lost, the next good one as
/// resumed.
async fn poll_loop<K: Watched>(
    api: Api<K>,
    timeline: Timeline,
    every: Duration,
    synced: tokio::sync::watch::Sender<usize>,
) {
    let mut state = LoopState::<K>::new(timeline, synced);
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match api.list(&kube::api::ListParams::default()).await {
            Ok(list) => state.listed(list.items, Origin::Poll),
            Err(kube::Error::Api(s)) if s.code == 404 => {
                state.unavailable(&s);
                return;
            }
            Err(e) => state.lost(&e),
        }
    }
}

/// A 404 on the list: the API server does not serve the resource at all.
fn is_not_served(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s)) => s.code == 404,
        _ => false,
    }
}

fn observe<K: Watched>(timeline: &Timeline, obj: &K, origin: Origin) {
    let Some(subject) = K::subject(obj) else {
        return;
    };
    let changes = {
        let state = timeline.state();
        K::changes(&state.snapshot, &subject, obj)
    };
    let resource_version = obj.meta().resource_version.as_deref();
    timeline.record_all(&subject, changes, origin, resource_version);
}

/// A complete list: the first one records the state as found; later ones record what changed
/// since the last one, deletions included, with origin `later` (a watch's relist: observed late;
/// the polling mode: polled).
fn relist<K: Watched>(timeline: &Timeline, objects: Vec<K>, later: Origin) {
    let origin = if timeline.take_first_list(K::RESOURCE) {
        Origin::Initial
    } else {
        later
    };
    let mut seen = BTreeSet::new();
    for obj in &objects {
        if let Some(subject) = K::subject(obj) {
            seen.insert(subject);
        }
        observe(timeline, obj, origin);
    }
    if let Some(change) = K::deleted() {
        let gone: Vec<Subject> = {
            let state = timeline.state();
            K::live(&state.snapshot)
                .into_iter()
                .filter(|s| !seen.contains(s))
                .collect()
        };
        for subject in gone {
            timeline.record(subject, change.clone(), None, origin);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(json: serde_json::Value) -> Node {
        serde_json::from_value(json).unwrap()
    }

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn node_transitions_carry_the_conditions_time() {
        let ready = node(serde_json::json!({
            "metadata": {"name": "m03", "creationTimestamp": "2026-01-28T05:00:00Z"},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                "lastTransitionTime": "2026-01-28T05:00:10Z"}]}
        }));
        let first = node_changes(None, &ready);
        assert_eq!(
            first,
            vec![
                (Change::NodeAdded, Some(ts("2026-01-28T05:00:00Z"))),
                (
                    Change::NodeReady {
                        status: "True".into(),
                        reason: Some("KubeletReady".into()),
                        message: None
                    },
                    Some(ts("2026-01-28T05:00:10Z"))
                ),
            ]
        );
        let state = NodeState {
            ready: Some("True".into()),
            reason: Some("KubeletReady".into()),
            ..NodeState::default()
        };
        assert!(
            node_changes(Some(&state), &ready).is_empty(),
            "nothing changed"
        );

        // What the node lifecycle controller writes after the grace period
        // (pkg/controller/nodelifecycle/node_lifecycle_controller.go).
        let unknown = node(serde_json::json!({
            "metadata": {"name": "m03"},
            "spec": {"taints": [
                {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
                {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": "2026-01-28T05:01:02Z"}]},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                "message": "Kubelet stopped posting node status.", "lastTransitionTime": "2026-01-28T05:01:01Z"}]}
        }));
        let changes = node_changes(Some(&state), &unknown);
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(changes[0].1, Some(ts("2026-01-28T05:01:01Z")));
        assert_eq!(
            changes[1],
            (
                Change::NodeTaints {
                    taints: vec![
                        "node.kubernetes.io/unreachable:NoExecute".into(),
                        "node.kubernetes.io/unreachable:NoSchedule".into()
                    ]
                },
                Some(ts("2026-01-28T05:01:02Z"))
            )
        );
    }

    #[test]
    fn pod_transitions_cover_scheduling_phase_readiness_deletion_and_restarts() {
        let running = pod(serde_json::json!({
            "metadata": {"name": "hello-world-5d8f-abcde", "namespace": "default",
                "creationTimestamp": "2026-01-28T05:00:00Z",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "hello-world-5d8f", "uid": "u", "controller": true}]},
            "spec": {"nodeName": "m02", "containers": [{"name": "app"}]},
            "status": {"phase": "Running",
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-28T05:00:05Z"},
                               {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-01-28T05:00:01Z"}],
                "containerStatuses": [{"name": "app", "image": "podinfo", "imageID": "", "ready": true, "restartCount": 0}]}
        }));
        let first = pod_changes(None, &running);
        let kinds: Vec<String> = first.iter().map(|(c, _)| c.to_string()).collect();
        assert_eq!(
            kinds,
            ["added (Running, on m02)", "ready=true"],
            "{first:?}"
        );

        let mut snap = Snapshot::default();
        let tl = Timeline::in_memory();
        let subject = Subject::Pod {
            namespace: "default".into(),
            name: "hello-world-5d8f-abcde".into(),
        };
        for (c, s) in first {
            let e = tl.record(subject.clone(), c, s, Origin::Watch);
            snap.apply(&e);
        }
        let before = snap.pods.values().next().unwrap().clone();
        assert_eq!(before.owner.as_deref(), Some("ReplicaSet/hello-world-5d8f"));

        let mut deleted = running.clone();
        deleted.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(ts("2026-01-28T05:10:30Z")),
        );
        deleted.metadata.deletion_grace_period_seconds = Some(30);
        let status = deleted.status.as_mut().unwrap();
        status.container_statuses.as_mut().unwrap()[0].restart_count = 1;
        let changes = pod_changes(Some(&before), &deleted);
        assert_eq!(
            changes,
            vec![
                (
                    Change::PodTerminating {
                        deletion_timestamp: ts("2026-01-28T05:10:30Z"),
                        grace_seconds: Some(30)
                    },
                    Some(ts("2026-01-28T05:10:00Z"))
                ),
                (
                    Change::PodRestarts {
                        container: "app".into(),
                        restarts: 1
                    },
                    None
                ),
            ]
        );
    }

    #[test]
    fn events_are_recorded_when_new_or_repeated() {
        let ev: KubeEvent = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "m03.17a", "namespace": "default"},
            "involvedObject": {"kind": "Node", "name": "m03"},
            "reason": "NodeNotReady", "type": "Normal", "count": 1,
            "message": "Node m03 status is now: NodeNotReady",
            "lastTimestamp": "2026-01-28T05:01:01Z"
        }))
        .unwrap();
        let (change, server) = event_change(None, &ev).unwrap();
        assert_eq!(
            change.to_string(),
            "Normal NodeNotReady on Node m03: Node m03 status is now: NodeNotReady"
        );
        assert_eq!(server, Some(ts("2026-01-28T05:01:01Z")));
        assert!(event_change(Some(1), &ev).is_none());
        let mut again = ev.clone();
        again.count = Some(2);
        assert!(event_change(Some(1), &again).is_some());
    }

    fn node_entry(tl: &Timeline, at: &str, name: &str, change: Change) {
        tl.record_at(
            ts(at),
            Subject::Node { name: name.into() },
            change,
            None,
            Origin::Watch,
        );
    }

    fn ready(status: &str) -> Change {
        Change::NodeReady {
            status: status.into(),
            reason: None,
            message: None,
        }
    }

    #[test]
    fn queries_measure_from_marks() {
        let tl = Timeline::in_memory();
        node_entry(&tl, "2026-01-28T05:00:00Z", "m03", ready("True"));
        tl.record_at(
            ts("2026-01-28T05:00:10Z"),
            Subject::Harness,
            Change::Mark {
                name: "worker stopped".into(),
            },
            None,
            Origin::Harness,
        );
        node_entry(&tl, "2026-01-28T05:00:51Z", "m03", ready("Unknown"));
        let q = Query::node_not_ready("m03");
        let found = tl.first_after("worker stopped", &q).unwrap().unwrap();
        assert_eq!(found.seq, 3);
        assert_eq!(
            tl.since_mark("worker stopped", &q, TimeBasis::Observed)
                .unwrap(),
            Some(Duration::from_secs(41))
        );
        assert_eq!(
            tl.first_after("worker stopped", &Query::node_not_ready("m02"))
                .unwrap(),
            None
        );
        let err = tl.first_after("control plane stopped", &q).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no mark \"control plane stopped\" on the timeline (marks so far: \"worker stopped\"): call `lab.mark(\"control plane stopped\")` when it happens"
        );
    }

    #[test]
    fn held_since_finds_the_entry_that_broke_a_state() {
        let tl = Timeline::in_memory();
        node_entry(&tl, "2026-01-28T05:00:00Z", "m02", ready("True"));
        tl.record_at(
            ts("2026-01-28T05:00:10Z"),
            Subject::Harness,
            Change::Mark { name: "m".into() },
            None,
            Origin::Harness,
        );
        let q = StateQuery::node_ready_is("m02", "True");
        assert_eq!(tl.held_since("m", &q).unwrap(), Ok(()));
        node_entry(&tl, "2026-01-28T05:00:20Z", "m02", ready("False"));
        let (entry, why) = tl.held_since("m", &q).unwrap().unwrap_err();
        assert_eq!(entry.unwrap().seq, 3);
        assert_eq!(why, "node m02 Ready=False");
        // Before the mark it held too: checking from an earlier state.
        assert_eq!(
            tl.snapshot_at(ts("2026-01-28T05:00:15Z")).nodes["m02"]
                .ready
                .as_deref(),
            Some("True")
        );
    }

    #[test]
    fn pods_stay_put_sees_a_move() {
        let tl = Timeline::in_memory();
        let sub = |n: &str| Subject::Pod {
            namespace: "default".into(),
            name: n.into(),
        };
        tl.record_at(
            ts("2026-01-28T05:00:00Z"),
            sub("web-1"),
            Change::PodAdded {
                node: Some("m02".into()),
                phase: Some("Running".into()),
                owner: None,
            },
            None,
            Origin::Watch,
        );
        tl.record_at(
            ts("2026-01-28T05:00:01Z"),
            Subject::Harness,
            Change::Mark {
                name: "workers back".into(),
            },
            None,
            Origin::Harness,
        );
        let placement = BTreeMap::from([("web-1".to_string(), "m02".to_string())]);
        let q = StateQuery::pods_stay_put("default", "web-", placement);
        assert_eq!(tl.held_since("workers back", &q).unwrap(), Ok(()));
        tl.record_at(
            ts("2026-01-28T05:00:02Z"),
            sub("web-2"),
            Change::PodAdded {
                node: Some("m03".into()),
                phase: None,
                owner: None,
            },
            None,
            Origin::Watch,
        );
        let (_, why) = tl.held_since("workers back", &q).unwrap().unwrap_err();
        assert!(why.contains("web-2"), "{why}");
    }

    #[test]
    fn a_relist_records_what_changed_while_away_as_late() {
        let tl = Timeline::in_memory();
        let a = node(
            serde_json::json!({"metadata": {"name": "a"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
        );
        let b = node(serde_json::json!({"metadata": {"name": "b"}}));
        relist(&tl, vec![a.clone(), b], Origin::Relist);
        assert!(tl.entries().iter().all(|e| e.origin == Origin::Initial));
        let mut a2 = a;
        a2.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].status = "Unknown".into();
        relist(&tl, vec![a2], Origin::Relist);
        let late: Vec<String> = tl
            .entries()
            .iter()
            .filter(|e| e.late())
            .map(|e| format!("{}: {}", e.subject, e.change))
            .collect();
        assert_eq!(late, ["node a: Ready=Unknown", "node b: deleted"]);
    }

    #[test]
    fn polled_changes_carry_their_origin_and_resource_version_and_are_not_late() {
        let tl = Timeline::in_memory();
        let a = node(serde_json::json!({"metadata": {"name": "a", "resourceVersion": "7"}}));
        relist(&tl, vec![a], Origin::Poll);
        let a2 = node(
            serde_json::json!({"metadata": {"name": "a", "resourceVersion": "9"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
        );
        relist(&tl, vec![a2], Origin::Poll);
        relist::<Node>(&tl, vec![], Origin::Poll);
        let seen: Vec<(Origin, Option<String>, String)> = tl
            .entries()
            .iter()
            .map(|e| (e.origin, e.resource_version.clone(), e.change.to_string()))
            .collect();
        let rv = |v: &str| Some(v.to_string());
        assert_eq!(
            seen,
            [
                (Origin::Initial, rv("7"), "added".to_string()),
                (Origin::Poll, rv("9"), "Ready=True".to_string()),
                (Origin::Poll, None, "deleted".to_string()),
            ]
        );
        assert!(tl.entries().iter().all(|e| !e.late()));
    }

    #[test]
    fn the_recorder_polls_only_when_asked_for_a_positive_interval() {
        let parse = |v: &str| RecorderMode::from_value(Some(v));
        assert_eq!(parse("1000"), RecorderMode::Poll(Duration::from_secs(1)));
        assert_eq!(
            parse(" 250 "),
            RecorderMode::Poll(Duration::from_millis(250))
        );
        assert_eq!(parse("0"), RecorderMode::Watch);
        assert_eq!(parse("1s"), RecorderMode::Watch);
        assert_eq!(RecorderMode::from_value(None), RecorderMode::Watch);
    }

    #[tokio::test(start_paused = true)]
    async fn waits_read_the_timeline() {
        let tl = Timeline::in_memory();
        tl.mark("worker stopped");
        let q = Query::node_not_ready("m03");
        let writer = tl.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            writer.record(
                Subject::Node { name: "m03".into() },
                ready("Unknown"),
                None,
                Origin::Watch,
            );
        });
        let waited = crate::wait::Wait::until(q.what(), Duration::from_secs(10))
            .poll(tl.transition_probe("worker stopped", &q))
            .await
            .unwrap();
        assert!(matches!(waited.value.change, Change::NodeReady { .. }));
        let err = crate::wait::Wait::until("m02 NotReady", Duration::from_secs(1))
            .poll(tl.transition_probe("worker stopped", &Query::node_not_ready("m02")))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("latest: "), "{err}");
    }

    #[test]
    fn lines_are_redacted_and_read_back() {
        let dir = std::env::temp_dir().join(format!("k8s-labs-timeline-{}", std::process::id()));
        let redactor = Redactor::new();
        redactor.register("s3cr3t");
        let tl = Timeline::new(&dir, redactor);
        tl.record(
            Subject::Event {
                namespace: "default".into(),
                name: "e".into(),
            },
            Change::Event {
                type_: "Warning".into(),
                reason: "Failed".into(),
                object: ObjectRef {
                    kind: "Pod".into(),
                    namespace: "default".into(),
                    name: "p".into(),
                },
                message: "token s3cr3t".into(),
                count: 1,
            },
            None,
            Origin::Watch,
        );
        tl.mark("done");
        let text = std::fs::read_to_string(dir.join(FILE_NAME)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(!text.contains("s3cr3t"), "{text}");
        let back: Vec<Entry> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(back.len(), 2);
        assert_eq!(
            back[1].change,
            Change::Mark {
                name: "done".into()
            }
        );
        assert!(tl.write_error().is_none());
    }

    #[test]
    fn heartbeats_are_lease_renewals() {
        let tl = Timeline::in_memory();
        for s in ["05:00:00", "05:00:10", "05:00:20"] {
            tl.record(
                Subject::Node { name: "m02".into() },
                Change::LeaseRenewed,
                Some(ts(&format!("2026-01-28T{s}Z"))),
                Origin::Watch,
            );
        }
        assert_eq!(
            tl.heartbeat_intervals("m02"),
            vec![Duration::from_secs(10); 2]
        );
        assert!(tl.heartbeat_intervals("m03").is_empty());
    }
}
