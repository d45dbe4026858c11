//! Chapter 7, "Testing resiliency": the reader stops nodes with `minikube node stop`, starts them
//! again, and watches what Kubernetes does. This module holds the chapter's checks, the timing
//! expectations it derives from the cluster's *configured* values, and the course's claims.
//!
//! What Kubernetes does, and where the rules live upstream (kubernetes/kubernetes):
//! - The kubelet renews its node Lease every quarter of `nodeLeaseDurationSeconds` (40 s by
//!   default: every 10 s; `pkg/kubelet/kubelet.go`, `nodeLeaseRenewIntervalFraction`). The node
//!   lifecycle controller looks at every node each `--node-monitor-period` (5 s) and, once it has
//!   not heard from a node for `--node-monitor-grace-period` (40 s, 50 s from 1.32), sets its
//!   `Ready` condition to `Unknown` (`NodeStatusUnknown`, "Kubelet stopped posting node status.")
//!   and the pods on it to `Ready=False` (`pkg/controller/nodelifecycle/node_lifecycle_controller.go`,
//!   `tryUpdateNodeHealth`, `MarkPodsNotReady`). So NotReady comes between `grace − renew interval`
//!   and `grace + monitor period` after the kubelet stopped.
//! - TaintNodesByCondition adds `node.kubernetes.io/unreachable:NoSchedule` with the condition;
//!   `processTaintBaseEviction` adds `:NoExecute` in the next monitor pass (it acts on the
//!   condition observed *before* the pass).
//! - Every pod carries `not-ready`/`unreachable` NoExecute tolerations of 300 s from the
//!   DefaultTolerationSeconds admission plugin (`plugin/pkg/admission/defaulttolerationseconds`,
//!   kube-apiserver `--default-{not-ready,unreachable}-toleration-seconds`); the taint manager
//!   deletes a pod that long after it saw the taint (`pkg/controller/tainteviction`). The pod stays
//!   `Terminating` while its kubelet is away; the ReplicaSet does not count it and creates a
//!   replacement at once (`pkg/controller/replicaset`, `FilterActivePods`).
//! - `--pod-eviction-timeout` was deprecated in 1.26 and removed in 1.27
//!   (`cmd/kube-controller-manager/app/options/nodelifecyclecontroller.go`); it had no effect since
//!   taint-based eviction became the default (1.13).
//! - Bound pods never move: the scheduler places only pending pods, and the ReplicaSet counts pods,
//!   not their nodes; only something like the descheduler would rebalance.
//!
//! Timing checks add [`SLACK`] to the windows these rules give; durations are never written in the
//! features.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;

use crate::claims::{
    Claim, ClaimError, DurationExpectation, Expected, Measured, Measurement, Source, human,
};
use crate::course::{self, CourseError, HELLO_SELECTOR};
use crate::jumpbox::{HttpReply, Look};
use crate::kube::{self, KubeError};
use crate::kubeadm_config::Timings;
use crate::kubectl::{self, Place};
use crate::lab::{Lab, LabError};
use crate::runner::Command;
use crate::settings::Timing;
use crate::timeline::{Change, Entry, Query, Snapshot, StateQuery, Subject, TimeBasis};
use crate::versions::K8sVersion;
use crate::wait::{Backoff, Probe, Wait, WaitError};

/// Slack added to every timing window: watch delivery, the controllers' work queues, the
/// harness's own polling and, after a node is NotReady, the time the endpoints controller and the
/// ingress controller take to stop routing to its pods.
pub const SLACK: Duration = Duration::from_secs(5);

/// kube-controller-manager's `--node-monitor-period` default (`KubeCloudSharedConfiguration`,
/// `staging/src/k8s.io/cloud-provider/config/v1alpha1/defaults.go`); the course's config keeps it.
pub const MONITOR_PERIOD: Duration = Duration::from_secs(5);

/// The kubelet's `nodeLeaseDurationSeconds` default (`pkg/kubelet/apis/config/v1beta1/defaults.go`).
pub const LEASE_DURATION: Duration = Duration::from_secs(40);

/// The DefaultTolerationSeconds admission plugin's default for both tolerations.
pub const TOLERATION: Duration = Duration::from_secs(300);

/// One over kube-controller-manager's `--node-eviction-rate` default (0.1 nodes per second in a
/// healthy zone): the node lifecycle controller's NoExecute tainter takes one token per node from
/// a per-zone token bucket of that rate and burst 1 (`node_lifecycle_controller.go`,
/// `zoneNoExecuteTainter`, `flowcontrol.NewTokenBucketRateLimiter(nc.evictionLimiterQPS,
/// scheduler.EvictionRateLimiterBurst)`), so a second node of the zone is tainted up to 10 s
/// after the first.
pub const EVICTION_RATE_INTERVAL: Duration = Duration::from_secs(10);

/// The namespace and name prefix of the course's hello-world pods.
const HELLO_NAMESPACE: &str = "default";
const HELLO_PREFIX: &str = "hello-world-";

/// Outcome: the worker the scenario stops.
pub const STOPPED_WORKER: &str = "stopped worker";
/// Outcome: the other worker, which keeps serving.
pub const OTHER_WORKER: &str = "other worker";
/// Outcome: the hello-world pod on the stopped worker.
pub const STOPPED_POD: &str = "stopped worker's pod";
/// Outcome: why the stopped worker is not the one the course names, when it is not.
pub const WORKER_CHOICE: &str = "worker choice";
/// Outcome: the pod the ReplicaSet created for the evicted one.
pub const REPLACEMENT_POD: &str = "replacement pod";
/// Outcome: the hello-world pods created while no worker was Ready.
pub const PENDING_PODS: &str = "pending pods";
/// Outcome: how the hello-world pods spread over the workers (`3/2`).
pub const DISTRIBUTION: &str = "distribution";
/// Outcome: whether anything moved in the stability window (`yes`, or `no: …`).
pub const NO_REBALANCING: &str = "no rebalancing";
/// Outcome: what kube-controller-manager did with `--pod-eviction-timeout`.
pub const POD_EVICTION_TIMEOUT_FATE: &str = "kube-controller-manager with --pod-eviction-timeout";

/// Measurement: a node's NotReady after its stop (`<node>` appended).
pub const NOT_READY_AFTER_STOP: &str = "NotReady after the stop";
/// Measurement: a pod's eviction (Terminating) after its node's stop.
pub const EVICTION_AFTER_STOP: &str = "eviction after the stop";
/// Measurement: a pod's eviction after its node's NoExecute taint.
pub const EVICTION_AFTER_TAINT: &str = "eviction after the NoExecute taint";

/// The course's possible outcomes of scaling to 5 with both workers away ("5 Pods on worker1, 0
/// on worker2", …), as pods on the first worker / pods on the second.
pub const COURSE_DISTRIBUTIONS: [&str; 6] = ["5/0", "0/5", "3/2", "2/3", "4/1", "1/4"];

/// The claims this module records, by stable id.
pub const CLAIM_IDS: [&str; 6] = [
    "ch7.not-ready-latency",
    "ch7.heartbeat",
    "ch7.eviction-latency",
    "ch7.pod-eviction-timeout",
    "ch7.distribution",
    "ch7.no-rebalancing",
];

