//! The cluster API as the harness reads it (kube-rs, typed k8s-openapi objects): the checks behind
//! the course's commands, and waits on them through the one wait primitive.
//!
//! The rules used here are Kubernetes' own: a pod is running-and-ready when its phase is
//! `Running` and its `Ready` condition is `True` (`k8s.io/kubernetes/pkg/api/v1/pod/util.go`
//! `IsPodReady`); a node is Ready when its `Ready` condition is `True`
//! (`pkg/api/v1/node/util.go`); a taint is tolerated as `k8s.io/api/core/v1/toleration.go`
//! `ToleratesTaint` says.

use std::time::Duration;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Event, Node, Pod, Taint, Toleration};
use kube::Api;
use kube::api::ListParams;

use crate::wait::{Probe, Wait, WaitError};

/// Errors of the cluster API checks.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// A request failed.
    #[error("the cluster API refused or failed `{what}`: {source}")]
    Api {
        /// What was asked.
        what: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// A wait ran out.
    #[error(transparent)]
    Wait(#[from] WaitError),
}

fn api_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> KubeError {
    let what = what.into();
    move |source| KubeError::Api { what, source }
}

/// Whether the node's `Ready` condition is `True`.
#[must_use]
pub fn node_ready(node: &Node) -> bool {
    condition(
        node.status.as_ref().and_then(|s| s.conditions.as_ref()),
        "Ready",
    )
}

fn condition<C: HasCondition>(conditions: Option<&Vec<C>>, kind: &str) -> bool {
    conditions
        .into_iter()
        .flatten()
        .any(|c| c.kind() == kind && c.status() == "True")
}

trait HasCondition {
    fn kind(&self) -> &str;
    fn status(&self) -> &str;
}

impl HasCondition for k8s_openapi::api::core::v1::NodeCondition {
    fn kind(&self) -> &str {
        &self.type_
    }
    fn status(&self) -> &str {
        &self.status
    }
}

impl HasCondition for k8s_openapi::api::core::v1::PodCondition {
    fn kind(&self) -> &str {
        &self.type_
    }
    fn status(&self) -> &str {
        &self.status
    }
}

/// The pod's phase (`Pending`, `Running`, …), `Unknown` when it has none yet.
#[must_use]
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Unknown")
}

/// Whether the pod is `Running`, `Ready`, and not being deleted.
#[must_use]
pub fn running_and_ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && phase(pod) == "Running"
        && condition(
            pod.status.as_ref().and_then(|s| s.conditions.as_ref()),
            "Ready",
        )
}

/// The node the pod is bound to (empty when not scheduled).
#[must_use]
pub fn node_of(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or("")
}

/// The pod's name.
#[must_use]
pub fn name_of(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or("")
}

/// The restart count of container `container` (0 when it has no status yet).
#[must_use]
pub fn restart_count(pod: &Pod, container: &str) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .find(|c| c.name == container)
        .map_or(0, |c| c.restart_count)
}

/// One line describing a pod's state, for wait messages.
#[must_use]
pub fn describe_pod(pod: &Pod) -> String {
    let waiting: Vec<String> = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| {
            c.state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.clone())
        })
        .collect();
    format!(
        "{} {}{}{} on {}",
        name_of(pod),
        phase(pod),
        if running_and_ready(pod) { " ready" } else { "" },
        if waiting.is_empty() {
            String::new()
        } else {
            format!(" ({})", waiting.join(", "))
        },
        if node_of(pod).is_empty() {
            "no node"
        } else {
            node_of(pod)
        }
    )
}

/// Whether `toleration` tolerates `taint` (`k8s.io/api/core/v1/toleration.go` `ToleratesTaint`:
/// an empty effect matches every effect, an empty key with `Exists` matches every key, `Equal`
/// (the default operator) compares values).
#[must_use]
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref()
        && !effect.is_empty()
        && effect != taint.effect
    {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => {
            toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        _ => false,
    }
}

