//! A reflector (client-go tools/cache/reflector.go): lists a collection, then watches it from the
//! list's resourceVersion, keeping a local cache and announcing every change.
//!
//! - Watches ask for bookmarks and resume from the last resourceVersion seen.
//! - A 410 Gone/Expired (compacted resourceVersion) makes it relist; the relist's differences are
//!   announced as changes, then [`Change::Restarted`].
//! - When the server goes away, it retries with exponential backoff (200 ms doubling to 5 s), first
//!   re-watching from the last resourceVersion.
//!
//! ```no_run
//! # async fn demo(client: labsim::client::Client) {
//! use labsim::client::{ListParams, Reflector, Change, path};
//! let r = Reflector::new(client, path("", "v1", "nodes", None, None), ListParams::default());
//! let store = r.store();
//! let mut changes = r.subscribe();
//! tokio::spawn(r.run());
//! store.wait_ready().await;
//! while let Ok(change) = changes.recv().await {
//!     if let Change::Applied(node) = change {
//!         println!("{} changed; {} nodes cached", node["metadata"]["name"], store.list().len());
//!     }
//! }
//! # }
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{broadcast, watch};

use super::{Client, ListParams};

/// A change of the cache.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// An object was added or modified (its new state).
    Applied(Value),
    /// An object was deleted (its last state).
    Deleted(Value),
    /// A (re)list finished: the cache now mirrors the server.
    Restarted,
}

/// The cache key of an object: `namespace/name` or `name`.
pub fn key_of(obj: &Value) -> String {
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    match obj["metadata"]["namespace"].as_str() {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_string(),
    }
}

/// A read handle on a reflector's cache.
#[derive(Debug, Clone)]
pub struct ReflectorStore {
    inner: Arc<RwLock<BTreeMap<String, Value>>>,
    ready: watch::Receiver<bool>,
}

impl ReflectorStore {
    /// One object by key (`ns/name` or `name`).
    pub fn get(&self, key: &str) -> Option<Value> {
        self.inner.read().expect("cache lock").get(key).cloned()
    }

    /// Every cached object, by key order.
    pub fn list(&self) -> Vec<Value> {
        self.inner
            .read()
            .expect("cache lock")
            .values()
            .cloned()
            .collect()
    }

    /// Waits until the first list has filled the cache.
    pub async fn wait_ready(&self) {
        let mut r = self.ready.clone();
        let _ = r.wait_for(|v| *v).await;
    }
}

/// Lists and watches one collection into a cache.
#[derive(Debug)]
pub struct Reflector {
    client: Client,
    path: String,
    params: ListParams,
    cache: Arc<RwLock<BTreeMap<String, Value>>>,
    ready: watch::Sender<bool>,
    changes: broadcast::Sender<Change>,
    resource_version: String,
}

fn rv(obj: &Value) -> String {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

impl Reflector {
    /// A reflector over the collection at `path` (see [`super::path`]) with selectors in `params`.
    pub fn new(client: Client, path: String, params: ListParams) -> Reflector {
        let (ready, _) = watch::channel(false);
        let (changes, _) = broadcast::channel(1024);
        Reflector {
            client,
            path,
            params,
            cache: Arc::new(RwLock::new(BTreeMap::new())),
            ready,
            changes,
            resource_version: String::new(),
        }
    }

    /// A handle on the cache.
    pub fn store(&self) -> ReflectorStore {
        ReflectorStore {
            inner: self.cache.clone(),
            ready: self.ready.subscribe(),
        }
    }

    /// Change notifications (lagging receivers miss changes, then see the cache as it is).
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// The last resourceVersion seen.
    pub fn resource_version(&self) -> &str {
        &self.resource_version
    }

    async fn relist(&mut self) -> Result<(), super::ClientError> {
        let list = self.client.list(&self.path, &self.params).await?;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        let mut fresh = BTreeMap::new();
        for item in items {
            fresh.insert(key_of(&item), item);
        }
        let mut announce = vec![];
        {
            let mut cache = self.cache.write().expect("cache lock");
            for (k, old) in cache.iter() {
                if !fresh.contains_key(k) {
                    announce.push(Change::Deleted(old.clone()));
                }
            }
            for (k, new) in &fresh {
                if cache.get(k).is_none_or(|old| rv(old) != rv(new)) {
                    announce.push(Change::Applied(new.clone()));
                }
            }
            *cache = fresh;
        }
        self.resource_version = list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        for c in announce {
            let _ = self.changes.send(c);
        }
        let _ = self.changes.send(Change::Restarted);
        let _ = self.ready.send(true);
        Ok(())
    }

    /// Runs forever: list, watch, resume, relist on 410, back off while the server is away.
    pub async fn run(mut self) {
        let mut backoff = Duration::from_millis(200);
        let max = Duration::from_secs(5);
        'relist: loop {
            if self.relist().await.is_err() {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(max);
                continue;
            }
            backoff = Duration::from_millis(200);
            loop {
                let params = ListParams {
                    bookmarks: true,
                    timeout_seconds: Some(300),
                    ..self.params.clone()
                };
                let mut stream = match self
                    .client
                    .watch(&self.path, &params, &self.resource_version)
                    .await
                {
                    Ok(s) => s,
                    Err(e) if e.is_gone() => continue 'relist,
                    Err(_) => {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(max);
                        continue;
                    }
                };
                backoff = Duration::from_millis(200);
                while let Some(ev) = stream.next().await {
                    match ev {
                        Ok(ev) => {
                            let obj = ev.object;
                            let new_rv = rv(&obj);
                            if !new_rv.is_empty() {
                                self.resource_version = new_rv;
                            }
                            match ev.kind.as_str() {
                                "ADDED" | "MODIFIED" => {
                                    self.cache
                                        .write()
                                        .expect("cache lock")
                                        .insert(key_of(&obj), obj.clone());
                                    let _ = self.changes.send(Change::Applied(obj));
                                }
                                "DELETED" => {
                                    self.cache
                                        .write()
                                        .expect("cache lock")
                                        .remove(&key_of(&obj));
                                    let _ = self.changes.send(Change::Deleted(obj));
                                }
                                _ => {}
                            }
                        }
                        Err(e) if e.is_gone() => continue 'relist,
                        Err(_) => break,
                    }
                }
            }
        }
    }
}