/// Errors of the chapter's checks.
#[derive(Debug, thiserror::Error)]
pub enum OutageError {
    /// A course step or API check failed.
    #[error(transparent)]
    Course(#[from] CourseError),
    /// A lab operation (measurement, mark, provider) failed.
    #[error(transparent)]
    Lab(#[from] LabError),
    /// A claim could not be built.
    #[error(transparent)]
    Claim(#[from] ClaimError),
    /// Something else than expected.
    #[error("expected {what}: {expected}; found: {found}")]
    Unexpected {
        /// What was checked.
        what: String,
        /// The expectation.
        expected: String,
        /// What was found.
        found: String,
    },
    /// A check needs an outcome an earlier step records.
    #[error("no {name:?} recorded yet: {hint}")]
    Missing {
        /// The outcome or measurement.
        name: String,
        /// Which step records it.
        hint: String,
    },
    /// A claim id this module does not know.
    #[error("unknown claim {id:?}: the chapter's claims are {known}")]
    UnknownClaim {
        /// The id asked for.
        id: String,
        /// The ids known.
        known: String,
    },
}

impl From<KubeError> for OutageError {
    fn from(e: KubeError) -> Self {
        Self::Course(e.into())
    }
}

impl From<WaitError> for OutageError {
    fn from(e: WaitError) -> Self {
        Self::Lab(e.into())
    }
}

impl From<crate::provider::ProviderError> for OutageError {
    fn from(e: crate::provider::ProviderError) -> Self {
        Self::Lab(e.into())
    }
}

/// The node-failure timings a cluster is configured with: the kubeadm config's values, else the
/// defaults of its Kubernetes version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeTimings {
    /// `--node-monitor-grace-period`.
    pub grace: Duration,
    /// Whether the grace period was set in the kubeadm config (else the version's default).
    pub grace_configured: bool,
    /// `--node-monitor-period`.
    pub monitor_period: Duration,
    /// The kubelet's `nodeLeaseDurationSeconds`.
    pub lease_duration: Duration,
    /// `--default-unreachable-toleration-seconds`.
    pub unreachable_toleration: Duration,
    /// `--default-not-ready-toleration-seconds`.
    pub not_ready_toleration: Duration,
    /// One over `--node-eviction-rate`: the NoExecute tainter's pace within a zone.
    pub eviction_interval: Duration,
}

impl NodeTimings {
    /// The timings of a cluster whose kubeadm config sets `timings` (None: nothing known, all
    /// defaults) and runs Kubernetes `version`.
    #[must_use]
    pub fn new(timings: Option<&Timings>, version: K8sVersion) -> Self {
        let t = timings.copied().unwrap_or_default();
        Self {
            grace: t
                .node_monitor_grace_period
                .unwrap_or(version.facts().node_monitor_grace_period),
            grace_configured: t.node_monitor_grace_period.is_some(),
            monitor_period: MONITOR_PERIOD,
            lease_duration: t.node_lease_duration.unwrap_or(LEASE_DURATION),
            unreachable_toleration: t.default_unreachable_toleration.unwrap_or(TOLERATION),
            not_ready_toleration: t.default_not_ready_toleration.unwrap_or(TOLERATION),
            eviction_interval: EVICTION_RATE_INTERVAL,
        }
    }

    /// The timings of the lab's cluster (its kubeadm config as `master.sh` wrote it).
    #[must_use]
    pub fn of(lab: &Lab) -> Self {
        let timings = lab
            .course()
            .and_then(course::CourseState::config)
            .map(crate::kubeadm_config::KubeadmConfig::timings);
        Self::new(timings.as_ref(), lab.settings().k8s_version)
    }

    /// How often the kubelet renews its Lease: a quarter of its duration.
    #[must_use]
    pub fn lease_renew(&self) -> Duration {
        self.lease_duration / 4
    }

    /// The settings these come from, as `flag=value` for a [`Source::Configured`].
    #[must_use]
    pub fn setting(&self) -> String {
        let grace_from = if self.grace_configured {
            "kubeadm config"
        } else {
            "default"
        };
        format!(
            "node-monitor-grace-period={}s ({grace_from}), node-monitor-period={}s, nodeLeaseDurationSeconds={}, default-unreachable-toleration-seconds={}",
            self.grace.as_secs(),
            self.monitor_period.as_secs(),
            self.lease_duration.as_secs(),
            self.unreachable_toleration.as_secs()
        )
    }

    fn source(&self) -> Source {
        Source::Configured {
            setting: self.setting(),
        }
    }

    /// When a node stopped `stop_took` before the mark after its stop can be NotReady: its last
    /// heartbeat came up to one renew interval before the kubelet died, which was at most
    /// `stop_took` before the mark; the controller notices in the first monitor pass after the
    /// grace period.
    #[must_use]
    pub fn not_ready_after_stop(&self, stop_took: Duration) -> DurationExpectation {
        window(
            self.grace
                .saturating_sub(self.lease_renew())
                .saturating_sub(stop_took),
            self.grace + self.monitor_period,
            self.source(),
        )
    }

    /// When the `unreachable:NoExecute` taint comes after a node's NotReady: the next monitor pass
    /// (`processTaintBaseEviction` acts on the condition observed before the pass), later by up to
    /// one eviction-rate interval for each of `queued` other nodes of the zone that were not
    /// Ready then (each may take the zone's token first).
    #[must_use]
    pub fn no_execute_after_not_ready(&self, queued: u32) -> DurationExpectation {
        window(
            self.monitor_period,
            self.monitor_period + self.eviction_interval * queued,
            Source::Configured {
                setting: format!(
                    "{}, node-eviction-rate={}/s (default) with {queued} other node(s) not Ready",
                    self.setting(),
                    1.0 / self.eviction_interval.as_secs_f64()
                ),
            },
        )
    }

    /// When a pod is deleted after the taint manager saw its node's `unreachable:NoExecute`
    /// taint: its toleration's seconds.
    #[must_use]
    pub fn eviction_after_taint(&self) -> DurationExpectation {
        window(
            self.unreachable_toleration,
            self.unreachable_toleration,
            self.source(),
        )
    }

    /// When a pod on a node stopped `stop_took` before the mark is deleted: NotReady, the
    /// NoExecute taint one monitor pass later, then the toleration.
    #[must_use]
    pub fn eviction_after_stop(&self, stop_took: Duration) -> DurationExpectation {
        let not_ready = self.not_ready_after_stop(stop_took);
        let (earliest, latest) = bounds(&not_ready);
        let after = self.monitor_period + self.unreachable_toleration;
        DurationExpectation::about(
            (earliest + latest) / 2 + after,
            not_ready.tolerance,
            self.source(),
        )
    }

    /// How long after the mark after a node's stop its pods surely still run (the earliest
    /// eviction, less the slack).
    #[must_use]
    pub fn pods_surely_kept(&self, stop_took: Duration) -> Duration {
        bounds(&self.eviction_after_stop(stop_took)).0
    }

    /// How long nothing may be evicted after the control plane came back: a node it had
    /// (wrongly) counted as unreachable would be NotReady after the grace period, tainted a
    /// monitor pass later and its pods evicted after the longer toleration.
    #[must_use]
    pub fn no_eviction_window(&self) -> Duration {
        self.grace
            + self.monitor_period * 2
            + self.unreachable_toleration.max(self.not_ready_toleration)
            + SLACK
    }
}

/// `[earliest − SLACK, latest + SLACK]` as an "about" expectation.
fn window(earliest: Duration, latest: Duration, source: Source) -> DurationExpectation {
    let earliest = earliest.saturating_sub(SLACK);
    let latest = latest + SLACK;
    DurationExpectation::about((earliest + latest) / 2, (latest - earliest) / 2, source)
}

/// The earliest and latest value an "about" expectation accepts.
fn bounds(e: &DurationExpectation) -> (Duration, Duration) {
    (
        e.earliest().unwrap_or(Duration::ZERO),
        e.latest().unwrap_or(e.value),
    )
}

/// The course's way of writing a distribution: pods on the first worker / pods on the second
/// (`workers` in the course's order, `<profile>-m02` first). Pods elsewhere are an error.
///
/// # Errors
/// A description of the pods on other nodes.
pub fn distribution(
    placement: &BTreeMap<String, String>,
    workers: &[String],
) -> Result<String, String> {
    let elsewhere: Vec<String> = placement
        .iter()
        .filter(|(_, node)| !workers.contains(node))
        .map(|(pod, node)| format!("{pod} on {node}"))
        .collect();
    if !elsewhere.is_empty() {
        return Err(format!("not on a worker: {}", elsewhere.join(", ")));
    }
    Ok(workers
        .iter()
        .map(|w| placement.values().filter(|n| *n == w).count().to_string())
        .collect::<Vec<_>>()
        .join("/"))
}

/// Whether a curl's answer came from a hello-world pod the cluster has (podinfo's JSON names its
/// pod in `hostname`): the pod's name, or why not.
///
/// # Errors
/// What the answer was instead.
pub fn answered_by_pod(reply: &HttpReply, pods: &BTreeSet<String>) -> Result<String, String> {
    if reply.status != Some(200) {
        return Err(match reply.status {
            Some(s) => format!("HTTP {s} {:?}", reply.body.trim()),
            None => format!("no answer (curl exit {}: {})", reply.curl_exit, reply.error),
        });
    }
    let hostname = serde_json::from_str::<serde_json::Value>(&reply.body)
        .ok()
        .and_then(|v| v["hostname"].as_str().map(str::to_string));
    match hostname {
        Some(h) if pods.contains(&h) => Ok(h),
        Some(h) => Err(format!(
            "an answer naming {h:?}, which is no hello-world pod"
        )),
        None => Err(format!("HTTP 200 without podinfo's JSON: {:?}", reply.body)),
    }
}

/// What a prober's curls show from `since` on: every answer from a hello-world pod, or the first
/// that was not. Returns how many curls were judged and which pods answered how often.
///
/// # Errors
/// The first bad answer, with its time.
pub fn judge_looks(
    looks: &[Look],
    since: Timestamp,
    pods: &BTreeSet<String>,
) -> Result<(usize, BTreeMap<String, usize>), String> {
    let mut by_pod = BTreeMap::new();
    let mut judged = 0;
    for look in looks.iter().filter(|l| l.at >= since) {
        judged += 1;
        let verdict = look
            .reply
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|r| answered_by_pod(r, pods));
        match verdict {
            Ok(pod) => *by_pod.entry(pod).or_insert(0) += 1,
            Err(why) => return Err(format!("the curl at {} got {why}", look.at)),
        }
    }
    Ok((judged, by_pod))
}

/// The median of `values` (None when empty).
#[must_use]
pub fn median(values: &[Duration]) -> Option<Duration> {
    let mut v = values.to_vec();
    v.sort();
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2),
    }
}

/// What the chapter's claims are judged from, gathered from a scenario.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// The run's timing profile: only `default` judges the course's words about default timings.
    pub timing: Timing,
    /// The cluster's Kubernetes version.
    pub version: K8sVersion,
    /// Its configured node-failure timings.
    pub timings: NodeTimings,
    /// The scenario's measurements.
    pub measurements: Vec<Measurement>,
    /// The scenario's named outcomes.
    pub outcomes: BTreeMap<String, String>,
    /// Intervals between Lease renewals of the nodes (the kubelets' heartbeats).
    pub heartbeats: Vec<Duration>,
}

impl Evidence {
    /// Gathers the evidence of `lab`'s scenario so far.
    #[must_use]
    pub fn of(lab: &Lab) -> Self {
        let outcomes = [
            STOPPED_WORKER,
            DISTRIBUTION,
            NO_REBALANCING,
            POD_EVICTION_TIMEOUT_FATE,
        ]
        .iter()
        .filter_map(|k| lab.outcome(k).map(|v| ((*k).to_string(), v.to_string())))
        .collect();
        let heartbeats = lab
            .nodes()
            .iter()
            .flat_map(|n| lab.timeline().heartbeat_intervals(&n.name))
            .collect();
        Self {
            timing: lab.settings().timing,
            version: lab.settings().k8s_version,
            timings: NodeTimings::of(lab),
            measurements: lab.measurements().to_vec(),
            outcomes,
            heartbeats,
        }
    }

    fn measured(&self, name: &str) -> Option<Duration> {
        self.measurements
            .iter()
            .rev()
            .find(|m| m.name == name || m.name.starts_with(&format!("{name} (")))
            .and_then(|m| m.value)
    }

    /// The measurement `name` of the stopped worker (or of any node when none was chosen).
    fn of_stopped(&self, name: &str) -> Option<Duration> {
        match self.outcomes.get(STOPPED_WORKER) {
            Some(node) => self.measured(&format!("{name} ({node})")),
            None => self.measured(name),
        }
    }

    /// `measured` when the profile judges default timings, else not measured with the value in a
    /// note.
    fn default_timing(
        &self,
        claim: Claim,
        measured: Option<Duration>,
    ) -> Result<Claim, ClaimError> {
        match (self.timing, measured) {
            (_, None) => claim.measured(Measured::NotMeasured {
                reason: "the scenario did not measure it".into(),
            }),
            (Timing::Default, Some(value)) => claim.measured(Measured::Duration { value }),
            (Timing::Fast, Some(value)) => Ok(claim
                .measured(Measured::NotMeasured {
                    reason: "the fast timing profile shortens the node timings; run with --timing default to judge the course's words".into(),
                })?
                .note(format!("measured {} under the fast profile", human(value)))),
        }
    }
}

