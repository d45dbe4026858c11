//! The ServiceAccounts controller (pkg/controller/serviceaccount/serviceaccounts_controller.go):
//! every active namespace gets the `default` ServiceAccount, and gets it back when it is deleted.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{Ctx, SyncError, util};
use crate::client::{Change, path};

/// The accounts every namespace gets (`serviceAccountsToEnsure`).
pub const ENSURED: &[&str] = &["default"];

/// Runs the controller.
pub async fn run(ctx: Ctx) {
    let ctx = Arc::new(ctx);
    // A deleted account brings its namespace back to the queue.
    let owned = |c: &Change| match c {
        Change::Deleted(o) => vec![util::namespace(o).to_string()],
        _ => vec![],
    };
    super::run_per_namespace(
        &ctx.clone(),
        "serviceaccounts",
        owned,
        "serviceaccounts_controller.go",
        |namespaces, accounts, ns| {
            let ctx = ctx.clone();
            async move { sync(&ctx, &namespaces, &accounts, &ns).await }
        },
    )
    .await;
}

async fn sync(
    ctx: &Ctx,
    namespaces: &super::informers::Informer,
    accounts: &super::informers::Informer,
    ns: &str,
) -> Result<Option<Duration>, SyncError> {
    let Some(n) = namespaces.get(ns) else {
        return Ok(None);
    };
    if n["status"]["phase"] != "Active" {
        // Don't create in a namespace being terminated.
        return Ok(None);
    }
    for sa in ENSURED {
        if accounts.get(&format!("{ns}/{sa}")).is_some() {
            continue;
        }
        let body = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa}});
        match ctx
            .client
            .create(&path("", "v1", "serviceaccounts", Some(ns), None), &body)
            .await
        {
            Ok(_) => {}
            Err(e) if e.is_already_exists() || e.is_not_found() => {}
            Err(e) if e.code() == Some(403) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}
