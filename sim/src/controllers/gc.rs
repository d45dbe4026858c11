//! The garbage collector (pkg/controller/garbagecollector/garbagecollector.go,
//! `attemptToDeleteItem`, `processDeletingDependentsItem`, `orphanDependents`):
//!
//! - an object whose owners are all gone (absent, or present with another UID) is deleted —
//!   background propagation unless its own finalizers ask for foreground or orphan;
//! - references to owners that are gone are removed when another owner still exists ("solid");
//! - an owner deleted with `propagationPolicy: Foreground` carries the `foregroundDeletion`
//!   finalizer: its dependents are deleted (in the foreground themselves), and the finalizer is
//!   removed once no dependent with `blockOwnerDeletion` is left;
//! - an owner deleted with `Orphan` carries the `orphan` finalizer: the references to it are
//!   removed from its dependents, then the finalizer.
//!
//! The graph is the shared informers' caches; an owner missing from them is looked up live before
//! it is declared absent (the absent-owner check of `isDangling`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::informers::{Informer, RESOURCES};
use super::{Ctx, SyncError, klog, util};
use crate::apiserver::resources;
use crate::client::{PatchType, path};

/// How often the collector looks again when nothing changed.
pub const RESYNC: Duration = Duration::from_secs(30);

/// The REST path of an object given its apiVersion, kind, namespace and name.
pub fn object_path(api_version: &str, kind: &str, ns: &str, name: &str) -> Option<String> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let r = resources::RESOURCES
        .iter()
        .find(|r| r.group == group && r.kind == kind && !r.is_review())?;
    Some(path(
        group,
        version,
        r.plural,
        if r.namespaced { Some(ns) } else { None },
        Some(name),
    ))
}

fn own_path(obj: &Value) -> Option<String> {
    object_path(
        obj["apiVersion"].as_str()?,
        obj["kind"].as_str()?,
        util::namespace(obj),
        util::name(obj),
    )
}

/// How an owner reference stands (`classifyReferences`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerState {
    /// The owner exists and is not deleting its dependents.
    Solid,
    /// The owner is gone (or was replaced by an object with another UID).
    Dangling,
    /// The owner is being deleted in the foreground.
    WaitingForDependents,
}