/// Whether a pod with `tolerations` may be scheduled on and stay on `node`: every `NoSchedule`
/// and `NoExecute` taint is tolerated (`PreferNoSchedule` never keeps a pod away).
#[must_use]
pub fn node_tolerated(node: &Node, tolerations: &[Toleration]) -> bool {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .all(|t| tolerations.iter().any(|tol| tolerates(tol, t)))
}

/// Lists pods in `namespace` (all namespaces when empty) matching `selector`.
///
/// # Errors
/// [`KubeError::Api`].
pub async fn pods(
    client: &kube::Client,
    namespace: &str,
    selector: &str,
) -> Result<Vec<Pod>, KubeError> {
    let api: Api<Pod> = if namespace.is_empty() {
        Api::all(client.clone())
    } else {
        Api::namespaced(client.clone(), namespace)
    };
    let lp = ListParams::default().labels(selector);
    Ok(api
        .list(&lp)
        .await
        .map_err(api_err(format!("list pods {selector} in {namespace:?}")))?
        .items)
}

/// One pod by name.
///
/// # Errors
/// [`KubeError::Api`].
pub async fn pod(client: &kube::Client, namespace: &str, name: &str) -> Result<Pod, KubeError> {
    Api::<Pod>::namespaced(client.clone(), namespace)
        .get(name)
        .await
        .map_err(api_err(format!("get pod {namespace}/{name}")))
}

/// All nodes.
///
/// # Errors
/// [`KubeError::Api`].
pub async fn nodes(client: &kube::Client) -> Result<Vec<Node>, KubeError> {
    Ok(Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(api_err("list nodes"))?
        .items)
}

/// One DaemonSet.
///
/// # Errors
/// [`KubeError::Api`].
pub async fn daemon_set(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<DaemonSet, KubeError> {
    Api::<DaemonSet>::namespaced(client.clone(), namespace)
        .get(name)
        .await
        .map_err(api_err(format!("get daemonset {namespace}/{name}")))
}

/// The events whose involved object is `kind` `namespace/name`.
///
/// # Errors
/// [`KubeError::Api`].
pub async fn events_for(
    client: &kube::Client,
    namespace: &str,
    kind: &str,
    name: &str,
) -> Result<Vec<Event>, KubeError> {
    let fields = format!("involvedObject.kind={kind},involvedObject.name={name}");
    Ok(Api::<Event>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().fields(&fields))
        .await
        .map_err(api_err(format!("list events of {kind} {namespace}/{name}")))?
        .items)
}

/// When an event last happened: `series.lastObservedTime`, else `lastTimestamp`, else
/// `eventTime`, else `firstTimestamp` (the fields `kubectl describe` reads, `pkg/describe`).
#[must_use]
pub fn last_seen(event: &Event) -> Option<jiff::Timestamp> {
    event
        .series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref().map(|t| t.0))
        .or_else(|| event.last_timestamp.as_ref().map(|t| t.0))
        .or_else(|| event.event_time.as_ref().map(|t| t.0))
        .or_else(|| event.first_timestamp.as_ref().map(|t| t.0))
}

/// The reasons of events seen at or after `since` (event times have whole seconds: `since` is
/// rounded down to its second), oldest first.
#[must_use]
pub fn reasons_since(events: &[Event], since: jiff::Timestamp) -> Vec<String> {
    let floor = jiff::Timestamp::from_second(since.as_second()).unwrap_or(since);
    let mut seen: Vec<(jiff::Timestamp, String)> = events
        .iter()
        .filter_map(|e| {
            let at = last_seen(e)?;
            (at >= floor).then(|| (at, e.reason.clone().unwrap_or_default()))
        })
        .collect();
    seen.sort();
    seen.into_iter().map(|(_, r)| r).collect()
}

/// A watch on the objects a wait lists, signalling each change (the wait then lists again at
/// once instead of at its next backoff step). The watch stops when it is dropped; a watch that
/// fails only leaves the wait to its backoff.
struct ChangeSignal {
    changed: std::sync::Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl ChangeSignal {
    fn watch<K>(api: Api<K>, selector: &str) -> Self
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    {
        use futures::StreamExt as _;
        let changed = std::sync::Arc::new(tokio::sync::Notify::new());
        let signal = changed.clone();
        let config = kube::runtime::watcher::Config::default().labels(selector);
        let task = tokio::spawn(async move {
            let mut events = kube::runtime::watcher(api, config).boxed();
            while let Some(event) = events.next().await {
                if let Ok(
                    kube::runtime::watcher::Event::Apply(_)
                    | kube::runtime::watcher::Event::Delete(_),
                ) = event
                {
                    signal.notify_waiters();
                }
            }
        });
        Self { changed, task }
    }

    fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }
}

