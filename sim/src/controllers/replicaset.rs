//! The ReplicaSet controller (pkg/controller/replicaset/replica_set.go) and the pod control it
//! shares with the DaemonSet controller (pkg/controller/controller_utils.go `RealPodControl`).
//!
//! - Pods are created from the template with `generateName: <rs>-` (the API server adds five
//!   random characters), the RS as controller ownerReference, and a `SuccessfulCreate` event
//!   "Created pod: x"; deleted with `SuccessfulDelete` "Deleted pod: x".
//! - Only *active* pods count (not Succeeded/Failed, no deletionTimestamp), so a pod being deleted
//!   (e.g. evicted from an unreachable node) is replaced at once.
//! - Creations go in slow-start batches (1, 2, 4, …; at most 500 per sync) and deletions pick pods
//!   by upstream's ranking (`ActivePodsWithRanks`: unassigned, pending, not ready, lower deletion
//!   cost, more siblings on the node, more recently ready, more restarts, newer first).
//! - Expectations keep a sync on a stale cache from acting twice.
//! - Orphans matching the selector are adopted, owned pods that stop matching are released.
//! - Status: replicas, fullyLabeledReplicas, readyReplicas, availableReplicas, observedGeneration.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::informers::Informer;
use super::queue::WorkQueue;
use super::util::{self, Expectations};
use super::{Ctx, SyncError, feed, klog, work};
use crate::client::events::Recorder;
use crate::client::{Change, ClientError, PatchType, path};

/// At most this many creations or deletions per sync (`BurstReplicas`).
pub const BURST_REPLICAS: usize = 500;
/// The first slow-start batch (`SlowStartInitialBatchSize`).
pub const SLOW_START_INITIAL: usize = 1;

/// The pod a controller creates from `template` (controller_utils.go `GetPodFromTemplate`):
/// template labels, annotations, finalizers and spec, `generateName: <owner>-`, and the
/// controller reference.
pub fn pod_from_template(template: &Value, owner_name: &str, controller_ref: &Value) -> Value {
    let meta = &template["metadata"];
    let mut m = Map::new();
    // getPodsPrefix: the owner's name and a dash, cut so that generated names stay valid.
    let mut prefix = format!("{owner_name}-");
    if prefix.len() > 58 {
        prefix.truncate(58);
    }
    m.insert("generateName".into(), json!(prefix));
    for k in ["labels", "annotations", "finalizers"] {
        if !meta[k].is_null() {
            m.insert(k.into(), meta[k].clone());
        }
    }
    m.insert("ownerReferences".into(), json!([controller_ref]));
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": m, "spec": template["spec"]})
}

/// Creates `pod` in `ns` and records `SuccessfulCreate`/`FailedCreate` on `owner`.
///
/// # Errors
/// The API's error.
pub async fn create_pod(
    ctx: &Ctx,
    recorder: &Recorder,
    ns: &str,
    pod: &Value,
    owner: &Value,
) -> Result<Value, ClientError> {
    match ctx
        .client
        .create(&path("", "v1", "pods", Some(ns), None), pod)
        .await
    {
        Ok(created) => {
            let _ = recorder
                .normal(
                    owner,
                    "SuccessfulCreate",
                    &format!("Created pod: {}", util::name(&created)),
                )
                .await;
            Ok(created)
        }
        Err(e) => {
            // A terminating namespace refuses every create: not worth an event.
            if e.code() != Some(403) {
                let _ = recorder
                    .warning(owner, "FailedCreate", &format!("Error creating: {e}"))
                    .await;
            }
            Err(e)
        }
    }
}

/// Deletes pod `name` in `ns` and records `SuccessfulDelete`/`FailedDelete` on `owner`. A pod that
/// is already gone is not an error.
///
/// # Errors
/// The API's error other than NotFound.
pub async fn delete_pod(
    ctx: &Ctx,
    recorder: &Recorder,
    ns: &str,
    name: &str,
    owner: &Value,
) -> Result<(), ClientError> {
    match ctx
        .client
        .delete(&path("", "v1", "pods", Some(ns), Some(name)), &json!({}))
        .await
    {
        Ok(_) => {
            let _ = recorder
                .normal(owner, "SuccessfulDelete", &format!("Deleted pod: {name}"))
                .await;
            Ok(())
        }
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => {
            let _ = recorder
                .warning(owner, "FailedDelete", &format!("Error deleting: {e}"))
                .await;
            Err(e)
        }
    }
}

