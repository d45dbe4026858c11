//! Shared informers (client-go SharedInformerFactory): one reflector per collection for the whole
//! component, whose cache every controller reads and whose changes every controller may subscribe
//! to at any time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::broadcast;

use crate::client::{Change, Client, ListParams, Reflector, ReflectorStore, path};

/// One shared informer: a cache and a change feed.
#[derive(Debug, Clone)]
pub struct Informer {
    /// The cache.
    pub store: ReflectorStore,
    changes: broadcast::Sender<Change>,
    api_version: String,
    kind: &'static str,
}

impl Informer {
    /// Subscribes to changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Every cached object, with `apiVersion` and `kind` set.
    pub fn list(&self) -> Vec<Value> {
        self.store
            .list()
            .into_iter()
            .map(|o| super::util::typed(o, &self.api_version, self.kind))
            .collect()
    }

    /// One cached object by key (`ns/name` or `name`), with `apiVersion` and `kind` set.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.store
            .get(key)
            .map(|o| super::util::typed(o, &self.api_version, self.kind))
    }

    /// Cached objects of one namespace.
    pub fn list_namespace(&self, ns: &str) -> Vec<Value> {
        self.list()
            .into_iter()
            .filter(|o| super::util::namespace(o) == ns)
            .collect()
    }

    /// Waits until the first list has filled the cache.
    pub async fn wait_ready(&self) {
        self.store.wait_ready().await;
    }
}

/// Waits until every informer's first list has filled its cache (client-go
/// `cache.WaitForNamedCacheSync`, which every controller's `Run` calls before starting workers).
pub async fn wait_synced(informers: &[&Informer]) {
    for informer in informers {
        informer.wait_ready().await;
    }
}

/// The resources the controllers and the scheduler watch: (group, version, plural, kind).
pub const RESOURCES: &[(&str, &str, &str, &str)] = &[
    ("", "v1", "pods", "Pod"),
    ("", "v1", "nodes", "Node"),
    ("", "v1", "namespaces", "Namespace"),
    ("", "v1", "services", "Service"),
    ("", "v1", "endpoints", "Endpoints"),
    ("", "v1", "serviceaccounts", "ServiceAccount"),
    ("", "v1", "configmaps", "ConfigMap"),
    ("", "v1", "secrets", "Secret"),
    ("apps", "v1", "deployments", "Deployment"),
    ("apps", "v1", "replicasets", "ReplicaSet"),
    ("apps", "v1", "daemonsets", "DaemonSet"),
    ("apps", "v1", "controllerrevisions", "ControllerRevision"),
    ("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
    ("coordination.k8s.io", "v1", "leases", "Lease"),
    (
        "certificates.k8s.io",
        "v1",
        "certificatesigningrequests",
        "CertificateSigningRequest",
    ),
    (
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
    ),
];

/// A factory of shared informers, started on first use.
#[derive(Debug, Clone)]
pub struct Informers {
    client: Client,
    started: Arc<Mutex<HashMap<&'static str, Informer>>>,
}

impl Informers {
    /// A factory using `client`.
    pub fn new(client: Client) -> Informers {
        Informers {
            client,
            started: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The shared informer of `plural` (one of [`RESOURCES`]), started if needed.
    ///
    /// # Panics
    /// When `plural` is not one of [`RESOURCES`] (a programming error).
    pub fn get(&self, plural: &str) -> Informer {
        let &(group, version, plural, kind) = RESOURCES
            .iter()
            .find(|r| r.2 == plural)
            .unwrap_or_else(|| panic!("no shared informer for {plural}"));
        let mut started = self.started.lock().expect("informers lock");
        if let Some(i) = started.get(plural) {
            return i.clone();
        }
        let reflector = Reflector::new(
            self.client.clone(),
            path(group, version, plural, None, None),
            ListParams::default(),
        );
        let store = reflector.store();
        let mut rx = reflector.subscribe();
        let (tx, _) = broadcast::channel(4096);
        let fan = tx.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(c) => {
                        let _ = fan.send(c);
                    }
                    // Receivers that lag see `Restarted` and resync from the cache.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let _ = fan.send(Change::Restarted);
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        tokio::spawn(reflector.run());
        let api_version = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        let inf = Informer {
            store,
            changes: tx,
            api_version,
            kind,
        };
        started.insert(plural, inf.clone());
        inf
    }
}

/// Receives the next change, mapping a lagged receiver to [`Change::Restarted`]; `None` when the
/// informer is gone.
pub async fn next_change(rx: &mut broadcast::Receiver<Change>) -> Option<Change> {
    match rx.recv().await {
        Ok(c) => Some(c),
        Err(broadcast::error::RecvError::Lagged(_)) => Some(Change::Restarted),
        Err(broadcast::error::RecvError::Closed) => None,
    }
}

/// The object of a change (`None` for [`Change::Restarted`]).
pub fn changed_object(c: &Change) -> Option<&Value> {
    match c {
        Change::Applied(o) | Change::Deleted(o) => Some(o),
        Change::Restarted => None,
    }
}
