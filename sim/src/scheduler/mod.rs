//! `kube-scheduler`: binds pending pods to nodes (pkg/scheduler: scheduler.go, schedule_one.go,
//! internal/queue/scheduling_queue.go) with the default profile's rules ([`framework`]).
//!
//! - Pods without `spec.nodeName` whose `schedulerName` is `default-scheduler` (or the profile's
//!   name from `--config`), without scheduling gates, not terminal and not being deleted, are
//!   scheduled one at a time, highest priority first (PrioritySort), then oldest in the queue.
//! - Feasible nodes are scored; the best wins, ties broken at random (reservoir sampling as in
//!   `selectHost`). The pod is *assumed* on that node at once (so the next pod sees it) and bound
//!   through `pods/binding`; the event `Scheduled` "Successfully assigned ns/x to node" follows.
//! - When nothing fits: the pod's condition `PodScheduled=False` reason `Unschedulable` and a
//!   `FailedScheduling` Warning carry the FitError message ([`framework::failed_scheduling_message`]);
//!   the pod waits as unschedulable until a cluster event (a node added or changed, an assigned pod
//!   deleted) moves it back — after its backoff (1 s doubling to 10 s) — and at the latest after
//!   5 minutes (`podMaxInUnschedulablePodsDuration`, checked every 30 s).
//! - Bound pods are never moved.
//!
//! Leader election uses the `kube-system/kube-scheduler` Lease, like the real one.

pub mod framework;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::client::events::Recorder;
use crate::client::{Change, Client, ClientError, Config, path};
use crate::controllers::flags::{FlagError, FlagSet, Flags};
use crate::controllers::informers::{Informer, Informers};
use crate::controllers::{klog, leader, util};
use crate::version::Minor;
use framework::{Cluster, Failure, NodeInfo};

/// `podInitialBackoffSeconds`.
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// `podMaxBackoffSeconds`.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// `podMaxInUnschedulablePodsDuration`.
pub const MAX_UNSCHEDULABLE: Duration = Duration::from_secs(300);
/// How often unschedulable pods are checked against [`MAX_UNSCHEDULABLE`]
/// (`flushUnschedulablePodsLeftover` every 30 s).
pub const FLUSH_PERIOD: Duration = Duration::from_secs(30);

const BOOL_FLAGS: &[&str] = &[
    "authentication-skip-lookup",
    "authentication-tolerate-lookup-failure",
    "contention-profiling",
    "disable-http2-serving",
    "help",
    "leader-elect",
    "log-json-split-stream",
    "log-text-split-stream",
    "permit-address-sharing",
    "permit-port-sharing",
    "profiling",
];

const VALUE_FLAGS: &[&str] = &[
    "allow-metric-labels",
    "allow-metric-labels-manifest",
    "authentication-kubeconfig",
    "authentication-token-webhook-cache-ttl",
    "authorization-always-allow-paths",
    "authorization-kubeconfig",
    "authorization-webhook-cache-authorized-ttl",
    "authorization-webhook-cache-unauthorized-ttl",
    "bind-address",
    "cert-dir",
    "client-ca-file",
    "config",
    "disabled-metrics",
    "emulated-version",
    "feature-gates",
    "http2-max-streams-per-connection",
    "kube-api-burst",
    "kube-api-content-type",
    "kube-api-qps",
    "kubeconfig",
    "leader-elect-lease-duration",
    "leader-elect-renew-deadline",
    "leader-elect-resource-lock",
    "leader-elect-resource-name",
    "leader-elect-resource-namespace",
    "leader-elect-retry-period",
    "log-flush-frequency",
    "log-json-info-buffer-size",
    "log-text-info-buffer-size",
    "logging-format",
    "master",
    "pod-max-in-unschedulable-pods-duration",
    "requestheader-allowed-names",
    "requestheader-client-ca-file",
    "requestheader-extra-headers-prefix",
    "requestheader-group-headers",
    "requestheader-uid-headers",
    "requestheader-username-headers",
    "secure-port",
    "show-hidden-metrics-for-version",
    "tls-cert-file",
    "tls-cipher-suites",
    "tls-min-version",
    "tls-private-key-file",
    "tls-sni-cert-key",
    "v",
    "version",
    "vmodule",
    "write-config-to",
];

