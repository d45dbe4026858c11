//! The NoExecute taint manager (pkg/controller/tainteviction/taint_eviction.go; before 1.29 the
//! same code ran inside the node lifecycle controller as the "taint-controller").
//!
//! When a node's NoExecute taints change, or a pod on a tainted node changes its tolerations or
//! node (`processPodOnNode`):
//!
//! - a pod that does not tolerate every NoExecute taint is deleted at once;
//! - a pod that tolerates them all is deleted when the smallest `tolerationSeconds` of the
//!   tolerations used has passed, counted from when the taint manager noticed (its own clock);
//!   a toleration without seconds tolerates forever;
//! - when the taints go away, scheduled deletions are cancelled ("Cancelling deletion of Pod x").
//!
//! Deletion adds the `DisruptionTarget` condition (`DeletionByTaintManager`, "Taint manager:
//! deleting due to NoExecute taint") and deletes the pod normally (its grace period applies), after
//! a `TaintManagerEviction` event "Marking for deletion Pod ns/name". A pod deleted on an unreachable
//! node stays Terminating until its kubelet comes back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::informers::Informer;
use super::{Ctx, SyncError, klog, util};
use crate::client::events::Recorder;
use crate::client::{Change, PatchType, path};

/// `GetMatchingTolerations`: whether every taint is tolerated, and the tolerations used.
pub fn matching_tolerations(taints: &[Value], tolerations: &[Value]) -> (bool, Vec<Value>) {
    if taints.is_empty() {
        return (true, vec![]);
    }
    let mut used = vec![];
    for t in taints {
        match tolerations.iter().find(|tol| util::tolerates(tol, t)) {
            Some(tol) => used.push(tol.clone()),
            None => return (false, vec![]),
        }
    }
    (true, used)
}

/// `getMinTolerationTime`: `Some(0)` for none used, the smallest `tolerationSeconds` (0 for
/// non-positive values), `None` when every used toleration is forever.
pub fn min_toleration_time(used: &[Value]) -> Option<Duration> {
    if used.is_empty() {
        return Some(Duration::ZERO);
    }
    let mut min: Option<i64> = None;
    for t in used {
        if let Some(s) = t["tolerationSeconds"].as_i64() {
            if s <= 0 {
                return Some(Duration::ZERO);
            }
            min = Some(min.map_or(s, |m| m.min(s)));
        }
    }
    min.map(|s| Duration::from_secs(s as u64))
}

/// What the taint manager does for one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Nothing changes.
    Keep,
    /// Cancel a scheduled deletion (and say so with an event when one existed).
    Cancel,
    /// Delete at `fire_at` (now when due); `created_at` is when the countdown started.
    Delete {
        /// Countdown start.
        created_at: Instant,
        /// When to delete.
        fire_at: Instant,
    },
}

/// The scheduled deletions (`TimedWorkerQueue`).
#[derive(Debug, Default)]
pub struct Evictions {
    scheduled: HashMap<String, (Instant, Instant)>,
}

impl Evictions {
    /// `processPodOnNode` for pod `key` with its tolerations, the node's NoExecute taints, at `now`.
    /// Returns what to do and whether a deletion was cancelled.
    pub fn process(
        &mut self,
        key: &str,
        tolerations: &[Value],
        taints: &[Value],
        now: Instant,
    ) -> (Plan, bool) {
        let mut cancelled = false;
        if taints.is_empty() {
            cancelled = self.scheduled.remove(key).is_some();
            return (Plan::Cancel, cancelled);
        }
        let (all, used) = matching_tolerations(taints, tolerations);
        if !all {
            cancelled = self.scheduled.remove(key).is_some();
            self.scheduled.insert(key.to_string(), (now, now));
            return (
                Plan::Delete {
                    created_at: now,
                    fire_at: now,
                },
                cancelled,
            );
        }
        let Some(min) = min_toleration_time(&used) else {
            cancelled = self.scheduled.remove(key).is_some();
            return (Plan::Cancel, cancelled);
        };
        let mut start = now;
        let trigger = now + min;
        if let Some((created, _)) = self.scheduled.get(key).copied() {
            start = created;
            // Upstream keeps an existing deletion whenever its start plus the toleration is
            // before `now` plus the toleration, i.e. whenever it started earlier.
            if start + min < trigger {
                return (Plan::Keep, false);
            }
            self.scheduled.remove(key);
            cancelled = true;
        }
        self.scheduled.insert(key.to_string(), (start, trigger));
        (
            Plan::Delete {
                created_at: start,
                fire_at: trigger,
            },
            cancelled,
        )
    }