/// `slowStartBatch`: runs `count` calls of `op` in batches of 1, 2, 4, … and stops after the first
/// batch with a failure. Returns how many succeeded and the first error.
pub async fn slow_start_batch<F, Fut, T>(
    count: usize,
    initial: usize,
    op: F,
) -> (usize, Option<ClientError>)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let mut remaining = count;
    let mut successes = 0;
    let mut batch = initial.min(remaining);
    let mut index = 0;
    while batch > 0 {
        let results = futures::future::join_all((0..batch).map(|i| op(index + i))).await;
        index += batch;
        let mut first_err = None;
        for r in results {
            match r {
                Ok(_) => successes += 1,
                Err(e) => {
                    if first_err.is_none() {
                        first_err = Some(e);
                    }
                }
            }
        }
        if first_err.is_some() {
            return (successes, first_err);
        }
        remaining -= batch;
        batch = (2 * batch).min(remaining);
    }
    (successes, None)
}

fn phase_ordinal(pod: &Value) -> i32 {
    match pod["status"]["phase"].as_str() {
        Some("Pending") => 0,
        Some("Unknown") => 1,
        Some("Running") => 2,
        _ => 3,
    }
}

fn max_restarts(pod: &Value) -> i64 {
    util::array(&pod["status"]["containerStatuses"])
        .iter()
        .map(|c| util::int(&c["restartCount"]))
        .max()
        .unwrap_or(0)
}