/// kube-scheduler's flags (cmd/kube-scheduler/app/options).
pub fn flag_set() -> FlagSet {
    FlagSet {
        program: "kube-scheduler",
        bools: BOOL_FLAGS.to_vec(),
        values: VALUE_FLAGS.to_vec(),
    }
}

/// Errors of the scheduler's configuration and start.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// A flag value is malformed.
    #[error(transparent)]
    Flag(#[from] FlagError),
    /// The `--config` file cannot be read or is not a KubeSchedulerConfiguration.
    #[error("{path}: {detail}")]
    Config {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// No kubeconfig was given (neither `--kubeconfig` nor `clientConnection.kubeconfig`).
    #[error("no kubeconfig: give --kubeconfig or clientConnection.kubeconfig in --config")]
    NoKubeconfig,
    /// The API client cannot be built.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The secure (health) port cannot be served.
    #[error(transparent)]
    Health(#[from] crate::controllers::health::HealthError),
    /// `$LABSIM_KUBERNETES_VERSION` is not supported.
    #[error("LABSIM_KUBERNETES_VERSION: {0}")]
    Version(#[from] crate::version::VersionError),
}

/// The scheduler's options.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Kubernetes minor it behaves as.
    pub minor: Minor,
    /// The kubeconfig.
    pub kubeconfig: PathBuf,
    /// The profile's scheduler name.
    pub scheduler_name: String,
    /// Leader election on.
    pub leader_elect: bool,
    /// Lease timings and name.
    pub lease_duration: Duration,
    /// Renew deadline.
    pub renew_deadline: Duration,
    /// Retry period.
    pub retry_period: Duration,
    /// Lease name.
    pub lease_name: String,
    /// Lease namespace.
    pub lease_namespace: String,
    /// `--bind-address` of the secure port.
    pub bind_address: Option<String>,
    /// `--secure-port` (10259; 0 turns serving off).
    pub secure_port: u16,
}

fn yaml_duration(v: &Value, default: Duration) -> Result<Duration, String> {
    match v.as_str() {
        None => Ok(default),
        Some(s) => crate::cli::gofmt::parse_go_duration(s),
    }
}

impl Options {
    /// From flags and the optional `--config` file (KubeSchedulerConfiguration
    /// `kubescheduler.config.k8s.io/v1`: `clientConnection.kubeconfig`, `leaderElection.*`,
    /// `profiles[0].schedulerName`; the flags take precedence where both are given).
    ///
    /// # Errors
    /// [`SchedulerError`] when values or the file are unusable.
    pub fn from_flags(flags: &Flags, minor: Minor) -> Result<Options, SchedulerError> {
        let mut config = Value::Null;
        if let Some(p) = flags.get("config").filter(|p| !p.is_empty()) {
            let bad = |detail: String| SchedulerError::Config {
                path: p.to_string(),
                detail,
            };
            let text =
                std::fs::read_to_string(p).map_err(|e| bad(format!("cannot read it: {e}")))?;
            config = serde_saphyr::from_str::<Value>(&text).map_err(|e| bad(e.to_string()))?;
            if config["kind"] != "KubeSchedulerConfiguration" {
                return Err(bad("not a KubeSchedulerConfiguration".into()));
            }
            let api = config["apiVersion"].as_str().unwrap_or_default();
            // v1 since 1.25; v1beta3 until its removal in 1.29.
            let ok = api == "kubescheduler.config.k8s.io/v1"
                || (api == "kubescheduler.config.k8s.io/v1beta3" && minor.minor() < 29);
            if !ok {
                return Err(bad(format!(
                    "no kind \"KubeSchedulerConfiguration\" is registered for version {api:?}"
                )));
            }
        }
        let le = &config["leaderElection"];
        let secs = Duration::from_secs;
        let cfg_err = |p: &str, d: String| SchedulerError::Config {
            path: p.into(),
            detail: d,
        };
        let cfg_path = flags.get("config").unwrap_or_default();
        let kubeconfig = flags
            .get("kubeconfig")
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .or_else(|| {
                config["clientConnection"]["kubeconfig"]
                    .as_str()
                    .map(str::to_string)
            })
            .ok_or(SchedulerError::NoKubeconfig)?;
        Ok(Options {
            minor,
            kubeconfig: PathBuf::from(kubeconfig),
            scheduler_name: config["profiles"][0]["schedulerName"]
                .as_str()
                .unwrap_or("default-scheduler")
                .to_string(),
            leader_elect: match flags.get("leader-elect") {
                Some(v) => v == "true",
                None => le["leaderElect"].as_bool().unwrap_or(true),
            },
            lease_duration: flags.duration(
                "leader-elect-lease-duration",
                yaml_duration(&le["leaseDuration"], secs(15)).map_err(|d| cfg_err(cfg_path, d))?,
            )?,
            renew_deadline: flags.duration(
                "leader-elect-renew-deadline",
                yaml_duration(&le["renewDeadline"], secs(10)).map_err(|d| cfg_err(cfg_path, d))?,
            )?,
            retry_period: flags.duration(
                "leader-elect-retry-period",
                yaml_duration(&le["retryPeriod"], secs(2)).map_err(|d| cfg_err(cfg_path, d))?,
            )?,
            lease_name: flags
                .get("leader-elect-resource-name")
                .or(le["resourceName"].as_str())
                .unwrap_or("kube-scheduler")
                .to_string(),
            lease_namespace: flags
                .get("leader-elect-resource-namespace")
                .or(le["resourceNamespace"].as_str())
                .unwrap_or("kube-system")
                .to_string(),
            bind_address: flags.get("bind-address").map(str::to_string),
            secure_port: flags.number("secure-port", 10259u16)?,
        })
    }
}

/// A pending pod's place in the queue.
#[derive(Debug, Clone)]
struct Pending {
    queued_at: Instant,
    attempts: u32,
    backoff_until: Instant,
    unschedulable_since: Option<Instant>,
}

/// The scheduling queue (activeQ, backoffQ and unschedulablePods in one map).
#[derive(Debug, Default)]
pub struct Queue {
    pending: HashMap<String, Pending>,
}

impl Queue {
    /// Adds a pod (a new one, or one seen again after a relist).
    pub fn add(&mut self, key: &str, now: Instant) {
        self.pending.entry(key.to_string()).or_insert(Pending {
            queued_at: now,
            attempts: 0,
            backoff_until: now,
            unschedulable_since: None,
        });
    }

    /// Removes a pod (bound, deleted, or no longer ours).
    pub fn remove(&mut self, key: &str) {
        self.pending.remove(key);
    }

    /// Records a failed attempt: the pod waits as unschedulable, with its next backoff.
    pub fn failed(&mut self, key: &str, now: Instant) {
        if let Some(p) = self.pending.get_mut(key) {
            p.attempts += 1;
            let backoff = INITIAL_BACKOFF
                .checked_mul(1 << (p.attempts - 1).min(16))
                .unwrap_or(MAX_BACKOFF)
                .min(MAX_BACKOFF);
            p.backoff_until = now + backoff;
            p.unschedulable_since = Some(now);
        }
    }

    /// A cluster event: every unschedulable pod may be retried (after its backoff)
    /// (`MoveAllToActiveOrBackoffQueue`).
    pub fn move_all(&mut self) {
        for p in self.pending.values_mut() {
            p.unschedulable_since = None;
        }
    }

    /// Moves pods unschedulable for longer than [`MAX_UNSCHEDULABLE`]
    /// (`flushUnschedulablePodsLeftover`).
    pub fn flush_leftover(&mut self, now: Instant) {
        for p in self.pending.values_mut() {
            if p.unschedulable_since
                .is_some_and(|s| now.duration_since(s) >= MAX_UNSCHEDULABLE)
            {
                p.unschedulable_since = None;
            }
        }
    }

    /// The next pod to schedule now, by priority then queue time, with `priority` giving each
    /// pod's priority; or when the earliest backoff ends.
    pub fn pop(
        &mut self,
        now: Instant,
        priority: impl Fn(&str) -> i64,
    ) -> Result<String, Option<Instant>> {
        let ready = self
            .pending
            .iter()
            .filter(|(_, p)| p.unschedulable_since.is_none() && p.backoff_until <= now)
            .max_by(|(ka, a), (kb, b)| {
                priority(ka)
                    .cmp(&priority(kb))
                    .then(b.queued_at.cmp(&a.queued_at))
                    .then(kb.cmp(ka))
            })
            .map(|(k, _)| k.clone());
        match ready {
            Some(k) => Ok(k),
            None => Err(self
                .pending
                .values()
                .filter(|p| p.unschedulable_since.is_none())
                .map(|p| p.backoff_until)
                .min()),
        }
    }

    /// How many pods wait.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether no pod waits.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// Whether this scheduler should schedule `pod`.
pub fn wants(pod: &Value, scheduler_name: &str) -> bool {
    util::spec_node(pod).is_empty()
        && pod["spec"]["schedulerName"]
            .as_str()
            .unwrap_or("default-scheduler")
            == scheduler_name
        && util::array(&pod["spec"]["schedulingGates"]).is_empty()
        && !util::is_pod_terminal(pod)
        && !util::is_being_deleted(pod)
}

/// `selectHost`: the highest score, ties broken uniformly at random (reservoir sampling).
pub fn select_host(scores: &[i64], mut random: impl FnMut(u32) -> u32) -> Option<usize> {
    let mut best: Option<usize> = None;
    let mut count = 0u32;
    for (i, s) in scores.iter().enumerate() {
        match best {
            None => {
                best = Some(i);
                count = 1;
            }
            Some(b) if *s > scores[b] => {
                best = Some(i);
                count = 1;
            }
            Some(b) if *s == scores[b] => {
                count += 1;
                if random(count) == 0 {
                    best = Some(i);
                }
            }
            _ => {}
        }
    }
    best
}

fn random_below(n: u32) -> u32 {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 4];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    u32::from_le_bytes(b) % n.max(1)
}

struct Sched {
    client: Client,
    opts: Options,
    pods: Informer,
    nodes: Informer,
    services: Informer,
    replicasets: Informer,
    queue: Mutex<Queue>,
    assumed: Mutex<HashMap<String, (String, Value)>>,
    wake: Notify,
    recorder: Recorder,
}

/// Entry point of `labsim kube-scheduler …`.
pub fn main(args: Vec<String>) -> ExitCode {
    crate::controllers::component_main(
        crate::controllers::Component {
            flag_set: |_| flag_set(),
            help: "The Kubernetes scheduler is a control plane process which assigns\nPods to Nodes (labsim).",
            options: Options::from_flags,
            run,
            failure: ("server.go", "Error running scheduler"),
        },
        &args,
    )
}

/// Runs the scheduler until leadership is lost (the process then exits 1) or forever.
///
/// # Errors
/// [`SchedulerError`] when the kubeconfig is unusable.
pub async fn run(opts: Options) -> Result<(), SchedulerError> {
    let mut config = Config::from_kubeconfig(&opts.kubeconfig)?;
    config.user_agent = crate::controllers::user_agent("kube-scheduler", opts.minor);
    let client = Client::new(&config)?;
    klog(
        'I',
        "server.go",
        &format!(
            "\"Starting Kubernetes Scheduler\" version=\"{}\"",
            opts.minor.git_version()
        ),
    );
    let leader = opts.leader_elect.then(|| {
        leader::LeaderConfig::candidate(
            &opts.lease_namespace,
            &opts.lease_name,
            (opts.lease_duration, opts.renew_deadline, opts.retry_period),
        )
    });
    let mut elector = crate::controllers::serve_and_elect(
        &client,
        "kube-scheduler",
        opts.bind_address.as_deref(),
        opts.secure_port,
        leader,
    )
    .await?;
    let informers = Informers::new(client.clone());
    let sched = Arc::new(Sched {
        recorder: Recorder::new(client.clone(), &opts.scheduler_name, ""),
        client,
        pods: informers.get("pods"),
        nodes: informers.get("nodes"),
        services: informers.get("services"),
        replicasets: informers.get("replicasets"),
        opts,
        queue: Mutex::new(Queue::default()),
        assumed: Mutex::new(HashMap::new()),
        wake: Notify::new(),
    });
    for i in [
        &sched.pods,
        &sched.nodes,
        &sched.services,
        &sched.replicasets,
    ] {
        i.wait_ready().await;
    }
    tokio::spawn(sched.clone().watch());
    let s2 = sched.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(FLUSH_PERIOD).await;
            s2.queue
                .lock()
                .expect("queue")
                .flush_leftover(Instant::now());
            s2.wake.notify_one();
        }
    });
    tokio::spawn(sched.clone().schedule_loop());
    match elector.as_mut() {
        Some(e) => {
            e.keep().await;
            klog('E', "server.go", "\"Leaderelection lost\"");
            std::process::exit(1);
        }
        None => {
            std::future::pending::<()>().await;
            Ok(())
        }
    }
}