impl Drop for ChangeSignal {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits until `check` over a fresh list of pods in `namespace` matching `selector` holds;
/// transient API errors are waited through. A watch on the same pods wakes the wait at each
/// change.
///
/// # Errors
/// [`KubeError::Wait`] naming the last state seen.
pub async fn wait_pods<T: std::fmt::Debug>(
    client: &kube::Client,
    what: &str,
    namespace: &str,
    selector: &str,
    budget: Duration,
    check: impl Fn(&[Pod]) -> Result<T, String>,
) -> Result<T, KubeError> {
    let api: Api<Pod> = if namespace.is_empty() {
        Api::all(client.clone())
    } else {
        Api::namespaced(client.clone(), namespace)
    };
    let changes = ChangeSignal::watch(api, selector);
    let waited = Wait::until(what, budget)
        .poll_waking(
            || async {
                Ok::<_, String>(match pods(client, namespace, selector).await {
                    Ok(list) => match check(&list) {
                        Ok(v) => Probe::Holds(v),
                        Err(state) => Probe::Fails(state),
                    },
                    Err(e) => Probe::Fails(e.to_string()),
                })
            },
            || changes.changed(),
        )
        .await?;
    Ok(waited.value)
}

/// Waits until `check` over a fresh list of nodes holds; a watch on nodes wakes the wait at each
/// change.
///
/// # Errors
/// [`KubeError::Wait`] naming the last state seen.
pub async fn wait_nodes<T: std::fmt::Debug>(
    client: &kube::Client,
    what: &str,
    budget: Duration,
    check: impl Fn(&[Node]) -> Result<T, String>,
) -> Result<T, KubeError> {
    let changes = ChangeSignal::watch(Api::<Node>::all(client.clone()), "");
    let waited = Wait::until(what, budget)
        .poll_waking(
            || async {
                Ok::<_, String>(match nodes(client).await {
                    Ok(list) => match check(&list) {
                        Ok(v) => Probe::Holds(v),
                        Err(state) => Probe::Fails(state),
                    },
                    Err(e) => Probe::Fails(e.to_string()),
                })
            },
            || changes.changed(),
        )
        .await?;
    Ok(waited.value)
}

/// `check` for [`wait_pods`]: exactly `count` pods (or at least one when `count` is 0), all
/// running and ready; returns them.
///
/// # Errors
/// A description of the pods that are not.
pub fn all_running(pods: &[Pod], count: usize) -> Result<Vec<Pod>, String> {
    let live: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    let enough = if count == 0 {
        !live.is_empty()
    } else {
        live.len() == count
    };
    if enough && live.iter().all(|p| running_and_ready(p)) {
        return Ok(live.into_iter().cloned().collect());
    }
    let states: Vec<String> = pods.iter().map(describe_pod).collect();
    Err(if states.is_empty() {
        "no pods".into()
    } else {
        states.join("; ")
    })
}

/// `check` for [`wait_nodes`]: every node in `names` exists and is Ready.
///
/// # Errors
/// A description of the nodes that are not.
pub fn all_ready(nodes: &[Node], names: &[String]) -> Result<(), String> {
    let states: Vec<String> = names
        .iter()
        .map(|n| {
            match nodes
                .iter()
                .find(|node| node.metadata.name.as_deref() == Some(n))
            {
                Some(node) if node_ready(node) => format!("{n} Ready"),
                Some(_) => format!("{n} NotReady"),
                None => format!("{n} not registered"),
            }
        })
        .collect();
    if states.iter().all(|s| s.ends_with(" Ready")) {
        Ok(())
    } else {
        Err(states.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: value.map(Into::into),
            effect: effect.into(),
            time_added: None,
        }
    }

    fn tol(
        key: Option<&str>,
        op: Option<&str>,
        value: Option<&str>,
        effect: Option<&str>,
    ) -> Toleration {
        Toleration {
            key: key.map(Into::into),
            operator: op.map(Into::into),
            value: value.map(Into::into),
            effect: effect.map(Into::into),
            toleration_seconds: None,
        }
    }

    #[test]
    fn tolerations_match_as_upstream() {
        let cp = taint("node-role.kubernetes.io/control-plane", None, "NoSchedule");
        assert!(
            tolerates(&tol(None, Some("Exists"), None, None), &cp),
            "tolerate everything"
        );
        assert!(tolerates(
            &tol(
                Some("node-role.kubernetes.io/control-plane"),
                Some("Exists"),
                None,
                Some("NoSchedule")
            ),
            &cp
        ));
        assert!(
            tolerates(
                &tol(
                    Some("node-role.kubernetes.io/control-plane"),
                    None,
                    None,
                    None
                ),
                &cp
            ),
            "Equal with empty values"
        );
        assert!(
            !tolerates(
                &tol(
                    Some("node-role.kubernetes.io/control-plane"),
                    Some("Exists"),
                    None,
                    Some("NoExecute")
                ),
                &cp
            ),
            "other effect"
        );
        assert!(!tolerates(
            &tol(Some("a"), Some("Equal"), Some("x"), None),
            &taint("a", Some("y"), "NoSchedule")
        ));
        assert!(!tolerates(&tol(Some("b"), Some("Exists"), None, None), &cp));
    }

    #[test]
    fn prefer_no_schedule_never_keeps_a_pod_away() {
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n"},
            "spec": {"taints": [
                {"key": "soft", "effect": "PreferNoSchedule"},
                {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
            ]}
        }))
        .unwrap();
        assert!(!node_tolerated(&node, &[]));
        assert!(node_tolerated(
            &node,
            &[tol(
                Some("node-role.kubernetes.io/control-plane"),
                Some("Exists"),
                None,
                Some("NoSchedule")
            )]
        ));
    }

    #[test]
    fn pods_are_running_when_ready_and_not_deleted() {
        let pod = |phase: &str, ready: &str, deleted: bool| -> Pod {
            let mut v = serde_json::json!({
                "metadata": {"name": "p"},
                "spec": {"nodeName": "m02", "containers": []},
                "status": {"phase": phase, "conditions": [{"type": "Ready", "status": ready}],
                    "containerStatuses": [{"name": "app", "restartCount": 2, "ready": true, "image": "i", "imageID": "",
                        "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}
            });
            if deleted {
                v["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z".into();
            }
            serde_json::from_value(v).unwrap()
        };
        assert!(running_and_ready(&pod("Running", "True", false)));
        assert!(!running_and_ready(&pod("Running", "False", false)));
        assert!(!running_and_ready(&pod("Running", "True", true)));
        assert_eq!(restart_count(&pod("Running", "True", false), "app"), 2);
        assert_eq!(
            describe_pod(&pod("Running", "False", false)),
            "p Running (CrashLoopBackOff) on m02"
        );
        assert!(all_running(&[pod("Running", "True", false)], 1).is_ok());
        assert!(all_running(&[pod("Pending", "False", false)], 1).is_err());
        assert_eq!(all_running(&[], 0).unwrap_err(), "no pods");
    }

    #[test]
    fn event_times_are_read_as_kubectl_describe_reads_them() {
        let e: Event = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "e"},
            "involvedObject": {},
            "reason": "Started",
            "firstTimestamp": "2026-11-28T07:37:52Z",
            "lastTimestamp": "2026-11-28T07:39:09Z"
        }))
        .unwrap();
        let since: jiff::Timestamp = "2026-11-28T07:39:09.700Z".parse().unwrap();
        assert_eq!(reasons_since(std::slice::from_ref(&e), since), ["Started"]);
        let later: jiff::Timestamp = "2026-11-28T07:39:10Z".parse().unwrap();
        assert!(reasons_since(&[e], later).is_empty());
    }
}
