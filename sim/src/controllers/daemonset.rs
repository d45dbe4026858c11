//! The DaemonSet controller (pkg/controller/daemon: daemon_controller.go, update.go,
//! util/daemonset_util.go).
//!
//! - One pod per node that should run it (`NodeShouldRunDaemonPod`): the template's required node
//!   affinity and nodeSelector match, and no NoSchedule/NoExecute taint is untolerated once the
//!   controller's own tolerations are added (`AddOrUpdateDaemonPodTolerations`: not-ready and
//!   unreachable NoExecute, disk/memory/pid-pressure and unschedulable NoSchedule, and
//!   network-unavailable for host-network pods). A pod on a node that only tolerates the
//!   NoExecute taints keeps running.
//! - Pods are named `<ds>-<5 chars>`, labelled `controller-revision-hash` and
//!   `pod-template-generation`, and pinned to their node with a required node affinity
//!   `matchFields metadata.name In [node]`, which the scheduler then honours.
//! - ControllerRevisions `<ds>-<hash>` hold `{"spec":{"template":…,"$patch":"replace"}}` and a
//!   revision number; rolling updates (maxSurge 0) replace pods as maxUnavailable allows.
//! - Failed daemon pods are deleted (`FailedDaemonPod`) and recreated.
//! - Status: desired/current/ready/updated/available/unavailable/misscheduled, observedGeneration.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::informers::Informer;
use super::queue::WorkQueue;
use super::replicaset::{create_pod, delete_pod, pod_from_template, slow_start_batch};
use super::util::{self, Expectations};
use super::{Ctx, SyncError, feed, work};
use crate::client::events::Recorder;
use crate::client::{Change, path};

/// `controller-revision-hash`.
pub const REVISION_HASH_LABEL: &str = "controller-revision-hash";
/// `pod-template-generation`.
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";
/// The annotation the API server keeps the template generation in.
pub const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";

/// The tolerations every daemon pod gets (`AddOrUpdateDaemonPodTolerations`).
pub fn add_daemon_tolerations(spec: &mut Value) {
    let mut add = vec![
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if spec["hostNetwork"] == true {
        add.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    let mut tols = util::array(&spec["tolerations"]);
    for (key, effect) in add {
        let t = json!({"key": key, "operator": "Exists", "effect": effect});
        // AddOrUpdateTolerationInPodSpec: replace a toleration with the same key/effect/operator.
        if let Some(existing) = tols
            .iter_mut()
            .find(|x| x["key"] == key && x["effect"] == effect && x["operator"] == "Exists")
        {
            *existing = t;
        } else {
            tols.push(t);
        }
    }
    spec["tolerations"] = json!(tols);
}

/// `ReplaceDaemonSetPodNodeNameNodeAffinity`: the pod may only run on `node`.
pub fn pin_to_node(spec: &mut Value, node: &str) {
    let req = json!({"key": "metadata.name", "operator": "In", "values": [node]});
    let required =
        &spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
    let terms = util::array(&required["nodeSelectorTerms"]);
    let new_terms: Vec<Value> = if terms.is_empty() {
        vec![json!({"matchFields": [req]})]
    } else {
        terms
            .into_iter()
            .map(|mut t| {
                t["matchFields"] = json!([req.clone()]);
                t
            })
            .collect()
    };
    spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] =
        json!({"nodeSelectorTerms": new_terms});
}

/// `NodeShouldRunDaemonPod`: (should run, should continue running).
pub fn node_should_run(node: &Value, ds: &Value) -> (bool, bool) {
    let mut spec = ds["spec"]["template"]["spec"].clone();
    let pinned = spec["nodeName"].as_str().unwrap_or_default();
    if !pinned.is_empty() && pinned != util::name(node) {
        return (false, false);
    }
    add_daemon_tolerations(&mut spec);
    if !util::required_node_affinity_matches(&spec, node) {
        return (false, false);
    }
    let taints = util::array(&node["spec"]["taints"]);
    let tols = util::array(&spec["tolerations"]);
    let fits = util::find_untolerated(&taints, &tols, |t| {
        t["effect"] == "NoSchedule" || t["effect"] == "NoExecute"
    })
    .is_none();
    if !fits {
        let untolerated_no_execute =
            util::find_untolerated(&taints, &tols, |t| t["effect"] == "NoExecute").is_some();
        return (false, !untolerated_no_execute);
    }
    (true, true)
}

/// The node a daemon pod is for: `spec.nodeName`, else its pinning affinity
/// (`GetTargetNodeName`).
pub fn target_node(pod: &Value) -> Option<String> {
    if let Some(n) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
        return Some(n.to_string());
    }
    let terms = util::array(
        &pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            ["nodeSelectorTerms"],
    );
    terms.iter().find_map(|t| {
        util::array(&t["matchFields"])
            .iter()
            .find(|f| f["key"] == "metadata.name" && f["operator"] == "In")
            .and_then(|f| f["values"][0].as_str().map(str::to_string))
    })
}