    /// Forgets `key` (deleted pod); true when a deletion was scheduled.
    pub fn cancel(&mut self, key: &str) -> bool {
        self.scheduled.remove(key).is_some()
    }

    /// Whether the deletion scheduled for `key` is still the one that fires at `fire_at`.
    pub fn is_current(&self, key: &str, fire_at: Instant) -> bool {
        self.scheduled.get(key).is_some_and(|(_, f)| *f == fire_at)
    }

    /// Marks the deletion of `key` as done.
    pub fn done(&mut self, key: &str) {
        self.scheduled.remove(key);
    }
}

fn no_execute(node: &Value) -> Vec<Value> {
    util::array(&node["spec"]["taints"])
        .into_iter()
        .filter(|t| t["effect"] == "NoExecute")
        .collect()
}

struct Tm {
    ctx: Ctx,
    pods: Informer,
    nodes: Informer,
    evictions: Mutex<Evictions>,
    tainted: Mutex<HashMap<String, Vec<Value>>>,
    recorder: Arc<Recorder>,
}

/// Runs the taint manager.
pub async fn run(ctx: Ctx) {
    let pods = ctx.informers.get("pods");
    let nodes = ctx.informers.get("nodes");
    pods.wait_ready().await;
    nodes.wait_ready().await;
    let tm = Arc::new(Tm {
        recorder: ctx.recorder(ctx.minor().taint_manager_component()),
        ctx,
        pods: pods.clone(),
        nodes: nodes.clone(),
        evictions: Mutex::new(Evictions::default()),
        tainted: Mutex::new(HashMap::new()),
    });
    let mut node_rx = nodes.subscribe();
    let mut pod_rx = pods.subscribe();
    let mut last_taints: HashMap<String, Vec<Value>> = HashMap::new();
    let mut last_pods: HashMap<String, (String, Value)> = HashMap::new();
    for n in nodes.list() {
        last_taints.insert(util::name(&n).to_string(), no_execute(&n));
        tm.node_updated(util::name(&n)).await;
    }
    for p in pods.list() {
        last_pods.insert(
            util::key(&p),
            (
                util::spec_node(&p).to_string(),
                p["spec"]["tolerations"].clone(),
            ),
        );
    }
    loop {
        // Node updates go first (the upstream workers drain the node channel before pods).
        tokio::select! {
            biased;
            c = super::informers::next_change(&mut node_rx) => match c {
                Some(Change::Applied(n)) => {
                    let name = util::name(&n).to_string();
                    let t = no_execute(&n);
                    if last_taints.get(&name) != Some(&t) {
                        last_taints.insert(name.clone(), t);
                        tm.node_updated(&name).await;
                    }
                }
                Some(Change::Deleted(n)) => {
                    let name = util::name(&n).to_string();
                    last_taints.remove(&name);
                    tm.tainted.lock().expect("tainted").remove(&name);
                }
                Some(Change::Restarted) => {
                    for n in tm.nodes.list() {
                        let name = util::name(&n).to_string();
                        let t = no_execute(&n);
                        if last_taints.get(&name) != Some(&t) {
                            last_taints.insert(name.clone(), t);
                            tm.node_updated(&name).await;
                        }
                    }
                }
                None => return,
            },
            c = super::informers::next_change(&mut pod_rx) => match c {
                Some(Change::Applied(p)) => {
                    let key = util::key(&p);
                    let now_state = (util::spec_node(&p).to_string(), p["spec"]["tolerations"].clone());
                    if last_pods.get(&key) != Some(&now_state) {
                        last_pods.insert(key.clone(), now_state);
                        tm.pod_updated(&key).await;
                    }
                }
                Some(Change::Deleted(p)) => {
                    let key = util::key(&p);
                    last_pods.remove(&key);
                    if tm.evictions.lock().expect("evictions").cancel(&key) {
                        tm.cancel_event(&key).await;
                    }
                }
                Some(Change::Restarted) => {}
                None => return,
            },
        }
    }
}

