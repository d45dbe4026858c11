//! The namespace controller (pkg/controller/namespace/namespace_controller.go and
//! deletion/namespaced_resources_deleter.go): a namespace with a deletionTimestamp has every
//! namespaced collection deleted (`deletecollection`), its deletion conditions kept up to date
//! (status_condition_utils.go), and once nothing is left, the `kubernetes` finalizer removed
//! through `/finalize`, after which the API server deletes it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::informers::Informer;
use super::queue::WorkQueue;
use super::{Ctx, SyncError, feed, util, work};
use crate::apiserver::resources::RESOURCES;
use crate::client::{Change, ListParams, path};

/// The finalizer the namespace controller owns (`FinalizerKubernetes`).
pub const FINALIZER: &str = "kubernetes";

fn conditions(
    remaining: &BTreeMap<String, usize>,
    finalizers: &BTreeMap<String, usize>,
) -> Vec<Value> {
    let now = util::now_time();
    let c = |typ: &str, status: &str, reason: &str, message: String| json!({"type": typ, "status": status, "lastTransitionTime": now, "reason": reason, "message": message});
    let mut out = vec![
        c(
            "NamespaceDeletionDiscoveryFailure",
            "False",
            "ResourcesDiscovered",
            "All resources successfully discovered".into(),
        ),
        c(
            "NamespaceDeletionGroupVersionParsingFailure",
            "False",
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed".into(),
        ),
        c(
            "NamespaceDeletionContentFailure",
            "False",
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization".into(),
        ),
    ];
    if remaining.is_empty() {
        out.push(c(
            "NamespaceContentRemaining",
            "False",
            "ContentRemoved",
            "All content successfully removed".into(),
        ));
    } else {
        let parts: Vec<String> = remaining
            .iter()
            .map(|(r, n)| format!("{r} has {n} resource instances"))
            .collect();
        out.push(c(
            "NamespaceContentRemaining",
            "True",
            "SomeResourcesRemain",
            format!("Some resources are remaining: {}", parts.join(", ")),
        ));
    }
    if finalizers.is_empty() {
        out.push(c(
            "NamespaceFinalizersRemaining",
            "False",
            "ContentHasNoFinalizers",
            "All content-preserving finalizers finished".into(),
        ));
    } else {
        let parts: Vec<String> = finalizers
            .iter()
            .map(|(f, n)| format!("{f} in {n} resource instances"))
            .collect();
        out.push(c(
            "NamespaceFinalizersRemaining",
            "True",
            "SomeFinalizersRemain",
            format!(
                "Some content in the namespace has finalizers remaining: {}",
                parts.join(", ")
            ),
        ));
    }
    out
}

/// Runs the controller.
pub async fn run(ctx: Ctx) {
    let namespaces = ctx.informers.get("namespaces");
    let q = WorkQueue::new();
    let all = namespaces.clone();
    feed(
        &namespaces,
        q.clone(),
        |c| match c {
            Change::Applied(o) if util::is_being_deleted(o) => vec![util::name(o).to_string()],
            _ => vec![],
        },
        move || {
            all.list()
                .iter()
                .filter(|n| util::is_being_deleted(n))
                .map(|n| util::name(n).to_string())
                .collect()
        },
    );
    let ctx = Arc::new(ctx);
    work("namespace_controller.go", q, |name| {
        let (ctx, namespaces) = (ctx.clone(), namespaces.clone());
        async move { sync(&ctx, &namespaces, &name).await }
    })
    .await;
}

async fn sync(ctx: &Ctx, namespaces: &Informer, name: &str) -> Result<Option<Duration>, SyncError> {
    let Some(ns) = namespaces.get(name) else {
        return Ok(None);
    };
    if !util::is_being_deleted(&ns) {
        return Ok(None);
    }
    let has_finalizer = util::array(&ns["spec"]["finalizers"])
        .iter()
        .any(|f| f == FINALIZER);
    if !has_finalizer {
        return Ok(None);
    }
    let mut remaining: BTreeMap<String, usize> = BTreeMap::new();
    let mut finalizers: BTreeMap<String, usize> = BTreeMap::new();
    let mut wait = 0i64;
    for r in RESOURCES.iter().filter(|r| r.namespaced && !r.is_review()) {
        let collection = path(r.group, r.version, r.plural, Some(name), None);
        match ctx.client.delete(&collection, &json!({})).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() || e.code() == Some(405) => {}
            Err(e) => return Err(e.into()),
        }
        let list = ctx.client.list(&collection, &ListParams::default()).await?;
        let items = util::array(&list["items"]);
        if !items.is_empty() {
            remaining.insert(r.group_resource(), items.len());
            for i in &items {
                for f in util::array(&i["metadata"]["finalizers"]) {
                    if let Some(f) = f.as_str() {
                        *finalizers.entry(f.to_string()).or_default() += 1;
                    }
                }
                wait = wait.max(util::int(&i["metadata"]["deletionGracePeriodSeconds"]));
            }
        }
    }
    let mut updated = ns.clone();
    updated["status"]["conditions"] = json!(conditions(&remaining, &finalizers));
    let ns_path = path("", "v1", "namespaces", None, Some(name));
    if !remaining.is_empty() {
        // Conditions without their times: rewrite only when something else changed.
        let gist = |v: &Value| -> Vec<(Value, Value, Value)> {
            util::array(&v["status"]["conditions"])
                .into_iter()
                .map(|x| (x["type"].clone(), x["status"].clone(), x["message"].clone()))
                .collect()
        };
        if gist(&ns) != gist(&updated) {
            // A failed condition update is retried with the next pass.
            let _ = ctx
                .client
                .update(&format!("{ns_path}/status"), &updated)
                .await;
        }
        // Check again when the remaining content's grace periods should be over.
        return Ok(Some(Duration::from_secs(wait.clamp(1, 30) as u64)));
    }
    let fins: Vec<Value> = util::array(&ns["spec"]["finalizers"])
        .into_iter()
        .filter(|f| f != FINALIZER)
        .collect();
    updated["spec"]["finalizers"] = json!(fins);
    match ctx
        .client
        .update(&format!("{ns_path}/finalize"), &updated)
        .await
    {
        Ok(_) => Ok(None),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}
