//! Watches: `?watch=true` on lists, served from an etcd watch (with previous values) on the
//! resource's prefix, with kube-apiserver's resourceVersion semantics
//! (https://kubernetes.io/docs/reference/using-api/api-concepts/#semantics-for-watch):
//! unset or `0` first sends a synthetic ADDED for every current object, then changes; an exact
//! resourceVersion sends changes after it; a compacted one is `410 Expired` ("too old resource
//! version"). Selectors are applied to old and new state so objects moving into or out of a selector
//! are reported as ADDED or DELETED (apiserver/pkg/storage/etcd3/watcher.go `transform`). Bookmarks are
//! sent only with `allowWatchBookmarks=true`. The stream stays open until the client goes away or
//! `timeoutSeconds` passes; each event is one JSON line (`{"type":…,"object":…}`), Table-wrapped when
//! the client asked for Tables.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::Response;
use hyper::body::Frame;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::http::{Body, Want};
use super::resources::ResourceDef;
use super::rest::{Selectors, present};
use super::server::Api;
use super::status::ApiError;
use super::store::decode;
use super::tables::{self, IncludeObject};
use crate::etcd::{RangeOptions, WatchEvent, WatchMessage};

/// A response body fed by a channel; an error item breaks the connection (hyper abandons a body
/// that fails, so the client sees the chunked stream cut short, as on a connection reset).
pub struct ChannelBody(pub mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| b.map(Frame::data)))
    }
}