impl Sched {
    /// Feeds the queue from pod and node changes.
    async fn watch(self: Arc<Self>) {
        let mut pods = self.pods.subscribe();
        let mut nodes = self.nodes.subscribe();
        {
            let now = Instant::now();
            let mut q = self.queue.lock().expect("queue");
            for p in self.pods.list() {
                if wants(&p, &self.opts.scheduler_name) {
                    q.add(&util::key(&p), now);
                }
            }
        }
        self.wake.notify_one();
        loop {
            tokio::select! {
                c = crate::controllers::informers::next_change(&mut pods) => match c {
                    Some(Change::Applied(p)) => {
                        let key = util::key(&p);
                        let mut q = self.queue.lock().expect("queue");
                        if wants(&p, &self.opts.scheduler_name) {
                            q.add(&key, Instant::now());
                        } else {
                            q.remove(&key);
                            // The informer caught up with a binding: no longer assumed.
                            if !util::spec_node(&p).is_empty() {
                                self.assumed.lock().expect("assumed").remove(&key);
                            }
                        }
                    }
                    Some(Change::Deleted(p)) => {
                        let key = util::key(&p);
                        self.queue.lock().expect("queue").remove(&key);
                        self.assumed.lock().expect("assumed").remove(&key);
                        // An assigned pod's deletion frees resources and ports.
                        if !util::spec_node(&p).is_empty() {
                            self.queue.lock().expect("queue").move_all();
                        }
                    }
                    Some(Change::Restarted) => {
                        let now = Instant::now();
                        let mut q = self.queue.lock().expect("queue");
                        for p in self.pods.list() {
                            if wants(&p, &self.opts.scheduler_name) {
                                q.add(&util::key(&p), now);
                            }
                        }
                        q.move_all();
                    }
                    None => return,
                },
                c = crate::controllers::informers::next_change(&mut nodes) => match c {
                    // Node added or changed (taints, labels, allocatable, conditions).
                    Some(Change::Applied(_)) | Some(Change::Restarted) => {
                        self.queue.lock().expect("queue").move_all();
                    }
                    Some(Change::Deleted(_)) => {}
                    None => return,
                },
            }
            self.wake.notify_one();
        }
    }

