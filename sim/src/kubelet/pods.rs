//! Pods: their sources, one worker per pod, and the sync that drives the runtime toward the spec
//! (pkg/kubelet/pod_workers.go, kubelet.go `SyncPod`/`SyncTerminatingPod`,
//! kuberuntime/kuberuntime_manager.go `computePodActions`/`SyncPod`,
//! kuberuntime_container.go `startContainer`/`killContainer`), the PLEG that relists the runtime
//! every second (pleg/generic.go) and removes dead containers as the pod container deletor does
//! (pod_container_deletor.go), and housekeeping (orphans, garbage collection).
//!
//! The rules that the course observes:
//! - a pod whose newest sandbox is not ready gets a new one (attempt + 1), after its containers
//!   are killed: events `SandboxChanged` "Pod sandbox changed, it will be killed and re-created.",
//!   `Killing` per running container, then `Pulled`/`Created`/`Started` for the new containers,
//!   whose restart count is the previous container's + 1; journal lines `"No ready sandbox for pod
//!   can be found. Need to start a new one"` (V(2)), `"Container not found in pod's containers"`
//!   for the dead sandbox, `"RemoveContainer"` for dead containers beyond the newest one per name;
//! - an exited container is restarted by restart policy, the first time at once, then with the
//!   CrashLoopBackOff delays of [`super::backoff`];
//! - pods without host networking wait while the runtime's network is not ready
//!   (`NetworkNotReady`); a failing sandbox is `FailedCreatePodSandBox`;
//! - a deleted pod is killed with its grace period, then deleted with grace 0.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::Kubelet;
use super::backoff::go_secs;
use super::klog::{Kv, kobj};
use super::static_pods::{CONFIG_HASH, is_mirror, is_mirror_of, mirror_of};
use crate::client::{Change, PatchType, path};
use crate::runtime::cri::{
    Container, ContainerConfig, ContainerFilter, ContainerMetadata, ContainerState, PodSandbox,
    PodSandboxConfig, PodSandboxMetadata, PortMapping, Reply, Request, SandboxFilter, SandboxState,
};

/// Where a pod comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Bound to the node through the API.
    Api,
    /// A static pod manifest.
    File,
}

/// A pod the kubelet knows.
#[derive(Debug, Clone)]
pub struct PodEntry {
    /// The pod (spec and last known API status).
    pub pod: Value,
    /// Its source.
    pub source: Source,
    /// Removed from its source (deleted from the API, manifest gone).
    pub removed: bool,
}

/// What the probes said about one container.
#[derive(Debug, Clone, Default)]
pub struct ProbeFlags {
    /// Readiness result (None before the first).
    pub ready: Option<bool>,
    /// Startup result.
    pub started: Option<bool>,
    /// The liveness probe failed: restart.
    pub liveness_failed: bool,
    /// The startup probe failed: restart.
    pub startup_failed: bool,
}

/// The runtime's view of one pod, newest first.
#[derive(Debug, Clone, Default)]
pub struct RuntimePod {
    /// Sandboxes.
    pub sandboxes: Vec<PodSandbox>,
    /// Containers.
    pub containers: Vec<Container>,
}

/// The actions a sync takes (`podActions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actions {
    /// Kill every container and stop the sandboxes.
    pub kill_pod: bool,
    /// Create a new sandbox.
    pub create_sandbox: bool,
    /// The sandbox being replaced (empty for a first sandbox).
    pub sandbox_id: String,
    /// The new sandbox's attempt.
    pub attempt: u32,
    /// The init container to start next.
    pub next_init: Option<usize>,
    /// Regular containers to start (indexes in the spec).
    pub to_start: Vec<usize>,
    /// Running containers to kill: (ID, name, message).
    pub to_kill: Vec<(String, String, String)>,
    /// The V(2) line saying why a sandbox is needed (util.go `PodSandboxChanged`).
    pub why: Option<(&'static str, &'static str)>,
}

fn name_of(pod: &Value) -> (String, String, String) {
    let m = &pod["metadata"];
    (
        m["namespace"].as_str().unwrap_or("default").to_string(),
        m["name"].as_str().unwrap_or_default().to_string(),
        m["uid"].as_str().unwrap_or_default().to_string(),
    )
}

/// `format.Pod`: `name_namespace(uid)`.
pub fn format_pod(pod: &Value) -> String {
    let (ns, name, uid) = name_of(pod);
    format!("{name}_{ns}({uid})")
}

fn newest_named<'a>(rt: &'a RuntimePod, name: &str) -> Option<&'a Container> {
    rt.containers
        .iter()
        .filter(|c| c.metadata.name == name)
        .max_by_key(|c| c.created_at)
}

fn should_restart(pod: &Value, c: Option<&Container>) -> bool {
    let Some(c) = c else {
        return true;
    };
    match c.state {
        ContainerState::Running => false,
        ContainerState::Created | ContainerState::Unknown => true,
        ContainerState::Exited => match pod["spec"]["restartPolicy"].as_str().unwrap_or("Always") {
            "Never" => false,
            "OnFailure" => c.exit_code != 0,
            _ => true,
        },
    }
}

/// util.go `PodSandboxChanged`: whether a new sandbox is needed, its attempt, the old ID.
pub fn sandbox_changed(
    pod: &Value,
    rt: &RuntimePod,
) -> (bool, u32, String, Option<(&'static str, &'static str)>) {
    let Some(newest) = rt.sandboxes.iter().max_by_key(|s| s.created_at) else {
        return (
            true,
            0,
            String::new(),
            Some((
                "util.go:30",
                "No sandbox for pod can be found. Need to start a new one",
            )),
        );
    };
    let ready = rt
        .sandboxes
        .iter()
        .filter(|s| s.state == SandboxState::Ready)
        .count();
    if ready > 1 {
        return (
            true,
            newest.metadata.attempt + 1,
            newest.id.clone(),
            Some((
                "util.go:44",
                "Multiple sandboxes are ready for Pod. Need to reconcile them",
            )),
        );
    }
    if newest.state != SandboxState::Ready {
        return (
            true,
            newest.metadata.attempt + 1,
            newest.id.clone(),
            Some((
                "util.go:48",
                "No ready sandbox for pod can be found. Need to start a new one",
            )),
        );
    }
    let host_network = pod["spec"]["hostNetwork"] == true;
    if newest.config.host_network != host_network {
        return (
            true,
            newest.metadata.attempt + 1,
            String::new(),
            Some((
                "util.go:54",
                "Sandbox for pod has changed. Need to start a new one",
            )),
        );
    }
    if !host_network && newest.ip.is_empty() {
        return (
            true,
            newest.metadata.attempt + 1,
            newest.id.clone(),
            Some((
                "util.go:60",
                "Sandbox for pod has no IP address. Need to start a new one",
            )),
        );
    }
    (false, newest.metadata.attempt, newest.id.clone(), None)
}