/// Builds the claim `id` from `evidence`.
///
/// # Errors
/// [`OutageError::UnknownClaim`]; [`OutageError::Claim`] on a kind mismatch (a bug).
pub fn claim(id: &str, evidence: &Evidence) -> Result<Claim, OutageError> {
    let t = &evidence.timings;
    let configured = format!("configured {}", t.setting());
    let claim = match id {
        "ch7.not-ready-latency" => {
            let claim = Claim::new(
                id,
                "The node almost immediately transitions to NotReady: the controller manager detects a node is unavailable in less than 10 seconds",
                Expected::Duration(DurationExpectation::at_most(
                    Duration::from_secs(10),
                    Duration::ZERO,
                    Source::Course,
                )),
            )
            .note(format!("measured from `minikube node stop` to Ready=Unknown; {configured}"))
            .note("the 10 s the course quotes is the kubelet's heartbeat interval; detection waits for --node-monitor-grace-period (40 s, 50 s from 1.32) plus up to one --node-monitor-period");
            evidence.default_timing(claim, evidence.of_stopped(NOT_READY_AFTER_STOP))?
        }
        "ch7.heartbeat" => {
            let claim = Claim::new(
                id,
                "The default heartbeat pulses every 10s",
                Expected::Duration(DurationExpectation::about(
                    Duration::from_secs(10),
                    Duration::from_secs(1),
                    Source::Course,
                )),
            )
            .note(format!(
                "median interval between node Lease renewals over {} renewals; nodeLeaseDurationSeconds={} (renewed every quarter of it)",
                evidence.heartbeats.len(),
                t.lease_duration.as_secs()
            ));
            evidence.default_timing(claim, median(&evidence.heartbeats))?
        }
        "ch7.eviction-latency" => {
            let from_taint = evidence.of_stopped(EVICTION_AFTER_TAINT);
            let claim = Claim::new(
                id,
                "Kubernetes will wait about 5 minutes before marking the Pods as unavailable and rescheduling it elsewhere",
                Expected::Duration(DurationExpectation::about(
                    Duration::from_secs(300),
                    Duration::from_secs(30),
                    Source::Course,
                )),
            )
            .note(format!(
                "measured from `minikube node stop` (when the course sets its alarm) to the pod Terminating; {} after the NoExecute taint; {configured}",
                from_taint.map_or("not measured".to_string(), human)
            ))
            .note("the wait is the DefaultTolerationSeconds admission's unreachable toleration, counted from the taint, which comes after NotReady");
            evidence.default_timing(claim, evidence.of_stopped(EVICTION_AFTER_STOP))?
        }
        "ch7.pod-eviction-timeout" => pod_eviction_timeout_claim(id, evidence)?,
        "ch7.distribution" => {
            let claim = Claim::new(
                id,
                "The five pods end up distributed as 5/0, 0/5, 3/2, 2/3, 4/1 or 1/4 over the two workers",
                Expected::OneOf {
                    values: COURSE_DISTRIBUTIONS.iter().map(ToString::to_string).collect(),
                    source: Source::Course,
                },
            )
            .note("pods on <profile>-m02 / pods on <profile>-m03, after starting m02 then m03");
            match evidence.outcomes.get(DISTRIBUTION) {
                Some(d) => claim.measured(Measured::Text { value: d.clone() })?,
                None => claim.measured(Measured::NotMeasured {
                    reason: "no distribution recorded".into(),
                })?,
            }
        }
        "ch7.no-rebalancing" => {
            let claim = Claim::new(
                id,
                "Kubernetes does not rebalance workloads automatically",
                Expected::Bool {
                    value: true,
                    meaning: "no hello-world pod moved or was deleted after both workers came back"
                        .into(),
                    source: Source::Course,
                },
            )
            .note(format!(
                "stability window: --node-monitor-grace-period ({})",
                human(t.grace)
            ));
            match evidence.outcomes.get(NO_REBALANCING) {
                Some(v) => {
                    let held = v == "yes";
                    let claim = claim.measured(Measured::Bool { value: held })?;
                    if held { claim } else { claim.note(v.clone()) }
                }
                None => claim.measured(Measured::NotMeasured {
                    reason: "the stability window was not observed".into(),
                })?,
            }
        }
        other => {
            return Err(OutageError::UnknownClaim {
                id: other.to_string(),
                known: CLAIM_IDS.join(", "),
            });
        }
    };
    Ok(claim)
}

/// "You can tweak the timeout with the `--pod-eviction-timeout` flag": true only if
/// kube-controller-manager runs with the flag *and* it changes when pods are evicted.
fn pod_eviction_timeout_claim(id: &str, evidence: &Evidence) -> Result<Claim, ClaimError> {
    let claim = Claim::new(
        id,
        "You can tweak the timeout with the `--pod-eviction-timeout` flag in the kube-controller-manager component",
        Expected::Bool {
            value: true,
            meaning: "kube-controller-manager runs with --pod-eviction-timeout and the flag sets when pods are evicted".into(),
            source: Source::Course,
        },
    )
    .note("upstream: deprecated in 1.26, removed in 1.27 (cmd/kube-controller-manager/app/options/nodelifecyclecontroller.go); without effect since taint-based eviction became the default in 1.13");
    let Some(fate) = evidence.outcomes.get(POD_EVICTION_TIMEOUT_FATE) else {
        return claim.measured(Measured::NotMeasured {
            reason: "the flag was not tried".into(),
        });
    };
    if !fate.starts_with("running") {
        return Ok(claim
            .measured(Measured::Bool { value: false })?
            .note(format!("Kubernetes {}: {fate}", evidence.version)));
    }
    // It runs with the flag: did evictions follow the flag or the toleration?
    let Some(after_taint) = evidence.of_stopped(EVICTION_AFTER_TAINT) else {
        return Ok(claim
            .measured(Measured::NotMeasured {
                reason: "the flag was accepted but no eviction was measured".into(),
            })?
            .note(fate.clone()));
    };
    let follows_toleration = evidence
        .timings
        .eviction_after_taint()
        .holds_for(after_taint);
    Ok(claim
        .measured(Measured::Bool {
            value: !follows_toleration,
        })?
        .note(format!(
            "Kubernetes {}: {fate}; the pod was evicted {} after the NoExecute taint, {} the unreachable toleration ({})",
            evidence.version,
            human(after_taint),
            if follows_toleration { "as" } else { "unlike" },
            human(evidence.timings.unreachable_toleration)
        )))
}

/// Records the claims `ids` from the scenario's evidence.
///
/// # Errors
/// [`OutageError::UnknownClaim`]; [`LabError::ClaimDrifted`] with `--strict-claims`.
pub fn record_claims(lab: &mut Lab, ids: &[String]) -> Result<(), OutageError> {
    let evidence = Evidence::of(lab);
    let mut first_error = None;
    for id in ids {
        let claim = claim(id, &evidence)?;
        if let Err(e) = lab.claim(claim) {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), |e| Err(e.into()))
}

/// The running hello-world pods by name → node.
async fn hello_placement(lab: &Lab) -> Result<BTreeMap<String, String>, OutageError> {
    Ok(crate::workload::running_pods(lab)
        .await?
        .iter()
        .map(|p| (kube::name_of(p).to_string(), kube::node_of(p).to_string()))
        .collect())
}

/// Chooses the worker to stop: `preferred` (the course's `<profile>-m03`) when it runs a
/// hello-world pod, else the worker that runs one (said in outcome [`WORKER_CHOICE`]). The other
/// worker must run one too, or the app could not keep answering. Records [`STOPPED_WORKER`],
/// [`OTHER_WORKER`] and [`STOPPED_POD`].
///
/// # Errors
/// [`OutageError::Unexpected`] when no worker, or only one, runs a hello-world pod.
pub async fn pick_worker(lab: &mut Lab, preferred: &str) -> Result<String, OutageError> {
    let preferred = lab.expand(preferred);
    let placement = hello_placement(lab).await?;
    let workers: Vec<String> = course::workers(lab).into_iter().map(|w| w.name).collect();
    let pod_on = |node: &str| {
        placement
            .iter()
            .find(|(_, n)| n.as_str() == node)
            .map(|(p, _)| p.clone())
    };
    let (stopped, pod) = match pod_on(&preferred) {
        Some(pod) => (preferred.clone(), pod),
        None => {
            let (node, pod) = workers
                .iter()
                .find_map(|w| pod_on(w).map(|p| (w.clone(), p)))
                .ok_or_else(|| OutageError::Unexpected {
                    what: "a worker running a hello-world pod".into(),
                    expected: "one of the workers".into(),
                    found: format!("{placement:?}"),
                })?;
            lab.record(
                WORKER_CHOICE,
                format!("{preferred} runs no hello-world pod; stopping {node}, which runs {pod}"),
            );
            (node, pod)
        }
    };
    let other = workers
        .iter()
        .find(|w| **w != stopped)
        .cloned()
        .ok_or(LabError::NoNodes)?;
    if pod_on(&other).is_none() {
        return Err(OutageError::Unexpected {
            what: format!(
                "a hello-world pod on {other}, to keep answering while {stopped} is down"
            ),
            expected: "one pod on each worker (chapter 3)".into(),
            found: format!("{placement:?}"),
        });
    }
    lab.record(STOPPED_WORKER, &stopped);
    lab.record(OTHER_WORKER, &other);
    lab.record(STOPPED_POD, &pod);
    lab.touch("Pod", HELLO_NAMESPACE, &pod);
    lab.touch("Node", "", &stopped);
    Ok(stopped)
}

/// The mark set before a node's stop.
#[must_use]
pub fn stopping_mark(node: &str) -> String {
    format!("{node} stopping")
}

/// The mark set once `minikube node stop` returned.
#[must_use]
pub fn stopped_mark(node: &str) -> String {
    format!("{node} stopped")
}

/// The mark set before a node's start.
#[must_use]
pub fn starting_mark(node: &str) -> String {
    format!("{node} starting")
}

/// The mark set once `minikube node start` returned.
#[must_use]
pub fn started_mark(node: &str) -> String {
    format!("{node} started")
}

/// The mark set when a node was seen NotReady.
#[must_use]
pub fn not_ready_mark(node: &str) -> String {
    format!("{node} NotReady")
}

/// `minikube node stop NODE`, between the marks [`stopping_mark`] and [`stopped_mark`]; the
/// cluster is not handed to later scenarios.
///
/// # Errors
/// Provider errors.
pub async fn stop_node(lab: &mut Lab, node: &str) -> Result<(), OutageError> {
    let node = lab.expand(node);
    if let Some(state) = lab.course_mut() {
        state.spoil(format!("chapter 7 stopped node {node}"));
    }
    lab.mark(stopping_mark(&node));
    lab.minikube().node_stop(&node).await?;
    lab.mark(stopped_mark(&node));
    Ok(())
}

/// `minikube node start NODE`, between the marks [`starting_mark`] and [`started_mark`].
///
/// # Errors
/// Provider errors.
pub async fn start_node(lab: &mut Lab, node: &str) -> Result<(), OutageError> {
    let node = lab.expand(node);
    lab.mark(starting_mark(&node));
    lab.minikube().node_start(&node).await?;
    lab.mark(started_mark(&node));
    Ok(())
}

/// How long `minikube node stop NODE` took (between its marks).
fn stop_took(lab: &Lab, node: &str) -> Result<Duration, OutageError> {
    let missing = || OutageError::Missing {
        name: stopped_mark(node),
        hint: format!(
            "stop {node} first (`the reader stops \"{node}\" with \"minikube node stop\"`)"
        ),
    };
    let (from, to) = (
        lab.marked(&stopping_mark(node)).ok_or_else(missing)?,
        lab.marked(&stopped_mark(node)).ok_or_else(missing)?,
    );
    Ok(crate::timeline::duration_between(from, to))
}

fn is_node(entry: &Entry, node: &str) -> bool {
    matches!(&entry.subject, Subject::Node { name } if name == node)
}

fn is_pod(entry: &Entry, pod: &str) -> bool {
    matches!(&entry.subject, Subject::Pod { namespace, name } if namespace == HELLO_NAMESPACE && name == pod)
}

/// The first entry matching `query` after `mark`, waiting up to `budget`.
async fn next_entry(
    lab: &Lab,
    mark: &str,
    query: &Query,
    budget: Duration,
) -> Result<Entry, OutageError> {
    Ok(
        Wait::until(format!("{} after {mark:?}", query.what()), budget)
            .backoff(TIMELINE_BACKOFF)
            .poll(lab.timeline().transition_probe(mark, query))
            .await?
            .value,
    )
}

const TIMELINE_BACKOFF: Backoff = Backoff {
    first: Duration::from_millis(50),
    max: Duration::from_millis(500),
    factor: 2.0,
};