    fn priority_of(&self, key: &str) -> i64 {
        self.pods
            .get(key)
            .map_or(0, |p| util::int(&p["spec"]["priority"]))
    }

    async fn schedule_loop(self: Arc<Self>) {
        loop {
            let next = {
                let mut q = self.queue.lock().expect("queue");
                q.pop(Instant::now(), |k| self.priority_of(k))
            };
            match next {
                Ok(key) => {
                    if let Err(e) = self.schedule_one(&key).await {
                        klog(
                            'E',
                            "schedule_one.go",
                            &format!("\"Error scheduling pod\" pod=\"{key}\" err=\"{e}\""),
                        );
                        self.queue
                            .lock()
                            .expect("queue")
                            .failed(&key, Instant::now());
                    }
                }
                Err(Some(at)) => {
                    let _ = tokio::time::timeout_at(at, self.wake.notified()).await;
                }
                Err(None) => self.wake.notified().await,
            }
        }
    }

    /// The nodes with their pods: bound non-terminal pods from the cache plus assumed ones.
    fn snapshot(&self) -> Vec<NodeInfo> {
        let mut by_node: BTreeMap<String, NodeInfo> = self
            .nodes
            .list()
            .into_iter()
            .map(|n| {
                (
                    util::name(&n).to_string(),
                    NodeInfo {
                        node: n,
                        pods: vec![],
                    },
                )
            })
            .collect();
        let assumed = self.assumed.lock().expect("assumed").clone();
        for p in self.pods.list() {
            let key = util::key(&p);
            if util::is_pod_terminal(&p) {
                continue;
            }
            let node = match assumed.get(&key) {
                Some((n, _)) if util::spec_node(&p).is_empty() => n.clone(),
                _ => util::spec_node(&p).to_string(),
            };
            if let Some(ni) = by_node.get_mut(&node) {
                ni.pods.push(p);
            }
        }
        by_node.into_values().collect()
    }

