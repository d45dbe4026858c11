//! Objects in etcd: JSON under Kubernetes' key layout, resourceVersion = etcd mod revision, list
//! resourceVersion = etcd header revision, optimistic concurrency through etcd transactions
//! (apiserver/pkg/storage/etcd3/store.go: Create uses a create-revision-0 compare, GuaranteedUpdate
//! and Delete compare the mod revision). resourceVersion is not stored in the value (the store clears
//! it before writing, `APIObjectVersioner.PrepareObjectForStorage`).

use serde_json::{Value, json};

use super::resources::ResourceDef;
use super::status::ApiError;
use crate::etcd::{Etcd, EtcdError, KeyValue, RangeOptions, TxnOutcome};

/// The object store.
#[derive(Debug, Clone)]
pub struct Store {
    /// The etcd client.
    pub etcd: Etcd,
    /// `--event-ttl` in seconds: events are written with an etcd lease of this length.
    pub event_ttl_secs: i64,
    event_lease: std::sync::Arc<tokio::sync::Mutex<Option<(i64, std::time::Instant)>>>,
}

/// kube-apiserver reuses one lease for all keys written within `--lease-reuse-duration-seconds`
/// (60 s) and lengthens its TTL by that much (apiserver/pkg/storage/etcd3/lease_manager.go).
const LEASE_REUSE_SECS: u64 = 60;

/// An etcd error as kube-apiserver reports it. etcd being unreachable is the gRPC `Unavailable`
/// error of etcd's client, which kube-apiserver passes on as is: a 500 Status without a reason
/// (responsewriters `ErrorToAPIStatus` for errors that are not API statuses), so kubectl prints
/// `Error from server: rpc error: code = Unavailable desc = …`.
pub fn storage(e: EtcdError) -> ApiError {
    use crate::client::transport::TransportError;
    match e {
        EtcdError::Compacted {
            requested,
            compact_revision,
        } => ApiError::Expired {
            requested,
            current: compact_revision,
        },
        EtcdError::Transport {
            source: TransportError::Connect { addr, source },
            ..
        } => ApiError::Unavailable(format!(
            "rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp {addr}: connect: {}\"",
            crate::runtime::client::go_errno_text(&source)
        )),
        EtcdError::Transport {
            source: TransportError::Http { .. },
            ..
        } => ApiError::Unavailable(
            "rpc error: code = Unavailable desc = error reading from server: EOF".into(),
        ),
        EtcdError::Transport {
            source: TransportError::Tls { source, .. },
            ..
        } => ApiError::Unavailable(format!(
            "rpc error: code = Unavailable desc = connection error: desc = \"transport: authentication handshake failed: {source}\""
        )),
        other => ApiError::Storage(other.to_string()),
    }
}

/// Sets `apiVersion`, `kind` and `metadata.resourceVersion` on a stored object.
pub fn decorate(res: &ResourceDef, obj: &mut Value, rv: i64) {
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), json!(res.group_version()));
        m.insert("kind".into(), json!(res.kind));
    }
    if obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
    }
}

/// Decodes a stored value.
///
/// # Errors
/// [`ApiError::Internal`] when the value is not JSON (e.g. written by something else).
pub fn decode(res: &ResourceDef, kv: &KeyValue, rv: i64) -> Result<Value, ApiError> {
    let mut obj: Value = serde_json::from_slice(&kv.value).map_err(|e| {
        ApiError::Internal(format!(
            "object at {} is not JSON ({e}); labsim stores JSON (--storage-media-type=application/json)",
            kv.key
        ))
    })?;
    decorate(res, &mut obj, rv);
    Ok(obj)
}

fn encode(obj: &Value) -> Vec<u8> {
    let mut o = obj.clone();
    if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    serde_json::to_vec(&o).expect("JSON values serialise")
}

/// The resourceVersion of an object as a number (0 when absent or malformed).
pub fn rv_of(obj: &Value) -> i64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

impl Store {
    /// A store on `etcd` with the event TTL of `--event-ttl`.
    pub fn new(etcd: Etcd, event_ttl_secs: i64) -> Store {
        Store {
            etcd,
            event_ttl_secs,
            event_lease: Default::default(),
        }
    }

    /// The lease events are written with (events expire after `--event-ttl`, default 1h).
    async fn lease_for(&self, res: &ResourceDef) -> Result<i64, ApiError> {
        if res.etcd != "events" || self.event_ttl_secs <= 0 {
            return Ok(0);
        }
        let mut cur = self.event_lease.lock().await;
        if let Some((id, at)) = *cur
            && at.elapsed().as_secs() < LEASE_REUSE_SECS
        {
            return Ok(id);
        }
        let id = self
            .etcd
            .lease_grant(self.event_ttl_secs + LEASE_REUSE_SECS as i64)
            .await
            .map_err(storage)?;
        *cur = Some((id, std::time::Instant::now()));
        Ok(id)
    }