impl Tm {
    async fn cancel_event(&self, key: &str) {
        let (ns, name) = util::split_key(key);
        let r =
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}});
        let _ = self
            .recorder
            .normal(
                &r,
                "TaintManagerEviction",
                &format!("Cancelling deletion of Pod {key}"),
            )
            .await;
    }

    /// `handleNodeUpdate`.
    async fn node_updated(self: &Arc<Self>, name: &str) {
        let Some(node) = self.nodes.get(name) else {
            self.tainted.lock().expect("tainted").remove(name);
            return;
        };
        let taints = no_execute(&node);
        {
            let mut t = self.tainted.lock().expect("tainted");
            if taints.is_empty() {
                t.remove(name);
            } else {
                t.insert(name.to_string(), taints.clone());
            }
        }
        let pods: Vec<Value> = self
            .pods
            .list()
            .into_iter()
            .filter(|p| util::spec_node(p) == name)
            .collect();
        let now = Instant::now();
        for p in pods {
            self.process(
                &util::key(&p),
                &util::array(&p["spec"]["tolerations"]),
                &taints,
                now,
            )
            .await;
        }
    }

    /// `handlePodUpdate`.
    async fn pod_updated(self: &Arc<Self>, key: &str) {
        let Some(pod) = self.pods.get(key) else {
            if self.evictions.lock().expect("evictions").cancel(key) {
                self.cancel_event(key).await;
            }
            return;
        };
        let node = util::spec_node(&pod);
        if node.is_empty() {
            return;
        }
        let Some(taints) = self.tainted.lock().expect("tainted").get(node).cloned() else {
            return;
        };
        self.process(
            key,
            &util::array(&pod["spec"]["tolerations"]),
            &taints,
            Instant::now(),
        )
        .await;
    }

    async fn process(
        self: &Arc<Self>,
        key: &str,
        tolerations: &[Value],
        taints: &[Value],
        now: Instant,
    ) {
        let (plan, cancelled) =
            self.evictions
                .lock()
                .expect("evictions")
                .process(key, tolerations, taints, now);
        if cancelled && !matches!(plan, Plan::Delete { .. }) {
            self.cancel_event(key).await;
        }
        if let Plan::Delete { fire_at, .. } = plan {
            let tm = self.clone();
            let key = key.to_string();
            tokio::spawn(async move {
                tokio::time::sleep_until(fire_at).await;
                if !tm
                    .evictions
                    .lock()
                    .expect("evictions")
                    .is_current(&key, fire_at)
                {
                    return;
                }
                if let Err(e) = tm.delete(&key).await {
                    klog(
                        'E',
                        "taint_eviction.go",
                        &format!("\"Failed to delete pod\" pod=\"{key}\" err=\"{e}\""),
                    );
                }
                tm.evictions.lock().expect("evictions").done(&key);
            });
        }
    }

    /// `deletePodHandler` with `addConditionAndDeletePod`.
    async fn delete(&self, key: &str) -> Result<(), SyncError> {
        let (ns, name) = util::split_key(key);
        klog(
            'I',
            "taint_eviction.go",
            &format!(
                "\"Deleting pod\" controller=\"{}\" pod=\"{key}\"",
                self.ctx.minor().taint_manager_component()
            ),
        );
        let r =
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}});
        let _ = self
            .recorder
            .normal(
                &r,
                "TaintManagerEviction",
                &format!("Marking for deletion Pod {key}"),
            )
            .await;
        let p = path("", "v1", "pods", Some(ns), Some(name));
        let mut last = None;
        for _ in 0..5 {
            let pod = match self.ctx.client.get_opt(&p).await? {
                Some(p) => p,
                None => return Ok(()),
            };
            let mut conds = util::array(&pod["status"]["conditions"]);
            let already = conds.iter().any(|c| {
                c["type"] == "DisruptionTarget"
                    && c["status"] == "True"
                    && c["reason"] == "DeletionByTaintManager"
            });
            if !already {
                conds.retain(|c| c["type"] != "DisruptionTarget");
                conds.push(json!({"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
                                  "message": "Taint manager: deleting due to NoExecute taint",
                                  "lastProbeTime": null, "lastTransitionTime": util::now_time()}));
                if let Err(e) = self
                    .ctx
                    .client
                    .patch(&format!("{p}/status"), PatchType::Strategic, &json!({"metadata": {"uid": util::uid(&pod)}, "status": {"conditions": conds}}))
                    .await
                {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
            match self.ctx.client.delete(&p, &json!({})).await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Err(last
            .map(SyncError::from)
            .unwrap_or_else(|| SyncError::Invalid("pod deletion failed".into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unreachable() -> Vec<Value> {
        vec![json!({"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"})]
    }

    fn default_tolerations(secs: i64) -> Vec<Value> {
        vec![
            json!({"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": secs}),
            json!({"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": secs}),
        ]
    }

    #[tokio::test(start_paused = true)]
    async fn toleration_seconds_count_from_when_the_taint_was_seen() {
        let mut ev = Evictions::default();
        let t0 = Instant::now();
        let (plan, _) = ev.process(
            "default/web-1",
            &default_tolerations(300),
            &unreachable(),
            t0,
        );
        assert_eq!(
            plan,
            Plan::Delete {
                created_at: t0,
                fire_at: t0 + Duration::from_secs(300)
            }
        );
        // A later update of the pod keeps the original deadline.
        tokio::time::advance(Duration::from_secs(100)).await;
        let (plan, _) = ev.process(
            "default/web-1",
            &default_tolerations(300),
            &unreachable(),
            Instant::now(),
        );
        assert_eq!(plan, Plan::Keep);
        assert!(ev.is_current("default/web-1", t0 + Duration::from_secs(300)));
        // Even shorter seconds keep the running countdown (processPodOnNode keeps any deletion
        // scheduled earlier).
        let (plan, _) = ev.process(
            "default/web-1",
            &default_tolerations(20),
            &unreachable(),
            Instant::now(),
        );
        assert_eq!(plan, Plan::Keep);
        assert!(ev.is_current("default/web-1", t0 + Duration::from_secs(300)));
    }

    #[tokio::test(start_paused = true)]
    async fn untolerated_taints_delete_at_once_and_forever_tolerations_never() {
        let mut ev = Evictions::default();
        let now = Instant::now();
        let (plan, _) = ev.process("default/a", &[], &unreachable(), now);
        assert_eq!(
            plan,
            Plan::Delete {
                created_at: now,
                fire_at: now
            }
        );
        let forever = vec![
            json!({"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}),
        ];
        let (plan, cancelled) = ev.process("default/a", &forever, &unreachable(), now);
        assert_eq!(plan, Plan::Cancel);
        assert!(cancelled, "the pending immediate deletion is cancelled");
        let (plan, cancelled) = ev.process("default/b", &forever, &unreachable(), now);
        assert_eq!(plan, Plan::Cancel);
        assert!(!cancelled);
    }

    #[tokio::test(start_paused = true)]
    async fn removing_the_taint_cancels() {
        let mut ev = Evictions::default();
        let now = Instant::now();
        ev.process("default/a", &default_tolerations(300), &unreachable(), now);
        let (plan, cancelled) = ev.process("default/a", &default_tolerations(300), &[], now);
        assert_eq!(plan, Plan::Cancel);
        assert!(cancelled);
        assert!(!ev.is_current("default/a", now + Duration::from_secs(300)));
    }

    #[test]
    fn min_toleration() {
        assert_eq!(min_toleration_time(&[]), Some(Duration::ZERO));
        assert_eq!(
            min_toleration_time(&default_tolerations(300)),
            Some(Duration::from_secs(300))
        );
        assert_eq!(min_toleration_time(&[json!({"operator": "Exists"})]), None);
        assert_eq!(
            min_toleration_time(&[json!({"tolerationSeconds": -5})]),
            Some(Duration::ZERO)
        );
        let (all, used) = matching_tolerations(&unreachable(), &default_tolerations(5));
        assert!(all);
        assert_eq!(used.len(), 1);
    }
}