/// `getPatch`: what a ControllerRevision stores.
pub fn revision_patch(ds: &Value) -> Value {
    let mut template = ds["spec"]["template"].clone();
    template["$patch"] = json!("replace");
    json!({"spec": {"template": template}})
}

fn template_generation(ds: &Value) -> i64 {
    ds["metadata"]["annotations"][TEMPLATE_GENERATION_ANNOTATION]
        .as_str()
        .and_then(|g| g.parse().ok())
        // labsim's API server does not keep the annotation: the spec generation stands in.
        .unwrap_or_else(|| util::int(&ds["metadata"]["generation"]))
}

/// `IsPodUpdated`: the pod carries the current hash (or template generation).
pub fn is_pod_updated(pod: &Value, hash: &str, generation: i64) -> bool {
    let labels = &pod["metadata"]["labels"];
    labels[REVISION_HASH_LABEL] == hash
        || labels[TEMPLATE_GENERATION_LABEL] == generation.to_string().as_str()
}

struct Dsc {
    ctx: Ctx,
    dss: Informer,
    pods: Informer,
    nodes: Informer,
    revisions: Informer,
    expectations: Expectations,
    recorder: Arc<Recorder>,
    queue: Arc<WorkQueue>,
    failed_backoff: Mutex<HashMap<String, (Duration, tokio::time::Instant)>>,
}

#[derive(Debug, Default)]
struct PodMemory {
    known: HashSet<String>,
    deleting: HashSet<String>,
}

fn ds_key_of(obj: &Value) -> Option<String> {
    util::controller_of(obj)
        .filter(|r| r["kind"] == "DaemonSet")
        .map(|r| {
            format!(
                "{}/{}",
                util::namespace(obj),
                r["name"].as_str().unwrap_or_default()
            )
        })
}

/// Runs the controller.
pub async fn run(ctx: Ctx) {
    let dss = ctx.informers.get("daemonsets");
    let pods = ctx.informers.get("pods");
    let nodes = ctx.informers.get("nodes");
    let revisions = ctx.informers.get("controllerrevisions");
    let queue = WorkQueue::new();
    let dsc = Arc::new(Dsc {
        recorder: ctx.recorder("daemonset-controller"),
        ctx,
        dss: dss.clone(),
        pods: pods.clone(),
        nodes: nodes.clone(),
        revisions: revisions.clone(),
        expectations: Expectations::default(),
        queue: queue.clone(),
        failed_backoff: Mutex::new(HashMap::new()),
    });
    let all = dss.clone();
    feed(&dss, queue.clone(), super::own_key, move || {
        super::all_keys(&all)
    });
    // Any node change may change where daemon pods belong.
    let all2 = dss.clone();
    feed(
        &nodes,
        queue.clone(),
        move |_| super::all_keys(&all2),
        Vec::new,
    );
    feed(
        &revisions,
        queue.clone(),
        |c| {
            super::informers::changed_object(c)
                .and_then(ds_key_of)
                .into_iter()
                .collect()
        },
        Vec::new,
    );
    let memory = Mutex::new(PodMemory::default());
    let d = dsc.clone();
    feed(
        &pods,
        queue.clone(),
        move |c| d.pod_changed(&memory, c),
        Vec::new,
    );
    // daemon_controller.go Run: `cache.WaitForNamedCacheSync("daemon sets", …, podStoreSynced,
    // nodeStoreSynced, historyStoreSynced, dsStoreSynced)`.
    super::informers::wait_synced(&[&dss, &pods, &nodes, &revisions]).await;
    work("daemon_controller.go", queue, |key| {
        let dsc = dsc.clone();
        async move { dsc.sync(&key).await }
    })
    .await;
}