/// `computePodActions` (non-sidecar init containers, no in-place resize).
pub fn compute_actions(
    pod: &Value,
    rt: &RuntimePod,
    probes: &HashMap<String, ProbeFlags>,
) -> Actions {
    let (create, attempt, old_id, why) = sandbox_changed(pod, rt);
    let spec = &pod["spec"];
    let inits = spec["initContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ctrs = spec["containers"].as_array().cloned().unwrap_or_default();
    let policy = spec["restartPolicy"].as_str().unwrap_or("Always");
    let mut a = Actions {
        kill_pod: create,
        create_sandbox: create,
        sandbox_id: old_id,
        attempt,
        why,
        ..Default::default()
    };
    if create {
        // A pod that must not restart and already ran does not get a new sandbox.
        if policy == "Never" && attempt != 0 && !rt.containers.is_empty() {
            a.create_sandbox = false;
            return a;
        }
        let to_start: Vec<usize> = (0..ctrs.len())
            .filter(|i| {
                let name = ctrs[*i]["name"].as_str().unwrap_or_default();
                !(policy == "OnFailure"
                    && newest_named(rt, name)
                        .is_some_and(|c| c.state == ContainerState::Exited && c.exit_code == 0))
            })
            .collect();
        if to_start.is_empty() && inits.is_empty() {
            a.create_sandbox = false;
            return a;
        }
        if !inits.is_empty() {
            a.next_init = Some(0);
        } else {
            a.to_start = to_start;
        }
        return a;
    }
    // Init containers, in order.
    for (i, c) in inits.iter().enumerate() {
        let name = c["name"].as_str().unwrap_or_default();
        match newest_named(rt, name) {
            None => {
                a.next_init = Some(i);
                return a;
            }
            Some(s) if s.state == ContainerState::Running => return a,
            Some(s) if s.state == ContainerState::Exited && s.exit_code == 0 => continue,
            Some(_) => {
                if policy == "Never" {
                    a.kill_pod = true;
                } else {
                    a.next_init = Some(i);
                }
                return a;
            }
        }
    }
    let mut keep = 0;
    for (i, c) in ctrs.iter().enumerate() {
        let name = c["name"].as_str().unwrap_or_default();
        let newest = newest_named(rt, name);
        match newest {
            Some(s) if s.state == ContainerState::Running => {
                let flags = probes.get(&s.id).cloned().unwrap_or_default();
                let reason = if flags.liveness_failed {
                    Some(format!(
                        "Container {name} failed liveness probe, will be restarted"
                    ))
                } else if flags.startup_failed {
                    Some(format!(
                        "Container {name} failed startup probe, will be restarted"
                    ))
                } else {
                    None
                };
                match reason {
                    Some(msg) => {
                        a.to_kill.push((s.id.clone(), name.to_string(), msg));
                        if policy != "Never" {
                            a.to_start.push(i);
                        }
                    }
                    None => keep += 1,
                }
            }
            other => {
                if should_restart(pod, other) {
                    a.to_start.push(i);
                }
            }
        }
    }
    if keep == 0 && a.to_start.is_empty() && a.to_kill.is_empty() {
        a.kill_pod = true;
    }
    a
}

fn labels_for(pod: &Value) -> std::collections::BTreeMap<String, String> {
    let (ns, name, uid) = name_of(pod);
    let mut l: std::collections::BTreeMap<String, String> = pod["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    l.insert("io.kubernetes.pod.name".into(), name);
    l.insert("io.kubernetes.pod.namespace".into(), ns);
    l.insert("io.kubernetes.pod.uid".into(), uid);
    l
}

fn hash_str(s: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    format!(
        "{:x}",
        u32::from_be_bytes([d.as_ref()[0], d.as_ref()[1], d.as_ref()[2], d.as_ref()[3]])
    )
}

/// The pod's log directory (`/var/log/pods/<ns>_<name>_<uid>`).
pub fn log_dir(pod: &Value) -> String {
    let (ns, name, uid) = name_of(pod);
    format!("/var/log/pods/{ns}_{name}_{uid}")
}

enum Next {
    After(Duration),
    Done,
}

fn jitter(d: Duration) -> Duration {
    // workerResyncIntervalJitterFactor 0.5
    let r = (crate::runtime::now_ns() as u64 % 1000) as f64 / 1000.0;
    d + Duration::from_secs_f64(d.as_secs_f64() * 0.5 * r)
}

fn monotonic(k: &Kubelet) -> Duration {
    k.started.elapsed() + Duration::from_secs(1_000_000)
}

fn ns_to_mono(k: &Kubelet, ns: i64) -> Duration {
    // Map a wall-clock time onto the back-off's clock.
    let now_wall = crate::runtime::now_ns();
    let ago = Duration::from_nanos((now_wall - ns).max(0) as u64);
    monotonic(k).saturating_sub(ago)
}

impl Kubelet {
    /// Adds or updates a pod from a source, and wakes its worker.
    pub(crate) fn upsert_pod(self: &Arc<Self>, pod: Value, source: Source) {
        let uid = pod["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if uid.is_empty() {
            return;
        }
        {
            let mut pods = self.pods.lock().expect("lock");
            let entry = pods.entry(uid.clone()).or_insert_with(|| PodEntry {
                pod: pod.clone(),
                source,
                removed: false,
            });
            // A static pod keeps the status the kubelet computed for it.
            let status = entry.pod["status"].clone();
            entry.pod = pod;
            if source == Source::File && !status.is_null() {
                entry.pod["status"] = status;
            }
            entry.removed = false;
        }
        self.trigger(&uid);
    }

    /// The source no longer has the pod.
    pub(crate) fn remove_pod(self: &Arc<Self>, uid: &str) {
        if let Some(e) = self.pods.lock().expect("lock").get_mut(uid) {
            e.removed = true;
        }
        self.trigger(uid);
    }

    /// Wakes (or starts) the pod's worker.
    pub(crate) fn trigger(self: &Arc<Self>, uid: &str) {
        let mut workers = self.workers.lock().expect("lock");
        if let Some(tx) = workers.get(uid)
            && tx.send(()).is_ok()
        {
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        workers.insert(uid.to_string(), tx);
        let me = self.clone();
        let uid = uid.to_string();
        tokio::spawn(async move { me.worker(uid, rx).await });
    }

    async fn worker(self: Arc<Self>, uid: String, mut rx: mpsc::UnboundedReceiver<()>) {
        let mut wait = Duration::ZERO;
        loop {
            if !wait.is_zero() {
                tokio::select! {
                    _ = rx.recv() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            while rx.try_recv().is_ok() {}
            match self.sync(&uid).await {
                Next::After(d) => wait = d,
                Next::Done => {
                    self.workers.lock().expect("lock").remove(&uid);
                    // A trigger that raced with the end: run again.
                    if rx.try_recv().is_ok() && self.pods.lock().expect("lock").contains_key(&uid) {
                        self.trigger(&uid);
                    }
                    return;
                }
            }
        }
    }

    /// The runtime's sandboxes and containers of pod `uid`, newest first.
    pub(crate) async fn runtime_pod(&self, uid: &str) -> Result<RuntimePod, String> {
        let mut sel = std::collections::BTreeMap::new();
        sel.insert("io.kubernetes.pod.uid".to_string(), uid.to_string());
        let sandboxes = match self
            .runtime
            .call(Request::ListPodSandbox {
                filter: SandboxFilter {
                    label_selector: sel.clone(),
                    ..Default::default()
                },
            })
            .await
        {
            Ok(Reply::Sandboxes { items }) => items,
            Ok(_) => vec![],
            Err(e) => return Err(e.to_string()),
        };
        let containers = match self
            .runtime
            .call(Request::ListContainers {
                filter: ContainerFilter {
                    label_selector: sel,
                    ..Default::default()
                },
            })
            .await
        {
            Ok(Reply::Containers { items }) => items,
            Ok(_) => vec![],
            Err(e) => return Err(e.to_string()),
        };
        Ok(RuntimePod {
            sandboxes,
            containers,
        })
    }

    fn pod_event(&self, pod: &Value, typ: &str, reason: &str, msg: &str, field: Option<String>) {
        self.event_raw(super::pod_ref(pod), typ, reason, msg, field);
    }

    fn field_path(pod: &Value, name: &str) -> String {
        let is_init = pod["spec"]["initContainers"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["name"] == name));
        if is_init {
            format!("spec.initContainers{{{name}}}")
        } else {
            format!("spec.containers{{{name}}}")
        }
    }

    fn set_reason(&self, uid: &str, name: &str, reason: Option<(String, String)>) {
        let mut r = self.reasons.lock().expect("lock");
        let m = r.entry(uid.to_string()).or_default();
        match reason {
            Some(x) => {
                m.insert(name.to_string(), x);
            }
            None => {
                m.remove(name);
            }
        }
    }

    async fn sync(self: &Arc<Self>, uid: &str) -> Next {
        let entry = self.pods.lock().expect("lock").get(uid).cloned();
        let rt = match self.runtime_pod(uid).await {
            Ok(rt) => rt,
            Err(e) => {
                self.log.error(
                    "pod_workers.go:1301",
                    Some(&e),
                    "Error syncing pod, skipping",
                    &[("podUID", Kv::S(uid.into()))],
                );
                return Next::After(Duration::from_secs(2));
            }
        };
        let Some(entry) = entry else {
            // An orphan: kill what runs, remove the rest (HandlePodCleanups, grace 1 s).
            self.kill_runtime_pod(&rt, 1, None).await;
            self.remove_runtime_pod(&rt).await;
            return Next::Done;
        };
        let pod = entry.pod.clone();
        let deleting = !pod["metadata"]["deletionTimestamp"].is_null();
        if entry.removed || deleting {
            return self.sync_terminating(&entry, rt).await;
        }
        let next = self.sync_running(&pod, &rt).await;
        let rt = self.runtime_pod(uid).await.unwrap_or(rt);
        self.post_status(&entry, &rt).await;
        if entry.source == Source::File {
            self.ensure_mirror(&pod).await;
        }
        self.ensure_probes(&pod, &rt);
        self.refresh_volumes(&pod, &rt).await;
        Next::After(next)
    }

    /// Keeps a running pod's volumes current: ConfigMap and Secret contents and projected
    /// service-account tokens (renewed at 80 % of their lifetime), about once a minute, as the
    /// volume manager's periodic remount and the token manager do.
    async fn refresh_volumes(&self, pod: &Value, rt: &RuntimePod) {
        let (_, _, uid) = name_of(pod);
        let Some(sandbox) = rt
            .sandboxes
            .iter()
            .max_by_key(|s| s.created_at)
            .filter(|s| s.state == SandboxState::Ready)
        else {
            return;
        };
        {
            let mut last = self.volumes_refreshed.lock().expect("lock");
            let now = std::time::Instant::now();
            if last
                .get(&uid)
                .is_some_and(|t| now.duration_since(*t) < Duration::from_secs(60))
            {
                return;
            }
            last.insert(uid.clone(), now);
        }
        let pod_ip = if pod["spec"]["hostNetwork"] == true {
            self.node_ip.to_string()
        } else {
            sandbox.ip.clone()
        };
        let host_ip = self.node_ip.to_string();
        let mut tokens = self.tokens.lock().await;
        if let Err(e) = super::volumes::setup(
            &super::volumes::VolumeContext {
                root_dir: &self.cfg.root_dir,
                client: self.client.as_ref(),
                pod_ip: &pod_ip,
                host_ip: &host_ip,
            },
            pod,
            &mut tokens,
        )
        .await
        {
            self.pod_event(pod, "Warning", "FailedMount", &e, None);
        }
    }

    async fn sync_terminating(self: &Arc<Self>, entry: &PodEntry, rt: RuntimePod) -> Next {
        let pod = &entry.pod;
        let (ns, name, uid) = name_of(pod);
        let grace = pod["metadata"]["deletionGracePeriodSeconds"]
            .as_i64()
            .or_else(|| pod["spec"]["terminationGracePeriodSeconds"].as_i64())
            .unwrap_or(30)
            .max(if entry.removed { 1 } else { 2 });
        self.kill_runtime_pod(&rt, grace, Some(pod)).await;
        let rt = self.runtime_pod(&uid).await.unwrap_or_default();
        self.post_status(entry, &rt).await;
        if entry.source == Source::Api && !entry.removed {
            // status_manager.go: a terminated pod with a deletion timestamp is deleted with grace 0.
            if let Some(client) = &self.client {
                let p = path("", "v1", "pods", Some(&ns), Some(&name));
                let first = self.deleted_once.lock().expect("lock").insert(uid.clone());
                if first {
                    self.log.vinfo(
                        2,
                        "status_manager.go:874",
                        "Pod fully terminated and removed from etcd",
                        &[("pod", kobj(&ns, &name))],
                    );
                }
                match client
                    .delete(
                        &p,
                        &json!({"gracePeriodSeconds": 0, "preconditions": {"uid": uid}}),
                    )
                    .await
                {
                    Ok(_) => {}
                    Err(e) if e.is_not_found() || e.is_conflict() => {}
                    Err(_) => return Next::After(Duration::from_secs(2)),
                }
            }
            // The watch will report the deletion; keep the entry until then.
            return Next::After(Duration::from_secs(5));
        }
        if entry.source == Source::File {
            self.delete_mirror(pod).await;
        }
        // Removed from its source: forget it and its containers (removeAll).
        self.remove_runtime_pod(&rt).await;
        self.pods.lock().expect("lock").remove(&uid);
        self.reasons.lock().expect("lock").remove(&uid);
        self.posted.lock().expect("lock").remove(&uid);
        self.deleted_once.lock().expect("lock").remove(&uid);
        self.volumes_refreshed.lock().expect("lock").remove(&uid);
        self.tokens
            .lock()
            .await
            .retain(|k, _| !k.starts_with(&format!("{uid}/")));
        let _ = std::fs::remove_dir_all(super::volumes::pod_dir(&self.cfg.root_dir, &uid));
        Next::Done
    }

    /// Kills a pod's running containers (Killing events when the pod is known) and stops its
    /// sandboxes (`killPodWithSyncResult`).
    async fn kill_runtime_pod(&self, rt: &RuntimePod, grace: i64, pod: Option<&Value>) {
        let running: Vec<&Container> = rt
            .containers
            .iter()
            .filter(|c| c.state == ContainerState::Running)
            .collect();
        let kills = running.iter().map(|c| {
            if let Some(p) = pod {
                let n = &c.metadata.name;
                self.pod_event(
                    p,
                    "Normal",
                    "Killing",
                    &format!("Stopping container {n}"),
                    Some(Self::field_path(p, n)),
                );
            }
            self.runtime.call(Request::StopContainer {
                id: c.id.clone(),
                timeout: grace,
            })
        });
        let _ = futures::future::join_all(kills).await;
        for s in &rt.sandboxes {
            if s.state == SandboxState::Ready || s.pid.is_some() {
                let _ = self
                    .runtime
                    .call(Request::StopPodSandbox { id: s.id.clone() })
                    .await;
            }
        }
    }

    async fn remove_container(&self, id: &str) {
        // topologymanager scope.go RemoveContainer, called for every container removal.
        self.log.info(
            "scope.go:117",
            "RemoveContainer",
            &[("containerID", Kv::S(id.to_string()))],
        );
        let status = self
            .runtime
            .call(Request::ContainerStatus { id: id.to_string() })
            .await;
        let _ = self
            .runtime
            .call(Request::RemoveContainer { id: id.to_string() })
            .await;
        if let Ok(Reply::Container(c)) = status
            && !c.log_path.is_empty()
        {
            let _ = std::fs::remove_file(&c.log_path);
            let link = format!(
                "/var/log/containers/{}_{}_{}-{}.log",
                c.labels
                    .get("io.kubernetes.pod.name")
                    .cloned()
                    .unwrap_or_default(),
                c.labels
                    .get("io.kubernetes.pod.namespace")
                    .cloned()
                    .unwrap_or_default(),
                c.metadata.name,
                c.id
            );
            let _ = std::fs::remove_file(link);
        }
    }

    async fn remove_runtime_pod(&self, rt: &RuntimePod) {
        for c in &rt.containers {
            self.remove_container(&c.id).await;
        }
        for s in &rt.sandboxes {
            let _ = self
                .runtime
                .call(Request::RemovePodSandbox { id: s.id.clone() })
                .await;
            if let Some(dir) = Some(&s.config.log_directory).filter(|d| !d.is_empty()) {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }

    /// `SyncPod`: returns when to sync again.
    async fn sync_running(self: &Arc<Self>, pod: &Value, rt: &RuntimePod) -> Duration {
        let (ns, name, uid) = name_of(pod);
        let resync = self.cfg.sync_frequency.min(Duration::from_secs(10));
        let host_network = pod["spec"]["hostNetwork"] == true;
        if !host_network && let Some(err) = self.network_error() {
            // kubelet.go SyncPod: only host-network pods start while the network is not ready.
            let msg = format!("network is not ready: {err}");
            self.pod_event(pod, "Warning", "NetworkNotReady", &msg, None);
            self.log.error(
                "pod_workers.go:1301",
                Some(&msg),
                "Error syncing pod, skipping",
                &[("pod", kobj(&ns, &name)), ("podUID", Kv::S(uid.clone()))],
            );
            return jitter(Duration::from_secs(10));
        }
        let probes = self.probe_state.lock().expect("lock").clone();
        let actions = compute_actions(pod, rt, &probes);
        if let Some((site, why)) = actions.why
            && actions.create_sandbox
        {
            self.log.vinfo(2, site, why, &[("pod", kobj(&ns, &name))]);
        }
        if actions.create_sandbox && !actions.sandbox_id.is_empty() {
            self.pod_event(
                pod,
                "Normal",
                "SandboxChanged",
                "Pod sandbox changed, it will be killed and re-created.",
                None,
            );
        }
        let grace = pod["spec"]["terminationGracePeriodSeconds"]
            .as_i64()
            .unwrap_or(30);
        if actions.kill_pod {
            self.kill_runtime_pod(rt, grace, Some(pod)).await;
            if !actions.create_sandbox {
                return resync;
            }
        } else {
            for (id, cname, msg) in &actions.to_kill {
                self.pod_event(
                    pod,
                    "Normal",
                    "Killing",
                    msg,
                    Some(Self::field_path(pod, cname)),
                );
                let _ = self
                    .runtime
                    .call(Request::StopContainer {
                        id: id.clone(),
                        timeout: grace,
                    })
                    .await;
                self.probe_state.lock().expect("lock").remove(id);
            }
        }
        let sandbox = if actions.create_sandbox {
            match self.create_sandbox(pod, actions.attempt).await {
                Ok(s) => s,
                Err(msg) => {
                    let text = format!("Failed to create pod sandbox: {msg}");
                    self.pod_event(pod, "Warning", "FailedCreatePodSandBox", &text, None);
                    self.log.error(
                        "kuberuntime_manager.go:1170",
                        Some(&msg),
                        "CreatePodSandbox for pod failed",
                        &[("pod", kobj(&ns, &name))],
                    );
                    return jitter(Duration::from_secs(10));
                }
            }
        } else {
            match rt.sandboxes.iter().max_by_key(|s| s.created_at) {
                Some(s) => s.clone(),
                None => return resync,
            }
        };
        let mut requeue = resync;
        let rt_now = self.runtime_pod(&uid).await.unwrap_or_default();
        let inits = pod["spec"]["initContainers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let ctrs = pod["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if let Some(i) = actions.next_init {
            if let Err(d) = self
                .start_container(pod, &inits[i], &sandbox, &rt_now)
                .await
            {
                requeue = requeue.min(d);
            }
            return requeue;
        }
        for i in &actions.to_start {
            if let Err(d) = self
                .start_container(pod, &ctrs[*i], &sandbox, &rt_now)
                .await
            {
                requeue = requeue.min(d);
            }
        }
        requeue
    }

    async fn create_sandbox(&self, pod: &Value, attempt: u32) -> Result<PodSandbox, String> {
        let (ns, name, uid) = name_of(pod);
        let host_network = pod["spec"]["hostNetwork"] == true;
        let log_dir = log_dir(pod);
        let _ = std::fs::create_dir_all(&log_dir);
        let mut port_mappings = vec![];
        for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
            for p in c["ports"].as_array().into_iter().flatten() {
                let host_port = p["hostPort"].as_u64().unwrap_or(0) as u16;
                if host_port == 0 {
                    continue;
                }
                port_mappings.push(PortMapping {
                    protocol: p["protocol"].as_str().unwrap_or("TCP").to_string(),
                    container_port: p["containerPort"].as_u64().unwrap_or(0) as u16,
                    host_port,
                    host_ip: p["hostIP"].as_str().unwrap_or_default().to_string(),
                });
            }
        }
        let hostname = if host_network {
            self.node_name.clone()
        } else {
            pod["spec"]["hostname"]
                .as_str()
                .unwrap_or(&name)
                .chars()
                .take(63)
                .collect()
        };
        let mut annotations: std::collections::BTreeMap<String, String> =
            pod["metadata"]["annotations"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
        annotations.insert("kubernetes.io/config.seen".into(), super::now_rfc3339());
        let config = PodSandboxConfig {
            metadata: PodSandboxMetadata {
                name: name.clone(),
                uid: uid.clone(),
                namespace: ns.clone(),
                attempt,
            },
            hostname,
            log_directory: log_dir,
            port_mappings,
            labels: labels_for(pod),
            annotations,
            host_network,
        };
        let id = match self.runtime.call(Request::RunPodSandbox { config }).await {
            Ok(Reply::Id { id }) => id,
            Ok(_) => return Err("unexpected reply to RunPodSandbox".into()),
            Err(e) => return Err(e.to_string()),
        };
        match self
            .runtime
            .call(Request::PodSandboxStatus { id: id.clone() })
            .await
        {
            Ok(Reply::Sandbox(s)) => Ok(*s),
            Ok(_) => Err("unexpected reply to PodSandboxStatus".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// `EnsureImageExists`: the image ID, or the waiting reason and message.
    async fn ensure_image(&self, pod: &Value, c: &Value) -> Result<String, (String, String)> {
        let image = c["image"].as_str().unwrap_or_default();
        let cname = c["name"].as_str().unwrap_or_default();
        let field = Some(Self::field_path(pod, cname));
        if image.is_empty() {
            return Err(("InvalidImageName".into(), "image is empty".into()));
        }
        let policy = c["imagePullPolicy"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| crate::apiserver::defaults::image_pull_policy(image).to_string());
        let present = match self
            .runtime
            .call(Request::ImageStatus {
                image: image.into(),
            })
            .await
        {
            Ok(Reply::ImageInfo { image: Some(i) }) => Some(i.id),
            _ => None,
        };
        if policy != "Always"
            && let Some(id) = &present
        {
            self.pod_event(
                pod,
                "Normal",
                "Pulled",
                &format!("Container image {image:?} already present on machine"),
                field,
            );
            return Ok(id.clone());
        }
        if policy == "Never" {
            let msg = format!("Container image {image:?} is not present with pull policy of Never");
            self.pod_event(pod, "Warning", "ErrImageNeverPull", &msg, field);
            return Err(("ErrImageNeverPull".into(), msg));
        }
        let (_, _, uid) = name_of(pod);
        let key = format!("{uid}_{image}");
        let now = monotonic(self);
        if self
            .image_backoff
            .lock()
            .expect("lock")
            .is_in_backoff_since_update(&key, now)
        {
            let msg = format!("Back-off pulling image {image:?}");
            self.pod_event(pod, "Normal", "BackOff", &msg, field.clone());
            self.pod_event(pod, "Warning", "Failed", "Error: ImagePullBackOff", field);
            return Err(("ImagePullBackOff".into(), msg));
        }
        self.pod_event(
            pod,
            "Normal",
            "Pulling",
            &format!("Pulling image {image:?}"),
            field.clone(),
        );
        let start = std::time::Instant::now();
        match self
            .runtime
            .call(Request::PullImage {
                image: image.into(),
            })
            .await
        {
            Ok(Reply::Image { image_ref }) => {
                let took = start.elapsed();
                let msg = if self.minor.minor() >= 30 {
                    let size = match self
                        .runtime
                        .call(Request::ImageStatus {
                            image: image_ref.clone(),
                        })
                        .await
                    {
                        Ok(Reply::ImageInfo { image: Some(i) }) => i.size,
                        _ => 0,
                    };
                    let ms = Duration::from_millis(took.as_millis() as u64);
                    format!(
                        "Successfully pulled image {image:?} in {} ({} including waiting). Image size: {size} bytes.",
                        crate::cli::gofmt::go_duration(ms.as_nanos()),
                        crate::cli::gofmt::go_duration(ms.as_nanos())
                    )
                } else {
                    format!(
                        "Successfully pulled image {image:?} in {} ({} including waiting)",
                        crate::cli::gofmt::go_duration(took.as_nanos()),
                        crate::cli::gofmt::go_duration(took.as_nanos())
                    )
                };
                self.pod_event(pod, "Normal", "Pulled", &msg, field);
                Ok(image_ref)
            }
            Ok(_) => Err((
                "ErrImagePull".into(),
                "unexpected reply to PullImage".into(),
            )),
            Err(e) => {
                let text = e.to_string();
                self.pod_event(
                    pod,
                    "Warning",
                    "Failed",
                    &format!("Failed to pull image {image:?}: {text}"),
                    field.clone(),
                );
                self.image_backoff
                    .lock()
                    .expect("lock")
                    .next(&key, now, now);
                self.pod_event(pod, "Warning", "Failed", "Error: ErrImagePull", field);
                Err(("ErrImagePull".into(), text))
            }
        }
    }

    /// `startContainer` with the back-off check before it. `Err` carries when to retry.
    async fn start_container(
        self: &Arc<Self>,
        pod: &Value,
        c: &Value,
        sandbox: &PodSandbox,
        rt: &RuntimePod,
    ) -> Result<(), Duration> {
        let (ns, pname, uid) = name_of(pod);
        let cname = c["name"].as_str().unwrap_or_default().to_string();
        let field = Some(Self::field_path(pod, &cname));
        let newest = newest_named(rt, &cname).cloned();
        // doBackOff: the newest exited container's finish time starts the delay.
        if let Some(prev) = newest
            .as_ref()
            .filter(|p| p.state == ContainerState::Exited)
        {
            let key = format!("{pname}_{ns}_{uid}_{cname}");
            let event_at = ns_to_mono(self, prev.finished_at);
            let now = monotonic(self);
            let mut b = self.backoff.lock().expect("lock");
            if b.is_in_backoff_since(&key, event_at, now) {
                let delay = b.get(&key);
                let remaining = b.remaining(&key, event_at, now);
                drop(b);
                let fp = format_pod(pod);
                self.pod_event(
                    pod,
                    "Warning",
                    "BackOff",
                    &format!("Back-off restarting failed container {cname} in pod {fp}"),
                    field,
                );
                let msg = format!(
                    "back-off {} restarting failed container={cname} pod={fp}",
                    go_secs(delay)
                );
                self.log.vinfo(
                    3,
                    "kuberuntime_manager.go:1329",
                    "Back-off restarting failed container",
                    &[("err", Kv::S(msg.clone()))],
                );
                self.set_reason(&uid, &cname, Some(("CrashLoopBackOff".into(), msg)));
                return Err(remaining.max(Duration::from_millis(200)));
            }
            b.next(&key, event_at, now);
        }
        let image_id = match self.ensure_image(pod, c).await {
            Ok(id) => id,
            Err(reason) => {
                self.set_reason(&uid, &cname, Some(reason));
                return Err(jitter(Duration::from_secs(10)));
            }
        };
        let restart_count = match &newest {
            Some(p) => super::status::restart_count(p) + 1,
            None => restart_count_from_logs(&log_dir(pod), &cname),
        };
        let fail = |me: &Arc<Self>, reason: &str, msg: String| {
            me.pod_event(
                pod,
                "Warning",
                "Failed",
                &format!("Error: {msg}"),
                Some(Self::field_path(pod, &cname)),
            );
            me.set_reason(&uid, &cname, Some((reason.into(), msg)));
            Err(jitter(Duration::from_secs(10)))
        };
        let config = match self
            .container_config(pod, c, sandbox, &image_id, restart_count)
            .await
        {
            Ok(cfg) => cfg,
            Err((reason, msg)) => {
                if reason == "FailedMount" {
                    self.pod_event(pod, "Warning", "FailedMount", &msg, None);
                    self.set_reason(
                        &uid,
                        &cname,
                        Some(("ContainerCreating".into(), String::new())),
                    );
                    return Err(jitter(Duration::from_secs(10)));
                }
                return fail(self, &reason, msg);
            }
        };
        let id = match self
            .runtime
            .call(Request::CreateContainer {
                pod_sandbox_id: sandbox.id.clone(),
                config,
            })
            .await
        {
            Ok(Reply::Id { id }) => id,
            Ok(_) => {
                return fail(
                    self,
                    "CreateContainerError",
                    "unexpected reply to CreateContainer".into(),
                );
            }
            Err(e) => return fail(self, "CreateContainerError", e.to_string()),
        };
        self.pod_event(
            pod,
            "Normal",
            "Created",
            &self.minor.created_event_message(&cname),
            field.clone(),
        );
        if let Err(e) = self
            .runtime
            .call(Request::StartContainer { id: id.clone() })
            .await
        {
            return fail(self, "RunContainerError", e.to_string());
        }
        self.pod_event(
            pod,
            "Normal",
            "Started",
            &format!("Started container {cname}"),
            field,
        );
        self.set_reason(&uid, &cname, None);
        // The legacy log symlink (kuberuntime_container.go `BuildContainerLogsDirectory` +
        // `legacyLogSymlink`).
        let target = format!("{}/{cname}/{restart_count}.log", log_dir(pod));
        let link = format!("/var/log/containers/{pname}_{ns}_{cname}-{id}.log");
        let _ = std::fs::create_dir_all("/var/log/containers");
        let _ = std::os::unix::fs::symlink(&target, &link);
        Ok(())
    }

    async fn container_config(
        &self,
        pod: &Value,
        c: &Value,
        sandbox: &PodSandbox,
        image_id: &str,
        restart_count: u32,
    ) -> Result<ContainerConfig, (String, String)> {
        let (ns, _, uid) = name_of(pod);
        let cname = c["name"].as_str().unwrap_or_default().to_string();
        let pod_ip = if pod["spec"]["hostNetwork"] == true {
            self.node_ip.to_string()
        } else {
            sandbox.ip.clone()
        };
        let host_ip = self.node_ip.to_string();
        let volumes = {
            let mut tokens = self.tokens.lock().await;
            super::volumes::setup(
                &super::volumes::VolumeContext {
                    root_dir: &self.cfg.root_dir,
                    client: self.client.as_ref(),
                    pod_ip: &pod_ip,
                    host_ip: &host_ip,
                },
                pod,
                &mut tokens,
            )
            .await
            .map_err(|m| ("FailedMount".to_string(), m))?
        };
        let mut mounts = super::volumes::container_mounts(c, &volumes)
            .map_err(|m| ("CreateContainerConfigError".to_string(), m))?;
        if pod["spec"]["hostNetwork"] != true
            && !mounts.iter().any(|m| m.container_path == "/etc/hosts")
        {
            let hosts = super::volumes::pod_dir(&self.cfg.root_dir, &uid).join("etc-hosts");
            let _ = std::fs::create_dir_all(hosts.parent().unwrap_or(std::path::Path::new("/")));
            let _ = std::fs::write(
                &hosts,
                super::volumes::etc_hosts(&pod_ip, &sandbox.config.hostname),
            );
            mounts.push(crate::runtime::cri::Mount {
                container_path: "/etc/hosts".into(),
                host_path: hosts.display().to_string(),
                readonly: false,
            });
        }
        let (cm_names, secret_names) = super::env::referenced_objects(c);
        let mut cms = HashMap::new();
        let mut secrets = HashMap::new();
        if let Some(client) = &self.client {
            for n in cm_names {
                let v = client
                    .get_opt(&path("", "v1", "configmaps", Some(&ns), Some(&n)))
                    .await
                    .map_err(|e| ("CreateContainerConfigError".to_string(), e.to_string()))?;
                cms.insert(n, v);
            }
            for n in secret_names {
                let v = client
                    .get_opt(&path("", "v1", "secrets", Some(&ns), Some(&n)))
                    .await
                    .map_err(|e| ("CreateContainerConfigError".to_string(), e.to_string()))?;
                secrets.insert(n, v);
            }
        }
        let services = self.services();
        let mut envs = super::env::make_env(&super::env::EnvInput {
            pod,
            container: c,
            pod_ip: &pod_ip,
            host_ip: &host_ip,
            services: &services,
            configmaps: &cms,
            secrets: &secrets,
            allocatable: &self.allocatable,
        })
        .map_err(|m| ("CreateContainerConfigError".to_string(), m))?;
        if !self.apiserver_url.is_empty() {
            envs.push(("LABSIM_APISERVER".into(), self.apiserver_url.clone()));
        }
        let vars: HashMap<String, String> = envs.iter().cloned().collect();
        let strings = |k: &str| -> Vec<String> {
            c[k].as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str())
                .map(|s| super::env::expand(s, &vars))
                .collect()
        };
        let mut labels = std::collections::BTreeMap::new();
        labels.insert("io.kubernetes.container.name".into(), cname.clone());
        labels.insert(
            "io.kubernetes.pod.name".into(),
            pod["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        labels.insert("io.kubernetes.pod.namespace".into(), ns.clone());
        labels.insert("io.kubernetes.pod.uid".into(), uid.clone());
        let mut annotations = std::collections::BTreeMap::new();
        annotations.insert(
            "io.kubernetes.container.hash".into(),
            hash_str(&c.to_string()),
        );
        annotations.insert(
            "io.kubernetes.container.restartCount".into(),
            restart_count.to_string(),
        );
        annotations.insert(
            "io.kubernetes.container.terminationMessagePath".into(),
            c["terminationMessagePath"]
                .as_str()
                .unwrap_or("/dev/termination-log")
                .into(),
        );
        annotations.insert(
            "io.kubernetes.container.terminationMessagePolicy".into(),
            c["terminationMessagePolicy"]
                .as_str()
                .unwrap_or("File")
                .into(),
        );
        annotations.insert(
            "io.kubernetes.pod.terminationGracePeriod".into(),
            pod["spec"]["terminationGracePeriodSeconds"]
                .as_i64()
                .unwrap_or(30)
                .to_string(),
        );
        if let Some(ports) = c["ports"].as_array() {
            annotations.insert(
                "io.kubernetes.container.ports".into(),
                serde_json::to_string(ports).unwrap_or_default(),
            );
        }
        let dir = format!("{}/{cname}", log_dir(pod));
        let _ = std::fs::create_dir_all(&dir);
        Ok(ContainerConfig {
            metadata: ContainerMetadata {
                name: cname.clone(),
                attempt: restart_count,
            },
            image: image_id.to_string(),
            user_specified_image: c["image"].as_str().unwrap_or_default().to_string(),
            command: strings("command"),
            args: strings("args"),
            working_dir: c["workingDir"].as_str().unwrap_or_default().to_string(),
            envs,
            mounts,
            labels,
            annotations,
            log_path: format!("{cname}/{restart_count}.log"),
        })
    }

    /// Computes and posts the pod's status when it changed (status manager).
    async fn post_status(&self, entry: &PodEntry, rt: &RuntimePod) {
        let pod = &entry.pod;
        let (ns, name, uid) = name_of(pod);
        let images = match self.runtime.call(Request::ListImages).await {
            Ok(Reply::Images { items }) => items,
            _ => vec![],
        };
        let digests: HashMap<String, (String, String)> = images
            .iter()
            .map(|i| {
                (
                    i.id.clone(),
                    (
                        i.repo_tags.first().cloned().unwrap_or_default(),
                        i.repo_digests.first().cloned().unwrap_or_default(),
                    ),
                )
            })
            .collect();
        let probes: HashMap<String, super::status::ProbeView> = {
            let st = self.probe_state.lock().expect("lock");
            rt.containers
                .iter()
                .map(|c| {
                    let f = st.get(&c.id).cloned().unwrap_or_default();
                    let spec = pod["spec"]["containers"]
                        .as_array()
                        .and_then(|cs| cs.iter().find(|s| s["name"] == c.metadata.name.as_str()))
                        .cloned()
                        .unwrap_or(Value::Null);
                    let has_ready = spec["readinessProbe"].is_object();
                    let has_startup = spec["startupProbe"].is_object();
                    let started = !has_startup || f.started == Some(true);
                    (
                        c.id.clone(),
                        super::status::ProbeView {
                            ready: started && (!has_ready || f.ready == Some(true)),
                            started,
                        },
                    )
                })
                .collect()
        };
        let reasons = self
            .reasons
            .lock()
            .expect("lock")
            .get(&uid)
            .cloned()
            .unwrap_or_default();
        // The status is computed against the API's current status (for transition times).
        let api = if entry.source == Source::File {
            self.api_pod(&ns, &name)
        } else {
            self.api_pod(&ns, &name)
                .filter(|p| p["metadata"]["uid"] == uid.as_str())
        };
        let mut base = pod.clone();
        if let Some(a) = &api {
            base["status"] = a["status"].clone();
        }
        let now = super::now_rfc3339();
        let status = super::status::pod_status(&super::status::StatusInput {
            pod: &base,
            sandboxes: &rt.sandboxes,
            containers: &rt.containers,
            probes: &probes,
            reasons: &reasons,
            host_ip: &self.node_ip.to_string(),
            minor: self.minor.minor(),
            now: &now,
            image_digests: &digests,
        });
        if let Some(e) = self.pods.lock().expect("lock").get_mut(&uid) {
            e.pod["status"] = status.clone();
        }
        let Some(client) = &self.client else {
            return;
        };
        let Some(api) = api else {
            return;
        };
        // The status manager reconciles against the API's copy (status_manager.go
        // `needsReconcile`): post when any field the kubelet reports differs there, whoever
        // changed it (e.g. the node lifecycle controller marking pods not ready).
        let in_sync = status
            .as_object()
            .is_some_and(|m| m.iter().all(|(k, v)| &api["status"][k] == v));
        if in_sync {
            self.posted.lock().expect("lock").insert(uid, status);
            return;
        }
        let p = format!("{}/status", path("", "v1", "pods", Some(&ns), Some(&name)));
        match client
            .patch(&p, PatchType::Merge, &json!({"status": status}))
            .await
        {
            Ok(_) => {
                self.log.vinfo(
                    3,
                    "status_manager.go:874",
                    "Patch status for pod",
                    &[("pod", kobj(&ns, &name)), ("podUID", Kv::S(uid.clone()))],
                );
                self.posted.lock().expect("lock").insert(uid, status);
            }
            Err(e) => {
                self.log.vinfo(
                    2,
                    "status_manager.go:859",
                    "Failed to update status for pod",
                    &[("pod", kobj(&ns, &name)), ("err", Kv::S(e.to_string()))],
                );
            }
        }
    }

    /// Creates the mirror pod of a static pod, replacing a stale one (`syncPod` mirror handling).
    async fn ensure_mirror(&self, static_pod: &Value) {
        let Some(client) = &self.client else {
            return;
        };
        let Some(node_uid) = self.node_uid() else {
            return;
        };
        let (ns, name, _) = name_of(static_pod);
        let p = path("", "v1", "pods", Some(&ns), Some(&name));
        let existing = match client.get_opt(&p).await {
            Ok(v) => v,
            Err(_) => return,
        };
        if let Some(m) = &existing {
            if is_mirror_of(m, static_pod) {
                return;
            }
            if !m["metadata"]["deletionTimestamp"].is_null() {
                return;
            }
            self.log.info(
                "kubelet.go:1913",
                "Trying to delete pod",
                &[
                    ("pod", kobj(&ns, &name)),
                    (
                        "podUID",
                        Kv::S(m["metadata"]["uid"].as_str().unwrap_or_default().into()),
                    ),
                ],
            );
            let _ = client.delete(&p, &json!({"gracePeriodSeconds": 0, "preconditions": {"uid": m["metadata"]["uid"]}})).await;
            return;
        }
        let mirror = mirror_of(static_pod, &self.node_name, &node_uid);
        self.log.vinfo(
            4,
            "kubelet.go:1929",
            "Creating a mirror pod for static pod",
            &[("pod", kobj(&ns, &name))],
        );
        if let Err(e) = client
            .create(&path("", "v1", "pods", Some(&ns), None), &mirror)
            .await
            && !e.is_already_exists()
        {
            self.log.error(
                "kubelet.go:1934",
                Some(&e.to_string()),
                "Failed creating a mirror pod for",
                &[("pod", kobj(&ns, &name))],
            );
        }
    }

    async fn delete_mirror(&self, static_pod: &Value) {
        let Some(client) = &self.client else {
            return;
        };
        let (ns, name, _) = name_of(static_pod);
        let p = path("", "v1", "pods", Some(&ns), Some(&name));
        if let Ok(Some(m)) = client.get_opt(&p).await
            && is_mirror(&m)
        {
            let _ = client
                .delete(&p, &json!({"gracePeriodSeconds": 0, "preconditions": {"uid": m["metadata"]["uid"]}}))
                .await;
        }
    }

    /// Watches API pods bound to this node.
    pub(crate) async fn run_api_source(self: Arc<Self>, mut changes: broadcast::Receiver<Change>) {
        loop {
            let change = match changes.recv().await {
                Ok(c) => c,
                Err(broadcast::error::RecvError::Lagged(_)) => Change::Restarted,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            match change {
                Change::Applied(pod) => {
                    if is_mirror(&pod) {
                        self.check_mirror(&pod).await;
                        continue;
                    }
                    self.upsert_pod(pod, Source::Api);
                }
                Change::Deleted(pod) => {
                    if is_mirror(&pod) {
                        // The kubelet recreates a deleted mirror pod on its next sync.
                        let hash =
                            pod["metadata"]["annotations"]["kubernetes.io/config.mirror"].clone();
                        let owner = self
                            .pods
                            .lock()
                            .expect("lock")
                            .iter()
                            .find(|(_, e)| e.pod["metadata"]["annotations"][CONFIG_HASH] == hash)
                            .map(|(u, _)| u.clone());
                        if let Some(uid) = owner {
                            self.trigger(&uid);
                        }
                        continue;
                    }
                    if let Some(uid) = pod["metadata"]["uid"].as_str() {
                        self.remove_pod(uid);
                    }
                }
                Change::Restarted => {
                    let Some(store) = self.api_pods.lock().expect("lock").clone() else {
                        continue;
                    };
                    let live: HashSet<String> = store
                        .list()
                        .iter()
                        .filter_map(|p| p["metadata"]["uid"].as_str().map(str::to_string))
                        .collect();
                    let gone: Vec<String> = self
                        .pods
                        .lock()
                        .expect("lock")
                        .iter()
                        .filter(|(u, e)| e.source == Source::Api && !live.contains(*u))
                        .map(|(u, _)| u.clone())
                        .collect();
                    for uid in gone {
                        self.remove_pod(&uid);
                    }
                    for p in store.list() {
                        if is_mirror(&p) {
                            self.check_mirror(&p).await;
                        } else {
                            self.upsert_pod(p, Source::Api);
                        }
                    }
                }
            }
        }
    }

    /// Deletes an orphaned mirror pod (no static pod of that name with that hash).
    async fn check_mirror(&self, mirror: &Value) {
        // Only once the file source has delivered its pods can a mirror pod be orphaned.
        if !self.static_seen.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let hash = &mirror["metadata"]["annotations"]["kubernetes.io/config.mirror"];
        let owned = self.pods.lock().expect("lock").values().any(|e| {
            e.source == Source::File
                && !e.removed
                && &e.pod["metadata"]["annotations"][CONFIG_HASH] == hash
        });
        if owned || !mirror["metadata"]["deletionTimestamp"].is_null() {
            return;
        }
        let (ns, name, uid) = name_of(mirror);
        if let Some(client) = &self.client {
            self.log.info(
                "kubelet_pods.go:1134",
                "Deleting orphaned mirror pod",
                &[("pod", kobj(&ns, &name))],
            );
            let _ = client
                .delete(
                    &path("", "v1", "pods", Some(&ns), Some(&name)),
                    &json!({"gracePeriodSeconds": 0, "preconditions": {"uid": uid}}),
                )
                .await;
        }
    }

    /// Reads `staticPodPath` now and every `fileCheckFrequency`.
    pub(crate) async fn run_static_source(self: Arc<Self>) {
        let Some(dir) = self.cfg.static_pod_path.clone() else {
            self.static_seen
                .store(true, std::sync::atomic::Ordering::SeqCst);
            return;
        };
        let mut reported_missing = false;
        loop {
            if !dir.exists() {
                if !reported_missing {
                    self.log.error(
                        "file_linux.go:61",
                        None,
                        "Unable to read config path",
                        &[("path", Kv::S(dir.display().to_string()))],
                    );
                    reported_missing = true;
                }
            } else {
                reported_missing = false;
            }
            let seen = crate::runtime::task::rfc3339nano(crate::runtime::now_ns());
            let (pods, errors) = super::static_pods::read_dir(&dir, &self.node_name, &seen);
            for e in errors {
                self.log.error(
                    "file.go:187",
                    Some(&e),
                    "Could not process manifest file",
                    &[],
                );
            }
            let wanted: HashSet<String> = pods
                .iter()
                .filter_map(|p| p["metadata"]["uid"].as_str().map(str::to_string))
                .collect();
            let current: Vec<String> = self
                .pods
                .lock()
                .expect("lock")
                .iter()
                .filter(|(_, e)| e.source == Source::File && !e.removed)
                .map(|(u, _)| u.clone())
                .collect();
            for uid in current.iter().filter(|u| !wanted.contains(*u)) {
                self.remove_pod(uid);
            }
            for mut p in pods {
                let uid = p["metadata"]["uid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if current.contains(&uid) {
                    continue;
                }
                p["apiVersion"] = json!("v1");
                p["kind"] = json!("Pod");
                crate::apiserver::defaults::default_pod_spec(&mut p["spec"]);
                self.upsert_pod(p, Source::File);
            }
            self.static_seen
                .store(true, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(self.cfg.file_check_frequency).await;
        }
    }

    /// The PLEG: relists the runtime every second, wakes the workers of pods whose containers or
    /// sandboxes changed, and removes dead containers (`cleanUpContainersInPod`).
    pub(crate) async fn run_pleg(self: Arc<Self>) {
        let mut previous: HashMap<String, (String, bool, bool)> = HashMap::new();
        let mut first = true;
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let sandboxes = match self
                .runtime
                .call(Request::ListPodSandbox {
                    filter: SandboxFilter::default(),
                })
                .await
            {
                Ok(Reply::Sandboxes { items }) => items,
                _ => continue,
            };
            let containers = match self
                .runtime
                .call(Request::ListContainers {
                    filter: ContainerFilter::default(),
                })
                .await
            {
                Ok(Reply::Containers { items }) => items,
                _ => continue,
            };
            let mut now_map: HashMap<String, (String, bool, bool)> = HashMap::new();
            for s in &sandboxes {
                let uid = s
                    .labels
                    .get("io.kubernetes.pod.uid")
                    .cloned()
                    .unwrap_or_default();
                now_map.insert(s.id.clone(), (uid, s.state == SandboxState::Ready, true));
            }
            for c in &containers {
                let uid = c
                    .labels
                    .get("io.kubernetes.pod.uid")
                    .cloned()
                    .unwrap_or_default();
                now_map.insert(
                    c.id.clone(),
                    (uid, c.state == ContainerState::Running, false),
                );
            }
            let mut wake: HashSet<String> = HashSet::new();
            let mut died: Vec<(String, String)> = vec![];
            for (id, (uid, running, _)) in &now_map {
                match previous.get(id) {
                    Some((_, was, _)) if was == running => {}
                    Some((_, true, _)) => {
                        died.push((uid.clone(), id.clone()));
                        wake.insert(uid.clone());
                    }
                    _ => {
                        wake.insert(uid.clone());
                    }
                }
            }
            for (id, (uid, _, _)) in &previous {
                if !now_map.contains_key(id) {
                    wake.insert(uid.clone());
                }
            }
            previous = now_map;
            if first {
                first = false;
                continue;
            }
            for uid in &wake {
                if self.pods.lock().expect("lock").contains_key(uid) {
                    self.trigger(uid);
                }
            }
            for (uid, id) in died {
                // A pod no source has (any more) loses all its dead containers — once the
                // sources have delivered their pods; before that it may just not be listed yet.
                let known = self.pods.lock().expect("lock").get(&uid).map(|e| e.removed);
                let removed = match known {
                    Some(r) => r,
                    None => self.sources_ready.load(std::sync::atomic::Ordering::SeqCst),
                };
                let pod_containers: Vec<&Container> = containers
                    .iter()
                    .filter(|c| c.labels.get("io.kubernetes.pod.uid") == Some(&uid))
                    .collect();
                // pod_container_deletor.go getContainersToDeleteInPod
                let Some(matched) = pod_containers.iter().find(|c| c.id == id) else {
                    self.log.info(
                        "pod_container_deletor.go:80",
                        "Container not found in pod's containers",
                        &[("containerID", Kv::S(id.clone()))],
                    );
                    continue;
                };
                let keep = if removed { 0 } else { 1 };
                let mut candidates: Vec<&&Container> = pod_containers
                    .iter()
                    .filter(|c| {
                        c.state == ContainerState::Exited
                            && c.metadata.name == matched.metadata.name
                    })
                    .collect();
                if candidates.len() <= keep {
                    continue;
                }
                candidates.sort_by_key(|c| std::cmp::Reverse(c.created_at));
                for c in candidates.into_iter().skip(keep) {
                    self.remove_container(&c.id).await;
                }
            }
        }
    }

    /// Every 2 s: pods the runtime has that the kubelet does not know are killed and removed;
    /// every minute: old sandboxes without containers are removed (container GC).
    pub(crate) async fn run_housekeeping(self: Arc<Self>) {
        // Nothing is orphaned before every source has delivered its pods once
        // (kubelet.go `HandlePodCleanups` runs only when `sourcesReady.AllReady()`).
        let api = self.api_pods.lock().expect("lock").clone();
        if let Some(store) = api {
            store.wait_ready().await;
        }
        while !self.static_seen.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.sources_ready
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let mut ticks = 0u64;
        loop {
            let sandboxes = match self
                .runtime
                .call(Request::ListPodSandbox {
                    filter: SandboxFilter::default(),
                })
                .await
            {
                Ok(Reply::Sandboxes { items }) => items,
                _ => vec![],
            };
            let containers = match self
                .runtime
                .call(Request::ListContainers {
                    filter: ContainerFilter::default(),
                })
                .await
            {
                Ok(Reply::Containers { items }) => items,
                _ => vec![],
            };
            let mut uids: HashSet<String> = HashSet::new();
            for s in &sandboxes {
                uids.extend(s.labels.get("io.kubernetes.pod.uid").cloned());
            }
            for c in &containers {
                uids.extend(c.labels.get("io.kubernetes.pod.uid").cloned());
            }
            let api_ready = self.client.is_none() || self.api_pods.lock().expect("lock").is_some();
            for uid in uids {
                let known = self.pods.lock().expect("lock").contains_key(&uid);
                let working = self.workers.lock().expect("lock").contains_key(&uid);
                if !known && !working && api_ready {
                    self.trigger(&uid);
                }
            }
            if ticks % 30 == 29 {
                // Sandbox GC: not-ready sandboxes other than a pod's newest, without containers.
                let mut newest: HashMap<String, (i64, String)> = HashMap::new();
                for s in &sandboxes {
                    let uid = s
                        .labels
                        .get("io.kubernetes.pod.uid")
                        .cloned()
                        .unwrap_or_default();
                    let e = newest.entry(uid).or_insert((s.created_at, s.id.clone()));
                    if s.created_at > e.0 {
                        *e = (s.created_at, s.id.clone());
                    }
                }
                for s in &sandboxes {
                    let uid = s
                        .labels
                        .get("io.kubernetes.pod.uid")
                        .cloned()
                        .unwrap_or_default();
                    let is_newest = newest.get(&uid).is_some_and(|(_, id)| *id == s.id);
                    let used = containers.iter().any(|c| c.pod_sandbox_id == s.id);
                    if !is_newest && !used && s.state == SandboxState::NotReady {
                        let _ = self
                            .runtime
                            .call(Request::RemovePodSandbox { id: s.id.clone() })
                            .await;
                    }
                }
                self.backoff.lock().expect("lock").gc(monotonic(&self));
                self.image_backoff
                    .lock()
                    .expect("lock")
                    .gc(monotonic(&self));
            }
            ticks += 1;
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    /// Starts probe workers for running containers that have probes and lack a worker.
    fn ensure_probes(self: &Arc<Self>, pod: &Value, rt: &RuntimePod) {
        let (_, _, uid) = name_of(pod);
        for c in rt
            .containers
            .iter()
            .filter(|c| c.state == ContainerState::Running)
        {
            let spec = pod["spec"]["containers"]
                .as_array()
                .and_then(|cs| cs.iter().find(|s| s["name"] == c.metadata.name.as_str()))
                .cloned();
            let Some(spec) = spec else {
                continue;
            };
            for kind in ["startupProbe", "readinessProbe", "livenessProbe"] {
                if !spec[kind].is_object() {
                    continue;
                }
                let key = format!("{}/{kind}", c.id);
                let mut tasks = self.probe_tasks.lock().expect("lock");
                if tasks.contains_key(&key) {
                    continue;
                }
                let me = self.clone();
                let (pod, spec, c, uid) = (pod.clone(), spec.clone(), c.clone(), uid.clone());
                let pod_ip = if pod["spec"]["hostNetwork"] == true {
                    self.node_ip.to_string()
                } else {
                    rt.sandboxes
                        .iter()
                        .max_by_key(|s| s.created_at)
                        .map(|s| s.ip.clone())
                        .unwrap_or_default()
                };
                tasks.insert(
                    key.clone(),
                    tokio::spawn(async move {
                        me.probe_worker(&pod, &spec, &c, kind, &pod_ip, &uid).await;
                        me.probe_tasks.lock().expect("lock").remove(&key);
                    }),
                );
            }
        }
    }

    async fn probe_worker(
        self: &Arc<Self>,
        pod: &Value,
        spec: &Value,
        c: &Container,
        kind: &str,
        pod_ip: &str,
        uid: &str,
    ) {
        let probe = &spec[kind];
        let t = super::probes::Timing::of(probe);
        let initial = match kind {
            "readinessProbe" => Some(false),
            "livenessProbe" => Some(true),
            _ => None,
        };
        let mut counter = super::probes::Counter::new(initial);
        let label = match kind {
            "readinessProbe" => "Readiness",
            "livenessProbe" => "Liveness",
            _ => "Startup",
        };
        let cname = c.metadata.name.clone();
        let field = Some(Self::field_path(pod, &cname));
        let since_start =
            Duration::from_nanos((crate::runtime::now_ns() - c.started_at).max(0) as u64);
        tokio::time::sleep(t.initial_delay.saturating_sub(since_start)).await;
        let mut warned = false;
        loop {
            let running = matches!(
                self.runtime.call(Request::ContainerStatus { id: c.id.clone() }).await,
                Ok(Reply::Container(ref s)) if s.state == ContainerState::Running
            );
            if !running {
                self.probe_state.lock().expect("lock").remove(&c.id);
                return;
            }
            // Liveness and readiness wait for the startup probe (prober worker `doProbe`).
            let started = self
                .probe_state
                .lock()
                .expect("lock")
                .get(&c.id)
                .and_then(|f| f.started);
            let waits =
                kind != "startupProbe" && spec["startupProbe"].is_object() && started != Some(true);
            if kind == "startupProbe" && started == Some(true) {
                return;
            }
            if !waits {
                let outcome =
                    super::probes::run(probe, spec, pod_ip, self.slot, self.minor.minor()).await;
                match &outcome {
                    super::probes::Outcome::Failure(msg) => {
                        self.pod_event(
                            pod,
                            "Warning",
                            "Unhealthy",
                            &format!("{label} probe failed: {msg}"),
                            field.clone(),
                        );
                    }
                    super::probes::Outcome::Unknown(msg) if !warned => {
                        warned = true;
                        self.pod_event(
                            pod,
                            "Warning",
                            "Unhealthy",
                            &format!("{label} probe errored: {msg}"),
                            field.clone(),
                        );
                    }
                    _ => {}
                }
                let changed = counter.record(&outcome, &t);
                {
                    let mut st = self.probe_state.lock().expect("lock");
                    let f = st.entry(c.id.clone()).or_default();
                    match kind {
                        "readinessProbe" => f.ready = counter.result,
                        "livenessProbe" => f.liveness_failed = counter.result == Some(false),
                        _ => {
                            f.started = counter.result;
                            f.startup_failed = counter.result == Some(false);
                        }
                    }
                }
                if changed {
                    self.trigger(uid);
                    if kind == "livenessProbe" && counter.result == Some(false) {
                        return;
                    }
                }
            }
            tokio::time::sleep(t.period).await;
        }
    }
}

/// The restart count a container gets when the runtime has none of its previous instances: one
/// more than the highest `<n>.log` in its log directory (kuberuntime_container.go
/// `calcRestartCountByLogDir`, for runtimes that lose their state across reboots).
pub fn restart_count_from_logs(pod_log_dir: &str, container: &str) -> u32 {
    let dir = std::path::Path::new(pod_log_dir).join(container);
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_suffix(".log")?.parse::<u32>().ok()
        })
        .max()
        .map(|m| m + 1)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::cri::ContainerConfig;

    fn sb(id: &str, attempt: u32, ready: bool, created: i64) -> PodSandbox {
        PodSandbox {
            id: id.into(),
            metadata: PodSandboxMetadata {
                name: "p".into(),
                uid: "u".into(),
                namespace: "default".into(),
                attempt,
            },
            state: if ready {
                SandboxState::Ready
            } else {
                SandboxState::NotReady
            },
            created_at: created,
            ip: "10.244.1.2".into(),
            labels: Default::default(),
            annotations: Default::default(),
            runtime_handler: String::new(),
            pid: None,
            pause_image: String::new(),
            config: Default::default(),
            bind_ip: String::new(),
        }
    }

    fn ct(id: &str, name: &str, state: ContainerState, created: i64, exit: i32) -> Container {
        Container {
            id: id.into(),
            pod_sandbox_id: "s1".into(),
            metadata: ContainerMetadata {
                name: name.into(),
                attempt: 0,
            },
            image: String::new(),
            image_ref: String::new(),
            state,
            created_at: created,
            started_at: created,
            finished_at: created + 1,
            exit_code: exit,
            reason: String::new(),
            message: String::new(),
            labels: Default::default(),
            annotations: Default::default(),
            mounts: vec![],
            log_path: String::new(),
            pid: None,
            config: ContainerConfig::default(),
        }
    }

    fn pod(policy: &str) -> Value {
        json!({"metadata": {"name": "p", "namespace": "default", "uid": "u"},
               "spec": {"restartPolicy": policy, "containers": [{"name": "app"}, {"name": "side"}]}})
    }

    #[test]
    fn a_new_pod_gets_a_sandbox_and_all_containers() {
        let a = compute_actions(&pod("Always"), &RuntimePod::default(), &HashMap::new());
        assert!(a.create_sandbox && a.kill_pod);
        assert_eq!(a.attempt, 0);
        assert_eq!(a.sandbox_id, "");
        assert_eq!(a.to_start, vec![0, 1]);
        assert_eq!(
            a.why.unwrap().1,
            "No sandbox for pod can be found. Need to start a new one"
        );
    }

    #[test]
    fn a_dead_sandbox_is_replaced_with_the_next_attempt() {
        let rt = RuntimePod {
            sandboxes: vec![sb("s1", 0, false, 10)],
            containers: vec![
                ct("c1", "app", ContainerState::Running, 11, 0),
                ct("c2", "side", ContainerState::Running, 12, 0),
            ],
        };
        let a = compute_actions(&pod("Always"), &rt, &HashMap::new());
        assert!(a.create_sandbox && a.kill_pod);
        assert_eq!(a.attempt, 1);
        assert_eq!(a.sandbox_id, "s1");
        assert_eq!(a.to_start, vec![0, 1]);
        assert_eq!(
            a.why.unwrap(),
            (
                "util.go:48",
                "No ready sandbox for pod can be found. Need to start a new one"
            )
        );
    }

    #[test]
    fn an_exited_container_restarts_by_policy() {
        let rt = RuntimePod {
            sandboxes: vec![sb("s1", 0, true, 10)],
            containers: vec![
                ct("c1", "app", ContainerState::Exited, 11, 137),
                ct("c2", "side", ContainerState::Running, 12, 0),
            ],
        };
        let a = compute_actions(&pod("Always"), &rt, &HashMap::new());
        assert!(!a.create_sandbox && !a.kill_pod);
        assert_eq!(a.to_start, vec![0]);
        let never = compute_actions(&pod("Never"), &rt, &HashMap::new());
        assert!(never.to_start.is_empty());
        assert!(!never.kill_pod, "one container still runs");
        let done = RuntimePod {
            sandboxes: vec![sb("s1", 0, true, 10)],
            containers: vec![
                ct("c1", "app", ContainerState::Exited, 11, 0),
                ct("c2", "side", ContainerState::Exited, 12, 0),
            ],
        };
        let on_failure = compute_actions(&pod("OnFailure"), &done, &HashMap::new());
        assert!(
            on_failure.kill_pod && on_failure.to_start.is_empty(),
            "{on_failure:?}"
        );
        // A finished Never pod does not get a new sandbox once its sandbox is gone.
        let gone = RuntimePod {
            sandboxes: vec![sb("s1", 0, false, 10)],
            containers: done.containers.clone(),
        };
        let a = compute_actions(&pod("Never"), &gone, &HashMap::new());
        assert!(a.kill_pod && !a.create_sandbox);
    }

    #[test]
    fn liveness_failures_kill_and_restart() {
        let rt = RuntimePod {
            sandboxes: vec![sb("s1", 0, true, 10)],
            containers: vec![
                ct("c1", "app", ContainerState::Running, 11, 0),
                ct("c2", "side", ContainerState::Running, 12, 0),
            ],
        };
        let mut probes = HashMap::new();
        probes.insert(
            "c1".to_string(),
            ProbeFlags {
                liveness_failed: true,
                ..Default::default()
            },
        );
        let a = compute_actions(&pod("Always"), &rt, &probes);
        assert_eq!(
            a.to_kill,
            vec![(
                "c1".to_string(),
                "app".to_string(),
                "Container app failed liveness probe, will be restarted".to_string()
            )]
        );
        assert_eq!(a.to_start, vec![0]);
    }

    #[test]
    fn init_containers_run_first_and_in_order() {
        let mut p = pod("Always");
        p["spec"]["initContainers"] = json!([{"name": "i1"}, {"name": "i2"}]);
        let first = compute_actions(&p, &RuntimePod::default(), &HashMap::new());
        assert_eq!(first.next_init, Some(0));
        assert!(first.to_start.is_empty());
        let rt = RuntimePod {
            sandboxes: vec![sb("s1", 0, true, 10)],
            containers: vec![ct("i1", "i1", ContainerState::Exited, 11, 0)],
        };
        assert_eq!(compute_actions(&p, &rt, &HashMap::new()).next_init, Some(1));
        let rt2 = RuntimePod {
            sandboxes: vec![sb("s1", 0, true, 10)],
            containers: vec![
                ct("i1", "i1", ContainerState::Exited, 11, 0),
                ct("i2", "i2", ContainerState::Exited, 12, 0),
            ],
        };
        assert_eq!(
            compute_actions(&p, &rt2, &HashMap::new()).to_start,
            vec![0, 1]
        );
        let failed = RuntimePod {
            sandboxes: vec![sb("s1", 0, true, 10)],
            containers: vec![ct("i1", "i1", ContainerState::Exited, 11, 1)],
        };
        assert_eq!(
            compute_actions(&p, &failed, &HashMap::new()).next_init,
            Some(0)
        );
        let mut never = p.clone();
        never["spec"]["restartPolicy"] = json!("Never");
        assert!(compute_actions(&never, &failed, &HashMap::new()).kill_pod);
    }

    #[test]
    fn restart_counts_survive_a_runtime_that_forgot() {
        let dir = std::env::temp_dir().join(format!(
            "labsim-logs-{}-{}",
            std::process::id(),
            crate::runtime::now_ns()
        ));
        std::fs::create_dir_all(dir.join("app")).unwrap();
        std::fs::write(dir.join("app/0.log"), "").unwrap();
        std::fs::write(dir.join("app/3.log"), "").unwrap();
        assert_eq!(restart_count_from_logs(dir.to_str().unwrap(), "app"), 4);
        assert_eq!(restart_count_from_logs(dir.to_str().unwrap(), "other"), 0);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(format_pod(&pod("Always")), "p_default(u)");
    }
}