/// A streaming response with `content-type`.
pub fn streaming(
    content_type: &str,
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> Response<Body> {
    Response::builder()
        .status(200)
        .header("content-type", content_type)
        .header("cache-control", "no-cache, private")
        .body(ChannelBody(rx).boxed())
        .expect("valid response")
}

fn encode_event(
    res: &ResourceDef,
    typ: &str,
    obj: Value,
    want: Want,
    include: IncludeObject,
) -> Bytes {
    let obj = if typ == "ERROR" || typ == "BOOKMARK" {
        obj
    } else {
        present(res, obj)
    };
    let object = match want {
        Want::Table(v) if typ != "BOOKMARK" && typ != "ERROR" => {
            let rv = obj["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            tables::table(res, &[obj], &rv, include, v)
        }
        Want::Metadata(v) if typ != "BOOKMARK" && typ != "ERROR" => {
            tables::partial_metadata(&obj, v)
        }
        _ => obj,
    };
    let mut line = serde_json::to_vec(&json!({"type": typ, "object": object})).expect("JSON");
    line.push(b'\n');
    Bytes::from(line)
}

/// Serves a watch request.
///
/// # Errors
/// [`ApiError::Expired`] for a compacted resourceVersion, BadRequest for bad parameters.
pub async fn serve(
    api: Arc<Api>,
    res: &'static ResourceDef,
    ns: Option<String>,
    q: HashMap<String, String>,
    want: Want,
) -> Result<Response<Body>, ApiError> {
    let sel = Selectors::from_query(res, &q)?;
    let include = IncludeObject::from_query(q.get("includeObject").map(String::as_str));
    let bookmarks = q
        .get("allowWatchBookmarks")
        .is_some_and(|v| v == "true" || v == "1");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|t| *t > 0)
        .map(Duration::from_secs);
    let rv_param = q.get("resourceVersion").cloned().unwrap_or_default();
    let prefix = res.prefix(ns.as_deref());
    let mut initial = vec![];
    let start = if rv_param.is_empty() || rv_param == "0" {
        let (items, rev) = api.store.list(res, ns.as_deref(), 0).await?;
        initial = items.into_iter().filter(|o| sel.matches(res, o)).collect();
        rev + 1
    } else {
        let n: i64 = rv_param
            .parse()
            .map_err(|_| ApiError::BadRequest(format!("invalid resource version: {rv_param}")))?;
        // A compacted start is refused before the stream begins, as the watch cache does.
        if n > 0 {
            match api
                .store
                .etcd
                .range(
                    &prefix,
                    &RangeOptions {
                        prefix: true,
                        limit: 1,
                        keys_only: true,
                        revision: n,
                        ..Default::default()
                    },
                )
                .await
            {
                Err(crate::etcd::EtcdError::Compacted { .. }) => {
                    let current = api.store.revision().await.unwrap_or(n);
                    return Err(ApiError::Expired {
                        requested: n,
                        current,
                    });
                }
                Err(crate::etcd::EtcdError::Server { message, .. })
                    if message.contains("future revision") => {}
                Err(e) => return Err(super::store::storage(e)),
                Ok(_) => {}
            }
        }
        n + 1
    };
    let mut w = api
        .store
        .etcd
        .watch(&prefix, true, start)
        .await
        .map_err(super::store::storage)?;
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let ns_depth = if res.namespaced && ns.is_none() { 1 } else { 0 };
    let mut faults = api.faults.subscribe();
    let drops_at_start = faults.borrow_and_update().drop_watches;
    let etcd = api.store.etcd.clone();
    tokio::spawn(async move {
        let send = |b: Bytes| tx.send(Ok(b));
        for obj in initial {
            if send(encode_event(res, "ADDED", obj, want, include))
                .await
                .is_err()
            {
                return;
            }
        }
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        // The revision to resume from if etcd's stream breaks (etcd's client re-creates a watch
        // from the next revision after the last one it delivered, clientv3 watcher.go).
        let mut next_rev = start;
        let mut faults_live = true;
        loop {
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, w.next()).await.ok(),
                    None => Some(w.next().await),
                }
            };
            let msg = tokio::select! {
                m = next => m,
                _ = tx.closed() => return,
                changed = faults.changed(), if faults_live => {
                    faults_live = changed.is_ok();
                    // labsim fault drop-watches: break the connection, as a reset would.
                    if faults_live && faults.borrow_and_update().drop_watches > drops_at_start {
                        let _ = tx
                            .send(Err(std::io::Error::new(
                                std::io::ErrorKind::ConnectionReset,
                                "labsim fault drop-watches",
                            )))
                            .await;
                        return;
                    }
                    continue;
                }
            };
            let Some(msg) = msg else { return };
            let msg = match msg {
                Some(m) => m,
                None => WatchMessage::Failed("watch stream ended".into()),
            };
            match msg {
                WatchMessage::Events { events, .. } => {
                    for ev in events {
                        let (kv, prev, deleted) = match ev {
                            WatchEvent::Put { kv, prev } => (kv, prev, false),
                            WatchEvent::Delete { kv, prev } => (kv, prev, true),
                        };
                        next_rev = next_rev.max(kv.mod_revision + 1);
                        if kv.key[prefix.len().min(kv.key.len())..]
                            .matches('/')
                            .count()
                            != ns_depth
                        {
                            continue;
                        }
                        let old = prev
                            .as_ref()
                            .and_then(|p| decode(res, p, p.mod_revision).ok());
                        let old_match = old.as_ref().is_some_and(|o| sel.matches(res, o));
                        let line = if deleted {
                            let Some(mut o) = old.filter(|_| old_match) else {
                                continue;
                            };
                            o["metadata"]["resourceVersion"] = json!(kv.mod_revision.to_string());
                            encode_event(res, "DELETED", o, want, include)
                        } else {
                            let Ok(new) = decode(res, &kv, kv.mod_revision) else {
                                continue;
                            };
                            let new_match = sel.matches(res, &new);
                            match (old_match, new_match) {
                                (_, true) if old.is_none() => {
                                    encode_event(res, "ADDED", new, want, include)
                                }
                                (true, true) => encode_event(res, "MODIFIED", new, want, include),
                                (false, true) => encode_event(res, "ADDED", new, want, include),
                                (true, false) => encode_event(res, "DELETED", new, want, include),
                                (false, false) => continue,
                            }
                        };
                        if send(line).await.is_err() {
                            return;
                        }
                    }
                }
                WatchMessage::Progress(rev) => {
                    next_rev = next_rev.max(rev + 1);
                    if bookmarks {
                        let b = json!({"kind": res.kind, "apiVersion": res.group_version(), "metadata": {"resourceVersion": rev.to_string()}});
                        let mut line =
                            serde_json::to_vec(&json!({"type": "BOOKMARK", "object": b}))
                                .expect("JSON");
                        line.push(b'\n');
                        if send(Bytes::from(line)).await.is_err() {
                            return;
                        }
                    }
                }
                WatchMessage::Compacted(c) => {
                    let e = ApiError::Expired {
                        requested: start - 1,
                        current: c,
                    };
                    let _ = send(encode_event(res, "ERROR", e.status(), Want::Json, include)).await;
                    return;
                }
                WatchMessage::Failed(_) => {
                    // etcd went away (a restart): keep the client's watch and re-create etcd's
                    // from the next revision once etcd answers again, as the etcd client does
                    // for kube-apiserver; the client's own timeout still ends it.
                    let mut backoff = Duration::from_millis(100);
                    loop {
                        let wait = tokio::time::sleep(backoff);
                        tokio::select! {
                            _ = wait => {}
                            _ = tx.closed() => return,
                        }
                        if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                            return;
                        }
                        match etcd.watch(&prefix, true, next_rev).await {
                            Ok(nw) => {
                                w = nw;
                                break;
                            }
                            Err(_) => backoff = (backoff * 2).min(Duration::from_secs(1)),
                        }
                    }
                }
            }
        }
    });
    Ok(streaming("application/json", rx))
}
