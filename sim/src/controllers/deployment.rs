//! The Deployment controller (pkg/controller/deployment: deployment_controller.go, sync.go,
//! rolling.go, recreate.go, progress.go, util/deployment_util.go).
//!
//! - A Deployment owns ReplicaSets named `<deployment>-<pod-template-hash>` ([`super::hash`]), whose
//!   template, labels and selector carry `pod-template-hash`; the one whose template equals the
//!   Deployment's (ignoring that label) is the *new* ReplicaSet, the others are old.
//! - Annotations: `deployment.kubernetes.io/revision` (max old revision + 1), `revision-history`,
//!   `desired-replicas` and `max-replicas` on ReplicaSets; the Deployment's own annotations are
//!   copied to its new ReplicaSet.
//! - Scaling events (a ReplicaSet's `desired-replicas` differs from `spec.replicas`) scale the
//!   active ReplicaSet, or all of them proportionally during a rollout.
//! - RollingUpdate honours maxSurge/maxUnavailable; Recreate scales old ReplicaSets to zero and
//!   waits for their pods before creating the new one.
//! - Status: replicas, updatedReplicas, readyReplicas, availableReplicas, unavailableReplicas,
//!   observedGeneration, collisionCount, and the Available/Progressing conditions with the real
//!   reasons and messages; `ScalingReplicaSet` events worded as the configured version words them.
//! - Old ReplicaSets beyond `revisionHistoryLimit` are deleted once scaled to zero.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::informers::Informer;
use super::queue::WorkQueue;
use super::{Ctx, SyncError, feed, util, work};
use crate::client::events::Recorder;
use crate::client::{Change, PatchType, path};

/// `pod-template-hash`.
pub const HASH_LABEL: &str = "pod-template-hash";
/// `deployment.kubernetes.io/revision`.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// `deployment.kubernetes.io/revision-history`.
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// `deployment.kubernetes.io/desired-replicas`.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// `deployment.kubernetes.io/max-replicas`.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// Annotations not copied from a Deployment to its ReplicaSets (`annotationsToSkip`).
const SKIPPED_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];
/// `maxRevHistoryLengthInChars`.
const MAX_REV_HISTORY_CHARS: usize = 2000;

// Condition reasons (util/deployment_util.go).
const NEW_RS_REASON: &str = "NewReplicaSetCreated";
const FOUND_NEW_RS_REASON: &str = "FoundNewReplicaSet";
const NEW_RS_AVAILABLE_REASON: &str = "NewReplicaSetAvailable";
const TIMED_OUT_REASON: &str = "ProgressDeadlineExceeded";
const PAUSED_REASON: &str = "DeploymentPaused";
const RESUMED_REASON: &str = "DeploymentResumed";
const RS_UPDATED_REASON: &str = "ReplicaSetUpdated";
const FAILED_RS_CREATE_REASON: &str = "ReplicaSetCreateError";

fn replicas(obj: &Value) -> i64 {
    util::int(&obj["spec"]["replicas"])
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj["metadata"]["annotations"][key].as_str()
}

fn annotation_int(obj: &Value, key: &str) -> Option<i64> {
    annotation(obj, key).and_then(|v| v.parse().ok())
}

fn revision(rs: &Value) -> i64 {
    annotation_int(rs, REVISION).unwrap_or(0)
}

fn is_rolling(d: &Value) -> bool {
    d["spec"]["strategy"]["type"] == "RollingUpdate"
}

/// `ResolveFenceposts`: maxSurge rounded up, maxUnavailable rounded down, and maxUnavailable 1
/// when both are zero.
pub fn fenceposts(d: &Value) -> (i64, i64) {
    let want = replicas(d);
    let ru = &d["spec"]["strategy"]["rollingUpdate"];
    let surge = if ru["maxSurge"].is_null() {
        0
    } else {
        util::scaled_value(&ru["maxSurge"], want, true)
    };
    let mut unavailable = if ru["maxUnavailable"].is_null() {
        0
    } else {
        util::scaled_value(&ru["maxUnavailable"], want, false)
    };
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable)
}

/// `MaxSurge`.
pub fn max_surge(d: &Value) -> i64 {
    if !is_rolling(d) {
        return 0;
    }
    fenceposts(d).0
}

/// `MaxUnavailable`.
pub fn max_unavailable(d: &Value) -> i64 {
    if !is_rolling(d) || replicas(d) == 0 {
        return 0;
    }
    fenceposts(d).1.min(replicas(d))
}

/// Equality that treats `null`, missing, and empty objects/arrays alike (apiequality.Semantic on
/// defaulted templates).
fn semantic_eq(a: &Value, b: &Value) -> bool {
    fn empty(v: &Value) -> bool {
        match v {
            Value::Null => true,
            Value::Object(m) => m.values().all(empty),
            Value::Array(a) => a.is_empty(),
            _ => false,
        }
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().all(|k| match (x.get(k), y.get(k)) {
                (Some(p), Some(q)) => semantic_eq(p, q),
                (Some(p), None) | (None, Some(p)) => empty(p),
                (None, None) => true,
            })
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| semantic_eq(p, q))
        }
        (p, q) if empty(p) && empty(q) => true,
        (p, q) => p == q,
    }
}

/// `EqualIgnoreHash`: templates equal once `pod-template-hash` is removed from both.
pub fn equal_ignore_hash(a: &Value, b: &Value) -> bool {
    let strip = |t: &Value| {
        let mut t = t.clone();
        if let Some(l) = t["metadata"]["labels"].as_object_mut() {
            l.remove(HASH_LABEL);
        }
        t
    };
    semantic_eq(&strip(a), &strip(b))
}

/// `SetReplicasAnnotations`: `desired-replicas` and `max-replicas`; true when changed.
pub fn set_replicas_annotations(rs: &mut Value, desired: i64, max: i64) -> bool {
    let mut changed = false;
    for (k, v) in [(DESIRED_REPLICAS, desired), (MAX_REPLICAS, max)] {
        if annotation(rs, k) != Some(v.to_string().as_str()) {
            rs["metadata"]["annotations"][k] = json!(v.to_string());
            changed = true;
        }
    }
    changed
}

