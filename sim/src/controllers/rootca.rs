//! The root CA certificate publisher (pkg/controller/certificates/rootcacertpublisher/publisher.go):
//! a `kube-root-ca.crt` ConfigMap with the cluster's CA bundle in every namespace, kept equal to
//! `--root-ca-file`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::informers::Informer;
use super::{Ctx, SyncError, util};
use crate::client::{Change, path};

/// The ConfigMap's name (`RootCACertConfigMapName`).
pub const CONFIGMAP: &str = "kube-root-ca.crt";
/// The annotation key describing it.
pub const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";
/// The description (publisher.go `Description`).
pub const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// Runs the publisher with the CA bundle `ca`.
pub async fn run(ctx: Ctx, ca: String) {
    let ctx = Arc::new(ctx);
    let ca = Arc::new(ca);
    let owned = |c: &Change| match super::informers::changed_object(c) {
        Some(o) if util::name(o) == CONFIGMAP => vec![util::namespace(o).to_string()],
        _ => vec![],
    };
    super::run_per_namespace(
        &ctx.clone(),
        "configmaps",
        owned,
        "publisher.go",
        |namespaces, configmaps, ns| {
            let (ctx, ca) = (ctx.clone(), ca.clone());
            async move { sync(&ctx, &namespaces, &configmaps, &ca, &ns).await }
        },
    )
    .await;
}

async fn sync(
    ctx: &Ctx,
    namespaces: &Informer,
    configmaps: &Informer,
    ca: &str,
    ns: &str,
) -> Result<Option<Duration>, SyncError> {
    let Some(n) = namespaces.get(ns) else {
        return Ok(None);
    };
    if util::is_being_deleted(&n) {
        return Ok(None);
    }
    let data = json!({"ca.crt": ca});
    match configmaps.get(&format!("{ns}/{CONFIGMAP}")) {
        None => {
            let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": CONFIGMAP, "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION}},
                "data": data});
            match ctx
                .client
                .create(&path("", "v1", "configmaps", Some(ns), None), &body)
                .await
            {
                Ok(_) => Ok(None),
                // Don't retry when the namespace is gone or terminating.
                Err(e) if e.is_not_found() || e.code() == Some(403) || e.is_already_exists() => {
                    Ok(None)
                }
                Err(e) => Err(e.into()),
            }
        }
        Some(cm) => {
            let described = cm["metadata"]["annotations"][DESCRIPTION_ANNOTATION]
                .as_str()
                .is_some_and(|d| !d.is_empty());
            if cm["data"] == data && described {
                return Ok(None);
            }
            let mut cm = cm;
            cm["data"] = data;
            cm["metadata"]["annotations"][DESCRIPTION_ANNOTATION] = json!(DESCRIPTION);
            ctx.client
                .update(
                    &path("", "v1", "configmaps", Some(ns), Some(CONFIGMAP)),
                    &cm,
                )
                .await?;
            Ok(None)
        }
    }
}