    /// Reads one object, None if absent.
    ///
    /// # Errors
    /// [`ApiError`] when etcd fails.
    pub async fn get_opt(
        &self,
        res: &ResourceDef,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, ApiError> {
        let (_, kv) = self.etcd.get(&res.key(ns, name)).await.map_err(storage)?;
        kv.map(|kv| decode(res, &kv, kv.mod_revision)).transpose()
    }

    /// Reads one object.
    ///
    /// # Errors
    /// [`ApiError::NotFound`] when absent.
    pub async fn get(
        &self,
        res: &ResourceDef,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        self.get_opt(res, ns, name)
            .await?
            .ok_or_else(|| ApiError::not_found(res, name))
    }

    /// Lists objects (all namespaces when `ns` is None) at `revision` (0: newest). Returns the
    /// objects and the list's resourceVersion.
    ///
    /// # Errors
    /// [`ApiError::Expired`] when `revision` was compacted.
    pub async fn list(
        &self,
        res: &ResourceDef,
        ns: Option<&str>,
        revision: i64,
    ) -> Result<(Vec<Value>, i64), ApiError> {
        let r = self
            .etcd
            .range(
                &res.prefix(ns),
                &RangeOptions {
                    prefix: true,
                    revision,
                    ..Default::default()
                },
            )
            .await
            .map_err(storage)?;
        let prefix = res.prefix(ns);
        let mut out = vec![];
        for kv in &r.kvs {
            // `/registry/services/specs/` must not pick up deeper keys of other resources; a
            // namespaced resource's keys have exactly ns/name after the prefix.
            let rest = &kv.key[prefix.len()..];
            let depth = rest.matches('/').count();
            let want = if res.namespaced && ns.is_none() { 1 } else { 0 };
            if depth != want {
                continue;
            }
            out.push(decode(res, kv, kv.mod_revision)?);
        }
        Ok((out, r.revision))
    }

    /// One page of a list: up to `limit` objects accepted by `keep`, starting after the key in
    /// `continue_token` (a token of a previous page, pinned to its revision), at `revision` (0:
    /// newest) for a first page. Returns the objects, the list revision, the next token (None at
    /// the end) and the number of keys left when `keep` accepted every object (remainingItemCount).
    ///
    /// # Errors
    /// [`ApiError::BadRequest`] for a malformed token, [`ApiError::Expired`] when its revision was
    /// compacted.
    pub async fn list_page(
        &self,
        res: &ResourceDef,
        ns: Option<&str>,
        revision: i64,
        limit: i64,
        continue_token: Option<&str>,
        keep: &(dyn Fn(&Value) -> bool + Sync),
    ) -> Result<(Vec<Value>, i64, Option<String>, Option<i64>), ApiError> {
        use base64::Engine;
        // apiserver/pkg/storage/continue.go: RawURLEncoding of {"v","rv","start"}.
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let prefix = res.prefix(ns);
        let (mut rev, mut start) = (revision, prefix.clone());
        if let Some(tok) = continue_token {
            let bad = || {
                ApiError::BadRequest("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)".into())
            };
            let v: Value = b64
                .decode(tok)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .ok_or_else(bad)?;
            rev = v["rv"].as_i64().ok_or_else(bad)?;
            start = format!("{prefix}{}", v["start"].as_str().ok_or_else(bad)?);
        }
        let mut out = vec![];
        let mut all_kept = true;
        loop {
            let r = self
                .etcd
                .range(
                    &prefix,
                    &RangeOptions {
                        prefix: true,
                        limit,
                        revision: rev,
                        from_key: Some(start.clone()),
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| match e {
                    EtcdError::Compacted { .. } if continue_token.is_some() => ApiError::Expired {
                        requested: rev,
                        current: rev,
                    },
                    other => storage(other),
                })?;
            if rev == 0 {
                rev = r.revision;
            }
            let want = if res.namespaced && ns.is_none() { 1 } else { 0 };
            let mut last_key = None;
            let mut consumed = 0i64;
            for kv in &r.kvs {
                last_key = Some(kv.key.clone());
                consumed += 1;
                if kv.key[prefix.len()..].matches('/').count() != want {
                    continue;
                }
                let obj = decode(res, kv, kv.mod_revision)?;
                if keep(&obj) {
                    out.push(obj);
                } else {
                    all_kept = false;
                }
                if out.len() as i64 >= limit {
                    break;
                }
            }
            let more_after = match &last_key {
                Some(k) => r.more || r.kvs.last().map(|l| &l.key) != Some(k),
                None => false,
            };
            let Some(k) = last_key else {
                return Ok((out, rev, None, None));
            };
            let next_start = format!("{k}\u{0}");
            if out.len() as i64 >= limit && (more_after || r.more) {
                let token = b64.encode(
                    serde_json::to_vec(&serde_json::json!({"v": "meta.k8s.io/v1", "rv": rev, "start": &next_start[prefix.len()..]}))
                        .expect("JSON"),
                );
                let remaining = if all_kept {
                    Some(r.count - consumed)
                } else {
                    None
                };
                return Ok((out, rev, Some(token), remaining.filter(|n| *n > 0)));
            }
            if !r.more {
                return Ok((out, rev, None, None));
            }
            start = next_start;
        }
    }

    /// Stores a new object; AlreadyExists if the key is taken.
    ///
    /// # Errors
    /// [`ApiError::AlreadyExists`], or storage errors.
    pub async fn create(&self, res: &ResourceDef, mut obj: Value) -> Result<Value, ApiError> {
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let ns = obj["metadata"]["namespace"].as_str().map(str::to_string);
        let key = res.key(ns.as_deref(), &name);
        let lease = self.lease_for(res).await?;
        match self
            .etcd
            .create(&key, &encode(&obj), lease)
            .await
            .map_err(storage)?
        {
            TxnOutcome::Done(rev) => {
                decorate(res, &mut obj, rev);
                Ok(obj)
            }
            TxnOutcome::Failed(_) => Err(ApiError::already_exists(res, &name)),
        }
    }

    /// Replaces an object if it is still at `expected_rv`.
    ///
    /// # Errors
    /// [`ApiError::Conflict`] when it changed, [`ApiError::NotFound`] when it is gone.
    pub async fn update(
        &self,
        res: &ResourceDef,
        mut obj: Value,
        expected_rv: i64,
    ) -> Result<Value, ApiError> {
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let ns = obj["metadata"]["namespace"].as_str().map(str::to_string);
        let key = res.key(ns.as_deref(), &name);
        let lease = self.lease_for(res).await?;
        match self
            .etcd
            .update_with_lease(&key, &encode(&obj), expected_rv, lease)
            .await
            .map_err(storage)?
        {
            TxnOutcome::Done(rev) => {
                decorate(res, &mut obj, rev);
                Ok(obj)
            }
            TxnOutcome::Failed(None) => Err(ApiError::not_found(res, &name)),
            TxnOutcome::Failed(Some(_)) => Err(ApiError::conflict(res, &name)),
        }
    }

    /// Deletes an object if it is still at `expected_rv`; returns the last state with the deletion's
    /// resourceVersion.
    ///
    /// # Errors
    /// [`ApiError::Conflict`] when it changed, [`ApiError::NotFound`] when it is gone.
    pub async fn delete(
        &self,
        res: &ResourceDef,
        mut obj: Value,
        expected_rv: i64,
    ) -> Result<Value, ApiError> {
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let ns = obj["metadata"]["namespace"].as_str().map(str::to_string);
        let key = res.key(ns.as_deref(), &name);
        match self
            .etcd
            .delete_if(&key, expected_rv)
            .await
            .map_err(storage)?
        {
            TxnOutcome::Done(rev) => {
                decorate(res, &mut obj, rev);
                Ok(obj)
            }
            TxnOutcome::Failed(None) => Err(ApiError::not_found(res, &name)),
            TxnOutcome::Failed(Some(_)) => Err(ApiError::conflict(res, &name)),
        }
    }

    /// The current etcd revision.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn revision(&self) -> Result<i64, ApiError> {
        Ok(self.etcd.status().await.map_err(storage)?.revision)
    }
}

/// events.k8s.io/v1 ⇄ core/v1 Event conversion (pkg/apis/events/v1/conversion.go): both are stored
/// as core events.
pub mod events_v1 {
    use serde_json::{Map, Value};

    const PAIRS: &[(&str, &str)] = &[
        ("regarding", "involvedObject"),
        ("note", "message"),
        ("reportingController", "reportingComponent"),
        ("reportingInstance", "reportingInstance"),
        ("deprecatedSource", "source"),
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
        ("deprecatedCount", "count"),
        ("eventTime", "eventTime"),
        ("series", "series"),
        ("action", "action"),
        ("reason", "reason"),
        ("related", "related"),
        ("type", "type"),
        ("metadata", "metadata"),
    ];

    fn convert(v: &Value, from_v1: bool) -> Value {
        let mut out = Map::new();
        for (a, b) in PAIRS {
            let (src, dst) = if from_v1 { (a, b) } else { (b, a) };
            if let Some(x) = v.get(*src) {
                out.insert(dst.to_string(), x.clone());
            }
        }
        Value::Object(out)
    }

    /// events.k8s.io/v1 → core/v1.
    pub fn to_core(v: &Value) -> Value {
        convert(v, true)
    }

    /// core/v1 → events.k8s.io/v1 (apiVersion/kind set by the caller).
    pub fn from_core(v: &Value) -> Value {
        convert(v, false)
    }
}