/// `SetNewReplicaSetAnnotations`: copies the Deployment's annotations, raises the revision (keeping
/// the old one in `revision-history` on a rollback), and on creation sets the replica annotations.
pub fn set_new_rs_annotations(d: &Value, rs: &mut Value, new_revision: i64, exists: bool) -> bool {
    let mut changed = false;
    if let Some(anns) = d["metadata"]["annotations"].as_object() {
        for (k, v) in anns {
            if SKIPPED_ANNOTATIONS.contains(&k.as_str()) || rs["metadata"]["annotations"][k] == *v {
                continue;
            }
            rs["metadata"]["annotations"][k] = v.clone();
            changed = true;
        }
    }
    let old = annotation(rs, REVISION).map(str::to_string);
    let old_int = match &old {
        None => 0,
        Some(o) => match o.parse::<i64>() {
            Ok(n) => n,
            Err(_) => return false,
        },
    };
    if old_int < new_revision {
        rs["metadata"]["annotations"][REVISION] = json!(new_revision.to_string());
        changed = true;
        if let Some(o) = old {
            let history = annotation(rs, REVISION_HISTORY)
                .unwrap_or_default()
                .to_string();
            let mut revs: Vec<String> = if history.is_empty() {
                vec![]
            } else {
                history.split(',').map(str::to_string).collect()
            };
            let mut total = history.len() + o.len() + 1;
            let mut start = 0;
            while total > MAX_REV_HISTORY_CHARS && start < revs.len() {
                total -= revs[start].len() + 1;
                start += 1;
            }
            if total <= MAX_REV_HISTORY_CHARS {
                revs = revs.split_off(start);
                revs.push(o);
                rs["metadata"]["annotations"][REVISION_HISTORY] = json!(revs.join(","));
            }
        }
    }
    if !exists && set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)) {
        changed = true;
    }
    changed
}

/// A deployment condition (`NewDeploymentCondition`).
fn condition(typ: &str, status: &str, reason: &str, message: &str) -> Value {
    let now = util::now_time();
    json!({"type": typ, "status": status, "lastUpdateTime": now, "lastTransitionTime": now,
           "reason": reason, "message": message})
}

fn get_condition<'a>(status: &'a Value, typ: &str) -> Option<&'a Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == typ)
}

/// `SetDeploymentCondition`: replaces the condition of that type unless status and reason are the
/// same; keeps lastTransitionTime when the status does not change.
pub fn set_condition(status: &mut Value, mut cond: Value) {
    if let Some(cur) = get_condition(status, cond["type"].as_str().unwrap_or_default()) {
        if cur["status"] == cond["status"] && cur["reason"] == cond["reason"] {
            return;
        }
        if cur["status"] == cond["status"] {
            cond["lastTransitionTime"] = cur["lastTransitionTime"].clone();
        }
    }
    remove_condition(status, cond["type"].as_str().unwrap_or_default());
    let mut conds = util::array(&status["conditions"]);
    conds.push(cond);
    status["conditions"] = json!(conds);
}

fn remove_condition(status: &mut Value, typ: &str) {
    let conds: Vec<Value> = util::array(&status["conditions"])
        .into_iter()
        .filter(|c| c["type"] != typ)
        .collect();
    if let Some(m) = status.as_object_mut() {
        if conds.is_empty() {
            m.remove("conditions");
        } else {
            m.insert("conditions".into(), json!(conds));
        }
    }
}

fn has_progress_deadline(d: &Value) -> bool {
    d["spec"]["progressDeadlineSeconds"]
        .as_i64()
        .is_some_and(|s| s != i64::from(i32::MAX))
}

fn sum<F: Fn(&Value) -> i64>(rss: &[Value], f: F) -> i64 {
    rss.iter().map(f).sum()
}

/// `calculateStatus` (sync.go): counts over all ReplicaSets plus the Available condition.
pub fn calculate_status(all: &[Value], new_rs: Option<&Value>, d: &Value) -> Value {
    let available = sum(all, |r| util::int(&r["status"]["availableReplicas"]));
    let total = sum(all, replicas);
    let unavailable = (total - available).max(0);
    let mut m = Map::new();
    util::set_omitempty(
        &mut m,
        "observedGeneration",
        util::int(&d["metadata"]["generation"]),
    );
    util::set_omitempty(
        &mut m,
        "replicas",
        sum(all, |r| util::int(&r["status"]["replicas"])),
    );
    util::set_omitempty(
        &mut m,
        "updatedReplicas",
        new_rs.map_or(0, |r| util::int(&r["status"]["replicas"])),
    );
    util::set_omitempty(
        &mut m,
        "readyReplicas",
        sum(all, |r| util::int(&r["status"]["readyReplicas"])),
    );
    util::set_omitempty(&mut m, "availableReplicas", available);
    util::set_omitempty(&mut m, "unavailableReplicas", unavailable);
    if !d["status"]["collisionCount"].is_null() {
        m.insert(
            "collisionCount".into(),
            d["status"]["collisionCount"].clone(),
        );
    }
    if let Some(c) = d["status"]["conditions"]
        .as_array()
        .filter(|c| !c.is_empty())
    {
        m.insert("conditions".into(), json!(c));
    }
    let mut status = Value::Object(m);
    if available >= replicas(d) - max_unavailable(d) {
        set_condition(
            &mut status,
            condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            ),
        );
    } else {
        set_condition(
            &mut status,
            condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            ),
        );
    }
    status
}

/// `DeploymentComplete`.
pub fn deployment_complete(d: &Value, status: &Value) -> bool {
    let want = replicas(d);
    util::int(&status["updatedReplicas"]) == want
        && util::int(&status["replicas"]) == want
        && util::int(&status["availableReplicas"]) == want
        && util::int(&status["observedGeneration"]) >= util::int(&d["metadata"]["generation"])
}

/// `DeploymentProgressing`: more updated, fewer old, more ready or more available replicas.
pub fn deployment_progressing(d: &Value, new: &Value) -> bool {
    let old = &d["status"];
    let i = |s: &Value, k: &str| util::int(&s[k]);
    let old_old = i(old, "replicas") - i(old, "updatedReplicas");
    let new_old = i(new, "replicas") - i(new, "updatedReplicas");
    i(new, "updatedReplicas") > i(old, "updatedReplicas")
        || new_old < old_old
        || i(new, "readyReplicas") > i(old, "readyReplicas")
        || i(new, "availableReplicas") > i(old, "availableReplicas")
}

/// `DeploymentTimedOut`: the Progressing condition was last updated more than
/// `progressDeadlineSeconds` ago (never once the new ReplicaSet is available).
pub fn deployment_timed_out(d: &Value, new: &Value) -> bool {
    if !has_progress_deadline(d) {
        return false;
    }
    let Some(cond) = get_condition(new, "Progressing") else {
        return false;
    };
    if cond["reason"] == NEW_RS_AVAILABLE_REASON {
        return false;
    }
    if cond["reason"] == TIMED_OUT_REASON {
        return true;
    }
    let deadline = util::int(&d["spec"]["progressDeadlineSeconds"]);
    util::parse_time(&cond["lastUpdateTime"])
        .is_some_and(|from| util::seconds_since(from) > deadline as f64)
}