impl Dsc {
    fn pod_changed(&self, memory: &Mutex<PodMemory>, c: &Change) -> Vec<String> {
        let mut mem = memory.lock().expect("pod memory");
        match c {
            Change::Applied(pod) => {
                let k = util::key(pod);
                let new = mem.known.insert(k.clone());
                match ds_key_of(pod) {
                    Some(ds) => {
                        if new {
                            self.expectations.creation_observed(&ds);
                        }
                        if util::is_being_deleted(pod) && mem.deleting.insert(k) {
                            self.expectations.deletion_observed(&ds);
                        }
                        if let Some(d) = self.dss.get(&ds) {
                            let mrs = util::int(&d["spec"]["minReadySeconds"]);
                            if mrs > 0 && util::is_pod_ready(pod) {
                                self.queue
                                    .add_after(&ds, Duration::from_secs(mrs as u64 + 1));
                            }
                        }
                        vec![ds]
                    }
                    None => vec![],
                }
            }
            Change::Deleted(pod) => {
                let k = util::key(pod);
                mem.known.remove(&k);
                let was = mem.deleting.remove(&k);
                match ds_key_of(pod) {
                    Some(ds) => {
                        if !was {
                            self.expectations.deletion_observed(&ds);
                        }
                        vec![ds]
                    }
                    None => vec![],
                }
            }
            Change::Restarted => vec![],
        }
    }

    /// Daemon pods by node (`getNodesToDaemonPods`), excluding terminal pods being deleted.
    fn nodes_to_pods(&self, ds: &Value) -> BTreeMap<String, Vec<Value>> {
        let uid = util::uid(ds);
        let mut m: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for p in self.pods.list_namespace(util::namespace(ds)) {
            if !util::controlled_by(&p, uid) {
                continue;
            }
            if util::is_pod_terminal(&p) && util::is_being_deleted(&p) {
                continue;
            }
            if let Some(n) = target_node(&p) {
                m.entry(n).or_default().push(p);
            }
        }
        m
    }

