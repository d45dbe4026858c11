//! Bootstrap token controllers (pkg/controller/bootstrap):
//!
//! - **bootstrapsigner** (bootstrapsigner.go): the `kube-public/cluster-info` ConfigMap gets a
//!   detached JWS `jws-kubeconfig-<token-id>` of its `kubeconfig` for every valid bootstrap token
//!   Secret with `usage-bootstrap-signing: "true"`; signatures of tokens that are gone or expired are
//!   removed. `kubeadm join` verifies these.
//! - **tokencleaner** (tokencleaner.go): bootstrap token Secrets whose `expiration` has passed are
//!   deleted (with a UID precondition).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::{Map, Value, json};

use super::informers::Informer;
use super::queue::WorkQueue;
use super::{Ctx, SyncError, feed, klog, util, work};
use crate::client::{Change, path};

/// The Secret type of bootstrap tokens.
pub const TOKEN_SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";
/// The prefix of signature keys in cluster-info.
pub const JWS_PREFIX: &str = "jws-kubeconfig-";

fn data_string(secret: &Value, key: &str) -> Option<String> {
    let b = secret["data"][key].as_str()?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b).ok()?;
    String::from_utf8(raw).ok()
}

/// When a token Secret expires (`expiration`), if it says.
pub fn expiration(secret: &Value) -> Option<jiff::Timestamp> {
    data_string(secret, "expiration").and_then(|e| e.parse().ok())
}

/// A bootstrap token Secret's `(id, secret)` when it may sign cluster-info
/// (bootstrapsigner.go `getTokens` with cluster-bootstrap `validateSecretForSigning`): the right
/// type and name, well-formed id and secret, not expired, `usage-bootstrap-signing: "true"`.
pub fn signing_token(secret: &Value, now: jiff::Timestamp) -> Option<(String, String)> {
    if secret["type"] != TOKEN_SECRET_TYPE {
        return None;
    }
    let id = data_string(secret, "token-id")?;
    let value = data_string(secret, "token-secret")?;
    let id_ok = id.len() == 6
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let secret_ok = value.len() == 16
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !id_ok || !secret_ok || util::name(secret) != format!("bootstrap-token-{id}") {
        return None;
    }
    if expiration(secret).is_some_and(|e| e <= now) {
        return None;
    }
    if data_string(secret, "usage-bootstrap-signing").as_deref() != Some("true") {
        return None;
    }
    Some((id, value))
}

