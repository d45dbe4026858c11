//! The pod garbage collector (pkg/controller/podgc/gc_controller.go), every 20 s
//! (`gcCheckPeriod`):
//!
//! - terminated pods (Succeeded/Failed) beyond `--terminated-pod-gc-threshold` are deleted, oldest
//!   first;
//! - pods being deleted on a NotReady node tainted `node.kubernetes.io/out-of-service` are force
//!   deleted (`gcTerminating`);
//! - pods bound to a node that does not exist (checked again against the API after a 40 s
//!   quarantine) are force deleted with the `DisruptionTarget` condition "PodGC: node no longer
//!   exists" (`gcOrphaned`);
//! - unscheduled pods being deleted are force deleted (`gcUnscheduledTerminating`).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::{Ctx, SyncError, klog, util};
use crate::client::{PatchType, path};

/// `gcCheckPeriod`.
pub const CHECK_PERIOD: Duration = Duration::from_secs(20);
/// `quarantineTime`: how long a missing node must stay missing.
pub const QUARANTINE: Duration = Duration::from_secs(40);

/// Runs the collector.
pub async fn run(ctx: Ctx) {
    let pods = ctx.informers.get("pods");
    let nodes = ctx.informers.get("nodes");
    pods.wait_ready().await;
    nodes.wait_ready().await;
    let mut missing_since: HashMap<String, Instant> = HashMap::new();
    loop {
        if let Err(e) = gc(&ctx, &pods.list(), &nodes.list(), &mut missing_since).await {
            klog(
                'E',
                "gc_controller.go",
                &format!("\"Error while garbage collecting pods\" err=\"{e}\""),
            );
        }
        tokio::time::sleep(CHECK_PERIOD).await;
    }
}

async fn force_delete(ctx: &Ctx, pod: &Value, condition: Option<&str>) -> Result<(), SyncError> {
    let p = path(
        "",
        "v1",
        "pods",
        Some(util::namespace(pod)),
        Some(util::name(pod)),
    );
    if let Some(message) = condition
        && !util::is_pod_terminal(pod)
    {
        // DisruptionTarget (PodDisruptionConditions, on by default since 1.26).
        let mut conds = util::array(&pod["status"]["conditions"]);
        conds.retain(|c| c["type"] != "DisruptionTarget");
        conds.push(
            json!({"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
                          "message": message, "lastTransitionTime": util::now_time()}),
        );
        let _ = ctx
            .client
            .patch(
                &format!("{p}/status"),
                PatchType::Merge,
                &json!({"status": {"conditions": conds}}),
            )
            .await;
    }
    klog(
        'I',
        "gc_controller.go",
        &format!("\"PodGC is force deleting Pod\" pod=\"{}\"", util::key(pod)),
    );
    match ctx
        .client
        .delete(
            &p,
            &json!({"gracePeriodSeconds": 0, "preconditions": {"uid": util::uid(pod)}}),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() || e.is_conflict() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// One collection pass.
///
/// # Errors
/// The first API error.
pub async fn gc(
    ctx: &Ctx,
    pods: &[Value],
    nodes: &[Value],
    missing_since: &mut HashMap<String, Instant>,
) -> Result<(), SyncError> {
    // gcTerminated.
    let threshold = ctx.opts.terminated_pod_gc_threshold;
    if threshold > 0 {
        let mut terminated: Vec<&Value> =
            pods.iter().filter(|p| util::is_pod_terminal(p)).collect();
        if terminated.len() > threshold {
            terminated.sort_by_key(|p| util::created(p));
            let excess = terminated.len() - threshold;
            for p in terminated.into_iter().take(excess) {
                force_delete(ctx, p, None).await?;
            }
        }
    }
    let node_by_name: HashMap<&str, &Value> = nodes.iter().map(|n| (util::name(n), n)).collect();
    // gcTerminating: nodes declared out of service.
    for p in pods.iter().filter(|p| util::is_being_deleted(p)) {
        if let Some(n) = node_by_name.get(util::spec_node(p)) {
            let out_of_service = util::array(&n["spec"]["taints"]).iter().any(|t| {
                t["key"] == "node.kubernetes.io/out-of-service" && t["effect"] == "NoExecute"
            });
            let ready = util::array(&n["status"]["conditions"])
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            if out_of_service && !ready {
                force_delete(ctx, p, Some("PodGC: node is out of service")).await?;
            }
        }
    }
    // gcOrphaned.
    let now = Instant::now();
    let mut still_missing = HashMap::new();
    for p in pods {
        let node = util::spec_node(p);
        if node.is_empty() || node_by_name.contains_key(node) {
            continue;
        }
        let since = *missing_since.get(node).unwrap_or(&now);
        still_missing.insert(node.to_string(), since);
        if now.duration_since(since) < QUARANTINE {
            continue;
        }
        // Check with the API, not only the cache.
        if ctx
            .client
            .get_opt(&path("", "v1", "nodes", None, Some(node)))
            .await?
            .is_some()
        {
            continue;
        }
        force_delete(ctx, p, Some("PodGC: node no longer exists")).await?;
    }
    *missing_since = still_missing;
    // gcUnscheduledTerminating.
    for p in pods {
        if util::is_being_deleted(p) && util::spec_node(p).is_empty() {
            force_delete(ctx, p, None).await?;
        }
    }
    Ok(())
}