fn deletion_cost(pod: &Value) -> i64 {
    pod["metadata"]["annotations"]["controller.kubernetes.io/pod-deletion-cost"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// `logarithmicRankDiff` (LogarithmicScaleDown, on by default since 1.22): compares how long ago
/// two times were on a log2 scale.
fn log_rank_diff(t1: jiff::Timestamp, t2: jiff::Timestamp, now: jiff::Timestamp) -> i64 {
    let r = |t: jiff::Timestamp| {
        let d = now.duration_since(t).as_nanos();
        if d > 0 { (d as f64).log2() as i64 } else { -1 }
    };
    r(t1) - r(t2)
}

/// Whether `a` should be deleted before `b` (controller_utils.go `ActivePodsWithRanks.Less`).
pub fn delete_before(
    a: &Value,
    rank_a: usize,
    b: &Value,
    rank_b: usize,
    now: jiff::Timestamp,
) -> bool {
    let node = |p: &Value| {
        p["spec"]["nodeName"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let (na, nb) = (node(a), node(b));
    // 1. Unassigned < assigned.
    if na != nb && (na.is_empty() || nb.is_empty()) {
        return na.is_empty();
    }
    // 2. Pending < Unknown < Running.
    if phase_ordinal(a) != phase_ordinal(b) {
        return phase_ordinal(a) < phase_ordinal(b);
    }
    // 3. Not ready < ready.
    if util::is_pod_ready(a) != util::is_pod_ready(b) {
        return !util::is_pod_ready(a);
    }
    // 4. Lower pod-deletion-cost < higher.
    if deletion_cost(a) != deletion_cost(b) {
        return deletion_cost(a) < deletion_cost(b);
    }
    // 5. Doubled up < not doubled up.
    if rank_a != rank_b {
        return rank_a > rank_b;
    }
    let uid_less = || util::uid(a) < util::uid(b);
    // 6. Been ready for less time < more time (log scale).
    if util::is_pod_ready(a) && util::is_pod_ready(b) {
        let (ra, rb) = (util::pod_ready_time(a), util::pod_ready_time(b));
        if ra != rb {
            return match (ra, rb) {
                (Some(x), Some(y)) => {
                    let d = log_rank_diff(x, y, now);
                    if d == 0 { uid_less() } else { d < 0 }
                }
                // afterOrZero: a missing time counts as newest.
                (None, _) => true,
                (_, None) => false,
            };
        }
    }
    // 7. More restarts < fewer.
    if max_restarts(a) != max_restarts(b) {
        return max_restarts(a) > max_restarts(b);
    }
    // 8. Newer < older (log scale).
    let (ca, cb) = (util::created(a), util::created(b));
    if ca != cb {
        let d = log_rank_diff(ca, cb, now);
        return if d == 0 { uid_less() } else { d < 0 };
    }
    false
}

/// `getPodsToDelete`: the `diff` pods to delete first, ranked by how many related active pods
/// share their node.
pub fn pods_to_delete(filtered: &[Value], related: &[Value], diff: usize) -> Vec<Value> {
    if diff >= filtered.len() {
        return filtered.to_vec();
    }
    let mut on_node: HashMap<String, usize> = HashMap::new();
    for p in related.iter().filter(|p| util::is_pod_active(p)) {
        *on_node
            .entry(
                p["spec"]["nodeName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
            .or_default() += 1;
    }
    let now = util::now();
    let mut ranked: Vec<(Value, usize)> = filtered
        .iter()
        .map(|p| {
            let r = on_node
                .get(p["spec"]["nodeName"].as_str().unwrap_or_default())
                .copied()
                .unwrap_or(0);
            (p.clone(), r)
        })
        .collect();
    ranked.sort_by(|(a, ra), (b, rb)| {
        if delete_before(a, *ra, b, *rb, now) {
            std::cmp::Ordering::Less
        } else if delete_before(b, *rb, a, *ra, now) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
    ranked.into_iter().take(diff).map(|(p, _)| p).collect()
}

/// `calculateStatus`: the new status from the active pods.
pub fn calculate_status(rs: &Value, filtered: &[Value], manage_err: Option<&str>) -> Value {
    let template_labels = &rs["spec"]["template"]["metadata"]["labels"];
    let min_ready = util::int(&rs["spec"]["minReadySeconds"]);
    let now = util::now();
    let mut fully = 0;
    let mut ready = 0;
    let mut available = 0;
    for p in filtered {
        if util::map_selector_matches(template_labels, &p["metadata"]["labels"])
            || template_labels.as_object().is_none_or(|m| m.is_empty())
        {
            fully += 1;
        }
        if util::is_pod_ready(p) {
            ready += 1;
            if util::is_pod_available(p, min_ready, now) {
                available += 1;
            }
        }
    }
    let mut status = rs["status"].as_object().cloned().unwrap_or_default();
    let mut conds = util::array(&rs["status"]["conditions"]);
    let has_failure = conds.iter().any(|c| c["type"] == "ReplicaFailure");
    match manage_err {
        Some(msg) if !has_failure => {
            let replicas = util::int(&rs["spec"]["replicas"]);
            let diff = filtered.len() as i64 - replicas;
            let reason = if diff < 0 {
                "FailedCreate"
            } else {
                "FailedDelete"
            };
            conds.push(json!({"type": "ReplicaFailure", "status": "True", "lastTransitionTime": util::now_time(),
                              "reason": reason, "message": msg}));
        }
        None if has_failure => conds.retain(|c| c["type"] != "ReplicaFailure"),
        _ => {}
    }
    if conds.is_empty() {
        status.remove("conditions");
    } else {
        status.insert("conditions".into(), json!(conds));
    }
    // ReplicaSetStatus.Replicas has no omitempty; the others do.
    status.insert("replicas".into(), json!(filtered.len()));
    util::set_omitempty(&mut status, "fullyLabeledReplicas", fully);
    util::set_omitempty(&mut status, "readyReplicas", ready);
    util::set_omitempty(&mut status, "availableReplicas", available);
    Value::Object(status)
}

/// Tracks what the controller has seen of pods, to observe creations and deletions once.
#[derive(Debug, Default)]
struct PodMemory {
    known: HashSet<String>,
    deleting: HashSet<String>,
}

fn rs_key_of_pod(pod: &Value) -> Option<String> {
    util::controller_of(pod)
        .filter(|r| r["kind"] == "ReplicaSet")
        .map(|r| {
            format!(
                "{}/{}",
                util::namespace(pod),
                r["name"].as_str().unwrap_or_default()
            )
        })
}

/// The state shared by the workers.
struct Rsc {
    ctx: Ctx,
    rss: Informer,
    pods: Informer,
    expectations: Expectations,
    recorder: Arc<Recorder>,
    queue: Arc<WorkQueue>,
}

/// Runs the controller.
pub async fn run(ctx: Ctx) {
    let rss = ctx.informers.get("replicasets");
    let pods = ctx.informers.get("pods");
    let queue = WorkQueue::new();
    let rsc = Arc::new(Rsc {
        recorder: ctx.recorder("replicaset-controller"),
        ctx,
        rss: rss.clone(),
        pods: pods.clone(),
        expectations: Expectations::default(),
        queue: queue.clone(),
    });
    let all = rss.clone();
    feed(&rss, queue.clone(), super::own_key, move || {
        super::all_keys(&all)
    });
    let memory = Mutex::new(PodMemory::default());
    let r = rsc.clone();
    feed(
        &pods,
        queue.clone(),
        move |c| r.pod_changed(&memory, c),
        Vec::new,
    );
    // replica_set.go Run: `cache.WaitForNamedCacheSync(rsc.Kind, …, rsc.podListerSynced,
    // rsc.rsListerSynced)` before the workers start: a sync on an empty pod cache would create
    // every replica again (seen when a new leader took over).
    super::informers::wait_synced(&[&rss, &pods]).await;
    work("replica_set.go", queue, |key| {
        let rsc = rsc.clone();
        async move { rsc.sync(&key).await }
    })
    .await;
}

impl Rsc {
    /// Maps a pod change to the ReplicaSets to sync, observing creations and deletions
    /// (replica_set.go addPod/updatePod/deletePod).
    fn pod_changed(&self, memory: &Mutex<PodMemory>, c: &Change) -> Vec<String> {
        let mut mem = memory.lock().expect("pod memory");
        match c {
            Change::Applied(pod) => {
                let k = util::key(pod);
                let owner = rs_key_of_pod(pod);
                let new = mem.known.insert(k.clone());
                if let Some(rs) = &owner {
                    if new {
                        self.expectations.creation_observed(rs);
                    }
                    if util::is_being_deleted(pod) && mem.deleting.insert(k.clone()) {
                        self.expectations.deletion_observed(rs);
                    }
                }
                match owner {
                    Some(rs) => {
                        // A pod turning ready may make the RS available after minReadySeconds.
                        if let Some(r) = self.rss.get(&rs) {
                            let mrs = util::int(&r["spec"]["minReadySeconds"]);
                            if mrs > 0 && util::is_pod_ready(pod) {
                                self.queue
                                    .add_after(&rs, Duration::from_secs(mrs as u64 + 1));
                            }
                        }
                        vec![rs]
                    }
                    // An orphan: every matching ReplicaSet may adopt it.
                    None if util::controller_of(pod).is_none() => self
                        .rss
                        .list_namespace(util::namespace(pod))
                        .iter()
                        .filter(|rs| {
                            util::selector_matches(
                                &rs["spec"]["selector"],
                                &pod["metadata"]["labels"],
                            )
                        })
                        .map(util::key)
                        .collect(),
                    None => vec![],
                }
            }
            Change::Deleted(pod) => {
                let k = util::key(pod);
                mem.known.remove(&k);
                let was_deleting = mem.deleting.remove(&k);
                match rs_key_of_pod(pod) {
                    Some(rs) => {
                        if !was_deleting {
                            self.expectations.deletion_observed(&rs);
                        }
                        vec![rs]
                    }
                    None => vec![],
                }
            }
            Change::Restarted => vec![],
        }
    }

    /// The pods `rs` owns after adoption and release (`claimPods` with the ControllerRefManager).
    async fn claim_pods(&self, rs: &Value) -> Result<Vec<Value>, SyncError> {
        let ns = util::namespace(rs);
        let rs_uid = util::uid(rs);
        let selector = &rs["spec"]["selector"];
        let mut owned = vec![];
        for pod in self.pods.list_namespace(ns) {
            let matches = util::selector_matches(selector, &pod["metadata"]["labels"]);
            match util::controller_of(&pod) {
                Some(r) if r["uid"] == rs_uid => {
                    if matches {
                        owned.push(pod);
                    } else if !util::is_being_deleted(&pod) {
                        self.release(&pod, rs_uid).await?;
                    }
                }
                Some(_) => {}
                None => {
                    if matches
                        && !util::is_being_deleted(rs)
                        && !util::is_being_deleted(&pod)
                        && let Some(adopted) = self.adopt(&pod, rs).await?
                    {
                        owned.push(adopted);
                    }
                }
            }
        }
        Ok(owned)
    }

    async fn adopt(&self, pod: &Value, rs: &Value) -> Result<Option<Value>, SyncError> {
        let mut refs = util::array(&pod["metadata"]["ownerReferences"]);
        refs.push(util::controller_ref(rs, "apps/v1", "ReplicaSet"));
        let patch = json!({"metadata": {"ownerReferences": refs, "uid": util::uid(pod)}});
        match self
            .ctx
            .client
            .patch(
                &path(
                    "",
                    "v1",
                    "pods",
                    Some(util::namespace(pod)),
                    Some(util::name(pod)),
                ),
                PatchType::Merge,
                &patch,
            )
            .await
        {
            Ok(p) => Ok(Some(p)),
            Err(e) if e.is_not_found() || e.is_conflict() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn release(&self, pod: &Value, owner_uid: &str) -> Result<(), SyncError> {
        let refs: Vec<Value> = util::array(&pod["metadata"]["ownerReferences"])
            .into_iter()
            .filter(|r| r["uid"] != owner_uid)
            .collect();
        let patch = json!({"metadata": {"ownerReferences": refs, "uid": util::uid(pod)}});
        match self
            .ctx
            .client
            .patch(
                &path(
                    "",
                    "v1",
                    "pods",
                    Some(util::namespace(pod)),
                    Some(util::name(pod)),
                ),
                PatchType::Merge,
                &patch,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Pods of every ReplicaSet that shares `rs`'s controller (`getIndirectlyRelatedPods`).
    fn related_pods(&self, rs: &Value) -> Vec<Value> {
        let ns = util::namespace(rs);
        let siblings: HashSet<String> = match util::controller_of(rs) {
            Some(c) => self
                .rss
                .list_namespace(ns)
                .iter()
                .filter(|r| util::controlled_by(r, c["uid"].as_str().unwrap_or_default()))
                .map(|r| util::uid(r).to_string())
                .collect(),
            None => [util::uid(rs).to_string()].into_iter().collect(),
        };
        self.pods
            .list_namespace(ns)
            .into_iter()
            .filter(|p| {
                util::controller_of(p)
                    .is_some_and(|r| siblings.contains(r["uid"].as_str().unwrap_or_default()))
            })
            .collect()
    }

    async fn manage_replicas(
        &self,
        key: &str,
        rs: &Value,
        filtered: &[Value],
    ) -> Result<(), SyncError> {
        let ns = util::namespace(rs);
        let want = util::int(&rs["spec"]["replicas"]).max(0) as usize;
        if filtered.len() < want {
            let diff = (want - filtered.len()).min(BURST_REPLICAS);
            self.expectations.expect(key, diff as i64, 0);
            let cref = util::controller_ref(rs, "apps/v1", "ReplicaSet");
            let pod = pod_from_template(&rs["spec"]["template"], util::name(rs), &cref);
            let (ok, err) = slow_start_batch(diff, SLOW_START_INITIAL, |_| {
                create_pod(&self.ctx, &self.recorder, ns, &pod, rs)
            })
            .await;
            // Creations that failed or were skipped will never be observed.
            for _ in ok..diff {
                self.expectations.creation_observed(key);
            }
            if let Some(e) = err {
                return Err(e.into());
            }
        } else if filtered.len() > want {
            let diff = (filtered.len() - want).min(BURST_REPLICAS);
            let related = self.related_pods(rs);
            let victims = pods_to_delete(filtered, &related, diff);
            self.expectations.expect(key, 0, victims.len() as i64);
            let results = futures::future::join_all(
                victims
                    .iter()
                    .map(|p| delete_pod(&self.ctx, &self.recorder, ns, util::name(p), rs)),
            )
            .await;
            let mut first = None;
            for r in results {
                if let Err(e) = r {
                    self.expectations.deletion_observed(key);
                    first.get_or_insert(e);
                }
            }
            if let Some(e) = first {
                return Err(e.into());
            }
        }
        Ok(())
    }

    async fn sync(&self, key: &str) -> Result<Option<Duration>, SyncError> {
        let Some(rs) = self.rss.get(key) else {
            self.expectations.delete(key);
            return Ok(None);
        };
        let needs_sync = self.expectations.satisfied(key);
        let claimed = self.claim_pods(&rs).await?;
        let filtered: Vec<Value> = claimed.into_iter().filter(util::is_pod_active).collect();
        let mut manage_err = None;
        if needs_sync
            && !util::is_being_deleted(&rs)
            && let Err(e) = self.manage_replicas(key, &rs, &filtered).await
        {
            manage_err = Some(e);
        }
        let new_status = calculate_status(
            &rs,
            &filtered,
            manage_err.as_ref().map(|e| e.to_string()).as_deref(),
        );
        let updated = self.update_status(&rs, new_status).await?;
        if let Some(e) = manage_err {
            return Err(e);
        }
        let want = util::int(&updated["spec"]["replicas"]);
        let mrs = util::int(&updated["spec"]["minReadySeconds"]);
        if mrs > 0
            && util::int(&updated["status"]["readyReplicas"]) == want
            && util::int(&updated["status"]["availableReplicas"]) != want
        {
            return Ok(Some(Duration::from_secs(mrs as u64)));
        }
        Ok(None)
    }

    /// `updateReplicaSetStatus`: writes the status with `observedGeneration` unless nothing
    /// changed.
    async fn update_status(&self, rs: &Value, new_status: Value) -> Result<Value, SyncError> {
        let generation = util::int(&rs["metadata"]["generation"]);
        let old = &rs["status"];
        let same = [
            "replicas",
            "fullyLabeledReplicas",
            "readyReplicas",
            "availableReplicas",
        ]
        .iter()
        .all(|k| util::int(&old[*k]) == util::int(&new_status[*k]))
            && util::int(&old["observedGeneration"]) == generation
            && old["conditions"] == new_status["conditions"];
        if same {
            return Ok(rs.clone());
        }
        let mut status = new_status;
        util::set_omitempty(
            status.as_object_mut().expect("status object"),
            "observedGeneration",
            generation,
        );
        let mut updated = rs.clone();
        updated["status"] = status;
        let p = path(
            "apps",
            "v1",
            "replicasets",
            Some(util::namespace(rs)),
            Some(util::name(rs)),
        );
        match self
            .ctx
            .client
            .update(&format!("{p}/status"), &updated)
            .await
        {
            Ok(u) => Ok(u),
            Err(e) if e.is_not_found() => Ok(updated),
            Err(e) => {
                if !e.is_conflict() {
                    klog(
                        'E',
                        "replica_set_utils.go",
                        &format!(
                            "\"Failed to update status\" replicaSet=\"{}\" err=\"{e}\"",
                            util::key(rs)
                        ),
                    );
                }
                Err(e.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, node: &str, phase: &str, ready: bool, created: &str) -> Value {
        json!({"metadata": {"name": name, "uid": name, "creationTimestamp": created},
               "spec": {"nodeName": node},
               "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}, "lastTransitionTime": created}]}})
    }

    #[test]
    fn deletion_ranking_as_upstream() {
        let t = "2026-01-01T00:00:00Z";
        let unassigned = pod("a", "", "Pending", false, t);
        let pending = pod("b", "m02", "Pending", false, t);
        let not_ready = pod("c", "m02", "Running", false, t);
        let ready = pod("d", "m03", "Running", true, t);
        let filtered = vec![
            ready.clone(),
            not_ready.clone(),
            pending.clone(),
            unassigned.clone(),
        ];
        let order: Vec<String> = pods_to_delete(&filtered, &filtered, 3)
            .iter()
            .map(|p| util::name(p).to_string())
            .collect();
        assert_eq!(order, ["a", "b", "c"]);
    }

    #[test]
    fn doubled_up_pods_go_first() {
        let t = "2026-01-01T00:00:00Z";
        let m02a = pod("m02a", "m02", "Running", true, t);
        let m02b = pod("m02b", "m02", "Running", true, t);
        let m03 = pod("m03", "m03", "Running", true, t);
        let filtered = vec![m03.clone(), m02a.clone(), m02b.clone()];
        let victim = pods_to_delete(&filtered, &filtered, 1);
        assert_eq!(util::spec_node(&victim[0]), "m02");
    }

    #[test]
    fn status_counts_active_pods() {
        let rs = json!({"metadata": {"generation": 2}, "spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "hello"}}}},
                        "status": {"replicas": 0}});
        let t = "2026-01-01T00:00:00Z";
        let mut p1 = pod("p1", "m02", "Running", true, t);
        p1["metadata"]["labels"] = json!({"app": "hello", "pod-template-hash": "x"});
        let p2 = pod("p2", "m03", "Pending", false, t);
        let s = calculate_status(&rs, &[p1, p2], None);
        assert_eq!(s["replicas"], 2);
        assert_eq!(s["fullyLabeledReplicas"], 1);
        assert_eq!(s["readyReplicas"], 1);
        assert_eq!(s["availableReplicas"], 1);
        let empty = calculate_status(&rs, &[], None);
        assert_eq!(empty, json!({"replicas": 0}));
    }

    #[tokio::test]
    async fn slow_start_stops_after_a_failing_batch() {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let (ok, err) = slow_start_batch(10, 1, |i| {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                if i == 4 {
                    Err(ClientError::Config("boom".into()))
                } else {
                    Ok(())
                }
            }
        })
        .await;
        // Batches 1, 2, 4: the third batch (indices 3..7) contains the failure.
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 7);
        assert_eq!(ok, 6);
        assert!(err.is_some());
    }
}