/// Records the duration between two timeline entries as measurement `name`, judged by
/// `expected`.
///
/// # Errors
/// [`LabError::Timing`] when outside `expected` (it is recorded all the same).
fn record_between(
    lab: &mut Lab,
    name: &str,
    from: &Entry,
    to: &Entry,
    expected: DurationExpectation,
) -> Result<Duration, OutageError> {
    let value = crate::timeline::duration_between(from.observed, to.observed);
    lab.record_measurement(Measurement {
        value: Some(value),
        from_mark: Some(format!("{}: {}", from.subject, from.change)),
        to: Some(format!("{}: {}", to.subject, to.change)),
        basis: TimeBasis::Observed,
        expected: Some(expected.clone()),
        ..Measurement::new(name, value)
    });
    if expected.holds_for(value) {
        Ok(value)
    } else {
        Err(LabError::Timing {
            name: name.to_string(),
            measured: human(value),
            expected: expected.to_string(),
            origin: expected.source.to_string(),
        }
        .into())
    }
}

/// A node stopped with [`stop_node`] becomes NotReady within the window its configured timings
/// give ([`NodeTimings::not_ready_after_stop`]): Ready turns `Unknown` with reason
/// `NodeStatusUnknown` and the upstream message, the node gets the `unreachable` `NoSchedule`
/// taint at once and the `NoExecute` taint one monitor pass later. Records the measurements and
/// sets the mark [`not_ready_mark`].
///
/// # Errors
/// [`LabError::Timing`]/[`LabError::Wait`] when it comes too early, too late or not at all;
/// [`OutageError::Unexpected`] for another condition or message.
pub async fn expect_not_ready(lab: &mut Lab, node: &str) -> Result<Duration, OutageError> {
    let node = lab.expand(node);
    let mark = stopped_mark(&node);
    let timings = NodeTimings::of(lab);
    let expected = timings.not_ready_after_stop(stop_took(lab, &node)?);
    let measured = lab
        .measure(
            &format!("{NOT_READY_AFTER_STOP} ({node})"),
            &mark,
            &Query::node_not_ready(&node),
            expected,
            TimeBasis::Observed,
        )
        .await?;
    lab.mark(not_ready_mark(&node));
    let ready = lab
        .timeline()
        .first_after(&mark, &Query::node_not_ready(&node))
        .map_err(LabError::from)?
        .expect("measured above");
    // pkg/controller/nodelifecycle/node_lifecycle_controller.go, tryUpdateNodeHealth.
    let Change::NodeReady {
        status,
        reason,
        message,
    } = &ready.change
    else {
        unreachable!("node_not_ready matches NodeReady only")
    };
    let upstream = (
        "Unknown",
        Some("NodeStatusUnknown"),
        Some("Kubelet stopped posting node status."),
    );
    if (status.as_str(), reason.as_deref(), message.as_deref()) != upstream {
        return Err(OutageError::Unexpected {
            what: format!("{node}'s Ready condition once its kubelet stopped posting"),
            expected: format!("{upstream:?}"),
            found: format!("{:?}", (status, reason, message)),
        });
    }
    let key = "node.kubernetes.io/unreachable";
    let no_schedule = next_entry(
        lab,
        &mark,
        &Query::node_tainted(&node, key, "NoSchedule"),
        SLACK,
    )
    .await?;
    record_between(
        lab,
        &format!("NoSchedule taint after NotReady ({node})"),
        &ready,
        &no_schedule,
        DurationExpectation::at_most(
            SLACK,
            Duration::ZERO,
            Source::Upstream {
                reference:
                    "TaintNodesByCondition, node_lifecycle_controller.go doNoScheduleTaintingPass"
                        .into(),
            },
        ),
    )?;
    // Other nodes not Ready when this one turned NotReady share the zone's NoExecute tainter
    // (labsim and minikube nodes carry no zone label: one zone).
    let queued = lab
        .timeline()
        .snapshot_at(ready.observed)
        .nodes
        .iter()
        .filter(|(name, n)| **name != node && n.ready.as_deref() != Some("True"))
        .count();
    let expected = timings.no_execute_after_not_ready(u32::try_from(queued).unwrap_or(u32::MAX));
    let no_execute = next_entry(
        lab,
        &mark,
        &Query::node_tainted(&node, key, "NoExecute"),
        bounds(&expected).1 + SLACK,
    )
    .await?;
    record_between(
        lab,
        &format!("NoExecute taint after NotReady ({node})"),
        &ready,
        &no_execute,
        expected,
    )?;
    Ok(measured)
}

/// Starts the reader's `curl <node IP>` from the jumpbox every `interval`, in the background,
/// until the scenario ends (kept as the prober of that node).
///
/// # Errors
/// [`LabError::Jumpbox`] when the jumpbox cannot start; an unknown node.
pub async fn start_curling(
    lab: &mut Lab,
    node: &str,
    interval: Duration,
) -> Result<(), OutageError> {
    let node = course::node(lab, node)?;
    let target = node.ip.to_string();
    // The reader sees the app answer before breaking anything. A cluster that has only just
    // reached "hello-world deployed" may still get traefik's `404 page not found` for a few
    // seconds: traefik routes the Ingress once its informers and the provider throttle have
    // caught up (crate::workload::INGRESS_ROUTED); that is not what the chapter judges.
    let what = format!(
        "curl {} from the jumpbox answered by a hello-world pod",
        node.name
    );
    let shared = tokio::sync::Mutex::new(&mut *lab);
    let answered = Wait::until(what.clone(), crate::workload::INGRESS_ROUTED)
        .poll(|| async {
            let mut lab = shared.lock().await;
            let pods = hello_pods(&lab);
            let reply = lab.curl_from_jumpbox(&target).await?;
            Ok::<_, LabError>(match answered_by_pod(&reply, &pods) {
                Ok(pod) => Probe::Holds(pod),
                Err(found) => Probe::Fails(found),
            })
        })
        .await;
    match answered {
        Ok(_) => {}
        Err(WaitError::TimedOut { last, .. }) => {
            return Err(OutageError::Unexpected {
                what,
                expected: "podinfo's JSON naming a hello-world pod".into(),
                found: last,
            });
        }
        Err(e) => {
            return Err(OutageError::Unexpected {
                what,
                expected: "podinfo's JSON naming a hello-world pod".into(),
                found: e.to_string(),
            });
        }
    }
    lab.mark(format!("curling {} every {}", node.name, human(interval)));
    lab.start_prober(node.name.clone(), &target, interval)
        .await?;
    Ok(())
}

/// The hello-world pods the timeline knows (any phase).
fn hello_pods(lab: &Lab) -> BTreeSet<String> {
    lab.timeline()
        .snapshot()
        .pods
        .keys()
        .filter(|(ns, name)| ns == HELLO_NAMESPACE && name.starts_with(HELLO_PREFIX))
        .map(|(_, name)| name.clone())
        .collect()
}

/// From when the prober's judged window starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Since {
    /// Every curl it made.
    Start,
    /// Curls after `node` was seen NotReady plus [`SLACK`] (the endpoints and the ingress drop the
    /// node's pods once the node controller marks them not ready); earlier ones are recorded, not
    /// judged.
    NotReady(String),
}