    async fn sync(&self, key: &str) -> Result<Option<Duration>, SyncError> {
        let Some(ds) = self.dss.get(key) else {
            self.expectations.delete(key);
            return Ok(None);
        };
        if util::selector_is_empty(&ds["spec"]["selector"]) {
            let _ = self
                .recorder
                .warning(
                    &ds,
                    "SelectingAll",
                    "This daemon set is selecting all pods. A non-empty selector is required.",
                )
                .await;
            return Ok(None);
        }
        if util::is_being_deleted(&ds) {
            return Ok(None);
        }
        let (hash, old_revisions) = self.construct_history(&ds).await?;
        let nodes = self.nodes.list();
        if !self.expectations.satisfied(key) {
            return self.update_status(&ds, &nodes, &hash, false).await;
        }
        let mut requeue = None;
        let result = async {
            requeue = self.manage(&ds, &nodes, &hash, key).await?;
            if self.expectations.satisfied(key)
                && ds["spec"]["updateStrategy"]["type"] != "OnDelete"
            {
                self.rolling_update(&ds, &nodes, &hash, key).await?;
            }
            self.cleanup_history(&ds, &old_revisions).await
        }
        .await;
        let status = self.update_status(&ds, &nodes, &hash, true).await;
        result?;
        let again = status?;
        Ok(match (requeue, again) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// `constructHistory`: the current revision's hash (creating the revision if needed) and the
    /// old revisions.
    async fn construct_history(&self, ds: &Value) -> Result<(String, Vec<Value>), SyncError> {
        let uid = util::uid(ds);
        let patch = revision_patch(ds);
        let mut current = vec![];
        let mut old = vec![];
        for r in self.revisions.list_namespace(util::namespace(ds)) {
            if !util::controlled_by(&r, uid) {
                continue;
            }
            if r["data"] == patch {
                current.push(r);
            } else {
                old.push(r);
            }
        }
        let next = old
            .iter()
            .map(|r| util::int(&r["revision"]))
            .max()
            .unwrap_or(0)
            + 1;
        if let Some(cur) = current
            .into_iter()
            .max_by_key(|r| util::int(&r["revision"]))
        {
            let hash = cur["metadata"]["labels"][REVISION_HASH_LABEL]
                .as_str()
                .unwrap_or_else(|| util::name(&cur))
                .to_string();
            if util::int(&cur["revision"]) < next {
                let mut up = cur.clone();
                up["revision"] = json!(next);
                self.ctx
                    .client
                    .update(
                        &path(
                            "apps",
                            "v1",
                            "controllerrevisions",
                            Some(util::namespace(ds)),
                            Some(util::name(&cur)),
                        ),
                        &up,
                    )
                    .await?;
            }
            return Ok((hash, old));
        }
        // snapshot
        let collision = ds["status"]["collisionCount"].as_u64().map(|c| c as u32);
        let hash = super::hash::compute_hash(&ds["spec"]["template"], collision);
        let name = format!("{}-{hash}", util::name(ds));
        let mut labels = ds["spec"]["template"]["metadata"]["labels"].clone();
        labels[REVISION_HASH_LABEL] = json!(hash);
        let mut meta = json!({"name": name, "namespace": util::namespace(ds), "labels": labels,
                              "ownerReferences": [util::controller_ref(ds, "apps/v1", "DaemonSet")]});
        if !ds["metadata"]["annotations"].is_null() {
            meta["annotations"] = ds["metadata"]["annotations"].clone();
        }
        let cr = json!({"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": meta,
                        "data": patch, "revision": next});
        let ns = util::namespace(ds);
        match self
            .ctx
            .client
            .create(
                &path("apps", "v1", "controllerrevisions", Some(ns), None),
                &cr,
            )
            .await
        {
            Ok(_) => Ok((hash, old)),
            Err(e) if e.is_already_exists() => {
                let existing = self
                    .ctx
                    .client
                    .get(&path(
                        "apps",
                        "v1",
                        "controllerrevisions",
                        Some(ns),
                        Some(&name),
                    ))
                    .await?;
                if existing["data"] == revision_patch(ds) {
                    return Ok((hash, old));
                }
                let mut up = ds.clone();
                up["status"]["collisionCount"] =
                    json!(util::int(&ds["status"]["collisionCount"]) + 1);
                self.ctx
                    .client
                    .update(
                        &format!(
                            "{}/status",
                            path("apps", "v1", "daemonsets", Some(ns), Some(util::name(ds)))
                        ),
                        &up,
                    )
                    .await?;
                Err(e.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `manage`: create missing daemon pods, delete the ones that should not run.
    async fn manage(
        &self,
        ds: &Value,
        nodes: &[Value],
        hash: &str,
        key: &str,
    ) -> Result<Option<Duration>, SyncError> {
        let by_node = self.nodes_to_pods(ds);
        let mut need: Vec<String> = vec![];
        let mut delete: Vec<String> = vec![];
        let mut requeue: Option<Duration> = None;
        for node in nodes {
            let name = util::name(node);
            let (should_run, should_continue) = node_should_run(node, ds);
            let pods = by_node.get(name);
            match (should_run, pods) {
                (true, None) => need.push(name.to_string()),
                _ if should_continue => {
                    let mut running = vec![];
                    for p in pods.into_iter().flatten() {
                        if util::is_being_deleted(p) {
                            continue;
                        }
                        match p["status"]["phase"].as_str() {
                            Some("Failed") => {
                                let bk = format!("{}/{name}", util::key(ds));
                                if let Some(wait) = self.failed_backoff_wait(&bk) {
                                    requeue = Some(requeue.map_or(wait, |r| r.min(wait)));
                                    continue;
                                }
                                let msg = format!(
                                    "Found failed daemon pod {}/{} on node {name}, will try to kill it",
                                    util::namespace(p),
                                    util::name(p)
                                );
                                let _ = self.recorder.warning(ds, "FailedDaemonPod", &msg).await;
                                delete.push(util::name(p).to_string());
                            }
                            Some("Succeeded") => delete.push(util::name(p).to_string()),
                            _ => running.push(p.clone()),
                        }
                    }
                    // Without surge, keep only the oldest running pod.
                    if running.len() > 1 {
                        running.sort_by(|a, b| {
                            util::created(a)
                                .cmp(&util::created(b))
                                .then(util::name(a).cmp(util::name(b)))
                        });
                        for p in &running[1..] {
                            delete.push(util::name(p).to_string());
                        }
                    }
                }
                (_, Some(pods)) => {
                    for p in pods.iter().filter(|p| !util::is_being_deleted(p)) {
                        delete.push(util::name(p).to_string());
                    }
                }
                _ => {}
            }
        }
        // Pods pinned to nodes that no longer exist are never scheduled: delete them.
        let names: HashSet<&str> = nodes.iter().map(util::name).collect();
        for (n, pods) in &by_node {
            if !names.contains(n.as_str()) {
                for p in pods {
                    if util::spec_node(p).is_empty() && !util::is_being_deleted(p) {
                        delete.push(util::name(p).to_string());
                    }
                }
            }
        }
        self.sync_nodes(ds, &delete, &need, hash, key).await?;
        Ok(requeue)
    }

    fn failed_backoff_wait(&self, key: &str) -> Option<Duration> {
        // failedPodsBackoff: 1 s doubling to 15 min per DaemonSet and node.
        let mut m = self.failed_backoff.lock().expect("backoff lock");
        let now = tokio::time::Instant::now();
        match m.get(key).copied() {
            Some((delay, at)) if now < at + delay => Some(at + delay - now),
            Some((delay, _)) => {
                m.insert(
                    key.to_string(),
                    ((delay * 2).min(Duration::from_secs(900)), now),
                );
                None
            }
            None => {
                m.insert(key.to_string(), (Duration::from_secs(1), now));
                None
            }
        }
    }

    /// `syncNodes`: creates pods for `need` (slow start) and deletes `delete`.
    async fn sync_nodes(
        &self,
        ds: &Value,
        delete: &[String],
        need: &[String],
        hash: &str,
        key: &str,
    ) -> Result<(), SyncError> {
        let burst = super::replicaset::BURST_REPLICAS;
        let need = &need[..need.len().min(burst)];
        let delete = &delete[..delete.len().min(burst)];
        self.expectations
            .expect(key, need.len() as i64, delete.len() as i64);
        let ns = util::namespace(ds);
        let mut template = ds["spec"]["template"].clone();
        template["metadata"]["labels"][TEMPLATE_GENERATION_LABEL] =
            json!(template_generation(ds).to_string());
        template["metadata"]["labels"][REVISION_HASH_LABEL] = json!(hash);
        add_daemon_tolerations(&mut template["spec"]);
        let cref = util::controller_ref(ds, "apps/v1", "DaemonSet");
        let (ok, err) = slow_start_batch(need.len(), super::replicaset::SLOW_START_INITIAL, |i| {
            let mut pod = pod_from_template(&template, util::name(ds), &cref);
            pin_to_node(&mut pod["spec"], &need[i]);
            async move { create_pod(&self.ctx, &self.recorder, ns, &pod, ds).await }
        })
        .await;
        for _ in ok..need.len() {
            self.expectations.creation_observed(key);
        }
        let results = futures::future::join_all(
            delete
                .iter()
                .map(|p| delete_pod(&self.ctx, &self.recorder, ns, p, ds)),
        )
        .await;
        let mut first = err.map(SyncError::from);
        for r in results {
            if let Err(e) = r {
                self.expectations.deletion_observed(key);
                first.get_or_insert(e.into());
            }
        }
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// `rollingUpdate` without surge: delete old pods as far as maxUnavailable allows; `manage`
    /// then creates their replacements.
    async fn rolling_update(
        &self,
        ds: &Value,
        nodes: &[Value],
        hash: &str,
        key: &str,
    ) -> Result<(), SyncError> {
        let ru = &ds["spec"]["updateStrategy"]["rollingUpdate"];
        let by_node = self.nodes_to_pods(ds);
        let desired = nodes.iter().filter(|n| node_should_run(n, ds).0).count() as i64;
        let surge = if ru["maxSurge"].is_null() {
            0
        } else {
            util::scaled_value(&ru["maxSurge"], desired, true)
        };
        if surge != 0 {
            return Err(SyncError::Invalid(format!(
                "DaemonSet {}: rolling updates with maxSurge are not implemented by labsim; use maxSurge: 0",
                util::key(ds)
            )));
        }
        let mut max_unavailable = if ru["maxUnavailable"].is_null() {
            1
        } else {
            util::scaled_value(&ru["maxUnavailable"], desired, true)
        };
        if max_unavailable == 0 {
            max_unavailable = 1;
        }
        let generation = template_generation(ds);
        let mrs = util::int(&ds["spec"]["minReadySeconds"]);
        let now = util::now();
        let mut unavailable = 0;
        let mut replace = vec![];
        let mut candidates = vec![];
        for pods in by_node.values() {
            let live: Vec<&Value> = pods.iter().filter(|p| !util::is_being_deleted(p)).collect();
            let new: Vec<&&Value> = live
                .iter()
                .filter(|p| is_pod_updated(p, hash, generation))
                .collect();
            let old: Vec<&&Value> = live
                .iter()
                .filter(|p| !is_pod_updated(p, hash, generation))
                .collect();
            if new.len() > 1 || old.len() > 1 {
                unavailable += 1;
                continue;
            }
            match (new.first(), old.first()) {
                (None, None) | (Some(_), Some(_)) => unavailable += 1,
                (Some(n), None) => {
                    if !util::is_pod_available(n, mrs, now) {
                        unavailable += 1;
                    }
                }
                (None, Some(o)) => {
                    if !util::is_pod_available(o, mrs, now) {
                        replace.push(util::name(o).to_string());
                    } else if unavailable < max_unavailable {
                        candidates.push(util::name(o).to_string());
                    }
                }
            }
        }
        let remaining = ((max_unavailable - unavailable).max(0) as usize).min(candidates.len());
        replace.extend(candidates.into_iter().take(remaining));
        if replace.is_empty() {
            return Ok(());
        }
        self.sync_nodes(ds, &replace, &[], hash, key).await
    }

    /// `cleanupHistory`: keep `revisionHistoryLimit` old revisions not used by live pods.
    async fn cleanup_history(&self, ds: &Value, old: &[Value]) -> Result<(), SyncError> {
        let limit = ds["spec"]["revisionHistoryLimit"]
            .as_i64()
            .unwrap_or(10)
            .max(0) as usize;
        if old.len() <= limit {
            return Ok(());
        }
        let live: HashSet<String> = self
            .pods
            .list_namespace(util::namespace(ds))
            .iter()
            .filter(|p| util::controlled_by(p, util::uid(ds)))
            .filter_map(|p| {
                p["metadata"]["labels"][REVISION_HASH_LABEL]
                    .as_str()
                    .map(str::to_string)
            })
            .collect();
        let mut deletable: Vec<&Value> = old
            .iter()
            .filter(|r| {
                !live.contains(
                    r["metadata"]["labels"][REVISION_HASH_LABEL]
                        .as_str()
                        .unwrap_or_default(),
                )
            })
            .collect();
        deletable.sort_by_key(|r| util::int(&r["revision"]));
        let excess = old.len() - limit;
        for r in deletable.into_iter().take(excess) {
            match self
                .ctx
                .client
                .delete(
                    &path(
                        "apps",
                        "v1",
                        "controllerrevisions",
                        Some(util::namespace(r)),
                        Some(util::name(r)),
                    ),
                    &json!({}),
                )
                .await
            {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// `updateDaemonSetStatus`.
    async fn update_status(
        &self,
        ds: &Value,
        nodes: &[Value],
        hash: &str,
        observed: bool,
    ) -> Result<Option<Duration>, SyncError> {
        let by_node = self.nodes_to_pods(ds);
        let generation = template_generation(ds);
        let mrs = util::int(&ds["spec"]["minReadySeconds"]);
        let now = util::now();
        let (mut desired, mut current, mut ready, mut available, mut updated, mut mis) =
            (0, 0, 0, 0, 0, 0);
        for node in nodes {
            let (should_run, _) = node_should_run(node, ds);
            let pods = by_node.get(util::name(node));
            let scheduled = pods.is_some_and(|p| !p.is_empty());
            if should_run {
                desired += 1;
                let Some(pods) = pods.filter(|_| scheduled) else {
                    continue;
                };
                current += 1;
                let mut sorted = pods.clone();
                // podByCreationTimestampAndPhase: oldest first.
                sorted.sort_by(|a, b| {
                    util::created(a)
                        .cmp(&util::created(b))
                        .then(util::name(a).cmp(util::name(b)))
                });
                let p = &sorted[0];
                if util::is_pod_ready(p) {
                    ready += 1;
                    if util::is_pod_available(p, mrs, now) {
                        available += 1;
                    }
                }
                if is_pod_updated(p, hash, generation) {
                    updated += 1;
                }
            } else if scheduled {
                mis += 1;
            }
        }
        let unavailable = desired - available;
        let old = &ds["status"];
        let mut status: Map<String, Value> = old.as_object().cloned().unwrap_or_default();
        status.insert("desiredNumberScheduled".into(), json!(desired));
        status.insert("currentNumberScheduled".into(), json!(current));
        status.insert("numberMisscheduled".into(), json!(mis));
        status.insert("numberReady".into(), json!(ready));
        util::set_omitempty(&mut status, "updatedNumberScheduled", updated);
        util::set_omitempty(&mut status, "numberAvailable", available);
        util::set_omitempty(&mut status, "numberUnavailable", unavailable);
        if observed {
            util::set_omitempty(
                &mut status,
                "observedGeneration",
                util::int(&ds["metadata"]["generation"]),
            );
        }
        let status = Value::Object(status);
        if *old != status {
            let mut up = ds.clone();
            up["status"] = status;
            let p = path(
                "apps",
                "v1",
                "daemonsets",
                Some(util::namespace(ds)),
                Some(util::name(ds)),
            );
            match self.ctx.client.update(&format!("{p}/status"), &up).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
        if mrs > 0 && ready != available {
            return Ok(Some(Duration::from_secs(mrs as u64)));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(tolerations: Value) -> Value {
        json!({"metadata": {"name": "traefik", "namespace": "kube-system", "uid": "u"},
               "spec": {"selector": {"matchLabels": {"app": "traefik"}},
                        "template": {"metadata": {"labels": {"app": "traefik"}},
                                     "spec": {"containers": [{"name": "traefik", "image": "traefik"}], "tolerations": tolerations}}}})
    }

    fn node(name: &str, taints: Value) -> Value {
        json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}, "spec": {"taints": taints}})
    }

    #[test]
    fn control_plane_taint_keeps_daemon_pods_off_unless_tolerated() {
        let cp = node(
            "minikube",
            json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]),
        );
        let worker = node("minikube-m02", json!([]));
        let plain = ds(json!([]));
        assert_eq!(
            node_should_run(&cp, &plain),
            (false, true),
            "NoSchedule only: keeps an existing pod"
        );
        assert_eq!(node_should_run(&worker, &plain), (true, true));
        let tolerant = ds(json!([{"operator": "Exists", "effect": "NoSchedule"}]));
        assert_eq!(node_should_run(&cp, &tolerant), (true, true));
    }

    #[test]
    fn unreachable_nodes_keep_their_daemon_pods() {
        let down = node(
            "m03",
            json!([
            {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
            {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}]),
        );
        // The controller's tolerations cover unreachable:NoExecute, not :NoSchedule.
        assert_eq!(node_should_run(&down, &ds(json!([]))), (false, true));
        let custom = node(
            "m04",
            json!([{"key": "dedicated", "value": "db", "effect": "NoExecute"}]),
        );
        assert_eq!(node_should_run(&custom, &ds(json!([]))), (false, false));
    }

    #[test]
    fn pods_are_pinned_with_match_fields() {
        let mut spec = json!({});
        pin_to_node(&mut spec, "minikube-m02");
        assert_eq!(
            spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
                [0]["matchFields"][0],
            json!({"key": "metadata.name", "operator": "In", "values": ["minikube-m02"]})
        );
        let pod = json!({"spec": spec});
        assert_eq!(target_node(&pod).as_deref(), Some("minikube-m02"));
        let mut with_expr = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]}}}});
        pin_to_node(&mut with_expr, "n1");
        let term = &with_expr["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            ["nodeSelectorTerms"][0];
        assert_eq!(
            term["matchExpressions"][0]["key"], "disk",
            "expressions are kept"
        );
        assert_eq!(term["matchFields"][0]["values"][0], "n1");
    }

    #[test]
    fn daemon_tolerations() {
        let mut spec = json!({"hostNetwork": true, "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}]});
        add_daemon_tolerations(&mut spec);
        let tols = util::array(&spec["tolerations"]);
        assert_eq!(tols.len(), 8);
        assert!(
            tols.iter()
                .any(|t| t["key"] == "node.kubernetes.io/network-unavailable")
        );
        assert!(
            tols.iter()
                .any(|t| t["key"] == "node.kubernetes.io/unreachable"
                    && t["effect"] == "NoExecute"
                    && t.get("tolerationSeconds").is_none())
        );
    }
}