/// The new `data` of cluster-info for the given tokens, and whether it differs (bootstrapsigner.go
/// `signConfigMap`): every old signature is dropped, one per token is computed.
pub fn signed_data(
    data: &Map<String, Value>,
    tokens: &[(String, String)],
) -> Option<Map<String, Value>> {
    let content = data.get("kubeconfig")?.as_str()?.to_string();
    let mut out: Map<String, Value> = data
        .iter()
        .filter(|(k, _)| !k.starts_with(JWS_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (id, secret) in tokens {
        let sig = crate::pki::jwt::bootstrap_detached_signature(&content, id, secret);
        out.insert(format!("{JWS_PREFIX}{id}"), json!(sig));
    }
    (out != *data).then_some(out)
}

/// Runs the signer.
pub async fn run_signer(ctx: Ctx) {
    let configmaps = ctx.informers.get("configmaps");
    let secrets = ctx.informers.get("secrets");
    let q = WorkQueue::new();
    const KEY: &str = "kube-public/cluster-info";
    feed(
        &configmaps,
        q.clone(),
        |c| match super::informers::changed_object(c) {
            Some(o) if util::key(o) == KEY => vec![KEY.to_string()],
            _ => vec![],
        },
        || vec![KEY.to_string()],
    );
    feed(
        &secrets,
        q.clone(),
        |c| match super::informers::changed_object(c) {
            Some(o) if o["type"] == TOKEN_SECRET_TYPE => vec![KEY.to_string()],
            _ => vec![],
        },
        || vec![KEY.to_string()],
    );
    let ctx = Arc::new(ctx);
    work("bootstrapsigner.go", q, |_| {
        let (ctx, configmaps, secrets) = (ctx.clone(), configmaps.clone(), secrets.clone());
        async move { sign(&ctx, &configmaps, &secrets).await }
    })
    .await;
}

async fn sign(
    ctx: &Ctx,
    configmaps: &Informer,
    secrets: &Informer,
) -> Result<Option<Duration>, SyncError> {
    let Some(cm) = configmaps.get("kube-public/cluster-info") else {
        return Ok(None);
    };
    let now = util::now();
    let mut tokens: Vec<(String, String)> = secrets
        .list_namespace("kube-system")
        .iter()
        .filter_map(|s| signing_token(s, now))
        .collect();
    tokens.sort();
    let data = cm["data"].as_object().cloned().unwrap_or_default();
    let Some(new_data) = signed_data(&data, &tokens) else {
        return Ok(None);
    };
    let mut updated = cm.clone();
    updated["data"] = Value::Object(new_data);
    ctx.client
        .update(
            &path(
                "",
                "v1",
                "configmaps",
                Some("kube-public"),
                Some("cluster-info"),
            ),
            &updated,
        )
        .await?;
    // Re-sign when the next token expires.
    let next_expiry = secrets
        .list_namespace("kube-system")
        .iter()
        .filter_map(expiration)
        .filter(|e| *e > now)
        .min();
    Ok(next_expiry.map(|e| Duration::from_secs_f64(e.duration_since(now).as_secs_f64().max(0.0))))
}

/// Runs the token cleaner.
pub async fn run_cleaner(ctx: Ctx) {
    let secrets = ctx.informers.get("secrets");
    let q = WorkQueue::new();
    let all = secrets.clone();
    feed(
        &secrets,
        q.clone(),
        |c| match c {
            Change::Applied(o) if o["type"] == TOKEN_SECRET_TYPE => vec![util::key(o)],
            _ => vec![],
        },
        move || {
            all.list()
                .iter()
                .filter(|s| s["type"] == TOKEN_SECRET_TYPE)
                .map(util::key)
                .collect()
        },
    );
    let ctx = Arc::new(ctx);
    work("tokencleaner.go", q, |key| {
        let (ctx, secrets) = (ctx.clone(), secrets.clone());
        async move { clean(&ctx, &secrets, &key).await }
    })
    .await;
}

async fn clean(ctx: &Ctx, secrets: &Informer, key: &str) -> Result<Option<Duration>, SyncError> {
    let Some(secret) = secrets.get(key) else {
        return Ok(None);
    };
    let Some(exp) = expiration(&secret) else {
        return Ok(None);
    };
    let now = util::now();
    if exp > now {
        return Ok(Some(Duration::from_secs_f64(
            exp.duration_since(now).as_secs_f64() + 0.1,
        )));
    }
    klog(
        'I',
        "tokencleaner.go",
        &format!("\"Deleting expired secret\" secret=\"{key}\""),
    );
    let (ns, name) = util::split_key(key);
    match ctx
        .client
        .delete(
            &path("", "v1", "secrets", Some(ns), Some(name)),
            &json!({"preconditions": {"uid": util::uid(&secret)}}),
        )
        .await
    {
        Ok(_) => Ok(None),
        Err(e) if e.is_not_found() || e.is_conflict() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn token(id: &str, secret: &str, exp: &str, signing: bool) -> Value {
        json!({"type": TOKEN_SECRET_TYPE, "metadata": {"name": format!("bootstrap-token-{id}"), "namespace": "kube-system"},
               "data": {"token-id": b64(id), "token-secret": b64(secret), "expiration": b64(exp),
                        "usage-bootstrap-signing": b64(if signing { "true" } else { "false" })}})
    }

    #[test]
    fn signs_with_valid_signing_tokens_only() {
        let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let ok = token("abcdef", "0123456789abcdef", "2026-01-02T00:00:00Z", true);
        let expired = token("zzzzzz", "0123456789abcdef", "2025-12-31T00:00:00Z", true);
        let auth_only = token("yyyyyy", "0123456789abcdef", "2026-01-02T00:00:00Z", false);
        assert_eq!(
            signing_token(&ok, now),
            Some(("abcdef".into(), "0123456789abcdef".into()))
        );
        assert!(signing_token(&expired, now).is_none());
        assert!(signing_token(&auth_only, now).is_none());
        let mut data = Map::new();
        data.insert("kubeconfig".into(), json!("apiVersion: v1\n"));
        data.insert("jws-kubeconfig-zzzzzz".into(), json!("stale"));
        let toks = vec![("abcdef".to_string(), "0123456789abcdef".to_string())];
        let out = signed_data(&data, &toks).unwrap();
        assert!(!out.contains_key("jws-kubeconfig-zzzzzz"));
        let sig = out["jws-kubeconfig-abcdef"].as_str().unwrap();
        assert!(crate::pki::jwt::bootstrap_signature_valid(
            sig,
            "apiVersion: v1\n",
            "abcdef",
            "0123456789abcdef"
        ));
        assert!(
            signed_data(&out, &toks).is_none(),
            "already signed: no update"
        );
    }
}