    async fn schedule_one(&self, key: &str) -> Result<(), ClientError> {
        let Some(pod) = self.pods.get(key) else {
            self.queue.lock().expect("queue").remove(key);
            return Ok(());
        };
        if !wants(&pod, &self.opts.scheduler_name)
            || self.assumed.lock().expect("assumed").contains_key(key)
        {
            self.queue.lock().expect("queue").remove(key);
            return Ok(());
        }
        let nodes = self.snapshot();
        let cluster = Cluster {
            nodes: nodes.clone(),
        };
        let minor = self.opts.minor;
        let mut failures: BTreeMap<String, Failure> = BTreeMap::new();
        let mut feasible: Vec<&NodeInfo> = vec![];
        for ni in &nodes {
            match framework::filter(&pod, ni, &cluster, minor) {
                Ok(()) => feasible.push(ni),
                Err(f) => {
                    failures.insert(ni.name().to_string(), f);
                }
            }
        }
        if feasible.is_empty() {
            let msg = if nodes.is_empty() {
                // schedule_one.go: ErrNoNodesAvailable.
                "no nodes available to schedule pods".to_string()
            } else {
                framework::failed_scheduling_message(&pod, &failures, &nodes, minor)
            };
            self.record_failure(&pod, &msg).await;
            self.queue
                .lock()
                .expect("queue")
                .failed(key, Instant::now());
            return Ok(());
        }
        let selector =
            framework::default_selector(&pod, &self.services.list(), &self.replicasets.list());
        let scores = framework::score(&pod, &feasible, selector.as_deref());
        let chosen = select_host(&scores, random_below).unwrap_or(0);
        let node = feasible[chosen].name().to_string();
        // Assume, then bind.
        self.assumed
            .lock()
            .expect("assumed")
            .insert(key.to_string(), (node.clone(), pod.clone()));
        self.queue.lock().expect("queue").remove(key);
        let (ns, name) = util::split_key(key);
        let binding = json!({"apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": name, "namespace": ns, "uid": util::uid(&pod)},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node}});
        match self
            .client
            .create(
                &format!("{}/binding", path("", "v1", "pods", Some(ns), Some(name))),
                &binding,
            )
            .await
        {
            Ok(_) => {
                let _ = self
                    .recorder
                    .normal(
                        &pod,
                        "Scheduled",
                        &format!("Successfully assigned {ns}/{name} to {node}"),
                    )
                    .await;
                Ok(())
            }
            Err(e) => {
                self.assumed.lock().expect("assumed").remove(key);
                // Already bound (by us before a restart) or deleted: nothing to do.
                if e.is_conflict() || e.is_not_found() {
                    return Ok(());
                }
                self.queue.lock().expect("queue").add(key, Instant::now());
                Err(e)
            }
        }
    }

    /// `handleSchedulingFailure`: the FailedScheduling event and the PodScheduled condition.
    async fn record_failure(&self, pod: &Value, msg: &str) {
        let _ = self.recorder.warning(pod, "FailedScheduling", msg).await;
        let mut conds = util::array(&pod["status"]["conditions"]);
        let existing = conds.iter().find(|c| c["type"] == "PodScheduled").cloned();
        let unchanged = existing.as_ref().is_some_and(|c| {
            c["status"] == "False" && c["reason"] == "Unschedulable" && c["message"] == msg
        });
        if unchanged {
            return;
        }
        let transition = match &existing {
            Some(c) if c["status"] == "False" => c["lastTransitionTime"].clone(),
            _ => json!(util::now_time()),
        };
        conds.retain(|c| c["type"] != "PodScheduled");
        conds.push(json!({"type": "PodScheduled", "status": "False", "lastProbeTime": null,
                          "lastTransitionTime": transition, "reason": "Unschedulable", "message": msg}));
        let (ns, name) = (util::namespace(pod), util::name(pod));
        let mut updated = pod.clone();
        updated["status"]["conditions"] = json!(conds);
        let _ = self
            .client
            .update(
                &format!("{}/status", path("", "v1", "pods", Some(ns), Some(name))),
                &updated,
            )
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn queue_order_backoff_and_flush() {
        let mut q = Queue::default();
        let t0 = Instant::now();
        q.add("default/low", t0);
        tokio::time::advance(Duration::from_millis(1)).await;
        q.add("default/high", Instant::now());
        let prio = |k: &str| if k == "default/high" { 1000 } else { 0 };
        assert_eq!(q.pop(Instant::now(), prio).unwrap(), "default/high");
        q.failed("default/high", Instant::now());
        assert_eq!(q.pop(Instant::now(), prio).unwrap(), "default/low");
        q.failed("default/low", Instant::now());
        assert_eq!(q.pop(Instant::now(), prio), Err(None), "both unschedulable");
        q.move_all();
        let wait = q.pop(Instant::now(), prio).unwrap_err().unwrap();
        assert_eq!(
            wait - Instant::now(),
            Duration::from_secs(1),
            "first backoff 1 s"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(q.pop(Instant::now(), prio).unwrap(), "default/high");
        // Repeated failures back off up to 10 s.
        q.remove("default/low");
        for _ in 0..6 {
            q.failed("default/high", Instant::now());
        }
        q.move_all();
        let wait = q.pop(Instant::now(), |_| 0).unwrap_err().unwrap();
        assert_eq!(
            wait - Instant::now(),
            Duration::from_secs(10),
            "capped at 10 s"
        );
        // Without any event, the flush moves a pod after 5 minutes.
        q.failed("default/high", Instant::now());
        tokio::time::advance(Duration::from_secs(299)).await;
        q.flush_leftover(Instant::now());
        assert_eq!(q.pop(Instant::now(), prio), Err(None));
        tokio::time::advance(Duration::from_secs(1)).await;
        q.flush_leftover(Instant::now());
        assert_eq!(q.pop(Instant::now(), prio).unwrap(), "default/high");
    }

    #[test]
    fn reservoir_sampling_picks_among_ties() {
        let scores = [10, 30, 30, 5, 30];
        let mut seen = std::collections::HashSet::new();
        for r in 0..3 {
            // random(count) == 0 replaces the pick: script the draws.
            let mut draws = vec![0u32, r % 2, (r / 2) % 2].into_iter();
            let pick = select_host(&scores, |_| draws.next().unwrap_or(1)).unwrap();
            assert_eq!(scores[pick], 30);
            seen.insert(pick);
        }
        assert!(seen.len() > 1, "ties are not always the first: {seen:?}");
        assert_eq!(select_host(&[], |_| 0), None);
    }

    #[test]
    fn only_unbound_pods_of_this_scheduler() {
        let p = json!({"metadata": {"name": "x"}, "spec": {"schedulerName": "default-scheduler"}, "status": {"phase": "Pending"}});
        assert!(wants(&p, "default-scheduler"));
        let mut bound = p.clone();
        bound["spec"]["nodeName"] = json!("m02");
        assert!(!wants(&bound, "default-scheduler"));
        let mut gated = p.clone();
        gated["spec"]["schedulingGates"] = json!([{"name": "wait"}]);
        assert!(!wants(&gated, "default-scheduler"));
        assert!(!wants(&p, "my-scheduler"));
    }

    #[test]
    fn kubeadm_flags_and_config() {
        let args: Vec<String> = "--authentication-kubeconfig=/etc/kubernetes/scheduler.conf --authorization-kubeconfig=/etc/kubernetes/scheduler.conf --bind-address=127.0.0.1 --kubeconfig=/etc/kubernetes/scheduler.conf --leader-elect=true"
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let f = flag_set().parse(&args).unwrap();
        let o = Options::from_flags(&f, Minor::default()).unwrap();
        assert_eq!(o.scheduler_name, "default-scheduler");
        assert_eq!(o.lease_name, "kube-scheduler");
        assert_eq!(o.lease_duration, Duration::from_secs(15));
        assert_eq!(
            flag_set()
                .parse(&["--node-monitor-period=5s".to_string()])
                .unwrap_err()
                .to_string(),
            "unknown flag: --node-monitor-period"
        );
        let dir = std::env::temp_dir().join(format!("labsim-sched-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("config.yaml");
        std::fs::write(&cfg, "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nclientConnection:\n  kubeconfig: /etc/kubernetes/scheduler.conf\nleaderElection:\n  leaderElect: false\nprofiles:\n- schedulerName: my-scheduler\n").unwrap();
        let f = flag_set()
            .parse(&[format!("--config={}", cfg.display())])
            .unwrap();
        let o = Options::from_flags(&f, Minor::default()).unwrap();
        assert_eq!(o.scheduler_name, "my-scheduler");
        assert!(!o.leader_elect);
        assert_eq!(
            o.kubeconfig,
            PathBuf::from("/etc/kubernetes/scheduler.conf")
        );
        std::fs::write(
            &cfg,
            "apiVersion: kubescheduler.config.k8s.io/v1beta2\nkind: KubeSchedulerConfiguration\n",
        )
        .unwrap();
        let f = flag_set()
            .parse(&[format!("--config={}", cfg.display())])
            .unwrap();
        assert!(Options::from_flags(&f, Minor::default()).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
