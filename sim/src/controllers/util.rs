//! Shared vocabulary of the controllers and the scheduler: object metadata, controller references,
//! pod readiness and availability, label selectors, taints and tolerations, node affinity,
//! int-or-percent values and expectations — each as upstream defines it (cited per function).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::apiserver::selectors::LabelSelector;

/// The object with its `apiVersion` and `kind` set (list items come without them, as from a real
/// API server).
pub fn typed(mut obj: Value, api_version: &str, kind: &str) -> Value {
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), json!(api_version));
        m.insert("kind".into(), json!(kind));
    }
    obj
}

/// `metadata.name`.
pub fn name(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or_default()
}

/// `metadata.namespace` (empty for cluster-scoped objects).
pub fn namespace(obj: &Value) -> &str {
    obj["metadata"]["namespace"].as_str().unwrap_or_default()
}

/// `metadata.uid`.
pub fn uid(obj: &Value) -> &str {
    obj["metadata"]["uid"].as_str().unwrap_or_default()
}

/// The cache key, `namespace/name` or `name`.
pub fn key(obj: &Value) -> String {
    crate::client::reflector::key_of(obj)
}

/// Splits a `namespace/name` key.
pub fn split_key(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("", key))
}

/// `spec.nodeName` (empty when unscheduled).
pub fn spec_node(pod: &Value) -> &str {
    pod["spec"]["nodeName"].as_str().unwrap_or_default()
}

/// Whether `metadata.deletionTimestamp` is set.
pub fn is_being_deleted(obj: &Value) -> bool {
    !obj["metadata"]["deletionTimestamp"].is_null()
}

/// Whether the object carries finalizer `f`.
pub fn has_finalizer(obj: &Value, f: &str) -> bool {
    obj["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x == f))
}

/// The controller ownerReference (`controller: true`), metav1.GetControllerOf.
pub fn controller_of(obj: &Value) -> Option<&Value> {
    obj["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"] == true)
}

/// Whether `obj` is controlled by the object with `owner_uid`.
pub fn controlled_by(obj: &Value, owner_uid: &str) -> bool {
    controller_of(obj).is_some_and(|r| r["uid"] == owner_uid)
}

/// metav1.NewControllerRef: an ownerReference with `controller` and `blockOwnerDeletion` true.
pub fn controller_ref(owner: &Value, api_version: &str, kind: &str) -> Value {
    json!({
        "apiVersion": api_version, "kind": kind, "name": name(owner), "uid": uid(owner),
        "controller": true, "blockOwnerDeletion": true,
    })
}

/// Now, as wall-clock time.
pub fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

/// `metav1.Time` of now (`2026-11-28T05:44:16Z`).
pub fn now_time() -> String {
    crate::apiserver::meta::now_rfc3339()
}

/// Parses a `metav1.Time`.
pub fn parse_time(v: &Value) -> Option<jiff::Timestamp> {
    crate::apiserver::meta::parse_time(v)
}

/// Seconds from `t` to now (negative when `t` is in the future).
pub fn seconds_since(t: jiff::Timestamp) -> f64 {
    now().duration_since(t).as_secs_f64()
}

/// pkg/controller `IsPodActive`: not Succeeded, not Failed, and not being deleted.
pub fn is_pod_active(pod: &Value) -> bool {
    !is_pod_terminal(pod) && !is_being_deleted(pod)
}

/// Phase Succeeded or Failed.
pub fn is_pod_terminal(pod: &Value) -> bool {
    matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    )
}

/// A pod condition by type.
pub fn pod_condition<'a>(pod: &'a Value, typ: &str) -> Option<&'a Value> {
    pod["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == typ)
}

/// api/v1/pod `IsPodReady`: the Ready condition is True.
pub fn is_pod_ready(pod: &Value) -> bool {
    pod_condition(pod, "Ready").is_some_and(|c| c["status"] == "True")
}

/// When the pod last became ready (its Ready condition's lastTransitionTime).
pub fn pod_ready_time(pod: &Value) -> Option<jiff::Timestamp> {
    pod_condition(pod, "Ready")
        .filter(|c| c["status"] == "True")
        .and_then(|c| parse_time(&c["lastTransitionTime"]))
}