/// `GetProportion` with `getReplicaSetFraction`: how many replicas this ReplicaSet gains or loses
/// in a proportional scaling.
pub fn proportion(rs: &Value, d: &Value, to_add: i64, added: i64) -> i64 {
    if replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = if replicas(d) == 0 {
        -replicas(rs)
    } else {
        let max = replicas(d) + max_surge(d);
        let before = match annotation_int(rs, MAX_REPLICAS) {
            Some(n) if n != 0 => n,
            _ => util::int(&d["status"]["replicas"]),
        };
        if before == 0 {
            0
        } else {
            let size = (replicas(rs) * max) as f64 / before as f64;
            // integer.RoundToInt32: round half away from zero.
            size.round() as i64 - replicas(rs)
        }
    };
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

struct Dc {
    ctx: Ctx,
    deployments: Informer,
    rss: Informer,
    pods: Informer,
    recorder: Arc<Recorder>,
}

/// Runs the controller.
pub async fn run(ctx: Ctx) {
    let deployments = ctx.informers.get("deployments");
    let rss = ctx.informers.get("replicasets");
    let pods = ctx.informers.get("pods");
    let q = WorkQueue::new();
    let all = deployments.clone();
    feed(&deployments, q.clone(), super::own_key, move || {
        super::all_keys(&all)
    });
    let ds = deployments.clone();
    feed(
        &rss,
        q.clone(),
        move |c| match super::informers::changed_object(c) {
            Some(rs) => owner_keys(&ds, rs),
            None => vec![],
        },
        Vec::new,
    );
    // A pod's deletion lets a Recreate rollout continue (deletePod).
    let (ds2, rss2) = (deployments.clone(), rss.clone());
    feed(
        &pods,
        q.clone(),
        move |c| match c {
            Change::Deleted(p) => util::controller_of(p)
                .filter(|r| r["kind"] == "ReplicaSet")
                .and_then(|r| {
                    rss2.get(&format!(
                        "{}/{}",
                        util::namespace(p),
                        r["name"].as_str().unwrap_or_default()
                    ))
                })
                .map(|rs| owner_keys(&ds2, &rs))
                .unwrap_or_default(),
            _ => vec![],
        },
        Vec::new,
    );
    let dc = Arc::new(Dc {
        recorder: ctx.recorder("deployment-controller"),
        ctx,
        deployments,
        rss,
        pods,
    });
    // deployment_controller.go Run: `cache.WaitForNamedCacheSync("deployment", …,
    // dc.dListerSynced, dc.rsListerSynced, dc.podListerSynced)`.
    super::informers::wait_synced(&[&dc.deployments, &dc.rss, &dc.pods]).await;
    work("deployment_controller.go", q, |key| {
        let dc = dc.clone();
        async move { dc.sync(&key).await }
    })
    .await;
}

/// The Deployments a ReplicaSet change concerns: its controller, or every Deployment whose
/// selector matches an orphan.
fn owner_keys(deployments: &Informer, rs: &Value) -> Vec<String> {
    let ns = util::namespace(rs);
    match util::controller_of(rs) {
        Some(r) if r["kind"] == "Deployment" => {
            vec![format!("{ns}/{}", r["name"].as_str().unwrap_or_default())]
        }
        Some(_) => vec![],
        None => deployments
            .list_namespace(ns)
            .iter()
            .filter(|d| util::selector_matches(&d["spec"]["selector"], &rs["metadata"]["labels"]))
            .map(util::key)
            .collect(),
    }
}

impl Dc {
    fn minor(&self) -> crate::version::Minor {
        self.ctx.minor()
    }

    fn rs_path(rs: &Value) -> String {
        path(
            "apps",
            "v1",
            "replicasets",
            Some(util::namespace(rs)),
            Some(util::name(rs)),
        )
    }

    fn d_path(d: &Value) -> String {
        path(
            "apps",
            "v1",
            "deployments",
            Some(util::namespace(d)),
            Some(util::name(d)),
        )
    }

    async fn update_status(&self, d: &mut Value) -> Result<(), SyncError> {
        let updated = self
            .ctx
            .client
            .update(&format!("{}/status", Self::d_path(d)), d)
            .await?;
        *d = util::typed(updated, "apps/v1", "Deployment");
        Ok(())
    }

    /// `getReplicaSetsForDeployment`: owned ReplicaSets after adoption/release.
    async fn claim_replicasets(&self, d: &Value) -> Result<Vec<Value>, SyncError> {
        let d_uid = util::uid(d);
        let mut owned = vec![];
        for rs in self.rss.list_namespace(util::namespace(d)) {
            let matches = util::selector_matches(&d["spec"]["selector"], &rs["metadata"]["labels"]);
            match util::controller_of(&rs) {
                Some(r) if r["uid"] == d_uid => {
                    if matches {
                        owned.push(rs);
                    } else {
                        let refs: Vec<Value> = util::array(&rs["metadata"]["ownerReferences"])
                            .into_iter()
                            .filter(|r| r["uid"] != d_uid)
                            .collect();
                        let patch =
                            json!({"metadata": {"ownerReferences": refs, "uid": util::uid(&rs)}});
                        match self
                            .ctx
                            .client
                            .patch(&Self::rs_path(&rs), PatchType::Merge, &patch)
                            .await
                        {
                            Ok(_) => {}
                            Err(e) if e.is_not_found() => {}
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
                Some(_) => {}
                None if matches && !util::is_being_deleted(d) && !util::is_being_deleted(&rs) => {
                    let mut refs = util::array(&rs["metadata"]["ownerReferences"]);
                    refs.push(util::controller_ref(d, "apps/v1", "Deployment"));
                    let patch =
                        json!({"metadata": {"ownerReferences": refs, "uid": util::uid(&rs)}});
                    match self
                        .ctx
                        .client
                        .patch(&Self::rs_path(&rs), PatchType::Merge, &patch)
                        .await
                    {
                        Ok(p) => owned.push(util::typed(p, "apps/v1", "ReplicaSet")),
                        Err(e) if e.is_not_found() || e.is_conflict() => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                None => {}
            }
        }
        Ok(owned)
    }

    async fn sync(&self, key: &str) -> Result<Option<Duration>, SyncError> {
        let Some(mut d) = self.deployments.get(key) else {
            return Ok(None);
        };
        if util::selector_is_empty(&d["spec"]["selector"]) {
            let _ = self
                .recorder
                .warning(
                    &d,
                    "SelectingAll",
                    "This deployment is selecting all pods. A non-empty selector is required.",
                )
                .await;
            let generation = util::int(&d["metadata"]["generation"]);
            if util::int(&d["status"]["observedGeneration"]) < generation {
                d["status"]["observedGeneration"] = json!(generation);
                self.update_status(&mut d).await?;
            }
            return Ok(None);
        }
        let rs_list = self.claim_replicasets(&d).await?;
        if util::is_being_deleted(&d) {
            let (new_rs, old) = self.all_replicasets(&mut d, &rs_list, false).await?;
            let all = with_new(&old, &new_rs);
            self.sync_deployment_status(&mut d, &all, new_rs.as_ref())
                .await?;
            return Ok(None);
        }
        self.check_paused_conditions(&mut d).await?;
        if d["spec"]["paused"] == true || self.is_scaling_event(&mut d, &rs_list).await? {
            self.scale_sync(&mut d, &rs_list).await?;
            return Ok(None);
        }
        match d["spec"]["strategy"]["type"].as_str() {
            Some("Recreate") => self.rollout_recreate(&mut d, &rs_list).await,
            _ => self.rollout_rolling(&mut d, &rs_list).await,
        }
    }

    async fn check_paused_conditions(&self, d: &mut Value) -> Result<(), SyncError> {
        if !has_progress_deadline(d) {
            return Ok(());
        }
        let cond = get_condition(&d["status"], "Progressing").cloned();
        if cond
            .as_ref()
            .is_some_and(|c| c["reason"] == TIMED_OUT_REASON)
        {
            return Ok(());
        }
        let paused_cond = cond.is_some_and(|c| c["reason"] == PAUSED_REASON);
        let paused = d["spec"]["paused"] == true;
        let new = if paused && !paused_cond {
            condition(
                "Progressing",
                "Unknown",
                PAUSED_REASON,
                "Deployment is paused",
            )
        } else if !paused && paused_cond {
            condition(
                "Progressing",
                "Unknown",
                RESUMED_REASON,
                "Deployment is resumed",
            )
        } else {
            return Ok(());
        };
        set_condition(&mut d["status"], new);
        self.update_status(d).await
    }

    /// `getAllReplicaSetsAndSyncRevision` (with `getNewReplicaSet`).
    async fn all_replicasets(
        &self,
        d: &mut Value,
        rs_list: &[Value],
        create: bool,
    ) -> Result<(Option<Value>, Vec<Value>), SyncError> {
        let mut sorted = rs_list.to_vec();
        sorted.sort_by(|a, b| {
            util::created(a)
                .cmp(&util::created(b))
                .then(util::name(a).cmp(util::name(b)))
        });
        let existing = sorted
            .iter()
            .find(|rs| equal_ignore_hash(&rs["spec"]["template"], &d["spec"]["template"]))
            .cloned();
        let old: Vec<Value> = sorted
            .iter()
            .filter(|rs| {
                existing
                    .as_ref()
                    .is_none_or(|n| util::uid(n) != util::uid(rs))
            })
            .cloned()
            .collect();
        let new_revision = old.iter().map(revision).max().unwrap_or(0) + 1;
        if let Some(mut rs) = existing {
            let annotations_changed = set_new_rs_annotations(d, &mut rs, new_revision, true);
            let mrs_changed = util::int(&rs["spec"]["minReadySeconds"])
                != util::int(&d["spec"]["minReadySeconds"]);
            if annotations_changed || mrs_changed {
                rs["spec"]["minReadySeconds"] = d["spec"]["minReadySeconds"].clone();
                if rs["spec"]["minReadySeconds"].is_null()
                    && let Some(s) = rs["spec"].as_object_mut()
                {
                    s.remove("minReadySeconds");
                }
                let updated = self.ctx.client.update(&Self::rs_path(&rs), &rs).await?;
                return Ok((Some(util::typed(updated, "apps/v1", "ReplicaSet")), old));
            }
            let rev = annotation(&rs, REVISION).unwrap_or_default().to_string();
            let mut needs_update = set_deployment_revision(d, &rev);
            if has_progress_deadline(d) && get_condition(&d["status"], "Progressing").is_none() {
                let msg = format!("Found new replica set {:?}", util::name(&rs));
                set_condition(
                    &mut d["status"],
                    condition("Progressing", "True", FOUND_NEW_RS_REASON, &msg),
                );
                needs_update = true;
            }
            if needs_update {
                self.update_status(d).await?;
            }
            return Ok((Some(rs), old));
        }
        if !create {
            return Ok((None, old));
        }
        let collision = d["status"]["collisionCount"].as_u64().map(|c| c as u32);
        let hash = super::hash::compute_hash(&d["spec"]["template"], collision);
        let mut template = d["spec"]["template"].clone();
        template["metadata"]["labels"][HASH_LABEL] = json!(hash);
        let mut selector = d["spec"]["selector"].clone();
        selector["matchLabels"][HASH_LABEL] = json!(hash);
        let name = format!("{}-{hash}", util::name(d));
        let mut new_rs = json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": util::namespace(d),
                         "ownerReferences": [util::controller_ref(d, "apps/v1", "Deployment")],
                         "labels": template["metadata"]["labels"]},
            "spec": {"replicas": 0, "selector": selector, "template": template},
        });
        if let Some(m) = d["spec"]["minReadySeconds"].as_i64() {
            new_rs["spec"]["minReadySeconds"] = json!(m);
        }
        let all = with_new(&old, &Some(new_rs.clone()));
        let count = new_rs_new_replicas(d, &all, &new_rs);
        new_rs["spec"]["replicas"] = json!(count);
        set_new_rs_annotations(d, &mut new_rs, new_revision, false);
        let ns = util::namespace(d).to_string();
        let (created, already) = match self
            .ctx
            .client
            .create(&path("apps", "v1", "replicasets", Some(&ns), None), &new_rs)
            .await
        {
            Ok(c) => (util::typed(c, "apps/v1", "ReplicaSet"), false),
            Err(e) if e.is_already_exists() => {
                let existing = self
                    .ctx
                    .client
                    .get(&path("apps", "v1", "replicasets", Some(&ns), Some(&name)))
                    .await?;
                let existing = util::typed(existing, "apps/v1", "ReplicaSet");
                if util::controlled_by(&existing, util::uid(d))
                    && equal_ignore_hash(&d["spec"]["template"], &existing["spec"]["template"])
                {
                    (existing, true)
                } else {
                    // A hash collision: bump collisionCount and retry in the next sync.
                    let c = util::int(&d["status"]["collisionCount"]) + 1;
                    d["status"]["collisionCount"] = json!(c);
                    self.update_status(d).await?;
                    return Err(e.into());
                }
            }
            Err(e) if e.code() == Some(403) => return Err(e.into()),
            Err(e) => {
                let msg = format!("Failed to create new replica set {name:?}: {e}");
                if has_progress_deadline(d) {
                    set_condition(
                        &mut d["status"],
                        condition("Progressing", "False", FAILED_RS_CREATE_REASON, &msg),
                    );
                    let _ = self.update_status(d).await;
                }
                let _ = self
                    .recorder
                    .warning(d, FAILED_RS_CREATE_REASON, &msg)
                    .await;
                return Err(e.into());
            }
        };
        if !already && count > 0 {
            let _ = self
                .recorder
                .normal(
                    d,
                    "ScalingReplicaSet",
                    &self.minor().new_replica_set_message(&name, count),
                )
                .await;
        }
        let mut needs_update = set_deployment_revision(d, &new_revision.to_string());
        if !already && has_progress_deadline(d) {
            let msg = format!("Created new replica set {name:?}");
            set_condition(
                &mut d["status"],
                condition("Progressing", "True", NEW_RS_REASON, &msg),
            );
            needs_update = true;
        }
        if needs_update {
            self.update_status(d).await?;
        }
        Ok((Some(created), old))
    }

    /// `isScalingEvent`: an active ReplicaSet's desired-replicas annotation differs from
    /// `spec.replicas`.
    async fn is_scaling_event(&self, d: &mut Value, rs_list: &[Value]) -> Result<bool, SyncError> {
        let (new_rs, old) = self.all_replicasets(d, rs_list, false).await?;
        let want = replicas(d);
        Ok(with_new(&old, &new_rs)
            .iter()
            .filter(|rs| replicas(rs) > 0)
            .any(|rs| annotation_int(rs, DESIRED_REPLICAS).is_some_and(|n| n != want)))
    }

    /// `scaleReplicaSetAndRecordEvent`.
    async fn scale_and_record(
        &self,
        rs: &Value,
        to: i64,
        d: &Value,
    ) -> Result<(bool, Value), SyncError> {
        let from = replicas(rs);
        if from == to {
            return Ok((false, rs.clone()));
        }
        self.scale_replicaset(rs, to, d, to > from).await
    }

    /// `scaleReplicaSet`: writes the new size and the replica annotations; records
    /// `ScalingReplicaSet` when the size changed.
    async fn scale_replicaset(
        &self,
        rs: &Value,
        to: i64,
        d: &Value,
        up: bool,
    ) -> Result<(bool, Value), SyncError> {
        let from = replicas(rs);
        let size_changed = from != to;
        let mut copy = rs.clone();
        let annotations_changed =
            set_replicas_annotations(&mut copy, replicas(d), replicas(d) + max_surge(d));
        if !size_changed && !annotations_changed {
            return Ok((false, rs.clone()));
        }
        copy["spec"]["replicas"] = json!(to);
        let updated = util::typed(
            self.ctx.client.update(&Self::rs_path(&copy), &copy).await?,
            "apps/v1",
            "ReplicaSet",
        );
        if size_changed {
            let msg = self
                .minor()
                .scaling_replica_set_message(up, util::name(rs), from, to);
            let _ = self.recorder.normal(d, "ScalingReplicaSet", &msg).await;
        }
        Ok((size_changed, updated))
    }

    /// `sync` (scaling or paused).
    async fn scale_sync(&self, d: &mut Value, rs_list: &[Value]) -> Result<(), SyncError> {
        let (new_rs, old) = self.all_replicasets(d, rs_list, false).await?;
        self.scale(d, new_rs.as_ref(), &old).await?;
        if d["spec"]["paused"] == true {
            self.cleanup(&old, d).await?;
        }
        // Read what the scaling wrote.
        let (new_rs, old) = self.fresh(&new_rs, &old);
        let all = with_new(&old, &new_rs);
        self.sync_deployment_status(d, &all, new_rs.as_ref()).await
    }

    /// Cached ReplicaSets, fresher than the ones in hand when the informer has seen a write.
    fn fresh(&self, new_rs: &Option<Value>, old: &[Value]) -> (Option<Value>, Vec<Value>) {
        let refresh = |rs: &Value| {
            self.rss
                .get(&util::key(rs))
                .filter(|c| {
                    c["metadata"]["resourceVersion"]
                        .as_str()
                        .and_then(|v| v.parse::<u64>().ok())
                        >= rs["metadata"]["resourceVersion"]
                            .as_str()
                            .and_then(|v| v.parse::<u64>().ok())
                })
                .unwrap_or_else(|| rs.clone())
        };
        (
            new_rs.as_ref().map(refresh),
            old.iter().map(refresh).collect(),
        )
    }

    /// `scale`: one active ReplicaSet takes `spec.replicas`; a saturated new one scales old ones
    /// to zero; otherwise all scale proportionally (rolling updates).
    async fn scale(
        &self,
        d: &Value,
        new_rs: Option<&Value>,
        old: &[Value],
    ) -> Result<(), SyncError> {
        let want = replicas(d);
        let all = with_new(old, &new_rs.cloned());
        let active: Vec<&Value> = all.iter().filter(|r| replicas(r) > 0).collect();
        // FindActiveOrLatest.
        let active_or_latest = match active.len() {
            0 => {
                if let Some(n) = new_rs {
                    Some(n.clone())
                } else {
                    let mut o = old.to_vec();
                    o.sort_by_key(util::created);
                    o.last().cloned()
                }
            }
            1 => Some(active[0].clone()),
            _ => None,
        };
        if let Some(rs) = active_or_latest {
            if replicas(&rs) == want {
                return Ok(());
            }
            self.scale_and_record(&rs, want, d).await?;
            return Ok(());
        }
        // IsSaturated: the new RS has all replicas and all are available.
        if let Some(n) = new_rs
            && replicas(n) == want
            && annotation_int(n, DESIRED_REPLICAS) == Some(want)
            && util::int(&n["status"]["availableReplicas"]) == want
        {
            for o in old.iter().filter(|r| replicas(r) > 0) {
                self.scale_and_record(o, 0, d).await?;
            }
            return Ok(());
        }
        if is_rolling(d) {
            let mut active: Vec<Value> = all.iter().filter(|r| replicas(r) > 0).cloned().collect();
            let total: i64 = active.iter().map(replicas).sum();
            let allowed = if want > 0 { want + max_surge(d) } else { 0 };
            let to_add = allowed - total;
            let up = to_add > 0;
            // ReplicaSetsBySizeNewer when scaling up, BySizeOlder when scaling down.
            active.sort_by(|a, b| {
                replicas(b).cmp(&replicas(a)).then_with(|| {
                    if up {
                        util::created(b).cmp(&util::created(a))
                    } else {
                        util::created(a).cmp(&util::created(b))
                    }
                })
            });
            let mut added = 0;
            let mut sizes: HashMap<String, i64> = HashMap::new();
            for rs in &active {
                if to_add != 0 {
                    let p = proportion(rs, d, to_add, added);
                    sizes.insert(util::name(rs).to_string(), replicas(rs) + p);
                    added += p;
                } else {
                    sizes.insert(util::name(rs).to_string(), replicas(rs));
                }
            }
            for (i, rs) in active.iter().enumerate() {
                let n = util::name(rs).to_string();
                if i == 0 && to_add != 0 {
                    let leftover = to_add - added;
                    let v = (sizes[&n] + leftover).max(0);
                    sizes.insert(n.clone(), v);
                }
                self.scale_replicaset(rs, sizes[&n], d, up).await?;
            }
        }
        Ok(())
    }

    async fn sync_deployment_status(
        &self,
        d: &mut Value,
        all: &[Value],
        new_rs: Option<&Value>,
    ) -> Result<(), SyncError> {
        let status = calculate_status(all, new_rs, d);
        if d["status"] == status {
            return Ok(());
        }
        d["status"] = status;
        self.update_status(d).await
    }

    async fn rollout_rolling(
        &self,
        d: &mut Value,
        rs_list: &[Value],
    ) -> Result<Option<Duration>, SyncError> {
        let (new_rs, old) = self.all_replicasets(d, rs_list, true).await?;
        let new_rs = new_rs.ok_or_else(|| SyncError::Invalid("no new replica set".into()))?;
        let all = with_new(&old, &Some(new_rs.clone()));
        // reconcileNewReplicaSet.
        let want = replicas(d);
        let scaled_up = if replicas(&new_rs) == want {
            false
        } else if replicas(&new_rs) > want {
            self.scale_and_record(&new_rs, want, d).await?.0
        } else {
            let n = new_rs_new_replicas(d, &all, &new_rs);
            self.scale_and_record(&new_rs, n, d).await?.0
        };
        if scaled_up {
            let (new_rs, old) = self.fresh(&Some(new_rs), &old);
            return self
                .sync_rollout_status(d, &with_new(&old, &new_rs), new_rs.as_ref())
                .await;
        }
        let scaled_down = self.reconcile_old(d, &all, &old, &new_rs).await?;
        if scaled_down {
            let (new_rs, old) = self.fresh(&Some(new_rs), &old);
            return self
                .sync_rollout_status(d, &with_new(&old, &new_rs), new_rs.as_ref())
                .await;
        }
        if deployment_complete(d, &d["status"]) {
            self.cleanup(&old, d).await?;
        }
        self.sync_rollout_status(d, &all, Some(&new_rs)).await
    }

    /// `reconcileOldReplicaSets`: scale old ReplicaSets down as far as maxUnavailable allows,
    /// unhealthy replicas first.
    async fn reconcile_old(
        &self,
        d: &Value,
        all: &[Value],
        old: &[Value],
        new_rs: &Value,
    ) -> Result<bool, SyncError> {
        let old_active: Vec<Value> = old.iter().filter(|r| replicas(r) > 0).cloned().collect();
        let old_count: i64 = old_active.iter().map(replicas).sum();
        if old_count == 0 {
            return Ok(false);
        }
        let all_count: i64 = all.iter().map(replicas).sum();
        let min_available = replicas(d) - max_unavailable(d);
        let new_unavailable = replicas(new_rs) - util::int(&new_rs["status"]["availableReplicas"]);
        let max_scaled_down = all_count - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return Ok(false);
        }
        // cleanupUnhealthyReplicas.
        let mut olds = old_active;
        olds.sort_by_key(util::created);
        let mut cleaned = 0;
        for rs in olds.iter_mut() {
            if cleaned >= max_scaled_down {
                break;
            }
            let avail = util::int(&rs["status"]["availableReplicas"]);
            if replicas(rs) == 0 || replicas(rs) == avail {
                continue;
            }
            let down = (max_scaled_down - cleaned).min(replicas(rs) - avail);
            let to = replicas(rs) - down;
            let (_, updated) = self.scale_and_record(rs, to, d).await?;
            *rs = updated;
            cleaned += down;
        }
        // scaleDownOldReplicaSetsForRollingUpdate.
        let mut all_now: Vec<Value> = olds.clone();
        all_now.push(new_rs.clone());
        let available: i64 = all_now
            .iter()
            .map(|r| util::int(&r["status"]["availableReplicas"]))
            .sum();
        let mut scaled = 0;
        if available > min_available {
            let total_down = available - min_available;
            for rs in olds.iter() {
                if scaled >= total_down {
                    break;
                }
                if replicas(rs) == 0 {
                    continue;
                }
                let down = replicas(rs).min(total_down - scaled);
                self.scale_and_record(rs, replicas(rs) - down, d).await?;
                scaled += down;
            }
        }
        Ok(cleaned + scaled > 0)
    }

    async fn rollout_recreate(
        &self,
        d: &mut Value,
        rs_list: &[Value],
    ) -> Result<Option<Duration>, SyncError> {
        let (mut new_rs, mut old) = self.all_replicasets(d, rs_list, false).await?;
        let mut scaled_down = false;
        for rs in old.iter().filter(|r| replicas(r) > 0) {
            if self.scale_and_record(rs, 0, d).await?.0 {
                scaled_down = true;
            }
        }
        if scaled_down {
            let (n, o) = self.fresh(&new_rs, &old);
            return self
                .sync_rollout_status(d, &with_new(&o, &n), n.as_ref())
                .await;
        }
        if self.old_pods_running(new_rs.as_ref(), &old) {
            return self
                .sync_rollout_status(d, &with_new(&old, &new_rs), new_rs.as_ref())
                .await;
        }
        if new_rs.is_none() {
            let (n, o) = self.all_replicasets(d, rs_list, true).await?;
            new_rs = n;
            old = o;
        }
        if let Some(n) = &new_rs {
            self.scale_and_record(n, replicas(d), d).await?;
        }
        if deployment_complete(d, &d["status"]) {
            self.cleanup(&old, d).await?;
        }
        let (n, o) = self.fresh(&new_rs, &old);
        self.sync_rollout_status(d, &with_new(&o, &n), n.as_ref())
            .await
    }

    /// `oldPodsRunning`: old ReplicaSets still have pods that are not terminal.
    fn old_pods_running(&self, new_rs: Option<&Value>, old: &[Value]) -> bool {
        if old
            .iter()
            .map(|r| util::int(&r["status"]["replicas"]))
            .sum::<i64>()
            > 0
        {
            return true;
        }
        let old_uids: Vec<&str> = old.iter().map(util::uid).collect();
        let new_uid = new_rs.map(util::uid);
        self.pods.list().iter().any(|p| {
            util::controller_of(p).is_some_and(|r| {
                let u = r["uid"].as_str().unwrap_or_default();
                old_uids.contains(&u) && Some(u) != new_uid
            }) && !util::is_pod_terminal(p)
        })
    }

    /// `cleanupDeployment`: deletes the oldest ReplicaSets beyond `revisionHistoryLimit` that are
    /// scaled down and settled.
    async fn cleanup(&self, old: &[Value], d: &Value) -> Result<(), SyncError> {
        let Some(limit) = d["spec"]["revisionHistoryLimit"].as_i64() else {
            return Ok(());
        };
        let mut alive: Vec<&Value> = old.iter().filter(|r| !util::is_being_deleted(r)).collect();
        let diff = alive.len() as i64 - limit;
        if diff <= 0 {
            return Ok(());
        }
        alive.sort_by(|a, b| {
            revision(a)
                .cmp(&revision(b))
                .then(util::created(a).cmp(&util::created(b)))
        });
        for rs in alive.into_iter().take(diff as usize) {
            if util::int(&rs["status"]["replicas"]) != 0
                || replicas(rs) != 0
                || util::int(&rs["metadata"]["generation"])
                    > util::int(&rs["status"]["observedGeneration"])
            {
                continue;
            }
            match self.ctx.client.delete(&Self::rs_path(rs), &json!({})).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// `syncRolloutStatus`: status plus the Progressing condition; requeues a deployment whose
    /// progress deadline has yet to pass.
    async fn sync_rollout_status(
        &self,
        d: &mut Value,
        all: &[Value],
        new_rs: Option<&Value>,
    ) -> Result<Option<Duration>, SyncError> {
        let mut status = calculate_status(all, new_rs, d);
        if !has_progress_deadline(d) {
            remove_condition(&mut status, "Progressing");
        }
        let current = get_condition(&d["status"], "Progressing").cloned();
        let complete_before = util::int(&status["replicas"])
            == util::int(&status["updatedReplicas"])
            && current
                .as_ref()
                .is_some_and(|c| c["reason"] == NEW_RS_AVAILABLE_REASON);
        if has_progress_deadline(d) && !complete_before {
            let name = new_rs.map(util::name);
            if deployment_complete(d, &status) {
                let msg = match name {
                    Some(n) => format!("ReplicaSet {n:?} has successfully progressed."),
                    None => format!(
                        "Deployment {:?} has successfully progressed.",
                        util::name(d)
                    ),
                };
                set_condition(
                    &mut status,
                    condition("Progressing", "True", NEW_RS_AVAILABLE_REASON, &msg),
                );
            } else if deployment_progressing(d, &status) {
                let msg = match name {
                    Some(n) => format!("ReplicaSet {n:?} is progressing."),
                    None => format!("Deployment {:?} is progressing.", util::name(d)),
                };
                let mut cond = condition("Progressing", "True", RS_UPDATED_REASON, &msg);
                if let Some(c) = &current {
                    if c["status"] == "True" {
                        cond["lastTransitionTime"] = c["lastTransitionTime"].clone();
                    }
                    remove_condition(&mut status, "Progressing");
                }
                set_condition(&mut status, cond);
            } else if deployment_timed_out(d, &status) {
                let msg = match name {
                    Some(n) => format!("ReplicaSet {n:?} has timed out progressing."),
                    None => format!("Deployment {:?} has timed out progressing.", util::name(d)),
                };
                set_condition(
                    &mut status,
                    condition("Progressing", "False", TIMED_OUT_REASON, &msg),
                );
            }
        }
        // ReplicaFailure conditions of the ReplicaSets move to the Deployment.
        let failure = new_rs.into_iter().chain(all.iter()).find_map(|rs| {
            util::array(&rs["status"]["conditions"])
                .into_iter()
                .find(|c| c["type"] == "ReplicaFailure")
        });
        match failure {
            Some(f) => set_condition(
                &mut status,
                condition(
                    "ReplicaFailure",
                    f["status"].as_str().unwrap_or("True"),
                    f["reason"].as_str().unwrap_or_default(),
                    f["message"].as_str().unwrap_or_default(),
                ),
            ),
            None => remove_condition(&mut status, "ReplicaFailure"),
        }
        if d["status"] == status {
            return Ok(self.requeue_stuck(d, &status));
        }
        d["status"] = status;
        self.update_status(d).await?;
        Ok(None)
    }

    /// `requeueStuckDeployment`: when the rollout is still progressing, check again when the
    /// deadline would pass.
    fn requeue_stuck(&self, d: &Value, status: &Value) -> Option<Duration> {
        let cond = get_condition(status, "Progressing")?;
        if !has_progress_deadline(d)
            || cond["reason"] == NEW_RS_AVAILABLE_REASON
            || cond["reason"] == TIMED_OUT_REASON
        {
            return None;
        }
        if deployment_complete(d, status) {
            return None;
        }
        let deadline = util::int(&d["spec"]["progressDeadlineSeconds"]) as f64;
        let since = util::parse_time(&cond["lastUpdateTime"]).map(util::seconds_since)?;
        Some(Duration::from_secs_f64((deadline - since).max(0.0) + 1.0))
    }
}

fn set_deployment_revision(d: &mut Value, rev: &str) -> bool {
    if annotation(d, REVISION) != Some(rev) {
        d["metadata"]["annotations"][REVISION] = json!(rev);
        true
    } else {
        false
    }
}

fn with_new(old: &[Value], new_rs: &Option<Value>) -> Vec<Value> {
    let mut all = old.to_vec();
    if let Some(n) = new_rs {
        all.push(n.clone());
    }
    all
}

/// `NewRSNewReplicas`: how many replicas the new ReplicaSet may have now.
pub fn new_rs_new_replicas(d: &Value, all: &[Value], new_rs: &Value) -> i64 {
    let want = replicas(d);
    if d["spec"]["strategy"]["type"] == "Recreate" {
        return want;
    }
    let surge = util::scaled_value(
        &d["spec"]["strategy"]["rollingUpdate"]["maxSurge"],
        want,
        true,
    );
    let current: i64 = all.iter().map(replicas).sum();
    let max_total = want + surge;
    if current >= max_total {
        return replicas(new_rs);
    }
    let up = (max_total - current).min(want - replicas(new_rs));
    replicas(new_rs) + up
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(replicas: i64, surge: Value, unavailable: Value) -> Value {
        json!({"metadata": {"name": "hello-world", "generation": 1},
               "spec": {"replicas": replicas, "progressDeadlineSeconds": 600, "revisionHistoryLimit": 10,
                        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
                        "template": {"metadata": {"labels": {"app": "hello"}}, "spec": {"containers": [{"name": "podinfo", "image": "podinfo"}]}}},
               "status": {}})
    }

    #[test]
    fn fenceposts_as_upstream() {
        let d = deployment(2, json!("25%"), json!("25%"));
        assert_eq!(fenceposts(&d), (1, 0));
        assert_eq!(max_surge(&d), 1);
        assert_eq!(max_unavailable(&d), 0);
        let d = deployment(10, json!("25%"), json!("25%"));
        assert_eq!(fenceposts(&d), (3, 2));
        let d = deployment(3, json!(0), json!("10%"));
        assert_eq!(
            fenceposts(&d),
            (0, 1),
            "both zero resolves maxUnavailable to 1"
        );
    }

    #[test]
    fn new_replicas_honour_surge() {
        let d = deployment(2, json!("25%"), json!("25%"));
        let old = json!({"spec": {"replicas": 2}});
        let new = json!({"spec": {"replicas": 0}});
        assert_eq!(
            new_rs_new_replicas(&d, &[old.clone(), new.clone()], &new),
            1
        );
        let fresh = json!({"spec": {"replicas": 0}});
        assert_eq!(
            new_rs_new_replicas(&d, std::slice::from_ref(&fresh), &fresh),
            2
        );
    }

    #[test]
    fn template_equality_ignores_the_hash_and_nulls() {
        let d = deployment(2, json!("25%"), json!("25%"));
        let mut t = d["spec"]["template"].clone();
        t["metadata"]["labels"][HASH_LABEL] = json!("5d8f");
        t["metadata"]["creationTimestamp"] = Value::Null;
        assert!(equal_ignore_hash(&t, &d["spec"]["template"]));
        t["spec"]["containers"][0]["image"] = json!("podinfo:2");
        assert!(!equal_ignore_hash(&t, &d["spec"]["template"]));
    }

    #[test]
    fn status_and_available_condition() {
        let d = deployment(2, json!("25%"), json!("25%"));
        let rs = json!({"spec": {"replicas": 2}, "status": {"replicas": 2, "readyReplicas": 2, "availableReplicas": 2}});
        let s = calculate_status(std::slice::from_ref(&rs), Some(&rs), &d);
        assert_eq!(s["replicas"], 2);
        assert_eq!(s["updatedReplicas"], 2);
        assert_eq!(s["availableReplicas"], 2);
        assert!(s.get("unavailableReplicas").is_none());
        let avail = get_condition(&s, "Available").unwrap();
        assert_eq!(avail["reason"], "MinimumReplicasAvailable");
        assert_eq!(avail["message"], "Deployment has minimum availability.");
        assert!(deployment_complete(&d, &s));
        let none = json!({"spec": {"replicas": 2}, "status": {"replicas": 2}});
        let s = calculate_status(std::slice::from_ref(&none), Some(&none), &d);
        assert_eq!(s["unavailableReplicas"], 2);
        assert_eq!(get_condition(&s, "Available").unwrap()["status"], "False");
    }

    #[test]
    fn revision_annotations() {
        let d = json!({"metadata": {"annotations": {"team": "a", "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
                       "spec": {"replicas": 2, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}});
        let mut rs = json!({"metadata": {}});
        assert!(set_new_rs_annotations(&d, &mut rs, 1, false));
        assert_eq!(rs["metadata"]["annotations"][REVISION], "1");
        assert_eq!(rs["metadata"]["annotations"][DESIRED_REPLICAS], "2");
        assert_eq!(rs["metadata"]["annotations"][MAX_REPLICAS], "3");
        assert_eq!(rs["metadata"]["annotations"]["team"], "a");
        assert!(
            rs["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
                .is_null()
        );
        // A rollback to this RS keeps its old revision in the history.
        assert!(set_new_rs_annotations(&d, &mut rs, 3, true));
        assert_eq!(rs["metadata"]["annotations"][REVISION], "3");
        assert_eq!(rs["metadata"]["annotations"][REVISION_HISTORY], "1");
    }

    #[test]
    fn proportional_scaling() {
        // 10 -> 15 replicas with an old RS of 6 and a new RS of 6 (max 13 before).
        let d = json!({"spec": {"replicas": 15, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}}},
                       "status": {"replicas": 12}});
        let rs =
            json!({"metadata": {"annotations": {MAX_REPLICAS: "13"}}, "spec": {"replicas": 6}});
        // 6 * 18 / 13 = 8.3 -> 8, so +2.
        assert_eq!(proportion(&rs, &d, 6, 0), 2);
        assert_eq!(proportion(&rs, &d, 6, 5), 1, "never more than allowed");
    }

    #[test]
    fn scaling_messages_per_version() {
        use crate::version::Minor;
        let m = |n| Minor::new(n).unwrap();
        assert_eq!(
            m(26).scaling_replica_set_message(true, "web-5d8f", 1, 3),
            "Scaled up replica set web-5d8f to 3"
        );
        assert_eq!(
            m(30).scaling_replica_set_message(false, "web-5d8f", 5, 2),
            "Scaled down replica set web-5d8f to 2 from 5"
        );
        assert_eq!(
            m(33).scaling_replica_set_message(true, "web-5d8f", 2, 5),
            "Scaled up replica set web-5d8f from 2 to 5"
        );
        assert_eq!(
            m(26).new_replica_set_message("web-5d8f", 2),
            "Scaled up replica set web-5d8f to 2"
        );
        assert_eq!(
            m(33).new_replica_set_message("web-5d8f", 2),
            "Scaled up replica set web-5d8f from 0 to 2"
        );
    }
}
