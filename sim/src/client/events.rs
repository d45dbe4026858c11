//! An event recorder like client-go's (tools/record/event.go, events_cache.go): core/v1 Events
//! named `<object>.<hex nanoseconds>`, in the object's namespace (`default` for cluster-scoped
//! objects), with `source`/`reportingComponent` set; a repeat of the same event (same object, type,
//! reason and message) within 10 minutes increments `count` and `lastTimestamp` with a strategic
//! merge patch instead of creating a new Event, which is what `kubectl describe` shows as
//! `(x3 over 5m)`.
//!
//! ```no_run
//! # async fn demo(client: labsim::client::Client, pod: serde_json::Value) {
//! use labsim::client::events::Recorder;
//! let recorder = Recorder::new(client, "kubelet", "minikube-m02");
//! recorder.normal(&pod, "Pulled", "Container image \"podinfo\" already present on machine").await.ok();
//! # }
//! ```

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::{Client, ClientError, PatchType, path};

/// How long a repeated event is folded into the previous one (events_cache.go `maxLruCacheEntries`
/// time window of the correlator: 10 minutes).
const AGGREGATE_WINDOW: Duration = Duration::from_secs(600);

/// Records events for one component instance.
#[derive(Debug)]
pub struct Recorder {
    client: Client,
    component: String,
    host: String,
    seen: Mutex<HashMap<String, (String, String, i64, Instant)>>,
}

fn now_time() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The `ObjectReference` of an object (kind, namespace, name, uid, apiVersion, resourceVersion).
pub fn object_ref(obj: &Value) -> Value {
    let m = &obj["metadata"];
    let mut r = json!({"kind": obj["kind"], "name": m["name"], "uid": m["uid"], "apiVersion": obj["apiVersion"], "resourceVersion": m["resourceVersion"]});
    if let Some(ns) = m["namespace"].as_str() {
        r["namespace"] = json!(ns);
    }
    r
}

impl Recorder {
    /// A recorder reporting as `component` on `host` (the node name for kubelets; empty for
    /// controllers).
    pub fn new(client: Client, component: &str, host: &str) -> Recorder {
        Recorder {
            client,
            component: component.to_string(),
            host: host.to_string(),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// A `Normal` event.
    ///
    /// # Errors
    /// [`ClientError`] when the API refuses it.
    pub async fn normal(
        &self,
        obj: &Value,
        reason: &str,
        message: &str,
    ) -> Result<Value, ClientError> {
        self.event(obj, "Normal", reason, message, None).await
    }

    /// A `Warning` event.
    ///
    /// # Errors
    /// [`ClientError`] when the API refuses it.
    pub async fn warning(
        &self,
        obj: &Value,
        reason: &str,
        message: &str,
    ) -> Result<Value, ClientError> {
        self.event(obj, "Warning", reason, message, None).await
    }

    /// Records an event about `obj` (a field path such as `spec.containers{app}` narrows it to a
    /// container).
    ///
    /// # Errors
    /// [`ClientError`] when the API refuses it.
    pub async fn event(
        &self,
        obj: &Value,
        typ: &str,
        reason: &str,
        message: &str,
        field_path: Option<&str>,
    ) -> Result<Value, ClientError> {
        let mut involved = object_ref(obj);
        if let Some(fp) = field_path {
            involved["fieldPath"] = json!(fp);
        }
        let ns = involved["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let key = format!(
            "{}|{}|{}|{}|{}|{typ}|{reason}|{message}|{}",
            self.component, self.host, involved["kind"], ns, involved["name"], involved["uid"]
        );
        let events = path("", "v1", "events", Some(&ns), None);
        let now = now_time();
        let mut seen = self.seen.lock().await;
        seen.retain(|_, (_, _, _, at)| at.elapsed() < AGGREGATE_WINDOW);
        if let Some((name, _first, count, at)) = seen.get_mut(&key) {
            let patch = json!({"count": *count + 1, "lastTimestamp": now, "message": message});
            match self
                .client
                .patch(&format!("{events}/{name}"), PatchType::Strategic, &patch)
                .await
            {
                Ok(v) => {
                    *count += 1;
                    *at = Instant::now();
                    return Ok(v);
                }
                // The event expired (--event-ttl) or was deleted: record a new one.
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        let name = format!(
            "{}.{:x}",
            involved["name"].as_str().unwrap_or_default(),
            jiff::Timestamp::now().as_nanosecond()
        );
        let mut source = json!({"component": self.component});
        if !self.host.is_empty() {
            source["host"] = json!(self.host);
        }
        let ev = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": involved, "reason": reason, "message": message, "type": typ,
            "source": source, "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            "eventTime": null, "reportingComponent": self.component, "reportingInstance": self.host,
        });
        let created = self.client.create(&events, &ev).await?;
        seen.insert(key, (name, now, 1, Instant::now()));
        Ok(created)
    }
}