/// api/v1/pod `IsPodAvailable`: ready, and ready for at least `min_ready_seconds` (0 means as
/// soon as it is ready).
pub fn is_pod_available(pod: &Value, min_ready_seconds: i64, at: jiff::Timestamp) -> bool {
    if !is_pod_ready(pod) {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    pod_ready_time(pod).is_some_and(|t| {
        t.checked_add(jiff::SignedDuration::from_secs(min_ready_seconds))
            .is_ok_and(|ready_at| ready_at <= at)
    })
}

/// A `metav1.LabelSelector` object matches `labels`. A missing selector matches nothing and an
/// empty one everything (metav1.LabelSelectorAsSelector).
pub fn selector_matches(selector: &Value, labels: &Value) -> bool {
    if selector.is_null() {
        return false;
    }
    LabelSelector::from_object(selector).matches(labels)
}

/// Whether a selector object is empty (selects everything).
pub fn selector_is_empty(selector: &Value) -> bool {
    selector["matchLabels"]
        .as_object()
        .is_none_or(|m| m.is_empty())
        && selector["matchExpressions"]
            .as_array()
            .is_none_or(|a| a.is_empty())
}

/// A plain `map[string]string` selector (Services' `spec.selector`) matches `labels`; an empty
/// or missing one matches nothing here (labels.SelectorFromValidatedSet of an empty map selects
/// everything, but the endpoints controllers skip services without a selector before using it).
pub fn map_selector_matches(selector: &Value, labels: &Value) -> bool {
    let Some(sel) = selector.as_object() else {
        return false;
    };
    sel.iter()
        .all(|(k, v)| labels.get(k).is_some_and(|lv| lv == v))
}

/// core/v1 `Toleration.ToleratesTaint` (staging/src/k8s.io/api/core/v1/toleration.go): matching
/// effect (empty tolerates all), key (empty with Exists tolerates all), and value (Equal) or any
/// value (Exists).
pub fn tolerates(toleration: &Value, taint: &Value) -> bool {
    let t_effect = toleration["effect"].as_str().unwrap_or_default();
    if !t_effect.is_empty() && Some(t_effect) != taint["effect"].as_str() {
        return false;
    }
    let t_key = toleration["key"].as_str().unwrap_or_default();
    if !t_key.is_empty() && Some(t_key) != taint["key"].as_str() {
        return false;
    }
    match toleration["operator"].as_str().unwrap_or_default() {
        "" | "Equal" => {
            toleration["value"].as_str().unwrap_or_default()
                == taint["value"].as_str().unwrap_or_default()
        }
        "Exists" => true,
        _ => false,
    }
}

/// v1helper `FindMatchingUntoleratedTaint`: the first taint passing `filter` that no toleration
/// tolerates.
pub fn find_untolerated<'a>(
    taints: &'a [Value],
    tolerations: &[Value],
    filter: impl Fn(&Value) -> bool,
) -> Option<&'a Value> {
    taints
        .iter()
        .filter(|t| filter(t))
        .find(|t| !tolerations.iter().any(|tol| tolerates(tol, t)))
}