/// Runs the collector.
pub async fn run(ctx: Ctx) {
    let informers: Vec<Informer> = RESOURCES.iter().map(|r| ctx.informers.get(r.2)).collect();
    for i in &informers {
        i.wait_ready().await;
    }
    let notify = Arc::new(tokio::sync::Notify::new());
    for i in &informers {
        let mut rx = i.subscribe();
        let n = notify.clone();
        tokio::spawn(async move {
            while super::informers::next_change(&mut rx).await.is_some() {
                n.notify_one();
            }
        });
    }
    loop {
        // Let a burst of changes settle before walking the graph.
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Err(e) = pass(&ctx, &informers).await {
            if !matches!(&e, SyncError::Client(c) if c.is_conflict()) {
                klog(
                    'E',
                    "garbagecollector.go",
                    &format!("\"Error in a garbage collection pass\" err=\"{e}\""),
                );
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        let _ = tokio::time::timeout(RESYNC, notify.notified()).await;
    }
}

async fn owner_state(
    ctx: &Ctx,
    by_uid: &HashMap<String, Value>,
    dependent: &Value,
    r: &Value,
) -> Result<OwnerState, SyncError> {
    let uid = r["uid"].as_str().unwrap_or_default();
    let owner = match by_uid.get(uid) {
        Some(o) => Some(o.clone()),
        None => {
            let Some(p) = object_path(
                r["apiVersion"].as_str().unwrap_or_default(),
                r["kind"].as_str().unwrap_or_default(),
                util::namespace(dependent),
                r["name"].as_str().unwrap_or_default(),
            ) else {
                // A kind without a REST mapping: upstream requeues such an item instead of
                // deciding (`gc.apiResource` fails); it is never deleted for it.
                return Ok(OwnerState::Solid);
            };
            ctx.client
                .get_opt(&p)
                .await?
                .filter(|o| util::uid(o) == uid)
        }
    };
    Ok(match owner {
        None => OwnerState::Dangling,
        Some(o) if util::is_being_deleted(&o) && util::has_finalizer(&o, "foregroundDeletion") => {
            OwnerState::WaitingForDependents
        }
        Some(_) => OwnerState::Solid,
    })
}

async fn delete(ctx: &Ctx, obj: &Value, policy: &str) -> Result<(), SyncError> {
    let Some(p) = own_path(obj) else {
        return Ok(());
    };
    klog(
        'I',
        "garbagecollector.go",
        &format!(
            "\"Deleting item\" item=\"{}/{}\" propagationPolicy=\"{policy}\"",
            obj["kind"].as_str().unwrap_or_default(),
            util::key(obj)
        ),
    );
    match ctx
        .client
        .delete(
            &p,
            &json!({"propagationPolicy": policy, "preconditions": {"uid": util::uid(obj)}}),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() || e.is_conflict() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn patch_meta(ctx: &Ctx, obj: &Value, meta: Value) -> Result<(), SyncError> {
    let Some(p) = own_path(obj) else {
        return Ok(());
    };
    let mut meta = meta;
    meta["uid"] = json!(util::uid(obj));
    meta["resourceVersion"] = obj["metadata"]["resourceVersion"].clone();
    match ctx
        .client
        .patch(&p, PatchType::Merge, &json!({"metadata": meta}))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn without_finalizer(obj: &Value, f: &str) -> Value {
    json!(
        util::array(&obj["metadata"]["finalizers"])
            .into_iter()
            .filter(|x| x != f)
            .collect::<Vec<_>>()
    )
}

/// One pass over the graph.
///
/// # Errors
/// The first API error.
pub async fn pass(ctx: &Ctx, informers: &[Informer]) -> Result<(), SyncError> {
    let objects: Vec<Value> = informers.iter().flat_map(Informer::list).collect();
    let by_uid: HashMap<String, Value> = objects
        .iter()
        .map(|o| (util::uid(o).to_string(), o.clone()))
        .collect();
    let mut dependents: HashMap<String, Vec<Value>> = HashMap::new();
    for o in &objects {
        for r in util::array(&o["metadata"]["ownerReferences"]) {
            if let Some(u) = r["uid"].as_str() {
                dependents.entry(u.to_string()).or_default().push(o.clone());
            }
        }
    }
    // Owners being deleted with foreground or orphan propagation.
    for o in objects.iter().filter(|o| util::is_being_deleted(o)) {
        let uid = util::uid(o);
        let deps = dependents.get(uid).cloned().unwrap_or_default();
        if util::has_finalizer(o, "orphan") {
            for d in &deps {
                let refs: Vec<Value> = util::array(&d["metadata"]["ownerReferences"])
                    .into_iter()
                    .filter(|r| r["uid"] != uid)
                    .collect();
                patch_meta(ctx, d, json!({"ownerReferences": refs})).await?;
            }
            patch_meta(
                ctx,
                o,
                json!({"finalizers": without_finalizer(o, "orphan")}),
            )
            .await?;
            continue;
        }
        if util::has_finalizer(o, "foregroundDeletion") {
            let blocking: Vec<&Value> = deps
                .iter()
                .filter(|d| {
                    util::array(&d["metadata"]["ownerReferences"])
                        .iter()
                        .any(|r| r["uid"] == uid && r["blockOwnerDeletion"] == true)
                })
                .collect();
            if blocking.is_empty() {
                patch_meta(
                    ctx,
                    o,
                    json!({"finalizers": without_finalizer(o, "foregroundDeletion")}),
                )
                .await?;
            } else {
                for d in blocking.into_iter().filter(|d| !util::is_being_deleted(d)) {
                    let policy = if dependents.get(util::uid(d)).is_some_and(|x| !x.is_empty()) {
                        "Foreground"
                    } else {
                        "Background"
                    };
                    delete(ctx, d, policy).await?;
                }
            }
        }
    }
    // Dependents whose owners are gone.
    for o in &objects {
        let refs = util::array(&o["metadata"]["ownerReferences"]);
        if refs.is_empty() || util::is_being_deleted(o) {
            continue;
        }
        let mut solid = vec![];
        let mut dangling = vec![];
        let mut waiting = vec![];
        for r in &refs {
            match owner_state(ctx, &by_uid, o, r).await? {
                OwnerState::Solid => solid.push(r.clone()),
                OwnerState::Dangling => dangling.push(r.clone()),
                OwnerState::WaitingForDependents => waiting.push(r.clone()),
            }
        }
        if !solid.is_empty() {
            if dangling.is_empty() && waiting.is_empty() {
                continue;
            }
            let gone: Vec<&Value> = dangling.iter().chain(&waiting).map(|r| &r["uid"]).collect();
            let keep: Vec<Value> = refs
                .into_iter()
                .filter(|r| !gone.contains(&&r["uid"]))
                .collect();
            patch_meta(ctx, o, json!({"ownerReferences": keep})).await?;
            continue;
        }
        let has_dependents = dependents.get(util::uid(o)).is_some_and(|d| !d.is_empty());
        if !waiting.is_empty() && has_dependents {
            delete(ctx, o, "Foreground").await?;
            continue;
        }
        if !waiting.is_empty() || !dangling.is_empty() {
            let policy = if util::has_finalizer(o, "orphan") {
                "Orphan"
            } else if util::has_finalizer(o, "foregroundDeletion") {
                "Foreground"
            } else {
                "Background"
            };
            delete(ctx, o, policy).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_owner_kinds() {
        assert_eq!(
            object_path("apps/v1", "ReplicaSet", "default", "web-5d8f").as_deref(),
            Some("/apis/apps/v1/namespaces/default/replicasets/web-5d8f")
        );
        assert_eq!(
            object_path("v1", "Node", "default", "minikube").as_deref(),
            Some("/api/v1/nodes/minikube")
        );
        assert!(object_path("batch/v1", "Job", "default", "x").is_none());
    }
}