/// Checks the prober of `node`: every curl in the window `since` says was answered by a
/// hello-world pod (podinfo's JSON naming a pod the timeline knows). Records how many curls and
/// which pods answered, and what happened before the window.
///
/// # Errors
/// [`OutageError::Unexpected`] naming the first bad answer; [`OutageError::Missing`] without a
/// prober or curls.
pub fn expect_curls_answered(lab: &mut Lab, node: &str, since: &Since) -> Result<(), OutageError> {
    let node = lab.expand(node);
    let prober = lab.prober(&node).ok_or_else(|| OutageError::Missing {
        name: format!("curls of {node}"),
        hint: format!(
            "start them with `the reader curls \"{node}\" from the jumpbox every N seconds`"
        ),
    })?;
    let looks = prober.looks();
    let start = looks
        .first()
        .map(|l| l.at)
        .ok_or_else(|| OutageError::Missing {
            name: format!("curls of {node}"),
            hint: "the prober has not curled yet".into(),
        })?;
    let from = match since {
        Since::Start => start,
        Since::NotReady(stopped) => {
            let stopped = lab.expand(stopped);
            let seen = lab
                .timeline()
                .first_after(&stopped_mark(&stopped), &Query::node_not_ready(&stopped))
                .map_err(LabError::from)?
                .ok_or_else(|| OutageError::Missing {
                    name: format!("{stopped} NotReady"),
                    hint: "check that it is NotReady first".into(),
                })?;
            let settle = jiff::SignedDuration::try_from(SLACK).unwrap_or_default();
            seen.observed.checked_add(settle).unwrap_or(seen.observed)
        }
    };
    let pods = hello_pods(lab);
    let before: Vec<&Look> = looks.iter().filter(|l| l.at < from).collect();
    if !before.is_empty() {
        let failed = before
            .iter()
            .filter(|l| {
                l.reply
                    .as_ref()
                    .map_or(true, |r| answered_by_pod(r, &pods).is_err())
            })
            .count();
        lab.record(
            format!("curls of {node} before the window"),
            format!(
                "{} curls, {failed} without a hello-world pod's answer (traefik still routed to pods of the stopped node)",
                before.len()
            ),
        );
    }
    match judge_looks(&looks, from, &pods) {
        Ok((judged, by_pod)) if judged > 0 => {
            lab.record(
                format!("curls of {node}"),
                format!(
                    "{judged} curls from {from} on, all answered: {}",
                    by_pod
                        .iter()
                        .map(|(p, n)| format!("{p} ×{n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            Ok(())
        }
        Ok(_) => Err(OutageError::Missing {
            name: format!("curls of {node} from {from} on"),
            hint: "the prober made none in the window: check it earlier than the window ends"
                .into(),
        }),
        Err(why) => Err(OutageError::Unexpected {
            what: format!("every curl of {node} from the jumpbox from {from} on"),
            expected: "podinfo's JSON naming a hello-world pod".into(),
            found: why,
        }),
    }
}

/// The app keeps answering through `node` for the configured node monitor grace period: waits
/// that long while the prober of `node` curls (started with [`start_curling`]), then checks every
/// curl it made so far ([`expect_curls_answered`] from its start).
///
/// # Errors
/// As [`expect_curls_answered`]; [`OutageError::Missing`] without a prober.
pub async fn expect_answering_for_grace_period(
    lab: &mut Lab,
    node: &str,
) -> Result<(), OutageError> {
    let name = lab.expand(node);
    if lab.prober(&name).is_none() {
        return Err(OutageError::Missing {
            name: format!("curls of {name}"),
            hint: format!(
                "start them with `the reader curls \"{name}\" from the jumpbox every N seconds`"
            ),
        });
    }
    let period = NodeTimings::of(lab).grace;
    lab.mark(format!(
        "watching the answers through {name} for {}",
        human(period)
    ));
    tokio::time::sleep(period).await;
    expect_curls_answered(lab, node, &Since::Start)
}

/// `pod` stays Running on its node (not Terminating, not deleted) from the stop of `node` until
/// its eviction can come ([`NodeTimings::pods_surely_kept`]), checked on every timeline entry.
///
/// # Errors
/// [`LabError::Wait`] naming the entry that broke it.
pub async fn expect_kept_until_toleration(lab: &mut Lab, pod: &str) -> Result<(), OutageError> {
    let pod = lab.expand(pod);
    let node = lab
        .outcome(STOPPED_WORKER)
        .map(str::to_string)
        .ok_or_else(|| OutageError::Missing {
            name: STOPPED_WORKER.into(),
            hint: "pick the worker to stop first".into(),
        })?;
    let period = NodeTimings::of(lab).pods_surely_kept(stop_took(lab, &node)?);
    let (p, n) = (pod.clone(), node.clone());
    let query = StateQuery::new(
        format!("pod {pod} stays Running on {node}"),
        move |snap| match snap.pods.get(&(HELLO_NAMESPACE.to_string(), p.clone())) {
            Some(s) if s.status() == "Running" && s.node.as_deref() == Some(n.as_str()) => Ok(()),
            Some(s) => Err(format!("{p} is {} on {:?}", s.status(), s.node)),
            None => Err(format!("{p} is unknown")),
        },
    );
    lab.expect_stays(&stopped_mark(&node), &query, period)
        .await?;
    Ok(())
}

/// `pod` (on the stopped worker) is evicted: Terminating within the window of
/// [`NodeTimings::eviction_after_stop`], its toleration after the NoExecute taint, with the taint
/// manager's `TaintManagerEviction` event; then a replacement created after the stop is Running
/// and ready on `other`. Records the measurements and [`REPLACEMENT_POD`].
///
/// # Errors
/// [`LabError::Timing`]/[`LabError::Wait`]; [`OutageError::Unexpected`].
pub async fn expect_evicted_and_replaced(
    lab: &mut Lab,
    pod: &str,
    other: &str,
) -> Result<(), OutageError> {
    let (pod, other) = (lab.expand(pod), lab.expand(other));
    let node = lab
        .outcome(STOPPED_WORKER)
        .map(str::to_string)
        .ok_or_else(|| OutageError::Missing {
            name: STOPPED_WORKER.into(),
            hint: "pick the worker to stop first".into(),
        })?;
    let mark = stopped_mark(&node);
    let timings = NodeTimings::of(lab);
    let p = pod.clone();
    let terminating = Query::new(format!("pod {pod} Terminating"), move |e| {
        is_pod(e, &p) && matches!(e.change, Change::PodTerminating { .. })
    });
    lab.measure(
        &format!("{EVICTION_AFTER_STOP} ({node})"),
        &mark,
        &terminating,
        timings.eviction_after_stop(stop_took(lab, &node)?),
        TimeBasis::Observed,
    )
    .await?;
    let deleted = lab
        .timeline()
        .first_after(&mark, &terminating)
        .map_err(LabError::from)?
        .expect("measured above");
    let taint = lab
        .timeline()
        .first_after(
            &mark,
            &Query::node_tainted(&node, "node.kubernetes.io/unreachable", "NoExecute"),
        )
        .map_err(LabError::from)?
        .ok_or_else(|| OutageError::Missing {
            name: format!("{node}'s NoExecute taint"),
            hint: "check that the node is NotReady first".into(),
        })?;
    record_between(
        lab,
        &format!("{EVICTION_AFTER_TAINT} ({node})"),
        &taint,
        &deleted,
        timings.eviction_after_taint(),
    )?;
    // pkg/controller/tainteviction/taint_eviction.go: "Marking for deletion Pod ns/name".
    next_entry(
        lab,
        &mark,
        &Query::event("TaintManagerEviction", &pod),
        SLACK,
    )
    .await?;
    let budget = course::budgets(lab).pods_start;
    let known_at_stop: BTreeSet<String> = lab
        .timeline()
        .snapshot_at(lab.marked(&mark).expect("marked by the stop"))
        .live_pods(HELLO_NAMESPACE, HELLO_PREFIX)
        .map(|(name, _)| name.to_string())
        .collect();
    let timeline = lab.timeline().clone();
    let o = other.clone();
    let replacement = Wait::until(
        format!("a new hello-world pod Running and ready on {other}"),
        budget,
    )
    .backoff(TIMELINE_BACKOFF)
    .poll(|| {
        let snap = timeline.snapshot();
        let found = snap
            .live_pods(HELLO_NAMESPACE, HELLO_PREFIX)
            .find(|(name, s)| {
                !known_at_stop.contains(*name)
                    && s.node.as_deref() == Some(o.as_str())
                    && s.status() == "Running"
                    && s.ready == Some(true)
            })
            .map(|(name, _)| name.to_string());
        std::future::ready(Ok::<_, String>(match found {
            Some(name) => Probe::Holds(name),
            None => Probe::Fails(describe_hello(&snap)),
        }))
    })
    .await?
    .value;
    lab.record(REPLACEMENT_POD, &replacement);
    lab.touch("Pod", HELLO_NAMESPACE, &replacement);
    let r = replacement.clone();
    let ready = lab
        .timeline()
        .first_after(
            &mark,
            &Query::new(format!("pod {replacement} ready"), move |e| {
                is_pod(e, &r) && matches!(e.change, Change::PodReady { ready: true })
            }),
        )
        .map_err(LabError::from)?
        .expect("seen ready above");
    record_between(
        lab,
        &format!("replacement ready after the eviction ({node})"),
        &deleted,
        &ready,
        DurationExpectation::at_most(
            budget,
            Duration::ZERO,
            Source::Upstream {
                reference: "pkg/controller/replicaset: pods with a deletionTimestamp are not active, the replacement is created at once".into(),
            },
        ),
    )?;
    // Still Terminating: its kubelet is away (pkg/kubelet deletes it when it returns).
    let snap = lab.timeline().snapshot();
    match snap.pods.get(&(HELLO_NAMESPACE.to_string(), pod.clone())) {
        Some(s) if s.status() == "Terminating" => Ok(()),
        other => Err(OutageError::Unexpected {
            what: format!("{pod} while {node} is down"),
            expected: "Terminating (its kubelet must confirm the deletion)".into(),
            found: format!("{:?}", other.map(crate::timeline::PodState::status)),
        }),
    }
}

fn describe_hello(snap: &Snapshot) -> String {
    let pods: Vec<String> = snap
        .live_pods(HELLO_NAMESPACE, HELLO_PREFIX)
        .map(|(name, s)| {
            format!(
                "{name} {} on {} ready={:?}",
                s.status(),
                s.node.as_deref().unwrap_or("<none>"),
                s.ready
            )
        })
        .collect();
    if pods.is_empty() {
        "no hello-world pods".into()
    } else {
        pods.join("; ")
    }
}

/// The reader's `kubectl get nodes` (or another kubectl command) on the host fails because no API
/// server answers: non-zero exit and kubectl's connection error. Records what it printed.
///
/// # Errors
/// [`OutageError::Unexpected`] when it succeeds or fails for another reason.
pub async fn expect_api_unreachable(lab: &mut Lab, command: &str) -> Result<(), OutageError> {
    let (code, output) = kubectl::run(lab, &Place::Host, command).await?;
    let text = output.trim().to_string();
    // kubectl's messages for a server that does not answer (staging/src/k8s.io/kubectl/pkg/cmd/util
    // helpers.go, "The connection to the server … was refused", "Unable to connect to the server").
    let unreachable = [
        "was refused",
        "Unable to connect to the server",
        "connect: connection refused",
        "i/o timeout",
        "no route to host",
        "TLS handshake timeout",
    ]
    .iter()
    .any(|m| text.contains(m));
    lab.record(format!("`{command}` without the control plane"), &text);
    if code != 0 && unreachable {
        Ok(())
    } else {
        Err(OutageError::Unexpected {
            what: format!("`{command}` on the host while the control plane is stopped"),
            expected: "a non-zero exit and kubectl's connection error".into(),
            found: format!("exit {code}: {text}"),
        })
    }
}

/// After the control plane's start: the reader's kubeconfig is refreshed if the API server's
/// host port moved (see [`course::refresh_api_address`]); records what was found.
///
/// # Errors
/// As [`course::refresh_api_address`].
pub async fn refresh_kubeconfig(lab: &mut Lab) -> Result<(), OutageError> {
    let found = course::refresh_api_address(lab).await?;
    lab.record("API server address after the restart", found);
    Ok(())
}

/// After the control-plane node started again: each worker's Lease is renewed (heartbeats
/// resume), and for [`NodeTimings::no_eviction_window`] the workers stay Ready and no pod that
/// existed when it started is deleted or Terminating — the node lifecycle controller does not
/// count its own downtime against the nodes.
///
/// # Errors
/// [`LabError::Wait`] naming what broke.
pub async fn expect_resumed_without_eviction(lab: &mut Lab) -> Result<(), OutageError> {
    let primary = course::primary(lab)?.name;
    let mark = started_mark(&primary);
    let since = lab.marked(&mark).ok_or_else(|| OutageError::Missing {
        name: mark.clone(),
        hint: format!("start {primary} with `minikube node start` first"),
    })?;
    let timings = NodeTimings::of(lab);
    let workers: Vec<String> = course::workers(lab).into_iter().map(|w| w.name).collect();
    let budget = course::budgets(lab).node_ready + timings.lease_renew();
    for worker in &workers {
        let w = worker.clone();
        next_entry(
            lab,
            &mark,
            &Query::new(format!("{worker}'s Lease renewed"), move |e| {
                is_node(e, &w) && matches!(e.change, Change::LeaseRenewed)
            }),
            budget,
        )
        .await?;
    }
    let at_start: BTreeSet<(String, String)> = lab
        .timeline()
        .snapshot_at(since)
        .pods
        .iter()
        .filter(|(_, p)| !p.deleted && p.terminating.is_none())
        .map(|(k, _)| k.clone())
        .collect();
    let query = StateQuery::new(
        format!(
            "the workers stay Ready and none of the {} pods is evicted",
            at_start.len()
        ),
        move |snap| {
            for w in &workers {
                let ready = snap.nodes.get(w).and_then(|n| n.ready.as_deref());
                if ready != Some("True") {
                    return Err(format!("{w} Ready={}", ready.unwrap_or("not reported")));
                }
            }
            for key in &at_start {
                match snap.pods.get(key) {
                    Some(p) if !p.deleted && p.terminating.is_none() => {}
                    Some(p) => return Err(format!("pod {}/{} is {}", key.0, key.1, p.status())),
                    None => return Err(format!("pod {}/{} is unknown", key.0, key.1)),
                }
            }
            Ok(())
        },
    );
    lab.expect_stays(&mark, &query, timings.no_eviction_window())
        .await?;
    Ok(())
}

/// The course's `curl <node IP>` from the jumpbox fails for each node: curl gets no HTTP answer
/// at all (connection refused, no route, timeout). An HTTP answer of any status fails the check:
/// nothing of the cluster serves a stopped node's address, so something else answered.
///
/// # Errors
/// [`OutageError::Unexpected`] naming the answer.
pub async fn expect_unreachable(lab: &mut Lab, nodes: &[String]) -> Result<(), OutageError> {
    for name in nodes {
        let node = course::node(lab, name)?;
        let reply = lab.curl_from_jumpbox(&node.ip.to_string()).await?;
        lab.record(
            format!("curl {} without workers", node.name),
            format!("curl exit {}: {}", reply.curl_exit, reply.error),
        );
        if reply.status.is_some() || reply.curl_exit == 0 {
            return Err(OutageError::Unexpected {
                what: format!(
                    "curl {} ({}) from the jumpbox with no worker running",
                    node.ip, node.name
                ),
                expected: "no HTTP answer (connection refused, no route or timeout)".into(),
                found: format!(
                    "HTTP {:?} {:?}: an address the stopped node owned answered, so something outside the cluster serves it",
                    reply.status, reply.body
                ),
            });
        }
    }
    Ok(())
}

/// The course's `kubectl edit deployment NAME` on the host, made non-interactive: `KUBE_EDITOR`
/// is `sed -i 's/replicas: [0-9]*/replicas: N/'`, which kubectl runs through the shell on the file
/// it opens (`k8s.io/kubectl/pkg/cmd/util/editor`). What it printed is remembered under
/// `kubectl edit deployment NAME`; the mark `NAME scaled` is set first.
///
/// # Errors
/// [`CourseError::CommandFailed`] when kubectl fails.
pub async fn scale_with_edit(
    lab: &mut Lab,
    deployment: &str,
    replicas: u32,
) -> Result<(), OutageError> {
    let label = format!("kubectl edit deployment {deployment}");
    let state = lab.course().ok_or(CourseError::NoCluster)?;
    let files = state.files();
    let cmd = Command::new("kubectl")
        .args(["edit", "deployment", deployment])
        .env("KUBECONFIG", files.kubeconfig().to_string_lossy())
        .env("KUBECACHEDIR", files.cache_dir().to_string_lossy())
        .env(
            "KUBE_EDITOR",
            format!("sed -i 's/replicas: [0-9]*/replicas: {replicas}/'"),
        )
        .note("the course's `kubectl edit`, with sed as the editor");
    lab.mark(format!("{deployment} scaled"));
    let output = lab
        .minikube()
        .runner()
        .run(&cmd)
        .await
        .map_err(CourseError::from)?;
    if !output.success() {
        return Err(CourseError::CommandFailed {
            node: "host".into(),
            command: label,
            code: output.code().unwrap_or(-1),
            output: lab
                .minikube()
                .runner()
                .redact(&format!("{}{}", output.stdout, output.stderr)),
        }
        .into());
    }
    if let Some(state) = lab.course_mut() {
        state.remember(&label, "host", &output.stdout);
    }
    Ok(())
}

/// After scaling hello-world up with no worker Ready: the Deployment wants `replicas`, the
/// ReplicaSet created the missing pods, and every pod created since the scale is `Pending` and
/// unscheduled, through the API and in the reader's `kubectl get pods -o wide`. Records
/// [`PENDING_PODS`].
///
/// # Errors
/// [`LabError::Wait`] when the pods do not appear; [`OutageError::Unexpected`].
pub async fn expect_new_pods_pending(lab: &mut Lab, replicas: usize) -> Result<(), OutageError> {
    let since = lab
        .marked("hello-world scaled")
        .ok_or_else(|| OutageError::Missing {
            name: "hello-world scaled".into(),
            hint: "scale it with `kubectl edit` first".into(),
        })?;
    let budget = course::budgets(lab).pods_start;
    let client = lab.kube()?.clone();
    let pending = kube::wait_pods(
        &client,
        &format!("{replicas} hello-world pods, the new ones Pending"),
        HELLO_NAMESPACE,
        HELLO_SELECTOR,
        budget,
        |pods| new_pods_pending(pods, since, replicas),
    )
    .await?;
    lab.record(PENDING_PODS, pending.join(", "));
    for p in &pending {
        lab.touch("Pod", HELLO_NAMESPACE, p);
    }
    let rows: Vec<BTreeMap<String, String>> = pending
        .iter()
        .map(|p| {
            BTreeMap::from([
                ("NAME".to_string(), p.clone()),
                ("STATUS".to_string(), "Pending".to_string()),
                ("NODE".to_string(), "<none>".to_string()),
            ])
        })
        .collect();
    kubectl::expect_table(lab, &Place::Host, "kubectl get pods -o wide", &rows).await?;
    Ok(())
}

/// The check of [`expect_new_pods_pending`] over one list of hello-world pods: `replicas` active
/// (not Terminating) pods, and the ones created at or after `since` all Pending without a node.
///
/// # Errors
/// What was seen instead.
pub fn new_pods_pending(
    pods: &[Pod],
    since: Timestamp,
    replicas: usize,
) -> Result<Vec<String>, String> {
    // Creation timestamps have whole seconds.
    let floor = Timestamp::from_second(since.as_second()).unwrap_or(since);
    let active: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    let new: Vec<&Pod> = active
        .iter()
        .copied()
        .filter(|p| {
            p.metadata
                .creation_timestamp
                .as_ref()
                .is_some_and(|t| t.0 >= floor)
        })
        .collect();
    let all_pending = new.iter().all(|p| {
        kube::phase(p) == "Pending" && p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_none()
    });
    if active.len() == replicas && !new.is_empty() && all_pending {
        let mut names: Vec<String> = new.iter().map(|p| kube::name_of(p).to_string()).collect();
        names.sort();
        Ok(names)
    } else {
        Err(pods
            .iter()
            .map(kube::describe_pod)
            .collect::<Vec<_>>()
            .join("; "))
    }
}

/// Once the workers are back and the pods Running: records how the hello-world pods spread over
/// the workers ([`DISTRIBUTION`], the course's notation) and checks that the pods created while no
/// worker was Ready were scheduled only after a worker started. Both workers must be Ready; sets
/// the mark `pods placed`.
///
/// # Errors
/// [`OutageError::Unexpected`] for pods outside the workers or scheduled too early.
pub async fn record_distribution(lab: &mut Lab) -> Result<String, OutageError> {
    let workers: Vec<String> = course::workers(lab).into_iter().map(|w| w.name).collect();
    let client = lab.kube()?.clone();
    kube::wait_nodes(
        &client,
        "both workers Ready again",
        course::budgets(lab).node_ready,
        |nodes| kube::all_ready(nodes, &workers),
    )
    .await?;
    let placement = hello_placement(lab).await?;
    let shown = distribution(&placement, &workers).map_err(|found| OutageError::Unexpected {
        what: "the hello-world pods' nodes".into(),
        expected: format!("every pod on {}", workers.join(" or ")),
        found,
    })?;
    lab.record(DISTRIBUTION, &shown);
    lab.record(
        "placement",
        placement
            .iter()
            .map(|(p, n)| format!("{p} on {n}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    // The pods created while no worker was Ready were bound only once one came back.
    let first_start = workers
        .iter()
        .filter_map(|w| lab.marked(&starting_mark(w)))
        .min()
        .ok_or_else(|| OutageError::Missing {
            name: "a worker's start".into(),
            hint: "start the workers with `minikube node start` first".into(),
        })?;
    if let Some(pending) = lab.outcome(PENDING_PODS).map(str::to_string) {
        for pod in pending.split(", ") {
            let p = pod.to_string();
            let scheduled = lab
                .timeline()
                .all_after(
                    "hello-world scaled",
                    &Query::new(format!("{pod} scheduled"), move |e| {
                        is_pod(e, &p)
                            && matches!(
                                &e.change,
                                Change::PodScheduled { .. }
                                    | Change::PodAdded { node: Some(_), .. }
                            )
                    }),
                )
                .map_err(LabError::from)?;
            if let Some(early) = scheduled.iter().find(|e| e.observed < first_start) {
                return Err(OutageError::Unexpected {
                    what: format!("{pod} bound to a node"),
                    expected: "only after a worker started again".into(),
                    found: early.to_string(),
                });
            }
        }
    }
    lab.mark("pods placed");
    Ok(shown)
}

/// Nothing is rescheduled: for the stability window (the configured node monitor grace period)
/// after the mark `pods placed`, no hello-world pod moves, is deleted or is added. Records
/// [`NO_REBALANCING`] either way.
///
/// # Errors
/// [`LabError::Wait`] naming the change.
pub async fn expect_no_rebalancing(lab: &mut Lab) -> Result<(), OutageError> {
    let since = lab
        .marked("pods placed")
        .ok_or_else(|| OutageError::Missing {
            name: "pods placed".into(),
            hint: "record the distribution first".into(),
        })?;
    let placement: BTreeMap<String, String> = lab
        .timeline()
        .snapshot_at(since)
        .live_pods(HELLO_NAMESPACE, HELLO_PREFIX)
        .map(|(name, p)| (name.to_string(), p.node.clone().unwrap_or_default()))
        .collect();
    let window = NodeTimings::of(lab).grace;
    let query = StateQuery::pods_stay_put(HELLO_NAMESPACE, HELLO_PREFIX, placement);
    match lab.expect_stays("pods placed", &query, window).await {
        Ok(()) => {
            lab.record(NO_REBALANCING, "yes");
            Ok(())
        }
        Err(e) => {
            lab.record(NO_REBALANCING, format!("no: {e}"));
            Err(e.into())
        }
    }
}

/// The static pod manifest kubeadm writes for kube-controller-manager.
pub const CONTROLLER_MANAGER_MANIFEST: &str =
    "/etc/kubernetes/manifests/kube-controller-manager.yaml";

/// Where the operator keeps the original while experimenting: outside the manifests directory,
/// which the kubelet runs every file of.
pub const CONTROLLER_MANAGER_BACKUP: &str = "/etc/kubernetes/kube-controller-manager.yaml.orig";

/// The operator's edit: keep a copy, then add `flag` as a line of its own after the
/// `- kube-controller-manager` line of the command (same indentation), and show the result.
#[must_use]
pub fn add_flag_script(flag: &str) -> String {
    format!(
        "sudo cp -p {CONTROLLER_MANAGER_MANIFEST} {CONTROLLER_MANAGER_BACKUP} && sudo sed -i 's/^\\( *\\)- kube-controller-manager$/&\\n\\1- {flag}/' {CONTROLLER_MANAGER_MANIFEST} && sudo grep -n -A1 -e '- kube-controller-manager$' {CONTROLLER_MANAGER_MANIFEST}"
    )
}

/// The operator's restore: the copy goes back and is removed.
pub const RESTORE_SCRIPT: &str = "sudo cp -p /etc/kubernetes/kube-controller-manager.yaml.orig /etc/kubernetes/manifests/kube-controller-manager.yaml && sudo rm /etc/kubernetes/kube-controller-manager.yaml.orig";

/// The holder of the `kube-system/kube-controller-manager` Lease and when it last renewed.
async fn controller_manager_leader(lab: &Lab) -> Result<(String, Option<Timestamp>), OutageError> {
    let lease = ::kube::Api::<Lease>::namespaced(lab.kube()?.clone(), "kube-system")
        .get("kube-controller-manager")
        .await
        .map_err(|source| KubeError::Api {
            what: "get lease kube-system/kube-controller-manager".into(),
            source,
        })?;
    let spec = lease.spec.unwrap_or_default();
    Ok((
        spec.holder_identity.unwrap_or_default(),
        spec.renew_time.map(|t| t.0),
    ))
}

/// The outcome holding the controller manager's leader when its manifest last changed.
const LEADER_AT_CHANGE: &str = "kube-controller-manager leader at the manifest change";

/// The operator adds `flag` to kube-controller-manager's static pod manifest on `node` (the
/// control plane), keeping the original ([`add_flag_script`]). Marks `controller manager manifest
/// edited`.
///
/// # Errors
/// [`CourseError::CommandFailed`] when the edit fails or the flag is not in the file afterwards.
pub async fn add_controller_manager_flag(
    lab: &mut Lab,
    node: &str,
    flag: &str,
) -> Result<(), OutageError> {
    let node = lab.expand(node);
    let (leader, _) = controller_manager_leader(lab).await?;
    lab.record(LEADER_AT_CHANGE, leader);
    lab.mark("controller manager manifest edited");
    let script = add_flag_script(flag);
    let result = lab.run_on(&node, &script).await?;
    if !result.success() || !result.output.contains(flag) {
        return Err(CourseError::CommandFailed {
            node,
            command: script,
            code: result.code,
            output: result.output,
        }
        .into());
    }
    lab.record("kube-controller-manager flag added", flag);
    Ok(())
}

/// The operator puts the original manifest back. Marks `controller manager manifest restored`.
///
/// # Errors
/// [`CourseError::CommandFailed`].
pub async fn restore_controller_manager(lab: &mut Lab, node: &str) -> Result<(), OutageError> {
    let node = lab.expand(node);
    let (leader, _) = controller_manager_leader(lab).await?;
    lab.record(LEADER_AT_CHANGE, leader);
    lab.mark("controller manager manifest restored");
    let result = lab.run_on(&node, RESTORE_SCRIPT).await?;
    if !result.success() {
        return Err(CourseError::CommandFailed {
            node,
            command: RESTORE_SCRIPT.into(),
            code: result.code,
            output: result.output,
        }
        .into());
    }
    Ok(())
}

/// The mirror pod of kube-controller-manager on `node`.
async fn controller_manager_pod(lab: &Lab, node: &str) -> Result<Pod, OutageError> {
    Ok(kube::pod(
        lab.kube()?,
        "kube-system",
        &format!("kube-controller-manager-{node}"),
    )
    .await?)
}

fn command_of(pod: &Pod) -> Vec<String> {
    pod.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.command.clone())
        .unwrap_or_default()
}

/// kube-controller-manager, restarted by the kubelet from the edited manifest (its mirror pod's
/// command has the added flag), keeps exiting: restarts and a non-zero exit or `CrashLoopBackOff`.
/// Then the reader's `kubectl -n kube-system logs kube-controller-manager-<node>` on the control
/// plane shows `message`. Records [`POD_EVICTION_TIMEOUT_FATE`].
///
/// # Errors
/// [`LabError::Wait`] when it does not crash; [`OutageError::Unexpected`] without the message.
pub async fn expect_controller_manager_crash_loops(
    lab: &mut Lab,
    node: &str,
    message: &str,
) -> Result<(), OutageError> {
    let node = lab.expand(node);
    let flag = lab
        .outcome("kube-controller-manager flag added")
        .unwrap_or_default()
        .to_string();
    let budget = course::budgets(lab).node_ready;
    let lab_ref = &*lab;
    Wait::until(
        format!("kube-controller-manager-{node} with {flag} crash-looping"),
        budget,
    )
    .poll(|| async {
        let pod = match controller_manager_pod(lab_ref, &node).await {
            Ok(p) => p,
            Err(e) => return Ok::<_, String>(Probe::Fails(e.to_string())),
        };
        if !command_of(&pod).contains(&flag) {
            return Ok(Probe::Fails(format!(
                "the mirror pod still runs the old command: {}",
                kube::describe_pod(&pod)
            )));
        }
        let status = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|c| c.first());
        let crashed = status.is_some_and(|c| {
            let exited = c
                .last_state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .is_some_and(|t| t.exit_code != 0);
            let backoff = c
                .state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .is_some_and(|w| w.reason.as_deref() == Some("CrashLoopBackOff"));
            c.restart_count >= 1 && (exited || backoff)
        });
        Ok(if crashed {
            Probe::Holds(())
        } else {
            Probe::Fails(kube::describe_pod(&pod))
        })
    })
    .await?;
    let command = format!("kubectl -n kube-system logs kube-controller-manager-{node}");
    let (code, output) = kubectl::run(lab, &Place::Node(node.clone()), &command).await?;
    let line = output
        .lines()
        .map(str::trim)
        .find(|l| l.contains(message))
        .map(str::to_string);
    match line {
        Some(line) => {
            lab.record(POD_EVICTION_TIMEOUT_FATE, format!("crash-looping: {line}"));
            Ok(())
        }
        None => Err(OutageError::Unexpected {
            what: format!("`{command}` on {node}"),
            expected: format!("a line with {message:?}"),
            found: format!("exit {code}: {}", output.trim()),
        }),
    }
}

/// kube-controller-manager runs again after the last manifest change: its mirror pod on `node` is
/// Running and ready, and a new instance (an identity other than the one holding the Lease at the
/// change) holds and renews the `kube-system/kube-controller-manager` Lease — the node lifecycle
/// controller works again. When the manifest still has `--pod-eviction-timeout`, records that it
/// runs with it ([`POD_EVICTION_TIMEOUT_FATE`]). The hello-world pods stay as they were before the
/// edit until 10 s after the new leader took over (a new instance must not act on empty caches).
///
/// # Errors
/// [`LabError::Wait`] naming the last state.
pub async fn expect_controller_manager_leads(lab: &mut Lab, node: &str) -> Result<(), OutageError> {
    let node = lab.expand(node);
    let before = lab
        .outcome(LEADER_AT_CHANGE)
        .unwrap_or_default()
        .to_string();
    // A new instance waits for the old record to expire (client-go leaderelection: one lease
    // duration, 15 s for kube-controller-manager) after the kubelet noticed the manifest.
    let budget = course::budgets(lab).node_ready;
    let lab_ref = &*lab;
    let pod = Wait::until(
        format!("kube-controller-manager-{node} Running and leading"),
        budget,
    )
    .poll(|| async {
        let pod = match controller_manager_pod(lab_ref, &node).await {
            Ok(p) => p,
            Err(e) => return Ok::<_, String>(Probe::Fails(e.to_string())),
        };
        if !kube::running_and_ready(&pod) {
            return Ok(Probe::Fails(kube::describe_pod(&pod)));
        }
        Ok(match controller_manager_leader(lab_ref).await {
            Ok((holder, Some(renewed)))
                if holder != before
                    && !holder.is_empty()
                    && crate::timeline::duration_between(renewed, Timestamp::now())
                        < Duration::from_secs(15) =>
            {
                Probe::Holds(pod)
            }
            Ok((holder, renewed)) => Probe::Fails(format!(
                "the Lease is held by {holder:?} (renewed {renewed:?}), as before the change"
            )),
            Err(e) => Probe::Fails(e.to_string()),
        })
    })
    .await?
    .value;
    if let Some(flag) = command_of(&pod)
        .into_iter()
        .find(|a| a.starts_with("--pod-eviction-timeout"))
    {
        lab.record(POD_EVICTION_TIMEOUT_FATE, format!("running with {flag}"));
    }
    // The new instance's controllers start from full caches (client-go
    // `cache.WaitForNamedCacheSync` in every controller's Run): the hello-world pods that ran
    // before the first edit stay as they are while it takes over, and for 2 × SLACK after.
    let edited = "controller manager manifest edited";
    let since = lab.marked(edited).ok_or_else(|| OutageError::Missing {
        name: edited.into(),
        hint: "edit the manifest first".into(),
    })?;
    let placement: BTreeMap<String, String> = lab
        .timeline()
        .snapshot_at(since)
        .live_pods(HELLO_NAMESPACE, HELLO_PREFIX)
        .map(|(name, p)| (name.to_string(), p.node.clone().unwrap_or_default()))
        .collect();
    let period = crate::timeline::duration_between(since, Timestamp::now()) + SLACK * 2;
    lab.expect_stays(
        edited,
        &StateQuery::pods_stay_put(HELLO_NAMESPACE, HELLO_PREFIX, placement),
        period,
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn version(minor: u32) -> K8sVersion {
        K8sVersion::from_minor(minor).unwrap()
    }

    #[test]
    fn defaults_follow_the_version_and_the_config_wins() {
        let old = NodeTimings::new(None, version(31));
        assert_eq!(
            (old.grace, old.lease_renew(), old.unreachable_toleration),
            (secs(40), secs(10), secs(300))
        );
        assert!(!old.grace_configured);
        assert_eq!(NodeTimings::new(None, version(32)).grace, secs(50));
        let fast = Timings {
            node_monitor_grace_period: Some(secs(10)),
            default_not_ready_toleration: Some(secs(20)),
            default_unreachable_toleration: Some(secs(20)),
            node_lease_duration: Some(secs(8)),
        };
        let t = NodeTimings::new(Some(&fast), version(33));
        assert_eq!(
            (
                t.grace,
                t.lease_renew(),
                t.unreachable_toleration,
                t.not_ready_toleration
            ),
            (secs(10), secs(2), secs(20), secs(20))
        );
        assert!(
            t.setting()
                .contains("node-monitor-grace-period=10s (kubeadm config)")
        );
    }

    #[test]
    fn not_ready_comes_after_the_grace_period_less_one_heartbeat() {
        // 1.33 defaults: grace 50 s, renew 10 s, monitor 5 s: [40, 55] s after the stop, ± slack.
        let t = NodeTimings::new(None, version(33));
        let e = t.not_ready_after_stop(Duration::ZERO);
        assert_eq!(bounds(&e), (secs(35), secs(60)));
        assert!(e.holds_for(secs(47)) && !e.holds_for(secs(9)) && !e.holds_for(secs(61)));
        // A stop that took 3 s may have killed the kubelet 3 s before the mark.
        assert_eq!(bounds(&t.not_ready_after_stop(secs(3))).0, secs(32));
        // 1.31: 40 s.
        let e = NodeTimings::new(None, version(31)).not_ready_after_stop(Duration::ZERO);
        assert_eq!(bounds(&e), (secs(25), secs(50)));
    }

    #[test]
    fn the_no_execute_taint_waits_for_the_zone_s_token() {
        let t = NodeTimings::new(None, version(33));
        // Alone: the next monitor pass, 5 s ± slack.
        assert_eq!(
            bounds(&t.no_execute_after_not_ready(0)),
            (secs(0), secs(10))
        );
        // A second node of the zone waits up to one more eviction-rate interval (0.1 nodes/s).
        let e = t.no_execute_after_not_ready(1);
        assert_eq!(bounds(&e), (secs(0), secs(20)));
        assert!(e.holds_for(Duration::from_millis(10_100)));
        assert!(
            !t.no_execute_after_not_ready(0)
                .holds_for(Duration::from_millis(10_100))
        );
    }

    #[test]
    fn eviction_follows_the_toleration_after_the_taint() {
        let t = NodeTimings::new(None, version(33));
        assert_eq!(bounds(&t.eviction_after_taint()), (secs(295), secs(305)));
        // NotReady [40, 55], the NoExecute taint a monitor pass later, then 300 s.
        assert_eq!(
            bounds(&t.eviction_after_stop(Duration::ZERO)),
            (secs(340), secs(365))
        );
        assert_eq!(t.pods_surely_kept(Duration::ZERO), secs(340));
        assert_eq!(t.no_eviction_window(), secs(50 + 10 + 300 + 5));
    }

    #[test]
    fn distributions_are_written_as_the_course_does() {
        let workers = ["m02".to_string(), "m03".to_string()];
        let placement = |nodes: &[&str]| -> BTreeMap<String, String> {
            nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("hello-world-{i}"), (*n).to_string()))
                .collect()
        };
        let d = |nodes: &[&str]| distribution(&placement(nodes), &workers);
        assert_eq!(d(&["m02"; 5]).unwrap(), "5/0");
        assert_eq!(d(&["m02", "m03", "m03", "m02", "m03"]).unwrap(), "2/3");
        assert_eq!(d(&["m03", "m02", "m02", "m02", "m02"]).unwrap(), "4/1");
        let all: BTreeSet<String> = [["m02"; 5], ["m03"; 5]]
            .iter()
            .map(|n| d(n).unwrap())
            .collect();
        assert!(
            all.iter()
                .all(|x| COURSE_DISTRIBUTIONS.contains(&x.as_str()))
        );
        let err = d(&["m02", "m02", "m02", "m02", "cp"]).unwrap_err();
        assert_eq!(err, "not on a worker: hello-world-4 on cp");
        // Every split of 5 pods over 2 workers is one of the course's outcomes.
        for on_first in 0..=5usize {
            let nodes: Vec<&str> = (0..5)
                .map(|i| if i < on_first { "m02" } else { "m03" })
                .collect();
            assert!(COURSE_DISTRIBUTIONS.contains(&d(&nodes).unwrap().as_str()));
        }
    }

    fn reply(status: Option<u16>, body: &str) -> HttpReply {
        HttpReply {
            curl_exit: if status.is_some() { 0 } else { 7 },
            status,
            body: body.into(),
            error: if status.is_some() {
                String::new()
            } else {
                "curl: (7) Failed to connect".into()
            },
        }
    }

    #[test]
    fn only_podinfo_answers_naming_a_known_pod_count() {
        let pods = BTreeSet::from(["hello-world-1".to_string()]);
        let ok = reply(
            Some(200),
            "{\n  \"hostname\": \"hello-world-1\",\n  \"version\": \"6.3.4\"\n}",
        );
        assert_eq!(answered_by_pod(&ok, &pods).unwrap(), "hello-world-1");
        let bad = answered_by_pod(&reply(Some(502), "Bad Gateway"), &pods).unwrap_err();
        assert_eq!(bad, "HTTP 502 \"Bad Gateway\"");
        assert!(
            answered_by_pod(&reply(Some(200), "{\"hostname\": \"impostor\"}"), &pods)
                .unwrap_err()
                .contains("no hello-world pod")
        );
        // An egress proxy's 404 is an answer, but not the app's.
        assert!(answered_by_pod(&reply(Some(404), "404 page not found\n"), &pods).is_err());
        assert!(
            answered_by_pod(&reply(None, ""), &pods)
                .unwrap_err()
                .starts_with("no answer")
        );
    }

    #[test]
    fn looks_are_judged_from_the_window_on() {
        let pods = BTreeSet::from(["hello-world-1".to_string(), "hello-world-2".to_string()]);
        let at = |s: i64| Timestamp::from_second(1_700_000_000 + s).unwrap();
        let look = |s, status, pod: &str| Look {
            at: at(s),
            reply: Ok(reply(status, &format!("{{\"hostname\": \"{pod}\"}}"))),
        };
        let looks = vec![
            look(0, Some(200), "hello-world-1"),
            look(2, Some(502), ""),
            look(4, Some(200), "hello-world-1"),
            look(6, Some(200), "hello-world-2"),
            look(8, Some(200), "hello-world-1"),
        ];
        let (n, by_pod) = judge_looks(&looks, at(3), &pods).unwrap();
        assert_eq!(n, 3);
        assert_eq!(by_pod["hello-world-1"], 2);
        let err = judge_looks(&looks, at(0), &pods).unwrap_err();
        assert!(err.contains("HTTP 502"), "{err}");
        let failed = vec![Look {
            at: at(9),
            reply: Err("cannot run curl".into()),
        }];
        assert!(judge_looks(&failed, at(0), &pods).is_err());
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[secs(10), secs(30), secs(10)]), Some(secs(10)));
        assert_eq!(median(&[secs(9), secs(11)]), Some(secs(10)));
    }

    fn evidence(timing: Timing) -> Evidence {
        let mut outcomes = BTreeMap::new();
        outcomes.insert(STOPPED_WORKER.to_string(), "labs-m03".to_string());
        let m = |name: &str, s: u64| Measurement::new(format!("{name} (labs-m03)"), secs(s));
        Evidence {
            timing,
            version: version(33),
            timings: NodeTimings::new(None, version(33)),
            measurements: vec![
                m(NOT_READY_AFTER_STOP, 52),
                m(EVICTION_AFTER_STOP, 357),
                m(EVICTION_AFTER_TAINT, 300),
            ],
            outcomes,
            heartbeats: vec![secs(10); 20],
        }
    }

    #[test]
    fn default_timing_claims_are_judged_only_under_the_default_profile() {
        let default = evidence(Timing::Default);
        let c = claim("ch7.not-ready-latency", &default).unwrap();
        assert_eq!(c.verdict(), crate::claims::Verdict::Drifted);
        assert_eq!(c.verdict_text(), "drifted by +42 s");
        let c = claim("ch7.heartbeat", &default).unwrap();
        assert_eq!(c.verdict(), crate::claims::Verdict::Holds);
        let c = claim("ch7.eviction-latency", &default).unwrap();
        assert_eq!(c.measured, Measured::Duration { value: secs(357) });
        assert_eq!(c.verdict_text(), "drifted by +27 s");
        assert!(
            c.notes
                .iter()
                .any(|n| n.contains("5 min after the NoExecute taint"))
        );
        let fast = evidence(Timing::Fast);
        for id in [
            "ch7.not-ready-latency",
            "ch7.heartbeat",
            "ch7.eviction-latency",
        ] {
            let c = claim(id, &fast).unwrap();
            assert_eq!(c.verdict(), crate::claims::Verdict::NotMeasured, "{id}");
            assert!(
                c.notes.iter().any(|n| n.contains("under the fast profile")),
                "{id}"
            );
        }
    }

    #[test]
    fn pod_eviction_timeout_is_false_whether_refused_or_ignored() {
        let mut e = evidence(Timing::Fast);
        let c = claim("ch7.pod-eviction-timeout", &e).unwrap();
        assert_eq!(c.verdict(), crate::claims::Verdict::NotMeasured);
        e.outcomes.insert(
            POD_EVICTION_TIMEOUT_FATE.into(),
            "crash-looping: Error: unknown flag: --pod-eviction-timeout".into(),
        );
        let c = claim("ch7.pod-eviction-timeout", &e).unwrap();
        assert_eq!(c.measured, Measured::Bool { value: false });
        // 1.26: it runs with the flag, and the pod still went after the toleration.
        e.outcomes.insert(
            POD_EVICTION_TIMEOUT_FATE.into(),
            "running with --pod-eviction-timeout=5s".into(),
        );
        let c = claim("ch7.pod-eviction-timeout", &e).unwrap();
        assert_eq!(c.measured, Measured::Bool { value: false });
        assert!(
            c.notes
                .iter()
                .any(|n| n.contains("as the unreachable toleration"))
        );
        // Had the pod gone after 5 s, the flag would have worked.
        e.measurements = vec![Measurement::new(
            format!("{EVICTION_AFTER_TAINT} (labs-m03)"),
            secs(5),
        )];
        let c = claim("ch7.pod-eviction-timeout", &e).unwrap();
        assert_eq!(c.measured, Measured::Bool { value: true });
    }

    #[test]
    fn distribution_and_rebalancing_claims() {
        let mut e = evidence(Timing::Fast);
        assert_eq!(
            claim("ch7.distribution", &e).unwrap().verdict(),
            crate::claims::Verdict::NotMeasured
        );
        e.outcomes.insert(DISTRIBUTION.into(), "4/1".into());
        e.outcomes.insert(NO_REBALANCING.into(), "yes".into());
        assert_eq!(
            claim("ch7.distribution", &e).unwrap().verdict(),
            crate::claims::Verdict::Holds
        );
        assert_eq!(
            claim("ch7.no-rebalancing", &e).unwrap().verdict(),
            crate::claims::Verdict::Holds
        );
        e.outcomes
            .insert(NO_REBALANCING.into(), "no: hello-world-x moved".into());
        let c = claim("ch7.no-rebalancing", &e).unwrap();
        assert_eq!(c.verdict(), crate::claims::Verdict::Drifted);
        assert!(c.notes.contains(&"no: hello-world-x moved".to_string()));
        let err = claim("ch7.rebalance", &e).unwrap_err().to_string();
        assert!(err.contains("ch7.no-rebalancing"), "{err}");
    }

    #[test]
    fn new_pods_are_those_created_since_the_scale() {
        let pod = |name: &str, created: &str, node: Option<&str>, phase: &str| -> Pod {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "creationTimestamp": created},
                "spec": {"containers": [], "nodeName": node},
                "status": {"phase": phase}
            }))
            .unwrap()
        };
        let since: Timestamp = "2026-01-01T10:00:00.400Z".parse().unwrap();
        let old = pod(
            "hello-world-a",
            "2026-01-01T09:00:00Z",
            Some("m02"),
            "Running",
        );
        let old2 = pod(
            "hello-world-b",
            "2026-01-01T09:00:00Z",
            Some("m03"),
            "Running",
        );
        let new: Vec<Pod> = (0..3)
            .map(|i| {
                pod(
                    &format!("hello-world-n{i}"),
                    "2026-01-01T10:00:00Z",
                    None,
                    "Pending",
                )
            })
            .collect();
        let mut pods = vec![old.clone(), old2];
        pods.extend(new.clone());
        assert_eq!(
            new_pods_pending(&pods, since, 5).unwrap(),
            ["hello-world-n0", "hello-world-n1", "hello-world-n2"]
        );
        // Not all there yet.
        assert!(new_pods_pending(&pods[..4], since, 5).is_err());
        // A new pod bound already is not Pending.
        let mut bound = pods.clone();
        bound[2] = pod(
            "hello-world-n0",
            "2026-01-01T10:00:00Z",
            Some("m02"),
            "Pending",
        );
        assert!(new_pods_pending(&bound, since, 5).is_err());
    }

    #[test]
    fn the_operator_s_edit_keeps_the_manifest_s_indentation() {
        let script = add_flag_script("--pod-eviction-timeout=1m0s");
        assert!(script.starts_with(&format!(
            "sudo cp -p {CONTROLLER_MANAGER_MANIFEST} {CONTROLLER_MANAGER_BACKUP} && "
        )));
        assert!(script.contains(
            "sudo sed -i 's/^\\( *\\)- kube-controller-manager$/&\\n\\1- --pod-eviction-timeout=1m0s/'"
        ));
        assert!(RESTORE_SCRIPT.contains(CONTROLLER_MANAGER_BACKUP));
        assert!(!CONTROLLER_MANAGER_BACKUP.starts_with("/etc/kubernetes/manifests/"));
    }
}