/// The array at `v` (empty when missing).
pub fn array(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

/// One `NodeSelectorRequirement` against a value (`None` when the label is absent)
/// (component-helpers/scheduling/corev1/nodeaffinity).
fn requirement_matches(req: &Value, value: Option<&str>) -> bool {
    let values: Vec<&str> = req["values"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    match req["operator"].as_str().unwrap_or_default() {
        "In" => value.is_some_and(|v| values.contains(&v)),
        "NotIn" => value.is_none_or(|v| !values.contains(&v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if req["operator"] == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

/// A `NodeSelectorTerm` (all matchExpressions on labels and matchFields on `metadata.name`); an
/// empty term matches nothing (nodeaffinity `nodeSelectorTerm.match`).
pub fn node_selector_term_matches(term: &Value, node: &Value) -> bool {
    let exprs = array(&term["matchExpressions"]);
    let fields = array(&term["matchFields"]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = &node["metadata"]["labels"];
    exprs
        .iter()
        .all(|r| requirement_matches(r, labels[r["key"].as_str().unwrap_or_default()].as_str()))
        && fields
            .iter()
            .all(|r| r["key"] == "metadata.name" && requirement_matches(r, Some(name(node))))
}

/// nodeaffinity `GetRequiredNodeAffinity(pod).Match(node)`: the pod's `nodeSelector` labels all
/// match, and at least one required node-affinity term matches (when there are any).
pub fn required_node_affinity_matches(pod_spec: &Value, node: &Value) -> bool {
    if let Some(sel) = pod_spec["nodeSelector"].as_object() {
        let labels = &node["metadata"]["labels"];
        if !sel.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            return false;
        }
    }
    let required =
        &pod_spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
    if required.is_null() {
        return true;
    }
    array(&required["nodeSelectorTerms"])
        .iter()
        .any(|t| node_selector_term_matches(t, node))
}

/// intstr `GetScaledValueFromIntOrPercent`: an integer as is, `"25%"` of `total`, rounded up or
/// down.
pub fn scaled_value(v: &Value, total: i64, round_up: bool) -> i64 {
    match v {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => {
            let p: f64 = s.trim_end_matches('%').parse().unwrap_or(0.0);
            let x = p * total as f64 / 100.0;
            if round_up {
                x.ceil() as i64
            } else {
                x.floor() as i64
            }
        }
        _ => 0,
    }
}

/// Sets an `omitempty` integer field: present when non-zero, absent when zero (how Go's
/// encoding/json writes controller status structs).
pub fn set_omitempty(m: &mut Map<String, Value>, key: &str, n: i64) {
    if n == 0 {
        m.remove(key);
    } else {
        m.insert(key.into(), json!(n));
    }
}

/// An integer field of a status (0 when absent).
pub fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// The creation timestamp (or the epoch when missing).
pub fn created(obj: &Value) -> jiff::Timestamp {
    parse_time(&obj["metadata"]["creationTimestamp"]).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// How long creation/deletion expectations are trusted before a controller syncs anyway
/// (pkg/controller/controller_utils.go `ExpectationsTimeout`, 5 minutes).
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
struct Expectation {
    adds: i64,
    dels: i64,
    at: tokio::time::Instant,
}

/// pkg/controller `ControllerExpectations`: how many creations and deletions a controller still
/// waits to observe for each of its objects, so that a sync from a stale cache does not create or
/// delete twice.
#[derive(Debug, Default)]
pub struct Expectations {
    inner: Mutex<HashMap<String, Expectation>>,
}

impl Expectations {
    /// Whether `key` has no outstanding expectations (or they expired).
    pub fn satisfied(&self, key: &str) -> bool {
        let m = self.inner.lock().expect("expectations lock");
        match m.get(key) {
            None => true,
            Some(e) => (e.adds <= 0 && e.dels <= 0) || e.at.elapsed() > EXPECTATIONS_TIMEOUT,
        }
    }

    /// Expects `adds` creations and `dels` deletions for `key`.
    pub fn expect(&self, key: &str, adds: i64, dels: i64) {
        self.inner.lock().expect("expectations lock").insert(
            key.to_string(),
            Expectation {
                adds,
                dels,
                at: tokio::time::Instant::now(),
            },
        );
    }

    /// One creation observed (or one creation that will never happen).
    pub fn creation_observed(&self, key: &str) {
        if let Some(e) = self.inner.lock().expect("expectations lock").get_mut(key) {
            e.adds -= 1;
        }
    }

    /// One deletion observed.
    pub fn deletion_observed(&self, key: &str) {
        if let Some(e) = self.inner.lock().expect("expectations lock").get_mut(key) {
            e.dels -= 1;
        }
    }

    /// Forgets `key`.
    pub fn delete(&self, key: &str) {
        self.inner.lock().expect("expectations lock").remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerations_as_upstream() {
        let taint = json!({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"});
        assert!(tolerates(
            &json!({"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}),
            &taint
        ));
        assert!(tolerates(&json!({"operator": "Exists"}), &taint));
        assert!(!tolerates(
            &json!({"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoExecute"}),
            &taint
        ));
        // Equal with empty values matches an empty taint value.
        assert!(tolerates(
            &json!({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}),
            &taint
        ));
        assert!(!tolerates(
            &json!({"key": "k", "operator": "Equal", "value": "v"}),
            &json!({"key": "k", "value": "w", "effect": "NoSchedule"})
        ));
        let taints = vec![
            taint.clone(),
            json!({"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}),
        ];
        let tols = vec![
            json!({"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}),
        ];
        assert_eq!(
            find_untolerated(&taints, &tols, |_| true).unwrap()["key"],
            "node-role.kubernetes.io/control-plane"
        );
        assert!(find_untolerated(&taints, &tols, |t| t["effect"] == "NoExecute").is_none());
    }

    #[test]
    fn node_affinity_and_selector() {
        let node = json!({"metadata": {"name": "m02", "labels": {"kubernetes.io/hostname": "m02", "disk": "ssd", "gen": "5"}}});
        let pinned = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["m02"]}]}]}}}});
        assert!(required_node_affinity_matches(&pinned, &node));
        let other = json!({"metadata": {"name": "m03", "labels": {}}});
        assert!(!required_node_affinity_matches(&pinned, &other));
        assert!(required_node_affinity_matches(
            &json!({"nodeSelector": {"disk": "ssd"}}),
            &node
        ));
        assert!(!required_node_affinity_matches(
            &json!({"nodeSelector": {"disk": "hdd"}}),
            &node
        ));
        let gt = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "gen", "operator": "Gt", "values": ["4"]}]}]}}}});
        assert!(required_node_affinity_matches(&gt, &node));
        assert!(required_node_affinity_matches(&json!({}), &node));
    }

    #[test]
    fn int_or_percent() {
        assert_eq!(scaled_value(&json!("25%"), 2, true), 1);
        assert_eq!(scaled_value(&json!("25%"), 2, false), 0);
        assert_eq!(scaled_value(&json!("25%"), 10, true), 3);
        assert_eq!(scaled_value(&json!(2), 10, true), 2);
    }

    #[test]
    fn availability() {
        let t = now();
        let ready_at = t
            .checked_sub(jiff::SignedDuration::from_secs(5))
            .unwrap()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let pod = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": ready_at}]}});
        assert!(is_pod_ready(&pod));
        assert!(is_pod_available(&pod, 0, t));
        assert!(is_pod_available(&pod, 3, t));
        assert!(!is_pod_available(&pod, 30, t));
    }
}
